"""Shared start of the MPI worker scripts: the checkout's package (as conftest.py), one thread."""

import os
import sys

if not os.environ.get("DFM_TEST_INSTALLED"):
    sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

import dfm  # noqa: E402
import dfm.distributed as dist  # noqa: E402

dfm.set_num_threads(1)


def param_digest(model):
    """sha256 of every parameter's bytes, in order, as a uint8 tensor (compared across ranks)."""
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    for p in model.parameters():
        h.update(p.detach().numpy().tobytes())
    return dfm.from_numpy(np.frombuffer(h.digest(), dtype=np.uint8).copy())


def same_on_all_ranks(t):
    """True when every rank holds bitwise the same tensor t."""
    rows = [dfm.zeros_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(rows, t)
    return all(bool(dfm.equal(rows[0], r)) for r in rows[1:])
