#!/usr/bin/env bash
# tools/fuzz.sh [SECONDS] [TARGET...]: builds the fuzz targets of fuzz/ with the Swift
# toolchain's libFuzzer and AddressSanitizer (-sanitize=fuzzer,address; a separate package, so
# the normal build never sees those flags) and runs each for SECONDS (default 60), starting
# from the committed seeds in fuzz/corpus/TARGET. Exits non-zero on a finding; the input that
# crashed, hung or leaked is kept in fuzz/findings/.
#
# Targets: safetensors (SafeTensors.decode), idx (IDX datasets), checkpoint (module, optimizer
# and scheduler loading through the C ABI), abi (random programs of dfm_* calls), pickle
# (dfm.load's unpickler: atheris when it installs, else a seeded random-mutation loop).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
SWIFT=${SWIFT:-swift}
PY=${PY:-/usr/bin/python3}
SECS=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(safetensors idx checkpoint abi pickle)
SCRATCH="$PWD/.build-fuzz"
FLAGS=(-c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld)  # gold fails on these objects
FINDINGS="$PWD/fuzz/findings"
mkdir -p "$FINDINGS" "$SCRATCH/logs"

$PY fuzz/gen_abi_calls.py --check
echo "== building the fuzz targets (release, -sanitize=fuzzer,address)"
start=$(date +%s)
$SWIFT build --package-path fuzz --scratch-path "$SCRATCH" "${FLAGS[@]}" 2>&1 | grep -v "Cannot export local symbol" || true
BIN=$($SWIFT build --package-path fuzz --scratch-path "$SCRATCH" "${FLAGS[@]}" --show-bin-path)
[ -x "$BIN/fuzz-abi" ] || { echo "tools/fuzz.sh: the fuzz build failed"; exit 2; }
ABI_MAJOR=$(sed -n 's/^#define DFM_ABI_VERSION \([0-9]*\)$/\1/p' Include/dfm.h)
ln -sf libdfm.so "$BIN/libdfm.so.$ABI_MAJOR"
echo "== build took $(( $(date +%s) - start )) s"

export SWIFT_BACKTRACE=enable=no  # libFuzzer reports traps itself (Swift's handler confuses ASan)
failed=()
for t in "${TARGETS[@]}"; do
    work="$SCRATCH/corpus/$t"   # what this machine found so far (seeds stay as committed)
    log="$SCRATCH/logs/$t.log"
    export DFM_FUZZ_DIR="$SCRATCH/tmp/$t"
    rm -rf "$DFM_FUZZ_DIR"
    mkdir -p "$work" "$DFM_FUZZ_DIR"
    echo "== fuzz-$t for $SECS s"
    args=(-max_total_time="$SECS" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1
          -artifact_prefix="$FINDINGS/$t-" "$work" "$PWD/fuzz/corpus/$t")
    set +e
    if [ "$t" = pickle ]; then
        # dfm.load runs on the release libdfm the tests use
        LIB="$($SWIFT build -c release -Xswiftc -enable-testing --show-bin-path)/libdfm.so"
        [ -f "$LIB" ] || $SWIFT build -c release -Xswiftc -enable-testing --product dfm
        VENV="$SCRATCH/venv"
        [ -x "$VENV/bin/python" ] || $PY -m venv --system-site-packages "$VENV"
        "$VENV/bin/python" -c "import atheris" 2>/dev/null || "$VENV/bin/pip" install -q atheris \
            || echo "(atheris did not install: the random-mutation loop runs instead)"
        DFM_LIBRARY="$LIB" "$VENV/bin/python" fuzz/fuzz_unpickle.py "${args[@]}" > "$log" 2>&1
    else
        "$BIN/fuzz-$t" "${args[@]}" > "$log" 2>&1
    fi
    rc=$?
    set -e
    rm -rf "$DFM_FUZZ_DIR"
    grep -E "^#[0-9]+ +DONE|stat::number_of_executed_units|random mutation" "$log" | tail -2 || true
    if [ $rc -ne 0 ]; then
        failed+=("$t")
        echo "!! fuzz-$t: finding (exit $rc); log $log, input kept in $FINDINGS:"
        grep -v "^    #" "$log" | tail -25
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "tools/fuzz.sh: findings in: ${failed[*]}"
    exit 1
fi
echo "tools/fuzz.sh: no finding (${TARGETS[*]}, $SECS s each)"
