"""PyTorch side of the W1-W6 workloads (docs: ../shared/spec/BENCHMARKS.md), on the
PyTorch reference models in tools/reference (the same computation dfm runs).

One workload per process, so the peak resident memory (getrusage ru_maxrss) is this
workload's alone. Prints one JSON line:
  {"impl": "torch", "workload": "W1", "ms": median, "times_ms": [...], "gflop": per step,
   "maxrss_mb": ..., "steps": feedback steps run}

Usage: python bench/workloads_torch.py W1 [--threads 2] [--warmup 2] [--reps 5] [--T n] [--no-flops]
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "reference"))
from dfm_torch import ResNet18, ResNet50  # noqa: E402
from dfm_deeplab_torch import DeepLabV3Plus  # noqa: E402

# id: (builder, input shape (B, C, H, W), T, kind). Keep identical to bench/DFMBench/Workloads.swift.
WORKLOADS = {
    "W1": (lambda: ResNet18(fb_filters=8, n_classes=10, shape=(32, 32)), (32, 3, 32, 32), 5, "train"),
    "W2": (lambda: ResNet18(fb_filters=8, n_classes=10, shape=(64, 64)), (32, 3, 64, 64), 5, "train"),
    "W3": (lambda: ResNet18(fb_filters=8, n_classes=10, shape=(32, 32)), (32, 3, 32, 32), 5, "infer"),
    "W4": (lambda: ResNet18(fb_filters=10, n_classes=10, shape=(28, 28), in_channels=1), (32, 1, 28, 28), 5, "train"),
    "W5": (lambda: DeepLabV3Plus(in_filters=3, fb_filters=2, class_filters=256, classes=8, shape=(64, 64)),
           (4, 3, 64, 64), 3, "seg"),
    "W6": (lambda: ResNet50(fb_filters=8, n_classes=10, shape=(64, 64)), (8, 3, 64, 64), 3, "train"),
}
CLASSES = {"W5": 8}
# atol 0 never stops the loop early on real data (|e - e_prev| is never exactly 0), so
# every run does exactly T feedback steps, as dfm does with the same setting.
ATOL = 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", choices=sorted(WORKLOADS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-flops", action="store_true")
    ap.add_argument("--T", type=int, help="override the workload's T (memory-vs-T measurements)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    build, shape, T, kind = WORKLOADS[args.workload]
    T = args.T or T
    model = build()
    B, _, H, W = shape
    x = torch.randn(shape)
    ncls = CLASSES.get(args.workload, 10)
    y = torch.randint(0, ncls, (B, H, W) if kind == "seg" else (B,))

    if kind == "infer":
        model.eval()

        def step():
            with torch.no_grad():
                return model(x, T=T, atol=ATOL)
    else:
        model.train()
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x, T=T, atol=ATOL), y)
            loss.backward()
            opt.step()
            return loss

    times = []
    for i in range(args.warmup + args.reps):
        t0 = time.perf_counter()
        step()
        t1 = time.perf_counter()
        if i >= args.warmup:
            times.append((t1 - t0) * 1e3)
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # before the FLOP count adds its own

    gflop = None
    if not args.no_flops:
        counter = FlopCounterMode(display=False)
        with counter:
            step()
        gflop = counter.get_total_flops() / 1e9
    print(json.dumps({"impl": "torch", "workload": args.workload, "ms": statistics.median(times),
                      "times_ms": [round(t, 3) for t in times], "gflop": gflop, "maxrss_mb": round(maxrss_mb, 1),
                      "steps": model.steps_run, "version": torch.__version__}))


if __name__ == "__main__":
    main()
