// The loops of dfm_kernels.h: loops.inc compiled once per ISA level, and a table that points at
// the best level the CPU runs (see the header for why; dfmk_set_level lets tests pick another).
#include "dfm_kernels.h"
// loops.inc passes 16-float vectors to and from always-inlined helpers: no call ABI is involved.
#pragma clang diagnostic ignored "-Wpsabi"
#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>
#endif

// sqrtf without errno (clang's -fmath-errno default would keep the Adam loop scalar).
#if defined(__has_builtin)
#if __has_builtin(__builtin_elementwise_sqrt)
#define DFMK_SQRT(x) __builtin_elementwise_sqrt(x)
#endif
#endif
#ifndef DFMK_SQRT
#define DFMK_SQRT(x) sqrtf(x)
#endif

// The Adam element update (torch's single-tensor arithmetic, as in Optim/Adam.swift). Called with
// constant flags, so each inlined copy is specialised.
static inline __attribute__((always_inline)) void adam_loop(float *restrict p, const float *restrict g,
                                                            float *restrict m, float *restrict v, float *restrict vmax,
                                                            size_t n, const dfmk_adam_params *a, int small_w,
                                                            int maximize, int has_wd, int decoupled, int amsgrad) {
    const float w1 = a->w1, w1m1 = a->w1m1, b2 = a->b2, omb2 = a->one_minus_b2;
    const float neg_step = a->neg_step, bc2_sqrt = a->bc2_sqrt, eps = a->eps, wd = a->wd, decay = a->decay;
    for (size_t k = 0; k < n; k++) {
        float gk = maximize ? -g[k] : g[k];
        float pk = p[k];
        if (has_wd) {
            if (decoupled)
                pk = pk * decay;
            else
                gk = fmaf(pk, wd, gk);
        }
        float diff = gk - m[k];
        // torch's lerp: small weights start from `start`, large ones from `end`.
        float mk = small_w ? fmaf(w1, diff, m[k]) : fmaf(w1m1, diff, gk);
        m[k] = mk;
        float vk = v[k] * b2 + omb2 * gk * gk;
        v[k] = vk;
        float s = vk;
        if (amsgrad) {
            float mx = vmax[k];
            float nm = (mx != mx || vk != vk) ? NAN : (vk >= mx ? vk : mx);
            vmax[k] = nm;
            s = nm;
        }
        p[k] = pk + neg_step * mk / (DFMK_SQRT(s) / bc2_sqrt + eps);
    }
}

typedef struct {
    void (*gelu)(const float *, float *, size_t);
    void (*gelu_backward)(const float *, const float *, float *, size_t);
    void (*exp_shift)(const float *, float *, size_t, float);
    void (*softmax_rows)(float *, size_t, size_t);
    void (*softmax_grad_rows)(float *, const float *, size_t, size_t);
    void (*adam)(float *, const float *, float *, float *, float *, size_t, const dfmk_adam_params *);
    void (*im2col_taps)(const float *, size_t, const int32_t *, float *, size_t, size_t);
    void (*col2im_taps)(const float *, size_t, const int32_t *, const int32_t *, size_t, float *, size_t);
    void (*scatter_taps)(const float *, size_t, const int32_t *, float *, size_t, size_t, int);
    double (*norm_sum)(const float *, size_t, size_t, size_t, double, int);
    void (*grad_sums)(const float *, const float *, size_t, size_t, size_t, float, float, double *, double *);
    void (*max_pool)(const float *, size_t, const dfmk_pool_geom *, float *, int64_t *);
    size_t (*gg_nr)(void);
    size_t (*gg_mr)(void);
    size_t (*gg_scratch_size)(size_t, size_t);
    void (*gg_pack_a)(const float *, size_t, size_t, size_t, size_t, size_t, float *);
    void (*gg_pack_w)(const float *, size_t, size_t, size_t, size_t, const int32_t *, size_t, size_t, size_t, size_t,
                      float *);
    void (*gg_gemm)(const float *, size_t, size_t, const int32_t *, size_t, const dfmk_gather *, size_t, size_t,
                    float *, size_t, float *);
} level_table;

