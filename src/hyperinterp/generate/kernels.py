"""The generator's fast kernels: custom autograd functions, each equal to its straightforward twin up to rounding.

The pools over a row or a column of the (K, m, n, d) features and the entry map of an exchangeable layer are where
a training step spends its time; these forms fuse their backward passes and give torch.vmap (the batched multi-seed
trainer) one batched call instead of vmap's generic rules. `pool_reference` is the twin (`HyperNetwork.forward(...,
reference=True)` runs it, and the benchmark measures against it); tests/test_performance.py checks both agree.
"""

from __future__ import annotations

import torch


def pool_reference(h: torch.Tensor, dim: int, kinds: tuple[str, ...]) -> torch.Tensor:
    """Concatenate the requested symmetric pools of h over `dim` along the feature axis."""
    parts = []
    for kind in kinds:
        parts.append(h.mean(dim) if kind == "mean" else h.amax(dim))
    return torch.cat(parts, -1)


def _fold_max(h: torch.Tensor, dim: int) -> torch.Tensor:
    """max over `dim` by pairwise halving. Exact (max does not round), and on the CPU several times faster
    than amax over a middle axis with a short contiguous inner axis (the d = 16 features)."""
    while h.shape[dim] > 1:
        size = h.shape[dim]
        half = size // 2
        folded = torch.maximum(h.narrow(dim, 0, half), h.narrow(dim, half, half))
        h = torch.cat([folded, h.narrow(dim, 2 * half, 1)], dim) if size % 2 else folded
    return h.squeeze(dim)


class _Pool(torch.autograd.Function):
    """Mean and/or max of h over `dim`, with one fused backward.

    The gradient is the one autograd gives `mean` and `amax` (a max's gradient shared equally between tied
    entries), built in place from a float mask written by `eq`, instead of autograd's bool mask, type
    conversion and separate full-size gradient tensors per pool."""

    @staticmethod
    def forward(h: torch.Tensor, dim: int, kinds: tuple[str, ...]) -> tuple[torch.Tensor, ...]:
        # pairwise folding pays where the reduced axis has a short contiguous inner block (the rows: d values)
        fold = h.stride(dim) <= 64 and h.numel() >= 1 << 15
        return tuple(h.mean(dim) if kind == "mean" else _fold_max(h, dim) if fold else h.amax(dim) for kind in kinds)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: tuple[torch.Tensor, ...]) -> None:
        h, dim, kinds = inputs
        ctx.dim, ctx.kinds = dim, kinds
        ctx.save_for_backward(h, *(o for o, kind in zip(output, kinds, strict=True) if kind == "max"))

    @staticmethod
    def vmap(info, in_dims: tuple, h: torch.Tensor, dim: int, kinds: tuple[str, ...]):
        """Under torch.vmap (the batched multi-seed trainer): the mapped axis becomes a leading batch axis of
        the same pool, so the fused forward and backward run once on the stacked tensor."""
        h = h.movedim(in_dims[0], 0) if in_dims[0] is not None else h.unsqueeze(0).expand(info.batch_size, *h.shape)
        outs = _Pool.apply(h, dim % (h.dim() - 1) + 1, kinds)
        return outs, tuple(0 for _ in outs)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor):
        h, *maxes = ctx.saved_tensors
        dim, size = ctx.dim, h.shape[ctx.dim]
        grad = None
        for g, kind in zip(grads, ctx.kinds, strict=True):
            if kind == "max":
                mask = torch.eq(h, maxes.pop(0).unsqueeze(dim), out=torch.empty_like(h))
                part = mask.mul_((g / mask.sum(dim)).unsqueeze(dim))
                grad = part if grad is None else grad.add_(part)
        for g, kind in zip(grads, ctx.kinds, strict=True):
            if kind == "mean":
                part = (g / size).unsqueeze(dim)
                grad = part.expand_as(h) if grad is None else grad.add_(part)
        return grad, None, None


def pool(h: torch.Tensor, dim: int, kinds: tuple[str, ...]) -> torch.Tensor:
    """Concatenate the requested symmetric pools of h over `dim` along the feature axis.

    Equal to `pool_reference` up to floating-point rounding of the backward pass (the forward is bitwise
    the same); `tests/test_performance.py` checks it."""
    return torch.cat(_Pool.apply(h, dim, tuple(kinds)), -1)


class _EntryMap(torch.autograd.Function):
    """addmm(base, h, w): the entry map accumulated into the pooled terms, with autograd's addmm gradients.

    A Function only for its vmap rule: under torch.vmap (the batched multi-seed trainer) vmap's own addmm rule
    runs bmm, two scalings and an add; this one is one baddbmm (batched seeds ~1.4x faster on a CPU)."""

    @staticmethod
    def forward(base: torch.Tensor, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.addmm(base, h, w)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: torch.Tensor) -> None:
        ctx.save_for_backward(inputs[1], inputs[2])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        h, w = ctx.saved_tensors
        # autograd's addmm backward (mm_mat1_backward, mm_mat2_backward) for a row-major h: the same numbers
        column_major = w.stride(0) == 1 and w.stride(1) == w.shape[0]
        return grad, grad.mm(w.t()), grad.t().mm(h).t() if column_major else h.t().mm(grad)

    @staticmethod
    def vmap(info, in_dims: tuple, base: torch.Tensor, h: torch.Tensor, w: torch.Tensor):
        args = [t.movedim(d, 0) if d is not None else t.expand(info.batch_size, *t.shape)
                for t, d in zip((base, h, w), in_dims, strict=True)]
        return _EntryBatched.apply(*args), 0


class _EntryBatched(torch.autograd.Function):
    """baddbmm(base, h, w) over a leading seed axis, with its gradients."""

    @staticmethod
    def forward(base: torch.Tensor, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(base, h, w)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: torch.Tensor) -> None:
        ctx.save_for_backward(inputs[1], inputs[2])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        h, w = ctx.saved_tensors
        return grad, grad.bmm(w.transpose(1, 2)), h.transpose(1, 2).bmm(grad)


def entry_map(base: torch.Tensor, h: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """base + h @ w (rows of h the entries' features): torch.addmm with a one-call vmap rule."""
    return _EntryMap.apply(base, h, w)
