"""mpirun -np 2: all_reduce (every op), broadcast, all_gather, barrier on several dtypes and shapes."""

import numpy as np
from _setup import dfm, dist

dist.init_process_group(backend="mpi")
assert dist.is_initialized()
r, n = dist.get_rank(), dist.get_world_size()
assert n == 2, n
DTYPES = [(dfm.float32, np.float32), (dfm.float64, np.float64), (dfm.int64, np.int64), (dfm.uint8, np.uint8)]
SHAPES = [(), (5,), (2, 3, 4), (3, 0)]


def values(rank, shape, npdt):
    k = int(np.prod(shape)) if shape else 1
    return ((np.arange(k) * 7 + 3 * rank + 1) % 11).astype(npdt).reshape(shape)


def t_of(a, dt):
    return dfm.from_numpy(np.array(a, copy=True)).clone()


checked = 0
for dt, npdt in DTYPES:
    for shape in SHAPES:
        mine, all_ = values(r, shape, npdt), [values(k, shape, npdt) for k in range(n)]
        ops = [
            (dist.ReduceOp.SUM, sum(all_)),
            (dist.ReduceOp.MAX, np.maximum(*all_)),
            (dist.ReduceOp.MIN, np.minimum(*all_)),
            (dist.ReduceOp.PRODUCT, all_[0] * all_[1]),
        ]
        if dt in (dfm.float32, dfm.float64):
            ops.append((dist.ReduceOp.AVG, (all_[0] + all_[1]) / 2))
        for op, want in ops:
            t = t_of(mine, dt)
            assert t.dtype == dt
            dist.all_reduce(t, op=op)
            got = t.numpy()
            assert got.dtype == npdt and got.shape == shape, (got.dtype, got.shape)
            assert np.array_equal(got, np.asarray(want).astype(npdt)), (dt, shape, op, got, want)
            checked += 1
        for src in range(n):
            t = t_of(mine, dt)
            dist.broadcast(t, src=src)
            assert np.array_equal(t.numpy(), all_[src]), (dt, shape, src)
            checked += 1
        rows = [dfm.zeros(shape, dtype=dt) for _ in range(n)]
        dist.all_gather(rows, t_of(mine, dt))
        for k in range(n):
            assert np.array_equal(rows[k].numpy(), all_[k]), (dt, shape, k)
        checked += 1

# bool: broadcast works, all_reduce is refused with a clear error
b = dfm.tensor([r == 0, True])
dist.broadcast(b, src=1)
assert b.tolist() == [False, True], b.tolist()
try:
    dist.all_reduce(dfm.tensor([True]))
    raise AssertionError("bool all_reduce accepted")
except TypeError as e:
    assert "bool" in str(e), e
try:
    dist.broadcast(dfm.zeros(2), src=2)
    raise AssertionError("src out of range accepted")
except ValueError as e:
    assert "out of range" in str(e), e
dist.barrier()
dist.destroy_process_group()
assert not dist.is_initialized()
print(f"OK rank {r}: {checked} collectives checked", flush=True)
