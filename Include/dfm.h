/*
 * dfm.h: the C interface of dfm (libdfm.so), a CPU deep-learning library with
 * PyTorch-like tensors, reverse-mode autograd, layers, optimizers and the DFM
 * (feedback) models.
 *
 * Conventions (the whole header follows them; read once):
 *
 *  - Objects are opaque handles (dfm_tensor, dfm_module, ...). NULL is never a valid
 *    handle. A released handle, a handle of the wrong kind or a pointer that never
 *    came from dfm is detected and reported (DFM_INVALID_ARGUMENT / DFM_TYPE_ERROR);
 *    it is never dereferenced. Handle values are never reused.
 *  - Every fallible function returns dfm_status. Results come back through out
 *    pointers, which must not be NULL. On failure every handle out pointer is set to
 *    NULL, and dfm_last_error_message() names the function and the offending values.
 *    Nothing in the library aborts or exits the process on bad input.
 *  - Ownership is written beside each function:
 *      "new reference"  the caller owns one reference; release it with the matching
 *                       dfm_*_release. Each new reference and each retain needs
 *                       exactly one release.
 *      "borrowed"       valid only as long as the stated owner lives; do not free.
 *  - Tensors are dense, contiguous, row-major (NCHW for images), float32, float64, int64,
 *    uint8 or bool. Float ops compute in their inputs' precision (float32 and float64 operands
 *    of an elementwise op promote to float64, as in PyTorch; conv, linear and the norms
 *    require one float dtype).
 *    Shapes are int64_t arrays; a 0-dim tensor (a scalar) has ndim 0.
 *    Strides, where exposed, are in BYTES (numpy's convention).
 *  - Scalars taken by ops are double (as Python's floats); a float32 tensor computes with
 *    the scalar rounded to float32, as PyTorch does. Sizes, dims and indices are int64_t. Negative dims count from the
 * end, as in PyTorch. Optional scalars come as a `has_x` flag plus the value; optional tensors as NULL.
 *  - dfm_status and dfm_dtype are C enums: int-sized (ctypes: c_int). Strings are
 *    NUL-terminated UTF-8 (paths included) and are copied by dfm when needed.
 *  - Threads: the library is safe to enter from several threads at once. Independent
 *    objects may be used concurrently; ONE object (tensor, module, optimizer, ...)
 *    must not be used by two threads at the same time (reading the same input
 *    tensors concurrently is fine as long as no thread writes them). Global state
 *    (random generator, thread count, handle table) is thread-safe. Grad mode and
 *    the last error message are per thread, as in PyTorch.
 *  - Versioning: functions and enum values are only ever appended. Removal goes
 *    through a DFM_DEPRECATED release first. The ABI major is in the soname
 *    (libdfm.so.3); check dfm_abi_version() == DFM_ABI_VERSION at run time. These
 *    macros are the one source of the version: the library, the Makefiles, the Swift
 *    package and the Python binding read them from here.
 *    ABI 2 (dfm 0.2.0) added DFM_BOOL; comparisons, which returned float32 0/1 masks in
 *    ABI 1, now return bool tensors (sum them for an int64 count; dfm_tensor_to_dtype
 *    gives the old float32 mask).
 *    ABI 3 (dfm 0.3.0) added DFM_FLOAT64 (every float op, autograd and optimizer run in
 *    float64 too), dfm_module_to and dfm_tensor_convert_; scalar arguments that were
 *    `float` are `double` (recompile: the calling convention changed).
 */
#ifndef DFM_H
#define DFM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DFM_VERSION_MAJOR 0
#define DFM_VERSION_MINOR 3
#define DFM_VERSION_PATCH 0
/* Bumped on every incompatible change; part of the soname. */
#define DFM_ABI_VERSION 3

#if defined(_WIN32)
#define DFM_API __declspec(dllimport)
#elif defined(__GNUC__) || defined(__clang__)
#define DFM_API __attribute__((visibility("default")))
#else
#define DFM_API
#endif

#if defined(__GNUC__) || defined(__clang__)
#define DFM_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define DFM_DEPRECATED(msg)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================== */
/* Types                                                                    */
/* ======================================================================== */

/* Status codes. Values are fixed; new codes are only appended. */
typedef enum dfm_status {
    DFM_OK = 0,
    DFM_INVALID_ARGUMENT = 1, /* bad value, NULL or released handle, bad pointer   */
    DFM_SHAPE_MISMATCH = 2,   /* shapes do not fit the operation                   */
    DFM_OUT_OF_MEMORY = 3,    /* allocation failed or a size is absurdly large     */
    DFM_IO_ERROR = 4,         /* unreadable, truncated or corrupt file             */
    DFM_NOT_FOUND = 5,        /* missing file, key or name                         */
    DFM_STATE_ERROR = 6,      /* call not valid in the object's current state      */
    DFM_INTERNAL = 7,         /* a bug in dfm: please report it                    */
    DFM_INDEX_ERROR = 8,      /* index or dimension out of range                   */
    DFM_TYPE_ERROR = 9        /* wrong dtype or wrong kind of handle               */
} dfm_status;

/* Element types. */
typedef enum dfm_dtype {
    DFM_FLOAT32 = 0,
    DFM_INT64 = 1,
    DFM_BOOL = 2,    /* one byte per element, 0 or 1 (comparison results, masks) */
    DFM_FLOAT64 = 3, /* double precision: every float op, autograd and optimizer (dfm 0.3.0) */
    DFM_UINT8 = 4    /* bytes 0..255 (images); uint8 with uint8 wraps modulo 256 (dfm 0.3.0) */
} dfm_dtype;

/* Opaque handles. */
typedef struct dfm_tensor_s *dfm_tensor;           /* a tensor (reference counted)             */
typedef struct dfm_tensor_dict_s *dfm_tensor_dict; /* ordered name -> tensor map + metadata     */
typedef struct dfm_string_list_s *dfm_string_list; /* immutable list of strings                 */
typedef struct dfm_module_s *dfm_module;           /* a layer or model (reference counted)      */
typedef struct dfm_optimizer_s *dfm_optimizer;     /* SGD, Adam, AdamW, RMSprop, LBFGS, ...     */
typedef struct dfm_scheduler_s *dfm_scheduler;     /* a learning-rate scheduler                 */
typedef struct dfm_dataset_s *dfm_dataset;         /* an image-classification dataset (IDX)     */

/* Called by dfm_tensor_from_blob's tensor when dfm no longer needs the caller's
 * buffer: `data` is the pointer that was passed in, `user_data` the cookie. May run
 * on any thread. It must not call back into dfm for the tensor being released. */
typedef void (*dfm_release_fn)(void *data, void *user_data);

/* ======================================================================== */
/* Library                                                                  */
/* ======================================================================== */

/* The version as "MAJOR.MINOR.PATCH" (the DFM_VERSION_* macros above). Borrowed: static storage. */
DFM_API const char *dfm_version(void);

/* DFM_ABI_VERSION of the loaded library. Refuse to run if it differs from the
 * header's DFM_ABI_VERSION. */
DFM_API int32_t dfm_abi_version(void);

/* The message of the last failing call on THIS thread, naming the function and the
 * offending values ("" when no call has failed yet). Successful calls leave it
 * unchanged. Borrowed: valid until the next failing call on this thread. */
DFM_API const char *dfm_last_error_message(void);

/* The status of the last failing call on this thread (DFM_OK if none yet). */
DFM_API dfm_status dfm_last_error_status(void);

/* The enumerator name of a status, e.g. "DFM_SHAPE_MISMATCH" ("DFM_UNKNOWN_STATUS"
 * for values this library does not know). Borrowed: static storage. */
DFM_API const char *dfm_status_string(dfm_status status);

/* Number of live handles of every kind (tensors, modules, ...) in this process.
 * For leak checks in tests and bindings. */
DFM_API int64_t dfm_live_handle_count(void);

/* torch.manual_seed: reseeds the global random generator (randn, rand, randint,
 * dropout, parameter initialisation). Thread-safe. */
DFM_API dfm_status dfm_manual_seed(uint64_t seed);

/* torch.set_num_threads: threads used by dfm's kernels and by OpenBLAS, 1..1024.
 * Results are bitwise identical for a fixed thread count. Process-wide. */
DFM_API dfm_status dfm_set_num_threads(int32_t n);

/* torch.get_num_threads. */
DFM_API int32_t dfm_get_num_threads(void);

/* Grad mode of the calling thread (on by default on every thread). With it off, ops
 * record no autograd graph (torch.no_grad / torch.set_grad_enabled). */
DFM_API void dfm_set_grad_enabled(bool enabled);
DFM_API bool dfm_is_grad_enabled(void);

/* ======================================================================== */
/* Tensors: creation                                                        */
/* Every function here returns a NEW REFERENCE through `out`: release it    */
/* with dfm_tensor_release. `shape` points to `ndim` int64_t dims (may be   */
/* NULL when ndim is 0); ndim is 0..32, dims are >= 0.                      */
/* ======================================================================== */

/* Copies `nbytes` bytes from `data` (which must equal numel * element size; `data`
 * may be NULL only when that is 0) into a new tensor. */
DFM_API dfm_status dfm_tensor_from_data(const void *data, size_t nbytes, const int64_t *shape, int64_t ndim,
                                        dfm_dtype dtype, dfm_tensor *out);

/* Zero-copy: the new tensor uses the caller's buffer `data` (`nbytes` bytes, aligned
 * to the element size, row-major contiguous) for its whole life and for every view
 * of it. When the last user goes, dfm calls release(data, user_data) once (`release`
 * may be NULL if the caller frees the buffer itself after the tensor is gone). On
 * failure the buffer stays the caller's and `release` is not called. */
DFM_API dfm_status dfm_tensor_from_blob(void *data, size_t nbytes, const int64_t *shape, int64_t ndim, dfm_dtype dtype,
                                        dfm_release_fn release, void *user_data, dfm_tensor *out);

DFM_API dfm_status dfm_tensor_zeros(const int64_t *shape, int64_t ndim, dfm_dtype dtype, dfm_tensor *out);
DFM_API dfm_status dfm_tensor_ones(const int64_t *shape, int64_t ndim, dfm_dtype dtype, dfm_tensor *out);
/* For int64 tensors `value` must be integral and within int64 range. */
DFM_API dfm_status dfm_tensor_full(const int64_t *shape, int64_t ndim, double value, dfm_dtype dtype, dfm_tensor *out);
/* torch.arange(start, end, step): ceil((end - start) / step) values. */
DFM_API dfm_status dfm_tensor_arange(double start, double end, double step, dfm_dtype dtype, dfm_tensor *out);
/* torch.randn / torch.rand (float32) from the global generator. */
DFM_API dfm_status dfm_tensor_randn(const int64_t *shape, int64_t ndim, dfm_tensor *out);
DFM_API dfm_status dfm_tensor_rand(const int64_t *shape, int64_t ndim, dfm_tensor *out);
/* torch.randint(low, high, shape): int64 values in [low, high). */
DFM_API dfm_status dfm_tensor_randint(int64_t low, int64_t high, const int64_t *shape, int64_t ndim, dfm_tensor *out);
/* torch.randperm(n): int64 permutation of 0..n-1. */
DFM_API dfm_status dfm_tensor_randperm(int64_t n, dfm_tensor *out);

/* ======================================================================== */
/* Tensors: references, properties, data                                    */
/* ======================================================================== */

/* Adds a reference to `t` (same handle value); pair it with one more release. */
DFM_API dfm_status dfm_tensor_retain(dfm_tensor t);
/* Drops one reference. The handle is invalid after its last release; memory goes
 * when no handle, graph or module uses the tensor any more. NULL is a no-op. */
DFM_API dfm_status dfm_tensor_release(dfm_tensor t);

