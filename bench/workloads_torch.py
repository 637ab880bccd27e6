"""PyTorch side of the W1-W7 workloads (docs: docs/BENCHMARKS.md), on the
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
import sys

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "reference"))
from _workloads import LAST_CPU, make_step, time_steps, workloads  # noqa: E402
from dfm_deeplab_torch import DeepLabV3Plus  # noqa: E402
from dfm_torch import ResNet18, ResNet50  # noqa: E402
from dfm_vit_torch import ViT  # noqa: E402

WORKLOADS = workloads(ResNet18, ResNet50, DeepLabV3Plus, ViT)


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
    model, step = make_step(torch, F, args.workload, build, shape, T, kind)
    ms, times, maxrss_mb = time_steps(step, args.warmup, args.reps)  # RSS before the FLOP count adds its own

    gflop = None
    if not args.no_flops:
        counter = FlopCounterMode(display=False)
        with counter:
            step()
        gflop = counter.get_total_flops() / 1e9
    print(
        json.dumps(
            {
                "impl": "torch",
                "workload": args.workload,
                "ms": ms,
                "times_ms": [round(t, 3) for t in times],
                "gflop": gflop,
                "maxrss_mb": round(maxrss_mb, 1),
                **LAST_CPU,
                "steps": model.steps_run,
                "version": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
