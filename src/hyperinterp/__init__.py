"""hyperinterp: generate interpretable networks with a beta-conditioned equivariant hypernetwork."""

import os

# MKL's conditional numerical reproducibility: the same results whatever the memory alignment, so
# the same command and seed give the same sweep table (set before torch makes its first BLAS call).
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

__version__ = "0.1.0"
