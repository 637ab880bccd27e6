/* fuzz-abi: the input is a program of up to 64 calls into the public C ABI. Each call is
 * one of the header's functions (abi_calls.inc, generated from Include/dfm.h) with every
 * argument drawn from the input by its C type: handles live, released, of the wrong kind,
 * garbage or NULL; sizes, dims and counts small, negative or extreme; doubles ordinary or
 * NaN/inf/huge; dtypes and enums in and out of range; strings known, odd or NULL; paths
 * inside a scratch folder only. The library must never crash, must set every handle out
 * pointer to NULL on failure, and must account for every handle (live count back to zero).
 *
 * What is held to the C contract (so a crash is the library's): buffers are as large as
 * the counts passed with them, and outputs the library writes fit the buffers given. */
#include "FuzzC.h"
#include "fuzz_common.h"
#include <math.h>
#include <float.h>

enum { K_TENSOR, K_TENSOR_DICT, K_STRING_LIST, K_MODULE, K_OPTIMIZER, K_SCHEDULER, K_DATASET, K_COUNT };
#define POOL 16
#define DEAD 8
#define ARRAY_ELEMS (1 << 17)     /* elements of each input array (a count is clamped to it) */
#define RAW_BYTES (4 << 20)       /* bytes of each raw input/output buffer */
#define SENTINEL ((uintptr_t)0x5e5e5e5e5e5e5e5eULL)

/* ---- the input, read front to back (zeros once it is used up) ---- */
static const uint8_t *in_data;
static size_t in_size, in_pos;

static uint8_t pick_byte(void) { return in_pos < in_size ? in_data[in_pos++] : 0; }
static uint64_t pick_u64(void) {
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v |= (uint64_t)pick_byte() << (8 * k);
    return v;
}

/* Mostly 0..4 (shapes of up to 8 dims stay small enough to compute quickly), some
 * negatives, a few moderate sizes, and extremes the library must refuse: beyond its
 * 2^38-element limit, or overflowing. No sizes between about 2^24 and 2^38: those are
 * legitimate requests for gigabytes, which libFuzzer's malloc limit would report. */
static int64_t pick_int(void) {
    static const int64_t extremes[] = {INT64_MIN, INT64_MAX, INT64_MAX - 1, INT64_MIN + 1, (int64_t)1 << 62,
                                       -((int64_t)1 << 62), (int64_t)1 << 39, (int64_t)1 << 40, (int64_t)3 << 60,
                                       -((int64_t)1 << 39), 5, 7, 100, 28, 9, 16};
    uint8_t b = pick_byte();
    if (b < 200) return b % 5;
    if (b < 240) return -(int64_t)(b % 4) - 1;
    return extremes[b - 240];
}

static int64_t pick_count(int nonnull, int64_t cap) {
    int64_t v = pick_int();
    return nonnull && v > cap ? cap : v;
}

static uint64_t pick_ucount(int nonnull, int64_t cap) {
    int64_t v = pick_int();
    return nonnull && (v < 0 || v > cap) ? (uint64_t)cap : (uint64_t)v;
}

/* Ordinary values, and NaN, infinities, huge and tiny ones (no mid-size values such as
 * 1e10, which as a size would be a legitimate 40 GB request rather than a bad one). */
static double pick_double(void) {
    static const double table[] = {0, 1, -1, 0.5, 2, 0.1, 1e-3, 0.9, 0.999, 1e-8, 3, -0.5, 10, 0.25, 1e-5, 4,
                                   NAN, INFINITY, -INFINITY, -0.0, 1e300, -1e300, 5e-324, DBL_MAX, 1e18,
                                   9.3e18, 9223372036854775808.0, -9223372036854775808.0, 1e19, -1e19, 2.5, 7};
    return table[pick_byte() % (sizeof table / sizeof table[0])];
}

/* ---- handles ---- */
static void *pool[K_COUNT][POOL];
static int pool_n[K_COUNT];
static void *dead[K_COUNT][DEAD];
static int dead_n[K_COUNT];

static dfm_status release_kind(int kind, void *h) {
    switch (kind) {
    case K_TENSOR: return dfm_tensor_release(h);
    case K_TENSOR_DICT: return dfm_tensor_dict_release(h);
    case K_STRING_LIST: return dfm_string_list_release(h);
    case K_MODULE: return dfm_module_release(h);
    case K_OPTIMIZER: return dfm_optimizer_release(h);
    case K_SCHEDULER: return dfm_scheduler_release(h);
    default: return dfm_dataset_release(h);
    }
}

static void keep(int kind, void *h) {
    if (pool_n[kind] == POOL) {  /* full: drop the oldest reference */
        FUZZ_CHECK(release_kind(kind, pool[kind][0]) == DFM_OK, "releasing a pooled handle of kind %d", kind);
        memmove(&pool[kind][0], &pool[kind][1], (POOL - 1) * sizeof(void *));
        pool_n[kind]--;
    }
    pool[kind][pool_n[kind]++] = h;
}

