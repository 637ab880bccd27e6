#!/usr/bin/env bash
# `make install` into a temporary prefix, then a C program built with pkg-config against that
# prefix and the installed `dfm --help` must run with the Swift toolchain's libraries
# unreachable: ldd must resolve every Swift library inside the prefix, and, where a mount
# namespace can be made (root, or unprivileged user namespaces), both run with the toolchain's
# library folder hidden under an empty tmpfs and a minimal environment.
# Usage: tools/test_install.sh BIN_DIR   (SwiftPM's --show-bin-path of an existing build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$1
prefix=$(mktemp -d /tmp/dfm-install-test.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
bash "$root/tools/install.sh" "$bin" "$prefix"
abi=$(sed -n 's/^#define DFM_ABI_VERSION \([0-9]*\)$/\1/p' "$root/Include/dfm.h")
toolchain=$(dirname "$(readlink -f "$(ldd "$bin/libdfm.so" | awk '$1 == "libswiftCore.so" { print $3 }')")")

cat > "$prefix/prog.c" <<'C'
#include <dfm.h>
#include <stdio.h>
int main(void) {
    dfm_tensor t = NULL, s = NULL;
    int64_t shape[1] = {4};
    float *p = NULL;
    if (dfm_abi_version() != DFM_ABI_VERSION) return 2;
    if (dfm_tensor_ones(shape, 1, DFM_FLOAT32, &t) != DFM_OK || dfm_sum(t, NULL, 0, false, &s) != DFM_OK) return 3;
    if (dfm_tensor_data(s, (void **)&p) != DFM_OK || *p != 4.0f) return 4;
    printf("dfm %s: sum(ones(4)) = %g\n", dfm_version(), *p);
    dfm_tensor_release(s);
    dfm_tensor_release(t);
    return 0;
}
C
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046
${CC:-cc} -std=c99 -Wall -Werror "$prefix/prog.c" -o "$prefix/prog" $(pkg-config --cflags --libs dfm)

bad=0
for f in "$prefix/prog" "$prefix/bin/dfm" "$prefix/lib/libdfm.so.$abi"; do
  if ldd "$f" | grep -q "not found"; then ldd "$f" >&2; bad=1; fi
  if ldd "$f" | grep -F "$toolchain/"; then
    echo "test_install: $(basename "$f") resolves the lines above in the toolchain, not in $prefix/lib" >&2; bad=1
  fi
done
[ $bad -eq 0 ] || exit 1

if unshare --mount sh -c "mount -t tmpfs none '$toolchain' && test ! -e '$toolchain/libswiftCore.so'" 2>/dev/null; then
  for cmd in "$prefix/prog" "$prefix/bin/dfm --help"; do
    # shellcheck disable=SC2086
    unshare --mount sh -c 'mount -t tmpfs none "$1" && shift && exec env -i PATH=/usr/bin:/bin "$@"' \
      sh "$toolchain" $cmd > "$prefix/out.txt" 2>&1 || { cat "$prefix/out.txt" >&2; echo "test_install: '$cmd' failed with $toolchain hidden" >&2; exit 1; }
    head -1 "$prefix/out.txt"
  done
  echo "test_install: a C program and dfm --help run from $prefix with $toolchain hidden"
else
  env -i PATH=/usr/bin:/bin "$prefix/prog"
  env -i PATH=/usr/bin:/bin "$prefix/bin/dfm" --help | head -1
  echo "test_install: no mount namespace here; ldd resolves every Swift library in $prefix"
fi
grep -q "^OVERVIEW\|^USAGE: dfm " <(env -i "$prefix/bin/dfm" --help) || { echo "test_install: dfm --help does not name the tool dfm" >&2; exit 1; }
