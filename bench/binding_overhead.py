"""The Python binding's own cost on a workload step (default W1): every C function the
binding calls is timed, so per step
    overhead = wall time of the step - time inside libdfm calls
which, unlike comparing two separate processes, does not drift with the load other
processes put on the machine. Prints one JSON line.
Usage: DFM_LIBRARY=.../libdfm.so python bench/binding_overhead.py [W1] [--reps 5]
The pseudo-workload `ops` is the per-op cost instead: 1000 rounds of small-tensor ops as in
mnist_forward_forward's loop (matmul, relu, pow, mean, cat, exp, log, backward, shape/dtype
reads), where the binding's cost per C call, not the kernels, decides the speed; it adds
`us_per_call` and `python_us_per_call`.
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bindings", "python"))
import dfm  # noqa: E402
import dfm.nn.functional as F  # noqa: E402
import workloads_dfm as wd  # noqa: E402
from _workloads import make_step  # noqa: E402
from dfm import _lib  # noqa: E402

inside = [0.0]
calls = [0]


def timed(f):
    def call(*a):
        t0 = time.perf_counter()
        try:
            return f(*a)
        finally:
            inside[0] += time.perf_counter() - t0
            calls[0] += 1

    return call


_fn = _lib.fn
_lib.fn = lambda name: timed(_fn(name))
for k in list(vars(_lib.C)):  # functions resolved before the patch
    delattr(_lib.C, k)

ap = argparse.ArgumentParser()
ap.add_argument("workload", nargs="?", default="W1")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--warmup", type=int, default=2)
ap.add_argument("--reps", type=int, default=5)
args = ap.parse_args()
dfm.set_num_threads(args.threads)
dfm.manual_seed(0)
if args.workload == "ops":
    x = dfm.randn(16, 32)
    w = dfm.randn(32, 16, requires_grad=True)

    def step():
        for _ in range(1000):
            h = (x @ w).relu()
            g = h.pow(2).mean(1)
            assert h.shape[0] == 16 and h.dtype is dfm.float32
            loss = dfm.log(1 + dfm.exp(dfm.cat([-g + 2.0, g - 2.0]))).mean()
            loss.backward()
            w.grad = None
else:
    build, shape, T, kind = wd.WORKLOADS[args.workload]
    model, step = make_step(dfm, F, args.workload, build, shape, T, "train" if kind == "infer" else kind)
walls, overheads, ncalls = [], [], []
for i in range(args.warmup + args.reps):
    inside[0], calls[0] = 0.0, 0
    t0 = time.perf_counter()
    step()
    wall = time.perf_counter() - t0
    if i >= args.warmup:
        walls.append(wall * 1e3)
        overheads.append((wall - inside[0]) * 1e3)
        ncalls.append(calls[0])
wall, over = statistics.median(walls), statistics.median(overheads)
result = {
    "workload": args.workload,
    "step_ms": round(wall, 2),
    "python_side_ms": round(over, 3),
    "overhead_pct": round(100 * over / wall, 3),
    "c_calls_per_step": ncalls[-1],
}
if args.workload == "ops":
    result["us_per_call"] = round(1e3 * wall / ncalls[-1], 3)
    result["python_us_per_call"] = round(1e3 * over / ncalls[-1], 3)
print(json.dumps(result))
