"""The W1-W6 workloads through dfm's Python binding (bindings/python, `import dfm as torch`):
the same code as bench/workloads_torch.py with dfm in place of torch, so the difference to
the Swift-direct run (dfm-bench workload) is the binding's overhead.

One workload per process; prints one JSON line like the other two runners.
Usage: DFM_LIBRARY=.../libdfm.so python bench/workloads_dfm.py W1 [--threads 2] [--warmup 2] [--reps 5]
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bindings", "python"))
import dfm  # noqa: E402
import dfm.nn.functional as F  # noqa: E402
from dfm.models import DeepLabV3Plus, ResNet18, ResNet50  # noqa: E402

# Keep identical to bench/workloads_torch.py and bench/DFMBench/Workloads.swift.
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
ATOL = 0.0  # never stops early: exactly T steps, as in the other runners


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
    model = build()
    B, _, H, W = shape
    x = dfm.randn(*shape)
    ncls = CLASSES.get(args.workload, 10)
    y = dfm.randint(0, ncls, (B, H, W) if kind == "seg" else (B,))

    if kind == "infer":
        model.eval()

        def step():
            with dfm.no_grad():
                return model(x, T=T, atol=ATOL)
    else:
        model.train()
        opt = dfm.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)

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
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"impl": "dfm-python", "workload": args.workload, "ms": statistics.median(times),
                      "times_ms": [round(t, 3) for t in times], "maxrss_mb": round(maxrss_mb, 1),
                      "steps": model.steps_run}))


if __name__ == "__main__":
    main()
