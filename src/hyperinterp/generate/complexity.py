"""Description length, in bits, of noisy weights q = N(mu, sigma^2) against a prior.

bits = KL(q || p) / ln 2, summed over every weight of a generated network.

* gaussian:    p = N(0, s^2). KL = ln(s/sigma) + (sigma^2 + mu^2) / (2 s^2) - 1/2.
  A weight equal to the prior is free; a precise weight costs about log2(s/sigma) bits
  whatever its value, a precise zero included.
* log_uniform: p(|w|) ~ 1/|w| (sparse variational dropout, Molchanov et al. 2017). The KL
  depends only on alpha = sigma^2 / mu^2, approximated by
  -KL = k1 sigmoid(k2 + k3 ln alpha) - 0.5 ln(1 + 1/alpha) - k1.
  A weight that is pure noise around zero (alpha -> inf) is free.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import UserError

PRIORS = ("gaussian", "log_uniform")
LN2 = math.log(2.0)
K1, K2, K3 = 0.63576, 1.87320, 1.48695


def log_alpha(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    return 2 * log_sigma - torch.log(mu * mu + 1e-16)


def kl_nats(mu: torch.Tensor, log_sigma: torch.Tensor, prior: str, prior_scale: float = 1.0) -> torch.Tensor:
    """Elementwise KL(q || p) in nats."""
    if prior == "gaussian":
        s2 = prior_scale * prior_scale
        return math.log(prior_scale) - log_sigma + (torch.exp(2 * log_sigma) + mu * mu) / (2 * s2) - 0.5
    if prior == "log_uniform":
        la = log_alpha(mu, log_sigma)
        return K1 - K1 * torch.sigmoid(K2 + K3 * la) + 0.5 * F.softplus(-la)
    raise UserError(f"unknown prior {prior!r} (known: {', '.join(PRIORS)})")


def bits(mu: torch.Tensor, log_sigma: torch.Tensor, prior: str, prior_scale: float = 1.0,
         batch_dims: int = 1) -> torch.Tensor:
    """Total bits per item of the leading `batch_dims` dimensions."""
    kl = kl_nats(mu, log_sigma, prior, prior_scale)
    return kl.flatten(batch_dims).sum(-1) / LN2
