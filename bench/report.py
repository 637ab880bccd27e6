"""Turns the JSON lines of bench/run.sh into the markdown table appended to bench/RESULTS.md.

Per (workload, implementation): each process reports the median of its timed reps; the table
shows the best (lowest) of those medians over the rounds, since load from other processes
only ever adds time, and the largest peak RSS seen. GFLOP per step is PyTorch's
torch.utils.flop_counter count of the same step (forward + backward; Adam not counted).
"""

import argparse
import datetime
import json
from collections import defaultdict

ap = argparse.ArgumentParser()
ap.add_argument("results")
ap.add_argument("--machine", default="")
ap.add_argument("--threads", default="2")
ap.add_argument("--warmup", default="2")
ap.add_argument("--reps", default="5")
ap.add_argument("--rounds", default="1")
ap.add_argument("--load", default="")
ap.add_argument("--python", default="")
args = ap.parse_args()

rows = [json.loads(line) for line in open(args.results) if line.strip()]
by = defaultdict(list)
errors = {}
sgemm = []
cores = set()
binding = None
torch_version = None
for r in rows:
    if "overhead_pct" in r:
        binding = r
        continue
    if r.get("impl") == "sgemm":
        if "gflops" in r:
            sgemm.append(r["gflops"])
            if r.get("blas_core"):
                cores.add(r["blas_core"])
        continue
    key = (r["workload"], r["impl"])
    if "error" in r:
        errors[key] = r["error"]
        continue
    by[key].append(r)
    torch_version = torch_version or r.get("version")

workloads = sorted({w for (w, _) in list(by) + list(errors)})
sg = max(sgemm) if sgemm else None


def best(w, impl):
    rs = by.get((w, impl))
    if not rs:
        return None
    return {
        "ms": min(r["ms"] for r in rs),
        "rounds": [r["ms"] for r in rs],
        "rss": max(r["maxrss_mb"] for r in rs),
        "steps": rs[0].get("steps"),
        "gflop": next((r["gflop"] for r in rs if r.get("gflop")), None),
        # kernel (sys) share of CPU time over the timed steps, and minor faults per step: the worst round
        "sys": max((r["sys_pct"] for r in rs if "sys_pct" in r), default=None),
        "flt": max((r["minflt_per_step"] for r in rs if "minflt_per_step" in r), default=None),
        # CPU seconds (user + sys, all threads) per timed step: the best round
        "cpu": min((r["cpu_s_per_step"] for r in rs if "cpu_s_per_step" in r), default=None),
    }


def f(v, fmt):
    return "-" if v is None else format(v, fmt)


now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
print(f"\n## W1-W7 workloads, {now}\n")
print(f"Machine: {args.machine}; threads {args.threads}; load average {args.load}.")
print(
    f"Each cell: median of {args.reps} steps after {args.warmup} warm-ups, in its own process; best of "
    f"{args.rounds} interleaved rounds (dfm, torch, dfm-python per workload per round). "
    f"PyTorch {torch_version or 'not run'}; Python binding: {args.python}. "
    f"sgemm n=1024 (dfm's OpenBLAS, same run{', core ' + '/'.join(sorted(cores)) if cores else ''}, "
    f"best of {len(sgemm)} measurements spread over the run): {f(sg, '.0f')} GFLOP/s. "
    "sys %: kernel share of the process's CPU time over the timed steps (worst round); faults: minor page "
    "faults per step; CPU s: user+sys seconds of all the process's threads per step (best round).\n"
)
print(
    "| workload | GFLOP/step | dfm ms | dfm GFLOP/s | of sgemm | torch ms | torch GFLOP/s | dfm/torch | "
    "dfm-py ms | py overhead | dfm RSS MB | torch RSS MB | dfm-py RSS MB | dfm sys % | torch sys % | dfm faults | torch faults | dfm CPU s | torch CPU s | rounds (dfm / torch ms) |"
)
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
notes = []
for w in workloads:
    d, t, p = best(w, "dfm"), best(w, "torch"), best(w, "dfm-python")
    gflop = (t or {}).get("gflop")
    rate = lambda b: gflop / (b["ms"] * 1e-3) if b and gflop else None  # noqa: E731
    ratio = d["ms"] / t["ms"] if d and t else None
    over = (p["ms"] / d["ms"] - 1) * 100 if d and p else None
    frac = rate(d) / sg * 100 if rate(d) and sg else None
    rounds = " / ".join(" ".join(f"{v:.0f}" for v in b["rounds"]) if b else "-" for b in (d, t))
    print(
        f"| {w} | {f(gflop, '.1f')} | {f(d and d['ms'], '.1f')} | {f(rate(d), '.1f')} | {f(frac, '.0f')}{'%' if frac else ''} "
        f"| {f(t and t['ms'], '.1f')} | {f(rate(t), '.1f')} | {f(ratio, '.2f')} | {f(p and p['ms'], '.1f')} "
        f"| {f(over, '+.1f')}{'%' if over is not None else ''} | {f(d and d['rss'], '.0f')} | {f(t and t['rss'], '.0f')} "
        f"| {f(p and p['rss'], '.0f')} | {f(d and d['sys'], '.1f')} | {f(t and t['sys'], '.1f')} "
        f"| {f(d and d['flt'], 'd')} | {f(t and t['flt'], 'd')} | {f(d and d['cpu'], '.3f')} | {f(t and t['cpu'], '.3f')} | {rounds} |"
    )
    for impl in ("dfm", "torch", "dfm-python"):
        if (w, impl) in errors and not by.get((w, impl)):
            notes.append(f"- {w} {impl}: not measured: {errors[(w, impl)]}")
if binding:
    notes.append(
        f"- Binding overhead, {binding['workload']} (bench/binding_overhead.py: step time minus the time inside "
        f"libdfm's {binding['c_calls_per_step']} C calls): {binding['python_side_ms']} ms of "
        f"{binding['step_ms']} ms per step = {binding['overhead_pct']:.2f}%. The dfm-py column compares "
        "separate processes and mostly shows load drift."
    )
if notes:
    print()
    print("\n".join(notes))
