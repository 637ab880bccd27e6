/* Shared by the C fuzz targets: the public header and a per-process scratch folder. */
#ifndef DFM_FUZZ_COMMON_H
#define DFM_FUZZ_COMMON_H
#include "../../../Include/dfm.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A folder of our own for the files the targets write: $DFM_FUZZ_DIR (tools/fuzz.sh sets it
 * and removes it afterwards), else one per process on tmpfs when there is one. */
static inline const char *fuzz_dir(void) {
    static char dir[256];
    if (!dir[0]) {
        const char *given = getenv("DFM_FUZZ_DIR");
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (given && given[0]) snprintf(dir, sizeof dir, "%s", given);
        else snprintf(dir, sizeof dir, "%s/dfm-fuzz-%d", base, (int)getpid());
        mkdir(dir, 0700);
    }
    return dir;
}

static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) { perror(path); abort(); }
}

/* A contract the library broke (not a refused input): report and crash so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FUZZ_CHECK failed: %s: ", #cond); \
    fprintf(stderr, __VA_ARGS__); fprintf(stderr, " (last error: %s)\n", dfm_last_error_message()); abort(); } } while (0)
#endif
