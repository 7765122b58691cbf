"""The thread pools of a process that computes beside others: torch's (intra- and inter-op), BLAS and OpenMP.

A worker given one core must use one thread in *every* pool. `torch.set_num_threads(1)` alone leaves numpy's
OpenBLAS pool at one thread per core in every process: on a 2-core AMD EPYC two sweep workers then ran 4.3x slower
(350 s a job instead of 82 s), four or more busy threads fighting over two cores. So a worker pool's children start
with the pools' environment variables set (a library loaded later reads them) and each worker limits the libraries
already loaded with threadpoolctl; `limit` returns what it set, for the checkpoint and the networks' meta.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import torch
from threadpoolctl import threadpool_info, threadpool_limits

# The variables that size BLAS and OpenMP pools when their library loads (OpenBLAS, MKL, BLIS, Accelerate, OpenMP).
POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                  "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def pools() -> dict[str, Any]:
    """Each pool's thread count now: torch intra- and inter-op, and every loaded BLAS or OpenMP library."""
    loaded = {f"{p['internal_api']}:{os.path.basename(p['filepath'])}": int(p["num_threads"])
              for p in threadpool_info()}
    return {"torch": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads(), **loaded}


def limit(threads: int = 1, environ: bool = True) -> dict[str, Any]:
    """Limit every thread pool of this process to `threads` (with `environ`, libraries loaded later and child
    processes too, through the environment: for a worker process, not for a user's own process, whose later
    children must keep their own defaults); returns `pools()` after. The inter-op pool can be sized only before its
    first use: a process that already used it keeps its size, which `pools()` then shows."""
    threads = max(1, int(threads))
    if environ:
        os.environ.update(dict.fromkeys(POOL_VARIABLES, str(threads)))
    threadpool_limits(limits=threads)  # not as a context manager: the limit stays for the process's life
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # "cannot set number of interop threads after parallel work started"
        torch.set_num_interop_threads(threads)
    return pools()


@contextlib.contextmanager
def children_limited(threads: int = 1) -> Iterator[None]:
    """Processes started inside this block inherit the pools' variables set to `threads`, so their BLAS and OpenMP
    libraries start with that many threads; this process's environment is restored after."""
    saved = {k: os.environ.get(k) for k in POOL_VARIABLES}
    os.environ.update(dict.fromkeys(POOL_VARIABLES, str(max(1, int(threads)))))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