/* After a successful dfm_*_release: one reference fewer; the handle may now be dead. */
static void forget(int kind, void *h) {
    if (!h) return;  /* releasing NULL is a no-op, as free(NULL) */
    for (int k = pool_n[kind] - 1; k >= 0; k--) {
        if (pool[kind][k] == h) {
            memmove(&pool[kind][k], &pool[kind][k + 1], (size_t)(pool_n[kind] - k - 1) * sizeof(void *));
            pool_n[kind]--;
            dead[kind][dead_n[kind]++ % DEAD] = h;
            return;
        }
    }
    FUZZ_CHECK(0, "releasing a handle this program does not own (%p, kind %d) succeeded", h, kind);
}

static void *pick_handle(int kind) {
    uint8_t b = pick_byte();
    switch (b % 16) {
    case 0: return NULL;
    case 1: return (void *)(uintptr_t)pick_u64();  /* never came from dfm */
    case 2: {                                        /* a live handle of another kind */
        int other = (kind + 1 + pick_byte() % (K_COUNT - 1)) % K_COUNT;
        return pool_n[other] ? pool[other][pick_byte() % pool_n[other]] : NULL;
    }
    case 3:                                          /* released */
        return dead_n[kind] ? dead[kind][pick_byte() % (dead_n[kind] < DEAD ? dead_n[kind] : DEAD)] : NULL;
    default:
        return pool_n[kind] ? pool[kind][pick_byte() % pool_n[kind]] : NULL;
    }
}

static int out_ptr(void) { return pick_byte() % 32 != 0; }  /* NULL out pointers now and then */

static void after_out(int kind, dfm_status s, void *ptr, void *value, const char *fn, const char *arg) {
    if (!ptr) return;
    if (s == DFM_OK) {
        FUZZ_CHECK(value != (void *)SENTINEL, "%s succeeded without writing '%s'", fn, arg);
        if (value) keep(kind, value);
    } else {
        FUZZ_CHECK(value == NULL, "%s failed (status %d) but left '%s' set", fn, (int)s, arg);
    }
}

static void after_call(dfm_status s) {
    FUZZ_CHECK(s >= DFM_OK && s <= DFM_TYPE_ERROR, "unknown status %d", (int)s);
    FUZZ_CHECK(s != DFM_INTERNAL, "DFM_INTERNAL (an internal error reached the caller)");
    if (s != DFM_OK) {
        const char *m = dfm_last_error_message();
        FUZZ_CHECK(m && strlen(m) > 0, "a failing call left no message");
        FUZZ_CHECK(dfm_last_error_status() == s, "last_error_status %d, returned %d", (int)dfm_last_error_status(), (int)s);
    }
}

/* ---- buffers (static: never freed, so a tensor made from `blob` may outlive the input) ---- */
static int64_t int_arrays[8][ARRAY_ELEMS];
static double double_arrays[4][ARRAY_ELEMS];
static void *handle_arrays[4][ARRAY_ELEMS];
static uint8_t raw_in_buf[2][RAW_BYTES], raw_out_buf[2][RAW_BYTES], blob_buf[RAW_BYTES];
static _Alignas(16) uint8_t scalar_buf[8][16];
static int int_slot, double_slot, handle_slot, raw_in_slot, raw_out_slot, scalar_slot;
static int user_cookie;

static const int64_t *int_array(void) {
    if (pick_byte() % 16 == 0) return NULL;
    int64_t *a = int_arrays[int_slot++ % 8];
    for (int k = 0; k < 8; k++) a[k] = pick_int();
    return a;
}
static const double *double_array(void) {
    if (pick_byte() % 16 == 0) return NULL;
    double *a = double_arrays[double_slot++ % 4];
    for (int k = 0; k < 4; k++) a[k] = pick_double();
    return a;
}
static void *const *handle_array(int kind) {
    if (pick_byte() % 16 == 0) return NULL;
    void **a = handle_arrays[handle_slot++ % 4];
    for (int k = 0; k < 8; k++) a[k] = pick_handle(kind);
    return a;
}
static const void *raw_in(void) {
    if (pick_byte() % 16 == 0) return NULL;
    uint8_t *a = raw_in_buf[raw_in_slot++ % 2];
    for (int k = 0; k < 64; k++) a[k] = pick_byte();
    return a;
}
static void *raw_out(void) { return pick_byte() % 16 == 0 ? NULL : raw_out_buf[raw_out_slot++ % 2]; }
static void *blob(void) { return pick_byte() % 16 == 0 ? NULL : blob_buf; }
static void *scalar_out(void) { return pick_byte() % 32 == 0 ? NULL : scalar_buf[scalar_slot++ % 8]; }

