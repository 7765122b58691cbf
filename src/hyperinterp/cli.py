"""Command line: `hyperinterp train|train-batch|sample|classify|families|draw|sweep|report|demo|bench`. Bad input:
one line, exit 2."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .errors import UserError

DEMO_OUT = "runs/demo"
DESCRIPTION = ("Generate interpretable networks with a hypernetwork under a complexity budget beta (bits), "
               "then classify, decode and draw them.")
START_HERE = """start here (from the repository root):
  make demo                                  the main job: sweep from the shipped hypernetworks and the report
  hyperinterp sample shipped/train/range/seed_0 --beta 1e-6 --out pud.npz
                                             16 networks from a shipped hypernetwork (a few seconds)
  hyperinterp classify pud.npz               their algorithms (double_sided, pudding_pos/neg, convexity, constant, ...)
"""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _int_at_least(minimum: int):
    """An argparse type: an integer >= minimum, else a one-line message."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value
    return parse


_positive_int = _int_at_least(1)
_seed = _int_at_least(0)


def cmd_train(args: argparse.Namespace) -> None:
    from .generate import config, train

    if args.resume and (args.config or args.set):
        raise UserError("--resume continues with the run's saved configuration: drop --config/--set")
    if args.resume and not train.checkpoint.list_steps(Path(args.run_dir)):
        raise UserError(f"nothing to resume: {args.run_dir} holds no checkpoint")
    cfg = config.load(args.config, args.set or [])
    command = " ".join(["hyperinterp", *sys.argv[1:]])
    summary = train.train(cfg, args.run_dir, resume=args.resume, progress=not args.quiet, command=command)
    print(beta_table(args.run_dir))
    print(json.dumps(summary))  # the last line stays machine-readable


def cmd_train_batch(args: argparse.Namespace) -> None:
    from .generate import batched, config

    if args.resume and (args.config or args.set):
        raise UserError("--resume continues with the batch's saved configuration: drop --config/--set")
    if not args.resume and not args.seeds:
        raise UserError("name the seeds to train: --seeds 0 1 2 3")
    cfg = None if args.resume else config.load(args.config, args.set or [])
    command = " ".join(["hyperinterp", *sys.argv[1:]])
    summary = batched.train_batch(cfg, args.out_dir, args.seeds, resume=args.resume, progress=not args.quiet,
                                  command=command)
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))  # the last line stays machine-readable


def beta_table(run_dir: str) -> str:
    """Median relative MSE and bits of 16 draws across the trained beta range (last checkpoint)."""
    from .generate import sample

    model, cfg, _ = sample.load_model(run_dir)
    b = cfg.budget
    betas = [b.beta] if b.beta_mode == "fixed" else np.geomspace(b.beta_min, b.beta_max, 7).tolist()
    n, m = cfg.task.n, cfg.task.m
    lines = [f"{'beta':>8} {'rel MSE':>9} {'bits':>8}   (median of 16 draws, n={n}, m={m})"]
    for beta in betas:
        arrays, _ = sample.sample(model, cfg, beta, n, m, 16, 0)
        lines.append(f"{beta:>8.1e} {np.median(arrays['rel_mse']):>9.4g} {np.median(arrays['bits']):>8.0f}")
    return "\n".join(lines)


def cmd_sample(args: argparse.Namespace) -> None:
    from .generate import netfile, sample

    out = netfile.check_out_path(args.out)
    model, cfg, meta = sample.load_model(args.checkpoint)
    n = args.n or cfg.task.n
    m = args.m or (cfg.task.width(n) if cfg.task.train_sizes else cfg.task.m)
    arrays, out_meta = sample.sample(model, cfg, beta=args.beta, n=n, m=m, count=args.count, seed=args.seed,
                                     weights=args.weights)
    out_meta.update(checkpoint=meta["path"], checkpoint_step=meta["step"])
    if out_meta["extrapolated"]:
        print(f"hyperinterp: warning: {'; '.join(out_meta['extrapolation'])}: these networks are extrapolated "
              f"(recorded as extrapolated: true in meta)", file=sys.stderr)
    netfile.save(out, arrays, out_meta)
    rel = arrays["rel_mse"]
    print(f"wrote {args.count} networks (n={n}, m={m}, beta={args.beta:g}, {args.weights} weights) to {out}: "
          f"median rel MSE {np.median(rel):.4g}, median bits {np.median(arrays['bits']):.1f}")


