/*
 * link_build_dir.c: a program linked against SwiftPM's build folder itself (-L and rpath
 * .build/release, not bindings/c/build). libdfm.so's soname is libdfm.so.N (N the ABI major), so
 * the loader looks for that name there: the build must leave a libdfm.so.N link next to libdfm.so,
 * or this program cannot start (issue #14 item 9).
 */
#include <dfm.h>

#include <stdio.h>

int main(void) {
    if (dfm_abi_version() != DFM_ABI_VERSION) {
        fprintf(stderr, "link_build_dir: ABI %d, header %d\n", (int)dfm_abi_version(), DFM_ABI_VERSION);
        return 1;
    }
    printf("link_build_dir: libdfm %s loaded from the build folder\n", dfm_version());
    return 0;
}
