#!/usr/bin/env bash
# The W1-W7 workloads of docs/BENCHMARKS.md, dfm (Swift-direct and, when it loads, through the
# Python binding) against PyTorch on the tools/reference models, in the same run.
#   bench/run.sh [W1 W2 ...]          (default: all seven)
# Env: THREADS (2), WARMUP (2), REPS (5), ROUNDS (2: each round runs every workload in every
#      implementation, interleaved, so load from other processes hits all of them alike),
#      SCRATCH (build dir, .build-bench), TORCH_VENV (/work/torchvenv), NO_APPEND=1 (print only),
#      NO_PYTHON=1 (skip the dfm-python column and the binding-overhead run, for a shorter run).
# Every (workload, implementation, round) is its own process, so peak RSS is per process.
# Appends a table to bench/RESULTS.md (bench/report.py).
set -uo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-2}
REPS=${REPS:-5}
ROUNDS=${ROUNDS:-2}
SCRATCH=${SCRATCH:-.build-bench}
VENV=${TORCH_VENV:-/work/torchvenv}
if [ $# -gt 0 ]; then WORKLOADS="$*"; else WORKLOADS="W1 W2 W3 W4 W5 W6 W7"; fi
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

swift build -c release --product dfm-bench --scratch-path "$SCRATCH" >&2 || exit 1
BENCH="$SCRATCH/release/dfm-bench"

# The binding needs libdfm.so and numpy; any failure just leaves its column empty.
PYBIN=""
if [ "${NO_PYTHON:-0}" != 1 ] && swift build -c release --product dfm --scratch-path "$SCRATCH" >&2 2>/dev/null; then
    export DFM_LIBRARY="$PWD/$SCRATCH/release/libdfm.so"
    for py in python3 "$VENV/bin/python"; do
        if "$py" -c "import sys; sys.path.insert(0, 'bindings/python'); import dfm, dfm.models" 2>/dev/null; then PYBIN=$py; break; fi
    done
fi
TORCH=""
[ -x "$VENV/bin/python" ] && TORCH="$VENV/bin/python"

# run IMPL WORKLOAD ROUND CMD...: one JSON line into $OUT (an error record when it fails).
run() {
    local impl=$1 w=$2 round=$3; shift 3
    local line
    line=$("$@" 2>/tmp/bench_err.$$ | tail -n 1)
    if [ -n "$line" ] && [ "${line:0:1}" = "{" ]; then
        echo "{\"round\": $round, ${line:1}" >> "$OUT"
        echo "$line" >&2
    else
        local msg
        msg=$(tail -n 1 /tmp/bench_err.$$ | tr -d '"\\' | cut -c1-160)
        echo "{\"round\": $round, \"impl\": \"$impl\", \"workload\": \"$w\", \"error\": \"$msg\"}" >> "$OUT"
        echo "$impl $w: failed: $msg" >&2
    fi
    rm -f /tmp/bench_err.$$
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
# The sgemm ceiling is the best of measurements spread over the run (before every workload of
# every round too): this host runs in phases of seconds at two speeds, and a ceiling caught in a
# slow phase would flatter every "of sgemm" figure.
run sgemm - 0 "$BENCH" sgemm --threads "$THREADS" --reps 10
for round in $(seq 1 "$ROUNDS"); do
    for w in $WORKLOADS; do
        run sgemm - 0 "$BENCH" sgemm --threads "$THREADS" --reps 10
        run dfm "$w" "$round" "$BENCH" workload "$w" --threads "$THREADS" --warmup "$WARMUP" --reps "$REPS"
        if [ -n "$TORCH" ]; then
            flops=""; [ "$round" -gt 1 ] && flops="--no-flops"
            run torch "$w" "$round" "$TORCH" bench/workloads_torch.py "$w" --threads "$THREADS" --warmup "$WARMUP" --reps "$REPS" $flops
        fi
        [ -n "$PYBIN" ] && run dfm-python "$w" "$round" "$PYBIN" bench/workloads_dfm.py "$w" --threads "$THREADS" --warmup "$WARMUP" --reps "$REPS"
    done
done
run sgemm - 0 "$BENCH" sgemm --threads "$THREADS" --reps 10
# The binding's own time on W1 (time outside libdfm calls), robust to load (bench/binding_overhead.py).
if [ -n "$PYBIN" ] && [[ " $WORKLOADS " == *" W1 "* ]]; then
    run binding-overhead W1 0 "$PYBIN" bench/binding_overhead.py W1 --threads "$THREADS" --warmup "$WARMUP" --reps "$REPS"
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

MACHINE="$(uname -m), $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores visible"
ARGS=(--machine "$MACHINE" --threads "$THREADS" --warmup "$WARMUP" --reps "$REPS" --rounds "$ROUNDS"
      --load "start $LOAD_START, end $LOAD_END" --python "${PYBIN:-not run ($([ "${NO_PYTHON:-0}" = 1 ] && echo NO_PYTHON=1 || echo binding did not load))}")
if [ "${NO_APPEND:-0}" = 1 ]; then
    python3 bench/report.py "$OUT" "${ARGS[@]}"
else
    python3 bench/report.py "$OUT" "${ARGS[@]}" | tee -a bench/RESULTS.md
fi