def cmd_classify(args: argparse.Namespace) -> None:
    from .read import classify

    results = classify.classify_file(args.file)
    print(json.dumps(results, indent=1) if args.json else classify.format_table(results))


def cmd_symmetries(args: argparse.Namespace) -> None:
    from .generate import symmetry

    result = symmetry.detect(args.task, args.input_dist, args.n)
    print(json.dumps(result, indent=1) if args.json else symmetry.words(result))


def cmd_families(args: argparse.Namespace) -> None:
    from .read import families

    summary = families.summarise(args.files, distance=args.distance)
    print(json.dumps(summary, indent=1) if args.json else families.format_text(summary))


def cmd_draw(args: argparse.Namespace) -> None:
    from .read import draw

    out = Path(args.out)
    if not out.parent.is_dir():
        raise UserError(f"output folder {out.parent} does not exist")
    files = draw.draw_file(args.file, out, max_networks=args.max)
    print(f"wrote {len(files)} files to {out}")


def _floats(text: str) -> tuple[float, ...]:
    values = tuple(_positive_float(v) for v in text.split(",") if v.strip())
    if not values:
        raise argparse.ArgumentTypeError("expected a comma-separated list of numbers")
    return values


def _ints(text: str) -> tuple[int, ...]:
    return tuple(_positive_int(v) for v in text.split(",") if v.strip())


def _sweep_spec(args: argparse.Namespace):
    from .experiments import sweep

    seeds = tuple(range(sweep.PAPER_SEEDS if args.paper else args.seeds))
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    kwargs = {"seeds": seeds, "count": args.count, "modes": modes, "steps": args.steps,
              "per_beta_steps": args.per_beta_steps, "direct_steps": args.direct_steps,
              "per_beta_seeds": args.per_beta_seeds, "direct_seeds": args.direct_seeds}
    if args.betas:
        kwargs["betas"] = args.betas
    if args.generalization_sizes:
        kwargs["generalization_sizes"] = args.generalization_sizes
    return sweep.SweepSpec(**kwargs)


def cmd_sweep(args: argparse.Namespace) -> None:
    from .experiments import executor
    from .generate import config

    base = config.load(args.config, args.set or [])
    rows = executor.run_sweep(args.out_dir, _sweep_spec(args), base, args.workers, args.retries, args.ray_address,
                             pack=args.pack)
    print(f"wrote {len(rows)} rows to {Path(args.out_dir) / 'table.csv'} and table.json")


def cmd_study(args: argparse.Namespace) -> None:
    from .experiments import executor, study, sweep

    spec, base, description = study.load(args.file)
    if description:
        print(description)
    rows = executor.run_sweep(args.out_dir, spec, base, args.workers, args.retries, args.ray_address,
                             pack=args.pack)
    print(sweep.seed_grid(rows))
    print(f"wrote {len(rows)} rows to {Path(args.out_dir) / 'table.csv'} and table.json "
          f"(hyperinterp report {args.out_dir} draws them)")


def cmd_report(args: argparse.Namespace) -> None:
    from .report import build as report

    path = report.write_report(args.sweep_dir, args.out)
    print(f"wrote {path}")


def cmd_demo(args: argparse.Namespace) -> None:
    from .experiments import demo

    if args.out == DEMO_OUT:  # the default folder: runs/ is not in a fresh clone
        Path(DEMO_OUT).parent.mkdir(exist_ok=True)
    path = demo.run(args.out, from_scratch=args.from_scratch, workers=args.workers)
    print(f"report: {path}")


PACK_HELP = ("train this many seeds of a training as one batched computation per worker before sampling them "
             "(train-batch's arithmetic: the same networks up to rounding; pays on a GPU)")