// The gathered GEMM's blocking: a packed B block of at most KC × NC floats (L2), tiles of
// DFMK_MR × DFMK_VW·DFMK_NV floats in registers (set per level below).
#define DFMK_GG_KC 384
#define DFMK_GG_NC 512

#define DFMK_LANES 16
static inline double dfmk_lanes_total(double *a) {
    for (int w = DFMK_LANES / 2; w > 0; w /= 2)
        for (int j = 0; j < w; j++) a[j] += a[j + w];
    return a[0];
}

#define LOOP(name) name##_baseline
#define DFMK_ISA   1
#define DFMK_VW    4
#define DFMK_MR    4
#define DFMK_NV    2
#define DFMK_IL    2
#include "level.inc"
static const level_table baseline = {
    gelu_baseline,      gelu_backward_baseline, exp_shift_baseline,   softmax_rows_baseline, softmax_grad_rows_baseline,
    adam_baseline,      im2col_taps_baseline,   col2im_taps_baseline, scatter_taps_baseline, norm_sum_baseline,
    grad_sums_baseline, max_pool_baseline,      gg_nr_baseline,       gg_mr_baseline,        gg_scratch_size_baseline,
    gg_pack_a_baseline, gg_pack_w_baseline,     gg_gemm_baseline};

#if defined(__x86_64__) && defined(__clang__)
#define DFMK_X86_LEVELS 1
#pragma clang attribute push(__attribute__((target("arch=x86-64-v3"))), apply_to = function)
#define LOOP(name) name##_v3
#define DFMK_ISA   3
#define DFMK_VW    8
#define DFMK_MR    4
#define DFMK_NV    2
#define DFMK_IL    2
#include "level.inc"
#pragma clang attribute pop
static const level_table v3 = {gelu_v3,      gelu_backward_v3, exp_shift_v3,   softmax_rows_v3, softmax_grad_rows_v3,
                               adam_v3,      im2col_taps_v3,   col2im_taps_v3, scatter_taps_v3, norm_sum_v3,
                               grad_sums_v3, max_pool_v3,      gg_nr_v3,       gg_mr_v3,        gg_scratch_size_v3,
                               gg_pack_a_v3, gg_pack_w_v3,     gg_gemm_v3};

// min_vector_width: clang's x86-64-v4 tuning prefers 256-bit vectors; the GELU loops run 1.3x
// faster on 512.
#pragma clang attribute push(__attribute__((target("arch=x86-64-v4"), min_vector_width(512))), apply_to = function)
#define LOOP(name) name##_v4
#define DFMK_ISA   4
#define DFMK_VW    16
#define DFMK_MR    8
#define DFMK_NV    2
#define DFMK_IL    8
#include "level.inc"
#pragma clang attribute pop
static const level_table v4 = {gelu_v4,      gelu_backward_v4, exp_shift_v4,   softmax_rows_v4, softmax_grad_rows_v4,
                               adam_v4,      im2col_taps_v4,   col2im_taps_v4, scatter_taps_v4, norm_sum_v4,
                               grad_sums_v4, max_pool_v4,      gg_nr_v4,       gg_mr_v4,        gg_scratch_size_v4,
                               gg_pack_a_v4, gg_pack_w_v4,     gg_gemm_v4};
#endif

static const level_table *current = &baseline;

int dfmk_max_level(void) {
#ifdef DFMK_X86_LEVELS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return 4;
    if (__builtin_cpu_supports("x86-64-v3")) return 3;
#endif
    return 1;
}

int dfmk_set_level(int level) {
    if (level < 1 || level > dfmk_max_level() || level == 2) return -1;
#ifdef DFMK_X86_LEVELS
    current = level == 4 ? &v4 : (level == 3 ? &v3 : &baseline);
#endif
    return 0;
}

int dfmk_level(void) {
#ifdef DFMK_X86_LEVELS
    if (current == &v4) return 4;
    if (current == &v3) return 3;
#endif
    return 1;
}

__attribute__((constructor)) static void pick_level(void) {
    dfmk_set_level(dfmk_max_level());
}

