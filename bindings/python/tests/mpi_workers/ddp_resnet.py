"""mpirun -np 2: dfm's DistributedDataParallel on a DFM-ResNet18 (BatchNorm: buffers broadcast
from rank 0 before each forward) equals PyTorch DDP over gloo with the same weights and the same
per-rank data: fixture of tools/fixtures/ddp_resnet.py, float64, compared to 1e-9 relative.
Parameters are also bitwise identical on both ranks after every step. argv[1]: the fixture file.
"""

import json
import os
import sys

import numpy as np
from _setup import dfm, dist, param_digest, same_on_all_ranks
from dfm._serialization import load_file_with_metadata

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "tools", "reference"))
import deterministic_weights as W  # noqa: E402

dist.init_process_group(backend="mpi")
r = dist.get_rank()
fx, meta = load_file_with_metadata(sys.argv[1])
c = json.loads(meta["config"])
assert dist.get_world_size() == c["world_size"]

model = dfm.models.ResNet18(
    frontend=c["frontend"],
    fb_filters=c["fb_filters"],
    n_classes=c["n_classes"],
    shape=tuple(c["shape"]),
    in_channels=c["in_channels"],
    state_init_std=c["state_init_std"],
)
# The deterministic weights (as deterministic_weights.apply: aliases take the first key's values),
# on rank 0 only: the wrap must carry them to rank 1.
if r == 0:
    done = set()
    with dfm.no_grad():
        for key, t in sorted(model.state_dict().items()):
            if t.data_ptr() in done:
                continue
            done.add(t.data_ptr())
            v = W.value(key, tuple(t.shape), t.dtype in (dfm.float32, dfm.float64))
            if v is not None:
                t.copy_(dfm.from_numpy(v))
model = model.double()
ddp = dfm.nn.parallel.DistributedDataParallel(model, broadcast_buffers=True)
opt = dfm.optim.SGD(ddp.parameters(), lr=c["lr"], momentum=c["momentum"])


def sampled(t):
    flat = t.detach().reshape(-1).numpy()
    if flat.size <= 128:
        return flat
    return flat[[((2 * j + 1) * flat.size) // 64 for j in range(32)]]


worst = 0.0
params = dict(model.named_parameters())
buffers = dict(model.named_buffers())
for s in range(c["steps"]):
    x, y = fx[f"x/rank{r}/step{s}"].double(), fx[f"y/rank{r}/step{s}"]
    loss = dfm.nn.functional.cross_entropy(ddp(x, T=c["T"]), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    want = float(fx[f"loss/rank{r}/step{s}"])
    assert abs(float(loss) - want) <= 1e-9 * max(1.0, abs(want)), (
        f"rank {r} step {s}: loss {float(loss)} vs torch {want}"
    )
    assert same_on_all_ranks(param_digest(model)), f"step {s}: parameters differ between ranks"
    if r == 0:
        checked = 0
        for kind, tensors in (("param", params), ("buffer", buffers)):
            for key in [k for k in fx if k.startswith(f"{kind}/step{s}/")]:
                name = key[len(f"{kind}/step{s}/") :]
                got, ref = sampled(tensors[name]), fx[key].numpy()
                d = float(np.abs(got - ref).max() / max(1e-3, np.abs(ref).max()))
                worst = max(worst, d)
                assert d < 1e-9, f"step {s}: {kind} {name} differs from torch DDP by {d}"
                checked += 1
        assert checked > 100, checked
dist.destroy_process_group()
print(f"OK rank {r}: {c['steps']} steps match torch DDP (gloo), max relative difference {worst:.3g}", flush=True)
