#!/usr/bin/env bash
# The Python package installs as users get it: `pip wheel ./bindings/python` through the in-tree
# backend (reusing the SwiftPM build named by DFM_SWIFT_SCRATCH / DFM_SWIFT_FLAGS), the wheel
# installed with --no-index into a fresh venv, `import dfm` run there with no DFM_LIBRARY or
# PYTHONPATH, from outside the checkout; then every library the bundled libdfm.so and its
# Swift runtime need must resolve inside the wheel or be one of the system's
# (libc/libm/libstdc++/libgcc_s/ld.so, OpenBLAS and its Fortran runtime, zlib).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-/usr/bin/python3}
work=$(mktemp -d /tmp/dfm-wheel-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
# What the build leaves in the package folder (bytecode caches aside, which Python writes anyway).
left() { (cd "$root" && git status --porcelain --ignored bindings/python 2>/dev/null | grep -v __pycache__ || true); }
before=$(left)

"$PY" -m venv "$work/venv"
# The backend reads the checkout and writes only the wheel (and SwiftPM its build folder).
"$work/venv/bin/pip" wheel --no-deps --no-index -q -w "$work/dist" "$root/bindings/python"
wheel=$(ls "$work"/dist/dfm-*.whl)
case "$(basename "$wheel")" in
  *-py3-none-linux_x86_64.whl|*-py3-none-linux_aarch64.whl) ;;
  *) echo "test_wheel: unexpected wheel tag: $(basename "$wheel")" >&2; exit 1 ;;
esac
# numpy comes from the system's site-packages (the venv sees them), so --no-index suffices.
"$PY" -m venv --system-site-packages "$work/run"
"$work/run/bin/pip" install -q --no-index --no-deps "$wheel"
check='import dfm, os; print(dfm.randn(2)); print(dfm.__version__, os.path.dirname(dfm._lib.path))'
# With the Swift toolchain's library folder hidden under an empty tmpfs when a mount namespace can
# be made (root in CI), as on a machine without Swift; otherwise ldd below is the check.
toolchain=$(dirname "$(readlink -f "$(command -v swift || echo /nonexistent)")")/../lib/swift/linux
if [ -d "$toolchain" ] && unshare --mount true 2>/dev/null; then
  out=$(cd "$work" && unshare --mount sh -c 'mount -t tmpfs none "$1" && shift && exec "$@"' sh "$toolchain" \
    env -u DFM_LIBRARY -u PYTHONPATH "$work/run/bin/python" -c "$check")
  echo "(ran with $toolchain hidden)"
else
  out=$(cd "$work" && env -u DFM_LIBRARY -u PYTHONPATH "$work/run/bin/python" -c "$check")
fi
echo "$out"
site=$("$work/run/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['platlib'])")
echo "$out" | tail -1 | grep -q " $site/dfm\$" || { echo "test_wheel: libdfm was not loaded from the wheel" >&2; exit 1; }

# Every NEEDED entry of every bundled library: bundled, or an allowed system library.
pkg=$site/dfm
system='^(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|ld-linux-x86-64|ld-linux-aarch64|libopenblas|libgfortran|libquadmath|libz)\.so'
bad=0
for so in "$pkg"/*.so*; do
  bundled_need=0
  for need in $(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    if [ -e "$pkg/$need" ]; then bundled_need=1; continue; fi
    if echo "$need" | grep -Eq "$system"; then continue; fi
    echo "test_wheel: $(basename "$so") needs $need, which is neither bundled nor a system library" >&2
    bad=1
  done
  # A library that loads bundled ones must search its own folder, and only it.
  if [ $bundled_need -eq 1 ] && [ "$(readelf -d "$so" | sed -n 's/.*R.*PATH.*\[\(.*\)\]/\1/p')" != '$ORIGIN' ]; then
    echo "test_wheel: $(basename "$so") does not have RUNPATH \$ORIGIN alone" >&2; bad=1
  fi
done
# ldd from the venv: nothing resolves into the Swift toolchain.
if ldd "$pkg/libdfm.so" | grep -E "swift|Foundation|dispatch|BlocksRuntime" | grep -v "$pkg/" ; then
  echo "test_wheel: the lines above resolve outside the wheel" >&2; bad=1
fi
after=$(left)
[ "$before" = "$after" ] || { echo "test_wheel: building the wheel left files in bindings/python:" >&2; echo "$after" >&2; bad=1; }
[ $bad -eq 0 ] && echo "test_wheel: $(basename "$wheel") ($(du -h "$wheel" | cut -f1)) installs and imports; every library resolves inside the wheel or the system"
exit $bad
