"""mpirun -np 2: DistributedDataParallel for STEPS steps equals single-process training on the
concatenated global batch (a model without BatchNorm: Linear, LayerNorm, GELU), and every rank
holds bitwise identical parameters after every step.

argv[1]: float64 (compared to 1e-10) or float32 (compared to 1e-5; the bitwise rank check is the
same in both).
"""

import sys

import numpy as np
from _setup import dfm, dist, param_digest, same_on_all_ranks

dist.init_process_group(backend="mpi")
r, n = dist.get_rank(), dist.get_world_size()
dtype = {"float64": dfm.float64, "float32": dfm.float32}[sys.argv[1]]
tol = 1e-10 if dtype == dfm.float64 else 1e-5
nn = dfm.nn
STEPS, PER_RANK = 5, 4


def make():
    return nn.Sequential(nn.Linear(6, 16), nn.LayerNorm(16), nn.GELU(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))


# Different seeds per rank: the wrap must give every rank rank 0's weights.
dfm.manual_seed(1000 + r)
model = make().to(dtype)
ddp = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=0.0005)  # ~500 B buckets: several of them
assert ddp.module is model
dfm.manual_seed(1000)
ref = make().to(dtype)  # rank 0's initial weights, trained alone on the whole batch
for (k, a), (_, b) in zip(model.state_dict().items(), ref.state_dict().items()):
    assert bool(dfm.equal(a, b)), f"rank {r}: {k} differs from rank 0's after the wrap"

opt = dfm.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
ref_opt = dfm.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
rng = np.random.RandomState(7)
worst = 0.0
for step in range(STEPS):
    x = dfm.from_numpy(rng.standard_normal((n * PER_RANK, 6))).to(dtype)
    y = dfm.from_numpy(rng.randint(0, 3, size=n * PER_RANK).astype(np.int64))
    xr, yr = x[r * PER_RANK : (r + 1) * PER_RANK], y[r * PER_RANK : (r + 1) * PER_RANK]
    loss = nn.functional.cross_entropy(ddp(xr), yr)
    opt.zero_grad()
    loss.backward()
    opt.step()
    ref_loss = nn.functional.cross_entropy(ref(x), y)
    ref_opt.zero_grad()
    ref_loss.backward()
    ref_opt.step()
    assert same_on_all_ranks(param_digest(model)), f"step {step}: parameters differ between ranks"
    for (k, a), (_, b) in zip(model.named_parameters(), ref.named_parameters()):
        d = float((a.detach() - b.detach()).abs().max()) / max(1.0, float(b.detach().abs().max()))
        worst = max(worst, d)
        assert d < tol, f"rank {r} step {step}: {k} differs from single-process training by {d}"
stats = ddp.comm_stats()
assert stats[1] == STEPS, stats
dist.destroy_process_group()
print(f"OK rank {r}: {STEPS} steps, max relative difference {worst:.3g}, ranks bitwise equal", flush=True)
