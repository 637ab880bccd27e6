/*
 * test_abi.c: drives every function of dfm.h with good and bad input (NULL, released,
 * foreign and wrong-kind handles, wrong shapes and ranks, negative and huge sizes,
 * NaN, missing/truncated/corrupt files) and checks the status, that the message names
 * the function, and that the process lives on. Prints pass/fail counts; exit code 1 on
 * any failure. Meant to run under valgrind memcheck.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, access */
#include <dfm.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;

static void fail_at(int line, const char *what) {
    failed++;
    fprintf(stderr, "FAIL line %d: %s\n", line, what);
}

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (cond)                                                                                                      \
            passed++;                                                                                                  \
        else                                                                                                           \
            fail_at(__LINE__, #cond);                                                                                  \
    } while (0)

/* The call must succeed. */
#define OK(call) expect((call), DFM_OK, NULL, #call, __LINE__)
/* The call must fail with `st`, and the message must start with the function's name
 * and contain `part`. */
#define ERR(call, st, part) expect((call), (st), (part), #call, __LINE__)
/* The call must fail (any status) with a message naming the function: for extreme
 * values where several statuses are reasonable. */
#define BAD(call) expect_failure((call), #call, __LINE__)

static void expect(dfm_status got, dfm_status want, const char *part, const char *call, int line) {
    char fn[128];
    size_t n = strcspn(call, "(");
    if (n >= sizeof fn) n = sizeof fn - 1;
    memcpy(fn, call, n);
    fn[n] = '\0';
    if (got != want) {
        failed++;
        fprintf(stderr, "FAIL line %d: %s returned %s, expected %s (message: %s)\n", line, call, dfm_status_string(got),
                dfm_status_string(want), got ? dfm_last_error_message() : "");
        return;
    }
    if (want == DFM_OK) {
        passed++;
        return;
    }
    const char *msg = dfm_last_error_message();
    size_t fl = strlen(fn);
    if (getenv("DFM_TEST_VERBOSE")) printf("  %-20s %s\n", dfm_status_string(got), msg);
    if (strncmp(msg, fn, fl) != 0 || msg[fl] != ':') {
        failed++;
        fprintf(stderr, "FAIL line %d: %s: message does not start with '%s:': %s\n", line, call, fn, msg);
    } else if (part && !strstr(msg, part)) {
        failed++;
        fprintf(stderr, "FAIL line %d: %s: message lacks '%s': %s\n", line, call, part, msg);
    } else if (dfm_last_error_status() != want) {
        failed++;
        fprintf(stderr, "FAIL line %d: %s: dfm_last_error_status is %s\n", line, call,
                dfm_status_string(dfm_last_error_status()));
    } else {
        passed++;
    }
}

static void expect_failure(dfm_status got, const char *call, int line) {
    size_t n = strcspn(call, "(");
    const char *msg = dfm_last_error_message();
    if (got == DFM_OK) {
        failed++;
        fprintf(stderr, "FAIL line %d: %s succeeded, expected a failure\n", line, call);
    } else if (strncmp(msg, call, n) != 0 || msg[n] != ':') {
        failed++;
        fprintf(stderr, "FAIL line %d: %s: message does not name the function: %s\n", line, call, msg);
    } else {
        if (getenv("DFM_TEST_VERBOSE")) printf("  %-20s %s\n", dfm_status_string(got), msg);
        passed++;
    }
}

/* ---------------------------------------------------------------- helpers */

static dfm_tensor T(const float *data, const int64_t *shape, int64_t ndim) {
    int64_t n = 1, i;
    dfm_tensor t = NULL;
    for (i = 0; i < ndim; i++) n *= shape[i];
    if (dfm_tensor_from_data(data, (size_t)n * sizeof(float), shape, ndim, DFM_FLOAT32, &t) != DFM_OK) {
        fprintf(stderr, "helper T failed: %s\n", dfm_last_error_message());
        exit(2);
    }
    return t;
}

static dfm_tensor vec(int64_t n, float start) {
    float *d = malloc((size_t)(n ? n : 1) * sizeof(float));
    int64_t i;
    dfm_tensor t;
    for (i = 0; i < n; i++) d[i] = start + (float)i;
    t = T(d, &n, 1);
    free(d);
    return t;
}

static dfm_tensor mat(int64_t r, int64_t c, float start) {
    dfm_tensor v = vec(r * c, start), m = NULL;
    int64_t s[2];
    s[0] = r;
    s[1] = c;
    OK(dfm_reshape(v, s, 2, &m));
    dfm_tensor_release(v);
    return m;
}

static dfm_tensor released_tensor(void) {
    dfm_tensor t = vec(2, 0);
    dfm_tensor_release(t);
    return t;
}

static float first(dfm_tensor t) {
    void *p = NULL;
    if (dfm_tensor_data(t, &p) != DFM_OK) return NAN;
    return *(float *)p;
}

static int64_t numel(dfm_tensor t) {
    int64_t n = -1;
    dfm_tensor_numel(t, &n);
    return n;
}

static int64_t ndim_of(dfm_tensor t) {
    int64_t n = -1;
    dfm_tensor_ndim(t, &n);
    return n;
}

static float at(dfm_tensor t, int64_t k) {
    void *p = NULL;
    if (dfm_tensor_data(t, &p) != DFM_OK) return NAN;
    return ((float *)p)[k];
}

/* Element k of a bool tensor (-1 when the tensor is not bool). */
static int atb(dfm_tensor t, int64_t k) {
    void *p = NULL;
    dfm_dtype dt = DFM_FLOAT32;
    if (dfm_tensor_dtype(t, &dt) != DFM_OK || dt != DFM_BOOL || dfm_tensor_data(t, &p) != DFM_OK) return -1;
    return ((const uint8_t *)p)[k];
}

/* Element k of a float64 tensor (NaN when the tensor is not float64). */
static double atd(dfm_tensor t, int64_t k) {
    void *p = NULL;
    dfm_dtype dt = DFM_FLOAT32;
    if (dfm_tensor_dtype(t, &dt) != DFM_OK || dt != DFM_FLOAT64 || dfm_tensor_data(t, &p) != DFM_OK) return NAN;
    return ((const double *)p)[k];
}

static int64_t at64(dfm_tensor t, int64_t k) {
    void *p = NULL;
    if (dfm_tensor_data(t, &p) != DFM_OK) return INT64_MIN;
    return ((int64_t *)p)[k];
}

static void *FOREIGN; /* a pointer that never came from dfm (any handle type) */
static dfm_tensor RELEASED;
static int64_t s23[2] = {2, 3};

/* ---------------------------------------------------------------- library */

static void test_library(void) {
    int32_t threads;
    {
        char expected[32];
        snprintf(expected, sizeof expected, "%d.%d.%d", DFM_VERSION_MAJOR, DFM_VERSION_MINOR, DFM_VERSION_PATCH);
        CHECK(strcmp(dfm_version(), expected) == 0);
    }
    CHECK(dfm_abi_version() == DFM_ABI_VERSION);
    CHECK(strcmp(dfm_status_string(DFM_SHAPE_MISMATCH), "DFM_SHAPE_MISMATCH") == 0);
    CHECK(strcmp(dfm_status_string(DFM_OK), "DFM_OK") == 0);
    CHECK(strcmp(dfm_status_string((dfm_status)12345), "DFM_UNKNOWN_STATUS") == 0);
    CHECK(dfm_last_error_message() != NULL);
    CHECK(dfm_live_handle_count() >= 0);
    OK(dfm_manual_seed(0));
    OK(dfm_manual_seed(UINT64_MAX));
    threads = dfm_get_num_threads();
    CHECK(threads >= 1);
    ERR(dfm_set_num_threads(0), DFM_INVALID_ARGUMENT, "0");
    ERR(dfm_set_num_threads(-5), DFM_INVALID_ARGUMENT, "-5");
    ERR(dfm_set_num_threads(INT32_MAX), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_set_num_threads(1));
    CHECK(dfm_get_num_threads() == 1);
    OK(dfm_set_num_threads(threads));
    CHECK(dfm_is_grad_enabled());
    dfm_set_grad_enabled(false);
    CHECK(!dfm_is_grad_enabled());
    dfm_set_grad_enabled(true);
    CHECK(dfm_is_grad_enabled());
}

/* ---------------------------------------------------------------- tensor creation */

static int blob_releases;
static void *blob_seen;
static void blob_release(void *data, void *user) {
    blob_releases++;
    blob_seen = data;
    CHECK(user == (void *)&blob_releases);
}

