"""The W1-W7 workloads through dfm's Python binding (bindings/python, `import dfm as torch`):
the same code as bench/workloads_torch.py with dfm in place of torch, so the difference to
the Swift-direct run (dfm-bench workload) is the binding's overhead.

One workload per process; prints one JSON line like the other two runners.
Usage: DFM_LIBRARY=.../libdfm.so python bench/workloads_dfm.py W1 [--threads 2] [--warmup 2] [--reps 5]
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bindings", "python"))
import dfm  # noqa: E402
import dfm.nn.functional as F  # noqa: E402
from _workloads import LAST_CPU, make_step, time_steps, workloads  # noqa: E402
from dfm.models import DeepLabV3Plus, ResNet18, ResNet50, ViT  # noqa: E402

WORKLOADS = workloads(ResNet18, ResNet50, DeepLabV3Plus, ViT)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", choices=sorted(WORKLOADS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    dfm.set_num_threads(args.threads)
    dfm.manual_seed(0)

    build, shape, T, kind = WORKLOADS[args.workload]
    model, step = make_step(dfm, F, args.workload, build, shape, T, kind)
    ms, times, maxrss_mb = time_steps(step, args.warmup, args.reps)
    print(
        json.dumps(
            {
                "impl": "dfm-python",
                "workload": args.workload,
                "ms": ms,
                "times_ms": [round(t, 3) for t in times],
                "maxrss_mb": round(maxrss_mb, 1),
                **LAST_CPU,
                "steps": model.steps_run,
            }
        )
    )


if __name__ == "__main__":
    main()
