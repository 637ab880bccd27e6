#!/usr/bin/env bash
# Builds dfm-bench in release, runs it (and bench/conv_torch.py when a torch venv exists),
# and appends a markdown table to bench/RESULTS.md.
#   bench/run_conv.sh [threads=2] [reps=5]
# Env: SCRATCH (build dir, default .build-bench), TORCH_VENV (default /work/torchvenv).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${1:-2}
REPS=${2:-5}
SCRATCH=${SCRATCH:-.build-bench}
VENV=${TORCH_VENV:-/work/torchvenv}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

swift build -c release --product dfm-bench --scratch-path "$SCRATCH"
"$SCRATCH/release/dfm-bench" --threads "$THREADS" --reps "$REPS" --tsv "$TMP/dfm.tsv"
if [ -x "$VENV/bin/python" ]; then
    "$VENV/bin/python" bench/conv_torch.py --threads "$THREADS" --reps "$REPS" --tsv "$TMP/torch.tsv"
    TORCH_VERSION=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')
else
    : > "$TMP/torch.tsv"
    TORCH_VERSION=""
fi

MACHINE="$(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores visible"
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
python3 - "$TMP/dfm.tsv" "$TMP/torch.tsv" "$MACHINE" "$THREADS" "$REPS" "$TORCH_VERSION" "$LOAD" >> bench/RESULTS.md <<'PY'
import datetime, sys
dfm_path, torch_path, machine, threads, reps, torch_version, load = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(dfm_path) if l.strip()]
torch_ms = dict(l.rstrip("\n").split("\t") for l in open(torch_path) if l.strip())
now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
print(f"\n## conv2d forward+backward, {now}\n")
print(f"Machine: {machine}; threads {threads}; best of {reps} after a warm-up; load average at end {load}.")
print(f"PyTorch: {torch_version or 'not measured (no torch venv)'}. "
      "FLOPs = 3 x forward (output, input grad, weight grad), padding taps included.\n")
print("| shape | dfm ms | GFLOP/s | of sgemm | torch ms | dfm/torch time |")
print("|---|---:|---:|---:|---:|---:|")
for name, ms, rate, frac in rows:
    t = torch_ms.get(name)
    tcol = f"{float(t):.2f}" if t else "-"
    ratio = f"{float(ms) / float(t):.2f}" if t else "-"
    if name.startswith("sgemm"):
        tcol, ratio = "-", "-"
    print(f"| {name} | {float(ms):.2f} | {float(rate):.1f} | {100 * float(frac):.0f}% | {tcol} | {ratio} |")
PY
tail -n $(( $(wc -l < "$TMP/dfm.tsv") + 8 )) bench/RESULTS.md