static void test_creation(void) {
    float d6[6] = {1, 2, 3, 4, 5, 6};
    int64_t i64[3] = {7, -8, 9};
    int64_t neg[2] = {2, -3}, huge[2] = {INT64_MAX, 2}, big[3] = {1 << 20, 1 << 20, 1 << 20};
    int64_t s3 = 3;
    dfm_tensor t = NULL, u = NULL;
    double item;
    float *blob;

    /* from_data */
    OK(dfm_tensor_from_data(d6, sizeof d6, s23, 2, DFM_FLOAT32, &t));
    CHECK(numel(t) == 6 && first(t) == 1.0f);
    dfm_tensor_release(t);
    OK(dfm_tensor_from_data(i64, sizeof i64, &s3, 1, DFM_INT64, &t));
    {
        dfm_dtype dt;
        OK(dfm_tensor_dtype(t, &dt));
        CHECK(dt == DFM_INT64);
    }
    dfm_tensor_release(t);
    { /* bool: one byte per element; any nonzero byte given to from_data becomes 1 */
        uint8_t b3[3] = {0, 1, 7};
        dfm_tensor f = NULL, n = NULL;
        OK(dfm_tensor_from_data(b3, sizeof b3, &s3, 1, DFM_BOOL, &t));
        CHECK(atb(t, 0) == 0 && atb(t, 1) == 1 && atb(t, 2) == 1);
        OK(dfm_tensor_to_dtype(t, DFM_FLOAT32, &f));
        CHECK(at(f, 2) == 1.0f);
        OK(dfm_tensor_to_dtype(f, DFM_BOOL, &n));
        CHECK(atb(n, 0) == 0 && atb(n, 2) == 1);
        dfm_tensor_release(n);
        OK(dfm_tensor_to_dtype(t, DFM_INT64, &n));
        CHECK(at64(n, 2) == 1);
        dfm_tensor_release(n);
        { /* float64: conversion both ways and in place */
            dfm_tensor d = NULL, back = NULL;
            dfm_dtype dt = DFM_FLOAT32;
            OK(dfm_tensor_to_dtype(f, DFM_FLOAT64, &d));
            OK(dfm_tensor_dtype(d, &dt));
            CHECK(dt == DFM_FLOAT64 && atd(d, 2) == 1.0);
            OK(dfm_tensor_to_dtype(d, DFM_FLOAT32, &back));
            CHECK(at(back, 2) == 1.0f);
            OK(dfm_tensor_convert_(back, DFM_FLOAT64));
            OK(dfm_tensor_dtype(back, &dt));
            CHECK(dt == DFM_FLOAT64 && atd(back, 1) == 1.0);
            ERR(dfm_tensor_convert_(back, (dfm_dtype)9), DFM_INVALID_ARGUMENT, "unknown dtype");
            ERR(dfm_tensor_convert_(NULL, DFM_FLOAT32), DFM_INVALID_ARGUMENT, NULL);
            dfm_tensor_release(back);
            dfm_tensor_release(d);
        }
        OK(dfm_tensor_fill_(t, 0.5));
        CHECK(atb(t, 0) == 1);
        OK(dfm_tensor_full(&s3, 1, 0, DFM_BOOL, &n));
        CHECK(atb(n, 1) == 0);
        OK(dfm_tensor_copy_(n, f)); /* float -> bool: nonzero is true */
        CHECK(atb(n, 0) == 0 && atb(n, 1) == 1);
        dfm_tensor_release(n);
        OK(dfm_tensor_ones(&s3, 1, DFM_BOOL, &n));
        ERR(dfm_tensor_item(n, &item), DFM_INVALID_ARGUMENT, "3 elements");
        dfm_tensor_release(n);
        OK(dfm_tensor_ones(NULL, 0, DFM_BOOL, &n));
        OK(dfm_tensor_item(n, &item));
        CHECK(item == 1.0);
        dfm_tensor_release(n);
        ERR(dfm_tensor_arange(0, 3, 1, DFM_BOOL, &n), DFM_TYPE_ERROR, "bool");
        ERR(dfm_tensor_set_requires_grad(t, true), DFM_TYPE_ERROR, "floating point");
        dfm_tensor_release(f);
        dfm_tensor_release(t);
    }
    OK(dfm_tensor_from_data(d6, 4, NULL, 0, DFM_FLOAT32, &t)); /* scalar */
    OK(dfm_tensor_item(t, &item));
    CHECK(item == 1.0);
    dfm_tensor_release(t);
    t = (dfm_tensor)(uintptr_t)1;
    ERR(dfm_tensor_from_data(d6, sizeof d6, s23, 2, DFM_FLOAT32, NULL), DFM_INVALID_ARGUMENT, "NULL");
    ERR(dfm_tensor_from_data(d6, 8, s23, 2, DFM_FLOAT32, &t), DFM_SHAPE_MISMATCH, "needs 24 bytes");
    CHECK(t == NULL); /* out is cleared on failure */
    ERR(dfm_tensor_from_data(NULL, 24, s23, 2, DFM_FLOAT32, &t), DFM_INVALID_ARGUMENT, "data");
    ERR(dfm_tensor_from_data(d6, sizeof d6, NULL, 2, DFM_FLOAT32, &t), DFM_INVALID_ARGUMENT, "shape");
    ERR(dfm_tensor_from_data(d6, sizeof d6, s23, -1, DFM_FLOAT32, &t), DFM_INVALID_ARGUMENT, "-1");
    ERR(dfm_tensor_from_data(d6, sizeof d6, s23, 1000, DFM_FLOAT32, &t), DFM_INVALID_ARGUMENT, "1000");
    ERR(dfm_tensor_from_data(d6, sizeof d6, neg, 2, DFM_FLOAT32, &t), DFM_INVALID_ARGUMENT, "-3");
    ERR(dfm_tensor_from_data(d6, sizeof d6, huge, 2, DFM_FLOAT32, &t), DFM_OUT_OF_MEMORY, "too many");
    ERR(dfm_tensor_from_data(d6, sizeof d6, s23, 2, (dfm_dtype)7, &t), DFM_INVALID_ARGUMENT, "dtype 7");
    /* the message lists every dtype (it used to omit DFM_BOOL) */
    ERR(dfm_tensor_from_data(d6, sizeof d6, s23, 2, (dfm_dtype)7, &t), DFM_INVALID_ARGUMENT, "DFM_BOOL = 2");
    ERR(dfm_tensor_from_data(d6, SIZE_MAX, s23, 2, DFM_FLOAT32, &t), DFM_INVALID_ARGUMENT, "too large");

    /* from_blob: zero copy, release callback once when the last view goes */
    blob = malloc(6 * sizeof(float));
    memcpy(blob, d6, sizeof d6);
    OK(dfm_tensor_from_blob(blob, sizeof d6, s23, 2, DFM_FLOAT32, blob_release, &blob_releases, &t));
    {
        void *p;
        OK(dfm_tensor_data(t, &p));
        CHECK(p == (void *)blob);
    }
    OK(dfm_tensor_detach(t, &u));
    dfm_tensor_release(t);
    CHECK(blob_releases == 0); /* the detached view still uses the buffer */
    blob[0] = 42;
    CHECK(first(u) == 42.0f);
    dfm_tensor_release(u);
    CHECK(blob_releases == 1 && blob_seen == (void *)blob);
    free(blob);
    ERR(dfm_tensor_from_blob(NULL, 24, s23, 2, DFM_FLOAT32, blob_release, &blob_releases, &t), DFM_INVALID_ARGUMENT,
        "data");
    ERR(dfm_tensor_from_blob((char *)d6 + 1, 24, s23, 2, DFM_FLOAT32, NULL, NULL, &t), DFM_INVALID_ARGUMENT, "aligned");
    ERR(dfm_tensor_from_blob(d6, 25, s23, 2, DFM_FLOAT32, NULL, NULL, &t), DFM_SHAPE_MISMATCH, "25");
    ERR(dfm_tensor_from_blob(d6, 24, s23, 2, DFM_FLOAT32, NULL, NULL, NULL), DFM_INVALID_ARGUMENT, "out");
    ERR(dfm_tensor_from_blob(d6, 24, huge, 2, DFM_FLOAT32, NULL, NULL, &t), DFM_OUT_OF_MEMORY, NULL);
    CHECK(blob_releases == 1);                                             /* failures never call release */
    OK(dfm_tensor_from_blob(d6, 24, s23, 2, DFM_FLOAT32, NULL, NULL, &t)); /* NULL release: caller keeps it */
    dfm_tensor_release(t);

    /* zeros / ones / full / arange */
    OK(dfm_tensor_zeros(s23, 2, DFM_INT64, &t));
    CHECK(numel(t) == 6);
    dfm_tensor_release(t);
    ERR(dfm_tensor_zeros(neg, 2, DFM_FLOAT32, &t), DFM_INVALID_ARGUMENT, "negative");
    ERR(dfm_tensor_zeros(big, 3, DFM_FLOAT32, &t), DFM_OUT_OF_MEMORY, NULL);
    ERR(dfm_tensor_zeros(s23, 2, (dfm_dtype)-1, &t), DFM_INVALID_ARGUMENT, "dtype");
    ERR(dfm_tensor_zeros(s23, 2, DFM_FLOAT32, NULL), DFM_INVALID_ARGUMENT, "NULL");
    OK(dfm_tensor_ones(s23, 2, DFM_INT64, &t));
    {
        int64_t v[6];
        OK(dfm_tensor_read(t, v, sizeof v));
        CHECK(v[0] == 1 && v[5] == 1);
    }
    dfm_tensor_release(t);
    ERR(dfm_tensor_ones(huge, 2, DFM_FLOAT32, &t), DFM_OUT_OF_MEMORY, NULL);
    ERR(dfm_tensor_ones(s23, 2, DFM_FLOAT32, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_tensor_full(s23, 2, 2.5, DFM_FLOAT32, &t));
    CHECK(first(t) == 2.5f);
    dfm_tensor_release(t);
    OK(dfm_tensor_full(s23, 2, NAN, DFM_FLOAT32, &t));
    CHECK(isnan(first(t)));
    dfm_tensor_release(t);
    ERR(dfm_tensor_full(s23, 2, 2.5, DFM_INT64, &t), DFM_INVALID_ARGUMENT, "2.5");
    ERR(dfm_tensor_full(s23, 2, NAN, DFM_INT64, &t), DFM_INVALID_ARGUMENT, "nan");
    ERR(dfm_tensor_full(s23, 2, 1e30, DFM_INT64, &t), DFM_INVALID_ARGUMENT, "int64");
    ERR(dfm_tensor_full(neg, 2, 0, DFM_FLOAT32, &t), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_tensor_arange(0, 10, 3, DFM_INT64, &t));
    CHECK(numel(t) == 4);
    dfm_tensor_release(t);
    OK(dfm_tensor_arange(1, 0, -0.25, DFM_FLOAT32, &t));
    CHECK(numel(t) == 4);
    dfm_tensor_release(t);
    ERR(dfm_tensor_arange(0, 10, 0, DFM_FLOAT32, &t), DFM_INVALID_ARGUMENT, "step");
    ERR(dfm_tensor_arange(NAN, 10, 1, DFM_FLOAT32, &t), DFM_INVALID_ARGUMENT, "finite");
    ERR(dfm_tensor_arange(0, INFINITY, 1, DFM_FLOAT32, &t), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_arange(0, 1e300, 1e-300, DFM_FLOAT32, &t), DFM_OUT_OF_MEMORY, "elements");
    ERR(dfm_tensor_arange(-1e300, 1e300, 1, DFM_FLOAT32, &t), DFM_OUT_OF_MEMORY, NULL);
    ERR(dfm_tensor_arange(0, 1e19, 1e18, DFM_INT64, &t), DFM_INVALID_ARGUMENT, "range");
    ERR(dfm_tensor_arange(10, 0, 1, DFM_FLOAT32, &t), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_arange(0, 1, 1, (dfm_dtype)5, &t), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_arange(0, 3, 1, DFM_UINT8, &t), DFM_TYPE_ERROR, "uint8");
    { /* uint8: bytes that wrap like torch's, compare and convert */
        dfm_tensor u = NULL, v = NULL, w = NULL, f = NULL;
        int64_t s4 = 4;
        uint8_t raw[4] = {0, 100, 200, 255};
        OK(dfm_tensor_from_data(raw, sizeof raw, &s4, 1, DFM_UINT8, &u));
        OK(dfm_add(u, u, &v)); /* uint8 + uint8 stays uint8 and wraps */
        {
            dfm_dtype dt = DFM_FLOAT32;
            void *p = NULL;
            OK(dfm_tensor_dtype(v, &dt));
            OK(dfm_tensor_data(v, &p));
            CHECK(dt == DFM_UINT8 && ((uint8_t *)p)[2] == 144 && ((uint8_t *)p)[3] == 254);
        }
        OK(dfm_gt_scalar(u, 150, &w));
        CHECK(atb(w, 1) == 0 && atb(w, 2) == 1);
        OK(dfm_tensor_to_dtype(u, DFM_FLOAT32, &f));
        CHECK(at(f, 3) == 255.0f);
        dfm_tensor_release(f);
        OK(dfm_tensor_full(&s4, 1, 300, DFM_UINT8, &f));
        {
            void *p = NULL;
            OK(dfm_tensor_data(f, &p));
            CHECK(((uint8_t *)p)[0] == 44);
        }
        dfm_tensor_release(f);
        dfm_tensor_release(w);
        dfm_tensor_release(v);
        dfm_tensor_release(u);
    }
    OK(dfm_tensor_arange(0, 1, 0.25, DFM_FLOAT64, &t));
    CHECK(numel(t) == 4 && atd(t, 3) == 0.75);
    dfm_tensor_release(t);
    ERR(dfm_tensor_arange(0, 1, 1, DFM_FLOAT32, NULL), DFM_INVALID_ARGUMENT, NULL);

    /* random */
    OK(dfm_manual_seed(7));
    OK(dfm_tensor_randn(s23, 2, &t));
    OK(dfm_manual_seed(7));
    OK(dfm_tensor_randn(s23, 2, &u));
    CHECK(first(t) == first(u)); /* seeded: reproducible */
    dfm_tensor_release(t);
    dfm_tensor_release(u);
    ERR(dfm_tensor_randn(neg, 2, &t), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_randn(s23, 2, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_tensor_rand(s23, 2, &t));
    CHECK(first(t) >= 0.0f && first(t) < 1.0f);
    dfm_tensor_release(t);
    ERR(dfm_tensor_rand(huge, 2, &t), DFM_OUT_OF_MEMORY, NULL);
    ERR(dfm_tensor_rand(s23, 40, &t), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_tensor_randint(-3, 3, s23, 2, &t));
    {
        int64_t v[6], k, okr = 1;
        OK(dfm_tensor_read(t, v, sizeof v));
        for (k = 0; k < 6; k++) okr &= v[k] >= -3 && v[k] < 3;
        CHECK(okr);
    }
    dfm_tensor_release(t);
    OK(dfm_tensor_randint(INT64_MIN, INT64_MAX, s23, 2, &t));
    dfm_tensor_release(t);
    ERR(dfm_tensor_randint(3, 3, s23, 2, &t), DFM_INVALID_ARGUMENT, "from=3");
    ERR(dfm_tensor_randint(0, 3, neg, 2, &t), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_tensor_randperm(5, &t));
    CHECK(numel(t) == 5);
    dfm_tensor_release(t);
    OK(dfm_tensor_randperm(0, &t));
    dfm_tensor_release(t);
    ERR(dfm_tensor_randperm(-1, &t), DFM_INVALID_ARGUMENT, "-1");
    ERR(dfm_tensor_randperm(INT64_MAX, &t), DFM_OUT_OF_MEMORY, NULL);
    ERR(dfm_tensor_randperm(3, NULL), DFM_INVALID_ARGUMENT, NULL);
}

/* ---------------------------------------------------------------- handles, properties */

static void test_handles_and_properties(void) {
    float d6[6] = {1, 2, 3, 4, 5, 6};
    dfm_tensor t = T(d6, s23, 2), u = NULL;
    int64_t v, dims[4], strides[4];
    size_t nb;
    void *p;
    double item;
    bool b;
    int64_t before = dfm_live_handle_count();

    /* retain/release */
    OK(dfm_tensor_retain(t));
    OK(dfm_tensor_release(t));
    OK(dfm_tensor_ndim(t, &v)); /* still alive: one reference left */
    CHECK(v == 2);
    OK(dfm_tensor_release(NULL)); /* no-op */
    ERR(dfm_tensor_retain(NULL), DFM_INVALID_ARGUMENT, "NULL");
    ERR(dfm_tensor_retain(RELEASED), DFM_INVALID_ARGUMENT, "released");
    ERR(dfm_tensor_release(RELEASED), DFM_INVALID_ARGUMENT, "released");
    ERR(dfm_tensor_retain(FOREIGN), DFM_INVALID_ARGUMENT, "not a dfm_tensor");
    ERR(dfm_tensor_release(FOREIGN), DFM_INVALID_ARGUMENT, "not a dfm_tensor");

    /* properties */
    OK(dfm_tensor_shape(t, dims, 4));
    CHECK(dims[0] == 2 && dims[1] == 3);
    OK(dfm_tensor_strides(t, strides, 2));
    CHECK(strides[0] == 12 && strides[1] == 4); /* bytes */
    ERR(dfm_tensor_shape(t, dims, 1), DFM_INVALID_ARGUMENT, "capacity 1");
    ERR(dfm_tensor_shape(t, NULL, 4), DFM_INVALID_ARGUMENT, "dims");
    ERR(dfm_tensor_shape(t, dims, -7), DFM_INVALID_ARGUMENT, "-7");
    ERR(dfm_tensor_shape(RELEASED, dims, 4), DFM_INVALID_ARGUMENT, "released");
    ERR(dfm_tensor_strides(t, strides, 0), DFM_INVALID_ARGUMENT, "capacity");
    ERR(dfm_tensor_strides(NULL, strides, 4), DFM_INVALID_ARGUMENT, "NULL");
    ERR(dfm_tensor_ndim(t, NULL), DFM_INVALID_ARGUMENT, "NULL");
    ERR(dfm_tensor_ndim(FOREIGN, &v), DFM_INVALID_ARGUMENT, NULL);
    {
        dfm_dtype dt;
        OK(dfm_tensor_dtype(t, &dt));
        CHECK(dt == DFM_FLOAT32);
        ERR(dfm_tensor_dtype(t, NULL), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_tensor_dtype(RELEASED, &dt), DFM_INVALID_ARGUMENT, NULL);
    }
    OK(dfm_tensor_numel(t, &v));
    CHECK(v == 6);
    ERR(dfm_tensor_numel(NULL, &v), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_numel(t, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_tensor_nbytes(t, &nb));
    CHECK(nb == 24);
    ERR(dfm_tensor_nbytes(RELEASED, &nb), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_nbytes(t, NULL), DFM_INVALID_ARGUMENT, NULL);

    /* data access */
    OK(dfm_tensor_data(t, &p));
    ((float *)p)[1] = 20;
    {
        float r[6], w[6] = {6, 5, 4, 3, 2, 1};
        OK(dfm_tensor_read(t, r, sizeof r));
        CHECK(r[1] == 20);
        OK(dfm_tensor_write(t, w, sizeof w));
        CHECK(first(t) == 6);
        ERR(dfm_tensor_read(t, r, 4), DFM_SHAPE_MISMATCH, "24 bytes");
        ERR(dfm_tensor_read(t, NULL, 24), DFM_INVALID_ARGUMENT, "dst");
        ERR(dfm_tensor_read(RELEASED, r, 24), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_tensor_write(t, w, 100), DFM_SHAPE_MISMATCH, NULL);
        ERR(dfm_tensor_write(t, NULL, 24), DFM_INVALID_ARGUMENT, "src");
        ERR(dfm_tensor_write(t, w, SIZE_MAX), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_tensor_write(FOREIGN, w, 24), DFM_INVALID_ARGUMENT, NULL);
    }
    ERR(dfm_tensor_data(t, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_data(RELEASED, &p), DFM_INVALID_ARGUMENT, NULL);

    /* item */
    ERR(dfm_tensor_item(t, &item), DFM_INVALID_ARGUMENT, "6 elements");
    ERR(dfm_tensor_item(t, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_item(NULL, &item), DFM_INVALID_ARGUMENT, NULL);
    {
        int64_t big = INT64_C(1) << 40;
        OK(dfm_tensor_from_data(&big, 8, NULL, 0, DFM_INT64, &u));
        OK(dfm_tensor_item(u, &item));
        CHECK(item == (double)big); /* exact, not through float */
        dfm_tensor_release(u);
    }

    /* autograd flags */
    OK(dfm_tensor_requires_grad(t, &b));
    CHECK(!b);
    OK(dfm_tensor_set_requires_grad(t, true));
    OK(dfm_tensor_requires_grad(t, &b));
    CHECK(b);
    OK(dfm_tensor_is_leaf(t, &b));
    CHECK(b);
    ERR(dfm_tensor_requires_grad(t, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_requires_grad(RELEASED, &b), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_is_leaf(NULL, &b), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_is_leaf(t, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_set_requires_grad(FOREIGN, true), DFM_INVALID_ARGUMENT, NULL);
    {
        dfm_tensor it = NULL, sq = NULL;
        OK(dfm_tensor_zeros(s23, 2, DFM_INT64, &it));
        ERR(dfm_tensor_set_requires_grad(it, true), DFM_TYPE_ERROR, "floating point");
        OK(dfm_mul(t, t, &sq));
        ERR(dfm_tensor_set_requires_grad(sq, false), DFM_STATE_ERROR, "leaf");
        OK(dfm_tensor_is_leaf(sq, &b));
        CHECK(!b);
        dfm_tensor_release(it);
        dfm_tensor_release(sq);
    }

    /* grad get/set */
    OK(dfm_tensor_grad(t, &u));
    CHECK(u == NULL); /* none yet: not an error */
    ERR(dfm_tensor_grad(t, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_grad(RELEASED, &u), DFM_INVALID_ARGUMENT, NULL);
    {
        dfm_tensor g = NULL, wrong = vec(6, 0);
        OK(dfm_tensor_ones(s23, 2, DFM_FLOAT32, &g));
        OK(dfm_tensor_set_grad(t, g));
        OK(dfm_tensor_grad(t, &u));
        CHECK(u != NULL && first(u) == 1.0f);
        dfm_tensor_release(u);
        ERR(dfm_tensor_set_grad(t, wrong), DFM_SHAPE_MISMATCH, "[6]");
        ERR(dfm_tensor_set_grad(t, RELEASED), DFM_INVALID_ARGUMENT, "released");
        ERR(dfm_tensor_set_grad(NULL, g), DFM_INVALID_ARGUMENT, NULL);
        OK(dfm_tensor_set_grad(t, NULL)); /* clears */
        OK(dfm_tensor_grad(t, &u));
        CHECK(u == NULL);
        dfm_tensor_release(g);
        dfm_tensor_release(wrong);
    }

    /* copy_, fill_, detach, clone */
    {
        dfm_tensor c = NULL, d = NULL, i = NULL, w = vec(5, 0);
        OK(dfm_tensor_clone(t, &c));
        OK(dfm_tensor_fill_(c, 3));
        CHECK(first(c) == 3 && first(t) == 6); /* clone owns its memory */
        OK(dfm_tensor_detach(t, &d));
        OK(dfm_tensor_fill_(d, 4));
        CHECK(first(t) == 4); /* detach shares it */
        OK(dfm_tensor_requires_grad(d, &b));
        CHECK(!b);
        OK(dfm_tensor_copy_(t, c));
        CHECK(first(t) == 3);
        OK(dfm_tensor_zeros(s23, 2, DFM_INT64, &i));
        OK(dfm_tensor_copy_(i, t)); /* dtype converted */
        OK(dfm_tensor_fill_(i, -9));
        OK(dfm_tensor_fill_(c, NAN));
        ERR(dfm_tensor_copy_(i, c), DFM_INVALID_ARGUMENT, "nan"); /* NaN cannot become int64 */
        ERR(dfm_tensor_copy_(t, w), DFM_SHAPE_MISMATCH, "[5]");
        ERR(dfm_tensor_copy_(t, NULL), DFM_INVALID_ARGUMENT, "src");
        ERR(dfm_tensor_copy_(RELEASED, t), DFM_INVALID_ARGUMENT, "dst");
        ERR(dfm_tensor_fill_(i, 0.5), DFM_INVALID_ARGUMENT, "0.5");
        ERR(dfm_tensor_fill_(i, INFINITY), DFM_INVALID_ARGUMENT, "inf");
        ERR(dfm_tensor_fill_(NULL, 1), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_tensor_detach(t, NULL), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_tensor_detach(RELEASED, &u), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_tensor_clone(FOREIGN, &u), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_tensor_clone(t, NULL), DFM_INVALID_ARGUMENT, NULL);
        /* to_dtype */
        {
            dfm_tensor conv = NULL;
            dfm_dtype dt;
            float neg[6] = {-1.7f, 2.9f, 0, 0, 0, 0};
            OK(dfm_tensor_write(c, neg, sizeof neg));
            OK(dfm_tensor_to_dtype(c, DFM_INT64, &conv));
            OK(dfm_tensor_dtype(conv, &dt));
            CHECK(dt == DFM_INT64 && at64(conv, 0) == -1 && at64(conv, 1) == 2); /* toward zero, like .long() */
            dfm_tensor_release(conv);
            OK(dfm_tensor_to_dtype(i, DFM_FLOAT32, &conv));
            CHECK(at(conv, 0) == -9);
            dfm_tensor_release(conv);
            OK(dfm_tensor_fill_(c, NAN));
            ERR(dfm_tensor_to_dtype(c, DFM_INT64, &conv), DFM_INVALID_ARGUMENT, "nan");
            ERR(dfm_tensor_to_dtype(c, (dfm_dtype)5, &conv), DFM_INVALID_ARGUMENT, "dtype 5");
            ERR(dfm_tensor_to_dtype(NULL, DFM_INT64, &conv), DFM_INVALID_ARGUMENT, NULL);
            ERR(dfm_tensor_to_dtype(c, DFM_INT64, NULL), DFM_INVALID_ARGUMENT, NULL);
        }
        /* identity: same object, same value */
        {
            uint64_t id1 = 0, id2 = 1, id3 = 2;
            OK(dfm_tensor_retain(t));
            OK(dfm_tensor_identity(t, &id1));
            OK(dfm_tensor_identity(d, &id3)); /* a detached view is another tensor */
            OK(dfm_tensor_release(t));
            OK(dfm_tensor_identity(t, &id2));
            CHECK(id1 == id2 && id1 != id3);
            ERR(dfm_tensor_identity(t, NULL), DFM_INVALID_ARGUMENT, NULL);
            ERR(dfm_tensor_identity(RELEASED, &id1), DFM_INVALID_ARGUMENT, "released");
        }
        dfm_tensor_release(c);
        dfm_tensor_release(d);
        dfm_tensor_release(i);
        dfm_tensor_release(w);
    }
    dfm_tensor_release(t);
    CHECK(dfm_live_handle_count() == before - 1);
}

/* ---------------------------------------------------------------- autograd */

static void test_autograd(void) {
    float d3[3] = {1, 2, 3};
    int64_t s3 = 3;
    dfm_tensor x = T(d3, &s3, 1), y = NULL, loss = NULL, g = NULL, seed = NULL;
    float gv[3];

    OK(dfm_tensor_set_requires_grad(x, true));
    OK(dfm_mul(x, x, &y));                 /* y = x^2 */
    OK(dfm_sum(y, NULL, 0, false, &loss)); /* loss = sum(x^2) */
    OK(dfm_backward(loss, NULL, true));
    OK(dfm_tensor_grad(x, &g));
    OK(dfm_tensor_read(g, gv, sizeof gv));
    CHECK(gv[0] == 2 && gv[1] == 4 && gv[2] == 6);
    dfm_tensor_release(g);
    OK(dfm_backward(loss, NULL, false)); /* retained: second pass accumulates */
    OK(dfm_tensor_grad(x, &g));
    OK(dfm_tensor_read(g, gv, sizeof gv));
    CHECK(gv[0] == 4 && gv[2] == 12);
    dfm_tensor_release(g);
    ERR(dfm_backward(loss, NULL, false), DFM_STATE_ERROR, "second time");
    ERR(dfm_backward(y, NULL, false), DFM_STATE_ERROR, "scalar");
    OK(dfm_tensor_ones(s23, 2, DFM_FLOAT32, &seed));
    ERR(dfm_backward(y, seed, false), DFM_SHAPE_MISMATCH, "[2, 3]");
    ERR(dfm_backward(NULL, NULL, false), DFM_INVALID_ARGUMENT, "loss");
    ERR(dfm_backward(RELEASED, NULL, false), DFM_INVALID_ARGUMENT, "released");
    ERR(dfm_backward(loss, RELEASED, false), DFM_INVALID_ARGUMENT, "grad");
    ERR(dfm_backward(seed, NULL, false), DFM_STATE_ERROR, "does not require grad");
    dfm_tensor_release(seed);
    dfm_tensor_release(loss);
    dfm_tensor_release(y);

    /* explicit gradient and no_grad */
    OK(dfm_tensor_set_grad(x, NULL));
    OK(dfm_mul_scalar(x, 3, &y));
    OK(dfm_tensor_full(&s3, 1, 0.5, DFM_FLOAT32, &seed));
    OK(dfm_backward(y, seed, false));
    OK(dfm_tensor_grad(x, &g));
    OK(dfm_tensor_read(g, gv, sizeof gv));
    CHECK(gv[1] == 1.5f);
    dfm_tensor_release(g);
    dfm_tensor_release(seed);
    dfm_tensor_release(y);
    dfm_set_grad_enabled(false);
    OK(dfm_mul(x, x, &y));
    {
        bool rg;
        OK(dfm_tensor_requires_grad(y, &rg));
        CHECK(!rg);
    }
    dfm_set_grad_enabled(true);
    dfm_tensor_release(y);

    /* graphs dropped without backward are freed, including ops that save their output */
    {
        dfm_tensor a = NULL, b = NULL, c = NULL, d = NULL, e = NULL;
        OK(dfm_relu(x, &a));
        OK(dfm_exp(a, &b));
        OK(dfm_sigmoid(b, &c));
        OK(dfm_tanh(c, &d));
        OK(dfm_sqrt(d, &e));
        dfm_tensor_release(a);
        dfm_tensor_release(b);
        dfm_tensor_release(c);
        dfm_tensor_release(d);
        dfm_tensor_release(e);
    }
    dfm_tensor_release(x);
}

/* ---------------------------------------------------------------- elementwise ops */

typedef dfm_status (*unary_fn)(dfm_tensor, dfm_tensor *);
typedef dfm_status (*binary_fn)(dfm_tensor, dfm_tensor, dfm_tensor *);
typedef dfm_status (*scalar_fn)(dfm_tensor, double, dfm_tensor *);
typedef dfm_status (*rscalar_fn)(double, dfm_tensor, dfm_tensor *);

/* Bad-input checks shared by all unary ops; `name` is the function's name. */
/* int64_ok: the op accepts int64 input (neg, abs, as in torch); others are float-only.
 * INT64_TO_BOOL: accepts int64 and returns bool (logical_not). */
#define INT64_TO_BOOL 2
static void bad_unary(unary_fn f, const char *name, int int64_ok, int line) {
    dfm_tensor out = NULL, it = NULL, x = vec(3, 1);
    char call[160];
    snprintf(call, sizeof call, "%s(NULL)", name);
    expect(f(NULL, &out), DFM_INVALID_ARGUMENT, "argument 'a' is NULL", call, line);
    snprintf(call, sizeof call, "%s(released)", name);
    expect(f(RELEASED, &out), DFM_INVALID_ARGUMENT, "released", call, line);
    snprintf(call, sizeof call, "%s(foreign)", name);
    expect(f(FOREIGN, &out), DFM_INVALID_ARGUMENT, "not a dfm_tensor", call, line);
    snprintf(call, sizeof call, "%s(out NULL)", name);
    expect(f(x, NULL), DFM_INVALID_ARGUMENT, "out", call, line);
    OK(dfm_tensor_zeros(s23, 2, DFM_INT64, &it));
    snprintf(call, sizeof call, "%s(int64)", name);
    if (int64_ok) {
        dfm_dtype dt = DFM_FLOAT32;
        expect(f(it, &out), DFM_OK, NULL, call, line);
        dfm_tensor_dtype(out, &dt);
        CHECK(dt == (int64_ok == INT64_TO_BOOL ? DFM_BOOL : DFM_INT64));
        dfm_tensor_release(out);
    } else {
        expect(f(it, &out), DFM_TYPE_ERROR, "int64", call, line);
        CHECK(out == NULL);
    }
    dfm_tensor_release(it);
    dfm_tensor_release(x);
}

static void good_unary(unary_fn f, float in, float want, int line) {
    int64_t one = 1;
    dfm_tensor x = T(&in, &one, 1), y = NULL;
    expect(f(x, &y), DFM_OK, NULL, "unary op", line);
    if (y) {
        float got = first(y);
        if (!(got == want || (isnan(want) && isnan(got)) || fabsf(got - want) < 1e-5f)) {
            fail_at(line, "unary value");
            fprintf(stderr, "   got %g want %g\n", got, want);
        } else {
            passed++;
        }
    }
    dfm_tensor_release(x);
    dfm_tensor_release(y);
}

static void bad_binary(binary_fn f, const char *name, int line) {
    dfm_tensor a = vec(3, 1), b = vec(4, 1), out = NULL;
    char call[160];
    snprintf(call, sizeof call, "%s(a, NULL)", name);
    expect(f(a, NULL, &out), DFM_INVALID_ARGUMENT, "argument 'b' is NULL", call, line);
    snprintf(call, sizeof call, "%s(NULL, b)", name);
    expect(f(NULL, a, &out), DFM_INVALID_ARGUMENT, "argument 'a' is NULL", call, line);
    snprintf(call, sizeof call, "%s(released, a)", name);
    expect(f(RELEASED, a, &out), DFM_INVALID_ARGUMENT, "released", call, line);
    snprintf(call, sizeof call, "%s(out NULL)", name);
    expect(f(a, a, NULL), DFM_INVALID_ARGUMENT, "out", call, line);
    snprintf(call, sizeof call, "%s([3], [4])", name);
    expect(f(a, b, &out), DFM_SHAPE_MISMATCH, "[4]", call, line);
    CHECK(out == NULL);
    dfm_tensor_release(a);
    dfm_tensor_release(b);
}

static void bad_scalar(scalar_fn f, const char *name, int line) {
    dfm_tensor out = NULL, x = vec(2, 0);
    char call[160];
    snprintf(call, sizeof call, "%s(NULL)", name);
    expect(f(NULL, 1, &out), DFM_INVALID_ARGUMENT, "NULL", call, line);
    snprintf(call, sizeof call, "%s(released)", name);
    expect(f(RELEASED, 1, &out), DFM_INVALID_ARGUMENT, "released", call, line);
    snprintf(call, sizeof call, "%s(out NULL)", name);
    expect(f(x, 1, NULL), DFM_INVALID_ARGUMENT, "out", call, line);
    /* NaN scalars are values, not errors */
    expect(f(x, NAN, &out), DFM_OK, NULL, name, line);
    CHECK(out != NULL && numel(out) == 2);
    dfm_tensor_release(out);
    dfm_tensor_release(x);
}

static dfm_status rsub_as_scalar_fn(dfm_tensor a, double s, dfm_tensor *out) {
    return dfm_rsub_scalar(s, a, out);
}
static dfm_status rdiv_as_scalar_fn(dfm_tensor a, double s, dfm_tensor *out) {
    return dfm_rdiv_scalar(s, a, out);
}

static void test_elementwise(void) {
    dfm_tensor a = mat(2, 3, 1), r = vec(3, 10), out = NULL;
    float v[6];
    /* broadcasting [2,3] + [3] */
    OK(dfm_add(a, r, &out));
    OK(dfm_tensor_read(out, v, sizeof v));
    CHECK(v[0] == 11 && v[5] == 18);
    dfm_tensor_release(out);
    OK(dfm_sub(a, r, &out));
    CHECK(first(out) == -9);
    dfm_tensor_release(out);
    OK(dfm_mul(a, r, &out));
    CHECK(first(out) == 10);
    dfm_tensor_release(out);
    OK(dfm_div(a, r, &out));
    CHECK(first(out) == 0.1f);
    dfm_tensor_release(out);
    OK(dfm_pow(a, a, &out));
    OK(dfm_tensor_read(out, v, sizeof v));
    CHECK(v[1] == 4 && v[2] == 27);
    dfm_tensor_release(out);
    bad_binary(dfm_add, "dfm_add", __LINE__);
    bad_binary(dfm_sub, "dfm_sub", __LINE__);
    bad_binary(dfm_mul, "dfm_mul", __LINE__);
    bad_binary(dfm_div, "dfm_div", __LINE__);
    bad_binary(dfm_pow, "dfm_pow", __LINE__);

    OK(dfm_add_scalar(a, 1, &out));
    CHECK(first(out) == 2);
    dfm_tensor_release(out);
    OK(dfm_sub_scalar(a, 1, &out));
    CHECK(first(out) == 0);
    dfm_tensor_release(out);
    OK(dfm_mul_scalar(a, 3, &out));
    CHECK(first(out) == 3);
    dfm_tensor_release(out);
    OK(dfm_div_scalar(a, 2, &out));
    CHECK(first(out) == 0.5f);
    dfm_tensor_release(out);
    OK(dfm_div_scalar(a, 0, &out)); /* division by zero is inf, as in torch */
    CHECK(isinf(first(out)));
    dfm_tensor_release(out);
    OK(dfm_pow_scalar(a, 2, &out));
    CHECK(first(out) == 1);
    dfm_tensor_release(out);
    OK(dfm_rsub_scalar(5, a, &out));
    CHECK(first(out) == 4);
    dfm_tensor_release(out);
    OK(dfm_rdiv_scalar(2, a, &out));
    CHECK(first(out) == 2);
    dfm_tensor_release(out);
    bad_scalar(dfm_add_scalar, "dfm_add_scalar", __LINE__);
    bad_scalar(dfm_sub_scalar, "dfm_sub_scalar", __LINE__);
    bad_scalar(dfm_mul_scalar, "dfm_mul_scalar", __LINE__);
    bad_scalar(dfm_div_scalar, "dfm_div_scalar", __LINE__);
    bad_scalar(dfm_pow_scalar, "dfm_pow_scalar", __LINE__);
    bad_scalar(rsub_as_scalar_fn, "dfm_rsub_scalar", __LINE__);
    bad_scalar(rdiv_as_scalar_fn, "dfm_rdiv_scalar", __LINE__);

    /* floor_divide / remainder (Python's // and %): floor rounding, the sign of the divisor */
    {
        float nv[4] = {7, -7, 7, -7}, dv[4] = {2, 2, -2, -2};
        int64_t four = 4;
        dfm_tensor n = T(nv, &four, 1), d = T(dv, &four, 1), it = NULL, zi = NULL;
        OK(dfm_floor_divide(n, d, &out));
        OK(dfm_tensor_read(out, v, 4 * sizeof(float)));
        CHECK(v[0] == 3 && v[1] == -4 && v[2] == -4 && v[3] == 3);
        dfm_tensor_release(out);
        OK(dfm_remainder(n, d, &out));
        OK(dfm_tensor_read(out, v, 4 * sizeof(float)));
        CHECK(v[0] == 1 && v[1] == 1 && v[2] == -1 && v[3] == -1);
        dfm_tensor_release(out);
        OK(dfm_floor_divide_scalar(n, 2, &out));
        CHECK(first(out) == 3 && at(out, 1) == -4);
        dfm_tensor_release(out);
        OK(dfm_remainder_scalar(n, -2, &out));
        CHECK(first(out) == -1 && at(out, 1) == -1);
        dfm_tensor_release(out);
        /* int64 stays int64; integer division by zero is an error, never a crash */
        OK(dfm_tensor_full(s23, 2, -7, DFM_INT64, &it));
        OK(dfm_floor_divide_scalar(it, 2, &out));
        CHECK(at64(out, 0) == -4);
        dfm_tensor_release(out);
        OK(dfm_remainder_scalar(it, 3, &out));
        CHECK(at64(out, 0) == 2);
        dfm_tensor_release(out);
        ERR(dfm_floor_divide_scalar(it, 0, &out), DFM_INVALID_ARGUMENT, "ZeroDivisionError");
        OK(dfm_tensor_zeros(s23, 2, DFM_INT64, &zi));
        ERR(dfm_remainder(it, zi, &out), DFM_INVALID_ARGUMENT, "ZeroDivisionError");
        CHECK(out == NULL);
        dfm_tensor_release(zi);
        dfm_tensor_release(it);
        dfm_tensor_release(n);
        dfm_tensor_release(d);
    }
    bad_binary(dfm_floor_divide, "dfm_floor_divide", __LINE__);
    bad_binary(dfm_remainder, "dfm_remainder", __LINE__);
    bad_scalar(dfm_floor_divide_scalar, "dfm_floor_divide_scalar", __LINE__);
    bad_scalar(dfm_remainder_scalar, "dfm_remainder_scalar", __LINE__);

    good_unary(dfm_neg, 2, -2, __LINE__);
    good_unary(dfm_exp, 0, 1, __LINE__);
    good_unary(dfm_log, 1, 0, __LINE__);
    good_unary(dfm_log, -1, NAN, __LINE__);
    good_unary(dfm_abs, -3, 3, __LINE__);
    good_unary(dfm_sqrt, 4, 2, __LINE__);
    good_unary(dfm_relu, -1, 0, __LINE__);
    good_unary(dfm_relu, NAN, NAN, __LINE__);
    good_unary(dfm_gelu, 0, 0, __LINE__);
    good_unary(dfm_sigmoid, 0, 0.5f, __LINE__);
    good_unary(dfm_tanh, 0, 0, __LINE__);
    good_unary(dfm_sin, 0, 0, __LINE__);
    good_unary(dfm_cos, 0, 1, __LINE__);
    good_unary(dfm_log1p, 0, 0, __LINE__);
    good_unary(dfm_expm1, 0, 0, __LINE__);
    good_unary(dfm_floor, -1.5f, -2, __LINE__);
    good_unary(dfm_ceil, -1.5f, -1, __LINE__);
    good_unary(dfm_round, 2.5f, 2, __LINE__); /* half to even */
    good_unary(dfm_trunc, -1.5f, -1, __LINE__);
    good_unary(dfm_sign, NAN, 0, __LINE__);
    bad_unary(dfm_neg, "dfm_neg", 1, __LINE__);
    bad_unary(dfm_exp, "dfm_exp", 0, __LINE__);
    bad_unary(dfm_log, "dfm_log", 0, __LINE__);
    bad_unary(dfm_abs, "dfm_abs", 1, __LINE__);
    bad_unary(dfm_sqrt, "dfm_sqrt", 0, __LINE__);
    bad_unary(dfm_relu, "dfm_relu", 0, __LINE__);
    bad_unary(dfm_gelu, "dfm_gelu", 0, __LINE__);
    bad_unary(dfm_sigmoid, "dfm_sigmoid", 0, __LINE__);
    bad_unary(dfm_tanh, "dfm_tanh", 0, __LINE__);
    bad_unary(dfm_sin, "dfm_sin", 0, __LINE__);
    bad_unary(dfm_cos, "dfm_cos", 0, __LINE__);
    bad_unary(dfm_log1p, "dfm_log1p", 0, __LINE__);
    bad_unary(dfm_expm1, "dfm_expm1", 0, __LINE__);
    bad_unary(dfm_floor, "dfm_floor", 1, __LINE__);
    bad_unary(dfm_ceil, "dfm_ceil", 1, __LINE__);
    bad_unary(dfm_round, "dfm_round", 1, __LINE__);
    bad_unary(dfm_trunc, "dfm_trunc", 1, __LINE__);
    bad_unary(dfm_sign, "dfm_sign", 1, __LINE__);
    bad_unary(dfm_isnan, "dfm_isnan", INT64_TO_BOOL, __LINE__);
    bad_unary(dfm_isinf, "dfm_isinf", INT64_TO_BOOL, __LINE__);
    bad_unary(dfm_isfinite, "dfm_isfinite", INT64_TO_BOOL, __LINE__);
    {
        float nv[3] = {NAN, INFINITY, 1};
        int64_t three = 3;
        dfm_tensor sp = T(nv, &three, 1);
        OK(dfm_isnan(sp, &out));
        CHECK(atb(out, 0) == 1 && atb(out, 1) == 0);
        dfm_tensor_release(out);
        OK(dfm_isinf(sp, &out));
        CHECK(atb(out, 1) == 1 && atb(out, 2) == 0);
        dfm_tensor_release(out);
        OK(dfm_isfinite(sp, &out));
        CHECK(atb(out, 0) == 0 && atb(out, 2) == 1);
        dfm_tensor_release(out);
        OK(dfm_leaky_relu(sp, 0.1f, &out)); /* NaN stays NaN, inf stays inf */
        CHECK(isnan(at(out, 0)) && isinf(at(out, 1)) && at(out, 2) == 1);
        dfm_tensor_release(out);
        dfm_tensor_release(sp);
    }
    good_unary(dfm_log1p, -2, NAN, __LINE__);
    bad_scalar(dfm_leaky_relu, "dfm_leaky_relu", __LINE__);

    OK(dfm_clamp(a, true, 2, true, 4, &out));
    OK(dfm_tensor_read(out, v, sizeof v));
    CHECK(v[0] == 2 && v[2] == 3 && v[5] == 4);
    dfm_tensor_release(out);
    OK(dfm_clamp(a, false, 0, true, 2, &out));
    dfm_tensor_release(out);
    ERR(dfm_clamp(a, false, 0, false, 0, &out), DFM_INVALID_ARGUMENT, "min");
    ERR(dfm_clamp(NULL, true, 0, true, 1, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_clamp(a, true, 0, true, 1, NULL), DFM_INVALID_ARGUMENT, NULL);

    dfm_tensor_release(a);
    dfm_tensor_release(r);
}

/* ---------------------------------------------------------------- reductions, shape */

static void test_reduce_and_shape(void) {
    dfm_tensor a = mat(2, 3, 1), out = NULL;
    int64_t d1 = 1, dneg = -1, dbad = 5, dims[4];
    int64_t shp[3] = {3, -1, 1}, shp2[2] = {-1, -1}, shp3[2] = {4, 2}, shp4[3] = {2, 2, 3}, shp5[2] = {-1, 3};
    float v[6];

    OK(dfm_sum(a, NULL, 0, false, &out));
    CHECK(first(out) == 21);
    dfm_tensor_release(out);
    OK(dfm_sum(a, &d1, 1, true, &out));
    OK(dfm_tensor_shape(out, dims, 4));
    CHECK(dims[0] == 2 && dims[1] == 1);
    dfm_tensor_release(out);
    ERR(dfm_sum(a, &dbad, 1, false, &out), DFM_INDEX_ERROR, "5");
    ERR(dfm_sum(a, NULL, 1, false, &out), DFM_INVALID_ARGUMENT, "dims");
    ERR(dfm_sum(a, &d1, -1, false, &out), DFM_INVALID_ARGUMENT, "-1");
    ERR(dfm_sum(a, &d1, INT64_MAX, false, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_sum(RELEASED, NULL, 0, false, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_sum(a, NULL, 0, false, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_mean(a, &dneg, 1, false, &out));
    OK(dfm_tensor_read(out, v, 8));
    CHECK(v[0] == 2 && v[1] == 5);
    dfm_tensor_release(out);
    ERR(dfm_mean(a, &dbad, 1, false, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_mean(NULL, NULL, 0, false, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_mean(a, NULL, 0, false, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_cumsum(a, 1, &out)); /* [[1, 3, 6], [4, 9, 15]] */
    CHECK(at(out, 2) == 6 && at(out, 5) == 15);
    dfm_tensor_release(out);
    OK(dfm_cumsum(a, -2, &out));
    CHECK(at(out, 3) == 5 && at(out, 0) == 1);
    dfm_tensor_release(out);
    ERR(dfm_cumsum(a, 2, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_cumsum(NULL, 0, &out), DFM_INVALID_ARGUMENT, "'x'");
    ERR(dfm_cumsum(a, 0, NULL), DFM_INVALID_ARGUMENT, NULL);

    OK(dfm_reshape(a, shp, 3, &out));
    OK(dfm_tensor_shape(out, dims, 4));
    CHECK(dims[0] == 3 && dims[1] == 2 && dims[2] == 1);
    dfm_tensor_release(out);
    ERR(dfm_reshape(a, shp2, 2, &out), DFM_INVALID_ARGUMENT, "one dimension");
    ERR(dfm_reshape(a, shp3, 2, &out), DFM_SHAPE_MISMATCH, "size 6");
    ERR(dfm_reshape(a, NULL, 2, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_reshape(a, shp3, -2, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_reshape(NULL, shp3, 2, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_reshape(a, shp3, 2, NULL), DFM_INVALID_ARGUMENT, NULL);

    OK(dfm_expand(a, shp4, 3, &out));
    CHECK(numel(out) == 12);
    dfm_tensor_release(out);
    {
        int64_t e[3] = {4, -1, -1};
        OK(dfm_expand(a, e, 3, &out));
        CHECK(numel(out) == 24);
        dfm_tensor_release(out);
    }
    ERR(dfm_expand(a, shp5, 1, &out), DFM_SHAPE_MISMATCH, NULL);
    ERR(dfm_expand(a, shp3, 2, &out), DFM_SHAPE_MISMATCH, "non-singleton");
    {
        int64_t e[3] = {-1, 2, 3};
        ERR(dfm_expand(a, e, 3, &out), DFM_INVALID_ARGUMENT, "-1");
    }
    ERR(dfm_expand(NULL, shp4, 3, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_expand(a, shp4, 3, NULL), DFM_INVALID_ARGUMENT, NULL);
    dfm_tensor_release(a);
}

/* ---------------------------------------------------------------- more shape ops */

static void test_shape_ops(void) {
    dfm_tensor a = mat(2, 3, 1), v4 = vec(4, 0), out = NULL, out2 = NULL;
    int64_t p10[2] = {1, 0}, p00[2] = {0, 0}, dims[4], s213[3] = {2, 1, 3};
    dfm_tensor pair[2], bad_pair[2];

    OK(dfm_permute(a, p10, 2, &out));
    OK(dfm_tensor_shape(out, dims, 4));
    CHECK(dims[0] == 3 && dims[1] == 2 && at(out, 1) == 4);
    dfm_tensor_release(out);
    BAD(dfm_permute(a, p00, 2, &out));
    BAD(dfm_permute(a, p10, 1, &out));
    ERR(dfm_permute(a, NULL, 2, &out), DFM_INVALID_ARGUMENT, "dims");
    ERR(dfm_permute(a, p10, -3, &out), DFM_INVALID_ARGUMENT, "-3");
    ERR(dfm_permute(NULL, p10, 2, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_permute(a, p10, 2, NULL), DFM_INVALID_ARGUMENT, NULL);

    OK(dfm_transpose(a, 0, 1, &out));
    CHECK(at(out, 1) == 4);
    dfm_tensor_release(out);
    ERR(dfm_transpose(a, 0, 5, &out), DFM_INDEX_ERROR, "5");
    ERR(dfm_transpose(a, INT64_MIN, 0, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_transpose(RELEASED, 0, 1, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_transpose(a, 0, 1, NULL), DFM_INVALID_ARGUMENT, NULL);

    OK(dfm_narrow(a, 1, 1, 2, &out));
    CHECK(numel(out) == 4 && at(out, 0) == 2 && at(out, 2) == 5);
    dfm_tensor_release(out);
    ERR(dfm_narrow(a, 1, 2, 5, &out), DFM_INDEX_ERROR, "exceeds");
    ERR(dfm_narrow(a, 1, 0, -1, &out), DFM_INVALID_ARGUMENT, "-1");
    BAD(dfm_narrow(a, 1, INT64_MAX, 1, &out));
    BAD(dfm_narrow(a, 1, INT64_MIN, INT64_MAX, &out));
    BAD(dfm_narrow(a, 1, 1, INT64_MAX, &out));
    ERR(dfm_narrow(a, 7, 0, 1, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_narrow(NULL, 1, 0, 1, &out), DFM_INVALID_ARGUMENT, NULL);

    OK(dfm_slice(a, 1, true, 1, false, 0, 2, &out));
    CHECK(numel(out) == 2 && at(out, 0) == 2 && at(out, 1) == 5);
    dfm_tensor_release(out);
    OK(dfm_slice(a, -1, true, INT64_MIN, true, INT64_MAX, 1, &out)); /* Python clamps */
    CHECK(numel(out) == 6);
    dfm_tensor_release(out);
    OK(dfm_slice(a, 0, true, 5, true, 1, 1, &out)); /* empty */
    CHECK(numel(out) == 0);
    dfm_tensor_release(out);
    ERR(dfm_slice(a, 1, false, 0, false, 0, 0, &out), DFM_INVALID_ARGUMENT, "step");
    ERR(dfm_slice(a, 1, false, 0, false, 0, INT64_MIN, &out), DFM_INVALID_ARGUMENT, "step");
    ERR(dfm_slice(a, 9, false, 0, false, 0, 1, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_slice(FOREIGN, 0, false, 0, false, 0, 1, &out), DFM_INVALID_ARGUMENT, NULL);

    OK(dfm_select(a, 0, -1, &out));
    CHECK(ndim_of(out) == 1 && at(out, 0) == 4);
    dfm_tensor_release(out);
    ERR(dfm_select(a, 0, 2, &out), DFM_INDEX_ERROR, "index 2");
    ERR(dfm_select(a, 0, INT64_MIN, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_select(a, INT64_MAX, 0, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_select(a, 0, 0, NULL), DFM_INVALID_ARGUMENT, NULL);

    /* index_select: repeats allowed; negative or out-of-range entries and non-int64 indices fail */
    {
        int64_t idx[3] = {2, 0, 2}, neg1[1] = {-1}, n3 = 3, n1 = 1;
        dfm_tensor it = NULL, ineg = NULL;
        OK(dfm_tensor_from_data(idx, sizeof idx, &n3, 1, DFM_INT64, &it));
        OK(dfm_tensor_from_data(neg1, sizeof neg1, &n1, 1, DFM_INT64, &ineg));
        OK(dfm_index_select(a, 1, it, &out));
        OK(dfm_tensor_shape(out, dims, 4));
        CHECK(dims[0] == 2 && dims[1] == 3 && at(out, 0) == 3 && at(out, 1) == 1 && at(out, 5) == 6);
        dfm_tensor_release(out);
        ERR(dfm_index_select(a, 1, ineg, &out), DFM_INDEX_ERROR, "index -1");
        ERR(dfm_index_select(a, 0, it, &out), DFM_INDEX_ERROR, "index 2");
        ERR(dfm_index_select(a, 2, it, &out), DFM_INDEX_ERROR, NULL);
        ERR(dfm_index_select(a, 0, a, &out), DFM_TYPE_ERROR, "int64");
        ERR(dfm_index_select(NULL, 0, it, &out), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_index_select(a, 0, NULL, &out), DFM_INVALID_ARGUMENT, "index");
        ERR(dfm_index_select(a, 0, it, NULL), DFM_INVALID_ARGUMENT, NULL);
        { /* gather along dim 1 of [[1, 2, 3], [4, 5, 6]] */
            int64_t gi[4] = {2, 0, 1, 1}, s22g[2] = {2, 2}, s32g[2] = {3, 2};
            dfm_tensor g = NULL, g3 = NULL;
            OK(dfm_tensor_from_data(gi, sizeof gi, s22g, 2, DFM_INT64, &g));
            OK(dfm_gather(a, 1, g, &out));
            CHECK(at(out, 0) == 3 && at(out, 1) == 1 && at(out, 2) == 5 && at(out, 3) == 5);
            dfm_tensor_release(out);
            ERR(dfm_gather(a, 0, g, &out), DFM_INDEX_ERROR, "index 2");
            OK(dfm_tensor_zeros(s32g, 2, DFM_INT64, &g3));
            ERR(dfm_gather(a, 1, g3, &out), DFM_SHAPE_MISMATCH, "no larger");
            ERR(dfm_gather(a, 1, it, &out), DFM_SHAPE_MISMATCH, "dimensions");
            ERR(dfm_gather(a, 1, a, &out), DFM_TYPE_ERROR, "int64");
            ERR(dfm_gather(a, 5, g, &out), DFM_INDEX_ERROR, NULL);
            ERR(dfm_gather(NULL, 1, g, &out), DFM_INVALID_ARGUMENT, "'x'");
            ERR(dfm_gather(a, 1, NULL, &out), DFM_INVALID_ARGUMENT, "index");
            ERR(dfm_gather(a, 1, g, NULL), DFM_INVALID_ARGUMENT, NULL);
            CHECK(out == NULL);
            /* scatter / scatter_add back along dim 1 */
            {
                float sv[4] = {10, 20, 30, 40};
                dfm_tensor src = T(sv, s22g, 2);
                OK(dfm_scatter(a, 1, g, src, &out)); /* row 0: col 2 <- 10, col 0 <- 20; row 1: col 1 <- 40 (last) */
                CHECK(at(out, 0) == 20 && at(out, 1) == 2 && at(out, 2) == 10 && at(out, 4) == 40 && at(out, 5) == 6);
                dfm_tensor_release(out);
                OK(dfm_scatter_add(a, 1, g, src, &out)); /* row 1: col 1 gets 5 + 30 + 40 */
                CHECK(at(out, 0) == 21 && at(out, 4) == 75);
                dfm_tensor_release(out);
                ERR(dfm_scatter(a, 1, g, g, &out), DFM_TYPE_ERROR, "dtype");
                ERR(dfm_scatter(a, 1, g3, src, &out), DFM_SHAPE_MISMATCH, NULL);
                ERR(dfm_scatter_add(a, 0, g, src, &out), DFM_INDEX_ERROR, "index 2");
                ERR(dfm_scatter_add(a, 1, a, src, &out), DFM_TYPE_ERROR, "int64");
                ERR(dfm_scatter(a, 1, g, NULL, &out), DFM_INVALID_ARGUMENT, "src");
                ERR(dfm_scatter_add(NULL, 1, g, src, &out), DFM_INVALID_ARGUMENT, "'x'");
                ERR(dfm_scatter(a, 1, g, src, NULL), DFM_INVALID_ARGUMENT, NULL);
                ERR(dfm_scatter_add(a, 1, g, src, NULL), DFM_INVALID_ARGUMENT, NULL);
                CHECK(out == NULL);
                dfm_tensor_release(src);
            }
            dfm_tensor_release(g3);
            dfm_tensor_release(g);
        }
        dfm_tensor_release(it);
        dfm_tensor_release(ineg);
    }

    pair[0] = a;
    pair[1] = a;
    bad_pair[0] = a;
    bad_pair[1] = v4;
    OK(dfm_cat(pair, 2, 0, &out));
    OK(dfm_tensor_shape(out, dims, 4));
    CHECK(dims[0] == 4 && dims[1] == 3 && at(out, 6) == 1);
    dfm_tensor_release(out);
    OK(dfm_cat(pair, 1, -1, &out));
    CHECK(numel(out) == 6);
    dfm_tensor_release(out);
    BAD(dfm_cat(bad_pair, 2, 0, &out));
    ERR(dfm_cat(pair, 2, 5, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_cat(NULL, 2, 0, &out), DFM_INVALID_ARGUMENT, "tensors");
    ERR(dfm_cat(pair, 0, 0, &out), DFM_INVALID_ARGUMENT, "got 0");
    ERR(dfm_cat(pair, -1, 0, &out), DFM_INVALID_ARGUMENT, "-1");
    ERR(dfm_cat(pair, INT64_MAX, 0, &out), DFM_INVALID_ARGUMENT, NULL);
    bad_pair[1] = RELEASED;
    ERR(dfm_cat(bad_pair, 2, 0, &out), DFM_INVALID_ARGUMENT, "tensors[1]");
    bad_pair[1] = NULL;
    ERR(dfm_cat(bad_pair, 2, 0, &out), DFM_INVALID_ARGUMENT, "tensors[1]");
    ERR(dfm_cat(pair, 2, 0, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_stack(pair, 2, 0, &out));
    CHECK(ndim_of(out) == 3 && numel(out) == 12);
    dfm_tensor_release(out);
    bad_pair[1] = v4;
    BAD(dfm_stack(bad_pair, 2, 0, &out));
    ERR(dfm_stack(pair, 2, 4, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_stack(NULL, 1, 0, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_stack(pair, 0, 0, &out), DFM_INVALID_ARGUMENT, NULL);

    OK(dfm_reshape(a, s213, 3, &out2));
    OK(dfm_squeeze(out2, false, 0, &out));
    CHECK(ndim_of(out) == 2);
    dfm_tensor_release(out);
    OK(dfm_squeeze(out2, true, 1, &out));
    CHECK(ndim_of(out) == 2);
    dfm_tensor_release(out);
    OK(dfm_squeeze(out2, true, 0, &out)); /* size 2: unchanged */
    CHECK(ndim_of(out) == 3);
    dfm_tensor_release(out);
    ERR(dfm_squeeze(out2, true, 5, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_squeeze(NULL, false, 0, &out), DFM_INVALID_ARGUMENT, NULL);
    dfm_tensor_release(out2);
    OK(dfm_unsqueeze(a, 0, &out));
    CHECK(ndim_of(out) == 3);
    dfm_tensor_release(out);
    OK(dfm_unsqueeze(a, -1, &out));
    CHECK(ndim_of(out) == 3);
    dfm_tensor_release(out);
    ERR(dfm_unsqueeze(a, 7, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_unsqueeze(a, INT64_MIN, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_unsqueeze(a, 0, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_flatten(a, 0, -1, &out));
    CHECK(ndim_of(out) == 1);
    dfm_tensor_release(out);
    ERR(dfm_flatten(a, 1, 0, &out), DFM_INVALID_ARGUMENT, "start_dim");
    ERR(dfm_flatten(a, 0, 9, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_flatten(RELEASED, 0, 1, &out), DFM_INVALID_ARGUMENT, NULL);

    dfm_tensor_release(a);
    dfm_tensor_release(v4);
}

/* ---------------------------------------------------------------- compare, max/min, softmax */

static void test_compare_and_reduce(void) {
    dfm_tensor a = mat(2, 3, 1), z = NULL, it = NULL, out = NULL, idx = NULL, mask = NULL, e = NULL;
    int64_t s0 = 0;
    OK(dfm_tensor_zeros(s23, 2, DFM_FLOAT32, &z));
    OK(dfm_tensor_ones(s23, 2, DFM_INT64, &it));

    OK(dfm_eq(a, a, &out));
    CHECK(atb(out, 0) == 1 && atb(out, 5) == 1);
    dfm_tensor_release(out);
    OK(dfm_ne(a, z, &out));
    CHECK(atb(out, 0) == 1);
    dfm_tensor_release(out);
    OK(dfm_lt(a, z, &out));
    CHECK(atb(out, 0) == 0);
    dfm_tensor_release(out);
    OK(dfm_le(a, a, &out));
    CHECK(atb(out, 3) == 1);
    dfm_tensor_release(out);
    OK(dfm_gt(a, it, &out)); /* int64 vs float compares in float */
    CHECK(atb(out, 0) == 0 && atb(out, 1) == 1);
    dfm_tensor_release(out);
    OK(dfm_ge(a, z, &out));
    CHECK(atb(out, 5) == 1);
    dfm_tensor_release(out);
    bad_binary(dfm_eq, "dfm_eq", __LINE__);
    bad_binary(dfm_ne, "dfm_ne", __LINE__);
    bad_binary(dfm_lt, "dfm_lt", __LINE__);
    bad_binary(dfm_le, "dfm_le", __LINE__);
    bad_binary(dfm_gt, "dfm_gt", __LINE__);
    bad_binary(dfm_ge, "dfm_ge", __LINE__);
    OK(dfm_eq_scalar(a, 2, &out));
    CHECK(atb(out, 1) == 1 && atb(out, 0) == 0);
    dfm_tensor_release(out);
    OK(dfm_ne_scalar(a, NAN, &out)); /* NaN is unequal to everything */
    CHECK(atb(out, 0) == 1);
    dfm_tensor_release(out);
    OK(dfm_lt_scalar(a, 2, &out));
    CHECK(atb(out, 0) == 1 && atb(out, 1) == 0);
    dfm_tensor_release(out);
    OK(dfm_le_scalar(a, 2, &out));
    CHECK(atb(out, 1) == 1);
    dfm_tensor_release(out);
    OK(dfm_gt_scalar(a, 3, &out));
    CHECK(atb(out, 2) == 0 && atb(out, 3) == 1);
    dfm_tensor_release(out);
    OK(dfm_ge_scalar(a, 3, &out));
    CHECK(atb(out, 2) == 1);
    dfm_tensor_release(out);
    bad_scalar(dfm_eq_scalar, "dfm_eq_scalar", __LINE__);
    bad_scalar(dfm_ne_scalar, "dfm_ne_scalar", __LINE__);
    bad_scalar(dfm_lt_scalar, "dfm_lt_scalar", __LINE__);
    bad_scalar(dfm_le_scalar, "dfm_le_scalar", __LINE__);
    bad_scalar(dfm_gt_scalar, "dfm_gt_scalar", __LINE__);
    bad_scalar(dfm_ge_scalar, "dfm_ge_scalar", __LINE__);

    OK(dfm_gt_scalar(a, 3, &mask));
    OK(dfm_where(mask, a, z, &out));
    CHECK(at(out, 0) == 0 && at(out, 5) == 6);
    dfm_tensor_release(out);
    ERR(dfm_where(NULL, a, z, &out), DFM_INVALID_ARGUMENT, "cond");
    ERR(dfm_where(mask, it, z, &out), DFM_TYPE_ERROR, "int64");
    ERR(dfm_where(mask, a, RELEASED, &out), DFM_INVALID_ARGUMENT, "'b'");
    ERR(dfm_where(mask, a, z, NULL), DFM_INVALID_ARGUMENT, NULL);

    /* logical ops: any dtype in (nonzero is true), bool out, broadcasting */
    OK(dfm_logical_and(mask, a, &out)); /* a > 3 and a != 0 */
    CHECK(atb(out, 2) == 0 && atb(out, 3) == 1);
    dfm_tensor_release(out);
    OK(dfm_logical_or(mask, z, &out));
    CHECK(atb(out, 0) == 0 && atb(out, 5) == 1);
    dfm_tensor_release(out);
    OK(dfm_logical_xor(mask, it, &out)); /* it is all ones */
    CHECK(atb(out, 0) == 1 && atb(out, 5) == 0);
    dfm_tensor_release(out);
    OK(dfm_logical_not(mask, &out));
    CHECK(atb(out, 0) == 1 && atb(out, 5) == 0);
    dfm_tensor_release(out);
    bad_binary(dfm_logical_and, "dfm_logical_and", __LINE__);
    bad_binary(dfm_logical_or, "dfm_logical_or", __LINE__);
    bad_binary(dfm_logical_xor, "dfm_logical_xor", __LINE__);
    bad_unary(dfm_logical_not, "dfm_logical_not", INT64_TO_BOOL, __LINE__);

    /* bool arithmetic follows torch: + and * of bools are or / and, - is refused */
    OK(dfm_add(mask, mask, &out));
    CHECK(atb(out, 5) == 1 && atb(out, 0) == 0);
    dfm_tensor_release(out);
    ERR(dfm_sub(mask, mask, &out), DFM_TYPE_ERROR, "bool");
    ERR(dfm_neg(mask, &out), DFM_TYPE_ERROR, "logical_not");
    OK(dfm_sum(mask, NULL, 0, false, &out)); /* a bool sum counts: int64 */
    CHECK(at64(out, 0) == 3);
    dfm_tensor_release(out);

    /* nonzero and masked_select */
    OK(dfm_nonzero(mask, &out)); /* a > 3 at [1,0], [1,1], [1,2] */
    CHECK(ndim_of(out) == 2 && numel(out) == 6 && at64(out, 0) == 1 && at64(out, 1) == 0 && at64(out, 5) == 2);
    dfm_tensor_release(out);
    ERR(dfm_nonzero(NULL, &out), DFM_INVALID_ARGUMENT, "'x'");
    ERR(dfm_nonzero(mask, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_masked_select(a, mask, &out));
    CHECK(numel(out) == 3 && at(out, 0) == 4 && at(out, 2) == 6);
    dfm_tensor_release(out);
    ERR(dfm_masked_select(a, a, &out), DFM_TYPE_ERROR, "bool mask");
    ERR(dfm_masked_select(a, NULL, &out), DFM_INVALID_ARGUMENT, "'mask'");
    ERR(dfm_masked_select(RELEASED, mask, &out), DFM_INVALID_ARGUMENT, "released");
    ERR(dfm_masked_select(a, mask, NULL), DFM_INVALID_ARGUMENT, NULL);
    {
        dfm_tensor m4 = NULL;
        int64_t s4 = 4;
        OK(dfm_tensor_zeros(&s4, 1, DFM_BOOL, &m4));
        ERR(dfm_masked_select(a, m4, &out), DFM_SHAPE_MISMATCH, NULL);
        CHECK(out == NULL);
        dfm_tensor_release(m4);
    }

    OK(dfm_max(a, &out));
    CHECK(at(out, 0) == 6 && ndim_of(out) == 0);
    dfm_tensor_release(out);
    OK(dfm_min(a, &out));
    CHECK(at(out, 0) == 1);
    dfm_tensor_release(out);
    OK(dfm_tensor_zeros(&s0, 1, DFM_FLOAT32, &e));
    BAD(dfm_max(e, &out));
    BAD(dfm_min(e, &out));
    ERR(dfm_max(NULL, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_min(a, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_max_dim(a, 1, false, &out, &idx));
    CHECK(at(out, 0) == 3 && at(out, 1) == 6 && at64(idx, 0) == 2 && at64(idx, 1) == 2);
    dfm_tensor_release(out);
    dfm_tensor_release(idx);
    OK(dfm_min_dim(a, 0, true, &out, &idx));
    CHECK(ndim_of(out) == 2 && at(out, 2) == 3 && at64(idx, 2) == 0);
    dfm_tensor_release(out);
    dfm_tensor_release(idx);
    ERR(dfm_max_dim(a, 1, false, NULL, &idx), DFM_INVALID_ARGUMENT, "values");
    ERR(dfm_max_dim(a, 1, false, &out, NULL), DFM_INVALID_ARGUMENT, "indices");
    ERR(dfm_max_dim(a, 4, false, &out, &idx), DFM_INDEX_ERROR, NULL);
    CHECK(out == NULL && idx == NULL);
    ERR(dfm_min_dim(RELEASED, 0, false, &out, &idx), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_min_dim(a, INT64_MIN, false, &out, &idx), DFM_INDEX_ERROR, NULL);
    BAD(dfm_max_dim(e, 0, false, &out, &idx));
    /* sort / topk: a is [[1, 2, 3], [4, 5, 6]] */
    OK(dfm_sort(a, 1, true, &out, &idx));
    CHECK(at(out, 0) == 3 && at(out, 5) == 4 && at64(idx, 0) == 2 && at64(idx, 5) == 0);
    dfm_tensor_release(out);
    dfm_tensor_release(idx);
    OK(dfm_topk(a, 1, 0, false, &out, &idx));
    CHECK(numel(out) == 3 && at(out, 2) == 3 && at64(idx, 2) == 0);
    dfm_tensor_release(out);
    dfm_tensor_release(idx);
    ERR(dfm_topk(a, 4, 1, true, &out, &idx), DFM_SHAPE_MISMATCH, "out of range");
    ERR(dfm_topk(a, -1, 1, true, &out, &idx), DFM_SHAPE_MISMATCH, NULL);
    ERR(dfm_topk(a, 1, 2, true, &out, &idx), DFM_INDEX_ERROR, NULL);
    ERR(dfm_sort(a, INT64_MIN, false, &out, &idx), DFM_INDEX_ERROR, NULL);
    CHECK(out == NULL && idx == NULL);
    ERR(dfm_sort(NULL, 0, false, &out, &idx), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_sort(a, 0, false, NULL, &idx), DFM_INVALID_ARGUMENT, "values");
    ERR(dfm_topk(RELEASED, 1, 0, true, &out, &idx), DFM_INVALID_ARGUMENT, "released");
    ERR(dfm_topk(a, 1, 0, true, &out, NULL), DFM_INVALID_ARGUMENT, "indices");

    OK(dfm_argmax(a, false, 0, false, &out));
    CHECK(at64(out, 0) == 5);
    dfm_tensor_release(out);
    OK(dfm_argmax(a, true, 0, false, &out));
    CHECK(numel(out) == 3 && at64(out, 0) == 1);
    dfm_tensor_release(out);
    OK(dfm_argmin(a, true, -1, true, &out));
    CHECK(numel(out) == 2 && at64(out, 1) == 0);
    dfm_tensor_release(out);
    ERR(dfm_argmax(a, true, 2, false, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_argmin(a, true, -3, false, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_argmax(NULL, false, 0, false, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_argmin(a, false, 0, false, NULL), DFM_INVALID_ARGUMENT, NULL);
    BAD(dfm_argmax(e, false, 0, false, &out));

    OK(dfm_softmax(a, 1, &out));
    CHECK(fabsf(at(out, 0) + at(out, 1) + at(out, 2) - 1) < 1e-6f);
    dfm_tensor_release(out);
    OK(dfm_log_softmax(a, -1, &out));
    CHECK(at(out, 2) < 0);
    dfm_tensor_release(out);
    ERR(dfm_softmax(a, 2, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_log_softmax(a, INT64_MAX, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_softmax(it, 0, &out), DFM_TYPE_ERROR, NULL);
    ERR(dfm_softmax(NULL, 0, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_log_softmax(a, 0, NULL), DFM_INVALID_ARGUMENT, NULL);

    dfm_tensor_release(e);
    dfm_tensor_release(mask);
    dfm_tensor_release(a);
    dfm_tensor_release(z);
    dfm_tensor_release(it);
}

/* ---------------------------------------------------------------- linear algebra */

static void test_linalg(void) {
    dfm_tensor a = mat(2, 3, 1), at_ = NULL, w = mat(4, 3, 0), b = vec(4, 0), b5 = vec(5, 0), out = NULL, q = NULL,
               r = NULL;
    int64_t s123[3] = {1, 2, 3}, s132[3] = {1, 3, 2};
    dfm_tensor a3 = NULL, b3 = NULL;

    OK(dfm_transpose(a, 0, 1, &at_));
    OK(dfm_matmul(a, at_, &out));
    CHECK(numel(out) == 4 && at(out, 0) == 14);
    dfm_tensor_release(out);
    ERR(dfm_matmul(a, a, &out), DFM_SHAPE_MISMATCH, NULL);
    bad_binary(dfm_matmul, "dfm_matmul", __LINE__);
    OK(dfm_reshape(a, s123, 3, &a3));
    OK(dfm_reshape(at_, s132, 3, &b3));
    OK(dfm_bmm(a3, b3, &out));
    CHECK(numel(out) == 4 && at(out, 0) == 14);
    dfm_tensor_release(out);
    BAD(dfm_bmm(a, at_, &out)); /* 2-D */
    ERR(dfm_bmm(a3, NULL, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_bmm(a3, b3, NULL), DFM_INVALID_ARGUMENT, NULL);
    { /* mm / mv / dot / outer / addmm / baddbmm (a = [[1,2,3],[4,5,6]]) */
        dfm_tensor v3 = vec(3, 1), v2 = vec(2, 1), m22 = NULL, nanm = NULL;
        int64_t s22[2] = {2, 2};
        OK(dfm_mm(a, at_, &out));
        CHECK(numel(out) == 4 && at(out, 0) == 14);
        dfm_tensor_release(out);
        ERR(dfm_mm(a, v3, &out), DFM_SHAPE_MISMATCH, "mat2 must be a 2D tensor");
        CHECK(out == NULL);
        OK(dfm_mv(a, v3, &out));
        CHECK(numel(out) == 2 && at(out, 0) == 14);
        dfm_tensor_release(out);
        ERR(dfm_mv(a, a, &out), DFM_SHAPE_MISMATCH, "vec");
        OK(dfm_dot(v3, v3, &out));
        CHECK(ndim_of(out) == 0 && at(out, 0) == 14);
        dfm_tensor_release(out);
        ERR(dfm_dot(v3, v2, &out), DFM_SHAPE_MISMATCH, "same number of elements");
        OK(dfm_outer(v2, v3, &out));
        CHECK(numel(out) == 6 && at(out, 5) == 6);
        dfm_tensor_release(out);
        ERR(dfm_outer(a, v3, &out), DFM_SHAPE_MISMATCH, NULL);
        OK(dfm_tensor_full(s22, 2, NAN, DFM_FLOAT32, &nanm));
        OK(dfm_addmm(nanm, a, at_, 0.0, 0.5, &out)); /* beta 0: input ignored, NaN included */
        CHECK(at(out, 0) == 7 && at(out, 3) == 38.5f);
        dfm_tensor_release(out);
        OK(dfm_tensor_full(s22, 2, 1, DFM_FLOAT32, &m22));
        OK(dfm_addmm(m22, a, at_, 2.0, 1.0, &out));
        CHECK(at(out, 0) == 16);
        dfm_tensor_release(out);
        ERR(dfm_addmm(v3, a, at_, 1.0, 1.0, &out), DFM_SHAPE_MISMATCH, "broadcast");
        ERR(dfm_addmm(NULL, a, at_, 1.0, 1.0, &out), DFM_INVALID_ARGUMENT, "input");
        OK(dfm_bmm(a3, b3, &out));
        {
            dfm_tensor bb = NULL;
            OK(dfm_baddbmm(out, a3, b3, 1.0, 1.0, &bb));
            CHECK(at(bb, 0) == 28);
            dfm_tensor_release(bb);
            ERR(dfm_baddbmm(out, a, at_, 1.0, 1.0, &bb), DFM_SHAPE_MISMATCH, NULL);
            ERR(dfm_baddbmm(out, a3, b3, 1.0, 1.0, NULL), DFM_INVALID_ARGUMENT, NULL);
        }
        dfm_tensor_release(out);
        ERR(dfm_mm(NULL, a, &out), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_mv(a, RELEASED, &out), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_dot(v3, (dfm_tensor)FOREIGN, &out), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_outer(v2, v3, NULL), DFM_INVALID_ARGUMENT, NULL);
        dfm_tensor_release(m22);
        dfm_tensor_release(nanm);
        dfm_tensor_release(v2);
        dfm_tensor_release(v3);
    }
    OK(dfm_linear(a, w, b, &out));
    CHECK(numel(out) == 8 && at(out, 0) == 8); /* 1*0+2*1+3*2 + 0 */
    dfm_tensor_release(out);
    OK(dfm_linear(a, w, NULL, &out));
    dfm_tensor_release(out);
    ERR(dfm_linear(a, w, b5, &out), DFM_SHAPE_MISMATCH, NULL);
    ERR(dfm_linear(a, at_, NULL, &out), DFM_SHAPE_MISMATCH, NULL);
    ERR(dfm_linear(a, NULL, NULL, &out), DFM_INVALID_ARGUMENT, "weight");
    ERR(dfm_linear(a, w, RELEASED, &out), DFM_INVALID_ARGUMENT, "bias");
    ERR(dfm_linear(a, w, b, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_qr(a, "reduced", &q, &r));
    CHECK(numel(q) == 4 && numel(r) == 6);
    dfm_tensor_release(q);
    dfm_tensor_release(r);
    OK(dfm_qr(at_, "r", &q, &r));
    CHECK(numel(q) == 0 && numel(r) == 4);
    dfm_tensor_release(q);
    dfm_tensor_release(r);
    ERR(dfm_qr(a, "bogus", &q, &r), DFM_INVALID_ARGUMENT, "bogus");
    ERR(dfm_qr(a, NULL, &q, &r), DFM_INVALID_ARGUMENT, "mode");
    ERR(dfm_qr(a, "reduced", NULL, &r), DFM_INVALID_ARGUMENT, "'q'");
    ERR(dfm_qr(a, "reduced", &q, NULL), DFM_INVALID_ARGUMENT, "'r'");
    ERR(dfm_qr(b, "reduced", &q, &r), DFM_SHAPE_MISMATCH, "2 dimensions");
    ERR(dfm_qr(NULL, "reduced", &q, &r), DFM_INVALID_ARGUMENT, NULL);

    dfm_tensor_release(a3);
    dfm_tensor_release(b3);
    dfm_tensor_release(a);
    dfm_tensor_release(at_);
    dfm_tensor_release(w);
    dfm_tensor_release(b);
    dfm_tensor_release(b5);
}

/* ---------------------------------------------------------------- conv, pool, interpolate */

static dfm_tensor image(int64_t n, int64_t c, int64_t h, int64_t w) {
    dfm_tensor v = vec(n * c * h * w, 0), out = NULL;
    int64_t s[4];
    s[0] = n;
    s[1] = c;
    s[2] = h;
    s[3] = w;
    OK(dfm_reshape(v, s, 4, &out));
    dfm_tensor_release(v);
    return out;
}

static void test_conv_pool(void) {
    dfm_tensor x = image(1, 1, 4, 4), w = NULL, w2 = NULL, b = NULL, out = NULL, x3 = vec(16, 0);
    int64_t ws[4] = {2, 1, 3, 3}, ws2[4] = {2, 3, 3, 3}, two = 2;
    int64_t one[2] = {1, 1}, zero[2] = {0, 0}, neg[2] = {-1, -1}, huge[2] = {INT64_MAX, INT64_MAX},
            bigpad[2] = {INT64_C(1) << 40, INT64_C(1) << 40}, k2[2] = {2, 2}, five[2] = {5, 5},
            minv[2] = {INT64_MIN, INT64_MIN};
    double sc2[2] = {2, 2}, scnan[2] = {NAN, NAN}, schuge[2] = {1e300, 1e300};
    int64_t s8[2] = {8, 8};

    OK(dfm_tensor_ones(ws, 4, DFM_FLOAT32, &w));
    OK(dfm_tensor_ones(ws2, 4, DFM_FLOAT32, &w2));
    OK(dfm_tensor_zeros(&two, 1, DFM_FLOAT32, &b));

    OK(dfm_conv2d(x, w, b, one, zero, one, 1, &out));
    CHECK(numel(out) == 8 && at(out, 0) == 45);
    dfm_tensor_release(out);
    OK(dfm_conv2d(x, w, NULL, k2, one, one, 1, &out));
    dfm_tensor_release(out);
    ERR(dfm_conv2d(x, w2, NULL, one, zero, one, 1, &out), DFM_SHAPE_MISMATCH, "channels");
    ERR(dfm_conv2d(x, w, b, NULL, zero, one, 1, &out), DFM_INVALID_ARGUMENT, "stride");
    ERR(dfm_conv2d(x, w, b, one, NULL, one, 1, &out), DFM_INVALID_ARGUMENT, "padding");
    ERR(dfm_conv2d(x, w, b, one, zero, NULL, 1, &out), DFM_INVALID_ARGUMENT, "dilation");
    BAD(dfm_conv2d(x, w, b, zero, zero, one, 1, &out));
    BAD(dfm_conv2d(x, w, b, neg, zero, one, 1, &out));
    BAD(dfm_conv2d(x, w, b, one, neg, one, 1, &out));
    BAD(dfm_conv2d(x, w, b, one, zero, zero, 1, &out));
    BAD(dfm_conv2d(x, w, b, one, bigpad, one, 1, &out));
    BAD(dfm_conv2d(x, w, b, one, huge, one, 1, &out));
    BAD(dfm_conv2d(x, w, b, one, zero, huge, 1, &out));
    BAD(dfm_conv2d(x, w, b, minv, minv, minv, 1, &out));
    BAD(dfm_conv2d(x, w, b, one, zero, one, 0, &out));
    BAD(dfm_conv2d(x, w, b, one, zero, one, INT64_MIN, &out));
    BAD(dfm_conv2d(x, w, b, one, zero, one, INT64_MAX, &out));
    BAD(dfm_conv2d(x3, w, b, one, zero, one, 1, &out));
    BAD(dfm_conv2d(x, x3, b, one, zero, one, 1, &out));
    ERR(dfm_conv2d(x, w, x3, one, zero, one, 1, &out), DFM_SHAPE_MISMATCH, NULL);
    ERR(dfm_conv2d(NULL, w, b, one, zero, one, 1, &out), DFM_INVALID_ARGUMENT, "'x'");
    ERR(dfm_conv2d(x, RELEASED, b, one, zero, one, 1, &out), DFM_INVALID_ARGUMENT, "weight");
    ERR(dfm_conv2d(x, w, b, one, zero, one, 1, NULL), DFM_INVALID_ARGUMENT, NULL);
    { /* conv_transpose2d: every input pixel spreads over a 3x3 block of each output channel */
        int64_t wts[4] = {1, 2, 3, 3}, op1[2] = {1, 1};
        dfm_tensor wt = NULL;
        OK(dfm_tensor_ones(wts, 4, DFM_FLOAT32, &wt));
        OK(dfm_conv_transpose2d(x, wt, b, one, zero, zero, one, 1, &out));
        CHECK(numel(out) == 72 && at(out, 0) == at(x, 0) && at(out, 1) == at(x, 0) + at(x, 1));
        dfm_tensor_release(out);
        OK(dfm_conv_transpose2d(x, wt, NULL, k2, one, op1, one, 1, &out)); /* (4-1)·2 - 2 + 2 + 1 + 1 = 8 */
        CHECK(numel(out) == 2 * 8 * 8);
        dfm_tensor_release(out);
        ERR(dfm_conv_transpose2d(x, wt, NULL, one, zero, op1, one, 1, &out), DFM_INVALID_ARGUMENT, "output padding");
        ERR(dfm_conv_transpose2d(x, w, NULL, one, zero, zero, one, 1, &out), DFM_SHAPE_MISMATCH, "channels");
        ERR(dfm_conv_transpose2d(x, wt, x3, one, zero, zero, one, 1, &out), DFM_SHAPE_MISMATCH, "bias");
        ERR(dfm_conv_transpose2d(x, wt, b, one, five, zero, one, 1, &out), DFM_SHAPE_MISMATCH, "too small");
        BAD(dfm_conv_transpose2d(x, wt, b, zero, zero, zero, one, 1, &out));
        BAD(dfm_conv_transpose2d(x, wt, b, one, neg, zero, one, 1, &out));
        BAD(dfm_conv_transpose2d(x, wt, b, one, zero, zero, one, 0, &out));
        BAD(dfm_conv_transpose2d(x, wt, b, huge, zero, zero, one, 1, &out));
        BAD(dfm_conv_transpose2d(x3, wt, b, one, zero, zero, one, 1, &out));
        ERR(dfm_conv_transpose2d(x, wt, b, one, zero, NULL, one, 1, &out), DFM_INVALID_ARGUMENT, "output_padding");
        ERR(dfm_conv_transpose2d(NULL, wt, b, one, zero, zero, one, 1, &out), DFM_INVALID_ARGUMENT, "'x'");
        ERR(dfm_conv_transpose2d(x, wt, b, one, zero, zero, one, 1, NULL), DFM_INVALID_ARGUMENT, NULL);
        CHECK(out == NULL);
        dfm_tensor_release(wt);
    }
    OK(dfm_conv2d_padding_mode(x, w, b, one, "same", one, 1, &out));
    CHECK(numel(out) == 32);
    dfm_tensor_release(out);
    OK(dfm_conv2d_padding_mode(x, w, b, one, "valid", one, 1, &out));
    CHECK(numel(out) == 8);
    dfm_tensor_release(out);
    ERR(dfm_conv2d_padding_mode(x, w, b, one, "bogus", one, 1, &out), DFM_INVALID_ARGUMENT, "bogus");
    ERR(dfm_conv2d_padding_mode(x, w, b, one, NULL, one, 1, &out), DFM_INVALID_ARGUMENT, "padding");
    BAD(dfm_conv2d_padding_mode(x, w, b, k2, "same", one, 1, &out)); /* torch: same needs stride 1 */
    ERR(dfm_conv2d_padding_mode(x, w, b, NULL, "same", one, 1, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_conv2d_padding_mode(NULL, w, b, one, "same", one, 1, &out), DFM_INVALID_ARGUMENT, NULL);

    OK(dfm_max_pool2d(x, k2, NULL, zero, one, false, &out));
    CHECK(numel(out) == 4 && at(out, 0) == 5);
    dfm_tensor_release(out);
    OK(dfm_max_pool2d(x, k2, one, one, one, true, &out));
    dfm_tensor_release(out);
    ERR(dfm_max_pool2d(x, NULL, NULL, zero, one, false, &out), DFM_INVALID_ARGUMENT, "kernel_size");
    BAD(dfm_max_pool2d(x, zero, NULL, zero, one, false, &out));
    BAD(dfm_max_pool2d(x, k2, zero, zero, one, false, &out));
    BAD(dfm_max_pool2d(x, k2, NULL, five, one, false, &out));
    BAD(dfm_max_pool2d(x, huge, NULL, zero, one, false, &out));
    BAD(dfm_max_pool2d(x, k2, huge, huge, huge, true, &out));
    BAD(dfm_max_pool2d(x, minv, minv, minv, minv, false, &out));
    BAD(dfm_max_pool2d(x3, k2, NULL, zero, one, false, &out));
    ERR(dfm_max_pool2d(NULL, k2, NULL, zero, one, false, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_max_pool2d(x, k2, NULL, zero, one, false, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_avg_pool2d(x, k2, NULL, zero, false, true, &out));
    CHECK(numel(out) == 4 && at(out, 0) == 2.5f);
    dfm_tensor_release(out);
    BAD(dfm_avg_pool2d(x, neg, NULL, zero, false, true, &out));
    BAD(dfm_avg_pool2d(x, k2, NULL, five, false, true, &out));
    BAD(dfm_avg_pool2d(x, huge, huge, huge, true, false, &out));
    BAD(dfm_avg_pool2d(x, minv, minv, minv, false, false, &out));
    ERR(dfm_avg_pool2d(x, NULL, NULL, zero, false, true, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_avg_pool2d(x, k2, NULL, NULL, false, true, &out), DFM_INVALID_ARGUMENT, "padding");
    ERR(dfm_avg_pool2d(RELEASED, k2, NULL, zero, false, true, &out), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_adaptive_avg_pool2d(x, one, &out));
    CHECK(numel(out) == 1 && at(out, 0) == 7.5f);
    dfm_tensor_release(out);
    BAD(dfm_adaptive_avg_pool2d(x, neg, &out));
    BAD(dfm_adaptive_avg_pool2d(x, huge, &out));
    BAD(dfm_adaptive_avg_pool2d(x3, one, &out));
    ERR(dfm_adaptive_avg_pool2d(x, NULL, &out), DFM_INVALID_ARGUMENT, "output_size");
    ERR(dfm_adaptive_avg_pool2d(x, one, NULL), DFM_INVALID_ARGUMENT, NULL);

    OK(dfm_interpolate(x, s8, NULL, "nearest", false, false, &out));
    CHECK(numel(out) == 64 && at(out, 1) == 0 && at(out, 2) == 1);
    dfm_tensor_release(out);
    OK(dfm_interpolate(x, NULL, sc2, "bilinear", true, true, &out));
    CHECK(numel(out) == 64);
    dfm_tensor_release(out);
    BAD(dfm_interpolate(x, NULL, NULL, "nearest", false, false, &out));
    BAD(dfm_interpolate(x, s8, sc2, "nearest", false, false, &out));
    ERR(dfm_interpolate(x, s8, NULL, "bogus", false, false, &out), DFM_INVALID_ARGUMENT, "bogus");
    ERR(dfm_interpolate(x, s8, NULL, NULL, false, false, &out), DFM_INVALID_ARGUMENT, "mode");
    ERR(dfm_interpolate(x, s8, NULL, "nearest", true, false, &out), DFM_INVALID_ARGUMENT, "align_corners");
    BAD(dfm_interpolate(x, NULL, scnan, "bilinear", false, false, &out));
    BAD(dfm_interpolate(x, NULL, schuge, "nearest", false, false, &out));
    BAD(dfm_interpolate(x, neg, NULL, "nearest", false, false, &out));
    BAD(dfm_interpolate(x, huge, NULL, "bilinear", false, false, &out));
    BAD(dfm_interpolate(x3, s8, NULL, "nearest", false, false, &out));
    ERR(dfm_interpolate(NULL, s8, NULL, "nearest", false, false, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_interpolate(x, s8, NULL, "nearest", false, false, NULL), DFM_INVALID_ARGUMENT, NULL);

    dfm_tensor_release(x);
    dfm_tensor_release(x3);
    dfm_tensor_release(w);
    dfm_tensor_release(w2);
    dfm_tensor_release(b);
}

/* ---------------------------------------------------------------- norms, losses, dropout */

static void test_norm_loss(void) {
    dfm_tensor x = image(2, 4, 2, 2), rm = NULL, rv = NULL, w = NULL, bias = NULL, w5 = vec(5, 0), out = NULL,
               x1 = vec(4, 0);
    int64_t four = 4, s22[2] = {2, 2}, s5 = 5;
    float rmv[4];

    OK(dfm_tensor_zeros(&four, 1, DFM_FLOAT32, &rm));
    OK(dfm_tensor_ones(&four, 1, DFM_FLOAT32, &rv));
    OK(dfm_tensor_ones(&four, 1, DFM_FLOAT32, &w));
    OK(dfm_tensor_zeros(&four, 1, DFM_FLOAT32, &bias));

    OK(dfm_batch_norm(x, rm, rv, w, bias, true, 0.1f, 1e-5f, &out));
    CHECK(numel(out) == 32);
    OK(dfm_tensor_read(rm, rmv, sizeof rmv));
    CHECK(rmv[0] != 0); /* running stats updated in place */
    dfm_tensor_release(out);
    OK(dfm_batch_norm(x, rm, rv, NULL, NULL, false, 0.1f, 1e-5f, &out));
    dfm_tensor_release(out);
    OK(dfm_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1f, 1e-5f, &out));
    dfm_tensor_release(out);
    ERR(dfm_batch_norm(x, w5, rv, w, bias, true, 0.1f, 1e-5f, &out), DFM_SHAPE_MISMATCH, NULL);
    ERR(dfm_batch_norm(x, rm, rv, w5, bias, true, 0.1f, 1e-5f, &out), DFM_SHAPE_MISMATCH, NULL);
    BAD(dfm_batch_norm(x, NULL, NULL, NULL, NULL, false, 0.1f, 1e-5f, &out)); /* eval needs running stats */
    BAD(dfm_batch_norm(x1, NULL, NULL, NULL, NULL, true, 0.1f, 1e-5f, &out));
    ERR(dfm_batch_norm(NULL, rm, rv, w, bias, true, 0.1f, 1e-5f, &out), DFM_INVALID_ARGUMENT, "'x'");
    ERR(dfm_batch_norm(x, RELEASED, rv, w, bias, true, 0.1f, 1e-5f, &out), DFM_INVALID_ARGUMENT, "running_mean");
    ERR(dfm_batch_norm(x, rm, rv, w, bias, true, 0.1f, 1e-5f, NULL), DFM_INVALID_ARGUMENT, NULL);

    OK(dfm_group_norm(x, 2, w, bias, 1e-5f, &out));
    CHECK(numel(out) == 32);
    dfm_tensor_release(out);
    BAD(dfm_group_norm(x, 3, NULL, NULL, 1e-5f, &out));
    BAD(dfm_group_norm(x, 0, NULL, NULL, 1e-5f, &out));
    BAD(dfm_group_norm(x, INT64_MIN, NULL, NULL, 1e-5f, &out));
    ERR(dfm_group_norm(x, 2, w5, NULL, 1e-5f, &out), DFM_SHAPE_MISMATCH, NULL);
    ERR(dfm_group_norm(NULL, 2, NULL, NULL, 1e-5f, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_group_norm(x, 2, NULL, NULL, 1e-5f, NULL), DFM_INVALID_ARGUMENT, NULL);

    OK(dfm_layer_norm(x, s22, 2, NULL, NULL, 1e-5f, &out));
    CHECK(numel(out) == 32);
    dfm_tensor_release(out);
    BAD(dfm_layer_norm(x, &s5, 1, NULL, NULL, 1e-5f, &out));
    ERR(dfm_layer_norm(x, NULL, 1, NULL, NULL, 1e-5f, &out), DFM_INVALID_ARGUMENT, "normalized_shape");
    ERR(dfm_layer_norm(x, s22, -1, NULL, NULL, 1e-5f, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_layer_norm(x, s22, 2, RELEASED, NULL, 1e-5f, &out), DFM_INVALID_ARGUMENT, "weight");
    ERR(dfm_layer_norm(x, s22, 2, NULL, NULL, 1e-5f, NULL), DFM_INVALID_ARGUMENT, NULL);

    {
        dfm_tensor logits = mat(2, 3, 0), tgt = NULL, tgt_bad = NULL, tgt_f = vec(2, 0), ones = NULL, pw5 = vec(5, 1);
        int64_t t[2] = {0, 2}, tb[2] = {0, 7}, two = 2;
        double l;
        OK(dfm_tensor_from_data(t, sizeof t, &two, 1, DFM_INT64, &tgt));
        OK(dfm_tensor_from_data(tb, sizeof tb, &two, 1, DFM_INT64, &tgt_bad));
        OK(dfm_cross_entropy(logits, tgt, NULL, -100, "mean", 0, &out));
        OK(dfm_tensor_item(out, &l));
        CHECK(fabs(l - 1.4076059) < 1e-5); /* -log_softmax([0,1,2])[0] and [3,4,5][2], averaged */
        dfm_tensor_release(out);
        OK(dfm_cross_entropy(logits, tgt, NULL, 2, "sum", 0.1f, &out));
        dfm_tensor_release(out);
        BAD(dfm_cross_entropy(logits, tgt_bad, NULL, -100, "mean", 0, &out));
        BAD(dfm_cross_entropy(logits, tgt_f, NULL, -100, "mean", 0, &out));
        BAD(dfm_cross_entropy(logits, tgt, NULL, -100, "mean", NAN, &out));
        BAD(dfm_cross_entropy(logits, tgt, NULL, -100, "mean", 2, &out));
        BAD(dfm_cross_entropy(logits, tgt, w5, -100, "mean", 0, &out));
        ERR(dfm_cross_entropy(logits, tgt, NULL, -100, "bogus", 0, &out), DFM_INVALID_ARGUMENT, "bogus");
        ERR(dfm_cross_entropy(logits, tgt, NULL, -100, NULL, 0, &out), DFM_INVALID_ARGUMENT, "reduction");
        ERR(dfm_cross_entropy(logits, NULL, NULL, -100, "mean", 0, &out), DFM_INVALID_ARGUMENT, "target");
        ERR(dfm_cross_entropy(logits, tgt, NULL, -100, "mean", 0, NULL), DFM_INVALID_ARGUMENT, NULL);
        OK(dfm_nll_loss(logits, tgt, NULL, -100, "mean", &out)); /* -(0 + 5) / 2 */
        OK(dfm_tensor_item(out, &l));
        CHECK(l == -2.5);
        dfm_tensor_release(out);
        OK(dfm_nll_loss(logits, tgt, NULL, 0, "none", &out)); /* target 0 ignored */
        CHECK(numel(out) == 2 && at(out, 0) == 0 && at(out, 1) == -5);
        dfm_tensor_release(out);
        BAD(dfm_nll_loss(logits, tgt_bad, NULL, -100, "mean", &out));
        BAD(dfm_nll_loss(logits, tgt_f, NULL, -100, "mean", &out));
        BAD(dfm_nll_loss(logits, tgt, w5, -100, "mean", &out));
        ERR(dfm_nll_loss(logits, tgt, NULL, -100, "bogus", &out), DFM_INVALID_ARGUMENT, "bogus");
        ERR(dfm_nll_loss(NULL, tgt, NULL, -100, "mean", &out), DFM_INVALID_ARGUMENT, "input");
        ERR(dfm_nll_loss(logits, tgt, RELEASED, -100, "mean", &out), DFM_INVALID_ARGUMENT, "weight");
        ERR(dfm_nll_loss(logits, tgt, NULL, -100, "mean", NULL), DFM_INVALID_ARGUMENT, NULL);

        OK(dfm_mse_loss(logits, logits, "sum", &out));
        CHECK(at(out, 0) == 0);
        dfm_tensor_release(out);
        OK(dfm_mse_loss(logits, logits, "none", &out));
        CHECK(numel(out) == 6);
        dfm_tensor_release(out);
        BAD(dfm_mse_loss(logits, w5, "mean", &out));
        ERR(dfm_mse_loss(logits, logits, "avg", &out), DFM_INVALID_ARGUMENT, "avg");
        ERR(dfm_mse_loss(NULL, logits, "mean", &out), DFM_INVALID_ARGUMENT, "input");
        ERR(dfm_mse_loss(logits, logits, "mean", NULL), DFM_INVALID_ARGUMENT, NULL);

        OK(dfm_tensor_ones(s23, 2, DFM_FLOAT32, &ones));
        OK(dfm_binary_cross_entropy_with_logits(logits, ones, NULL, NULL, "mean", &out));
        CHECK(at(out, 0) > 0);
        dfm_tensor_release(out);
        BAD(dfm_binary_cross_entropy_with_logits(logits, ones, NULL, pw5, "mean", &out));
        BAD(dfm_binary_cross_entropy_with_logits(logits, w5, NULL, NULL, "mean", &out));
        ERR(dfm_binary_cross_entropy_with_logits(logits, ones, NULL, NULL, NULL, &out), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_binary_cross_entropy_with_logits(logits, ones, RELEASED, NULL, "mean", &out), DFM_INVALID_ARGUMENT,
            "weight");
        ERR(dfm_binary_cross_entropy_with_logits(logits, ones, NULL, NULL, "mean", NULL), DFM_INVALID_ARGUMENT, NULL);

        OK(dfm_dropout(logits, 0.5f, true, &out));
        CHECK(numel(out) == 6);
        dfm_tensor_release(out);
        OK(dfm_dropout(logits, 0.5f, false, &out));
        CHECK(at(out, 5) == 5);
        dfm_tensor_release(out);
        OK(dfm_dropout(logits, 1.0f, true, &out));
        CHECK(at(out, 5) == 0);
        dfm_tensor_release(out);
        BAD(dfm_dropout(logits, 1.5f, true, &out));
        BAD(dfm_dropout(logits, -0.1f, true, &out));
        BAD(dfm_dropout(logits, NAN, true, &out));
        ERR(dfm_dropout(NULL, 0.5f, true, &out), DFM_INVALID_ARGUMENT, NULL);
        { /* feature dropout: whole (n, c) maps are kept (scaled by 2) or zeroed */
            dfm_tensor x4 = NULL, y4 = NULL;
            int64_t s4d[4] = {4, 8, 3, 3}, k, zeros = 0;
            float *p = NULL;
            OK(dfm_tensor_full(s4d, 4, 1, DFM_FLOAT32, &x4));
            OK(dfm_feature_dropout(x4, 0.5, true, &y4));
            OK(dfm_tensor_data(y4, (void **)&p));
            for (k = 0; k < 32; k++) {
                int j;
                for (j = 1; j < 9; j++) CHECK(p[k * 9 + j] == p[k * 9]);
                CHECK(p[k * 9] == 0.0f || p[k * 9] == 2.0f);
                zeros += p[k * 9] == 0.0f;
            }
            CHECK(zeros > 0 && zeros < 32);
            dfm_tensor_release(y4);
            OK(dfm_feature_dropout(x4, 0.5, false, &y4));
            CHECK(at(y4, 0) == 1.0f);
            dfm_tensor_release(y4);
            ERR(dfm_feature_dropout(x4, 1.5, true, &y4), DFM_INVALID_ARGUMENT, "probability");
            ERR(dfm_feature_dropout(NULL, 0.5, true, &y4), DFM_INVALID_ARGUMENT, NULL);
            dfm_tensor_release(x4);
        }
        ERR(dfm_dropout(logits, 0.5f, true, NULL), DFM_INVALID_ARGUMENT, NULL);

        dfm_tensor_release(logits);
        dfm_tensor_release(tgt);
        dfm_tensor_release(tgt_bad);
        dfm_tensor_release(tgt_f);
        dfm_tensor_release(ones);
        dfm_tensor_release(pw5);
    }

    dfm_tensor_release(x);
    dfm_tensor_release(x1);
    dfm_tensor_release(rm);
    dfm_tensor_release(rv);
    dfm_tensor_release(w);
    dfm_tensor_release(bias);
    dfm_tensor_release(w5);
}

/* ---------------------------------------------------------------- segmentation metrics */

static void test_seg_metrics(void) {
    int64_t s22[2] = {2, 2}, pv[4] = {0, 1, 1, 1}, tv[4] = {0, 1, 0, 1}, bv[4] = {0, 5, 0, 1}, s4 = 4;
    dfm_tensor pred = NULL, tgt = NULL, badt = NULL, flat = NULL, scores = NULL, ft = NULL, out = NULL;
    float miou = 0;
    OK(dfm_tensor_from_data(pv, sizeof pv, s22, 2, DFM_INT64, &pred));
    OK(dfm_tensor_from_data(tv, sizeof tv, s22, 2, DFM_INT64, &tgt));
    OK(dfm_tensor_from_data(bv, sizeof bv, s22, 2, DFM_INT64, &badt));
    OK(dfm_tensor_from_data(pv, sizeof pv, &s4, 1, DFM_INT64, &flat));
    OK(dfm_tensor_zeros(s22, 2, DFM_FLOAT32, &ft));

    OK(dfm_confusion_matrix(pred, tgt, 2, -100, &out));
    CHECK(at64(out, 0) == 1 && at64(out, 1) == 1 && at64(out, 2) == 0 && at64(out, 3) == 2);
    dfm_tensor_release(out);
    OK(dfm_iou_per_class(pred, tgt, 2, -100, &out));
    CHECK(fabsf(at(out, 0) - 0.5f) < 1e-6f && fabsf(at(out, 1) - 2.0f / 3.0f) < 1e-6f);
    dfm_tensor_release(out);
    OK(dfm_dice_per_class(pred, tgt, 2, -100, &out));
    CHECK(fabsf(at(out, 0) - 2.0f / 3.0f) < 1e-6f);
    dfm_tensor_release(out);
    OK(dfm_mean_iou(pred, tgt, 2, -100, &miou));
    CHECK(fabsf(miou - 7.0f / 12.0f) < 1e-6f);
    OK(dfm_mean_iou(pred, tgt, 3, -100, &miou)); /* class 2 absent: NaN, left out */
    CHECK(fabsf(miou - 7.0f / 12.0f) < 1e-6f);
    OK(dfm_mean_iou(pred, tgt, 2, 0, &miou)); /* ignore class-0 pixels */
    {
        int64_t sc[3] = {1, 2, 4};
        int64_t s14[2] = {1, 4};
        dfm_tensor t14 = NULL;
        OK(dfm_tensor_zeros(sc, 3, DFM_FLOAT32, &scores)); /* (N=1, C=2, 4) scores: argmax is class 0 */
        OK(dfm_reshape(flat, s14, 2, &t14));               /* target (1, 4) = {0, 1, 1, 1} */
        OK(dfm_confusion_matrix(scores, t14, 2, -100, &out));
        CHECK(at64(out, 0) == 1 && at64(out, 2) == 3);
        dfm_tensor_release(out);
        ERR(dfm_confusion_matrix(scores, flat, 2, -100, &out), DFM_SHAPE_MISMATCH, "expected [1, 4]");
        ERR(dfm_confusion_matrix(scores, t14, 3, -100, &out), DFM_SHAPE_MISMATCH, "num_classes=3");
        dfm_tensor_release(t14);
    }

    ERR(dfm_confusion_matrix(pred, badt, 2, -100, &out), DFM_INDEX_ERROR, "Target 5");
    ERR(dfm_confusion_matrix(pred, ft, 2, -100, &out), DFM_TYPE_ERROR, "int64");
    ERR(dfm_confusion_matrix(flat, tgt, 2, -100, &out), DFM_SHAPE_MISMATCH, NULL);
    ERR(dfm_confusion_matrix(pred, tgt, 0, -100, &out), DFM_INVALID_ARGUMENT, "num_classes");
    ERR(dfm_confusion_matrix(pred, tgt, INT64_MAX, -100, &out), DFM_INVALID_ARGUMENT, "num_classes");
    ERR(dfm_confusion_matrix(NULL, tgt, 2, -100, &out), DFM_INVALID_ARGUMENT, "prediction");
    ERR(dfm_confusion_matrix(pred, tgt, 2, -100, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_iou_per_class(pred, badt, 2, -100, &out), DFM_INDEX_ERROR, NULL);
    ERR(dfm_iou_per_class(pred, tgt, -1, -100, &out), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_iou_per_class(pred, RELEASED, 2, -100, &out), DFM_INVALID_ARGUMENT, "target");
    ERR(dfm_dice_per_class(pred, ft, 2, -100, &out), DFM_TYPE_ERROR, NULL);
    ERR(dfm_dice_per_class(pred, tgt, 2, -100, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_mean_iou(pred, badt, 2, -100, &miou), DFM_INDEX_ERROR, NULL);
    ERR(dfm_mean_iou(pred, tgt, 2, -100, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_mean_iou(FOREIGN, tgt, 2, -100, &miou), DFM_INVALID_ARGUMENT, NULL);

    dfm_tensor_release(pred);
    dfm_tensor_release(tgt);
    dfm_tensor_release(badt);
    dfm_tensor_release(flat);
    dfm_tensor_release(scores);
    dfm_tensor_release(ft);
}

/* ---------------------------------------------------------------- init */

static void test_init(void) {
    int64_t s43[2] = {4, 3};
    dfm_tensor t = NULL, v = vec(3, 0), it = NULL;
    OK(dfm_tensor_zeros(s43, 2, DFM_FLOAT32, &t));
    OK(dfm_tensor_zeros(s43, 2, DFM_INT64, &it));

    OK(dfm_init_kaiming_normal_(t, 0, "fan_in", "relu"));
    CHECK(at(t, 0) != 0);
    OK(dfm_init_kaiming_uniform_(t, 0.01f, "fan_out", "leaky_relu"));
    ERR(dfm_init_kaiming_normal_(t, 0, "bogus", "relu"), DFM_INVALID_ARGUMENT, "bogus");
    ERR(dfm_init_kaiming_normal_(t, 0, "fan_in", "bogus"), DFM_INVALID_ARGUMENT, "bogus");
    ERR(dfm_init_kaiming_normal_(t, 0, NULL, "relu"), DFM_INVALID_ARGUMENT, "mode");
    ERR(dfm_init_kaiming_uniform_(t, 0, "fan_in", NULL), DFM_INVALID_ARGUMENT, "nonlinearity");
    ERR(dfm_init_kaiming_uniform_(it, 0, "fan_in", "relu"), DFM_TYPE_ERROR, NULL);
    BAD(dfm_init_kaiming_normal_(v, 0, "fan_in", "relu"));
    ERR(dfm_init_kaiming_normal_(NULL, 0, "fan_in", "relu"), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_init_xavier_uniform_(t, 1));
    OK(dfm_init_xavier_normal_(t, 2));
    BAD(dfm_init_xavier_uniform_(v, 1));
    BAD(dfm_init_xavier_normal_(it, 1));
    ERR(dfm_init_xavier_normal_(RELEASED, 1), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_init_orthogonal_(t, 1));
    BAD(dfm_init_orthogonal_(v, 1));
    ERR(dfm_init_orthogonal_(FOREIGN, 1), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_init_normal_(t, 0, 0.02f));
    ERR(dfm_init_normal_(t, 0, -1), DFM_INVALID_ARGUMENT, NULL);
    BAD(dfm_init_normal_(t, NAN, 1));
    BAD(dfm_init_normal_(it, 0, 1));
    OK(dfm_init_uniform_(t, -1, 1));
    CHECK(at(t, 0) >= -1 && at(t, 0) < 1);
    BAD(dfm_init_uniform_(t, 1, -1));
    BAD(dfm_init_uniform_(t, -INFINITY, 1));
    BAD(dfm_init_uniform_(NULL, 0, 1));
    OK(dfm_init_constant_(t, 3));
    CHECK(at(t, 11) == 3);
    OK(dfm_init_constant_(t, NAN)); /* a value like any other */
    ERR(dfm_init_constant_(it, 1), DFM_TYPE_ERROR, NULL);
    ERR(dfm_init_constant_(NULL, 1), DFM_INVALID_ARGUMENT, NULL);

    dfm_tensor_release(t);
    dfm_tensor_release(v);
    dfm_tensor_release(it);
}

/* ---------------------------------------------------------------- files helpers */

static char tmpdir[256];

static const char *tmp_path(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

/* Reads a whole file; caller frees. */
static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long len;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)len + 1);
    *n = fread(buf, 1, (size_t)len, f);
    fclose(f);
    return buf;
}

/* ---------------------------------------------------------------- containers, safetensors */

static void test_containers_and_safetensors(void) {
    dfm_tensor_dict d = NULL, r = NULL;
    dfm_string_list keys = NULL;
    dfm_tensor a = mat(2, 3, 1), b = NULL, t = NULL;
    int64_t n, i3 = 3;
    const char *k = NULL;
    unsigned char *bytes;
    size_t len = 0;

    OK(dfm_tensor_dict_new(&d));
    OK(dfm_tensor_arange(0, 3, 1, DFM_INT64, &b));
    OK(dfm_tensor_dict_set(d, "weight", a));
    OK(dfm_tensor_dict_set(d, "idx", b));
    OK(dfm_tensor_dict_set(d, "weight", a)); /* replace in place */
    OK(dfm_tensor_dict_size(d, &n));
    CHECK(n == 2);
    OK(dfm_tensor_dict_key(d, 1, &k));
    CHECK(strcmp(k, "idx") == 0);
    OK(dfm_tensor_dict_value(d, 0, &t));
    CHECK(t != NULL && at(t, 5) == 6);
    dfm_tensor_release(t);
    OK(dfm_tensor_dict_get(d, "idx", &t));
    CHECK(numel(t) == 3);
    dfm_tensor_release(t);
    OK(dfm_tensor_dict_set_metadata(d, "format", "pt"));
    OK(dfm_tensor_dict_set_metadata(d, "note", "x"));
    OK(dfm_tensor_dict_set_metadata(d, "note", "hello"));
    OK(dfm_tensor_dict_get_metadata(d, "note", &k));
    CHECK(strcmp(k, "hello") == 0);
    OK(dfm_tensor_dict_metadata_keys(d, &keys));
    OK(dfm_string_list_size(keys, &n));
    CHECK(n == 2);
    OK(dfm_string_list_get(keys, 0, &k));
    CHECK(strcmp(k, "format") == 0);
    ERR(dfm_string_list_get(keys, 2, &k), DFM_INDEX_ERROR, "index 2");
    ERR(dfm_string_list_get(keys, -1, &k), DFM_INDEX_ERROR, NULL);
    ERR(dfm_string_list_get(keys, 0, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_string_list_get(NULL, 0, &k), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_string_list_size(NULL, &n), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_string_list_size(keys, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_string_list_size((dfm_string_list)d, &n), DFM_TYPE_ERROR, "dfm_tensor_dict");
    OK(dfm_string_list_release(keys));
    ERR(dfm_string_list_release(keys), DFM_INVALID_ARGUMENT, "released");
    OK(dfm_string_list_release(NULL));

    ERR(dfm_tensor_dict_new(NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_dict_size(NULL, &n), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_dict_size((dfm_tensor_dict)a, &n), DFM_TYPE_ERROR, "is a dfm_tensor, expected a dfm_tensor_dict");
    ERR(dfm_tensor_dict_size(d, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_dict_key(d, 2, &k), DFM_INDEX_ERROR, "2 entries");
    ERR(dfm_tensor_dict_key(d, INT64_MIN, &k), DFM_INDEX_ERROR, NULL);
    ERR(dfm_tensor_dict_key(d, 0, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_dict_value(d, 9, &t), DFM_INDEX_ERROR, NULL);
    ERR(dfm_tensor_dict_value(FOREIGN, 0, &t), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_dict_get(d, "nope", &t), DFM_NOT_FOUND, "nope");
    ERR(dfm_tensor_dict_get(d, NULL, &t), DFM_INVALID_ARGUMENT, "key");
    ERR(dfm_tensor_dict_get(d, "idx", NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_dict_set(d, "", a), DFM_INVALID_ARGUMENT, "empty");
    ERR(dfm_tensor_dict_set(d, NULL, a), DFM_INVALID_ARGUMENT, "key");
    ERR(dfm_tensor_dict_set(d, "x", RELEASED), DFM_INVALID_ARGUMENT, "released");
    ERR(dfm_tensor_dict_set((dfm_tensor_dict)a, "x", a), DFM_TYPE_ERROR, NULL);
    ERR(dfm_tensor_dict_set_metadata(d, NULL, "v"), DFM_INVALID_ARGUMENT, "key");
    ERR(dfm_tensor_dict_set_metadata(d, "k", NULL), DFM_INVALID_ARGUMENT, "value");
    ERR(dfm_tensor_dict_set_metadata(NULL, "k", "v"), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_dict_get_metadata(d, "missing", &k), DFM_NOT_FOUND, "missing");
    ERR(dfm_tensor_dict_get_metadata(d, "note", NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_dict_get_metadata(d, NULL, &k), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_dict_metadata_keys(NULL, &keys), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_dict_metadata_keys(d, NULL), DFM_INVALID_ARGUMENT, NULL);

    /* safetensors round trip */
    OK(dfm_safetensors_write(tmp_path("a.safetensors"), d));
    OK(dfm_safetensors_read(tmp_path("a.safetensors"), &r));
    OK(dfm_tensor_dict_size(r, &n));
    CHECK(n == 2);
    OK(dfm_tensor_dict_key(r, 0, &k)); /* sorted by name */
    CHECK(strcmp(k, "idx") == 0);
    OK(dfm_tensor_dict_get(r, "weight", &t));
    CHECK(at(t, 4) == 5);
    dfm_tensor_release(t);
    OK(dfm_tensor_dict_get(r, "idx", &t));
    {
        dfm_dtype dt;
        OK(dfm_tensor_dtype(t, &dt));
        CHECK(dt == DFM_INT64 && at64(t, 2) == 2);
    }
    dfm_tensor_release(t);
    OK(dfm_tensor_dict_get_metadata(r, "note", &k));
    CHECK(strcmp(k, "hello") == 0);
    dfm_tensor_dict_release(r);
    r = (dfm_tensor_dict)(uintptr_t)1;

    /* bad files: missing, empty, truncated, corrupt header, lying offsets */
    ERR(dfm_safetensors_read(tmp_path("missing.safetensors"), &r), DFM_NOT_FOUND, "missing.safetensors");
    CHECK(r == NULL);
    ERR(dfm_safetensors_read(NULL, &r), DFM_INVALID_ARGUMENT, "path");
    ERR(dfm_safetensors_read(tmp_path("a.safetensors"), NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_safetensors_read(tmpdir, &r), DFM_IO_ERROR, "is a directory");
    /* not a regular file: refused, not read until memory runs out (issue #14 item 7) */
    r = (dfm_tensor_dict)FOREIGN;
    ERR(dfm_safetensors_read("/dev/zero", &r), DFM_IO_ERROR, "not a regular file");
    CHECK(r == NULL);
    bytes = read_bytes(tmp_path("a.safetensors"), &len);
    CHECK(bytes != NULL && len > 40);
    write_bytes(tmp_path("empty.safetensors"), bytes, 0);
    ERR(dfm_safetensors_read(tmp_path("empty.safetensors"), &r), DFM_IO_ERROR, "truncated");
    write_bytes(tmp_path("short.safetensors"), bytes, 5);
    ERR(dfm_safetensors_read(tmp_path("short.safetensors"), &r), DFM_IO_ERROR, "truncated");
    write_bytes(tmp_path("trunc.safetensors"), bytes, len - 3);
    ERR(dfm_safetensors_read(tmp_path("trunc.safetensors"), &r), DFM_IO_ERROR, "truncated");
    write_bytes(tmp_path("trunc_header.safetensors"), bytes, 20);
    ERR(dfm_safetensors_read(tmp_path("trunc_header.safetensors"), &r), DFM_IO_ERROR, NULL);
    {
        unsigned char *bad = malloc(len);
        memcpy(bad, bytes, len);
        bad[8] = '#'; /* JSON header starts with garbage */
        write_bytes(tmp_path("corrupt.safetensors"), bad, len);
        ERR(dfm_safetensors_read(tmp_path("corrupt.safetensors"), &r), DFM_IO_ERROR, "corrupt");
        memcpy(bad, bytes, len);
        bad[7] = 0x7f; /* absurd header length */
        write_bytes(tmp_path("hugelen.safetensors"), bad, len);
        ERR(dfm_safetensors_read(tmp_path("hugelen.safetensors"), &r), DFM_IO_ERROR, NULL);
        free(bad);
    }
    {
        const char *hdr = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,1000]}}";
        unsigned char file[256];
        uint64_t hl = strlen(hdr);
        memset(file, 0, sizeof file);
        memcpy(file, &hl, 8); /* little-endian host */
        memcpy(file + 8, hdr, hl);
        write_bytes(tmp_path("lying.safetensors"), file, 8 + hl + 16);
        ERR(dfm_safetensors_read(tmp_path("lying.safetensors"), &r), DFM_IO_ERROR, "byte range");
    }
    {
        const char *hdr = "{\"w\":{\"dtype\":\"F32\",\"shape\":[-4,9223372036854775807],\"data_offsets\":[0,16]}}";
        unsigned char file[256];
        uint64_t hl = strlen(hdr);
        memset(file, 0, sizeof file);
        memcpy(file, &hl, 8);
        memcpy(file + 8, hdr, hl);
        write_bytes(tmp_path("badshape.safetensors"), file, 8 + hl + 16);
        ERR(dfm_safetensors_read(tmp_path("badshape.safetensors"), &r), DFM_IO_ERROR, NULL);
    }
    free(bytes);
    ERR(dfm_safetensors_write(tmp_path("nodir/x.safetensors"), d), DFM_NOT_FOUND, "nodir");
    ERR(dfm_safetensors_write(NULL, d), DFM_INVALID_ARGUMENT, "path");
    ERR(dfm_safetensors_write(tmp_path("x.safetensors"), NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_safetensors_write(tmp_path("x.safetensors"), (dfm_tensor_dict)a), DFM_TYPE_ERROR, NULL);
    { /* PNG: a 3x4 RGB image in [0, 1] and a grey int64 one; bad shapes and values */
        dfm_tensor rgb = NULL, grey = NULL, bad = NULL, flat = NULL;
        int64_t s334[3] = {3, 3, 4}, s23b[2] = {2, 3};
        unsigned char sig[8] = {0};
        FILE *fp = NULL;
        OK(dfm_tensor_full(s334, 3, 0.5, DFM_FLOAT32, &rgb));
        OK(dfm_save_png(rgb, tmp_path("img.png")));
        fp = fopen(tmp_path("img.png"), "rb");
        CHECK(fp != NULL && fread(sig, 1, 8, fp) == 8 && sig[0] == 0x89 && sig[1] == 'P' && sig[2] == 'N' &&
              sig[3] == 'G');
        if (fp) fclose(fp);
        OK(dfm_tensor_full(s23b, 2, 200, DFM_INT64, &grey));
        OK(dfm_save_png(grey, tmp_path("grey.png")));
        OK(dfm_tensor_full(s23b, 2, 300, DFM_INT64, &bad));
        ERR(dfm_save_png(bad, tmp_path("bad.png")), DFM_INVALID_ARGUMENT, "0...255");
        CHECK(access(tmp_path("bad.png"), F_OK) != 0);
        OK(dfm_tensor_full(s23b, 1, 0.5, DFM_FLOAT32, &flat));
        ERR(dfm_save_png(flat, tmp_path("flat.png")), DFM_SHAPE_MISMATCH, "(C, H, W)");
        ERR(dfm_save_png(rgb, tmp_path("nodir/img.png")), DFM_NOT_FOUND, "nodir");
        ERR(dfm_save_png(NULL, tmp_path("x.png")), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_save_png(rgb, NULL), DFM_INVALID_ARGUMENT, "path");
        dfm_tensor_release(flat);
        dfm_tensor_release(bad);
        dfm_tensor_release(grey);
        dfm_tensor_release(rgb);
    }

    OK(dfm_tensor_dict_release(d));
    ERR(dfm_tensor_dict_release(d), DFM_INVALID_ARGUMENT, "released");
    OK(dfm_tensor_dict_release(NULL));
    (void)i3;
    dfm_tensor_release(a);
    dfm_tensor_release(b);
}

/* ---------------------------------------------------------------- modules */

static void test_modules(void) {
    dfm_module conv = NULL, bn = NULL, relu = NULL, pool = NULL, flat = NULL, lin = NULL, seq = NULL, m = NULL,
               sub = NULL;
    dfm_module parts[5];
    dfm_tensor x = image(2, 1, 4, 4), y = NULL, t = NULL;
    dfm_tensor_dict params = NULL, sd = NULL, bufs = NULL;
    dfm_string_list missing = NULL, unexpected = NULL;
    int64_t k3[2] = {3, 3}, one[2] = {1, 1}, zero[2] = {0, 0}, k2[2] = {2, 2}, huge[2] = {INT64_MAX, 1}, n;
    int64_t s4 = 4;
    double sc2[2] = {2, 2};
    bool b;
    char buf[64];
    size_t len;

    OK(dfm_manual_seed(1));
    OK(dfm_module_conv2d(1, 4, k3, one, one, one, 1, true, &conv));
    OK(dfm_module_batch_norm2d(4, 1e-5f, true, 0.1f, true, true, &bn));
    OK(dfm_module_relu(&relu));
    OK(dfm_module_adaptive_avg_pool2d(one, &pool));
    OK(dfm_module_flatten(1, -1, &flat));
    OK(dfm_module_linear(4, 3, true, &lin));
    parts[0] = conv;
    parts[1] = bn;
    parts[2] = relu;
    parts[3] = pool;
    parts[4] = flat;
    OK(dfm_module_sequential(parts, 5, &seq));
    /* A graph built and dropped without backward (valgrind checks it is freed). */
    OK(dfm_module_forward(seq, x, &y));
    CHECK(ndim_of(y) == 2 && numel(y) == 8); /* (2, 4) */
    OK(dfm_module_forward(lin, y, &t));
    CHECK(numel(t) == 6);
    dfm_tensor_release(t);
    dfm_tensor_release(y);

    /* forward errors */
    {
        dfm_tensor x3 = mat(2, 3, 0);
        ERR(dfm_module_forward(lin, x3, &y), DFM_SHAPE_MISMATCH, NULL); /* in_features 4, last dim 3 */
        dfm_tensor_release(x3);
    }
    ERR(dfm_module_forward(NULL, x, &y), DFM_INVALID_ARGUMENT, "'m'");
    ERR(dfm_module_forward((dfm_module)x, x, &y), DFM_TYPE_ERROR, "expected a dfm_module");
    ERR(dfm_module_forward(seq, NULL, &y), DFM_INVALID_ARGUMENT, "'x'");
    ERR(dfm_module_forward(seq, x, NULL), DFM_INVALID_ARGUMENT, NULL);

    /* train / eval */
    OK(dfm_module_is_training(seq, &b));
    CHECK(b);
    OK(dfm_module_train(seq, false));
    OK(dfm_module_is_training(bn, &b));
    CHECK(!b); /* the whole tree */
    OK(dfm_module_train(seq, true));
    ERR(dfm_module_train(NULL, true), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_is_training(seq, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_is_training(FOREIGN, &b), DFM_INVALID_ARGUMENT, NULL);

    /* parameters, buffers, state dict */
    OK(dfm_module_named_parameters(seq, &params));
    OK(dfm_tensor_dict_size(params, &n));
    CHECK(n == 4); /* 0.weight 0.bias 1.weight 1.bias */
    {
        const char *k;
        OK(dfm_tensor_dict_key(params, 0, &k));
        CHECK(strcmp(k, "0.weight") == 0);
        OK(dfm_tensor_dict_get(params, "1.bias", &t));
        OK(dfm_tensor_requires_grad(t, &b));
        CHECK(b);
        dfm_tensor_release(t);
    }
    OK(dfm_module_named_buffers(seq, &bufs));
    OK(dfm_tensor_dict_size(bufs, &n));
    CHECK(n == 3); /* running_mean running_var num_batches_tracked */
    OK(dfm_module_state_dict(seq, &sd));
    OK(dfm_tensor_dict_size(sd, &n));
    CHECK(n == 7);
    {
        dfm_tensor_dict dummy = NULL;
        ERR(dfm_module_named_parameters(NULL, &dummy), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_module_state_dict(NULL, &dummy), DFM_INVALID_ARGUMENT, NULL);
        CHECK(dummy == NULL);
    }
    ERR(dfm_module_named_parameters(seq, NULL), DFM_INVALID_ARGUMENT, NULL);
    {
        dfm_module gone = NULL;
        OK(dfm_module_relu(&gone));
        OK(dfm_module_release(gone));
        dfm_tensor_dict dummy = NULL;
        ERR(dfm_module_named_buffers(gone, &dummy), DFM_INVALID_ARGUMENT, "released dfm_module");
        ERR(dfm_module_save(gone, tmp_path("x.safetensors")), DFM_INVALID_ARGUMENT, "released dfm_module");
        ERR(dfm_module_release(gone), DFM_INVALID_ARGUMENT, "released dfm_module");
    }
    ERR(dfm_module_named_buffers(seq, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_state_dict(seq, NULL), DFM_INVALID_ARGUMENT, NULL);

    /* load_state_dict: strict / non-strict, missing / unexpected / wrong shape */
    OK(dfm_module_load_state_dict(seq, sd, true, &missing, &unexpected));
    OK(dfm_string_list_size(missing, &n));
    CHECK(n == 0);
    dfm_string_list_release(missing);
    dfm_string_list_release(unexpected);
    OK(dfm_module_load_state_dict(seq, sd, true, NULL, NULL));
    {
        dfm_tensor_dict partial = NULL;
        dfm_tensor w = NULL, extra = vec(2, 0), wrong = vec(5, 0);
        const char *k;
        OK(dfm_tensor_dict_new(&partial));
        OK(dfm_tensor_dict_get(sd, "0.weight", &w));
        OK(dfm_tensor_dict_set(partial, "0.weight", w));
        OK(dfm_tensor_dict_set(partial, "extra.key", extra));
        ERR(dfm_module_load_state_dict(seq, partial, true, &missing, &unexpected), DFM_STATE_ERROR, "Missing key(s)");
        CHECK(missing == NULL && unexpected == NULL);
        OK(dfm_module_load_state_dict(seq, partial, false, &missing, &unexpected));
        OK(dfm_string_list_size(missing, &n));
        CHECK(n == 6);
        OK(dfm_string_list_size(unexpected, &n));
        CHECK(n == 1);
        OK(dfm_string_list_get(unexpected, 0, &k));
        CHECK(strcmp(k, "extra.key") == 0);
        dfm_string_list_release(missing);
        dfm_string_list_release(unexpected);
        OK(dfm_tensor_dict_set(partial, "0.bias", wrong));
        ERR(dfm_module_load_state_dict(seq, partial, false, NULL, NULL), DFM_SHAPE_MISMATCH,
            "size mismatch for 0.bias");
        ERR(dfm_module_load_state_dict(seq, NULL, true, NULL, NULL), DFM_INVALID_ARGUMENT, "state");
        ERR(dfm_module_load_state_dict(NULL, partial, true, NULL, NULL), DFM_INVALID_ARGUMENT, "'m'");
        ERR(dfm_module_load_state_dict(seq, (dfm_tensor_dict)w, true, NULL, NULL), DFM_TYPE_ERROR, NULL);
        dfm_tensor_dict_release(partial);
        dfm_tensor_release(w);
        dfm_tensor_release(extra);
        dfm_tensor_release(wrong);
    }

    /* save / load files */
    OK(dfm_module_save(seq, tmp_path("seq.safetensors")));
    OK(dfm_module_load(seq, tmp_path("seq.safetensors"), true, &missing, &unexpected));
    dfm_string_list_release(missing);
    dfm_string_list_release(unexpected);
    OK(dfm_module_load(lin, tmp_path("seq.safetensors"), false, &missing, &unexpected));
    OK(dfm_string_list_size(missing, &n));
    CHECK(n == 2);
    dfm_string_list_release(missing);
    dfm_string_list_release(unexpected);
    ERR(dfm_module_load(lin, tmp_path("seq.safetensors"), true, NULL, NULL), DFM_STATE_ERROR, "Unexpected key(s)");
    ERR(dfm_module_load(seq, tmp_path("missing.safetensors"), true, NULL, NULL), DFM_NOT_FOUND, NULL);
    ERR(dfm_module_load(seq, tmp_path("trunc.safetensors"), true, NULL, NULL), DFM_IO_ERROR, NULL);
    ERR(dfm_module_load(seq, tmp_path("corrupt.safetensors"), true, NULL, NULL), DFM_IO_ERROR, NULL);
    ERR(dfm_module_load(seq, NULL, true, NULL, NULL), DFM_INVALID_ARGUMENT, "path");
    ERR(dfm_module_load(NULL, tmp_path("seq.safetensors"), true, NULL, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_save(seq, tmp_path("nodir/seq.safetensors")), DFM_NOT_FOUND, NULL);
    ERR(dfm_module_save(seq, NULL), DFM_INVALID_ARGUMENT, NULL);

    /* zero_grad, submodules, repr */
    {
        dfm_tensor loss = NULL, g = NULL, w = NULL;
        OK(dfm_module_forward(seq, x, &y));
        OK(dfm_sum(y, NULL, 0, false, &loss));
        OK(dfm_backward(loss, NULL, false));
        OK(dfm_tensor_dict_get(params, "0.weight", &w));
        OK(dfm_tensor_grad(w, &g));
        CHECK(g != NULL);
        dfm_tensor_release(g);
        OK(dfm_module_zero_grad(seq));
        OK(dfm_tensor_grad(w, &g));
        CHECK(g == NULL);
        dfm_tensor_release(w);
        dfm_tensor_release(loss);
        dfm_tensor_release(y);
    }
    ERR(dfm_module_zero_grad(NULL), DFM_INVALID_ARGUMENT, NULL);
    {
        /* module.double(): the same parameter tensors become float64; forward then needs float64 input. */
        dfm_tensor_dict params = NULL;
        dfm_tensor w = NULL, x64 = NULL, y64 = NULL;
        dfm_dtype dt = DFM_FLOAT32;
        OK(dfm_module_named_parameters(seq, &params));
        OK(dfm_tensor_dict_get(params, "0.weight", &w));
        OK(dfm_module_to(seq, DFM_FLOAT64));
        OK(dfm_tensor_dtype(w, &dt));
        CHECK(dt == DFM_FLOAT64);
        OK(dfm_tensor_to_dtype(x, DFM_FLOAT64, &x64));
        OK(dfm_module_forward(seq, x64, &y64));
        OK(dfm_tensor_dtype(y64, &dt));
        CHECK(dt == DFM_FLOAT64);
        ERR(dfm_module_to(seq, DFM_INT64), DFM_TYPE_ERROR, "floating point");
        ERR(dfm_module_to(seq, (dfm_dtype)77), DFM_INVALID_ARGUMENT, "unknown dtype");
        ERR(dfm_module_to(NULL, DFM_FLOAT32), DFM_INVALID_ARGUMENT, NULL);
        OK(dfm_module_to(seq, DFM_FLOAT32));
        OK(dfm_tensor_dtype(w, &dt));
        CHECK(dt == DFM_FLOAT32);
        dfm_tensor_release(y64);
        dfm_tensor_release(x64);
        dfm_tensor_release(w);
        dfm_tensor_dict_release(params);
    }
    OK(dfm_module_get_submodule(seq, "1", &sub));
    OK(dfm_module_repr(sub, buf, sizeof buf, &len));
    CHECK(strncmp(buf, "BatchNorm2d(", 12) == 0);
    dfm_module_release(sub);
    ERR(dfm_module_get_submodule(seq, "9", &sub), DFM_NOT_FOUND, NULL);
    CHECK(sub == NULL);
    ERR(dfm_module_get_submodule(seq, NULL, &sub), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_get_submodule(seq, "1", NULL), DFM_INVALID_ARGUMENT, NULL);
    {
        dfm_string_list names = NULL;
        const char *k;
        OK(dfm_module_children(seq, &names));
        OK(dfm_string_list_size(names, &n));
        CHECK(n == 5);
        OK(dfm_string_list_get(names, 4, &k));
        CHECK(strcmp(k, "4") == 0);
        dfm_string_list_release(names);
        OK(dfm_module_children(relu, &names));
        OK(dfm_string_list_size(names, &n));
        CHECK(n == 0);
        dfm_string_list_release(names);
        ERR(dfm_module_children(NULL, &names), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_module_children(seq, NULL), DFM_INVALID_ARGUMENT, NULL);
        OK(dfm_module_type_name(conv, buf, sizeof buf, &len));
        CHECK(strcmp(buf, "Conv2d") == 0 && len == 6);
        OK(dfm_module_type_name(seq, buf, 4, NULL));
        CHECK(strcmp(buf, "Seq") == 0);
        ERR(dfm_module_type_name(seq, NULL, 4, &len), DFM_INVALID_ARGUMENT, "buf");
        ERR(dfm_module_type_name(FOREIGN, buf, 4, &len), DFM_INVALID_ARGUMENT, NULL);
    }
    OK(dfm_module_repr(seq, buf, 8, &len));
    CHECK(strlen(buf) == 7 && len > 50); /* truncated, full length reported */
    OK(dfm_module_repr(seq, NULL, 0, &len));
    OK(dfm_module_repr(seq, buf, sizeof buf, NULL));
    ERR(dfm_module_repr(seq, NULL, 10, &len), DFM_INVALID_ARGUMENT, "buf");
    ERR(dfm_module_repr(seq, buf, SIZE_MAX, &len), DFM_INVALID_ARGUMENT, "capacity");
    ERR(dfm_module_repr(NULL, buf, sizeof buf, &len), DFM_INVALID_ARGUMENT, NULL);

    /* retain / release */
    OK(dfm_module_retain(lin));
    OK(dfm_module_release(lin));
    ERR(dfm_module_retain(NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_retain((dfm_module)x), DFM_TYPE_ERROR, NULL);
    ERR(dfm_module_release((dfm_module)x), DFM_TYPE_ERROR, NULL);
    OK(dfm_module_release(NULL));

    /* every constructor, good and bad */
    OK(dfm_module_conv2d_padding_mode(2, 4, k3, one, "same", one, 2, false, &m));
    dfm_module_release(m);
    ERR(dfm_module_conv2d_padding_mode(2, 4, k3, k2, "same", one, 1, false, &m), DFM_INVALID_ARGUMENT, "same");
    ERR(dfm_module_conv2d_padding_mode(2, 4, k3, one, "bogus", one, 1, false, &m), DFM_INVALID_ARGUMENT, "bogus");
    ERR(dfm_module_conv2d_padding_mode(2, 4, k3, one, NULL, one, 1, false, &m), DFM_INVALID_ARGUMENT, "padding");
    ERR(dfm_module_conv2d(3, 4, k3, one, zero, one, 2, true, &m), DFM_INVALID_ARGUMENT, "divisible");
    BAD(dfm_module_conv2d(0, 4, k3, one, zero, one, 1, true, &m));
    BAD(dfm_module_conv2d(-1, 4, k3, one, zero, one, 1, true, &m));
    ERR(dfm_module_conv2d(INT64_MAX, 4, k3, one, zero, one, 1, true, &m), DFM_INVALID_ARGUMENT, "in_channels");
    ERR(dfm_module_conv2d(1, 4, huge, one, zero, one, 1, true, &m), DFM_INVALID_ARGUMENT, "kernel_size");
    BAD(dfm_module_conv2d(1, 4, zero, one, zero, one, 1, true, &m));
    ERR(dfm_module_conv2d(1, 4, NULL, one, zero, one, 1, true, &m), DFM_INVALID_ARGUMENT, "kernel_size");
    ERR(dfm_module_conv2d(1, 4, k3, one, zero, one, 1, true, NULL), DFM_INVALID_ARGUMENT, NULL);
    BAD(dfm_module_linear(-1, 3, true, &m));
    ERR(dfm_module_linear(INT64_MIN, 3, true, &m), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_linear(2, 3, true, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_module_batch_norm2d(3, 1e-5f, false, 0, false, false, &m));
    dfm_module_release(m);
    BAD(dfm_module_batch_norm2d(0, 1e-5f, true, 0.1f, true, true, &m));
    ERR(dfm_module_batch_norm2d(INT64_MAX, 1e-5f, true, 0.1f, true, true, &m), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_batch_norm2d(3, 1e-5f, true, 0.1f, true, true, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_module_group_norm(2, 4, 1e-5f, true, &m));
    dfm_module_release(m);
    BAD(dfm_module_group_norm(3, 4, 1e-5f, true, &m));
    BAD(dfm_module_group_norm(0, 4, 1e-5f, true, &m));
    ERR(dfm_module_group_norm(2, 4, 1e-5f, true, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_module_layer_norm(&s4, 1, 1e-5f, true, true, &m));
    dfm_module_release(m);
    ERR(dfm_module_layer_norm(NULL, 1, 1e-5f, true, true, &m), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_layer_norm(&s4, -1, 1e-5f, true, true, &m), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_layer_norm(&s4, 1, 1e-5f, true, true, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_relu(NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_module_gelu("tanh", &m));
    dfm_module_release(m);
    ERR(dfm_module_gelu("bogus", &m), DFM_INVALID_ARGUMENT, "bogus");
    ERR(dfm_module_gelu(NULL, &m), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_module_sigmoid(&m));
    dfm_module_release(m);
    ERR(dfm_module_sigmoid(NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_module_tanh(&m));
    dfm_module_release(m);
    ERR(dfm_module_tanh(NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_module_identity(&m));
    dfm_module_release(m);
    ERR(dfm_module_identity(NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_module_softmax(1, &m));
    OK(dfm_module_forward(m, x, &y));
    dfm_tensor_release(y);
    dfm_module_release(m);
    OK(dfm_module_softmax(9, &m));
    ERR(dfm_module_forward(m, x, &y), DFM_INDEX_ERROR, NULL); /* checked when it runs */
    dfm_module_release(m);
    ERR(dfm_module_softmax(0, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_module_dropout(0.2f, &m));
    dfm_module_release(m);
    BAD(dfm_module_dropout(2, &m));
    BAD(dfm_module_dropout(NAN, &m));
    ERR(dfm_module_dropout(0.1f, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_module_max_pool2d(k2, NULL, zero, one, false, &m));
    dfm_module_release(m);
    OK(dfm_module_max_pool2d(zero, NULL, zero, one, false, &m)); /* checked when it runs, as in torch */
    BAD(dfm_module_forward(m, x, &y));
    dfm_module_release(m);
    ERR(dfm_module_max_pool2d(huge, NULL, zero, one, false, &m), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_max_pool2d(NULL, NULL, zero, one, false, &m), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_module_avg_pool2d(k2, k2, zero, false, true, &m));
    dfm_module_release(m);
    OK(dfm_module_avg_pool2d(k2, zero, zero, false, true, &m));
    BAD(dfm_module_forward(m, x, &y));
    dfm_module_release(m);
    ERR(dfm_module_avg_pool2d(k2, NULL, NULL, false, true, &m), DFM_INVALID_ARGUMENT, "padding");
    BAD(dfm_module_adaptive_avg_pool2d(huge, &m));
    ERR(dfm_module_adaptive_avg_pool2d(NULL, &m), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_flatten(0, 1, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_module_upsample(NULL, sc2, "bilinear", true, false, &m));
    OK(dfm_module_forward(m, x, &y));
    CHECK(numel(y) == 128);
    dfm_tensor_release(y);
    dfm_module_release(m);
    BAD(dfm_module_upsample(NULL, NULL, "nearest", false, false, &m));
    BAD(dfm_module_upsample(k2, sc2, "nearest", false, false, &m));
    ERR(dfm_module_upsample(k2, NULL, NULL, false, false, &m), DFM_INVALID_ARGUMENT, "mode");
    ERR(dfm_module_upsample(huge, NULL, "nearest", false, false, &m), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_module_sequential(NULL, 0, &m));
    OK(dfm_module_forward(m, x, &y)); /* empty Sequential is the identity */
    dfm_tensor_release(y);
    dfm_module_release(m);
    ERR(dfm_module_sequential(NULL, 2, &m), DFM_INVALID_ARGUMENT, "modules");
    ERR(dfm_module_sequential(parts, -1, &m), DFM_INVALID_ARGUMENT, NULL);
    parts[1] = (dfm_module)x;
    ERR(dfm_module_sequential(parts, 2, &m), DFM_TYPE_ERROR, "modules[1]");
    ERR(dfm_module_sequential(parts, 1, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_resnet("resnet9", 10, 1, &m), DFM_INVALID_ARGUMENT, "resnet9");
    ERR(dfm_module_resnet(NULL, 10, 1, &m), DFM_INVALID_ARGUMENT, "arch");
    BAD(dfm_module_resnet("resnet18", -1, 1, &m));
    BAD(dfm_module_resnet("resnet18", 10, 0, &m));
    ERR(dfm_module_resnet("resnet18", INT64_MAX, 1, &m), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_resnet("resnet18", 10, 1, NULL), DFM_INVALID_ARGUMENT, NULL);

    dfm_tensor_dict_release(params);
    dfm_tensor_dict_release(bufs);
    dfm_tensor_dict_release(sd);
    dfm_module_release(conv);
    dfm_module_release(bn);
    dfm_module_release(relu);
    dfm_module_release(pool);
    dfm_module_release(flat);
    dfm_module_release(lin);
    dfm_module_release(seq);
    dfm_tensor_release(x);
}

/* ---------------------------------------------------------------- optimizers, schedulers */

/* One SGD-style step on w (loss = sum(w * w)), through the optimizer. */
static void grad_step(dfm_optimizer o, dfm_tensor w) {
    dfm_tensor sq = NULL, loss = NULL;
    OK(dfm_optimizer_zero_grad(o));
    OK(dfm_mul(w, w, &sq));
    OK(dfm_sum(sq, NULL, 0, false, &loss));
    OK(dfm_backward(loss, NULL, false));
    OK(dfm_optimizer_step(o));
    dfm_tensor_release(sq);
    dfm_tensor_release(loss);
}

static void test_optim(void) {
    dfm_tensor w = vec(3, 1), w2 = vec(2, 1), nl = NULL, it = NULL, ps[2];
    dfm_optimizer o = NULL, o2 = NULL;
    dfm_scheduler s = NULL, s2 = NULL;
    double lr;

    OK(dfm_tensor_set_requires_grad(w, true));
    OK(dfm_tensor_set_requires_grad(w2, true));
    ps[0] = w;
    ps[1] = w2;
    OK(dfm_optimizer_sgd(ps, 1, 0.1, 0, 0, 0, false, false, &o));
    grad_step(o, w);
    CHECK(fabsf(at(w, 0) - 0.8f) < 1e-6f); /* 1 - 0.1 * 2 */
    OK(dfm_optimizer_get_lr(o, &lr));
    CHECK(lr == 0.1);
    OK(dfm_optimizer_set_lr(o, 0.05));
    OK(dfm_optimizer_get_lr(o, &lr));
    CHECK(lr == 0.05);
    ERR(dfm_optimizer_set_lr(o, -1), DFM_INVALID_ARGUMENT, "-1");
    ERR(dfm_optimizer_set_lr(o, NAN), DFM_INVALID_ARGUMENT, "nan");
    ERR(dfm_optimizer_set_lr(NULL, 0.1), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_optimizer_get_lr(o, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_optimizer_get_lr((dfm_optimizer)w, &lr), DFM_TYPE_ERROR, NULL);
    ERR(dfm_optimizer_step(NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_optimizer_zero_grad(FOREIGN), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_optimizer_sgd(ps, 1, -0.1, 0, 0, 0, false, false, &o2), DFM_INVALID_ARGUMENT, "learning rate");
    ERR(dfm_optimizer_sgd(ps, 1, NAN, 0, 0, 0, false, false, &o2), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_optimizer_sgd(ps, 1, 0.1, -1, 0, 0, false, false, &o2), DFM_INVALID_ARGUMENT, "momentum");
    BAD(dfm_optimizer_sgd(ps, 1, 0.1, 0, 0, 0, true, false, &o2)); /* nesterov needs momentum */
    ERR(dfm_optimizer_sgd(ps, 0, 0.1, 0, 0, 0, false, false, &o2), DFM_INVALID_ARGUMENT, "params");
    ERR(dfm_optimizer_sgd(NULL, 1, 0.1, 0, 0, 0, false, false, &o2), DFM_INVALID_ARGUMENT, "params");
    ERR(dfm_optimizer_sgd(ps, 1, 0.1, 0, 0, 0, false, false, NULL), DFM_INVALID_ARGUMENT, NULL);
    {
        dfm_tensor dup[2];
        dup[0] = w;
        dup[1] = w;
        BAD(dfm_optimizer_sgd(dup, 2, 0.1, 0, 0, 0, false, false, &o2));
        OK(dfm_mul_scalar(w, 2, &nl));
        dup[1] = nl;
        ERR(dfm_optimizer_adam(dup, 2, 1e-3, 0.9, 0.999, 1e-8, 0, false, false, &o2), DFM_INVALID_ARGUMENT, "non-leaf");
        OK(dfm_tensor_zeros(s23, 2, DFM_INT64, &it));
        dup[1] = it;
        ERR(dfm_optimizer_adamw(dup, 2, 1e-3, 0.9, 0.999, 1e-8, 0.01, false, false, &o2), DFM_TYPE_ERROR, "float32");
        dup[1] = RELEASED;
        ERR(dfm_optimizer_adam(dup, 2, 1e-3, 0.9, 0.999, 1e-8, 0, false, false, &o2), DFM_INVALID_ARGUMENT,
            "params[1]");
    }
    ERR(dfm_optimizer_adam(ps, 2, 1e-3, 1.0, 0.999, 1e-8, 0, false, false, &o2), DFM_INVALID_ARGUMENT, "beta");
    ERR(dfm_optimizer_adam(ps, 2, 1e-3, 0.9, NAN, 1e-8, 0, false, false, &o2), DFM_INVALID_ARGUMENT, "beta");
    ERR(dfm_optimizer_adam(ps, 2, 1e-3, 0.9, 0.999, -1, 0, false, false, &o2), DFM_INVALID_ARGUMENT, "epsilon");
    ERR(dfm_optimizer_adam(ps, 2, 1e-3, 0.9, 0.999, 1e-8, 0, false, false, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_optimizer_adamw(ps, 2, 1e-3, 0.9, 0.999, 1e-8, INFINITY, false, false, &o2), DFM_INVALID_ARGUMENT,
        "weight_decay");
    ERR(dfm_optimizer_adamw(NULL, 2, 1e-3, 0.9, 0.999, 1e-8, 0, false, false, &o2), DFM_INVALID_ARGUMENT, NULL);
    { /* RMSprop: first step of plain RMSprop moves w by lr·g/(sqrt(0.01·g²) + eps) = 10·lr */
        dfm_optimizer r = NULL;
        float before = at(w, 0);
        OK(dfm_optimizer_rmsprop(ps, 1, 0.01, 0.99, 1e-8, 0, 0, false, false, &r));
        grad_step(r, w);
        CHECK(fabsf(at(w, 0) - (before - 0.1f)) < 1e-5f);
        OK(dfm_optimizer_save(r, tmp_path("rmsprop.safetensors")));
        OK(dfm_optimizer_load(r, tmp_path("rmsprop.safetensors")));
        ERR(dfm_optimizer_load(o, tmp_path("rmsprop.safetensors")), DFM_INVALID_ARGUMENT, "RMSprop");
        dfm_optimizer_release(r);
        ERR(dfm_optimizer_rmsprop(ps, 1, 0.01, -0.5, 1e-8, 0, 0, false, false, &r), DFM_INVALID_ARGUMENT, "alpha");
        ERR(dfm_optimizer_rmsprop(ps, 1, 0.01, 0.99, NAN, 0, 0, false, false, &r), DFM_INVALID_ARGUMENT, "epsilon");
        ERR(dfm_optimizer_rmsprop(ps, 1, 0.01, 0.99, 1e-8, 0, -1, false, false, &r), DFM_INVALID_ARGUMENT, "momentum");
        ERR(dfm_optimizer_rmsprop(ps, 1, -1, 0.99, 1e-8, 0, 0, false, false, &r), DFM_INVALID_ARGUMENT,
            "learning rate");
        ERR(dfm_optimizer_rmsprop(NULL, 1, 0.01, 0.99, 1e-8, 0, 0, false, false, &r), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_optimizer_rmsprop(ps, 1, 0.01, 0.99, 1e-8, 0, 0, false, false, NULL), DFM_INVALID_ARGUMENT, NULL);
        CHECK(r == NULL);
    }

    /* Adam save / load */
    OK(dfm_optimizer_adam(ps, 2, 0.01, 0.9, 0.999, 1e-8, 0, true, false, &o2));
    grad_step(o2, w);
    OK(dfm_optimizer_save(o2, tmp_path("adam.safetensors")));
    OK(dfm_optimizer_load(o2, tmp_path("adam.safetensors")));
    ERR(dfm_optimizer_load(o, tmp_path("adam.safetensors")), DFM_INVALID_ARGUMENT, "Adam");
    ERR(dfm_optimizer_load(o2, tmp_path("missing.safetensors")), DFM_NOT_FOUND, NULL);
    ERR(dfm_optimizer_load(o2, tmp_path("trunc.safetensors")), DFM_IO_ERROR, NULL);
    BAD(dfm_optimizer_load(o2, tmp_path("a.safetensors"))); /* a safetensors file, but no optimizer state */
    ERR(dfm_optimizer_load(o2, NULL), DFM_INVALID_ARGUMENT, "path");
    ERR(dfm_optimizer_save(o2, tmp_path("nodir/adam.safetensors")), DFM_NOT_FOUND, NULL);
    ERR(dfm_optimizer_save(NULL, tmp_path("adam.safetensors")), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_optimizer_save(o2, NULL), DFM_INVALID_ARGUMENT, NULL);

    /* schedulers */
    OK(dfm_scheduler_step_lr(o, 2, 0.5, &s));
    OK(dfm_scheduler_step(s));
    OK(dfm_scheduler_step(s));
    OK(dfm_scheduler_get_last_lr(s, &lr));
    CHECK(fabs(lr - 0.025) < 1e-12);
    OK(dfm_scheduler_save(s, tmp_path("steplr.safetensors")));
    OK(dfm_scheduler_step(s));
    OK(dfm_scheduler_load(s, tmp_path("steplr.safetensors")));
    ERR(dfm_scheduler_step_lr(o, 0, 0.5, &s2), DFM_INVALID_ARGUMENT, "step_size");
    ERR(dfm_scheduler_step_lr(o, INT64_MAX, 0.5, &s2), DFM_INVALID_ARGUMENT, "step_size");
    ERR(dfm_scheduler_step_lr(o, 2, NAN, &s2), DFM_INVALID_ARGUMENT, "gamma");
    ERR(dfm_scheduler_step_lr(NULL, 2, 0.5, &s2), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_scheduler_step_lr(o, 2, 0.5, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_scheduler_cosine_annealing_lr(o2, 10, 0, &s2));
    OK(dfm_scheduler_step(s2));
    OK(dfm_scheduler_get_last_lr(s2, &lr));
    CHECK(lr < 0.01 && lr > 0.009);
    ERR(dfm_scheduler_load(s2, tmp_path("steplr.safetensors")), DFM_INVALID_ARGUMENT, "StepLR");
    {
        dfm_scheduler dummy = NULL;
        ERR(dfm_scheduler_cosine_annealing_lr(o2, 0, 0, &dummy), DFM_INVALID_ARGUMENT, "T_max");
        ERR(dfm_scheduler_cosine_annealing_lr(o2, INT64_MAX, 0, &dummy), DFM_INVALID_ARGUMENT, "t_max");
        ERR(dfm_scheduler_cosine_annealing_lr(o2, 10, INFINITY, &dummy), DFM_INVALID_ARGUMENT, "eta_min");
        ERR(dfm_scheduler_cosine_annealing_lr((dfm_optimizer)(void *)w, 10, 0, &dummy), DFM_TYPE_ERROR, NULL);
    }
    ERR(dfm_scheduler_cosine_annealing_lr(o2, 10, 0, NULL), DFM_INVALID_ARGUMENT, NULL);
    { /* MultiStepLR and ExponentialLR on an optimizer of their own */
        dfm_optimizer o3 = NULL;
        dfm_scheduler m = NULL, x = NULL, none = NULL;
        int64_t ms[2] = {1, 3}, bad_ms[1] = {-1};
        OK(dfm_optimizer_sgd(ps, 1, 0.1, 0, 0, 0, false, false, &o3));
        OK(dfm_scheduler_multi_step_lr(o3, ms, 2, 0.5, &m));
        OK(dfm_scheduler_step(m));
        OK(dfm_scheduler_get_last_lr(m, &lr));
        CHECK(fabs(lr - 0.05) < 1e-12);
        OK(dfm_scheduler_save(m, tmp_path("multistep.safetensors")));
        OK(dfm_scheduler_load(m, tmp_path("multistep.safetensors")));
        ERR(dfm_scheduler_multi_step_lr(o3, bad_ms, 1, 0.5, &x), DFM_INVALID_ARGUMENT, "milestones");
        ERR(dfm_scheduler_multi_step_lr(o3, NULL, 2, 0.5, &x), DFM_INVALID_ARGUMENT, "milestones");
        ERR(dfm_scheduler_multi_step_lr(o3, ms, -1, 0.5, &x), DFM_INVALID_ARGUMENT, "'n'");
        ERR(dfm_scheduler_multi_step_lr(o3, ms, 2, NAN, &x), DFM_INVALID_ARGUMENT, "gamma");
        ERR(dfm_scheduler_multi_step_lr(NULL, ms, 2, 0.5, &x), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_scheduler_multi_step_lr(o3, ms, 2, 0.5, NULL), DFM_INVALID_ARGUMENT, NULL);
        CHECK(x == NULL);
        OK(dfm_scheduler_exponential_lr(o3, 0.5, &x));
        OK(dfm_scheduler_step(x));
        OK(dfm_scheduler_get_last_lr(x, &lr));
        CHECK(fabs(lr - 0.025) < 1e-12); /* 0.05 from MultiStepLR, halved */
        ERR(dfm_scheduler_load(x, tmp_path("multistep.safetensors")), DFM_INVALID_ARGUMENT, "MultiStepLR");
        ERR(dfm_scheduler_exponential_lr(o3, INFINITY, &none), DFM_INVALID_ARGUMENT, "gamma");
        ERR(dfm_scheduler_exponential_lr((dfm_optimizer)(void *)w, 0.5, &none), DFM_TYPE_ERROR, NULL);
        CHECK(none == NULL);
        ERR(dfm_scheduler_exponential_lr(o3, 0.5, NULL), DFM_INVALID_ARGUMENT, NULL);
        dfm_scheduler_release(x);
        dfm_scheduler_release(m);
        /* ReduceLROnPlateau: patience 1, so the second epoch without improvement halves the lr */
        OK(dfm_scheduler_reduce_on_plateau(o3, false, 0.5, 1, 1e-4, true, 0, 0, 1e-8, &m));
        OK(dfm_scheduler_get_last_lr(m, &lr));
        CHECK(fabs(lr - 0.025) < 1e-12);
        OK(dfm_scheduler_step_metric(m, 1.0));
        OK(dfm_scheduler_step_metric(m, 1.0));
        OK(dfm_scheduler_get_last_lr(m, &lr));
        CHECK(fabs(lr - 0.025) < 1e-12);
        OK(dfm_scheduler_step_metric(m, NAN)); /* NaN never improves */
        OK(dfm_scheduler_get_last_lr(m, &lr));
        CHECK(fabs(lr - 0.0125) < 1e-12);
        ERR(dfm_scheduler_step(m), DFM_STATE_ERROR, "dfm_scheduler_step_metric");
        OK(dfm_scheduler_save(m, tmp_path("plateau.safetensors")));
        OK(dfm_scheduler_load(m, tmp_path("plateau.safetensors")));
        ERR(dfm_scheduler_step_metric(s, 1.0), DFM_TYPE_ERROR, "ReduceLROnPlateau");
        ERR(dfm_scheduler_step_metric(NULL, 1.0), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_scheduler_reduce_on_plateau(o3, false, 1.0, 1, 1e-4, true, 0, 0, 1e-8, &none), DFM_INVALID_ARGUMENT,
            "Factor");
        ERR(dfm_scheduler_reduce_on_plateau(o3, false, 0.5, -1, 1e-4, true, 0, 0, 1e-8, &none), DFM_INVALID_ARGUMENT,
            "patience");
        ERR(dfm_scheduler_reduce_on_plateau(o3, false, 0.5, 1, NAN, true, 0, 0, 1e-8, &none), DFM_INVALID_ARGUMENT,
            "threshold");
        ERR(dfm_scheduler_reduce_on_plateau(o3, false, 0.5, 1, 1e-4, true, INT64_MAX, 0, 1e-8, &none),
            DFM_INVALID_ARGUMENT, "cooldown");
        ERR(dfm_scheduler_reduce_on_plateau(NULL, false, 0.5, 1, 1e-4, true, 0, 0, 1e-8, &none), DFM_INVALID_ARGUMENT,
            NULL);
        ERR(dfm_scheduler_reduce_on_plateau(o3, false, 0.5, 1, 1e-4, true, 0, 0, 1e-8, NULL), DFM_INVALID_ARGUMENT,
            NULL);
        CHECK(none == NULL);
        dfm_scheduler_release(m);
        /* OneCycleLR over 4 steps: starts at max_lr / 25, peaks at max_lr, refuses a 5th step */
        OK(dfm_scheduler_one_cycle_lr(o3, 0.5, 4, 0.5, false, true, 0.85, 0.95, 25, 1e4, false, &m));
        OK(dfm_scheduler_get_last_lr(m, &lr));
        CHECK(fabs(lr - 0.02) < 1e-12);
        OK(dfm_scheduler_step(m));
        OK(dfm_scheduler_get_last_lr(m, &lr));
        CHECK(fabs(lr - 0.5) < 1e-12);
        OK(dfm_scheduler_step(m));
        OK(dfm_scheduler_step(m));
        OK(dfm_scheduler_step(m));
        ERR(dfm_scheduler_step(m), DFM_STATE_ERROR, "total steps");
        OK(dfm_scheduler_save(m, tmp_path("onecycle.safetensors")));
        OK(dfm_scheduler_load(m, tmp_path("onecycle.safetensors")));
        dfm_scheduler_release(m);
        ERR(dfm_scheduler_one_cycle_lr(o3, 0.5, 0, 0.5, false, true, 0.85, 0.95, 25, 1e4, false, &none),
            DFM_INVALID_ARGUMENT, "total_steps");
        ERR(dfm_scheduler_one_cycle_lr(o3, 0.5, 4, 1.5, false, true, 0.85, 0.95, 25, 1e4, false, &none),
            DFM_INVALID_ARGUMENT, "pct_start");
        ERR(dfm_scheduler_one_cycle_lr(o3, 0.5, 10, 0.1, false, true, 0.85, 0.95, 25, 1e4, false, &none),
            DFM_INVALID_ARGUMENT, "zero length");
        ERR(dfm_scheduler_one_cycle_lr(o3, NAN, 4, 0.5, false, true, 0.85, 0.95, 25, 1e4, false, &none),
            DFM_INVALID_ARGUMENT, "max_lr");
        ERR(dfm_scheduler_one_cycle_lr(o3, 0.5, 4, 0.5, false, true, 0.85, 0.95, 0, 1e4, false, &none),
            DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_scheduler_one_cycle_lr(NULL, 0.5, 4, 0.5, false, true, 0.85, 0.95, 25, 1e4, false, &none),
            DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_scheduler_one_cycle_lr(o3, 0.5, 4, 0.5, false, true, 0.85, 0.95, 25, 1e4, false, NULL),
            DFM_INVALID_ARGUMENT, NULL);
        dfm_optimizer_release(o3);
    }
    {
        /* a scheduler file whose counters would overflow the epoch arithmetic */
        dfm_tensor_dict d = NULL;
        OK(dfm_tensor_dict_new(&d));
        OK(dfm_tensor_dict_set_metadata(d, "scheduler", "CosineAnnealingLR"));
        OK(dfm_tensor_dict_set_metadata(d, "last_epoch", "9223372036854775807"));
        OK(dfm_tensor_dict_set_metadata(d, "_step_count", "1"));
        OK(dfm_tensor_dict_set_metadata(d, "T_max", "9223372036854775807"));
        OK(dfm_safetensors_write(tmp_path("evil_sched.safetensors"), d));
        ERR(dfm_scheduler_load(s2, tmp_path("evil_sched.safetensors")), DFM_INVALID_ARGUMENT, "last_epoch");
        dfm_tensor_dict_release(d);
    }
    ERR(dfm_scheduler_load(s2, tmp_path("missing.safetensors")), DFM_NOT_FOUND, NULL);
    ERR(dfm_scheduler_load(s2, tmp_path("corrupt.safetensors")), DFM_IO_ERROR, NULL);
    ERR(dfm_scheduler_load(s2, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_scheduler_load(NULL, tmp_path("steplr.safetensors")), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_scheduler_save(s2, tmp_path("nodir/s.safetensors")), DFM_NOT_FOUND, NULL);
    ERR(dfm_scheduler_save(s2, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_scheduler_save(NULL, tmp_path("s.safetensors")), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_scheduler_step(NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_scheduler_step((dfm_scheduler)o), DFM_TYPE_ERROR, "dfm_optimizer");
    ERR(dfm_scheduler_get_last_lr(s2, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_scheduler_get_last_lr(FOREIGN, &lr), DFM_INVALID_ARGUMENT, NULL);

    /* releasing the optimizer first is fine: the scheduler keeps it alive */
    OK(dfm_optimizer_release(o));
    OK(dfm_scheduler_step(s));
    OK(dfm_scheduler_release(s));
    ERR(dfm_scheduler_release(s), DFM_INVALID_ARGUMENT, "released");
    OK(dfm_scheduler_release(NULL));
    OK(dfm_scheduler_release(s2));
    OK(dfm_optimizer_release(o2));
    ERR(dfm_optimizer_release(o2), DFM_INVALID_ARGUMENT, "released");
    OK(dfm_optimizer_release(NULL));
    dfm_tensor_release(nl);
    dfm_tensor_release(it);
    dfm_tensor_release(w);
    dfm_tensor_release(w2);
}

/* ---------------------------------------------------------------- datasets */

static void be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void test_dataset(void) {
    /* 5 images of 2x3 and 5 labels, raw IDX */
    unsigned char img[16 + 30], lab[8 + 5];
    int k;
    dfm_dataset d = NULL;
    dfm_tensor x = NULL, y = NULL;
    int64_t n, h, w, idx[3] = {4, 0, 2}, bad_idx[2] = {0, 5};

    memset(img, 0, sizeof img);
    img[2] = 0x08;
    img[3] = 3;
    be32(img + 4, 5);
    be32(img + 8, 2);
    be32(img + 12, 3);
    for (k = 0; k < 30; k++) img[16 + k] = (unsigned char)(k * 8);
    memset(lab, 0, sizeof lab);
    lab[2] = 0x08;
    lab[3] = 1;
    be32(lab + 4, 5);
    for (k = 0; k < 5; k++) lab[8 + k] = (unsigned char)k;
    write_bytes(tmp_path("img-idx3-ubyte"), img, sizeof img);
    write_bytes(tmp_path("lab-idx1-ubyte"), lab, sizeof lab);
    write_bytes(tmp_path("img_trunc"), img, sizeof img - 1);
    write_bytes(tmp_path("img_head"), img, 10);
    write_bytes(tmp_path("lab_trunc"), lab, 9);
    {
        unsigned char bad[sizeof img];
        memcpy(bad, img, sizeof img);
        bad[2] = 0x0d; /* float data, not unsigned bytes */
        write_bytes(tmp_path("img_type"), bad, sizeof bad);
        memcpy(bad, img, sizeof img);
        be32(bad + 4, 0xffffffffu); /* absurd count */
        write_bytes(tmp_path("img_count"), bad, sizeof bad);
        bad[0] = 0x1f; /* gzip magic, then garbage */
        bad[1] = 0x8b;
        write_bytes(tmp_path("img_gz"), bad, sizeof bad);
    }
    {
        unsigned char lab4[8 + 4];
        memcpy(lab4, lab, sizeof lab4);
        be32(lab4 + 4, 4);
        write_bytes(tmp_path("lab4"), lab4, sizeof lab4);
    }

    OK(dfm_dataset_idx_open(tmp_path("img-idx3-ubyte"), tmp_path("lab-idx1-ubyte"), &d));
    OK(dfm_dataset_len(d, &n));
    CHECK(n == 5);
    OK(dfm_dataset_image_size(d, &h, &w));
    CHECK(h == 2 && w == 3);
    OK(dfm_dataset_batch(d, idx, 3, &x, &y));
    CHECK(numel(x) == 18 && fabsf(at(x, 0) - (float)(24 * 8) / 255.0f) < 1e-6f && at64(y, 0) == 4 && at64(y, 1) == 0);
    dfm_tensor_release(x);
    dfm_tensor_release(y);
    OK(dfm_dataset_batch_range(d, 3, 10, false, 0, &x, &y)); /* short last batch */
    CHECK(numel(y) == 2 && at64(y, 0) == 3);
    dfm_tensor_release(x);
    dfm_tensor_release(y);
    {
        int64_t first_order[5], again[5], i, distinct = 1;
        OK(dfm_dataset_batch_range(d, 0, 5, true, 42, &x, &y));
        for (i = 0; i < 5; i++) first_order[i] = at64(y, i);
        dfm_tensor_release(x);
        dfm_tensor_release(y);
        OK(dfm_dataset_batch_range(d, 0, 5, true, 42, &x, &y));
        for (i = 0; i < 5; i++) again[i] = at64(y, i);
        dfm_tensor_release(x);
        dfm_tensor_release(y);
        CHECK(memcmp(first_order, again, sizeof again) == 0); /* same seed, same order */
        for (i = 0; i < 5; i++) distinct &= first_order[i] >= 0 && first_order[i] < 5;
        CHECK(distinct);
    }
    ERR(dfm_dataset_batch(d, bad_idx, 2, &x, &y), DFM_INDEX_ERROR, "index 5");
    CHECK(x == NULL && y == NULL);
    ERR(dfm_dataset_batch(d, NULL, 2, &x, &y), DFM_INVALID_ARGUMENT, "indices");
    ERR(dfm_dataset_batch(d, idx, -1, &x, &y), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_dataset_batch(d, idx, INT64_MAX, &x, &y), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_dataset_batch(d, idx, 3, NULL, &y), DFM_INVALID_ARGUMENT, "images");
    ERR(dfm_dataset_batch(d, idx, 3, &x, NULL), DFM_INVALID_ARGUMENT, "labels");
    ERR(dfm_dataset_batch(NULL, idx, 3, &x, &y), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_dataset_batch_range(d, 5, 1, false, 0, &x, &y), DFM_INDEX_ERROR, "start 5");
    ERR(dfm_dataset_batch_range(d, -1, 1, false, 0, &x, &y), DFM_INDEX_ERROR, NULL);
    ERR(dfm_dataset_batch_range(d, INT64_MAX, INT64_MAX, true, 0, &x, &y), DFM_INDEX_ERROR, NULL);
    ERR(dfm_dataset_batch_range(d, 0, 0, false, 0, &x, &y), DFM_INVALID_ARGUMENT, "count");
    OK(dfm_dataset_batch_range(d, 1, INT64_MAX, true, 1, &x, &y));
    CHECK(numel(y) == 4);
    dfm_tensor_release(x);
    dfm_tensor_release(y);
    ERR(dfm_dataset_batch_range(d, 0, 1, false, 0, NULL, &y), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_dataset_batch_range((dfm_dataset)(void *)RELEASED, 0, 1, false, 0, &x, &y), DFM_INVALID_ARGUMENT,
        "released dfm_tensor");
    ERR(dfm_dataset_len(d, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_dataset_len((dfm_dataset)FOREIGN, &n), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_dataset_image_size(d, NULL, &w), DFM_INVALID_ARGUMENT, "height");
    ERR(dfm_dataset_image_size(d, &h, NULL), DFM_INVALID_ARGUMENT, "width");
    ERR(dfm_dataset_image_size(NULL, &h, &w), DFM_INVALID_ARGUMENT, NULL);
    /* segmentation scenes from the 5-image set (labels 0..4, images 2x3) */
    {
        dfm_dataset sc = NULL, bad = NULL;
        int64_t dims[4];
        OK(dfm_dataset_segmentation_scenes(d, 4, 7, 4, 1, 2, 0.2f, 5, &sc));
        OK(dfm_dataset_len(sc, &n));
        CHECK(n == 4);
        OK(dfm_dataset_image_size(sc, &h, &w));
        CHECK(h == 4 && w == 4);
        OK(dfm_dataset_batch_range(sc, 0, 4, false, 0, &x, &y));
        OK(dfm_tensor_shape(y, dims, 4));
        CHECK(ndim_of(y) == 3 && dims[0] == 4 && dims[1] == 4 && numel(x) == 64);
        dfm_tensor_release(x);
        dfm_tensor_release(y);
        ERR(dfm_dataset_batch(sc, bad_idx, 2, &x, &y), DFM_INDEX_ERROR, NULL);
        OK(dfm_dataset_segmentation_scenes(d, 4, 7, 4, 1, 2, 0.2f, 3, &bad)); /* labels 3 and 4 too big: found on use */
        ERR(dfm_dataset_batch_range(bad, 0, 4, false, 0, &x, &y), DFM_INVALID_ARGUMENT, "label");
        dfm_dataset_release(bad);
        ERR(dfm_dataset_segmentation_scenes(d, 4, 7, 2, 1, 2, 0.2f, 5, &bad), DFM_INVALID_ARGUMENT, "canvas");
        ERR(dfm_dataset_segmentation_scenes(d, 4, 7, 4, 0, 2, 0.2f, 5, &bad), DFM_INVALID_ARGUMENT, "min_objects");
        ERR(dfm_dataset_segmentation_scenes(d, 4, 7, 4, 3, 2, 0.2f, 5, &bad), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_dataset_segmentation_scenes(d, 4, 7, 4, 1, INT64_MAX, 0.2f, 5, &bad), DFM_INVALID_ARGUMENT,
            "max_objects");
        ERR(dfm_dataset_segmentation_scenes(d, 4, 7, INT64_MAX, 1, 2, 0.2f, 5, &bad), DFM_INVALID_ARGUMENT, "canvas");
        ERR(dfm_dataset_segmentation_scenes(d, -1, 7, 4, 1, 2, 0.2f, 5, &bad), DFM_INVALID_ARGUMENT, "count");
        ERR(dfm_dataset_segmentation_scenes(d, 4, 7, 4, 1, 2, 1.5f, 5, &bad), DFM_INVALID_ARGUMENT, "threshold");
        ERR(dfm_dataset_segmentation_scenes(d, 4, 7, 4, 1, 2, NAN, 5, &bad), DFM_INVALID_ARGUMENT, "threshold");
        ERR(dfm_dataset_segmentation_scenes(d, 4, 7, 4, 1, 2, 0.2f, 0, &bad), DFM_INVALID_ARGUMENT, "source_classes");
        ERR(dfm_dataset_segmentation_scenes(sc, 4, 7, 4, 1, 2, 0.2f, 5, &bad), DFM_TYPE_ERROR, "IDX");
        ERR(dfm_dataset_segmentation_scenes(NULL, 4, 7, 4, 1, 2, 0.2f, 5, &bad), DFM_INVALID_ARGUMENT, "source");
        ERR(dfm_dataset_segmentation_scenes(d, 4, 7, 4, 1, 2, 0.2f, 5, NULL), DFM_INVALID_ARGUMENT, NULL);
        CHECK(bad == NULL);
        OK(dfm_dataset_release(d));
        OK(dfm_dataset_batch_range(sc, 3, 1, false, 0, &x, &y)); /* the scenes keep their source alive */
        dfm_tensor_release(x);
        dfm_tensor_release(y);
        OK(dfm_dataset_release(sc));
    }
    ERR(dfm_dataset_release(d), DFM_INVALID_ARGUMENT, "released");
    ERR(dfm_dataset_len(d, &n), DFM_INVALID_ARGUMENT, "released");
    OK(dfm_dataset_release(NULL));

    /* bad files */
    ERR(dfm_dataset_idx_open(tmp_path("nope"), tmp_path("lab-idx1-ubyte"), &d), DFM_NOT_FOUND, "nope");
    CHECK(d == NULL);
    ERR(dfm_dataset_idx_open(tmp_path("img_trunc"), tmp_path("lab-idx1-ubyte"), &d), DFM_IO_ERROR, "truncated");
    ERR(dfm_dataset_idx_open(tmp_path("img_head"), tmp_path("lab-idx1-ubyte"), &d), DFM_IO_ERROR, NULL);
    ERR(dfm_dataset_idx_open(tmp_path("img-idx3-ubyte"), tmp_path("lab_trunc"), &d), DFM_IO_ERROR, NULL);
    ERR(dfm_dataset_idx_open(tmp_path("img_type"), tmp_path("lab-idx1-ubyte"), &d), DFM_IO_ERROR, "unsigned-byte");
    ERR(dfm_dataset_idx_open(tmp_path("img_count"), tmp_path("lab-idx1-ubyte"), &d), DFM_IO_ERROR, NULL);
    ERR(dfm_dataset_idx_open(tmp_path("img_gz"), tmp_path("lab-idx1-ubyte"), &d), DFM_IO_ERROR, "gzip");
    ERR(dfm_dataset_idx_open(tmp_path("img-idx3-ubyte"), tmp_path("lab4"), &d), DFM_IO_ERROR, "4 labels");
    ERR(dfm_dataset_idx_open(tmp_path("lab-idx1-ubyte"), tmp_path("img-idx3-ubyte"), &d), DFM_IO_ERROR, NULL);
    ERR(dfm_dataset_idx_open(NULL, tmp_path("lab-idx1-ubyte"), &d), DFM_INVALID_ARGUMENT, "images_path");
    ERR(dfm_dataset_idx_open(tmp_path("img-idx3-ubyte"), NULL, &d), DFM_INVALID_ARGUMENT, "labels_path");
    ERR(dfm_dataset_idx_open(tmp_path("img-idx3-ubyte"), tmp_path("lab-idx1-ubyte"), NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_dataset_idx_open_root(tmpdir, true, &d), DFM_NOT_FOUND, "train-images-idx3-ubyte");
    ERR(dfm_dataset_idx_open_root(NULL, true, &d), DFM_INVALID_ARGUMENT, "root");
    ERR(dfm_dataset_idx_open_root(tmpdir, false, NULL), DFM_INVALID_ARGUMENT, NULL);
    if (access("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", R_OK) == 0 && !getenv("DFM_TEST_QUICK")) {
        OK(dfm_dataset_idx_open_root("/usr/share/datasets/fashion-mnist", false, &d));
        OK(dfm_dataset_len(d, &n));
        CHECK(n == 10000);
        dfm_dataset_release(d);
    }
}

/* ---------------------------------------------------------------- DFM models */

static void test_dfm_models(void) {
    dfm_module m = NULL, lin = NULL;
    dfm_tensor x = image(1, 1, 32, 32), x2 = image(1, 2, 32, 32), y = NULL;
    int64_t s32[2] = {32, 32}, s30[2] = {30, 30}, layers[4] = {1, 1, 1, 1}, steps = -1, dims[4];

    OK(dfm_manual_seed(3));
    OK(dfm_module_dfm_deeplabv3plus(1, 2, 4, 0, 3, 0.2f, 1.0f, s32, "basic", layers, 0.5f, 1e-3f, &m));
    OK(dfm_module_train(m, false));
    dfm_set_grad_enabled(false);
    OK(dfm_module_forward_dfm(m, x, 2, 0.0f, &y));
    OK(dfm_tensor_shape(y, dims, 4));
    CHECK(ndim_of(y) == 4 && dims[1] == 3 && dims[2] == 32);
    dfm_tensor_release(y);
    OK(dfm_module_steps(m, &steps));
    CHECK(steps == 2);
    OK(dfm_module_forward(m, x, &y)); /* default T = 0: the initial state's prediction */
    dfm_tensor_release(y);
    OK(dfm_module_steps(m, &steps));
    CHECK(steps == 0);
    ERR(dfm_module_forward_dfm(m, x, -1, 0.01f, &y), DFM_INVALID_ARGUMENT, "-1");
    ERR(dfm_module_forward_dfm(m, x, INT64_MAX, 0.01f, &y), DFM_INVALID_ARGUMENT, "'T'");
    ERR(dfm_module_forward_dfm(m, x2, 1, 0.01f, &y), DFM_SHAPE_MISMATCH, "channels");
    ERR(dfm_module_forward_dfm(m, NULL, 1, 0.01f, &y), DFM_INVALID_ARGUMENT, "'x'");
    ERR(dfm_module_forward_dfm(m, x, 1, 0.01f, NULL), DFM_INVALID_ARGUMENT, NULL);
    dfm_set_grad_enabled(true);
    OK(dfm_module_linear(2, 2, true, &lin));
    ERR(dfm_module_forward_dfm(lin, x, 1, 0.01f, &y), DFM_TYPE_ERROR, "not a DFM model");
    ERR(dfm_module_forward_dfm(NULL, x, 1, 0.01f, &y), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_steps(lin, &steps), DFM_TYPE_ERROR, "Linear");
    ERR(dfm_module_steps(m, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_steps(FOREIGN, &steps), DFM_INVALID_ARGUMENT, NULL);
    {
        bool ck = true;
        OK(dfm_module_checkpoint_steps(m, &ck));
        CHECK(!ck);
        OK(dfm_module_set_checkpoint_steps(m, true));
        OK(dfm_module_checkpoint_steps(m, &ck));
        CHECK(ck);
        ERR(dfm_module_set_checkpoint_steps(lin, true), DFM_TYPE_ERROR, "not a DFM model");
        ERR(dfm_module_set_checkpoint_steps(NULL, true), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_module_checkpoint_steps(m, NULL), DFM_INVALID_ARGUMENT, NULL);
        ERR(dfm_module_checkpoint_steps(FOREIGN, &ck), DFM_INVALID_ARGUMENT, NULL);
    }
    OK(dfm_module_release(m));

    ERR(dfm_module_dfm_deeplabv3plus(1, 2, 4, 0, 3, 0.2f, 1.0f, s30, "basic", layers, 0.5f, 1e-3f, &m),
        DFM_INVALID_ARGUMENT, "16");
    CHECK(m == NULL);
    ERR(dfm_module_dfm_deeplabv3plus(1, 2, 4, 0, 3, 0.2f, 1.0f, s32, "bogus", layers, 0.5f, 1e-3f, &m),
        DFM_INVALID_ARGUMENT, "bogus");
    ERR(dfm_module_dfm_deeplabv3plus(1, 2, 4, 0, 3, 0.2f, 1.0f, s32, NULL, layers, 0.5f, 1e-3f, &m),
        DFM_INVALID_ARGUMENT, "block");
    ERR(dfm_module_dfm_deeplabv3plus(1, 2, 4, 0, 3, 0.2f, 1.0f, s32, "basic", NULL, 0.5f, 1e-3f, &m),
        DFM_INVALID_ARGUMENT, "layers");
    ERR(dfm_module_dfm_deeplabv3plus(1, 2, 4, 0, 3, 0.2f, 1.0f, NULL, "basic", layers, 0.5f, 1e-3f, &m),
        DFM_INVALID_ARGUMENT, "shape");
    ERR(dfm_module_dfm_deeplabv3plus(1, 2, 4, 1, 3, 0.2f, 1.0f, s32, "basic", layers, 0.5f, 1e-3f, &m),
        DFM_INVALID_ARGUMENT, "registers");
    ERR(dfm_module_dfm_deeplabv3plus(1, 2, 4, 0, 3, 0.2f, 0.0f, s32, "basic", layers, 0.5f, 1e-3f, &m),
        DFM_INVALID_ARGUMENT, "tau");
    ERR(dfm_module_dfm_deeplabv3plus(1, 2, 4, 0, 3, 0.2f, NAN, s32, "basic", layers, 0.5f, 1e-3f, &m),
        DFM_INVALID_ARGUMENT, "tau");
    /* alpha is unused, but NaN or infinite is refused like tau (it was accepted) */
    ERR(dfm_module_dfm_deeplabv3plus(1, 2, 4, 0, 3, NAN, 1.0f, s32, "basic", layers, 0.5f, 1e-3f, &m),
        DFM_INVALID_ARGUMENT, "alpha");
    ERR(dfm_module_dfm_deeplabv3plus(1, 2, 4, 0, 3, INFINITY, 1.0f, s32, "basic", layers, 0.5f, 1e-3f, &m),
        DFM_INVALID_ARGUMENT, "alpha");
    CHECK(m == NULL);
    ERR(dfm_module_dfm_deeplabv3plus(1, 2, 4, 0, 3, 0.2f, 1.0f, s32, "basic", layers, 0.5f, -1.0f, &m),
        DFM_INVALID_ARGUMENT, "state_init_std");
    ERR(dfm_module_dfm_deeplabv3plus(0, 2, 4, 0, 3, 0.2f, 1.0f, s32, "basic", layers, 0.5f, 1e-3f, &m),
        DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_dfm_deeplabv3plus(INT64_MAX, 2, 4, 0, 3, 0.2f, 1.0f, s32, "basic", layers, 0.5f, 1e-3f, &m),
        DFM_INVALID_ARGUMENT, "in_filters");
    ERR(dfm_module_dfm_deeplabv3plus(1, -2, 4, 0, 3, 0.2f, 1.0f, s32, "basic", layers, 0.5f, 1e-3f, &m),
        DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_dfm_deeplabv3plus(1, 2, 4, 0, 3, 0.2f, 1.0f, s32, "basic", layers, 0.5f, 1e-3f, NULL),
        DFM_INVALID_ARGUMENT, NULL);
    {
        int64_t neg_layers[4] = {1, -1, 1, 1}, huge_layers[4] = {1, INT64_MAX, 1, 1};
        BAD(dfm_module_dfm_deeplabv3plus(1, 2, 4, 0, 3, 0.2f, 1.0f, s32, "basic", neg_layers, 0.5f, 1e-3f, &m));
        ERR(dfm_module_dfm_deeplabv3plus(1, 2, 4, 0, 3, 0.2f, 1.0f, s32, "basic", huge_layers, 0.5f, 1e-3f, &m),
            DFM_INVALID_ARGUMENT, "layers[1]");
    }

    /* DFM-ResNet18, unbatched input (R4): logits (n_classes) */
    {
        int64_t s28[2] = {28, 28};
        dfm_tensor img = NULL, img3 = NULL;
        dfm_module r = NULL;
        OK(dfm_module_dfm_resnet("resnet18", "resnet", 2, 0, 10, s28, 1.0f, 1, 1e-3f, &r));
        OK(dfm_module_train(r, false));
        OK(dfm_tensor_randn(s28, 2, &img));
        OK(dfm_unsqueeze(img, 0, &img3));
        dfm_set_grad_enabled(false);
        OK(dfm_module_forward_dfm(r, img3, 3, 1e-2f, &y));
        CHECK(ndim_of(y) == 1 && numel(y) == 10);
        OK(dfm_module_steps(r, &steps));
        CHECK(steps >= 1 && steps <= 3);
        dfm_tensor_release(y);
        ERR(dfm_module_forward_dfm(r, img, 1, 1e-2f, &y), DFM_SHAPE_MISMATCH, NULL); /* 2-D */
        ERR(dfm_module_forward_dfm(r, x2, 1, 1e-2f, &y), DFM_SHAPE_MISMATCH, NULL);  /* 2 channels */
        ERR(dfm_module_forward_dfm(r, img3, 1, NAN, &y), DFM_INVALID_ARGUMENT, "atol");
        dfm_set_grad_enabled(true);
        OK(dfm_module_release(r));
        ERR(dfm_module_dfm_resnet("resnet19", "resnet", 2, 0, 10, s28, 1.0f, 1, 1e-3f, &r), DFM_INVALID_ARGUMENT,
            "resnet19");
        ERR(dfm_module_dfm_resnet(NULL, "resnet", 2, 0, 10, s28, 1.0f, 1, 1e-3f, &r), DFM_INVALID_ARGUMENT, "arch");
        ERR(dfm_module_dfm_resnet("resnet18", "vit", 2, 0, 10, s28, 1.0f, 1, 1e-3f, &r), DFM_INVALID_ARGUMENT,
            "frontend");
        ERR(dfm_module_dfm_resnet("resnet18", NULL, 2, 0, 10, s28, 1.0f, 1, 1e-3f, &r), DFM_INVALID_ARGUMENT,
            "frontend");
        ERR(dfm_module_dfm_resnet("resnet18", "resnet", -1, 0, 10, s28, 1.0f, 1, 1e-3f, &r), DFM_INVALID_ARGUMENT,
            "fb_filters");
        ERR(dfm_module_dfm_resnet("resnet18", "resnet", 2, 0, 0, s28, 1.0f, 1, 1e-3f, &r), DFM_INVALID_ARGUMENT,
            "n_classes");
        ERR(dfm_module_dfm_resnet("resnet18", "resnet", 2, 0, 10, NULL, 1.0f, 1, 1e-3f, &r), DFM_INVALID_ARGUMENT,
            "shape");
        ERR(dfm_module_dfm_resnet("resnet18", "resnet", 2, 0, 10, s28, NAN, 1, 1e-3f, &r), DFM_INVALID_ARGUMENT, "tau");
        ERR(dfm_module_dfm_resnet("resnet18", "resnet", 2, 0, 10, s28, 1.0f, 0, 1e-3f, &r), DFM_INVALID_ARGUMENT,
            "in_channels");
        ERR(dfm_module_dfm_resnet("resnet18", "resnet", INT64_MAX, 0, 10, s28, 1.0f, 1, 1e-3f, &r),
            DFM_INVALID_ARGUMENT, "fb_filters");
        ERR(dfm_module_dfm_resnet("resnet18", "resnet", 2, 0, 10, s28, 1.0f, 1, INFINITY, &r), DFM_INVALID_ARGUMENT,
            "state_init_std");
        ERR(dfm_module_dfm_resnet("resnet18", "resnet", 2, 0, 10, s28, 1.0f, 1, 1e-3f, NULL), DFM_INVALID_ARGUMENT,
            NULL);
        CHECK(r == NULL);
        dfm_tensor_release(img);
        dfm_tensor_release(img3);
    }

    dfm_module_release(lin);
    dfm_tensor_release(x);
    dfm_tensor_release(x2);
}

/* ---------------------------------------------------------------- recurrent */

/* A (d0, d1, d2) float32 tensor of small distinct values (0.05 apart, centred). */
static dfm_tensor seq3(int64_t d0, int64_t d1, int64_t d2) {
    dfm_tensor v = vec(d0 * d1 * d2, -(float)(d0 * d1 * d2) / 2), s = NULL, m = NULL;
    int64_t sh[3];
    sh[0] = d0;
    sh[1] = d1;
    sh[2] = d2;
    OK(dfm_mul_scalar(v, 0.05, &s));
    OK(dfm_reshape(s, sh, 3, &m));
    dfm_tensor_release(s);
    dfm_tensor_release(v);
    return m;
}

static void test_recurrent(void) {
    dfm_module lstm = NULL, gru = NULL, rnn = NULL, cell = NULL, gcell = NULL, lin = NULL, bad = NULL;
    dfm_tensor x = seq3(5, 2, 3), x4 = seq3(5, 2, 4), x2 = NULL, out = NULL, hn = NULL, cn = NULL, h = NULL, c = NULL;
    dfm_tensor s = NULL, t = NULL, g = NULL, f64 = NULL, hx = seq3(1, 3, 4);
    dfm_tensor w[4];
    dfm_tensor_dict params = NULL;
    int64_t s23b[2] = {2, 3}, s4d[4] = {5, 2, 3, 1};
    char buf[32];
    size_t len;
    int k;

    OK(dfm_manual_seed(3));
    {
        dfm_tensor tmp = seq3(1, 2, 3);
        OK(dfm_reshape(tmp, s23b, 2, &x2));
        dfm_tensor_release(tmp);
    }

    /* nn.LSTM(3, 4, num_layers=2, bidirectional=True): output (5, 2, 8), h_n and c_n (4, 2, 4) */
    OK(dfm_module_rnn("LSTM", 3, 4, 2, true, false, 0.0, true, &lstm));
    OK(dfm_module_type_name(lstm, buf, sizeof buf, &len));
    CHECK(strcmp(buf, "LSTM") == 0);
    OK(dfm_module_rnn_forward(lstm, x, NULL, NULL, &out, &hn, &cn));
    CHECK(numel(out) == 80 && ndim_of(out) == 3 && numel(hn) == 32 && numel(cn) == 32);
    OK(dfm_sum(out, NULL, 0, false, &s));
    OK(dfm_backward(s, NULL, false));
    OK(dfm_module_named_parameters(lstm, &params));
    OK(dfm_tensor_dict_get(params, "weight_hh_l1_reverse", &t));
    OK(dfm_tensor_grad(t, &g));
    CHECK(g != NULL && numel(g) == 64);
    dfm_tensor_release(g);
    dfm_tensor_release(t);
    dfm_tensor_dict_release(params);
    dfm_tensor_release(s);
    dfm_tensor_release(out);
    dfm_tensor_release(hn);
    dfm_tensor_release(cn);
    OK(dfm_module_forward(lstm, x, &out)); /* the output sequence only */
    CHECK(numel(out) == 80);
    dfm_tensor_release(out);

    /* bad constructor arguments */
    ERR(dfm_module_rnn("LSTMX", 3, 4, 1, true, false, 0.0, false, &bad), DFM_INVALID_ARGUMENT, "unknown mode");
    ERR(dfm_module_rnn(NULL, 3, 4, 1, true, false, 0.0, false, &bad), DFM_INVALID_ARGUMENT, "'mode'");
    ERR(dfm_module_rnn("GRU", 3, 0, 1, true, false, 0.0, false, &bad), DFM_INVALID_ARGUMENT, "hidden_size");
    ERR(dfm_module_rnn("GRU", 3, 4, 0, true, false, 0.0, false, &bad), DFM_INVALID_ARGUMENT, "num_layers");
    ERR(dfm_module_rnn("GRU", -3, 4, 1, true, false, 0.0, false, &bad), DFM_INVALID_ARGUMENT, "input_size");
    ERR(dfm_module_rnn("GRU", 3, 4, 1, true, false, NAN, false, &bad), DFM_INVALID_ARGUMENT, "dropout");
    ERR(dfm_module_rnn("GRU", 3, 4, 1, true, false, 1.5, false, &bad), DFM_INVALID_ARGUMENT, "dropout");
    BAD(dfm_module_rnn("RNN_TANH", 3, INT64_MAX, 1, true, false, 0.0, false, &bad));
    BAD(dfm_module_rnn("RNN_TANH", INT64_MAX, INT64_MAX, INT64_MAX, true, false, 0.0, true, &bad));
    ERR(dfm_module_rnn("GRU", 3, 4, 1, true, false, 0.0, false, NULL), DFM_INVALID_ARGUMENT, "out");
    CHECK(bad == NULL);

    /* bad forward arguments: every out stays NULL */
    ERR(dfm_module_rnn_forward(lstm, x, NULL, NULL, &out, &hn, NULL), DFM_INVALID_ARGUMENT, "c_n");
    ERR(dfm_module_rnn_forward(lstm, x4, NULL, NULL, &out, &hn, &cn), DFM_SHAPE_MISMATCH, "input_size");
    ERR(dfm_module_rnn_forward(lstm, x, hx, NULL, &out, &hn, &cn), DFM_SHAPE_MISMATCH, "hx[0]");
    ERR(dfm_module_rnn_forward(lstm, RELEASED, NULL, NULL, &out, &hn, &cn), DFM_INVALID_ARGUMENT, "released");
    ERR(dfm_module_rnn_forward(lstm, NULL, NULL, NULL, &out, &hn, &cn), DFM_INVALID_ARGUMENT, "'input'");
    ERR(dfm_module_rnn_forward(NULL, x, NULL, NULL, &out, &hn, &cn), DFM_INVALID_ARGUMENT, "'m'");
    ERR(dfm_module_rnn_forward(lstm, x, NULL, NULL, NULL, &hn, &cn), DFM_INVALID_ARGUMENT, "output");
    ERR(dfm_module_rnn_forward(lstm, x, FOREIGN, NULL, &out, &hn, &cn), DFM_INVALID_ARGUMENT, "'hx'");
    OK(dfm_module_linear(3, 3, true, &lin));
    ERR(dfm_module_rnn_forward(lin, x, NULL, NULL, &out, &hn, &cn), DFM_TYPE_ERROR, "expected an RNN");
    ERR(dfm_module_rnn_cell_forward(lstm, x2, NULL, NULL, &h, &c), DFM_TYPE_ERROR, "expected an RNNCell");
    CHECK(out == NULL && hn == NULL && cn == NULL && h == NULL && c == NULL);
    {
        dfm_tensor xd = NULL;
        OK(dfm_tensor_to_dtype(x, DFM_FLOAT64, &xd));
        ERR(dfm_module_rnn_forward(lstm, xd, NULL, NULL, &out, &hn, &cn), DFM_TYPE_ERROR, "dtype");
        OK(dfm_module_to(lstm, DFM_FLOAT64)); /* float64 runs once the module is float64 */
        OK(dfm_module_rnn_forward(lstm, xd, NULL, NULL, &out, &hn, &cn));
        CHECK(!isnan(atd(out, 0)));
        dfm_tensor_release(out);
        dfm_tensor_release(hn);
        dfm_tensor_release(cn);
        dfm_tensor_release(xd);
    }

    /* GRU and ReLU RNN: no cell state; a given c_n is set to NULL */
    OK(dfm_module_rnn("GRU", 3, 4, 1, false, true, 0.0, false, &gru));
    cn = (dfm_tensor)FOREIGN;
    OK(dfm_module_rnn_forward(gru, x, NULL, NULL, &out, &hn, &cn));
    CHECK(cn == NULL && numel(out) == 5 * 2 * 4 && numel(hn) == 5 * 4); /* batch_first: B = 5 */
    dfm_tensor_release(out);
    dfm_tensor_release(hn);
    ERR(dfm_module_rnn_forward(gru, x, NULL, hx, &out, &hn, NULL), DFM_INVALID_ARGUMENT, "cell state");
    OK(dfm_module_rnn("RNN_RELU", 3, 4, 1, true, false, 0.0, false, &rnn));
    OK(dfm_module_rnn_forward(rnn, x, NULL, NULL, &out, &hn, NULL));
    for (k = 0; k < 40; k++) CHECK(at(out, k) >= 0);
    dfm_tensor_release(out);
    dfm_tensor_release(hn);

    /* cells */
    OK(dfm_module_rnn_cell("LSTM", 3, 4, true, &cell));
    OK(dfm_module_rnn_cell_forward(cell, x2, NULL, NULL, &h, &c));
    CHECK(numel(h) == 8 && numel(c) == 8);
    dfm_tensor_release(h);
    dfm_tensor_release(c);
    h = c = NULL;
    ERR(dfm_module_rnn_cell_forward(cell, x2, NULL, NULL, &h, NULL), DFM_INVALID_ARGUMENT, "'c'");
    ERR(dfm_module_rnn_cell_forward(cell, x, NULL, NULL, &h, &c), DFM_SHAPE_MISMATCH, "1D or 2D");
    ERR(dfm_module_rnn_cell_forward(cell, x2, NULL, NULL, NULL, &c), DFM_INVALID_ARGUMENT, "'h'");
    ERR(dfm_module_rnn_cell_forward(NULL, x2, NULL, NULL, &h, &c), DFM_INVALID_ARGUMENT, "'m'");
    ERR(dfm_module_rnn_cell("GRU", 3, -1, true, &bad), DFM_INVALID_ARGUMENT, "hidden_size");
    ERR(dfm_module_rnn_cell("gru", 3, 4, true, &bad), DFM_INVALID_ARGUMENT, "unknown mode");
    ERR(dfm_module_rnn_cell("GRU", 3, 4, true, NULL), DFM_INVALID_ARGUMENT, "out");
    BAD(dfm_module_rnn_cell("GRU", INT64_MAX, INT64_MAX, true, &bad));
    OK(dfm_module_rnn_cell("GRU", 3, 4, true, &gcell));
    OK(dfm_module_rnn_cell_forward(gcell, x2, NULL, NULL, &h, NULL));
    CHECK(numel(h) == 8);
    dfm_tensor_release(h);
    h = NULL;

    /* functional GRU over caller weights: w_ih (12, 3), w_hh (12, 4), b_ih, b_hh (12) */
    w[0] = mat(12, 3, -18);
    w[1] = mat(12, 4, -24);
    w[2] = vec(12, -6);
    w[3] = vec(12, -5);
    for (k = 0; k < 4; k++) {
        dfm_tensor sc = NULL;
        OK(dfm_mul_scalar(w[k], 0.02, &sc));
        dfm_tensor_release(w[k]);
        w[k] = sc;
    }
    OK(dfm_rnn("GRU", x, NULL, NULL, w, 4, true, 1, 0.0, false, false, false, &out, &hn, NULL));
    CHECK(numel(out) == 40 && numel(hn) == 8);
    dfm_tensor_release(out);
    dfm_tensor_release(hn);
    ERR(dfm_rnn("GRU", x, NULL, NULL, w, 3, true, 1, 0.0, false, false, false, &out, &hn, NULL), DFM_INVALID_ARGUMENT,
        "weight tensors");
    ERR(dfm_rnn("GRU", x, NULL, NULL, NULL, 4, true, 1, 0.0, false, false, false, &out, &hn, NULL),
        DFM_INVALID_ARGUMENT, "'params'");
    ERR(dfm_rnn("GRU", x, NULL, NULL, w, -1, true, 1, 0.0, false, false, false, &out, &hn, NULL), DFM_INVALID_ARGUMENT,
        "params");
    ERR(dfm_rnn("GRU", x, NULL, NULL, w, 4, true, 0, 0.0, false, false, false, &out, &hn, NULL), DFM_INVALID_ARGUMENT,
        "num_layers");
    ERR(dfm_rnn("GRU", x, NULL, NULL, w, 4, true, 1, -0.5, true, false, false, &out, &hn, NULL), DFM_INVALID_ARGUMENT,
        "dropout");
    ERR(dfm_rnn("LSTM", x, NULL, NULL, w, 4, true, 1, 0.0, false, false, false, &out, &hn, &cn), DFM_SHAPE_MISMATCH,
        "weight_hh");
    ERR(dfm_rnn("XYZ", x, NULL, NULL, w, 4, true, 1, 0.0, false, false, false, &out, &hn, NULL), DFM_INVALID_ARGUMENT,
        "mode");
    ERR(dfm_rnn("GRU", x4, NULL, NULL, w, 4, true, 1, 0.0, false, false, false, &out, &hn, NULL), DFM_SHAPE_MISMATCH,
        "input_size");
    ERR(dfm_rnn("GRU", x, NULL, NULL, w, 4, true, 1, 0.0, false, false, false, &out, NULL, NULL), DFM_INVALID_ARGUMENT,
        "h_n");
    {
        dfm_tensor x4d = NULL;
        OK(dfm_reshape(x, s4d, 4, &x4d));
        ERR(dfm_rnn("GRU", x4d, NULL, NULL, w, 4, true, 1, 0.0, false, false, false, &out, &hn, NULL),
            DFM_SHAPE_MISMATCH, "2D or 3D");
        dfm_tensor_release(x4d);
    }
    OK(dfm_tensor_to_dtype(x, DFM_INT64, &f64));
    ERR(dfm_rnn("GRU", f64, NULL, NULL, w, 4, true, 1, 0.0, false, false, false, &out, &hn, NULL), DFM_TYPE_ERROR,
        NULL);
    dfm_tensor_release(f64);
    CHECK(out == NULL && hn == NULL);
    OK(dfm_rnn_cell("GRU", x2, NULL, NULL, w[0], w[1], w[2], NULL, &h, NULL));
    CHECK(numel(h) == 8);
    dfm_tensor_release(h);
    h = NULL;
    ERR(dfm_rnn_cell("GRU", x2, NULL, NULL, w[1], w[1], NULL, NULL, &h, NULL), DFM_SHAPE_MISMATCH, "input_size");
    ERR(dfm_rnn_cell("GRU", x2, NULL, NULL, NULL, w[1], NULL, NULL, &h, NULL), DFM_INVALID_ARGUMENT, "'w_ih'");
    ERR(dfm_rnn_cell("LSTM", x2, NULL, NULL, w[0], w[1], NULL, NULL, &h, NULL), DFM_INVALID_ARGUMENT, "'c'");
    ERR(dfm_rnn_cell("GRU", x2, x2, NULL, w[0], w[1], NULL, NULL, &h, NULL), DFM_SHAPE_MISMATCH, "hidden");
    ERR(dfm_rnn_cell(NULL, x2, NULL, NULL, w[0], w[1], NULL, NULL, &h, NULL), DFM_INVALID_ARGUMENT, "'mode'");
    ERR(dfm_rnn_cell("GRU", x2, NULL, NULL, w[0], w[1], NULL, NULL, NULL, NULL), DFM_INVALID_ARGUMENT, "'h'");
    CHECK(h == NULL);
    for (k = 0; k < 4; k++) dfm_tensor_release(w[k]);

    dfm_module_release(gcell);
    dfm_module_release(cell);
    dfm_module_release(rnn);
    dfm_module_release(gru);
    dfm_module_release(lin);
    dfm_module_release(lstm);
    dfm_tensor_release(hx);
    dfm_tensor_release(x2);
    dfm_tensor_release(x4);
    dfm_tensor_release(x);
}

/* ---------------------------------------------------------------- threads */

static void *thread_body(void *arg) {
    int k, *ok = arg;
    *ok = 1;
    /* grad mode and last error are per thread */
    dfm_set_grad_enabled(false);
    if (dfm_tensor_release(FOREIGN) == DFM_OK) *ok = 0;
    if (!strstr(dfm_last_error_message(), "dfm_tensor_release")) *ok = 0;
    for (k = 0; k < 20; k++) {
        dfm_tensor x = vec(64, (float)k), y = NULL, s = NULL;
        if (dfm_mul(x, x, &y) != DFM_OK || dfm_sum(y, NULL, 0, false, &s) != DFM_OK) *ok = 0;
        dfm_tensor_release(s);
        dfm_tensor_release(y);
        dfm_tensor_release(x);
    }
    return NULL;
}

static dfm_tensor shared_tensor;

/* Retains and releases one handle many times, racing with the other threads. */
static void *refcount_body(void *arg) {
    int k, *ok = arg;
    *ok = 1;
    for (k = 0; k < 2000; k++) {
        if (dfm_tensor_retain(shared_tensor) != DFM_OK) *ok = 0;
        if (dfm_tensor_release(shared_tensor) != DFM_OK) *ok = 0;
    }
    return NULL;
}

/* dfm.h: "On failure every handle out pointer is set to NULL". For the two-output
 * functions this holds for the good pointer when the other one is the NULL argument
 * (issue #14 item 4: the good one used to keep its old value). */
static void test_two_outputs_null_on_failure(void) {
    dfm_tensor a = mat(2, 3, 1), v, i, x, y;
    dfm_tensor stale = (dfm_tensor)FOREIGN; /* any non-NULL value the caller had there */
    dfm_dataset d = NULL;
    int64_t idx[2] = {0, 1};

    v = stale;
    ERR(dfm_max_dim(a, 1, false, &v, NULL), DFM_INVALID_ARGUMENT, "indices");
    CHECK(v == NULL);
    i = stale;
    ERR(dfm_max_dim(a, 1, false, NULL, &i), DFM_INVALID_ARGUMENT, "values");
    CHECK(i == NULL);
    v = stale;
    ERR(dfm_min_dim(a, 1, false, &v, NULL), DFM_INVALID_ARGUMENT, "indices");
    CHECK(v == NULL);
    v = stale;
    ERR(dfm_sort(a, 1, false, &v, NULL), DFM_INVALID_ARGUMENT, "indices");
    CHECK(v == NULL);
    v = stale;
    ERR(dfm_topk(a, 1, 1, true, &v, NULL), DFM_INVALID_ARGUMENT, "indices");
    CHECK(v == NULL);
    v = stale;
    ERR(dfm_qr(a, "reduced", &v, NULL), DFM_INVALID_ARGUMENT, "'r'");
    CHECK(v == NULL);
    i = stale;
    ERR(dfm_qr(a, "reduced", NULL, &i), DFM_INVALID_ARGUMENT, "'q'");
    CHECK(i == NULL);
    /* a failing call with both pointers given also clears both */
    v = stale;
    i = stale;
    ERR(dfm_max_dim(a, 9, false, &v, &i), DFM_INDEX_ERROR, NULL);
    CHECK(v == NULL && i == NULL);

    /* the IDX files test_dataset wrote */
    OK(dfm_dataset_idx_open(tmp_path("img-idx3-ubyte"), tmp_path("lab-idx1-ubyte"), &d));
    x = stale;
    ERR(dfm_dataset_batch(d, idx, 2, &x, NULL), DFM_INVALID_ARGUMENT, "labels");
    CHECK(x == NULL);
    y = stale;
    ERR(dfm_dataset_batch(d, idx, 2, NULL, &y), DFM_INVALID_ARGUMENT, "images");
    CHECK(y == NULL);
    x = stale;
    ERR(dfm_dataset_batch_range(d, 0, 2, false, 0, &x, NULL), DFM_INVALID_ARGUMENT, "labels");
    CHECK(x == NULL);
    OK(dfm_dataset_release(d));
    dfm_tensor_release(a);
}

static void test_threads(void) {
    pthread_t th[4];
    int ok[4], k;
    dfm_tensor x = vec(2, 0);
    int64_t n = 0;

    shared_tensor = vec(3, 0);
    for (k = 0; k < 4; k++) pthread_create(&th[k], NULL, refcount_body, &ok[k]);
    for (k = 0; k < 4; k++) pthread_join(th[k], NULL);
    for (k = 0; k < 4; k++) CHECK(ok[k]);
    OK(dfm_tensor_numel(shared_tensor, &n)); /* still exactly one reference: alive */
    CHECK(n == 3);
    OK(dfm_tensor_release(shared_tensor));
    ERR(dfm_tensor_release(shared_tensor), DFM_INVALID_ARGUMENT, "released");

    ERR(dfm_tensor_ndim(x, NULL), DFM_INVALID_ARGUMENT, "out");
    for (k = 0; k < 4; k++) pthread_create(&th[k], NULL, thread_body, &ok[k]);
    for (k = 0; k < 4; k++) pthread_join(th[k], NULL);
    for (k = 0; k < 4; k++) CHECK(ok[k]);
    CHECK(dfm_is_grad_enabled());                                       /* untouched by the others */
    CHECK(strstr(dfm_last_error_message(), "dfm_tensor_ndim") != NULL); /* ours, not theirs */
    dfm_tensor_release(x);
}

static void remove_tmpdir(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* ---------------------------------------------------------------- more optimizers, losses */

static dfm_tensor ivec(const int64_t *v, int64_t n) {
    dfm_tensor t = NULL;
    OK(dfm_tensor_from_data(v, (size_t)n * sizeof(int64_t), &n, 1, DFM_INT64, &t));
    return t;
}

/* Each new optimizer: a step moves the parameter, save/load round-trips, bad
 * hyperparameters and handles are refused. */
static void test_optim_extra(void) {
    dfm_tensor w = vec(3, 1), ps[1];
    dfm_optimizer o = NULL, bad = NULL;
    const char *path = tmp_path("extra_opt.safetensors");
    int k;
    OK(dfm_tensor_set_requires_grad(w, true));
    ps[0] = w;
    for (k = 0; k < 6; k++) {
        float before = first(w);
        switch (k) {
        case 0:
            OK(dfm_optimizer_adadelta(ps, 1, 1.0, 0.9, 1e-6, 0, false, &o));
            break;
        case 1:
            OK(dfm_optimizer_adagrad(ps, 1, 0.1, 0, 0, 0, 1e-10, false, &o));
            break;
        case 2:
            OK(dfm_optimizer_adamax(ps, 1, 0.1, 0.9, 0.999, 1e-8, 0, false, &o));
            break;
        case 3:
            OK(dfm_optimizer_nadam(ps, 1, 0.1, 0.9, 0.999, 1e-8, 0, 4e-3, false, false, &o));
            break;
        case 4:
            OK(dfm_optimizer_radam(ps, 1, 0.1, 0.9, 0.999, 1e-8, 0, false, false, &o));
            break;
        default:
            OK(dfm_optimizer_asgd(ps, 1, 0.1, 1e-4, 0.75, 1e6, 0, false, &o));
            break;
        }
        grad_step(o, w);
        CHECK(first(w) < before); /* d(w²)/dw > 0: every optimizer moves w down */
        OK(dfm_optimizer_save(o, path));
        OK(dfm_optimizer_load(o, path));
        dfm_optimizer_release(o);
        o = NULL;
    }
    ERR(dfm_optimizer_adadelta(ps, 1, 1.0, 1.5, 1e-6, 0, false, &bad), DFM_INVALID_ARGUMENT, "rho");
    ERR(dfm_optimizer_adadelta(ps, 1, -1, 0.9, 1e-6, 0, false, &bad), DFM_INVALID_ARGUMENT, "learning rate");
    ERR(dfm_optimizer_adadelta(NULL, 1, 1.0, 0.9, 1e-6, 0, false, &bad), DFM_INVALID_ARGUMENT, "params");
    ERR(dfm_optimizer_adadelta(ps, 1, 1.0, 0.9, 1e-6, 0, false, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_optimizer_adagrad(ps, 1, 0.1, -1, 0, 0, 1e-10, false, &bad), DFM_INVALID_ARGUMENT, "lr_decay");
    ERR(dfm_optimizer_adagrad(ps, 1, 0.1, 0, 0, NAN, 1e-10, false, &bad), DFM_INVALID_ARGUMENT,
        "initial_accumulator_value");
    ERR(dfm_optimizer_adagrad(&RELEASED, 1, 0.1, 0, 0, 0, 1e-10, false, &bad), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_optimizer_adamax(ps, 1, 0.1, 1.0, 0.999, 1e-8, 0, false, &bad), DFM_INVALID_ARGUMENT, "beta");
    ERR(dfm_optimizer_adamax(ps, 1, 0.1, 0.9, 0.999, -1, 0, false, &bad), DFM_INVALID_ARGUMENT, "epsilon");
    ERR(dfm_optimizer_nadam(ps, 1, 0.1, 0.9, 0.999, 1e-8, 0, -1, false, false, &bad), DFM_INVALID_ARGUMENT,
        "momentum_decay");
    ERR(dfm_optimizer_nadam(ps, 0, 0.1, 0.9, 0.999, 1e-8, 0, 4e-3, false, false, &bad), DFM_INVALID_ARGUMENT, "params");
    ERR(dfm_optimizer_radam(ps, 1, 0.1, 0.9, NAN, 1e-8, 0, false, false, &bad), DFM_INVALID_ARGUMENT, "beta");
    ERR(dfm_optimizer_radam(ps, 1, 0.1, 0.9, 0.999, 1e-8, INFINITY, false, false, &bad), DFM_INVALID_ARGUMENT,
        "weight_decay");
    ERR(dfm_optimizer_asgd(ps, 1, 0.1, INFINITY, 0.75, 1e6, 0, false, &bad), DFM_INVALID_ARGUMENT, "lambd");
    ERR(dfm_optimizer_asgd(ps, 1, 0.1, 1e-4, NAN, 1e6, 0, false, &bad), DFM_INVALID_ARGUMENT, "alpha");
    ERR(dfm_optimizer_asgd(ps, -1, 0.1, 1e-4, 0.75, 1e6, 0, false, &bad), DFM_INVALID_ARGUMENT, NULL);
    CHECK(bad == NULL);
    dfm_tensor_release(w);
}

static void test_loss_extra(void) {
    dfm_tensor x = mat(2, 3, 0), t = mat(2, 3, 1), p = NULL, y = NULL, v4 = vec(4, 0), out = NULL, var = NULL;
    dfm_tensor r2 = vec(2, 1), pm = NULL, cls = NULL, lab = NULL;
    int64_t s23[2] = {2, 3}, c2[2] = {0, 2}, labels[6] = {0, -1, 0, 2, 1, -1};
    double eps = 1e-6;

    OK(dfm_l1_loss(x, t, "mean", &out));
    CHECK(fabs(first(out) - 1) < eps);
    dfm_tensor_release(out);
    ERR(dfm_l1_loss(x, v4, "mean", &out), DFM_SHAPE_MISMATCH, NULL);
    ERR(dfm_l1_loss(NULL, t, "mean", &out), DFM_INVALID_ARGUMENT, "input");
    ERR(dfm_l1_loss(x, t, "avg", &out), DFM_INVALID_ARGUMENT, "avg");
    ERR(dfm_l1_loss(x, t, "mean", NULL), DFM_INVALID_ARGUMENT, NULL);

    OK(dfm_smooth_l1_loss(x, t, "sum", 1.0, &out)); /* 6 × 0.5 */
    CHECK(fabs(first(out) - 3) < eps);
    dfm_tensor_release(out);
    ERR(dfm_smooth_l1_loss(x, t, "mean", -1, &out), DFM_INVALID_ARGUMENT, "beta");
    ERR(dfm_smooth_l1_loss(x, RELEASED, "mean", 1, &out), DFM_INVALID_ARGUMENT, "target");
    OK(dfm_huber_loss(x, t, "mean", 0.5, &out)); /* 0.5 × (1 - 0.25) */
    CHECK(fabs(first(out) - 0.375) < eps);
    dfm_tensor_release(out);
    ERR(dfm_huber_loss(x, t, "mean", 0, &out), DFM_INVALID_ARGUMENT, "delta");
    ERR(dfm_huber_loss(x, t, "mean", NAN, &out), DFM_INVALID_ARGUMENT, "delta");

    OK(dfm_soft_margin_loss(x, t, "none", &out));
    CHECK(numel(out) == 6);
    dfm_tensor_release(out);
    ERR(dfm_soft_margin_loss(x, v4, "mean", &out), DFM_SHAPE_MISMATCH, NULL);

    OK(dfm_sigmoid(x, &p));
    OK(dfm_binary_cross_entropy(p, p, NULL, "mean", &out));
    CHECK(first(out) > 0);
    dfm_tensor_release(out);
    ERR(dfm_binary_cross_entropy(t, p, NULL, "mean", &out), DFM_INVALID_ARGUMENT, "between 0 and 1");
    BAD(dfm_binary_cross_entropy(p, p, v4, "mean", &out));
    ERR(dfm_binary_cross_entropy(p, v4, NULL, "mean", &out), DFM_SHAPE_MISMATCH, NULL);

    OK(dfm_kl_div(x, p, "batchmean", false, &out));
    dfm_tensor_release(out);
    OK(dfm_kl_div(x, x, "sum", true, &out));
    CHECK(fabs(first(out)) < eps);
    dfm_tensor_release(out);
    ERR(dfm_kl_div(x, p, "avg", false, &out), DFM_INVALID_ARGUMENT, "avg");
    ERR(dfm_kl_div(x, p, NULL, false, &out), DFM_INVALID_ARGUMENT, "reduction");

    OK(dfm_poisson_nll_loss(x, t, true, true, 1e-8, "mean", &out));
    dfm_tensor_release(out);
    ERR(dfm_poisson_nll_loss(x, t, false, false, NAN, "mean", &out), DFM_INVALID_ARGUMENT, "eps");
    ERR(dfm_poisson_nll_loss(x, NULL, true, false, 1e-8, "mean", &out), DFM_INVALID_ARGUMENT, "target");

    OK(dfm_gaussian_nll_loss(x, t, r2, false, 1e-6, "none", &out)); /* var (2): one per row */
    CHECK(numel(out) == 6);
    dfm_tensor_release(out);
    OK(dfm_neg(t, &var));
    ERR(dfm_gaussian_nll_loss(x, t, var, false, 1e-6, "mean", &out), DFM_INVALID_ARGUMENT, "negative");
    ERR(dfm_gaussian_nll_loss(x, t, v4, false, 1e-6, "mean", &out), DFM_SHAPE_MISMATCH, "incorrect size");
    ERR(dfm_gaussian_nll_loss(x, t, NULL, false, 1e-6, "mean", &out), DFM_INVALID_ARGUMENT, "var");

    OK(dfm_sub_scalar(x, 2.5f, &pm)); /* -2.5 .. 2.5, no entry ±1: a hinge target of "other" */
    OK(dfm_hinge_embedding_loss(x, pm, 1.0, "sum", &out));
    dfm_tensor_release(out);
    ERR(dfm_hinge_embedding_loss(x, pm, NAN, "sum", &out), DFM_INVALID_ARGUMENT, "margin");
    ERR(dfm_hinge_embedding_loss(x, v4, 1.0, "sum", &out), DFM_SHAPE_MISMATCH, NULL);

    OK(dfm_multilabel_soft_margin_loss(x, p, NULL, "none", &out));
    CHECK(numel(out) == 2);
    dfm_tensor_release(out);
    ERR(dfm_multilabel_soft_margin_loss(x, v4, NULL, "mean", &out), DFM_SHAPE_MISMATCH, NULL);
    BAD(dfm_multilabel_soft_margin_loss(x, p, v4, "mean", &out));

    cls = ivec(c2, 2);
    OK(dfm_multi_margin_loss(x, cls, 1, 1.0, NULL, "mean", &out));
    dfm_tensor_release(out);
    ERR(dfm_multi_margin_loss(x, cls, 3, 1.0, NULL, "mean", &out), DFM_INVALID_ARGUMENT, "p == 1");
    ERR(dfm_multi_margin_loss(x, t, 1, 1.0, NULL, "mean", &out), DFM_TYPE_ERROR, "int64");
    BAD(dfm_multi_margin_loss(x, cls, 2, 1.0, v4, "mean", &out));
    ERR(dfm_multi_margin_loss(x, cls, 1, INFINITY, NULL, "mean", &out), DFM_INVALID_ARGUMENT, "margin");

    {
        dfm_tensor flat = ivec(labels, 6);
        OK(dfm_reshape(flat, s23, 2, &lab));
        dfm_tensor_release(flat);
    }
    OK(dfm_multilabel_margin_loss(x, lab, "sum", &out));
    dfm_tensor_release(out);
    ERR(dfm_multilabel_margin_loss(x, cls, "sum", &out), DFM_SHAPE_MISMATCH, NULL);
    ERR(dfm_multilabel_margin_loss(v4, cls, "sum", &out), DFM_SHAPE_MISMATCH, NULL);

    {
        int64_t two = 2;
        OK(dfm_tensor_ones(&two, 1, DFM_FLOAT32, &y));
    }
    OK(dfm_cosine_embedding_loss(x, x, y, 0, "mean", &out)); /* identical rows: cos 1, loss 0 */
    CHECK(fabs(first(out)) < eps);
    dfm_tensor_release(out);
    ERR(dfm_cosine_embedding_loss(x, t, v4, 0, "mean", &out), DFM_SHAPE_MISMATCH, "target");
    ERR(dfm_cosine_embedding_loss(x, v4, y, 0, "mean", &out), DFM_SHAPE_MISMATCH, NULL);

    OK(dfm_margin_ranking_loss(x, t, t, 0.5, "mean", &out));
    dfm_tensor_release(out);
    ERR(dfm_margin_ranking_loss(x, t, r2, 0, "mean", &out), DFM_SHAPE_MISMATCH, "same dimension");
    ERR(dfm_margin_ranking_loss(x, t, NULL, 0, "mean", &out), DFM_INVALID_ARGUMENT, "target");

    OK(dfm_triplet_margin_loss(x, x, t, 1.0, 2.0, 1e-6, true, "none", &out));
    CHECK(numel(out) == 2);
    dfm_tensor_release(out);
    ERR(dfm_triplet_margin_loss(x, x, t, 0, 2.0, 1e-6, false, "mean", &out), DFM_INVALID_ARGUMENT, "margin");
    ERR(dfm_triplet_margin_loss(x, x, t, 1.0, -2.0, 1e-6, false, "mean", &out), DFM_INVALID_ARGUMENT, "p must");
    ERR(dfm_triplet_margin_loss(x, x, v4, 1.0, 2.0, 1e-6, false, "mean", &out), DFM_SHAPE_MISMATCH, NULL);

    {
        /* CTC: log_probs (T 4, N 1, C 3), target [1, 2] */
        dfm_tensor lp = NULL, lp3 = NULL, tg = NULL;
        int64_t s413[3] = {4, 1, 3}, lab[2] = {1, 2}, il[1] = {4}, tl[1] = {2}, il_bad[1] = {5}, tl_bad[1] = {3};
        OK(dfm_tensor_zeros(s413, 3, DFM_FLOAT32, &lp3));
        OK(dfm_log_softmax(lp3, 2, &lp));
        tg = ivec(lab, 2);
        OK(dfm_ctc_loss(lp, tg, il, tl, 1, 0, "sum", false, &out));
        CHECK(first(out) > 0 && isfinite(first(out)));
        dfm_tensor_release(out);
        ERR(dfm_ctc_loss(lp, tg, il_bad, tl, 1, 0, "sum", false, &out), DFM_INVALID_ARGUMENT, "input_lengths");
        ERR(dfm_ctc_loss(lp, tg, il, tl_bad, 1, 0, "sum", false, &out), DFM_INVALID_ARGUMENT, "target_lengths");
        ERR(dfm_ctc_loss(lp, tg, il, tl, 1, 1, "sum", false, &out), DFM_INDEX_ERROR, "blank");
        ERR(dfm_ctc_loss(lp, tg, il, tl, 1, -1, "sum", false, &out), DFM_INVALID_ARGUMENT, "blank");
        ERR(dfm_ctc_loss(lp, tg, NULL, tl, 1, 0, "sum", false, &out), DFM_INVALID_ARGUMENT, "input_lengths");
        ERR(dfm_ctc_loss(lp, tg, il, tl, -1, 0, "sum", false, &out), DFM_INVALID_ARGUMENT, "n");
        ERR(dfm_ctc_loss(lp, x, il, tl, 1, 0, "sum", false, &out), DFM_TYPE_ERROR, "int64");
        ERR(dfm_ctc_loss(v4, tg, il, tl, 1, 0, "sum", false, &out), DFM_SHAPE_MISMATCH, "(T, N, C)");
        dfm_tensor_release(lp);
        dfm_tensor_release(lp3);
        dfm_tensor_release(tg);
    }

    /* cross entropy with probability targets */
    OK(dfm_cross_entropy(x, p, NULL, -100, "mean", 0.1f, &out));
    dfm_tensor_release(out);
    ERR(dfm_cross_entropy(x, p, NULL, 0, "mean", 0, &out), DFM_INVALID_ARGUMENT, "ignore_index");

    dfm_tensor_release(x);
    dfm_tensor_release(t);
    dfm_tensor_release(p);
    dfm_tensor_release(y);
    dfm_tensor_release(v4);
    dfm_tensor_release(var);
    dfm_tensor_release(r2);
    dfm_tensor_release(pm);
    dfm_tensor_release(cls);
    dfm_tensor_release(lab);
}

static dfm_status half_lambda(int64_t epoch, void *user_data, double *out) {
    int *calls = (int *)user_data;
    (*calls)++;
    if (epoch == 3) return DFM_INVALID_ARGUMENT; /* the callback fails at epoch 3 */
    *out = 0.5;
    return DFM_OK;
}

static void test_sched_extra(void) {
    dfm_tensor w = vec(3, 1), ps[1];
    dfm_optimizer o = NULL, ada = NULL;
    dfm_scheduler s = NULL, a = NULL, b = NULL, bad = NULL, kids[2];
    double lr;
    int calls = 0;
    int64_t ms[1] = {2};
    OK(dfm_tensor_set_requires_grad(w, true));
    ps[0] = w;
    OK(dfm_optimizer_sgd(ps, 1, 0.1, 0.9, 0, 0, false, false, &o));

    OK(dfm_scheduler_lambda_lr(o, half_lambda, &calls, false, &s));
    OK(dfm_scheduler_get_last_lr(s, &lr));
    CHECK(fabs(lr - 0.05) < 1e-15 && calls == 1);
    OK(dfm_scheduler_step(s));
    OK(dfm_scheduler_step(s));
    ERR(dfm_scheduler_step(s), DFM_INVALID_ARGUMENT, "callback failed at epoch 3");
    OK(dfm_scheduler_get_last_lr(s, &lr));
    CHECK(fabs(lr - 0.05) < 1e-15); /* unchanged by the failed step */
    dfm_scheduler_release(s);
    s = NULL;
    OK(dfm_scheduler_lambda_lr(o, half_lambda, &calls, true, &s)); /* multiplicative: epoch 0 keeps the lr */
    dfm_scheduler_release(s);
    s = NULL;
    ERR(dfm_scheduler_lambda_lr(o, NULL, NULL, false, &bad), DFM_INVALID_ARGUMENT, "fn");
    ERR(dfm_scheduler_lambda_lr(NULL, half_lambda, &calls, false, &bad), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_scheduler_lambda_lr(o, half_lambda, &calls, false, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_optimizer_set_lr(o, 0.1));

    OK(dfm_scheduler_constant_lr(o, 0.5, 3, &a));
    ERR(dfm_scheduler_constant_lr(o, 2.0, 3, &bad), DFM_INVALID_ARGUMENT, "factor");
    ERR(dfm_scheduler_constant_lr(o, 0.5, INT64_MAX, &bad), DFM_INVALID_ARGUMENT, "total_iters");
    OK(dfm_scheduler_linear_lr(o, 0.5, 1.0, 4, &b));
    ERR(dfm_scheduler_linear_lr(o, 0, 1.0, 4, &bad), DFM_INVALID_ARGUMENT, "Starting");
    ERR(dfm_scheduler_linear_lr(o, 0.5, NAN, 4, &bad), DFM_INVALID_ARGUMENT, "Ending");
    kids[0] = a;
    kids[1] = b;
    OK(dfm_scheduler_sequential_lr(o, kids, 2, ms, 1, &s));
    OK(dfm_scheduler_step(s));
    OK(dfm_scheduler_save(s, tmp_path("seq.safetensors")));
    OK(dfm_scheduler_load(s, tmp_path("seq.safetensors")));
    dfm_scheduler_release(s);
    s = NULL;
    ERR(dfm_scheduler_sequential_lr(o, kids, 2, ms, 0, &bad), DFM_INVALID_ARGUMENT, "milestone");
    ERR(dfm_scheduler_sequential_lr(o, kids, 0, ms, 1, &bad), DFM_INVALID_ARGUMENT, "schedulers");
    ERR(dfm_scheduler_sequential_lr(o, NULL, 2, ms, 1, &bad), DFM_INVALID_ARGUMENT, "schedulers");
    ERR(dfm_scheduler_sequential_lr(o, kids, 2, NULL, 1, &bad), DFM_INVALID_ARGUMENT, "milestones");
    OK(dfm_scheduler_chained(kids, 2, &s));
    OK(dfm_scheduler_step(s));
    dfm_scheduler_release(s);
    s = NULL;
    ERR(dfm_scheduler_chained(kids, -1, &bad), DFM_INVALID_ARGUMENT, "schedulers");
    kids[1] = (dfm_scheduler)(void *)w;
    ERR(dfm_scheduler_chained(kids, 2, &bad), DFM_TYPE_ERROR, NULL);
    dfm_scheduler_release(a);
    dfm_scheduler_release(b);

    OK(dfm_scheduler_polynomial_lr(o, 4, 2.0, &s));
    OK(dfm_scheduler_step(s));
    dfm_scheduler_release(s);
    s = NULL;
    ERR(dfm_scheduler_polynomial_lr(o, 0, 2.0, &bad), DFM_INVALID_ARGUMENT, "total_iters");
    ERR(dfm_scheduler_polynomial_lr(o, 4, INFINITY, &bad), DFM_INVALID_ARGUMENT, "power");

    OK(dfm_optimizer_set_lr(o, 0.1));
    OK(dfm_scheduler_cosine_warm_restarts(o, 2, 2, 0.0, &s));
    OK(dfm_scheduler_step_epoch(s, 1.0)); /* half way down the first cosine */
    OK(dfm_scheduler_get_last_lr(s, &lr));
    CHECK(fabs(lr - 0.05) < 1e-12);
    OK(dfm_scheduler_step(s));
    ERR(dfm_scheduler_step_epoch(s, -1), DFM_INVALID_ARGUMENT, "epoch");
    ERR(dfm_scheduler_step_epoch(s, NAN), DFM_INVALID_ARGUMENT, "epoch");
    ERR(dfm_scheduler_step_epoch(NULL, 1), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_scheduler_cosine_warm_restarts(o, 0, 1, 0.0, &bad), DFM_INVALID_ARGUMENT, "T_0");
    ERR(dfm_scheduler_cosine_warm_restarts(o, 2, 0, 0.0, &bad), DFM_INVALID_ARGUMENT, "T_mult");
    dfm_scheduler_release(s);
    s = NULL;

    OK(dfm_scheduler_cyclic_lr(o, 0.01, 0.1, 2, -1, "triangular", 1.0, true, 0.8, 0.9, &s));
    ERR(dfm_scheduler_step_epoch(s, 1.0), DFM_TYPE_ERROR, "CosineAnnealingWarmRestarts");
    OK(dfm_scheduler_step(s));
    OK(dfm_scheduler_get_last_lr(s, &lr));
    CHECK(fabs(lr - 0.055) < 1e-12);
    dfm_scheduler_release(s);
    ERR(dfm_scheduler_cyclic_lr(o, 0.01, 0.1, 2, -1, "sawtooth", 1.0, true, 0.8, 0.9, &bad), DFM_INVALID_ARGUMENT,
        "mode");
    ERR(dfm_scheduler_cyclic_lr(o, 0.01, 0.1, 0, 0, "triangular", 1.0, true, 0.8, 0.9, &bad), DFM_INVALID_ARGUMENT,
        "step_size");
    ERR(dfm_scheduler_cyclic_lr(o, 0.01, 0.1, 2, -1, NULL, 1.0, true, 0.8, 0.9, &bad), DFM_INVALID_ARGUMENT, "mode");
    OK(dfm_optimizer_adagrad(ps, 1, 0.1, 0, 0, 0, 1e-10, false, &ada));
    ERR(dfm_scheduler_cyclic_lr(ada, 0.01, 0.1, 2, -1, "triangular", 1.0, true, 0.8, 0.9, &bad), DFM_INVALID_ARGUMENT,
        "momentum");
    CHECK(bad == NULL);
    dfm_optimizer_release(ada);
    dfm_optimizer_release(o);
    dfm_tensor_release(w);
}

/* f(w) = sum(w * w) with its gradient, for dfm_optimizer_step_closure. */
typedef struct {
    dfm_optimizer o;
    dfm_tensor w;
    int calls;
    int fail_at;
} closure_ctx;

static dfm_status square_closure(void *user_data, double *loss) {
    closure_ctx *c = (closure_ctx *)user_data;
    dfm_tensor sq = NULL, l = NULL;
    dfm_status st;
    c->calls++;
    if (c->calls == c->fail_at) return DFM_INTERNAL;
    dfm_optimizer_zero_grad(c->o);
    st = dfm_mul(c->w, c->w, &sq);
    if (st == DFM_OK) st = dfm_sum(sq, NULL, 0, false, &l);
    if (st == DFM_OK) st = dfm_backward(l, NULL, false);
    if (st == DFM_OK) *loss = first(l);
    dfm_tensor_release(sq);
    dfm_tensor_release(l);
    return st;
}

static void test_lbfgs(void) {
    dfm_tensor w = vec(3, 1), ps[1];
    dfm_optimizer o = NULL, sgd = NULL, bad = NULL;
    closure_ctx ctx;
    double loss = -1;
    OK(dfm_tensor_set_requires_grad(w, true));
    ps[0] = w;
    OK(dfm_optimizer_lbfgs(ps, 1, 1.0, 20, 0, 1e-7, 1e-9, 100, true, &o));
    ctx.o = o;
    ctx.w = w;
    ctx.calls = 0;
    ctx.fail_at = -1;
    OK(dfm_optimizer_step_closure(o, square_closure, &ctx, &loss));
    CHECK(loss == 14.0 && ctx.calls > 1);
    CHECK(fabs(first(w)) < 1e-3); /* the quadratic's minimum */
    OK(dfm_optimizer_save(o, tmp_path("lbfgs.safetensors")));
    OK(dfm_optimizer_load(o, tmp_path("lbfgs.safetensors")));
    ERR(dfm_optimizer_step(o), DFM_STATE_ERROR, "closure");
    ctx.calls = 0;
    ctx.fail_at = 1;
    ERR(dfm_optimizer_step_closure(o, square_closure, &ctx, &loss), DFM_INVALID_ARGUMENT, "closure failed");
    ERR(dfm_optimizer_step_closure(o, NULL, &ctx, &loss), DFM_INVALID_ARGUMENT, "fn");
    ERR(dfm_optimizer_step_closure(o, square_closure, &ctx, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_optimizer_step_closure(NULL, square_closure, &ctx, &loss), DFM_INVALID_ARGUMENT, NULL);
    /* another optimizer: the closure once, then a step */
    OK(dfm_optimizer_sgd(ps, 1, 0.1, 0, 0, 0, false, false, &sgd));
    ctx.o = sgd;
    ctx.calls = 0;
    ctx.fail_at = -1;
    OK(dfm_optimizer_step_closure(sgd, square_closure, &ctx, &loss));
    CHECK(ctx.calls == 1);
    ERR(dfm_optimizer_lbfgs(ps, 1, 1.0, 0, 0, 1e-7, 1e-9, 100, false, &bad), DFM_INVALID_ARGUMENT, "max_iter");
    ERR(dfm_optimizer_lbfgs(ps, 1, 1.0, INT64_MAX, 0, 1e-7, 1e-9, 100, false, &bad), DFM_INVALID_ARGUMENT, "max_iter");
    ERR(dfm_optimizer_lbfgs(ps, 1, 1.0, 20, 0, NAN, 1e-9, 100, false, &bad), DFM_INVALID_ARGUMENT, "tolerance");
    ERR(dfm_optimizer_lbfgs(ps, 1, 1.0, 20, 0, 1e-7, 1e-9, 0, false, &bad), DFM_INVALID_ARGUMENT, "history_size");
    ERR(dfm_optimizer_lbfgs(ps, 1, -1.0, 20, 0, 1e-7, 1e-9, 100, false, &bad), DFM_INVALID_ARGUMENT, "learning rate");
    ERR(dfm_optimizer_lbfgs(NULL, 1, 1.0, 20, 0, 1e-7, 1e-9, 100, false, &bad), DFM_INVALID_ARGUMENT, "params");
    CHECK(bad == NULL);
    dfm_optimizer_release(sgd);
    dfm_optimizer_release(o);
    dfm_tensor_release(w);
}

/* Transformers: gelu tanh, scaled dot-product attention, multi-head attention (functional and
 * module), encoder layers, trunc_normal_, DFM-ViT. */
static void test_transformers(void) {
    int64_t qs[3] = {2, 3, 4}, ks[3] = {2, 5, 4}, ms[2] = {3, 5}, lne[3] = {3, 2, 4}, dims[3], steps = -1;
    int64_t img[2] = {8, 8}, bad_img[2] = {8, 10};
    dfm_tensor q = NULL, k = NULL, v = NULL, mask = NULL, y = NULL, w = NULL, t = NULL, x = NULL, src = NULL;
    dfm_tensor wi = mat(12, 4, -24.0f), bi = vec(12, 0.0f), wo = mat(4, 4, 0.0f), bo = vec(4, 0.0f),
               small = vec(3, 0.0f);
    dfm_module mha = NULL, layer = NULL, enc = NULL, ln = NULL, vit = NULL, lin = NULL, bad = NULL;
    int64_t d4[4];
    bool kb[15] = {1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0};
    int64_t n = 15;

    OK(dfm_manual_seed(5));
    OK(dfm_gelu_tanh(small, &y));
    CHECK(fabsf(first(y)) < 1e-7f);
    dfm_tensor_release(y);
    ERR(dfm_gelu_tanh(NULL, &y), DFM_INVALID_ARGUMENT, "'a'");
    ERR(dfm_gelu_tanh(small, NULL), DFM_INVALID_ARGUMENT, NULL);

    OK(dfm_tensor_randn(qs, 3, &q));
    OK(dfm_tensor_randn(ks, 3, &k));
    OK(dfm_tensor_randn(ks, 3, &v));
    OK(dfm_tensor_from_data(kb, sizeof kb, &n, 1, DFM_BOOL, &t));
    OK(dfm_reshape(t, ms, 2, &mask));
    dfm_tensor_release(t);
    OK(dfm_scaled_dot_product_attention(q, k, v, NULL, 0.0f, false, false, 0.0, &y));
    OK(dfm_tensor_shape(y, dims, 3));
    CHECK(ndim_of(y) == 3 && dims[0] == 2 && dims[1] == 3 && dims[2] == 4);
    dfm_tensor_release(y);
    OK(dfm_scaled_dot_product_attention(q, k, v, mask, 0.5f, false, true, 0.25, &y));
    dfm_tensor_release(y);
    ERR(dfm_scaled_dot_product_attention(q, q, v, NULL, 0.0f, false, false, 0.0, &y), DFM_SHAPE_MISMATCH,
        "sequence length");
    ERR(dfm_scaled_dot_product_attention(q, k, v, mask, 0.0f, true, false, 0.0, &y), DFM_INVALID_ARGUMENT, "is_causal");
    ERR(dfm_scaled_dot_product_attention(q, k, v, NULL, 2.0f, false, false, 0.0, &y), DFM_INVALID_ARGUMENT,
        "dropout_p");
    ERR(dfm_scaled_dot_product_attention(NULL, k, v, NULL, 0.0f, false, false, 0.0, &y), DFM_INVALID_ARGUMENT, "'q'");

    /* (L, N, E) = (3, 2, 4), 2 heads. */
    OK(dfm_tensor_randn(lne, 3, &x));
    OK(dfm_multi_head_attention_forward(x, x, x, 2, wi, bi, wo, bo, 0.0f, true, NULL, true, NULL, true, false, false,
                                        &y, &w));
    OK(dfm_tensor_shape(w, dims, 3));
    CHECK(ndim_of(y) == 3 && ndim_of(w) == 3 && dims[0] == 2 && dims[1] == 3 && dims[2] == 3);
    dfm_tensor_release(y);
    dfm_tensor_release(w);
    w = FOREIGN;
    OK(dfm_multi_head_attention_forward(x, x, x, 2, wi, NULL, wo, NULL, 0.0f, false, NULL, false, NULL, true, false,
                                        false, &y, &w));
    CHECK(w == NULL);
    dfm_tensor_release(y);
    OK(dfm_multi_head_attention_forward(x, x, x, 2, wi, bi, wo, bo, 0.0f, false, NULL, false, NULL, true, false, false,
                                        &y, NULL));
    dfm_tensor_release(y);
    ERR(dfm_multi_head_attention_forward(x, x, x, 3, wi, bi, wo, bo, 0.0f, true, NULL, true, NULL, true, false, false,
                                         &y, &w),
        DFM_INVALID_ARGUMENT, "divisible");
    ERR(dfm_multi_head_attention_forward(x, x, x, 2, wo, bi, wo, bo, 0.0f, true, NULL, true, NULL, true, false, false,
                                         &y, &w),
        DFM_SHAPE_MISMATCH, "in_proj_weight");
    ERR(dfm_multi_head_attention_forward(x, x, x, 2, wi, bi, wo, bo, 0.0f, true, NULL, true, NULL, true, false, false,
                                         &y, NULL),
        DFM_INVALID_ARGUMENT, "weights");
    ERR(dfm_multi_head_attention_forward(x, x, x, 2, wi, bi, wo, bo, 0.0f, true, NULL, false, NULL, true, true, false,
                                         &y, NULL),
        DFM_INVALID_ARGUMENT, "attn_mask");

    OK(dfm_init_trunc_normal_(wo, 0.0f, 0.02f, -0.04f, 0.04f));
    CHECK(fabsf(first(wo)) <= 0.04f);
    ERR(dfm_init_trunc_normal_(wo, 0.0f, 1.0f, 1.0f, -1.0f), DFM_INVALID_ARGUMENT, "a < b");
    ERR(dfm_init_trunc_normal_(NULL, 0.0f, 1.0f, -2.0f, 2.0f), DFM_INVALID_ARGUMENT, "'t'");

    OK(dfm_module_multihead_attention(4, 2, 0.0f, true, false, &mha));
    OK(dfm_module_forward(mha, x, &y));
    dfm_tensor_release(y);
    OK(dfm_module_multihead_attention_forward(mha, x, x, x, NULL, true, NULL, false, false, &y, &w));
    OK(dfm_tensor_shape(w, d4, 4));
    CHECK(ndim_of(w) == 4);
    dfm_tensor_release(y);
    dfm_tensor_release(w);
    ERR(dfm_module_multihead_attention(4, 3, 0.0f, true, false, &bad), DFM_INVALID_ARGUMENT, "divisible");
    ERR(dfm_module_multihead_attention(4, 2, 0.0f, true, false, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_module_linear(4, 4, true, &lin));
    ERR(dfm_module_multihead_attention_forward(lin, x, x, x, NULL, false, NULL, true, false, &y, NULL), DFM_TYPE_ERROR,
        "MultiheadAttention");
    ERR(dfm_module_multihead_attention_forward(mha, x, q, x, NULL, false, NULL, true, false, &y, NULL),
        DFM_SHAPE_MISMATCH, NULL);

    OK(dfm_module_transformer_encoder_layer(4, 2, 8, 0.0f, "gelu", 1e-5f, true, true, true, &layer));
    OK(dfm_module_layer_norm(&lne[2], 1, 1e-5f, true, true, &ln));
    OK(dfm_module_transformer_encoder(layer, 2, ln, &enc));
    OK(dfm_tensor_randn(lne, 3, &src));
    OK(dfm_module_transformer_forward(layer, src, NULL, NULL, false, &y));
    dfm_tensor_release(y);
    OK(dfm_module_transformer_forward(enc, src, NULL, NULL, false, &y));
    OK(dfm_tensor_shape(y, dims, 3));
    CHECK(dims[0] == 3 && dims[1] == 2 && dims[2] == 4);
    dfm_tensor_release(y);
    OK(dfm_module_forward(enc, src, &y));
    dfm_tensor_release(y);
    ERR(dfm_module_transformer_encoder_layer(4, 2, 8, 0.0f, "swish", 1e-5f, true, true, true, &bad),
        DFM_INVALID_ARGUMENT, "swish");
    ERR(dfm_module_transformer_encoder(lin, 2, NULL, &bad), DFM_TYPE_ERROR, "TransformerEncoderLayer");
    ERR(dfm_module_transformer_encoder(layer, 0, NULL, &bad), DFM_INVALID_ARGUMENT, "num_layers");
    ERR(dfm_module_transformer_forward(lin, src, NULL, NULL, false, &y), DFM_TYPE_ERROR, "Linear");
    ERR(dfm_module_transformer_forward(layer, small, NULL, NULL, false, &y), DFM_SHAPE_MISMATCH, NULL);

    OK(dfm_module_dfm_vit(img, 2, 1, 8, 1, 2, 16, 2, 10, 1.0f, 0.0f, 0.0f, &vit));
    dfm_tensor_release(x);
    x = image(2, 1, 8, 8);
    OK(dfm_module_forward_dfm(vit, x, 3, 0.01f, &y));
    OK(dfm_tensor_shape(y, dims, 2));
    CHECK(ndim_of(y) == 2 && dims[0] == 2 && dims[1] == 10);
    dfm_tensor_release(y);
    OK(dfm_module_steps(vit, &steps));
    CHECK(steps == 3);
    ERR(dfm_module_dfm_vit(bad_img, 4, 1, 8, 1, 2, 16, 2, 10, 1.0f, 0.0f, 0.0f, &bad), DFM_INVALID_ARGUMENT,
        "multiple of the patch size");
    ERR(dfm_module_dfm_vit(img, 2, 1, 9, 1, 2, 16, 2, 10, 1.0f, 0.0f, 0.0f, &bad), DFM_INVALID_ARGUMENT, "divisible");
    ERR(dfm_module_dfm_vit(NULL, 2, 1, 8, 1, 2, 16, 2, 10, 1.0f, 0.0f, 0.0f, &bad), DFM_INVALID_ARGUMENT, "image_size");

    dfm_tensor_release(q);
    dfm_tensor_release(k);
    dfm_tensor_release(v);
    dfm_tensor_release(mask);
    dfm_tensor_release(x);
    dfm_tensor_release(src);
    dfm_tensor_release(wi);
    dfm_tensor_release(bi);
    dfm_tensor_release(wo);
    dfm_tensor_release(bo);
    dfm_tensor_release(small);
    dfm_module_release(mha);
    dfm_module_release(layer);
    dfm_module_release(enc);
    dfm_module_release(ln);
    dfm_module_release(vit);
    dfm_module_release(lin);
}

/* ---- optimizer and scheduler state dicts in memory (dfm_optimizer_state_dict, ...) ----- */

/* The float32 contents of two 3-element tensors are bitwise equal. */
static int same_bits3(dfm_tensor a, dfm_tensor b) {
    void *pa = NULL, *pb = NULL;
    if (dfm_tensor_data(a, &pa) != DFM_OK || dfm_tensor_data(b, &pb) != DFM_OK) return 0;
    return memcmp(pa, pb, 3 * sizeof(float)) == 0;
}

static void test_state_dicts(void) {
    dfm_tensor a = vec(3, 1), b = vec(3, 7), pa[1], pb[1], small = vec(2, 0);
    dfm_optimizer oa = NULL, ob = NULL, sgd = NULL;
    dfm_scheduler sa = NULL, sb = NULL, cos = NULL;
    dfm_tensor_dict d = NULL, sd = NULL, none = NULL;
    const char *meta = NULL, *key = NULL;
    void *da = NULL, *db = NULL;
    double lra = 0, lrb = 0;
    int64_t n = -1;
    int i;

    OK(dfm_tensor_set_requires_grad(a, true));
    OK(dfm_tensor_set_requires_grad(b, true));
    pa[0] = a;
    pb[0] = b;
    OK(dfm_optimizer_adam(pa, 1, 0.01, 0.9, 0.999, 1e-8, 0, false, false, &oa));
    OK(dfm_optimizer_adam(pb, 1, 0.05, 0.8, 0.99, 1e-6, 0, false, false, &ob));
    OK(dfm_optimizer_sgd(pb, 1, 0.1, 0, 0, 0, false, false, &sgd));
    OK(dfm_scheduler_step_lr(oa, 2, 0.5, &sa));
    OK(dfm_scheduler_step_lr(ob, 3, 0.1, &sb));
    OK(dfm_scheduler_cosine_annealing_lr(sgd, 10, 0, &cos));
    for (i = 0; i < 3; i++) {
        grad_step(oa, a);
        OK(dfm_scheduler_step(sa));
    }
    /* b takes a's values, a's optimizer state and a's schedule: from then on both move bitwise alike. */
    OK(dfm_tensor_data(a, &da));
    OK(dfm_tensor_data(b, &db));
    memcpy(db, da, 3 * sizeof(float));
    OK(dfm_optimizer_state_dict(oa, &d));
    OK(dfm_tensor_dict_size(d, &n));
    CHECK(n == 3); /* state.0.exp_avg, state.0.exp_avg_sq, state.0.step (sorted) */
    OK(dfm_tensor_dict_key(d, 0, &key));
    CHECK(strcmp(key, "state.0.exp_avg") == 0);
    OK(dfm_tensor_dict_get_metadata(d, "optimizer", &meta));
    CHECK(strcmp(meta, "Adam") == 0);
    OK(dfm_optimizer_load_state_dict(ob, d));
    OK(dfm_scheduler_state_dict(sa, &sd));
    OK(dfm_tensor_dict_size(sd, &n));
    CHECK(n == 0);
    OK(dfm_tensor_dict_get_metadata(sd, "last_epoch", &meta));
    CHECK(strcmp(meta, "3") == 0);
    OK(dfm_scheduler_load_state_dict(sb, sd));
    OK(dfm_optimizer_get_lr(oa, &lra));
    OK(dfm_optimizer_get_lr(ob, &lrb));
    CHECK(lra == lrb);
    for (i = 0; i < 3; i++) {
        grad_step(oa, a);
        OK(dfm_scheduler_step(sa));
        grad_step(ob, b);
        OK(dfm_scheduler_step(sb));
    }
    CHECK(same_bits3(a, b));
    OK(dfm_scheduler_get_last_lr(sa, &lra));
    OK(dfm_scheduler_get_last_lr(sb, &lrb));
    CHECK(lra == lrb && lra == 0.01 * 0.25 * 0.5);

    /* Refused dicts change nothing: a and b still move alike afterwards. */
    ERR(dfm_optimizer_load_state_dict(sgd, d), DFM_INVALID_ARGUMENT, "Adam");
    ERR(dfm_scheduler_load_state_dict(cos, sd), DFM_INVALID_ARGUMENT, "StepLR");
    ERR(dfm_scheduler_load_state_dict(sb, d), DFM_INVALID_ARGUMENT, "metadata only");
    OK(dfm_tensor_dict_set(d, "state.0.exp_avg", small));
    ERR(dfm_optimizer_load_state_dict(ob, d), DFM_SHAPE_MISMATCH, "state.0.exp_avg");
    OK(dfm_tensor_dict_set(d, "state.1.exp_avg", small));
    BAD(dfm_optimizer_load_state_dict(ob, d));
    OK(dfm_tensor_dict_set_metadata(sd, "last_epoch", "1099511627777")); /* 2^40 + 1 */
    ERR(dfm_scheduler_load_state_dict(sb, sd), DFM_INVALID_ARGUMENT, "last_epoch");
    OK(dfm_tensor_dict_set_metadata(sd, "last_epoch", "x"));
    ERR(dfm_scheduler_load_state_dict(sb, sd), DFM_INVALID_ARGUMENT, "last_epoch");
    grad_step(oa, a);
    OK(dfm_scheduler_step(sa));
    grad_step(ob, b);
    OK(dfm_scheduler_step(sb));
    CHECK(same_bits3(a, b));

    ERR(dfm_optimizer_state_dict(NULL, &none), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_optimizer_state_dict(oa, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_optimizer_state_dict((dfm_optimizer)(void *)a, &none), DFM_TYPE_ERROR, NULL);
    CHECK(none == NULL);
    ERR(dfm_optimizer_load_state_dict(oa, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_optimizer_load_state_dict(FOREIGN, d), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_optimizer_load_state_dict(oa, (dfm_tensor_dict)(void *)a), DFM_TYPE_ERROR, NULL);
    ERR(dfm_scheduler_state_dict(NULL, &none), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_scheduler_state_dict(sa, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_scheduler_load_state_dict(sa, NULL), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_scheduler_load_state_dict((dfm_scheduler)(void *)oa, sd), DFM_TYPE_ERROR, NULL);

    dfm_tensor_dict_release(d);
    dfm_tensor_dict_release(sd);
    dfm_scheduler_release(sa);
    dfm_scheduler_release(sb);
    dfm_scheduler_release(cos);
    dfm_optimizer_release(oa);
    dfm_optimizer_release(ob);
    dfm_optimizer_release(sgd);
    dfm_tensor_release(a);
    dfm_tensor_release(b);
    dfm_tensor_release(small);
}

/* ---------------------------------------------------------------- surface (issue #13) */

/* flip, roll, triu, tril, diag, prod, einsum, pad modes, pixel (un)shuffle, conv1d, alpha
 * dropout: one good call each (values checked), then bad input; outputs stay NULL. */
static void test_surface(void) {
    dfm_tensor m = mat(2, 3, 1), v = vec(3, 1), y = NULL, x4 = NULL, w = NULL, ops[2];
    int64_t d01[2] = {0, 1}, dup[2] = {0, -2}, sh[2] = {1, -1}, one = 1, big = INT64_MAX;
    int64_t pad_big[2] = {INT64_MAX, 0}, min_shift = INT64_MIN, pad2[2] = {1, 2}, pad4[4] = {1, 1, 1, 1},
            pad_bad[2] = {3, 0}, s4[4] = {1, 4, 1, 2};
    int64_t x3s[3] = {1, 2, 5}, w3s[3] = {3, 2, 2};

    OK(dfm_flip(m, d01, 2, &y)); /* [[6 5 4] [3 2 1]] */
    CHECK(first(y) == 6.0f && at(y, 5) == 1.0f);
    dfm_tensor_release(y);
    y = NULL;
    OK(dfm_roll(v, &one, 1, NULL, 0, &y)); /* [3 1 2] */
    CHECK(at(y, 0) == 3.0f && at(y, 1) == 1.0f);
    dfm_tensor_release(y);
    y = NULL;
    OK(dfm_triu(m, 1, &y)); /* [[0 2 3] [0 0 6]] */
    CHECK(at(y, 0) == 0.0f && at(y, 1) == 2.0f && at(y, 4) == 0.0f && at(y, 5) == 6.0f);
    dfm_tensor_release(y);
    y = NULL;
    OK(dfm_tril(m, 0, &y)); /* [[1 0 0] [4 5 0]] */
    CHECK(at(y, 1) == 0.0f && at(y, 3) == 4.0f && at(y, 4) == 5.0f);
    dfm_tensor_release(y);
    y = NULL;
    OK(dfm_diag(v, -1, &y)); /* 4x4 with 1 2 3 below the diagonal */
    CHECK(numel(y) == 16 && at(y, 4) == 1.0f && at(y, 9) == 2.0f && at(y, 14) == 3.0f);
    dfm_tensor_release(y);
    y = NULL;
    OK(dfm_diag(m, 1, &y)); /* [2 6] */
    CHECK(numel(y) == 2 && at(y, 0) == 2.0f && at(y, 1) == 6.0f);
    dfm_tensor_release(y);
    y = NULL;
    OK(dfm_prod(m, &y));
    CHECK(ndim_of(y) == 0 && first(y) == 720.0f);
    dfm_tensor_release(y);
    y = NULL;
    OK(dfm_prod_dim(m, -1, true, &y)); /* [[6] [120]] */
    CHECK(ndim_of(y) == 2 && at(y, 1) == 120.0f);
    dfm_tensor_release(y);
    y = NULL;
    ops[0] = m;
    ops[1] = v;
    OK(dfm_einsum("ij,j->i", ops, 2, &y)); /* m @ v = [14 32] */
    CHECK(at(y, 0) == 14.0f && at(y, 1) == 32.0f);
    dfm_tensor_release(y);
    y = NULL;
    OK(dfm_pad(m, pad2, 2, "reflect", 0, &y)); /* row 0: [2 1 2 3 2 1] */
    CHECK(numel(y) == 12 && at(y, 0) == 2.0f && at(y, 4) == 2.0f && at(y, 5) == 1.0f);
    dfm_tensor_release(y);
    y = NULL;
    OK(dfm_pad(m, pad2, 2, "constant", -1, &y));
    CHECK(at(y, 0) == -1.0f && at(y, 1) == 1.0f && at(y, 5) == -1.0f);
    dfm_tensor_release(y);
    y = NULL;
    x4 = mat(1, 8, 0);
    {
        dfm_tensor r = NULL;
        OK(dfm_reshape(x4, s4, 4, &r));  /* (1, 4, 1, 2) */
        OK(dfm_pixel_shuffle(r, 2, &y)); /* (1, 1, 2, 4) */
        CHECK(numel(y) == 8 && at(y, 1) == 2.0f && at(y, 4) == 4.0f);
        dfm_tensor_release(y);
        y = NULL;
        ERR(dfm_pixel_shuffle(r, 3, &y), DFM_SHAPE_MISMATCH, "divisible");
        ERR(dfm_pixel_unshuffle(r, 2, &y), DFM_SHAPE_MISMATCH, "divisible");
        ERR(dfm_pixel_shuffle(r, big, &y), DFM_INVALID_ARGUMENT, "upscale_factor");
        dfm_tensor_release(r);
    }
    dfm_tensor_release(x4);
    {
        dfm_tensor xv = vec(10, 0), wv = vec(12, 0), xr = NULL, wr = NULL;
        OK(dfm_reshape(xv, x3s, 3, &xr));
        OK(dfm_reshape(wv, w3s, 3, &wr));
        OK(dfm_conv1d(xr, wr, NULL, 1, 0, 1, 1, &y));
        /* out[0, 0, 0] = w0·x0 + w1·x1 + w2·x5 + w3·x6 = 0 + 1 + 10 + 18 */
        CHECK(numel(y) == 12 && first(y) == 29.0f);
        dfm_tensor_release(y);
        y = NULL;
        OK(dfm_conv1d_padding_mode(xr, wr, NULL, 1, "same", 1, 1, &y));
        CHECK(numel(y) == 15);
        dfm_tensor_release(y);
        y = NULL;
        BAD(dfm_conv1d(wr, xr, NULL, 1, 0, 1, 1, &y)); /* kernel longer than the input */
        ERR(dfm_conv1d(v, wr, NULL, 1, 0, 1, 1, &y), DFM_SHAPE_MISMATCH, "3D (batched)");
        ERR(dfm_conv1d(xr, m, NULL, 1, 0, 1, 1, &y), DFM_SHAPE_MISMATCH, "3-dimensional");
        ERR(dfm_conv1d(xr, wr, NULL, 0, 0, 1, 1, &y), DFM_INVALID_ARGUMENT, "stride");
        ERR(dfm_conv1d(xr, wr, NULL, 1, big, 1, 1, &y), DFM_INVALID_ARGUMENT, "padding");
        ERR(dfm_conv1d_padding_mode(xr, wr, NULL, 1, "full", 1, 1, &y), DFM_INVALID_ARGUMENT, "padding");
        ERR(dfm_conv1d_padding_mode(xr, wr, NULL, 1, NULL, 1, 1, &y), DFM_INVALID_ARGUMENT, "padding");
        ERR(dfm_conv1d(NULL, wr, NULL, 1, 0, 1, 1, &y), DFM_INVALID_ARGUMENT, NULL);
        dfm_tensor_release(xv);
        dfm_tensor_release(wv);
        dfm_tensor_release(xr);
        dfm_tensor_release(wr);
    }
    OK(dfm_alpha_dropout(m, 0.5, false, &y)); /* eval: the input itself */
    CHECK(first(y) == 1.0f);
    dfm_tensor_release(y);
    y = NULL;
    OK(dfm_alpha_dropout(m, 0.5, true, &y));
    CHECK(numel(y) == 6);
    dfm_tensor_release(y);
    y = NULL;

    /* bad input: clear errors, no output */
    ERR(dfm_flip(m, dup, 2, &y), DFM_INVALID_ARGUMENT, "duplicates");
    ERR(dfm_flip(m, NULL, 2, &y), DFM_INVALID_ARGUMENT, "dims");
    ERR(dfm_flip(m, d01, -1, &y), DFM_INVALID_ARGUMENT, "ndims");
    ERR(dfm_flip(m, &big, 1, &y), DFM_INDEX_ERROR, "out of range");
    ERR(dfm_flip(RELEASED, d01, 2, &y), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_flip(m, d01, 2, NULL), DFM_INVALID_ARGUMENT, "out");
    ERR(dfm_roll(m, sh, 2, d01, 1, &y), DFM_INVALID_ARGUMENT, "align");
    ERR(dfm_roll(m, sh, 2, NULL, 0, &y), DFM_INVALID_ARGUMENT, "one shift");
    ERR(dfm_roll(m, NULL, 1, NULL, 0, &y), DFM_INVALID_ARGUMENT, "shifts");
    OK(dfm_roll(v, &min_shift, 1, NULL, 0, &y)); /* INT64_MIN = -2^63 = 1 (mod 3) */
    CHECK(at(y, 0) == 3.0f && at(y, 1) == 1.0f);
    dfm_tensor_release(y);
    y = NULL;
    ERR(dfm_triu(v, 0, &y), DFM_SHAPE_MISMATCH, "at least 2 dimensions");
    ERR(dfm_tril(m, big, &y), DFM_INVALID_ARGUMENT, "diagonal");
    ERR(dfm_diag(FOREIGN, 0, &y), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_prod(RELEASED, &y), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_prod(m, NULL), DFM_INVALID_ARGUMENT, "out");
    ERR(dfm_prod_dim(m, 2, false, &y), DFM_INDEX_ERROR, "out of range");
    ERR(dfm_prod_dim(m, big, false, &y), DFM_INVALID_ARGUMENT, "dim");
    ERR(dfm_einsum("ij,jk->ik", ops, 2, &y), DFM_SHAPE_MISMATCH, "subscripts");
    ERR(dfm_einsum("ij->i", ops, 2, &y), DFM_INVALID_ARGUMENT, "operands");
    ERR(dfm_einsum("i!,j->i", ops, 2, &y), DFM_INVALID_ARGUMENT, "subscripts");
    ERR(dfm_einsum(NULL, ops, 2, &y), DFM_INVALID_ARGUMENT, "equation");
    ERR(dfm_einsum("ij,j->i", NULL, 2, &y), DFM_INVALID_ARGUMENT, "operands");
    ERR(dfm_einsum("ij,j->i", ops, 0, &y), DFM_INVALID_ARGUMENT, "operands");
    ERR(dfm_pad(m, pad_bad, 2, "reflect", 0, &y), DFM_INVALID_ARGUMENT, "less than");
    ERR(dfm_pad(m, pad4, 3, "constant", 0, &y), DFM_INVALID_ARGUMENT, "divisible by 2");
    ERR(dfm_pad(m, pad4, 4, "symmetric", 0, &y), DFM_INVALID_ARGUMENT, "mode");
    ERR(dfm_pad(m, pad4, 4, "replicate", 0, &y), DFM_INVALID_ARGUMENT, "3D or 4D");
    ERR(dfm_pad(v, pad4, 4, "constant", 0, &y), DFM_INVALID_ARGUMENT, "two times the input dimension");
    ERR(dfm_pad(m, pad_big, 2, "constant", 0, &y), DFM_INVALID_ARGUMENT, "pad");
    ERR(dfm_pad(m, pad2, 2, NULL, 0, &y), DFM_INVALID_ARGUMENT, "mode");
    ERR(dfm_alpha_dropout(m, 1.5, true, &y), DFM_INVALID_ARGUMENT, "between 0 and 1");
    ERR(dfm_alpha_dropout(m, NAN, true, &y), DFM_INVALID_ARGUMENT, "between 0 and 1");
    CHECK(y == NULL);
    (void)w;
    dfm_tensor_release(m);
    dfm_tensor_release(v);
}

/* grad_fn names and inputs (next_functions); the default generator's seed. */
static void test_surface_autograd(void) {
    dfm_tensor a = mat(2, 3, 1), b = mat(3, 2, 0), y = NULL, in = NULL;
    const char *name = "unset";
    int64_t n = -1;
    uint64_t s0 = 0, s1 = 0;
    OK(dfm_tensor_set_requires_grad(a, true));
    OK(dfm_tensor_grad_fn_name(a, &name));
    CHECK(name == NULL); /* a leaf */
    OK(dfm_tensor_grad_fn_input_count(a, &n));
    CHECK(n == 0);
    OK(dfm_mm(a, b, &y));
    OK(dfm_tensor_grad_fn_name(y, &name));
    CHECK(name && strcmp(name, "MmBackward0") == 0);
    OK(dfm_tensor_grad_fn_input_count(y, &n));
    CHECK(n == 2);
    OK(dfm_tensor_grad_fn_input(y, 0, &in));
    CHECK(in != NULL && numel(in) == 6);
    dfm_tensor_release(in);
    in = NULL;
    ERR(dfm_tensor_grad_fn_input(y, 2, &in), DFM_INDEX_ERROR, "out of range");
    ERR(dfm_tensor_grad_fn_input(y, -1, &in), DFM_INDEX_ERROR, "out of range");
    CHECK(in == NULL);
    ERR(dfm_tensor_grad_fn_name(y, NULL), DFM_INVALID_ARGUMENT, "out");
    ERR(dfm_tensor_grad_fn_name(RELEASED, &name), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_grad_fn_input_count(FOREIGN, &n), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_tensor_grad_fn_input(NULL, 0, &in), DFM_INVALID_ARGUMENT, NULL);
    dfm_tensor_release(y);

    OK(dfm_manual_seed(42));
    OK(dfm_initial_seed(&s0));
    CHECK(s0 == 42);
    OK(dfm_seed(&s1));
    OK(dfm_initial_seed(&s0));
    CHECK(s0 == s1);
    ERR(dfm_initial_seed(NULL), DFM_INVALID_ARGUMENT, "out");
    ERR(dfm_seed(NULL), DFM_INVALID_ARGUMENT, "out");
    OK(dfm_manual_seed(0));
    dfm_tensor_release(a);
    dfm_tensor_release(b);
}

/* ---------------------------------------------------------------- per-step BatchNorm statistics (issue 19) */

static void test_bn_per_step(void) {
    dfm_module m = NULL, shared = NULL, vit = NULL;
    dfm_tensor x = image(2, 1, 32, 32), y = NULL, t = NULL;
    dfm_tensor_dict sd = NULL;
    int64_t s32[2] = {32, 32}, img[2] = {8, 8}, sets = -1, dims[2];

    OK(dfm_manual_seed(4));
    OK(dfm_module_dfm_resnet("resnet18", "resnet", 2, 0, 3, s32, 1.0, 1, 1e-3, &m));
    OK(dfm_module_dfm_resnet("resnet18", "resnet", 2, 0, 3, s32, 1.0, 1, 1e-3, &shared));
    OK(dfm_module_bn_per_step(m, &sets));
    CHECK(sets == 0);
    OK(dfm_module_set_bn_per_step(m, 3));
    OK(dfm_module_bn_per_step(m, &sets));
    CHECK(sets == 3);
    OK(dfm_module_set_bn_per_step(m, 3)); /* the same count again: a no-op */
    ERR(dfm_module_set_bn_per_step(m, 4), DFM_STATE_ERROR, "already enabled with 3 sets");
    ERR(dfm_module_set_bn_per_step(shared, 0), DFM_INVALID_ARGUMENT, "1...1000");
    ERR(dfm_module_set_bn_per_step(NULL, 2), DFM_INVALID_ARGUMENT, NULL);
    ERR(dfm_module_bn_per_step(m, NULL), DFM_INVALID_ARGUMENT, NULL);
    OK(dfm_module_dfm_vit(img, 4, 1, 8, 1, 2, 16, 2, 3, 1.0f, 0.0f, 1e-3f, &vit));
    ERR(dfm_module_set_bn_per_step(vit, 2), DFM_TYPE_ERROR, "no BatchNorm");
    OK(dfm_module_release(vit));

    /* A training forward of T 2 updates sets 0 and 1 once each. */
    OK(dfm_module_forward_dfm(m, x, 2, 0.0, &y));
    dfm_tensor_release(y);
    OK(dfm_module_state_dict(m, &sd));
    OK(dfm_tensor_dict_get(sd, "layer1.0.bn1.num_batches_tracked_per_step", &t));
    {
        void *data = NULL;
        const int64_t *counts;
        OK(dfm_tensor_data(t, &data));
        counts = (const int64_t *)data;
        CHECK(counts[0] == 1 && counts[1] == 1 && counts[2] == 0);
    }
    dfm_tensor_release(t);
    OK(dfm_tensor_dict_get(sd, "layer4.1.bn2.running_var_per_step", &t));
    OK(dfm_tensor_shape(t, dims, 2));
    CHECK(dims[0] == 3 && dims[1] == 514);
    dfm_tensor_release(t);
    /* The other mode's state_dict is refused with a message naming the option. */
    ERR(dfm_module_load_state_dict(shared, sd, true, NULL, NULL), DFM_STATE_ERROR, "bn_per_step");
    OK(dfm_tensor_dict_release(sd));
    OK(dfm_module_save(m, tmp_path("bn_step.safetensors")));
    ERR(dfm_module_load(shared, tmp_path("bn_step.safetensors"), true, NULL, NULL), DFM_STATE_ERROR,
        "per-step BatchNorm");
    OK(dfm_module_set_bn_per_step(shared, 3));
    OK(dfm_module_load(shared, tmp_path("bn_step.safetensors"), true, NULL, NULL));
    OK(dfm_module_release(m));
    OK(dfm_module_release(shared));
    dfm_tensor_release(x);
}

/* ---- distributed (MPI): what works without a process group; the group itself is tested
 * under mpirun by bindings/python/tests/test_distributed.py ---- */
static void test_distributed_without_group(void) {
    int64_t v = -1;
    dfm_tensor t = NULL, out = NULL;
    dfm_module m = NULL;
    CHECK(!dfm_dist_is_initialized());
    ERR(dfm_dist_rank(&v), DFM_STATE_ERROR, "has not been initialized");
    ERR(dfm_dist_world_size(&v), DFM_STATE_ERROR, "has not been initialized");
    ERR(dfm_dist_barrier(), DFM_STATE_ERROR, "has not been initialized");
    ERR(dfm_dist_destroy(), DFM_STATE_ERROR, "has not been initialized");
    ERR(dfm_dist_init("nccl"), DFM_INVALID_ARGUMENT, "backend");
    ERR(dfm_dist_rank(NULL), DFM_INVALID_ARGUMENT, "NULL");
    CHECK(v == -1);
    int64_t shape[1] = {3};
    OK(dfm_tensor_zeros(shape, 1, DFM_FLOAT32, &t));
    ERR(dfm_dist_all_reduce(t, (dfm_reduce_op)9), DFM_INVALID_ARGUMENT, "reduce op");
    ERR(dfm_dist_all_reduce(t, DFM_REDUCE_SUM), DFM_STATE_ERROR, "has not been initialized");
    ERR(dfm_dist_broadcast(t, -1), DFM_INVALID_ARGUMENT, "src");
    ERR(dfm_dist_all_gather(t, &out), DFM_STATE_ERROR, "has not been initialized");
    CHECK(out == NULL);
    ERR(dfm_dist_ddp_tensors(&t, 1, NULL, 0, 25.0, true, &m), DFM_STATE_ERROR, "has not been initialized");
    CHECK(m == NULL);
    ERR(dfm_dist_ddp_tensors(NULL, 1, NULL, 0, 25.0, true, &m), DFM_INVALID_ARGUMENT, "NULL");
    ERR(dfm_dist_ddp_stats(NULL, NULL, NULL), DFM_INVALID_ARGUMENT, "NULL");
    ERR(dfm_dist_ddp(NULL, 25.0, true, &m), DFM_INVALID_ARGUMENT, "NULL");
    ERR(dfm_dist_ddp_module(NULL, &m), DFM_INVALID_ARGUMENT, "NULL");
    ERR(dfm_dist_ddp_prepare_forward(NULL), DFM_INVALID_ARGUMENT, "NULL");
    CHECK(m == NULL);
    dfm_tensor_release(t);

    /* No MPI on this "machine": availability is false and creating a group names the fix.
     * (Set before anything loads MPI in this process; libdfm itself needs no MPI.) */
    setenv("DFM_MPI_LIBRARY", "/nonexistent/libmpi.so.40", 1);
    CHECK(!dfm_dist_is_available());
    ERR(dfm_dist_init(NULL), DFM_STATE_ERROR, "MPI is not available");
    CHECK(!dfm_dist_is_initialized());

    /* DistributedSampler(range(10), num_replicas=3, rank=1, shuffle=False): torch pads with
     * the first indices to 12 and takes every third from position 1. */
    OK(dfm_dist_sampler_indices(10, 3, 1, false, 0, 0, false, &out));
    const int64_t *p = NULL;
    OK(dfm_tensor_data(out, (void **)&p));
    CHECK(p && p[0] == 1 && p[1] == 4 && p[2] == 7 && p[3] == 0);
    OK(dfm_tensor_numel(out, &v));
    CHECK(v == 4);
    dfm_tensor_release(out);
    OK(dfm_dist_sampler_indices(10, 3, 2, false, 0, 0, true, &out)); /* drop_last: 3 each */
    OK(dfm_tensor_numel(out, &v));
    CHECK(v == 3);
    dfm_tensor_release(out);
    out = NULL;
    ERR(dfm_dist_sampler_indices(10, 3, 3, true, 0, 0, false, &out), DFM_INVALID_ARGUMENT, "Invalid rank");
    ERR(dfm_dist_sampler_indices(-1, 3, 0, true, 0, 0, false, &out), DFM_INVALID_ARGUMENT, "dataset_len");
    CHECK(out == NULL);
}

/* ---- Found by the fuzz targets (fuzz/, issue #14 item 10) ---- */
/* fuzz-abi: the recurrent and attention functions left the other outputs unset when the
 * first output pointer was the NULL argument, and a tensor could be its own grad (a leak);
 * fuzz-idx: an IDX path that is a device was read forever. */
static void test_fuzz_findings(void) {
    dfm_module lstm = NULL, cell = NULL;
    dfm_tensor x = seq3(5, 2, 3), hn, cn, out, h, c;
    dfm_tensor stale = (dfm_tensor)FOREIGN;
    dfm_dataset d = (dfm_dataset)FOREIGN;
    int64_t s23[2] = {2, 3};

    OK(dfm_module_rnn("LSTM", 3, 4, 1, true, false, 0.0, false, &lstm));
    hn = stale;
    cn = stale;
    ERR(dfm_module_rnn_forward(lstm, x, NULL, NULL, NULL, &hn, &cn), DFM_INVALID_ARGUMENT, "output");
    CHECK(hn == NULL && cn == NULL);
    out = stale;
    cn = stale;
    ERR(dfm_module_rnn_forward(lstm, x, NULL, NULL, &out, NULL, &cn), DFM_INVALID_ARGUMENT, "h_n");
    CHECK(out == NULL && cn == NULL);
    OK(dfm_module_rnn_cell("LSTM", 3, 4, true, &cell));
    {
        dfm_tensor one = seq3(1, 2, 3), x2 = NULL;
        OK(dfm_reshape(one, s23, 2, &x2));
        c = stale;
        ERR(dfm_module_rnn_cell_forward(cell, x2, NULL, NULL, NULL, &c), DFM_INVALID_ARGUMENT, "'h'");
        CHECK(c == NULL);
        h = stale;
        ERR(dfm_module_rnn_cell_forward(cell, x2, NULL, NULL, &h, NULL), DFM_INVALID_ARGUMENT, "'c'");
        CHECK(h == NULL);
        dfm_tensor_release(x2);
        dfm_tensor_release(one);
    }
    /* the attention forwards: 'weights' stayed unset when 'out' was the NULL pointer */
    {
        dfm_module mha = NULL;
        dfm_tensor q = seq3(2, 3, 4), w = stale;
        OK(dfm_module_multihead_attention(4, 2, 0.0f, true, false, &mha));
        ERR(dfm_module_multihead_attention_forward(mha, q, q, q, NULL, true, NULL, true, false, NULL, &w),
            DFM_INVALID_ARGUMENT, "'out'");
        CHECK(w == NULL);
        dfm_module_release(mha);
        dfm_tensor_release(q);
    }
    ERR(dfm_dataset_idx_open("/dev/zero", tmp_path("lab-idx1-ubyte"), &d), DFM_IO_ERROR, "not a regular file");
    CHECK(d == NULL);
    /* fuzz-abi: a (0, 2^62, 4) tensor was accepted; xavier_uniform_ on it trapped (fan-in overflow) */
    {
        int64_t huge[3] = {0, (int64_t)1 << 62, 4};
        dfm_tensor z = (dfm_tensor)FOREIGN;
        ERR(dfm_tensor_zeros(huge, 3, DFM_FLOAT32, &z), DFM_OUT_OF_MEMORY, "too large");
        CHECK(z == NULL);
    }
    /* fuzz-abi: t.grad = t (or a loop of grads) was accepted and leaked every tensor on the loop */
    {
        dfm_tensor a = seq3(1, 2, 3), b = seq3(1, 2, 3), g = NULL;
        ERR(dfm_tensor_set_grad(a, a), DFM_INVALID_ARGUMENT, "its own grad");
        OK(dfm_tensor_set_grad(a, b));
        ERR(dfm_tensor_set_grad(b, a), DFM_INVALID_ARGUMENT, "its own grad");
        OK(dfm_tensor_grad(b, &g));
        CHECK(g == NULL);
        OK(dfm_tensor_set_grad(a, NULL));
        dfm_tensor_release(a);
        dfm_tensor_release(b);
    }
    dfm_module_release(cell);
    dfm_module_release(lstm);
    dfm_tensor_release(x);
}

int main(void) {
    int64_t live;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dfm_test_abi_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    FOREIGN = (void *)&passed;
    RELEASED = released_tensor();
    live = dfm_live_handle_count();

    test_library();
    test_creation();
    test_handles_and_properties();
    test_autograd();
    test_elementwise();
    test_reduce_and_shape();
    test_shape_ops();
    test_compare_and_reduce();
    test_linalg();
    test_conv_pool();
    test_norm_loss();
    test_init();
    test_seg_metrics();
    test_containers_and_safetensors();
    test_modules();
    test_optim();
    test_optim_extra();
    test_loss_extra();
    test_sched_extra();
    test_lbfgs();
    test_dataset();
    test_two_outputs_null_on_failure();
    test_dfm_models();
    test_recurrent();
    test_transformers();
    test_surface();
    test_surface_autograd();
    test_bn_per_step();
    test_threads();
    /* optimizer and scheduler state dicts in memory */
    test_state_dicts();
    test_distributed_without_group();
    /* fuzz findings (#14 item 10) */
    test_fuzz_findings();

    CHECK(dfm_live_handle_count() == live); /* every handle the tests made was released */
    remove_tmpdir();
    printf("test_abi: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
