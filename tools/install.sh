#!/usr/bin/env bash
# Installs a built libdfm and the dfm tool into a prefix (called by `make install`):
#   PREFIX/lib/libdfm.so.N (+ libdfm.so link), the Swift runtime libraries they need,
#   PREFIX/include/dfm.h, PREFIX/lib/pkgconfig/dfm.pc, PREFIX/bin/dfm.
# The installed libdfm's RUNPATH is rewritten to $ORIGIN and the tool's to $ORIGIN/../lib (they
# were linked with the toolchain's folder), so the installed files find each other and the
# copied runtime, and never the toolchain's (the runtime's own libraries have $ORIGIN already).
# OpenBLAS, zlib and the C/C++ runtime stay system libraries (Debian: libopenblas0, zlib1g).
# Usage: tools/install.sh BIN_DIR PREFIX [DESTDIR]   (BIN_DIR: SwiftPM's --show-bin-path)
set -euo pipefail
bin=$1 prefix=$2 destdir=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
macro() { sed -n "s/^#define $1 \([0-9]*\)$/\1/p" "$root/Include/dfm.h"; }
abi=$(macro DFM_ABI_VERSION)
version=$(macro DFM_VERSION_MAJOR).$(macro DFM_VERSION_MINOR).$(macro DFM_VERSION_PATCH)
dest=$destdir$prefix
for f in "$bin/libdfm.so" "$bin/dfm-cli"; do
  [ -f "$f" ] || { echo "install: $f is missing (build it first)" >&2; exit 1; }
done

# The Swift runtime: every library ldd resolves into the toolchain folder that holds libswiftCore.
runtime_libs() {
  local core
  core=$(ldd "$@" | awk '$1 == "libswiftCore.so" { print $3; exit }')
  [ -n "$core" ] || { echo "install: libswiftCore.so not found by ldd on $*" >&2; exit 1; }
  ldd "$@" | awk -v dir="$(dirname "$(readlink -f "$core")")/" '
    $2 == "=>" && $3 != "not" { p = $3; if (index(p, dir) == 1) print p }' | sort -u
}

install -d "$dest/lib/pkgconfig" "$dest/include" "$dest/bin"
install -m 755 "$bin/libdfm.so" "$dest/lib/libdfm.so.$abi"
ln -sf "libdfm.so.$abi" "$dest/lib/libdfm.so"
for lib in $(runtime_libs "$bin/libdfm.so" "$bin/dfm-cli"); do
  install -m 755 "$lib" "$dest/lib/$(basename "$lib")"
done
install -m 755 "$bin/dfm-cli" "$dest/bin/dfm"
set_runpath() { python3 "$root/bindings/python/backend/dfm_backend.py" set-runpath "$1" "$2"; }
set_runpath "$dest/lib/libdfm.so.$abi" '$ORIGIN'
set_runpath "$dest/bin/dfm" '$ORIGIN/../lib'
install -m 644 "$root/Include/dfm.h" "$dest/include/dfm.h"
sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" "$root/bindings/c/dfm.pc.in" > "$dest/lib/pkgconfig/dfm.pc"
echo "install: dfm $version (ABI $abi) in $dest"