void dfmk_gelu_f32(const float *x, float *y, size_t n) {
    current->gelu(x, y, n);
}
void dfmk_gelu_backward_f32(const float *g, const float *x, float *out, size_t n) {
    current->gelu_backward(g, x, out, n);
}
void dfmk_exp_shift_f32(const float *x, float *y, size_t n, float shift) {
    current->exp_shift(x, y, n, shift);
}
void dfmk_softmax_rows_f32(float *x, size_t rows, size_t n) {
    current->softmax_rows(x, rows, n);
}
void dfmk_softmax_grad_rows_f32(float *d, const float *p, size_t rows, size_t n) {
    current->softmax_grad_rows(d, p, rows, n);
}
void dfmk_adam_f32(float *p, const float *g, float *m, float *v, float *vmax, size_t n, const dfmk_adam_params *a) {
    current->adam(p, g, m, v, vmax, n, a);
}
void dfmk_im2col_taps_f32(const float *src, size_t src_stride, const int32_t *map, float *dst, size_t n, size_t count) {
    current->im2col_taps(src, src_stride, map, dst, n, count);
}
void dfmk_col2im_taps_f32(const float *cols, size_t tap_stride, const int32_t *inv, const int32_t *taps, size_t ntaps,
                          float *dst, size_t hw) {
    current->col2im_taps(cols, tap_stride, inv, taps, ntaps, dst, hw);
}
void dfmk_scatter_taps_f32(const float *src, size_t nt, const int32_t *live, float *dst, size_t taps, size_t rows,
                           int accumulate) {
    current->scatter_taps(src, nt, live, dst, taps, rows, accumulate);
}
double dfmk_norm_sum_f32(const float *x, size_t runs, size_t stride, size_t n, double mean, int squares) {
    return current->norm_sum(x, runs, stride, n, mean, squares);
}
void dfmk_grad_sums_f32(const float *g, const float *x, size_t runs, size_t stride, size_t n, float mean, float rstd,
                        double *sg, double *sgx) {
    current->grad_sums(g, x, runs, stride, n, mean, rstd, sg, sgx);
}
void dfmk_max_pool_f32(const float *src, size_t planes, const dfmk_pool_geom *g, float *out, int64_t *idx) {
    current->max_pool(src, planes, g, out, idx);
}

int dfmk_gg_fast(void) {
#if defined(__x86_64__)
    return dfmk_level() >= 3;
#else
    return 1;
#endif
}
size_t dfmk_gg_nr(void) {
    return current->gg_nr();
}
size_t dfmk_gg_mr(void) {
    return current->gg_mr();
}
size_t dfmk_gg_packed_a_size(size_t m, size_t k) {
    const size_t mr = current->gg_mr();
    return (m + mr - 1) / mr * mr * k;
}
size_t dfmk_gg_scratch_size(size_t k, size_t ntaps) {
    return current->gg_scratch_size(k, ntaps);
}
void dfmk_gg_pack_a_f32(const float *a, size_t lda, size_t plane, size_t sample_stride, size_t m, size_t k, float *pa) {
    current->gg_pack_a(a, lda, plane, sample_stride, m, k, pa);
}
void dfmk_gg_pack_w_f32(const float *w, size_t rs, size_t hs, size_t outer, size_t taps, const int32_t *live, size_t nt,
                        size_t r0, size_t m, size_t k, float *pa) {
    current->gg_pack_w(w, rs, hs, outer, taps, live, nt, r0, m, k, pa);
}
void dfmk_gg_gemm_f32(const float *pa, size_t m, size_t k, const dfmk_gather *g, size_t j0, size_t j1, float *c,
                      size_t ldc, float *scratch) {
    current->gg_gemm(pa, m, k, NULL, k, g, j0, j1, c, ldc, scratch);
}
void dfmk_gg_gemm_rows_f32(const float *pa, size_t m, size_t ka, const int32_t *arows, size_t k, const dfmk_gather *g,
                           size_t j0, size_t j1, float *c, size_t ldc, float *scratch) {
    current->gg_gemm(pa, m, ka, arows, k, g, j0, j1, c, ldc, scratch);
}
