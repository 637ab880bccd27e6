"""The Python binding's own cost on a workload step (default W1): every C function the
binding calls is timed, so per step
    overhead = wall time of the step - time inside libdfm calls
which, unlike comparing two separate processes, does not drift with the load other
processes put on the machine. Prints one JSON line.
Usage: DFM_LIBRARY=.../libdfm.so python bench/binding_overhead.py [W1] [--reps 5]
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
from dfm import _lib  # noqa: E402
import dfm.nn.functional as F  # noqa: E402
import workloads_dfm as wd  # noqa: E402
from _workloads import make_step  # noqa: E402

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
print(json.dumps({"workload": args.workload, "step_ms": round(wall, 2), "python_side_ms": round(over, 3),
                  "overhead_pct": round(100 * over / wall, 3), "c_calls_per_step": ncalls[-1]}))