DFM_API dfm_status dfm_tensor_ndim(dfm_tensor t, int64_t *out);
/* Writes the ndim dims into dims[0..capacity); fails if capacity < ndim. */
DFM_API dfm_status dfm_tensor_shape(dfm_tensor t, int64_t *dims, int64_t capacity);
/* Writes the ndim strides, in BYTES, into byte_strides[0..capacity). */
DFM_API dfm_status dfm_tensor_strides(dfm_tensor t, int64_t *byte_strides, int64_t capacity);
DFM_API dfm_status dfm_tensor_dtype(dfm_tensor t, dfm_dtype *out);
DFM_API dfm_status dfm_tensor_numel(dfm_tensor t, int64_t *out);
DFM_API dfm_status dfm_tensor_nbytes(dfm_tensor t, size_t *out);

/* Pointer to the first element (float, int64_t or one byte per bool element, per dtype),
 * contiguous row-major. Bytes written into a bool tensor must be 0 or 1.
 * Borrowed: valid while `t` (or any view of its memory) lives. Reading and writing
 * through it is allowed; writes bypass autograd (like torch's .data). */
DFM_API dfm_status dfm_tensor_data(dfm_tensor t, void **out);
/* Copies all elements into `dst` (`nbytes` must equal dfm_tensor_nbytes). */
DFM_API dfm_status dfm_tensor_read(dfm_tensor t, void *dst, size_t nbytes);
/* Copies `nbytes` bytes from `src` into the tensor (in place, outside autograd). */
DFM_API dfm_status dfm_tensor_write(dfm_tensor t, const void *src, size_t nbytes);

/* The value of a one-element tensor (int64 values beyond 2^53 lose precision). */
DFM_API dfm_status dfm_tensor_item(dfm_tensor t, double *out);

/* ======================================================================== */
/* Tensors: autograd flags, copies                                          */
/* ======================================================================== */

DFM_API dfm_status dfm_tensor_requires_grad(dfm_tensor t, bool *out);
/* torch's requires_grad_: leaves only; only float32 tensors can require grad. */
DFM_API dfm_status dfm_tensor_set_requires_grad(dfm_tensor t, bool requires_grad);
/* True when `t` was not produced by a recorded op. */
DFM_API dfm_status dfm_tensor_is_leaf(dfm_tensor t, bool *out);
/* The accumulated gradient of a leaf: a NEW REFERENCE, or NULL in *out when there is
 * none (not an error). The gradient tensor is shared: backward accumulates into it. */
DFM_API dfm_status dfm_tensor_grad(dfm_tensor t, dfm_tensor *out);
/* Sets t.grad (shape and dtype must match), or clears it when `grad` is NULL. `t`
 * keeps its own reference to `grad`; the caller keeps its reference. */
DFM_API dfm_status dfm_tensor_set_grad(dfm_tensor t, dfm_tensor grad);

/* In place (outside autograd): copy `src` into `dst` (same shape; dtype converted). */
DFM_API dfm_status dfm_tensor_copy_(dfm_tensor dst, dfm_tensor src);
/* In place (outside autograd): set every element to `value`. */
DFM_API dfm_status dfm_tensor_fill_(dfm_tensor t, double value);
/* New reference sharing t's memory, cut from the graph (torch's detach). */
DFM_API dfm_status dfm_tensor_detach(dfm_tensor t, dfm_tensor *out);
/* New reference to a copy in new memory, cut from the graph. */
DFM_API dfm_status dfm_tensor_clone(dfm_tensor t, dfm_tensor *out);
/* New reference to a copy converted to `dtype` (torch's .float() / .long(), cut from
 * the graph): float to int64 truncates toward zero; NaN or out-of-range values fail. */
DFM_API dfm_status dfm_tensor_to_dtype(dfm_tensor t, dfm_dtype dtype, dfm_tensor *out);
/* Converts the leaf tensor `t` to `dtype` IN PLACE: new memory, same tensor (every handle
 * to it sees the change; its gradient is converted too). This is how module.double()
 * converts parameters. Views made before keep the old memory. DFM_STATE_ERROR for a
 * non-leaf; DFM_TYPE_ERROR for a non-float dtype on a tensor that requires grad. */
DFM_API dfm_status dfm_tensor_convert_(dfm_tensor t, dfm_dtype dtype);
/* An identity for the tensor object behind `t`: two handles give the same value when
 * they name the same tensor (e.g. a parameter fetched twice), while both live. */
DFM_API dfm_status dfm_tensor_identity(dfm_tensor t, uint64_t *out);

/* ======================================================================== */
/* Autograd                                                                 */
/* ======================================================================== */

/* loss.backward(gradient, retain_graph). With `grad` NULL the loss must have one
 * element. Gradients accumulate into the .grad of leaves that require grad. The
 * graph is freed afterwards unless retain_graph (a second backward through a freed
 * graph fails with DFM_STATE_ERROR). `grad` is borrowed for the call. */
DFM_API dfm_status dfm_backward(dfm_tensor loss, dfm_tensor grad, bool retain_graph);

/* ======================================================================== */
/* Ops                                                                      */
/* Every op returns a NEW REFERENCE through `out` and records the autograd   */
/* graph when grad mode is on and an input requires grad. Inputs are         */
/* borrowed for the call. Binary ops broadcast as in PyTorch.                */
/* ======================================================================== */

/* --- elementwise, tensor (op) tensor. dtypes as in torch: int64 (op) int64 stays int64
 * (add/sub/mul/pow/floor_divide/remainder; wraps on overflow; integer division by zero
 * fails), int64 with float32 computes in float32, and div is true division (float32).
 * neg/abs/clamp/sum of int64 stay int64. A bool operand counts as int64 0/1, except
 * bool + bool (or) and bool * bool (and), which stay bool; bool - bool and -bool fail. --- */
