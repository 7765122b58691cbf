"""hyperinterp: generate interpretable networks with a beta-conditioned equivariant hypernetwork."""

__version__ = "0.1.0"
