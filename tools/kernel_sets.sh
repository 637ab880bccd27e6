#!/usr/bin/env bash
# Developer command (`make test-kernels`); CI never runs it and never sets OPENBLAS_CORETYPE.
#
# Runs the model suites (`swift test --filter Model`: ModelResNetTests, ModelDeepLabTests,
# ModelUnbatchedTests) with OpenBLAS's own choice of kernels (OPENBLAS_CORETYPE unset, what
# `make test` gets), then once per OpenBLAS kernel set this CPU can execute, by setting
# OPENBLAS_CORETYPE per run: Prescott (SSE3, any x86-64), Sandybridge (AVX), Haswell and Zen
# (AVX2 + FMA), SkylakeX (AVX-512F) and Cooperlake (AVX-512 BF16). Different kernels sum in
# different orders, which is what moved float32 model gradients across ReLU kinks in issue #12;
# the model tests allow for that (Tests/DFMTests/Support/ModelTolerance.swift) and must pass
# under every kernel set.
#
# Each run gets OPENBLAS_VERBOSE=2, so OpenBLAS prints the core it really uses ("Core: ...") from
# inside the test process; the table reports it and a run whose core is not the one asked for
# fails. OpenBLAS 0.3.21 does not accept OPENBLAS_CORETYPE=Cooperlake ("Core not found": its
# name loop stops one short) and then picks by CPU features, which gives Cooperlake exactly when
# the CPU has AVX-512 BF16; the core check still applies, and the table notes the fallback.
# Inherited OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE (which changes the blocking, hence the
# summation order) are removed for the runs. Prints a Markdown table (kernel set, core reported,
# tests passed / failed / skipped, the worst model gradient difference against its allowance,
# wall time); logs go to .build/kernel-sets/<set>.log. Exit status 1 if any run failed.
#
# Environment: SWIFT (default swift), KERNEL_FILTER (default Model), KERNEL_SETS (default: "default"
# for OpenBLAS's own choice, then every set this CPU can run; e.g. KERNEL_SETS="Haswell Zen").
set -uo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
FILTER=${KERNEL_FILTER:-Model}
TESTFLAGS=(-c release -Xswiftc -enable-testing)
LOGS=.build/kernel-sets

cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for f in "$@"; do [[ "$cpu_flags" == *" $f "* ]] || return 1; done; }
runnable=(default Prescott)
has avx && runnable+=(Sandybridge)
has avx2 fma && runnable+=(Haswell Zen)
has avx512f && runnable+=(SkylakeX)
has avx512f avx512_bf16 && runnable+=(Cooperlake)
read -r -a sets <<< "${KERNEL_SETS:-${runnable[*]}}"
if [ ${#sets[@]} -eq 0 ]; then echo "kernel_sets: KERNEL_SETS is empty" >&2; exit 1; fi

for v in OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; do
  [ -n "${!v:-}" ] && echo "kernel_sets: ignoring inherited $v=${!v} for the runs"
done

"$SWIFT" build "${TESTFLAGS[@]}" --build-tests || exit 1
mkdir -p "$LOGS"
bin=$("$SWIFT" build "${TESTFLAGS[@]}" --show-bin-path)
blas=$(ldd "$bin"/*.xctest 2>/dev/null | awk '/libopenblas|libblas/ {print $3; exit}')
blas_version=$(dpkg-query -W -f '${Version}' "$(dpkg -S "$(readlink -f "${blas:-/nonexistent}")" 2>/dev/null | cut -d: -f1)" 2>/dev/null)

rows=()
status=0
for set in "${sets[@]}"; do
  log="$LOGS/$set.log"
  echo "kernel_sets: $set (swift test --filter '$FILTER', log $log)"
  start=$(date +%s)
  if [ "$set" = default ]; then coretype=(-u OPENBLAS_CORETYPE); else coretype=(OPENBLAS_CORETYPE="$set"); fi
  env -u OPENBLAS_L2_SIZE "${coretype[@]}" OPENBLAS_VERBOSE=2 \
    "$SWIFT" test "${TESTFLAGS[@]}" --skip-build --filter "$FILTER" > "$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  core=$(grep -m1 -o 'Core: [A-Za-z0-9_]*' "$log" | cut -d' ' -f2)
  how=""
  if [ "$set" = default ]; then how=" (autodetected)"
  elif grep -q "Core not found" "$log"; then how=" (name not accepted; chosen by CPU features)"; fi
  passed=$(grep -c "^Test Case '.*' passed" "$log")
  failed=$(grep -c "^Test Case '.*' failed" "$log")
  skipped=$(grep -c "^Test Case '.*' skipped" "$log")
  # The model tests' summary lines: "worst gradient NAME R (allowed T)"; the largest R/T of the run.
  worst=$(grep -o 'worst gradient .* [0-9.e+-]* (allowed [0-9.e+-]*)' "$log" |
    awk '{r=$(NF-2); t=$NF; sub(/\)$/, "", t); if (t > 0 && r / t > w) { w = r / t; name = $3; rr = r; tt = t }}
         END { if (name != "") printf "%s %.2e (allowed %.0e)", name, rr, tt; else printf "-" }')
  result=passed
  if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then result=FAILED; status=1; fi
  if [ "$set" != default ] && [ "${core,,}" != "${set,,}" ]; then result="FAILED (asked for $set, OpenBLAS used ${core:-?})"; status=1; fi
  rows+=("| ${set/default/(unset)} | ${core:-?}$how | $passed | $failed | $skipped | $worst | ${secs} s | $result |")
  echo "kernel_sets: $set: $result, $passed passed, $failed failed, $skipped skipped, ${secs} s"
done

echo
cpu() { grep -m1 "^$1" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'; }
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(cpu 'model name') (family $(cpu 'cpu family'), model $(cpu 'model[[:space:]]')), $(nproc) cores,"
echo "OpenBLAS ${blas_version:-?} (${blas:-?}), swift test --filter '$FILTER':"
echo
echo "| OPENBLAS_CORETYPE | core reported (OPENBLAS_VERBOSE=2) | passed | failed | skipped | worst gradient difference | time | result |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit $status
