"""Peak memory and step time of a DFM-ResNet18 training step (W1's model: fb 8, 10 classes,
batch 32 at 3x32x32) as T grows, with and without checkpoint_steps. Each configuration
runs in its own process so ru_maxrss is its own peak.

    DFM_LIBRARY=.../libdfm.so PYTHONPATH=bindings/python python3 bench/checkpoint_steps.py
"""

import json
import resource
import subprocess
import sys
import time


def child(T, ck):
    import dfm
    from dfm.models import ResNet18

    dfm.manual_seed(0)
    model = ResNet18(fb_filters=8, n_classes=10, shape=(32, 32))
    model.checkpoint_steps = ck
    opt = dfm.optim.Adam(model.parameters(), lr=1e-3)
    x, y = dfm.randn(32, 3, 32, 32), dfm.randint(0, 10, (32,))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        opt.zero_grad()
        dfm.nn.functional.cross_entropy(model(x, T=T, atol=0.0), y).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    print(
        json.dumps({"ms": 1000 * sorted(times)[1], "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    )


def main():
    rows = []
    for T in (5, 10, 20):
        cells = []
        for ck in (False, True):
            out = subprocess.run(
                [sys.executable, __file__, str(T), str(int(ck))], capture_output=True, text=True, check=True
            )
            cells.append(json.loads(out.stdout.strip().splitlines()[-1]))
        rows.append((T, cells))
    print("| T | peak RSS MB | with checkpoint_steps | step ms | with checkpoint_steps | time cost |")
    print("|---|---:|---:|---:|---:|---:|")
    for T, (a, b) in rows:
        print(
            f"| {T} | {a['rss_mb']:.0f} | {b['rss_mb']:.0f} | {a['ms']:.0f} | {b['ms']:.0f} | {100 * (b['ms'] / a['ms'] - 1):+.0f}% |"
        )


if __name__ == "__main__":
    if len(sys.argv) == 3:
        child(int(sys.argv[1]), bool(int(sys.argv[2])))
    else:
        main()
