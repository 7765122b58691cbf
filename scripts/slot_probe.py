"""How sharp and how cancelled a slot generator's assignment is, and what its mean weights are (notebook E17, E18, E20).

    python scripts/slot_probe.py RUN_OR_CHECKPOINT [--beta 1e-6] [--count 8]

Prints, per network drawn at n = 16, m = 48 (averaged): the mass the neurons hold (m), the mass that survives
|P+ - P-| (cancelled when a neuron holds both signs of an input), and how many neurons are sharp (one entry
above 0.5) against diffuse; and from the mean weights, medians over neurons: the slot weight (each neuron's
largest |mu_W|), the off-slot weights (the rest: 0.5 * median |z| = 0.34 where the noise skip is left uncancelled),
the share of neurons reading two or more inputs (second largest above a quarter of the largest), and |a|.
It reads only the saved checkpoint.
"""

from __future__ import annotations

import argparse
import math

import torch

from hyperinterp.generate import sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--beta", type=float, default=1e-6)
    parser.add_argument("--count", type=int, default=8)
    args = parser.parse_args()
    model, cfg, _ = sample.load_model(args.run)
    h = cfg.hyper
    if not h.slot_sinkhorn:
        raise SystemExit("not a slot generator (hyper.slot_sinkhorn = 0)")
    k, n, m = args.count, cfg.task.n, cfg.task.m
    seen: dict[str, torch.Tensor] = {}  # the last block's output, which the slot head reads
    model.slot_head.register_forward_hook(lambda mod, inp, out: seen.__setitem__("h", inp[0]))
    gen = torch.Generator().manual_seed(0)
    log_beta = torch.full((k,), math.log(args.beta))
    z = model.noise(k, m, n, gen, share=model.stage.share(log_beta))  # a checkpoint's share at its beta
    with torch.no_grad():
        mu = model(z, log_beta).mu
        p, _ = model.slot_assignment(seen["h"], z[:, :, 0, -1])
        if p.dim() == 3:  # split: a neuron's sign is its own, nothing cancels
            held = surviving = p.sum() / k
            sharp = p.max(2).values > 0.5
        else:
            held, surviving = p.sum() / k, (p[..., 0] - p[..., 1]).abs().sum() / k
            sharp = (p[..., 0] - p[..., 1]).abs().max(2).values > 0.5
    print(f"{args.run} at beta {args.beta:g}, {k} draws, n={n}, m={m}")
    print(f"mass held {float(held):.1f}, surviving |P+ - P-| {float(surviving):.1f}, "
          f"sharp neurons {float(sharp.float().sum(1).mean()):.1f} of {m}")
    ranked = mu.W.abs().sort(2, descending=True).values
    print(f"mean weights: slot |W| {float(ranked[..., 0].median()):.2f}, "
          f"off-slot |W| {float(ranked[..., 2:].median()):.3f}, "
          f"neurons reading 2+ inputs {float((ranked[..., 1] > 0.25 * ranked[..., 0]).float().mean()):.2f}, "
          f"|a| {float(mu.a.abs().median()):.3f}")


if __name__ == "__main__":
    main()
