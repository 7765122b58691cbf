"""Command line: `hyperinterp train|sample|classify|draw ...`. Bad input: one line, exit 2."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from .errors import UserError


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def cmd_train(args: argparse.Namespace) -> None:
    from . import config, train

    if args.resume and (args.config or args.set):
        raise UserError("--resume continues with the run's saved configuration: drop --config/--set")
    if args.resume and not train.checkpoint.list_steps(Path(args.run_dir)):
        raise UserError(f"nothing to resume: {args.run_dir} holds no checkpoint")
    cfg = config.load(args.config, args.set or [])
    summary = train.train(cfg, args.run_dir, resume=args.resume, progress=not args.quiet)
    print(json.dumps(summary))


def cmd_sample(args: argparse.Namespace) -> None:
    from . import netfile, sample

    out = netfile.check_out_path(args.out)
    model, cfg, meta = sample.load_model(args.checkpoint)
    n = args.n or cfg.task.n
    m = args.m or (round(cfg.task.m_per_n * n) if cfg.task.train_sizes else cfg.task.m)
    arrays, out_meta = sample.sample(model, cfg, beta=args.beta, n=n, m=m, count=args.count, seed=args.seed,
                                     weights=args.weights)
    out_meta.update(checkpoint=meta["path"], checkpoint_step=meta["step"])
    netfile.save(out, arrays, out_meta)
    rel = arrays["rel_mse"]
    print(f"wrote {args.count} networks (n={n}, m={m}, beta={args.beta:g}, {args.weights} weights) to {out}: "
          f"median rel MSE {np.median(rel):.4g}, median bits {np.median(arrays['bits']):.1f}")


def cmd_classify(args: argparse.Namespace) -> None:
    from . import classify

    results = classify.classify_file(args.file)
    print(json.dumps(results, indent=1) if args.json else classify.format_table(results))


def cmd_draw(args: argparse.Namespace) -> None:
    from . import draw

    out = Path(args.out)
    if not out.parent.is_dir():
        raise UserError(f"output folder {out.parent} does not exist")
    files = draw.draw_file(args.file, out, max_networks=args.max)
    print(f"wrote {len(files)} files to {out}")


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the full usage stays behind --help)."""

    def error(self, message: str):  # type: ignore[override]
        # the same prefix as every other error, whichever subcommand's parser complains
        self.exit(2, f"hyperinterp: error: {message} (see: {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="hyperinterp", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a hypernetwork (TOML config + section.key=value overrides)")
    t.add_argument("run_dir", help="folder for checkpoints, metrics.jsonl and TensorBoard events")
    t.add_argument("--config", help="TOML file; see configs/default.toml")
    t.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config key")
    t.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="generate networks from a checkpoint into a .npz file")
    s.add_argument("checkpoint", help="a run folder (latest checkpoint) or a checkpoint folder")
    s.add_argument("--beta", type=_positive_float, required=True)
    s.add_argument("--n", type=_positive_int, help="input size (default: the training n)")
    s.add_argument("--m", type=_positive_int, help="hidden width (default: the training m)")
    s.add_argument("--count", type=_positive_int, default=16)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--weights", choices=("draw", "mean"), default="draw",
                   help="a draw from the generated distribution (what the objective scores) or its mean")
    s.add_argument("--out", required=True, help="output .npz")
    s.set_defaults(func=cmd_sample)

    c = sub.add_parser("classify", help="label each network of a .npz file with its algorithm")
    c.add_argument("file")
    c.add_argument("--json", action="store_true", help="a JSON list, one object per network")
    c.set_defaults(func=cmd_classify)

    d = sub.add_parser("draw", help="force-directed drawings and weight heatmaps (PNG and SVG)")
    d.add_argument("file")
    d.add_argument("--out", required=True, help="output folder (created if its parent exists)")
    d.add_argument("--max", type=_positive_int, help="draw at most this many networks")
    d.set_defaults(func=cmd_draw)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)  # argparse itself exits 2 with a one-line usage error
    try:
        args.func(args)
    except UserError as e:
        print(f"hyperinterp: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hyperinterp: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
