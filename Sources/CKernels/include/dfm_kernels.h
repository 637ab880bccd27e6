// Float32 loops compiled once per x86-64 ISA level and picked when libdfm loads.
//
// Swift has no per-function target attribute, so the DFM module runs at the portable x86-64
// baseline (SSE2, no FMA: `addingProduct` is a libm call there, and no gather). The few loops that
// dominate a workload (GELU, the softmax exponentials, Adam, the convolutions' tap-map gathers)
// live here instead, as plain C that the compiler vectorises for each level (baseline, x86-64-v3 =
// AVX2+FMA, x86-64-v4 = AVX-512); the best level the CPU runs is picked when the library loads.
// Contraction is off and a fused multiply-add appears only where written (fmaf), so every level
// gives bitwise the same results: the choice of CPU never changes a number. The Swift code calls
// the scalar functions below too (Real.expv, normalCDF), so there is one definition of each.
#ifndef DFM_KERNELS_H
#define DFM_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// Internal to libdfm: not part of the C ABI (Include/dfm.h) and not exported.
#pragma GCC visibility push(hidden)

#pragma STDC FP_CONTRACT OFF

static inline uint32_t dfmk_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float dfmk_float(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/// e^x for float32, within 2 ulp where the result is a normal float; 0 below (no subnormals),
/// +inf above, NaN stays NaN. Cephes' expf: x = n·ln2 + r with |r| ≤ ln2/2, a degree-7 polynomial
/// in r, and 2^n as two factors built in the exponent bits (n reaches 128). No branch, so loops
/// over it vectorise.
static inline float dfmk_expf(float x) {
    float c = x < -87.33654f ? -87.33654f : (x > 88.72283f ? 88.72283f : x);
    // Adding 1.5·2^23 rounds c·log2(e) to the nearest integer n and leaves n in the low mantissa bits.
    float t = c * 1.44269504f + 12582912.0f;
    float n = t - 12582912.0f;
    float r = c - n * 0.693359375f + n * 2.1219444e-4f;
    float p = 1.98756915e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * r * r + r + 1.0f;
    int32_t ni = (int32_t)dfmk_bits(t) - 0x4B400000;
    int32_t half = ni >> 1;
    float s1 = dfmk_float((uint32_t)(half + 127) << 23);
    float s2 = dfmk_float((uint32_t)(ni - half + 127) << 23);
    float v = y * s1 * s2;
    return x > 88.72283f ? INFINITY : (x < -87.33654f ? 0.0f : (x != x ? x : v));
}

/// Φ(x) = P(Z ≤ x) for a standard normal Z, float32, relative error < 2e-5 (8e-6 measured) down
/// to Φ(-12.5) (PyTorch's own float32 erf is off by up to 5e-7 absolute). Through erfc, not
/// 1 + erf, so the left tail keeps its relative precision: erfc(z) = t·exp(-z² + P(t)),
/// t = 1/(1 + z/2) (Numerical Recipes' erfcc, fractional error < 1.2e-7 in exact arithmetic).
static inline float dfmk_normal_cdf(float x) {
    float z = fabsf(x) * 0.70710678f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    float half = 0.5f * t * dfmk_expf(-z * z + p); // Φ(-|x|)
    return x < 0 ? half : (x != x ? x : 1.0f - half);
}

/// A spin-wait hint for the CPU (x86 PAUSE), for Swift's thread pool.
static inline void dfmk_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/// y = x·Φ(x), the exact (erf) GELU.
void dfmk_gelu_f32(const float *x, float *y, size_t n);
/// out = g·(Φ(x) + x·φ(x)), GELU's derivative times the upstream gradient.
void dfmk_gelu_backward_f32(const float *g, const float *x, float *out, size_t n);
/// y = e^(x - shift): a softmax row's exponentials (shift = the row's maximum); y may be x.
void dfmk_exp_shift_f32(const float *x, float *y, size_t n, float shift);
/// Softmax of `rows` rows of n floats in place (attention's P): the row's maximum, exp(x - max)
/// summed in 16 partial sums combined in a fixed tree (the same bits at every level), scaled by
/// 1/sum; a row whose maximum is -inf becomes zeros.
void dfmk_softmax_rows_f32(float *x, size_t rows, size_t n);
/// Softmax's backward on rows of n: d = p·(d - Σ d·p), summed as dfmk_softmax_rows_f32.
void dfmk_softmax_grad_rows_f32(float *d, const float *p, size_t rows, size_t n);

/// im2col through a tap map, for `count` samples: dst[r·n + q] = src[r·src_stride + map[q]], or 0
/// where map[q] < 0 (padding).
void dfmk_im2col_taps_f32(const float *src, size_t src_stride, const int32_t *map, float *dst, size_t n, size_t count);
/// col2im of one (sample, channel) plane through the inverse tap map: dst[k] = the sum over taps t
/// of cols[t·tap_stride + inv[tap·hw + k]] where that index is >= 0, tap = taps[t] (t if taps is NULL).
void dfmk_col2im_taps_f32(const float *cols, size_t tap_stride, const int32_t *inv, const int32_t *taps, size_t ntaps,
                          float *dst, size_t hw);

/// A normalisation's sums in double over `runs` runs of n floats, `stride` floats apart: Σx, or
/// with squares Σ(x - mean)². Element k of a run goes to partial sum k mod 16, and the partial
/// sums are combined in a fixed tree at the end: independent lanes vectorise, and every level
/// adds in the same order.
double dfmk_norm_sum_f32(const float *x, size_t runs, size_t stride, size_t n, double mean, int squares);
/// sg = Σg and sgx = Σg·((x - mean)·rstd) (the product in float, as the forward's x̂) over runs
/// as dfmk_norm_sum_f32, with the same partial sums.
void dfmk_grad_sums_f32(const float *g, const float *x, size_t runs, size_t stride, size_t n, float mean, float rstd,
                        double *sg, double *sgx);

/// max_pool2d's geometry (torch's: window oy·sh - ph + i·dh, clipped to the plane).
typedef struct {
    long h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw;
} dfmk_pool_geom;
/// max_pool2d over `planes` planes of h×w floats: out (planes×oh×ow) gets each window's maximum
/// (NaN wins; the first maximum in window order otherwise) and idx, when not NULL, its index in
/// the plane (-inf and the window's first index for a window of -inf).
void dfmk_max_pool_f32(const float *src, size_t planes, const dfmk_pool_geom *g, float *out, int64_t *idx);

/// A pruned convolution's weight gradient back to all taps: row r of dst (taps wide) gets zeros,
/// then dst[r·taps + live[t]] = src[r·nt + t] for the nt live taps; with accumulate, dst keeps
/// its values and gets dst[r·taps + live[t]] += src[r·nt + t].
void dfmk_scatter_taps_f32(const float *src, size_t nt, const int32_t *live, float *dst, size_t taps, size_t rows,
                           int accumulate);

/// One Adam/AdamW step's constants, as Optim/Adam.swift derives them (torch's single-tensor Adam).
typedef struct {
    float w1, w1m1; // 1 - β1 and -β1: the lerp weight and weight - 1
    float b2, one_minus_b2;
    float neg_step;       // -lr / (1 - β1^t)
    float bc2_sqrt;       // √(1 - β2^t)
    float eps, wd, decay; // decay = 1 - lr·wd (decoupled)
    int small_w;          // |w1| < 0.5: torch's lerp starts from m, else from g
    int maximize, has_wd, decoupled;
} dfmk_adam_params;

/// p, m, v (and vmax for amsgrad, else NULL) updated in place from the gradient g.
void dfmk_adam_f32(float *p, const float *g, float *m, float *v, float *vmax, size_t n, const dfmk_adam_params *a);

/// The gathered GEMM: C = A·B where B is never written out but gathered from a tensor while it
/// is packed, which is how a convolution on small planes runs without im2col. Plain form: column j
/// of B is (sample j / plane, position q = j % plane), row kk is (channel kk / ntaps, tap t =
/// kk % ntaps); transposed form: row kk is (sample kk / plane, position q = kk % plane), column j
/// is (channel j / ntaps, tap t = j % ntaps). Either way the element is
/// x[sample·sample_stride + channel·plane_stride + map[t·plane + q]], or 0 where that map entry is
/// negative. Offsets must fit int32.
typedef struct {
    const float *x;
    size_t sample_stride, plane_stride, plane;
    const int32_t *map;
    size_t ntaps;
    int transposed;
} dfmk_gather;
/// 1 when the level in use has fused multiply-adds in hardware (where the gathered GEMM pays).
int dfmk_gg_fast(void);
/// Column and row multiples the kernel's tiles cover (split work on them).
size_t dfmk_gg_nr(void);
size_t dfmk_gg_mr(void);
/// Floats of the packed A (m×k) and of one caller's scratch for a GEMM of depth k over ntaps taps.
size_t dfmk_gg_packed_a_size(size_t m, size_t k);
size_t dfmk_gg_scratch_size(size_t k, size_t ntaps);
/// Packs A (m×k) for dfmk_gg_gemm_f32 at the level in use; element (r, kk) is
/// a[r·lda + (kk / plane)·sample_stride + kk % plane] (a row-major matrix: plane = k).
void dfmk_gg_pack_a_f32(const float *a, size_t lda, size_t plane, size_t sample_stride, size_t m, size_t k, float *pa);
/// Packs rows r0..<r0+m (r0 a multiple of dfmk_gg_mr()) of A taken from a convolution weight w
/// into pa (laid out for the whole A): element (r, kk) with kk = hi·nt + t is
/// w[(r·rs + hi·hs)·taps + live[t]], hi < outer (rs, hs = c, 1 for the forward's A, 1, c for the
/// input gradient's).
void dfmk_gg_pack_w_f32(const float *w, size_t rs, size_t hs, size_t outer, size_t taps, const int32_t *live, size_t nt,
                        size_t r0, size_t m, size_t k, float *pa);
/// Columns j0..<j1 of C (row-major, row stride ldc; m rows) = A·B, with A packed from its first
/// row (pa + i·k for a block starting at row i, a multiple of dfmk_gg_mr()). Each element is one
/// chain of fused multiply-adds over k in order, so every level gives the same bits.
void dfmk_gg_gemm_f32(const float *pa, size_t m, size_t k, const dfmk_gather *g, size_t j0, size_t j1, float *c,
                      size_t ldc, float *scratch);
/// The same over a subset of A's columns: B's row kk (k rows) multiplies column arows[kk] of A,
/// packed with ka columns. The rows of B that would gather only padding are left out (a conv on a
/// small plane, its border positions grouped by the taps they read), and each element is the
/// chain over the rest in order: the products skipped would have added zeros.
void dfmk_gg_gemm_rows_f32(const float *pa, size_t m, size_t ka, const int32_t *arows, size_t k, const dfmk_gather *g,
                           size_t j0, size_t j1, float *c, size_t ldc, float *scratch);

/// ISA levels: 1 = baseline, 3 = x86-64-v3 (AVX2, FMA), 4 = x86-64-v4 (AVX-512). The best one
/// this CPU runs; the one in use; use `level` (returns 0, or -1 if this CPU cannot run it).
int dfmk_max_level(void);
int dfmk_level(void);
int dfmk_set_level(int level);

#pragma GCC visibility pop
#endif