DFM_API dfm_status dfm_add(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
DFM_API dfm_status dfm_sub(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
DFM_API dfm_status dfm_mul(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
DFM_API dfm_status dfm_div(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
DFM_API dfm_status dfm_pow(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
/* torch.floor_divide (Python's a // b): floor(a / b); not recorded (no gradient). */
DFM_API dfm_status dfm_floor_divide(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
/* torch.remainder (Python's a % b): the result has the sign of b. */
DFM_API dfm_status dfm_remainder(dfm_tensor a, dfm_tensor b, dfm_tensor *out);

/* --- elementwise with a scalar: a + s, a - s, a * s, a / s, a ** s, s - a, s / a. On an
 * int64 tensor an integral s acts as a Python int (result int64; exact for |s| <= 2^24),
 * a fractional s gives float32; int64 ** (negative integral s) fails. --- */
DFM_API dfm_status dfm_add_scalar(dfm_tensor a, double s, dfm_tensor *out);
DFM_API dfm_status dfm_sub_scalar(dfm_tensor a, double s, dfm_tensor *out);
DFM_API dfm_status dfm_mul_scalar(dfm_tensor a, double s, dfm_tensor *out);
DFM_API dfm_status dfm_div_scalar(dfm_tensor a, double s, dfm_tensor *out);
DFM_API dfm_status dfm_pow_scalar(dfm_tensor a, double s, dfm_tensor *out);
DFM_API dfm_status dfm_rsub_scalar(double s, dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_rdiv_scalar(double s, dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_floor_divide_scalar(dfm_tensor a, double s, dfm_tensor *out);
DFM_API dfm_status dfm_remainder_scalar(dfm_tensor a, double s, dfm_tensor *out);

/* --- elementwise unary and activations --- */
DFM_API dfm_status dfm_neg(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_exp(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_log(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_abs(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_sqrt(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_relu(dfm_tensor a, dfm_tensor *out);
/* Exact (erf) GELU, torch's default. */
DFM_API dfm_status dfm_gelu(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_sigmoid(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_tanh(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_sin(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_cos(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_log1p(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_expm1(dfm_tensor a, dfm_tensor *out);
/* x for x > 0, else negative_slope * x. */
DFM_API dfm_status dfm_leaky_relu(dfm_tensor a, double negative_slope, dfm_tensor *out);
/* floor / ceil / round (half to even) / trunc / sign: zero gradient; int64 stays int64. */
DFM_API dfm_status dfm_floor(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_ceil(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_round(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_trunc(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_sign(dfm_tensor a, dfm_tensor *out);
/* torch.isnan / isinf / isfinite: bool results. */
DFM_API dfm_status dfm_isnan(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_isinf(dfm_tensor a, dfm_tensor *out);
DFM_API dfm_status dfm_isfinite(dfm_tensor a, dfm_tensor *out);
/* torch.clamp(a, min, max); a bound is ignored when its has_ flag is false. */
DFM_API dfm_status dfm_clamp(dfm_tensor a, bool has_min, double min, bool has_max, double max, dfm_tensor *out);

/* --- reductions: over `dims` (ndims of them; ndims 0 reduces over all dims) --- */
DFM_API dfm_status dfm_sum(dfm_tensor x, const int64_t *dims, int64_t ndims, bool keepdim, dfm_tensor *out);
DFM_API dfm_status dfm_mean(dfm_tensor x, const int64_t *dims, int64_t ndims, bool keepdim, dfm_tensor *out);
/* torch.cumsum along `dim`; int64 and bool inputs give int64. */
DFM_API dfm_status dfm_cumsum(dfm_tensor x, int64_t dim, dfm_tensor *out);

/* --- shape ops --- */
/* torch.reshape: one dim may be -1. Shares memory with x. */
DFM_API dfm_status dfm_reshape(dfm_tensor x, const int64_t *shape, int64_t ndim, dfm_tensor *out);
/* torch.expand (materialised copy); -1 keeps a dim. */
DFM_API dfm_status dfm_expand(dfm_tensor x, const int64_t *shape, int64_t ndim, dfm_tensor *out);
/* torch.permute: `dims` is a permutation of 0..ndim-1 (negative allowed). Copies. */
DFM_API dfm_status dfm_permute(dfm_tensor x, const int64_t *dims, int64_t ndims, dfm_tensor *out);
DFM_API dfm_status dfm_transpose(dfm_tensor x, int64_t dim0, int64_t dim1, dfm_tensor *out);
/* torch.narrow: `length` elements from `start` along `dim`. */
DFM_API dfm_status dfm_narrow(dfm_tensor x, int64_t dim, int64_t start, int64_t length, dfm_tensor *out);
/* x[start:end:step] along `dim` (Python slice rules: bounds clamp, negative counts from
 * the end; a bound is absent when its has_ flag is false). step >= 1. */
DFM_API dfm_status dfm_slice(dfm_tensor x, int64_t dim, bool has_start, int64_t start, bool has_end, int64_t end,
                             int64_t step, dfm_tensor *out);
/* torch.select: x[..., index, ...] with `dim` removed. */
DFM_API dfm_status dfm_select(dfm_tensor x, int64_t dim, int64_t index, dfm_tensor *out);
/* torch.index_select: the slices index[j] of x along `dim`, in order (repeats allowed).
 * `index` is int64, 1-D (or 0-dim: one index) with entries in [0, size): negative entries
 * are errors, as in torch. Recorded: the gradient scatter-adds into the selected slices. */
DFM_API dfm_status dfm_index_select(dfm_tensor x, int64_t dim, dfm_tensor index, dfm_tensor *out);
/* torch.nonzero: the (n, ndim) int64 coordinates of the nonzero (true) elements, in
 * row-major order. */
DFM_API dfm_status dfm_nonzero(dfm_tensor x, dfm_tensor *out);
/* torch.gather: out[i][j][k] = x[i][index[i][j][k]][k] for dim 1 (likewise for any dim).
 * `index` is int64 with x's number of dims, each dim no larger than x's (except `dim`),
 * entries in [0, size of dim). Recorded: the gradient scatter-adds into x. */
DFM_API dfm_status dfm_gather(dfm_tensor x, int64_t dim, dfm_tensor index, dfm_tensor *out);
/* torch.scatter / torch.scatter_add (out of place): x with src[..., j, ...] written (or
 * added) at x[..., index[..., j, ...], ...]; index as for dfm_gather and no larger than src
 * (same dtype as x). A repeated target keeps the last write (scatter) or accumulates
 * (scatter_add). Recorded for x and src. */
DFM_API dfm_status dfm_scatter(dfm_tensor x, int64_t dim, dfm_tensor index, dfm_tensor src, dfm_tensor *out);
DFM_API dfm_status dfm_scatter_add(dfm_tensor x, int64_t dim, dfm_tensor index, dfm_tensor src, dfm_tensor *out);
/* torch.masked_select: the elements of x where the bool `mask` is true (x and mask
 * broadcast together), as a 1-D tensor in row-major order. Recorded. */
DFM_API dfm_status dfm_masked_select(dfm_tensor x, dfm_tensor mask, dfm_tensor *out);
/* torch.cat / torch.stack of `n` tensors (n >= 1; the array is borrowed for the call). */
DFM_API dfm_status dfm_cat(const dfm_tensor *tensors, int64_t n, int64_t dim, dfm_tensor *out);
DFM_API dfm_status dfm_stack(const dfm_tensor *tensors, int64_t n, int64_t dim, dfm_tensor *out);
/* torch.squeeze: removes size-1 dims (only `dim` when has_dim). */
DFM_API dfm_status dfm_squeeze(dfm_tensor x, bool has_dim, int64_t dim, dfm_tensor *out);
DFM_API dfm_status dfm_unsqueeze(dfm_tensor x, int64_t dim, dfm_tensor *out);
DFM_API dfm_status dfm_flatten(dfm_tensor x, int64_t start_dim, int64_t end_dim, dfm_tensor *out);

/* --- comparisons: bool results, no gradient. float32 with int64 compares in float32. --- */
DFM_API dfm_status dfm_eq(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
DFM_API dfm_status dfm_ne(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
DFM_API dfm_status dfm_lt(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
DFM_API dfm_status dfm_le(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
DFM_API dfm_status dfm_gt(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
DFM_API dfm_status dfm_ge(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
DFM_API dfm_status dfm_eq_scalar(dfm_tensor a, double s, dfm_tensor *out);
DFM_API dfm_status dfm_ne_scalar(dfm_tensor a, double s, dfm_tensor *out);
DFM_API dfm_status dfm_lt_scalar(dfm_tensor a, double s, dfm_tensor *out);
DFM_API dfm_status dfm_le_scalar(dfm_tensor a, double s, dfm_tensor *out);
DFM_API dfm_status dfm_gt_scalar(dfm_tensor a, double s, dfm_tensor *out);
DFM_API dfm_status dfm_ge_scalar(dfm_tensor a, double s, dfm_tensor *out);
/* torch.where(cond, a, b): `cond` true (bool) or nonzero (other dtypes) picks a, else b;
 * all three broadcast; a and b are float32. */
DFM_API dfm_status dfm_where(dfm_tensor cond, dfm_tensor a, dfm_tensor b, dfm_tensor *out);
/* torch.logical_and / or / xor / not: inputs of any dtype (nonzero is true), bool result,
 * broadcasting. */
DFM_API dfm_status dfm_logical_and(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
DFM_API dfm_status dfm_logical_or(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
DFM_API dfm_status dfm_logical_xor(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
DFM_API dfm_status dfm_logical_not(dfm_tensor a, dfm_tensor *out);

/* --- max / min / arg (NaN wins, ties go to the first occurrence) --- */
/* Largest / smallest element as a 0-dim tensor. */
DFM_API dfm_status dfm_max(dfm_tensor x, dfm_tensor *out);
DFM_API dfm_status dfm_min(dfm_tensor x, dfm_tensor *out);
/* torch.max(x, dim, keepdim): values and int64 indices, two NEW REFERENCES. */
DFM_API dfm_status dfm_max_dim(dfm_tensor x, int64_t dim, bool keepdim, dfm_tensor *values, dfm_tensor *indices);
DFM_API dfm_status dfm_min_dim(dfm_tensor x, int64_t dim, bool keepdim, dfm_tensor *values, dfm_tensor *indices);
/* int64 indices along `dim`, or into the flattened tensor when has_dim is false. */
DFM_API dfm_status dfm_argmax(dfm_tensor x, bool has_dim, int64_t dim, bool keepdim, dfm_tensor *out);
DFM_API dfm_status dfm_argmin(dfm_tensor x, bool has_dim, int64_t dim, bool keepdim, dfm_tensor *out);

/* --- sort / topk (NaN sorts above every number; ties keep their order) --- */
/* torch.sort(x, dim, descending, stable=True): values and int64 indices, two NEW REFERENCES. */
DFM_API dfm_status dfm_sort(dfm_tensor x, int64_t dim, bool descending, dfm_tensor *values, dfm_tensor *indices);
/* torch.topk(x, k, dim, largest, sorted=True); k outside 0...size of dim is DFM_SHAPE_MISMATCH. */
DFM_API dfm_status dfm_topk(dfm_tensor x, int64_t k, int64_t dim, bool largest, dfm_tensor *values,
                            dfm_tensor *indices);

/* --- softmax --- */
DFM_API dfm_status dfm_softmax(dfm_tensor x, int64_t dim, dfm_tensor *out);
DFM_API dfm_status dfm_log_softmax(dfm_tensor x, int64_t dim, dfm_tensor *out);

/* --- linear algebra --- */
/* torch.matmul (1-D, 2-D and batched with broadcasting). */
DFM_API dfm_status dfm_matmul(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
/* torch.bmm: (B, n, m) x (B, m, p). */
DFM_API dfm_status dfm_bmm(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
/* torch.mm (2-D x 2-D), torch.mv (2-D x 1-D), torch.dot (1-D . 1-D, 0-dim result) and
 * torch.outer (1-D x 1-D -> 2-D), with torch's shape checks (dfm 0.3.0). */
DFM_API dfm_status dfm_mm(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
DFM_API dfm_status dfm_mv(dfm_tensor a, dfm_tensor v, dfm_tensor *out);
DFM_API dfm_status dfm_dot(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
DFM_API dfm_status dfm_outer(dfm_tensor a, dfm_tensor b, dfm_tensor *out);
/* torch.addmm / torch.baddbmm: beta * input + alpha * (a @ b) (bmm for baddbmm), input
 * broadcast to the product's shape; beta = 0 ignores input (dfm 0.3.0). */
DFM_API dfm_status dfm_addmm(dfm_tensor input, dfm_tensor a, dfm_tensor b, double beta, double alpha, dfm_tensor *out);
DFM_API dfm_status dfm_baddbmm(dfm_tensor input, dfm_tensor a, dfm_tensor b, double beta, double alpha,
                               dfm_tensor *out);
/* F.linear: x @ weight^T + bias; `bias` may be NULL. */
DFM_API dfm_status dfm_linear(dfm_tensor x, dfm_tensor weight, dfm_tensor bias, dfm_tensor *out);
/* torch.linalg.qr; mode "reduced", "complete" or "r" (then *q is an empty tensor).
 * Two NEW REFERENCES. */
DFM_API dfm_status dfm_qr(dfm_tensor a, const char *mode, dfm_tensor *q, dfm_tensor *r);

/* --- convolution and pooling (NCHW). Array arguments hold 2 values (H, W). --- */
/* F.conv2d; `bias` may be NULL. */
DFM_API dfm_status dfm_conv2d(dfm_tensor x, dfm_tensor weight, dfm_tensor bias, const int64_t *stride,
                              const int64_t *padding, const int64_t *dilation, int64_t groups, dfm_tensor *out);
/* F.conv_transpose2d: x (N, Cin, H, W) or (Cin, H, W), weight (Cin, Cout/groups, kH, kW),
 * bias (Cout) or NULL; stride, padding, output_padding, dilation are 2-element arrays
 * (output_padding < stride or dilation). Output side (H-1)·s - 2p + d(k-1) + op + 1. */
DFM_API dfm_status dfm_conv_transpose2d(dfm_tensor x, dfm_tensor weight, dfm_tensor bias, const int64_t *stride,
                                        const int64_t *padding, const int64_t *output_padding, const int64_t *dilation,
                                        int64_t groups, dfm_tensor *out);
/* F.conv2d with padding "same" or "valid". */
DFM_API dfm_status dfm_conv2d_padding_mode(dfm_tensor x, dfm_tensor weight, dfm_tensor bias, const int64_t *stride,
                                           const char *padding, const int64_t *dilation, int64_t groups,
                                           dfm_tensor *out);
/* F.max_pool2d; `stride` NULL means kernel_size. */
DFM_API dfm_status dfm_max_pool2d(dfm_tensor x, const int64_t *kernel_size, const int64_t *stride,
                                  const int64_t *padding, const int64_t *dilation, bool ceil_mode, dfm_tensor *out);
/* F.avg_pool2d; `stride` NULL means kernel_size. */
DFM_API dfm_status dfm_avg_pool2d(dfm_tensor x, const int64_t *kernel_size, const int64_t *stride,
                                  const int64_t *padding, bool ceil_mode, bool count_include_pad, dfm_tensor *out);
DFM_API dfm_status dfm_adaptive_avg_pool2d(dfm_tensor x, const int64_t *output_size, dfm_tensor *out);
/* F.interpolate for NCHW input: either `size` (2 values) or `scale_factor` (2 doubles)
 * is non-NULL; mode "nearest" or "bilinear"; align_corners only with has_align_corners
 * (None otherwise, which "nearest" requires). */
DFM_API dfm_status dfm_interpolate(dfm_tensor x, const int64_t *size, const double *scale_factor, const char *mode,
                                   bool has_align_corners, bool align_corners, dfm_tensor *out);

/* --- normalisation. weight/bias may be NULL. --- */
/* F.batch_norm. running_mean/running_var may be NULL; in training mode they are updated
 * in place with `momentum`. */
DFM_API dfm_status dfm_batch_norm(dfm_tensor x, dfm_tensor running_mean, dfm_tensor running_var, dfm_tensor weight,
                                  dfm_tensor bias, bool training, double momentum, double eps, dfm_tensor *out);
DFM_API dfm_status dfm_group_norm(dfm_tensor x, int64_t num_groups, dfm_tensor weight, dfm_tensor bias, double eps,
                                  dfm_tensor *out);
DFM_API dfm_status dfm_layer_norm(dfm_tensor x, const int64_t *normalized_shape, int64_t ndim, dfm_tensor weight,
                                  dfm_tensor bias, double eps, dfm_tensor *out);

/* --- losses; reduction is "mean", "sum" or "none" --- */
/* F.cross_entropy: input (N, C) or (C) logits (or (N, C, d...)), target int64 class
 * indices or float class probabilities of the input's shape; `weight` (C) may be NULL. */
DFM_API dfm_status dfm_cross_entropy(dfm_tensor input, dfm_tensor target, dfm_tensor weight, int64_t ignore_index,
                                     const char *reduction, double label_smoothing, dfm_tensor *out);
/* F.nll_loss: input holds log-probabilities, shaped as for dfm_cross_entropy. */
DFM_API dfm_status dfm_nll_loss(dfm_tensor input, dfm_tensor target, dfm_tensor weight, int64_t ignore_index,
                                const char *reduction, dfm_tensor *out);
DFM_API dfm_status dfm_mse_loss(dfm_tensor input, dfm_tensor target, const char *reduction, dfm_tensor *out);
/* F.binary_cross_entropy_with_logits; weight and pos_weight may be NULL. */
DFM_API dfm_status dfm_binary_cross_entropy_with_logits(dfm_tensor input, dfm_tensor target, dfm_tensor weight,
                                                        dfm_tensor pos_weight, const char *reduction, dfm_tensor *out);

/* --- dropout: zeroes with probability p and scales by 1/(1-p) when training (global
 * generator); the identity otherwise. --- */
DFM_API dfm_status dfm_dropout(dfm_tensor x, double p, bool training, dfm_tensor *out);
/* Feature dropout (behind torch's F.dropout1d/2d/3d): x is (N, C, *); whole maps x[n, c]
 * are zeroed with probability p, the rest scaled by 1/(1-p) (dfm 0.3.0). */
DFM_API dfm_status dfm_feature_dropout(dfm_tensor x, double p, bool training, dfm_tensor *out);

/* --- segmentation metrics. `prediction` is int64 labels shaped like `target`, or
 * float32 scores (N, C, ...) reduced by argmax over dim 1; `target` is int64 labels.
 * Pixels whose target is ignore_index are skipped; other labels outside
 * [0, num_classes) are DFM_INDEX_ERROR. A class absent from targets and predictions
 * scores NaN and is left out of the mean. --- */
/* Counts (num_classes, num_classes) int64: entry [t, p] = pixels of class t predicted p. */
DFM_API dfm_status dfm_confusion_matrix(dfm_tensor prediction, dfm_tensor target, int64_t num_classes,
                                        int64_t ignore_index, dfm_tensor *out);
/* Per-class IoU = TP / (TP + FP + FN) and Dice = 2TP / (2TP + FP + FN), float32 (num_classes). */
DFM_API dfm_status dfm_iou_per_class(dfm_tensor prediction, dfm_tensor target, int64_t num_classes,
                                     int64_t ignore_index, dfm_tensor *out);
DFM_API dfm_status dfm_dice_per_class(dfm_tensor prediction, dfm_tensor target, int64_t num_classes,
                                      int64_t ignore_index, dfm_tensor *out);
DFM_API dfm_status dfm_mean_iou(dfm_tensor prediction, dfm_tensor target, int64_t num_classes, int64_t ignore_index,
                                float *out);

/* ======================================================================== */
/* Parameter initialisation (torch.nn.init): in place on a float32 tensor,  */
/* outside autograd, from the global generator.                             */
/* ======================================================================== */

/* mode "fan_in" or "fan_out"; nonlinearity as torch ("leaky_relu", "relu", ...). */
DFM_API dfm_status dfm_init_kaiming_normal_(dfm_tensor t, double a, const char *mode, const char *nonlinearity);
DFM_API dfm_status dfm_init_kaiming_uniform_(dfm_tensor t, double a, const char *mode, const char *nonlinearity);
DFM_API dfm_status dfm_init_xavier_uniform_(dfm_tensor t, double gain);
DFM_API dfm_status dfm_init_xavier_normal_(dfm_tensor t, double gain);
DFM_API dfm_status dfm_init_orthogonal_(dfm_tensor t, double gain);
DFM_API dfm_status dfm_init_normal_(dfm_tensor t, double mean, double std);
DFM_API dfm_status dfm_init_uniform_(dfm_tensor t, double a, double b);
DFM_API dfm_status dfm_init_constant_(dfm_tensor t, double value);

/* ======================================================================== */
/* Containers: tensor dicts and string lists                                */
/* ======================================================================== */

/* A new, empty dict. NEW REFERENCE: release with dfm_tensor_dict_release. */
DFM_API dfm_status dfm_tensor_dict_new(dfm_tensor_dict *out);
/* NULL is a no-op. The dict's own references to its tensors go with it. */
DFM_API dfm_status dfm_tensor_dict_release(dfm_tensor_dict d);
DFM_API dfm_status dfm_tensor_dict_size(dfm_tensor_dict d, int64_t *out);
/* The key at `index` (0..size-1, insertion order). Borrowed: valid while `d` lives. */
DFM_API dfm_status dfm_tensor_dict_key(dfm_tensor_dict d, int64_t index, const char **out);
/* The tensor at `index`: a NEW REFERENCE (the same tensor the dict holds). */
DFM_API dfm_status dfm_tensor_dict_value(dfm_tensor_dict d, int64_t index, dfm_tensor *out);
/* The tensor under `key`: a NEW REFERENCE, or DFM_NOT_FOUND. */
DFM_API dfm_status dfm_tensor_dict_get(dfm_tensor_dict d, const char *key, dfm_tensor *out);
/* Inserts (at the end) or replaces (in place) `key`. The dict takes its own reference
 * to `t`; the caller keeps its reference. */
DFM_API dfm_status dfm_tensor_dict_set(dfm_tensor_dict d, const char *key, dfm_tensor t);
/* String metadata (safetensors' "__metadata__"): set, get (borrowed: valid while `d`
 * lives and the key is not set again; DFM_NOT_FOUND when absent), and list the keys
 * (sorted; a NEW REFERENCE). */
DFM_API dfm_status dfm_tensor_dict_set_metadata(dfm_tensor_dict d, const char *key, const char *value);
DFM_API dfm_status dfm_tensor_dict_get_metadata(dfm_tensor_dict d, const char *key, const char **out);
DFM_API dfm_status dfm_tensor_dict_metadata_keys(dfm_tensor_dict d, dfm_string_list *out);

/* NULL is a no-op. */
DFM_API dfm_status dfm_string_list_release(dfm_string_list l);
DFM_API dfm_status dfm_string_list_size(dfm_string_list l, int64_t *out);
/* The string at `index`. Borrowed: valid while `l` lives. */
DFM_API dfm_status dfm_string_list_get(dfm_string_list l, int64_t index, const char **out);

/* ======================================================================== */
/* safetensors files                                                        */
/* ======================================================================== */

/* Reads every tensor of a safetensors file (F32 and I64 as is; F16, BF16, F64 as
 * float32), sorted by name, with the file's metadata. NEW REFERENCE. Missing file:
 * DFM_NOT_FOUND; truncated or corrupt file, or one the format forbids (duplicate or
 * empty keys, non-integer shapes or offsets, overlapping or unindexed data bytes,
 * non-string metadata): DFM_IO_ERROR. Regular files only (not a directory, device or
 * pipe); no read goes beyond the file's size or the lengths its header declares. */
DFM_API dfm_status dfm_safetensors_read(const char *path, dfm_tensor_dict *out);
/* Writes the dict's tensors and metadata atomically (temporary file PATH.tmp-PID-N,
 * mode 0644 minus the umask, fsync, rename), first removing temporaries of PATH left by
 * writers that were killed (their process is gone). Keys must be unique and non-empty;
 * readable by the `safetensors` package and PyTorch. PATH must not be a directory or
 * another non-regular file. The module and optimizer save functions write the same way. */
DFM_API dfm_status dfm_safetensors_write(const char *path, dfm_tensor_dict d);
/* Writes an image tensor as an 8-bit PNG (atomically): (C, H, W) with C = 1 (grey), 3 (RGB)
 * or 4 (RGBA), or (H, W). Float values in [0, 1] become bytes as torchvision's save_image
 * makes them, clamp(x * 255 + 0.5, 0, 255) truncated; int64 values must be bytes 0..255
 * (dfm 0.3.0). */
DFM_API dfm_status dfm_save_png(dfm_tensor image, const char *path);

/* ======================================================================== */
/* Modules (torch.nn): built-in layers and models                            */
/* Constructors return a NEW REFERENCE through `out`: release it with        */
/* dfm_module_release. Parameters are initialised like PyTorch's, from the   */
/* global generator (seed with dfm_manual_seed). 2-element arrays are (H, W).*/
/* ======================================================================== */

/* nn.Conv2d(in, out, kernel_size, stride, padding, dilation, groups, bias). */
DFM_API dfm_status dfm_module_conv2d(int64_t in_channels, int64_t out_channels, const int64_t *kernel_size,
                                     const int64_t *stride, const int64_t *padding, const int64_t *dilation,
                                     int64_t groups, bool bias, dfm_module *out);
/* nn.Conv2d with padding "same" or "valid". */
DFM_API dfm_status dfm_module_conv2d_padding_mode(int64_t in_channels, int64_t out_channels, const int64_t *kernel_size,
                                                  const int64_t *stride, const char *padding, const int64_t *dilation,
                                                  int64_t groups, bool bias, dfm_module *out);
DFM_API dfm_status dfm_module_linear(int64_t in_features, int64_t out_features, bool bias, dfm_module *out);
/* nn.BatchNorm2d; momentum is None (cumulative average) when has_momentum is false. */
DFM_API dfm_status dfm_module_batch_norm2d(int64_t num_features, double eps, bool has_momentum, double momentum,
                                           bool affine, bool track_running_stats, dfm_module *out);
DFM_API dfm_status dfm_module_group_norm(int64_t num_groups, int64_t num_channels, double eps, bool affine,
                                         dfm_module *out);
DFM_API dfm_status dfm_module_layer_norm(const int64_t *normalized_shape, int64_t ndim, double eps,
                                         bool elementwise_affine, bool bias, dfm_module *out);
DFM_API dfm_status dfm_module_relu(dfm_module *out);
/* approximate: "none" or "tanh". */
DFM_API dfm_status dfm_module_gelu(const char *approximate, dfm_module *out);
DFM_API dfm_status dfm_module_sigmoid(dfm_module *out);
DFM_API dfm_status dfm_module_tanh(dfm_module *out);
DFM_API dfm_status dfm_module_softmax(int64_t dim, dfm_module *out);
DFM_API dfm_status dfm_module_dropout(double p, dfm_module *out);
DFM_API dfm_status dfm_module_identity(dfm_module *out);
/* `stride` NULL means kernel_size. */
DFM_API dfm_status dfm_module_max_pool2d(const int64_t *kernel_size, const int64_t *stride, const int64_t *padding,
                                         const int64_t *dilation, bool ceil_mode, dfm_module *out);
DFM_API dfm_status dfm_module_avg_pool2d(const int64_t *kernel_size, const int64_t *stride, const int64_t *padding,
                                         bool ceil_mode, bool count_include_pad, dfm_module *out);
DFM_API dfm_status dfm_module_adaptive_avg_pool2d(const int64_t *output_size, dfm_module *out);
DFM_API dfm_status dfm_module_flatten(int64_t start_dim, int64_t end_dim, dfm_module *out);
/* nn.Upsample: exactly one of size (2 values) / scale_factor (2 doubles) non-NULL. */
DFM_API dfm_status dfm_module_upsample(const int64_t *size, const double *scale_factor, const char *mode,
                                       bool has_align_corners, bool align_corners, dfm_module *out);
/* nn.Sequential of `n` modules (n >= 0), named "0", "1", ...; it shares them (the
 * caller keeps its references). */
DFM_API dfm_status dfm_module_sequential(const dfm_module *modules, int64_t n, dfm_module *out);
/* torchvision's feedforward ResNet: arch "resnet18", "resnet34" or "resnet50". */
DFM_API dfm_status dfm_module_resnet(const char *arch, int64_t num_classes, int64_t in_channels, dfm_module *out);

/* --- DFM (feedback) models, docs/MODELS.md. Use dfm_module_forward_dfm to pass T and atol;
 * dfm_module_forward runs the model's default T. --- */
/* DFM-ResNet (classification): arch "resnet18", "resnet34" or "resnet50"; frontend
 * "resnet". Published defaults: fb_filters 0, registers 0, n_classes 200, shape (64, 64)
 * ((224, 224) for resnet50), tau 1; dfm adds in_channels 3 and state_init_std 1e-3.
 * Input (B, in_channels, H, W) or unbatched (in_channels, H, W); logits (B, n_classes)
 * or (n_classes). */
DFM_API dfm_status dfm_module_dfm_resnet(const char *arch, const char *frontend, int64_t fb_filters, int64_t registers,
                                         int64_t n_classes, const int64_t *shape, double tau, int64_t in_channels,
                                         double state_init_std, dfm_module *out);
/* DFM-DeepLabV3+ (segmentation). shape (H, W) multiples of 16; block "basic" or
 * "bottleneck"; layers: 4 block counts. Published defaults: in_filters 3, fb_filters 2,
 * class_filters 256, registers 0, classes 8, alpha 0.2, tau 1, shape (512, 512), "basic",
 * {2, 2, 2, 2}; dfm adds aspp_dropout 0.5 and state_init_std 1e-3. */
DFM_API dfm_status dfm_module_dfm_deeplabv3plus(int64_t in_filters, int64_t fb_filters, int64_t class_filters,
                                                int64_t registers, int64_t classes, double alpha, double tau,
                                                const int64_t *shape, const char *block, const int64_t *layers,
                                                double aspp_dropout, double state_init_std, dfm_module *out);
/* model(x, T, atol): at most T feedback steps, stopping early when the state's L1 norm
 * changes by at most atol. DFM_TYPE_ERROR for a module that is not a DFM model. */
DFM_API dfm_status dfm_module_forward_dfm(dfm_module m, dfm_tensor x, int64_t T, double atol, dfm_tensor *out);
/* The number of steps the last forward of a DFM model ran (upstream's model.T). */
DFM_API dfm_status dfm_module_steps(dfm_module m, int64_t *out);
/* checkpoint_steps: recompute each feedback step's activations during backward instead
 * of keeping them (memory nearly flat in T; bitwise the same gradients; one extra forward
 * per step). Off by default. DFM_TYPE_ERROR for a module that is not a DFM model. */
DFM_API dfm_status dfm_module_set_checkpoint_steps(dfm_module m, bool on);
DFM_API dfm_status dfm_module_checkpoint_steps(dfm_module m, bool *out);

/* --- using a module --- */
DFM_API dfm_status dfm_module_retain(dfm_module m);
/* NULL is a no-op. */
DFM_API dfm_status dfm_module_release(dfm_module m);
/* module(x): a NEW REFERENCE; records the graph like any op. */
DFM_API dfm_status dfm_module_forward(dfm_module m, dfm_tensor x, dfm_tensor *out);
/* train(mode) / eval() on the whole tree, and the current flag. */
DFM_API dfm_status dfm_module_train(dfm_module m, bool mode);
DFM_API dfm_status dfm_module_is_training(dfm_module m, bool *out);
/* zero_grad(set_to_none=True) over every parameter. */
DFM_API dfm_status dfm_module_zero_grad(dfm_module m);
/* module.to(dtype) / .double() / .float(): converts every floating point parameter and
 * buffer in place (the same tensors, so an optimizer made before keeps them); integer
 * buffers stay. `dtype` must be DFM_FLOAT32 or DFM_FLOAT64 (dfm 0.3.0). */
DFM_API dfm_status dfm_module_to(dfm_module m, dfm_dtype dtype);
/* The submodule at a dotted path ("layer1.0.conv1"): a NEW REFERENCE; DFM_NOT_FOUND. */
DFM_API dfm_status dfm_module_get_submodule(dfm_module m, const char *path, dfm_module *out);
/* The names of the immediate children, in registration order: a NEW string list. */
DFM_API dfm_status dfm_module_children(dfm_module m, dfm_string_list *out);
/* named_parameters() / named_buffers(): a NEW dict whose tensors ARE the module's (not
 * copies): writing their data or handing them to an optimizer affects the module. */
DFM_API dfm_status dfm_module_named_parameters(dfm_module m, dfm_tensor_dict *out);
DFM_API dfm_status dfm_module_named_buffers(dfm_module m, dfm_tensor_dict *out);
/* state_dict(): a NEW dict of detached tensors sharing the module's memory. */
DFM_API dfm_status dfm_module_state_dict(dfm_module m, dfm_tensor_dict *out);
/* load_state_dict(state, strict): copies values in; nothing changes on failure. Missing
 * and unexpected keys come back as NEW string lists (pass NULL to skip either); with
 * strict, any such key is an error (DFM_STATE_ERROR); a shape mismatch always is. */
DFM_API dfm_status dfm_module_load_state_dict(dfm_module m, dfm_tensor_dict state, bool strict,
                                              dfm_string_list *missing_keys, dfm_string_list *unexpected_keys);
/* state_dict() to / from a safetensors file (format "pt" metadata, like PyTorch). */
DFM_API dfm_status dfm_module_save(dfm_module m, const char *path);
DFM_API dfm_status dfm_module_load(dfm_module m, const char *path, bool strict, dfm_string_list *missing_keys,
                                   dfm_string_list *unexpected_keys);
/* torch's repr, NUL-terminated into buf[0..capacity) (truncated if needed); *length
 * (may be NULL) gets the full length without the NUL. buf may be NULL if capacity is 0. */
DFM_API dfm_status dfm_module_repr(dfm_module m, char *buf, size_t capacity, size_t *length);
/* The class name ("Conv2d", "DFMResNet", ...), copied like dfm_module_repr. */
DFM_API dfm_status dfm_module_type_name(dfm_module m, char *buf, size_t capacity, size_t *length);

/* ======================================================================== */
/* Optimizers (torch.optim) over a list of float32 leaf tensors              */
/* Constructors return a NEW REFERENCE: release with dfm_optimizer_release.  */
/* The optimizer keeps its own references to the parameters.                 */
/* ======================================================================== */

DFM_API dfm_status dfm_optimizer_sgd(const dfm_tensor *params, int64_t n, double lr, double momentum, double dampening,
                                     double weight_decay, bool nesterov, bool maximize, dfm_optimizer *out);
/* Adam (weight decay added to the gradient); torch defaults: lr 1e-3, betas (0.9,
 * 0.999), eps 1e-8, weight_decay 0. */
DFM_API dfm_status dfm_optimizer_adam(const dfm_tensor *params, int64_t n, double lr, double beta1, double beta2,
                                      double eps, double weight_decay, bool amsgrad, bool maximize, dfm_optimizer *out);
/* RMSprop; torch defaults: lr 1e-2, alpha 0.99, eps 1e-8, weight_decay 0, momentum 0. */
DFM_API dfm_status dfm_optimizer_rmsprop(const dfm_tensor *params, int64_t n, double lr, double alpha, double eps,
                                         double weight_decay, double momentum, bool centered, bool maximize,
                                         dfm_optimizer *out);
/* AdamW (decoupled weight decay; torch default weight_decay 1e-2). */
DFM_API dfm_status dfm_optimizer_adamw(const dfm_tensor *params, int64_t n, double lr, double beta1, double beta2,
                                       double eps, double weight_decay, bool amsgrad, bool maximize,
                                       dfm_optimizer *out);
/* NULL is a no-op. */
DFM_API dfm_status dfm_optimizer_release(dfm_optimizer o);
/* One update of every parameter that has a gradient (outside autograd). */
DFM_API dfm_status dfm_optimizer_step(dfm_optimizer o);
/* zero_grad(set_to_none=True). */
DFM_API dfm_status dfm_optimizer_zero_grad(dfm_optimizer o);
/* Learning rate of the first parameter group / set it on every group. */
DFM_API dfm_status dfm_optimizer_get_lr(dfm_optimizer o, double *out);
DFM_API dfm_status dfm_optimizer_set_lr(dfm_optimizer o, double lr);
/* state_dict() to / from a safetensors file (per-parameter state tensors plus the
 * hyper-parameters as metadata). Loading checks the optimizer type and parameter
 * shapes first and changes nothing on failure. */
DFM_API dfm_status dfm_optimizer_save(dfm_optimizer o, const char *path);
DFM_API dfm_status dfm_optimizer_load(dfm_optimizer o, const char *path);

/* ======================================================================== */
/* Learning-rate schedulers (torch.optim.lr_scheduler)                       */
/* Constructors set the optimizer's lr for epoch 0 and return a NEW          */
/* REFERENCE (release with dfm_scheduler_release); they keep the optimizer   */
/* alive.                                                                    */
/* ======================================================================== */

DFM_API dfm_status dfm_scheduler_step_lr(dfm_optimizer o, int64_t step_size, double gamma, dfm_scheduler *out);
DFM_API dfm_status dfm_scheduler_cosine_annealing_lr(dfm_optimizer o, int64_t t_max, double eta_min,
                                                     dfm_scheduler *out);
/* lr × gamma at each of the n `milestones` (epochs >= 0; borrowed for the call). */
DFM_API dfm_status dfm_scheduler_multi_step_lr(dfm_optimizer o, const int64_t *milestones, int64_t n, double gamma,
                                               dfm_scheduler *out);
/* lr × gamma every epoch. */
DFM_API dfm_status dfm_scheduler_exponential_lr(dfm_optimizer o, double gamma, dfm_scheduler *out);
/* OneCycleLR, stepped once per batch (torch defaults: pct_start 0.3, cos annealing,
 * cycle_momentum with base 0.85 / max 0.95, div_factor 25, final_div_factor 1e4, two
 * phases). With cycle_momentum it also sets the optimizer's momentum (SGD, RMSprop) or
 * beta1 (Adam, AdamW). Stepping past total_steps is DFM_STATE_ERROR. */
DFM_API dfm_status dfm_scheduler_one_cycle_lr(dfm_optimizer o, double max_lr, int64_t total_steps, double pct_start,
                                              bool anneal_linear, bool cycle_momentum, double base_momentum,
                                              double max_momentum, double div_factor, double final_div_factor,
                                              bool three_phase, dfm_scheduler *out);
/* ReduceLROnPlateau (torch defaults: min mode, factor 0.1, patience 10, threshold 1e-4
 * relative, cooldown 0, min_lr 0, eps 1e-8). Advance it with dfm_scheduler_step_metric;
 * dfm_scheduler_step on it is DFM_STATE_ERROR. */
DFM_API dfm_status dfm_scheduler_reduce_on_plateau(dfm_optimizer o, bool mode_max, double factor, int64_t patience,
                                                   double threshold, bool threshold_relative, int64_t cooldown,
                                                   double min_lr, double eps, dfm_scheduler *out);
/* One epoch of a ReduceLROnPlateau scheduler with the epoch's metric (NaN never improves).
 * Other schedulers: DFM_TYPE_ERROR. */
DFM_API dfm_status dfm_scheduler_step_metric(dfm_scheduler s, double metric);
/* NULL is a no-op. */
DFM_API dfm_status dfm_scheduler_release(dfm_scheduler s);
/* Advances one epoch and sets the optimizer's learning rate. */
DFM_API dfm_status dfm_scheduler_step(dfm_scheduler s);
/* get_last_lr()[0]. */
DFM_API dfm_status dfm_scheduler_get_last_lr(dfm_scheduler s, double *out);
/* state_dict() to / from a safetensors file (as metadata). */
DFM_API dfm_status dfm_scheduler_save(dfm_scheduler s, const char *path);
DFM_API dfm_status dfm_scheduler_load(dfm_scheduler s, const char *path);

/* ======================================================================== */
/* Datasets: MNIST / Fashion-MNIST IDX files (gzip or raw), segmentation     */
/* scenes made from them                                                     */
/* ======================================================================== */

/* An images file (idx3-ubyte) and its labels file (idx1-ubyte). NEW REFERENCE: release
 * with dfm_dataset_release. Missing file: DFM_NOT_FOUND; truncated, corrupt or
 * mismatched files: DFM_IO_ERROR. */
DFM_API dfm_status dfm_dataset_idx_open(const char *images_path, const char *labels_path, dfm_dataset *out);
/* The train (or t10k test) split of a folder in the MNIST layout, e.g.
 * "/usr/share/datasets/fashion-mnist". */
DFM_API dfm_status dfm_dataset_idx_open_root(const char *root, bool train, dfm_dataset *out);
/* NULL is a no-op. */
DFM_API dfm_status dfm_dataset_release(dfm_dataset d);
DFM_API dfm_status dfm_dataset_len(dfm_dataset d, int64_t *out);
/* Image height and width. */
DFM_API dfm_status dfm_dataset_image_size(dfm_dataset d, int64_t *height, int64_t *width);
/* Segmentation scenes built from an IDX dataset (Fashion-MNIST): `count` square
 * canvases of side `canvas`, each with min_objects..max_objects garments pasted at
 * random places; a garment pixel brighter than `threshold` gets label class + 1, the
 * rest is background 0 (source_classes + 1 labels). Scene i depends only on (seed, i).
 * Defaults upstream: canvas 64, objects 2..4, threshold 0.2, source_classes 10. Keeps
 * `source` alive. NEW REFERENCE. */
DFM_API dfm_status dfm_dataset_segmentation_scenes(dfm_dataset source, int64_t count, uint64_t seed, int64_t canvas,
                                                   int64_t min_objects, int64_t max_objects, double threshold,
                                                   int64_t source_classes, dfm_dataset *out);
/* The items at `indices` (n of them, each in 0..len-1): images (n, 1, H, W) float32 in
 * [0, 1] (like torchvision's ToTensor) and int64 labels: (n) for IDX datasets, (n, H, W)
 * for segmentation scenes. Two NEW REFERENCES. */
DFM_API dfm_status dfm_dataset_batch(dfm_dataset d, const int64_t *indices, int64_t n, dfm_tensor *images,
                                     dfm_tensor *labels);
/* Items start..start+count-1 of an epoch's order: 0..len-1, or with `shuffle` a random
 * permutation determined by `seed` alone (same seed, same order), so an epoch is
 * start = 0, B, 2B, ... A short last batch is returned as is. Two NEW REFERENCES. */
DFM_API dfm_status dfm_dataset_batch_range(dfm_dataset d, int64_t start, int64_t count, bool shuffle, uint64_t seed,
                                           dfm_tensor *images, dfm_tensor *labels);

/* ======================================================================== */
/* More optimizers (torch.optim names, arguments and defaults)               */
/* Constructors return a NEW REFERENCE (release with dfm_optimizer_release)  */
/* and work with every dfm_optimizer_* function above.                       */
/* ======================================================================== */

/* Adadelta; torch defaults: lr 1.0, rho 0.9, eps 1e-6, weight_decay 0. */
DFM_API dfm_status dfm_optimizer_adadelta(const dfm_tensor *params, int64_t n, double lr, double rho, double eps,
                                          double weight_decay, bool maximize, dfm_optimizer *out);
/* Adagrad; torch defaults: lr 1e-2, lr_decay 0, weight_decay 0, initial_accumulator_value 0, eps 1e-10. */
DFM_API dfm_status dfm_optimizer_adagrad(const dfm_tensor *params, int64_t n, double lr, double lr_decay,
                                         double weight_decay, double initial_accumulator_value, double eps,
                                         bool maximize, dfm_optimizer *out);
/* Adamax; torch defaults: lr 2e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0. */
DFM_API dfm_status dfm_optimizer_adamax(const dfm_tensor *params, int64_t n, double lr, double beta1, double beta2,
                                        double eps, double weight_decay, bool maximize, dfm_optimizer *out);
/* NAdam; torch defaults: lr 2e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0, momentum_decay 4e-3. */
DFM_API dfm_status dfm_optimizer_nadam(const dfm_tensor *params, int64_t n, double lr, double beta1, double beta2,
                                       double eps, double weight_decay, double momentum_decay,
                                       bool decoupled_weight_decay, bool maximize, dfm_optimizer *out);
/* RAdam; torch defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0. */
DFM_API dfm_status dfm_optimizer_radam(const dfm_tensor *params, int64_t n, double lr, double beta1, double beta2,
                                       double eps, double weight_decay, bool decoupled_weight_decay, bool maximize,
                                       dfm_optimizer *out);
/* ASGD; torch defaults: lr 1e-2, lambd 1e-4, alpha 0.75, t0 1e6, weight_decay 0. */
DFM_API dfm_status dfm_optimizer_asgd(const dfm_tensor *params, int64_t n, double lr, double lambd, double alpha,
                                      double t0, double weight_decay, bool maximize, dfm_optimizer *out);

/* ======================================================================== */
/* More losses (torch.nn.functional names, arguments and defaults)           */
/* Each returns a NEW REFERENCE in *out. reduction is "mean", "sum" or       */
/* "none" (dfm_kl_div also takes "batchmean"); with "none" the loss keeps    */
/* the elementwise shape (per-sample losses for the row-wise ones). Inputs   */
/* are float32 or float64, all of one dtype. Optional weights may be NULL.   */
/* ======================================================================== */

/* |input - target| (input and target broadcast). */
DFM_API dfm_status dfm_l1_loss(dfm_tensor input, dfm_tensor target, const char *reduction, dfm_tensor *out);
/* torch default beta 1.0 (beta 0 is the L1 loss). */
DFM_API dfm_status dfm_smooth_l1_loss(dfm_tensor input, dfm_tensor target, const char *reduction, double beta,
                                      dfm_tensor *out);
/* torch default delta 1.0 (> 0). */
DFM_API dfm_status dfm_huber_loss(dfm_tensor input, dfm_tensor target, const char *reduction, double delta,
                                  dfm_tensor *out);
/* log(1 + exp(-target * input)), target ±1. */
DFM_API dfm_status dfm_soft_margin_loss(dfm_tensor input, dfm_tensor target, const char *reduction, dfm_tensor *out);
/* input holds probabilities in [0, 1] (else DFM_INVALID_ARGUMENT); weight broadcasts to it. */
DFM_API dfm_status dfm_binary_cross_entropy(dfm_tensor input, dfm_tensor target, dfm_tensor weight,
                                            const char *reduction, dfm_tensor *out);
/* input holds log-probabilities; target probabilities (log-probabilities with log_target). */
DFM_API dfm_status dfm_kl_div(dfm_tensor input, dfm_tensor target, const char *reduction, bool log_target,
                              dfm_tensor *out);
/* torch defaults: log_input true, full false, eps 1e-8. */
DFM_API dfm_status dfm_poisson_nll_loss(dfm_tensor input, dfm_tensor target, bool log_input, bool full, double eps,
                                        const char *reduction, dfm_tensor *out);
/* var: the input's shape, one dimension short, or 1 in one dimension; entries >= 0
 * (clamped to eps). torch defaults: full false, eps 1e-6. */
DFM_API dfm_status dfm_gaussian_nll_loss(dfm_tensor input, dfm_tensor target, dfm_tensor var, bool full, double eps,
                                         const char *reduction, dfm_tensor *out);
/* target ±1 (float); torch default margin 1.0. */
DFM_API dfm_status dfm_hinge_embedding_loss(dfm_tensor input, dfm_tensor target, double margin, const char *reduction,
                                            dfm_tensor *out);
/* input and target (N, C) or (C), target 0/1; weight (C). Per-sample losses average over C. */
DFM_API dfm_status dfm_multilabel_soft_margin_loss(dfm_tensor input, dfm_tensor target, dfm_tensor weight,
                                                   const char *reduction, dfm_tensor *out);
/* input (N, C) or (C); target int64 of the same shape: class indices ended by -1. */
DFM_API dfm_status dfm_multilabel_margin_loss(dfm_tensor input, dfm_tensor target, const char *reduction,
                                              dfm_tensor *out);
/* input (N, C) or (C); target int64 (N) or (); p 1 or 2 (torch default 1), margin 1.0; weight (C). */
DFM_API dfm_status dfm_multi_margin_loss(dfm_tensor input, dfm_tensor target, int64_t p, double margin,
                                         dfm_tensor weight, const char *reduction, dfm_tensor *out);
/* input1, input2 (N, D) or (D); target ±1, (N) or (), float or int64; torch default margin 0. */
DFM_API dfm_status dfm_cosine_embedding_loss(dfm_tensor input1, dfm_tensor input2, dfm_tensor target, double margin,
                                             const char *reduction, dfm_tensor *out);
/* max(0, -target * (input1 - input2) + margin), broadcast; torch default margin 0. */
DFM_API dfm_status dfm_margin_ranking_loss(dfm_tensor input1, dfm_tensor input2, dfm_tensor target, double margin,
                                           const char *reduction, dfm_tensor *out);
/* anchor, positive, negative (N, D) or (D); torch defaults: margin 1.0 (> 0), p 2, eps 1e-6, swap false. */
DFM_API dfm_status dfm_triplet_margin_loss(dfm_tensor anchor, dfm_tensor positive, dfm_tensor negative, double margin,
                                           double p, double eps, bool swap, const char *reduction, dfm_tensor *out);
/* F.ctc_loss: log_probs (T, N, C) or (T, C) (log-softmax outputs); targets int64 (N, S)
 * padded or 1-D concatenated; input_lengths and target_lengths: n (= N) entries each
 * (borrowed). torch defaults: blank 0, zero_infinity false; "mean" divides each loss by
 * its target length, then averages. */
DFM_API dfm_status dfm_ctc_loss(dfm_tensor log_probs, dfm_tensor targets, const int64_t *input_lengths,
                                const int64_t *target_lengths, int64_t n, int64_t blank, const char *reduction,
                                bool zero_infinity, dfm_tensor *out);

/* ======================================================================== */
/* More learning-rate schedulers (torch.optim.lr_scheduler names, arguments  */
/* and defaults). Constructors return a NEW REFERENCE (release with          */
/* dfm_scheduler_release), take the initial step like torch, and work with   */
/* dfm_scheduler_step / get_last_lr / save / load above.                     */
/* ======================================================================== */

/* An lr multiplier for `epoch`: writes it to *out and returns DFM_OK, or returns any
 * other status to fail the step (dfm_scheduler_step then returns DFM_INVALID_ARGUMENT
 * and leaves the lr as it was). Called on the thread that steps the scheduler. */
typedef dfm_status (*dfm_lr_lambda_fn)(int64_t epoch, void *user_data, double *out);
/* LambdaLR: lr = initial_lr * fn(epoch); with `multiplicative` MultiplicativeLR:
 * lr = lr * fn(epoch) from epoch 1 on. user_data is passed to fn and must stay valid
 * while the scheduler lives. */
DFM_API dfm_status dfm_scheduler_lambda_lr(dfm_optimizer o, dfm_lr_lambda_fn fn, void *user_data, bool multiplicative,
                                           dfm_scheduler *out);
/* ConstantLR; torch defaults: factor 1/3 (in [0, 1]), total_iters 5. */
DFM_API dfm_status dfm_scheduler_constant_lr(dfm_optimizer o, double factor, int64_t total_iters, dfm_scheduler *out);
/* LinearLR; torch defaults: start_factor 1/3 (in (0, 1]), end_factor 1 (in [0, 1]), total_iters 5. */
DFM_API dfm_status dfm_scheduler_linear_lr(dfm_optimizer o, double start_factor, double end_factor, int64_t total_iters,
                                           dfm_scheduler *out);
/* PolynomialLR; torch defaults: total_iters 5, power 1. */
DFM_API dfm_status dfm_scheduler_polynomial_lr(dfm_optimizer o, int64_t total_iters, double power, dfm_scheduler *out);
/* CosineAnnealingWarmRestarts; torch defaults: t_mult 1, eta_min 0 (t_0 >= 1, t_mult >= 1). */
DFM_API dfm_status dfm_scheduler_cosine_warm_restarts(dfm_optimizer o, int64_t t_0, int64_t t_mult, double eta_min,
                                                      dfm_scheduler *out);
/* scheduler.step(epoch) of a CosineAnnealingWarmRestarts scheduler: jumps to a (possibly
 * fractional, e.g. epoch + batch / batches) epoch >= 0. Other schedulers: DFM_TYPE_ERROR. */
DFM_API dfm_status dfm_scheduler_step_epoch(dfm_scheduler s, double epoch);
/* CyclicLR, stepped per batch; mode "triangular", "triangular2" or "exp_range";
 * step_size_down < 0 means step_size_up. torch defaults: step_size_up 2000, gamma 1,
 * cycle_momentum true (SGD/RMSprop momentum or Adam-family beta1; others:
 * DFM_INVALID_ARGUMENT), base_momentum 0.8, max_momentum 0.9. */
DFM_API dfm_status dfm_scheduler_cyclic_lr(dfm_optimizer o, double base_lr, double max_lr, int64_t step_size_up,
                                           int64_t step_size_down, const char *mode, double gamma, bool cycle_momentum,
                                           double base_momentum, double max_momentum, dfm_scheduler *out);
/* SequentialLR over n already constructed schedulers of optimizer o (borrowed array;
 * the new scheduler keeps references) and n - 1 milestones. */
DFM_API dfm_status dfm_scheduler_sequential_lr(dfm_optimizer o, const dfm_scheduler *schedulers, int64_t n,
                                               const int64_t *milestones, int64_t n_milestones, dfm_scheduler *out);
/* ChainedScheduler: each step steps the n schedulers in order (one optimizer). */
DFM_API dfm_status dfm_scheduler_chained(const dfm_scheduler *schedulers, int64_t n, dfm_scheduler *out);

/* ======================================================================== */
/* LBFGS and closures (torch.optim.LBFGS, optimizer.step(closure))           */
/* ======================================================================== */

/* Re-evaluates the model: zero the gradients, forward, backward, write the loss to *loss
 * and return DFM_OK (any other status aborts the step with DFM_INVALID_ARGUMENT). */
typedef dfm_status (*dfm_closure_fn)(void *user_data, double *loss);
/* LBFGS over one parameter group (one dtype). torch defaults: lr 1, max_iter 20,
 * max_eval max_iter * 5 / 4 (pass 0 for it), tolerance_grad 1e-7, tolerance_change 1e-9,
 * history_size 100, no line search (strong_wolfe: torch's line_search_fn="strong_wolfe").
 * dfm_optimizer_step on it is DFM_STATE_ERROR: step it with dfm_optimizer_step_closure.
 * NEW REFERENCE: release with dfm_optimizer_release. */
DFM_API dfm_status dfm_optimizer_lbfgs(const dfm_tensor *params, int64_t n, double lr, int64_t max_iter,
                                       int64_t max_eval, double tolerance_grad, double tolerance_change,
                                       int64_t history_size, bool strong_wolfe, dfm_optimizer *out);
/* optimizer.step(closure): LBFGS calls fn as often as it needs; other optimizers call it
 * once, then step. *loss gets the first evaluation's loss. fn runs on the calling thread. */
DFM_API dfm_status dfm_optimizer_step_closure(dfm_optimizer o, dfm_closure_fn fn, void *user_data, double *loss);

/* ======================================================================== */
/* Recurrent networks (torch.nn.RNN / LSTM / GRU and their cells)            */
/* `mode` is "RNN_TANH", "RNN_RELU", "LSTM" or "GRU" (torch's names). Gates  */
/* in torch's order (LSTM i, f, g, o; GRU r, z, n) and torch's formulas.     */
/* ======================================================================== */

/* torch's _VF.rnn_tanh / rnn_relu / lstm / gru: num_layers layers, each one or two
 * (bidirectional) directions, dropout on the outputs of every layer but the last when
 * `train`. `params` (n_params handles, borrowed for the call) are torch's flat weights: per
 * layer, per direction, w_ih (G*H, in), w_hh (G*H, H) and with has_biases b_ih, b_hh (G*H).
 * `input` is (T, B, in), (B, T, in) with batch_first, or unbatched (T, in). `hx` (and `cx`
 * for LSTM; NULL otherwise) is (num_layers*dirs, B, H) ((num_layers*dirs, H) unbatched),
 * zeros when NULL. Results as torch returns them: output (T, B, dirs*H) (batch first when
 * batch_first), h_n, and for LSTM c_n (`c_n` must then be non-NULL; other modes set *c_n to
 * NULL when given). Differentiable. Three NEW REFERENCES (two outside LSTM). */
DFM_API dfm_status dfm_rnn(const char *mode, dfm_tensor input, dfm_tensor hx, dfm_tensor cx, const dfm_tensor *params,
                           int64_t n_params, bool has_biases, int64_t num_layers, double dropout, bool train,
                           bool bidirectional, bool batch_first, dfm_tensor *output, dfm_tensor *h_n, dfm_tensor *c_n);
/* One step (torch's _VF.*_cell): input (B, in) or (in), hx (and cx for LSTM) (B, H) or (H),
 * zeros when NULL; b_ih, b_hh may be NULL. *h gets h' and, for LSTM, *c gets c' (`c` must
 * then be non-NULL). NEW REFERENCES. */
DFM_API dfm_status dfm_rnn_cell(const char *mode, dfm_tensor input, dfm_tensor hx, dfm_tensor cx, dfm_tensor w_ih,
                                dfm_tensor w_hh, dfm_tensor b_ih, dfm_tensor b_hh, dfm_tensor *h, dfm_tensor *c);
/* nn.RNN (mode RNN_TANH / RNN_RELU), nn.LSTM, nn.GRU: parameters weight_ih_l{k}, weight_hh_l{k},
 * bias_ih_l{k}, bias_hh_l{k} (+ "_reverse"), each ~ U(-1/sqrt(H), 1/sqrt(H)) from the global
 * generator. dfm_module_forward on it returns the output sequence only. NEW REFERENCE. */
DFM_API dfm_status dfm_module_rnn(const char *mode, int64_t input_size, int64_t hidden_size, int64_t num_layers,
                                  bool bias, bool batch_first, double dropout, bool bidirectional, dfm_module *out);
/* nn.RNNCell / LSTMCell / GRUCell: weight_ih, weight_hh, bias_ih, bias_hh. NEW REFERENCE. */
DFM_API dfm_status dfm_module_rnn_cell(const char *mode, int64_t input_size, int64_t hidden_size, bool bias,
                                       dfm_module *out);
/* forward(input, hx[, cx]) of a module from dfm_module_rnn (the module's dropout applies in
 * training mode). Outputs as dfm_rnn's. Another module: DFM_TYPE_ERROR. NEW REFERENCES. */
DFM_API dfm_status dfm_module_rnn_forward(dfm_module m, dfm_tensor input, dfm_tensor hx, dfm_tensor cx,
                                          dfm_tensor *output, dfm_tensor *h_n, dfm_tensor *c_n);
/* One step of a module from dfm_module_rnn_cell; outputs as dfm_rnn_cell's. NEW REFERENCES. */
DFM_API dfm_status dfm_module_rnn_cell_forward(dfm_module m, dfm_tensor input, dfm_tensor hx, dfm_tensor cx,
                                               dfm_tensor *h, dfm_tensor *c);

/* ======================================================================== */
/* Transformers: attention, encoder layers, trunc_normal_, DFM-ViT           */
/* ======================================================================== */

/* gelu(a, approximate="tanh"): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), with its own
 * derivative. NEW REFERENCE. */
DFM_API dfm_status dfm_gelu_tanh(dfm_tensor a, dfm_tensor *out);
/* torch.nn.functional.scaled_dot_product_attention: q (*, L, E), k (*, S, E), v (*, S, Ev)
 * with the same leading dims; returns (*, L, Ev). attn_mask (may be NULL) broadcasts to
 * (*, L, S): bool True = attend, float = added (gets a gradient if it requires one). A query
 * row with every key masked gives zeros. dropout_p applies whenever > 0 (pass 0 in eval).
 * has_scale false: scale 1/sqrt(E). One fused kernel: the attention matrix is computed once
 * per head and reused in backward. NEW REFERENCE. */
DFM_API dfm_status dfm_scaled_dot_product_attention(dfm_tensor q, dfm_tensor k, dfm_tensor v, dfm_tensor attn_mask,
                                                    float dropout_p, bool is_causal, bool has_scale, double scale,
                                                    dfm_tensor *out);
/* torch.nn.functional.multi_head_attention_forward with the packed in-projection (kdim = vdim
 * = embed_dim): query/key/value (L, N, E), (N, L, E) with batch_first, or unbatched (L, E).
 * in_proj_bias, out_proj_bias, key_padding_mask ((N, S)) and attn_mask ((L, S) or
 * (N·num_heads, L, S)) may be NULL; bool masks mean True = ignore, float masks are added.
 * is_causal is torch's hint and needs attn_mask. Dropout applies in training only. *out: NEW
 * REFERENCE; with need_weights, *weights: NEW REFERENCE to the attention weights (N, L, S)
 * averaged over heads (or (N, heads, L, S)), differentiable; else *weights is set to NULL
 * (weights may then be NULL). */
DFM_API dfm_status dfm_multi_head_attention_forward(dfm_tensor query, dfm_tensor key, dfm_tensor value,
                                                    int64_t num_heads, dfm_tensor in_proj_weight,
                                                    dfm_tensor in_proj_bias, dfm_tensor out_proj_weight,
                                                    dfm_tensor out_proj_bias, float dropout_p, bool training,
                                                    dfm_tensor key_padding_mask, bool need_weights,
                                                    dfm_tensor attn_mask, bool average_attn_weights, bool is_causal,
                                                    bool batch_first, dfm_tensor *out, dfm_tensor *weights);
/* torch.nn.init.trunc_normal_(t, mean, std, a, b): N(mean, std²) cut to [a, b] (absolute
 * bounds; torch's defaults mean 0, std 1, a -2, b 2). */
DFM_API dfm_status dfm_init_trunc_normal_(dfm_tensor t, float mean, float std, float a, float b);
/* torch.nn.MultiheadAttention(embed_dim, num_heads, dropout, bias, batch_first) (kdim = vdim =
 * embed_dim): parameters in_proj_weight, in_proj_bias, out_proj.{weight,bias}. dfm_module_forward
 * runs self-attention and returns the output only. */
DFM_API dfm_status dfm_module_multihead_attention(int64_t embed_dim, int64_t num_heads, float dropout, bool bias,
                                                  bool batch_first, dfm_module *out);
/* m(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights,
 * is_causal) for a MultiheadAttention module; outs as dfm_multi_head_attention_forward. */
DFM_API dfm_status dfm_module_multihead_attention_forward(dfm_module m, dfm_tensor query, dfm_tensor key,
                                                          dfm_tensor value, dfm_tensor key_padding_mask,
                                                          bool need_weights, dfm_tensor attn_mask,
                                                          bool average_attn_weights, bool is_causal, dfm_tensor *out,
                                                          dfm_tensor *weights);
/* torch.nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation
 * "relu" | "gelu", layer_norm_eps, batch_first, norm_first, bias); torch's defaults 2048, 0.1,
 * "relu", 1e-5, false, false, true. Children self_attn, linear1, dropout, linear2, norm1, norm2,
 * dropout1, dropout2. */
DFM_API dfm_status dfm_module_transformer_encoder_layer(int64_t d_model, int64_t nhead, int64_t dim_feedforward,
                                                        float dropout, const char *activation, float layer_norm_eps,
                                                        bool batch_first, bool norm_first, bool bias, dfm_module *out);
/* torch.nn.TransformerEncoder(encoder_layer, num_layers, norm): num_layers copies of the layer
 * (same initial weights, as torch's deepcopy) under layers.{i}; norm (a LayerNorm) may be NULL.
 * The layer is copied, not kept. */
DFM_API dfm_status dfm_module_transformer_encoder(dfm_module encoder_layer, int64_t num_layers, dfm_module norm,
                                                  dfm_module *out);
/* forward(src, mask, src_key_padding_mask, is_causal) of a TransformerEncoderLayer or
 * TransformerEncoder; the masks may be NULL. NEW REFERENCE. */
DFM_API dfm_status dfm_module_transformer_forward(dfm_module m, dfm_tensor src, dfm_tensor mask,
                                                  dfm_tensor src_key_padding_mask, bool is_causal, dfm_tensor *out);
/* DFM Vision Transformer (docs/MODELS.md §7), a DFM model (dfm_module_forward_dfm, dfm_module_steps,
 * checkpoint steps). Defaults: image_size (28, 28), patch_size 4, in_channels 1, dim 128,
 * depth 6, heads 4, mlp_dim 256, fb_filters 0, n_classes 10, tau 1, dropout 0,
 * state_init_std 1e-3. image_size must be a multiple of patch_size (else
 * DFM_INVALID_ARGUMENT). Input (B, in_channels, H, W) or unbatched. */
DFM_API dfm_status dfm_module_dfm_vit(const int64_t *image_size, int64_t patch_size, int64_t in_channels, int64_t dim,
                                      int64_t depth, int64_t heads, int64_t mlp_dim, int64_t fb_filters,
                                      int64_t n_classes, float tau, float dropout, float state_init_std,
                                      dfm_module *out);

/* ======================================================================== */
/* Optimizer and scheduler state dicts in memory (dfm 0.3.0)                 */
/* The same content as dfm_optimizer_save / dfm_scheduler_save write, as a   */
/* dfm_tensor_dict: tensors "state.<i>.<name>" (i counts parameters across   */
/* groups, as torch) and the hyper-parameters, group settings and counters   */
/* as metadata strings. A scheduler's dict holds metadata only.              */
/* ======================================================================== */

/* state_dict(): NEW REFERENCE to a new dict holding copies of the state tensors
 * (keys sorted). */
DFM_API dfm_status dfm_optimizer_state_dict(dfm_optimizer o, dfm_tensor_dict *out);
/* load_state_dict(state): the dict must come from the same optimizer type with groups of
 * the same sizes and state tensors of the parameters' shapes and dtypes; the tensors are
 * copied (`state` stays the caller's). Checked first: on failure nothing changes. */
DFM_API dfm_status dfm_optimizer_load_state_dict(dfm_optimizer o, dfm_tensor_dict state);
/* state_dict() of a scheduler: NEW REFERENCE to a dict with metadata only. */
DFM_API dfm_status dfm_scheduler_state_dict(dfm_scheduler s, dfm_tensor_dict *out);
/* load_state_dict(state): restores the scheduler's counters and settings (not the optimizer's
 * lr, which comes from the optimizer's own state dict). A dict holding tensors, from another
 * scheduler type, or with counters outside -1...2^40 is refused and nothing changes. */
DFM_API dfm_status dfm_scheduler_load_state_dict(dfm_scheduler s, dfm_tensor_dict state);

/* ======================================================================== */
/* torch functions and layers (issue #13): flip, roll, triu, tril, diag, prod,   */
/* einsum, F.pad modes, pixel shuffle, conv1d, alpha dropout. Each returns a     */
/* NEW REFERENCE in *out and is recorded for autograd (float inputs).            */
/* ======================================================================== */

/* torch.flip(x, dims): reverses the order along each of the `ndims` dims (distinct). */
DFM_API dfm_status dfm_flip(dfm_tensor x, const int64_t *dims, int64_t ndims, dfm_tensor *out);
/* torch.roll(x, shifts, dims): nshifts == ndims; with ndims 0, exactly one shift and the
 * tensor rolls as if flattened. */
DFM_API dfm_status dfm_roll(dfm_tensor x, const int64_t *shifts, int64_t nshifts, const int64_t *dims, int64_t ndims,
                            dfm_tensor *out);
/* torch.triu / torch.tril(x, diagonal) over the last two dims (x at least 2-D, any dtype). */
DFM_API dfm_status dfm_triu(dfm_tensor x, int64_t diagonal, dfm_tensor *out);
DFM_API dfm_status dfm_tril(dfm_tensor x, int64_t diagonal, dfm_tensor *out);
/* torch.diag(x, diagonal): 1-D x gives the square matrix with x on that diagonal, 2-D x
 * gives that diagonal as a vector. */
DFM_API dfm_status dfm_diag(dfm_tensor x, int64_t diagonal, dfm_tensor *out);
/* torch.prod(x) (0-dim) and torch.prod(x, dim, keepdim). int64/bool/uint8 give int64. */
DFM_API dfm_status dfm_prod(dfm_tensor x, dfm_tensor *out);
DFM_API dfm_status dfm_prod_dim(dfm_tensor x, int64_t dim, bool keepdim, dfm_tensor *out);
/* torch.einsum(equation, operands): letters a-z A-Z, "...", optional "->"; a label
 * repeated in one operand takes its diagonal; size-1 dims broadcast. Float operands of
 * one dtype; n in 1..65536. */
DFM_API dfm_status dfm_einsum(const char *equation, const dfm_tensor *operands, int64_t n, dfm_tensor *out);
/* F.pad(x, pad, mode, value): pad holds npad (even) values, (before, after) pairs from the
 * last dim backwards. mode "constant" (value; negative pads crop), "reflect", "replicate"
 * or "circular" (these pad 1-3 trailing dims of a (N, C, *) or (C, *) input). Float x. */
DFM_API dfm_status dfm_pad(dfm_tensor x, const int64_t *pad, int64_t npad, const char *mode, double value,
                           dfm_tensor *out);
/* F.pixel_shuffle (*, C*r*r, H, W) -> (*, C, H*r, W*r) and F.pixel_unshuffle (inverse). */
DFM_API dfm_status dfm_pixel_shuffle(dfm_tensor x, int64_t upscale_factor, dfm_tensor *out);
DFM_API dfm_status dfm_pixel_unshuffle(dfm_tensor x, int64_t downscale_factor, dfm_tensor *out);
/* F.conv1d: x (N, C, L) or (C, L), weight (Cout, C/groups, K), bias (Cout) or NULL. */
DFM_API dfm_status dfm_conv1d(dfm_tensor x, dfm_tensor weight, dfm_tensor bias, int64_t stride, int64_t padding,
                              int64_t dilation, int64_t groups, dfm_tensor *out);
/* F.conv1d with padding "same" or "valid". */
DFM_API dfm_status dfm_conv1d_padding_mode(dfm_tensor x, dfm_tensor weight, dfm_tensor bias, int64_t stride,
                                           const char *padding, int64_t dilation, int64_t groups, dfm_tensor *out);
/* F.alpha_dropout(x, p, training): SELU-preserving dropout (mask from the global generator). */
DFM_API dfm_status dfm_alpha_dropout(dfm_tensor x, double p, bool training, dfm_tensor *out);
/* torch's grad_fn: the class name torch gives the op that produced `t` ("AddmmBackward0",
 * "ConvolutionBackward0", ...), or NULL in *out for a leaf. Borrowed: static storage. */
DFM_API dfm_status dfm_tensor_grad_fn_name(dfm_tensor t, const char **out);
/* next_functions: the number of inputs of the op that produced `t` (0 for a leaf, or after
 * backward freed the graph), and input `index` (NEW REFERENCE; DFM_INDEX_ERROR outside
 * 0..count-1). An input with requires_grad false has no gradient path. */
DFM_API dfm_status dfm_tensor_grad_fn_input_count(dfm_tensor t, int64_t *out);
DFM_API dfm_status dfm_tensor_grad_fn_input(dfm_tensor t, int64_t index, dfm_tensor *out);
/* torch.initial_seed(): the default generator's seed, drawn from the OS once per process
 * unless dfm_manual_seed set it. torch.seed(): reseeds it from the OS and returns the seed. */
DFM_API dfm_status dfm_initial_seed(uint64_t *out);
DFM_API dfm_status dfm_seed(uint64_t *out);

/* --- per-step BatchNorm statistics of a DFM backbone (issue 19; dfm's option, off by default) ---
 * Turns on `sets` (1...1000) sets of running statistics in every BatchNorm that runs once per
 * feedback step (DFM-ResNet layer1..4; DFM-DeepLabV3+ encoder and decoder): step t trains with
 * set min(t, sets-1) and evaluates with set min(t, last trained set), so eval with more steps
 * than training used keeps the last trained step's statistics. The shared running_mean/var are
 * still kept. Adds the state_dict keys *.running_mean_per_step, *.running_var_per_step (sets, C)
 * and *.num_batches_tracked_per_step (sets); dfm_module_save writes metadata dfm_bn_per_step; a
 * state_dict of the other mode fails to load strictly with a message naming bn_per_step.
 * Once per model (the same `sets` again is a no-op); DFM_TYPE_ERROR for a model without
 * BatchNorm (ViT) or a module that is not a DFM model. */
DFM_API dfm_status dfm_module_set_bn_per_step(dfm_module m, int64_t sets);
/* The number of per-step sets (0: shared statistics, the published model). */
DFM_API dfm_status dfm_module_bn_per_step(dfm_module m, int64_t *out);

/* ======================================================================== */
/* Distributed data parallel over MPI (README "Data-parallel training")      */
/* ======================================================================== */

/* torch.distributed with backend "mpi": one process group (the world of an mpirun / srun
 * job). libdfm loads Open MPI (libmpi.so.40, or $DFM_MPI_LIBRARY) at run time, the first
 * time a group is created: without MPI everything else works and dfm_dist_init fails with
 * DFM_STATE_ERROR. Collectives work in place and must be called by every rank in the same
 * order with tensors of the same shape and dtype (as torch). A failed MPI call returns
 * DFM_STATE_ERROR with MPI's message. */
typedef enum dfm_reduce_op {
    DFM_REDUCE_SUM = 0,
    DFM_REDUCE_PRODUCT = 1,
    DFM_REDUCE_MIN = 2,
    DFM_REDUCE_MAX = 3,
    DFM_REDUCE_AVG = 4 /* sum / world size, float tensors only */
} dfm_reduce_op;
/* torch.distributed.is_available / is_mpi_available: Open MPI can be loaded. */
DFM_API bool dfm_dist_is_available(void);
/* torch.distributed.init_process_group(backend): backend must be "mpi" (NULL means "mpi").
 * Rank and size come from the launcher; without one the group has size 1. Twice, or after
 * dfm_dist_destroy (MPI cannot be initialised again), is DFM_STATE_ERROR. */
DFM_API dfm_status dfm_dist_init(const char *backend);
DFM_API bool dfm_dist_is_initialized(void);
/* torch.distributed.destroy_process_group(): finalises MPI (unless someone else initialised it). */
DFM_API dfm_status dfm_dist_destroy(void);
/* get_rank / get_world_size; DFM_STATE_ERROR without a group. */
DFM_API dfm_status dfm_dist_rank(int64_t *out);
DFM_API dfm_status dfm_dist_world_size(int64_t *out);
/* all_reduce(t, op) in place: float32, float64, int64, uint8 (not bool; AVG floats only). */
DFM_API dfm_status dfm_dist_all_reduce(dfm_tensor t, dfm_reduce_op op);
/* broadcast(t, src) in place: every rank ends with rank src's values (any dtype). */
DFM_API dfm_status dfm_dist_broadcast(dfm_tensor t, int64_t src);
DFM_API dfm_status dfm_dist_barrier(void);
/* all_gather: *out (NEW REFERENCE) has shape (world_size, *t.shape); row r is rank r's t. */
DFM_API dfm_status dfm_dist_all_gather(dfm_tensor t, dfm_tensor *out);
/* torch.nn.parallel.DistributedDataParallel(module, broadcast_buffers, bucket_cap_mb) (torch's
 * defaults true, 25): rank 0's parameters and buffers are broadcast now; each forward
 * (with grad enabled) broadcasts the buffers from rank 0 when broadcast_buffers; after each
 * backward every parameter's grad is the average over ranks, reduced in buckets that start
 * while backward is still running. *out: NEW REFERENCE to a module whose child "module" is
 * the wrapped one; dfm_module_forward runs it. */
DFM_API dfm_status dfm_dist_ddp(dfm_module module, double bucket_cap_mb, bool broadcast_buffers, dfm_module *out);
/* The same for a model defined outside dfm's modules (Python): its parameters and buffers as
 * tensor lists (n_buffers may be 0). Call dfm_dist_ddp_prepare_forward before each forward. */
DFM_API dfm_status dfm_dist_ddp_tensors(const dfm_tensor *params, int64_t n_params, const dfm_tensor *buffers,
                                        int64_t n_buffers, double bucket_cap_mb, bool broadcast_buffers,
                                        dfm_module *out);
/* What a DDP does before a forward: buffers from rank 0, arm the gradient reduction. */
DFM_API dfm_status dfm_dist_ddp_prepare_forward(dfm_module ddp);
/* ddp.module: NEW REFERENCE to the wrapped module. */
DFM_API dfm_status dfm_dist_ddp_module(dfm_module ddp, dfm_module *out);
/* Seconds this DDP has spent on communication outside backward's compute (bucket copies,
 * starting reductions, waiting for them), and the number of reduced backward passes. */
DFM_API dfm_status dfm_dist_ddp_stats(dfm_module ddp, double *comm_seconds, int64_t *reductions);
/* torch.utils.data.DistributedSampler: *out (NEW REFERENCE, int64) holds rank's indices for
 * epoch: ceil(n / num_replicas) of them (or floor with drop_last), padded by repeating the
 * first ones; with shuffle a permutation seeded by seed + epoch, the same on every rank. */
DFM_API dfm_status dfm_dist_sampler_indices(int64_t dataset_len, int64_t num_replicas, int64_t rank, bool shuffle,
                                            uint64_t seed, int64_t epoch, bool drop_last, dfm_tensor *out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DFM_H */