def _add_sweep_args(w: argparse.ArgumentParser) -> None:
    w.add_argument("--config", help="TOML file for the base training configuration (none: configs/default.toml's "
                   "values)")
    w.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config key")
    w.add_argument("--betas", type=_floats, help="comma-separated beta grid (none: 10 values 1e-6..1e-2)")
    w.add_argument("--seeds", type=_positive_int, default=4, help="seeds 0..S-1")
    w.add_argument("--paper", action="store_true", help="the original study's 33 seeds")
    w.add_argument("--count", type=_positive_int, default=16, help="networks sampled per (beta, seed) cell")
    w.add_argument("--modes", default="range,per_beta,direct,adam",
                   help="comma-separated: range, per_beta, direct, adam (training over several n and its wide "
                   "continuation: hyperinterp study configs/studies/multi_n.toml)")
    w.add_argument("--steps", type=_positive_int,
                   help="training steps of range runs (none: the config's optim.steps, 24000)")
    w.add_argument("--per-beta-steps", type=_positive_int, help="training steps of each per_beta run (none: as "
                   "--steps)")
    w.add_argument("--direct-steps", type=_positive_int, default=4000, help="Adam steps of the baselines")
    w.add_argument("--per-beta-seeds", type=_positive_int, help="per_beta runs on the first S seeds only (none: all)")
    w.add_argument("--direct-seeds", type=_positive_int,
                   help="the baselines (direct, adam) on the first S seeds only (none: all)")
    w.add_argument("--generalization-sizes", type=_ints, help="comma-separated n (none: 2,4,...,64)")
    w.add_argument("--workers", type=_positive_int, help="local processes (none: the CPU count)")
    w.add_argument("--ray-address", help="run jobs as Ray tasks on this cluster ('auto' for a local one)")
    w.add_argument("--retries", type=int, default=2, help="extra attempts for a failed job")
    w.add_argument("--pack", type=_positive_int, default=1, help=PACK_HELP)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's default in its help (ArgumentDefaultsHelpFormatter's rule, but no "None" or "False": the
    help says what an absent option means); descriptions and epilogs keep their line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text and (
                action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE)):
            text += " (default: %(default)s)"
        return text


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the full usage stays behind --help), and help shows defaults."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        # the same prefix as every other error, whichever subcommand's parser complains
        self.exit(2, f"hyperinterp: error: {message} (see: {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="hyperinterp", description=DESCRIPTION, epilog=START_HERE)
    p.add_argument("--version", action="version", version=f"hyperinterp {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    t = sub.add_parser("train", help="train a hypernetwork (TOML config + section.key=value overrides)")
    t.add_argument("run_dir", help="folder for checkpoints, metrics.jsonl and TensorBoard events")
    t.add_argument("--config", help="TOML file; see configs/default.toml")
    t.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config key")
    t.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    tb = sub.add_parser("train-batch", help="train one hypernetwork per seed as one stacked computation (OUT/seed_S)",
                        description="Train one hypernetwork per seed, all in one process as one stacked (vmapped)\n"
                                    "computation: OUT/seed_S holds what `hyperinterp train OUT/seed_S --set\n"
                                    "optim.seed=S` writes, up to floating-point rounding. OUT/batch.json records\n"
                                    "the configuration and seeds.")
    tb.add_argument("out_dir", help="batch folder (new, or empty); one run folder per seed inside")
    tb.add_argument("--seeds", type=_seed, nargs="+", metavar="S", help="the seeds (optim.seed of each run)")
    tb.add_argument("--config", help="TOML file; see configs/default.toml")
    tb.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config key")
    tb.add_argument("--resume", action="store_true", help="continue every seed from its last checkpoint")
    tb.add_argument("--quiet", action="store_true", help="no progress bar")
    tb.set_defaults(func=cmd_train_batch)

    s = sub.add_parser("sample", help="generate networks from a checkpoint into a .npz file")
    s.add_argument("checkpoint", help="a run folder (its newest undamaged checkpoint) or a checkpoint folder")
    s.add_argument("--beta", type=_positive_float, required=True,
                   help="complexity budget weight; inside the run's trained range (the default configuration "
                        "trains 1e-6..3e-2: see the run's config.json), else the networks are extrapolated, "
                        "with a warning")
    s.add_argument("--n", type=_positive_int, help="input size (none: the training n)")
    s.add_argument("--m", type=_positive_int,
                   help="hidden width (none: the training m; m_per_n * n for multi-size runs)")
    s.add_argument("--count", type=_positive_int, default=16, help="networks to generate")
    s.add_argument("--seed", type=int, default=0, help="seed of the generator noise, weight draws and test inputs")
    s.add_argument("--weights", choices=("draw", "mean"), default="draw",
                   help="a draw from the generated distribution (what the objective scores) or its mean")
    s.add_argument("--out", required=True, help="output .npz")
    s.set_defaults(func=cmd_sample)

    c = sub.add_parser("classify", help="label each network of a .npz file with its algorithm")
    c.add_argument("file", help="a networks .npz (from sample, or any file in the documented format)")
    c.add_argument("--json", action="store_true", help="a JSON list, one object per network")
    c.set_defaults(func=cmd_classify)

    y = sub.add_parser("symmetries", help="the symmetries of a task, tested on its target function (sign flips, "
                       "permutations, separability)")
    y.add_argument("task", help="a built-in task or module:function")
    y.add_argument("--input-dist", default="normal", help="the task's input distribution (normal or uniform)")
    y.add_argument("--n", type=_positive_int, default=8, help="input size to test at (default 8)")
    y.add_argument("--json", action="store_true", help="one JSON object with the worst gap of every symmetry")
    y.set_defaults(func=cmd_symmetries)

    f = sub.add_parser("families", help="cluster the networks of .npz files into algorithm families by fingerprint "
                       "(any task)")
    f.add_argument("files", nargs="+", metavar="FILE.npz", help="networks files (from sample or a sweep)")
    f.add_argument("--json", action="store_true", help="one JSON object: networks (file, index, family, "
                   "fingerprint) and families")
    f.add_argument("--distance", type=_positive_float, default=1.0,  # families.DISTANCE (sklearn loads lazily)
                   help="distance threshold between families (features in [0, 1]; larger: fewer families)")
    f.set_defaults(func=cmd_families)

    d = sub.add_parser("draw", help="force-directed drawings and weight heatmaps (PNG and SVG)")
    d.add_argument("file", help="a networks .npz")
    d.add_argument("--out", required=True, help="output folder (created if its parent exists)")
    d.add_argument("--max", type=_positive_int, help="draw at most this many networks (none: all)")
    d.set_defaults(func=cmd_draw)

    w = sub.add_parser("sweep", help="beta x seed sweep: train, sample, classify; tidy table (CSV + JSON)")
    w.add_argument("out_dir", help="sweep folder (rerunning the same command skips finished cells)")
    _add_sweep_args(w)
    w.set_defaults(func=cmd_sweep)

    st = sub.add_parser("study", help="run a study file: named trainings and their evaluations (configs/studies/)")
    st.add_argument("file", help="a study TOML file (format: src/hyperinterp/experiments/study.py; "
                                 "examples in configs/studies/)")
    st.add_argument("out_dir", help="study folder (rerunning the same command skips finished jobs)")
    st.add_argument("--workers", type=_positive_int, help="local processes (none: the CPU count)")
    st.add_argument("--ray-address", help="run jobs as Ray tasks on this cluster ('auto' for a local one)")
    st.add_argument("--retries", type=int, default=2, help="extra attempts for a failed job")
    st.add_argument("--pack", type=_positive_int, default=1, help=PACK_HELP)
    st.set_defaults(func=cmd_study)

    r = sub.add_parser("report", help="one HTML page with the figures and tables of a sweep")
    r.add_argument("sweep_dir", help="a sweep folder (from sweep or demo)")
    r.add_argument("--out", help="report folder (default: SWEEP_DIR/report)")
    r.set_defaults(func=cmd_report)

    e = sub.add_parser("demo", help="the main job: sweep from the shipped checkpoints and write the report",
                       description="The main job: copy the shipped hypernetworks into OUT, sample, classify, decode\n"
                                   "and draw their networks over the beta grid, run the baselines, write the report.\n"
                                   "Takes about 10 minutes on 2 CPU cores (about 1.5 hours with --from-scratch).\n"
                                   "The report lands in OUT/report/index.html (runs/demo/report/index.html by\n"
                                   "default); rerunning the same command skips finished cells.")
    e.add_argument("--out", default=DEMO_OUT, help="demo folder")
    e.add_argument("--from-scratch", action="store_true", help="train everything instead of the shipped checkpoints")
    e.add_argument("--workers", type=_positive_int, help="local processes (none: the CPU count)")
    e.set_defaults(func=cmd_demo)

    b = sub.add_parser("bench", help="performance figures as one JSON object (see docs/performance.md)",
                       add_help=False)  # --help goes to the benchmark's own parser
    b.add_argument("bench_args", nargs=argparse.REMAINDER, help="passed to the benchmark (try: bench --help)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # the benchmark parses its own flags (bench --help lists them)
        from .experiments import bench

        return bench.main(argv[1:])
    p = parser()
    args = p.parse_args(argv)  # argparse itself exits 2 with a one-line usage error
    try:
        args.func(args)
        sys.stdout.flush()  # a buffered stdout meets a closed pipe here, inside the try, not at exit
    except UserError as e:
        print(f"hyperinterp: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hyperinterp: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader stopped early (`| head`): end quietly, as other command-line tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so Python's exit flush fails silently
        return 141
    return 0


if __name__ == "__main__":
    sys.exit(main())