/* ---- strings and paths (files only ever inside fuzz_dir()) ---- */
static const char *pick_word(void);
static const char *pick_path_write(void);
static const char *pick_path_read(void);
static void noop_release(void *data, void *user);
static dfm_status lr_lambda(int64_t epoch, void *user, double *out);
static dfm_status closure(void *user, double *loss);
#include "abi_calls.inc"

static char paths[12][600];
static const char *pick_word(void) {
    static char odd[24];
    uint8_t b = pick_byte();
    size_t nwords = sizeof abi_words / sizeof abi_words[0];
    if (b < 200) return abi_words[b % nwords];
    switch (b % 4) {
    case 0: return NULL;
    case 1: return "";
    case 2: return "\xff\xfe\xc3";  /* not UTF-8 */
    default:
        for (int k = 0; k < 23; k++) odd[k] = (char)(pick_byte() | 1);
        odd[pick_byte() % 23] = 0;
        return odd;
    }
}
static const char *pick_path_write(void) {  /* 0..5: writable places, a folder, a missing folder */
    uint8_t b = pick_byte() % 8;
    return b == 7 ? NULL : b == 6 ? "" : paths[b];
}
static const char *pick_path_read(void) {
    uint8_t b = pick_byte() % 13;
    return b == 12 ? NULL : paths[b];
}

static void noop_release(void *data, void *user) { (void)data; (void)user; }
static dfm_status lr_lambda(int64_t epoch, void *user, double *out) {
    *out = user ? NAN : 1.0 / (1.0 + (double)(epoch & 7));
    return epoch > 100 ? DFM_INVALID_ARGUMENT : DFM_OK;
}
static dfm_status closure(void *user, double *loss) {
    dfm_tensor t = NULL;
    int64_t shape[1] = {2};
    dfm_status s = dfm_tensor_zeros(shape, 1, DFM_FLOAT32, &t);  /* re-entering the library */
    if (s == DFM_OK) dfm_tensor_release(t);
    *loss = user ? INFINITY : 0.5;
    return s;
}

static void setup(void) {
    const char *d = fuzz_dir();
    const char *names[12] = {"a.safetensors", "b.safetensors", "c.png", "", "missing-folder/x", "d",
                             "images", "labels", "train-images-idx3-ubyte", "/dev/null", "/nonexistent/x", "d.txt"};
    for (int k = 0; k < 12; k++) {
        if (names[k][0] == '/') snprintf(paths[k], sizeof paths[k], "%s", names[k]);
        else if (!names[k][0]) snprintf(paths[k], sizeof paths[k], "%s", d);  /* the folder itself */
        else snprintf(paths[k], sizeof paths[k], "%s/%s", d, names[k]);
    }
    /* a small IDX dataset (3 images of 2×2) under both naming schemes, for the dataset calls */
    static const uint8_t img[] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 50, 100, 150, 200, 250, 1, 2, 3, 4, 5, 6};
    static const uint8_t lab[] = {0, 0, 8, 1, 0, 0, 0, 3, 9, 0, 4};
    char p[700];
    fuzz_write_file(paths[6], img, sizeof img);
    fuzz_write_file(paths[7], lab, sizeof lab);
    fuzz_write_file(paths[8], img, sizeof img);
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte", d);
    fuzz_write_file(p, lab, sizeof lab);
}

int dfm_fuzz_abi(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) { setup(); ready = 1; }
    /* the same start for every input: a crash reproduces from its input alone */
    FUZZ_CHECK(dfm_set_num_threads(1) == DFM_OK, "set_num_threads(1)");
    dfm_set_grad_enabled(true);
    FUZZ_CHECK(dfm_manual_seed(0) == DFM_OK, "manual_seed");
    for (int k = 0; k < 6; k++) remove(paths[k]);  /* what earlier inputs saved (not the folder) */
    int64_t live0 = dfm_live_handle_count();
    in_data = data; in_size = size; in_pos = 0;
    for (int calls = 0; calls < 64 && in_pos < in_size; calls++) {
        int index = (int)(((unsigned)pick_byte() << 8 | pick_byte()) % ABI_FUNCTION_COUNT);
        if (getenv("DFM_FUZZ_TRACE")) fprintf(stderr, "call %s\n", abi_function_names[index]);
        abi_call(index);
    }
    for (int kind = 0; kind < K_COUNT; kind++) {
        for (int k = 0; k < pool_n[kind]; k++)
            FUZZ_CHECK(release_kind(kind, pool[kind][k]) == DFM_OK, "releasing pooled handle %d of kind %d", k, kind);
        pool_n[kind] = 0;
        dead_n[kind] = 0;
    }
    int64_t live = dfm_live_handle_count();
    FUZZ_CHECK(live == live0, "%lld live handles after releasing every one (%lld before)", (long long)live, (long long)live0);
    return 0;
}
