import CKernels
import COpenBLAS
import Foundation

/// The floating-point element types: Float (float32) and Double (float64).
///
/// Float kernels are written once, generic over `Real`; release builds specialise each for
/// both types, so float64 costs no second copy of the source and float32 no speed. The
/// math functions are Foundation's (libm) for the type, and `gemm` is BLAS sgemm or dgemm.
protocol Real: BinaryFloatingPoint, Sendable where Self.RawSignificand: FixedWidthInteger {
    static var dtype: DType { get }
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func log1p(_ x: Self) -> Self
    static func expm1(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    /// exp and the standard normal CDF Φ for hot loops: branch-free float32 code that vectorises
    /// (Sources/CKernels/include/dfm_kernels.h, a few ulp), libm in float64.
    static func expv(_ x: Self) -> Self
    static func normalCDF(_ x: Self) -> Self
    /// y[i] = expv(x[i] - shift) for i < n (y may be x): softmax rows.
    static func expShift(_ x: UnsafePointer<Self>, _ y: UnsafeMutablePointer<Self>, _ n: Int, _ shift: Self)
    /// Softmax of `rows` rows of n in place (a row whose maximum is -inf becomes zeros), and its
    /// backward d = p·(d - Σ d·p): attention's rows.
    static func softmaxRows(_ x: UnsafeMutablePointer<Self>, rows: Int, n: Int)
    static func softmaxGradRows(_ d: UnsafeMutablePointer<Self>, _ p: UnsafePointer<Self>, rows: Int, n: Int)
    static func sin(_ x: Self) -> Self
    static func cos(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
    static func fmod(_ x: Self, _ y: Self) -> Self
    /// Row-major C = alpha·op(A)·op(B) + beta·C (BLAS ?gemm; see `gemm` below).
    static func blasGemm(
        transA: Bool, transB: Bool, m: Int32, n: Int32, k: Int32, alpha: Self,
        a: UnsafePointer<Self>, lda: Int32, b: UnsafePointer<Self>, ldb: Int32,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int32)
    /// LAPACK ?geqrf and ?orgqr (Fortran convention, column-major).
    static func geqrf(
        _ m: UnsafePointer<Int32>, _ n: UnsafePointer<Int32>, _ a: UnsafeMutablePointer<Self>,
        _ lda: UnsafePointer<Int32>, _ tau: UnsafeMutablePointer<Self>, _ work: UnsafeMutablePointer<Self>,
        _ lwork: UnsafePointer<Int32>, _ info: UnsafeMutablePointer<Int32>)
    static func orgqr(
        _ m: UnsafePointer<Int32>, _ n: UnsafePointer<Int32>, _ k: UnsafePointer<Int32>,
        _ a: UnsafeMutablePointer<Self>, _ lda: UnsafePointer<Int32>, _ tau: UnsafePointer<Self>,
        _ work: UnsafeMutablePointer<Self>, _ lwork: UnsafePointer<Int32>, _ info: UnsafeMutablePointer<Int32>)
    /// Row-major B := B·A⁻ᵀ for upper-triangular A (BLAS ?trsm, right side, transposed).
    static func trsmRightUpperTrans(
        m: Int32, n: Int32, a: UnsafePointer<Self>, lda: Int32,
        b: UnsafeMutablePointer<Self>, ldb: Int32)
}

extension Float: Real {
    static var dtype: DType { .float32 }
    @inline(__always) static func exp(_ x: Float) -> Float { Foundation.exp(x) }
    @inline(__always) static func log(_ x: Float) -> Float { Foundation.log(x) }
    @inline(__always) static func log1p(_ x: Float) -> Float { Foundation.log1p(x) }
    @inline(__always) static func expm1(_ x: Float) -> Float { Foundation.expm1(x) }
    @inline(__always) static func tanh(_ x: Float) -> Float { Foundation.tanh(x) }
    @inline(__always) static func erf(_ x: Float) -> Float { Foundation.erf(x) }
    @inline(__always) static func expv(_ x: Float) -> Float { dfmk_expf(x) }
    @inline(__always) static func normalCDF(_ x: Float) -> Float { dfmk_normal_cdf(x) }
    @inline(__always)
    static func expShift(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ shift: Float) {
        dfmk_exp_shift_f32(x, y, n, shift)
    }
    @inline(__always) static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, n: Int) {
        dfmk_softmax_rows_f32(x, rows, n)
    }
    @inline(__always)
    static func softmaxGradRows(_ d: UnsafeMutablePointer<Float>, _ p: UnsafePointer<Float>, rows: Int, n: Int) {
        dfmk_softmax_grad_rows_f32(d, p, rows, n)
    }
    @inline(__always) static func sin(_ x: Float) -> Float { Foundation.sin(x) }
    @inline(__always) static func cos(_ x: Float) -> Float { Foundation.cos(x) }
    @inline(__always) static func pow(_ x: Float, _ y: Float) -> Float { Foundation.pow(x, y) }
    @inline(__always) static func fmod(_ x: Float, _ y: Float) -> Float { fmodf(x, y) }
    @inline(__always)
    static func blasGemm(
        transA: Bool, transB: Bool, m: Int32, n: Int32, k: Int32, alpha: Float,
        a: UnsafePointer<Float>, lda: Int32, b: UnsafePointer<Float>, ldb: Int32,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int32
    ) {
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }
    static func geqrf(
        _ m: UnsafePointer<Int32>, _ n: UnsafePointer<Int32>, _ a: UnsafeMutablePointer<Float>,
        _ lda: UnsafePointer<Int32>, _ tau: UnsafeMutablePointer<Float>, _ work: UnsafeMutablePointer<Float>,
        _ lwork: UnsafePointer<Int32>, _ info: UnsafeMutablePointer<Int32>
    ) {
        sgeqrf_(m, n, a, lda, tau, work, lwork, info)
    }
    static func orgqr(
        _ m: UnsafePointer<Int32>, _ n: UnsafePointer<Int32>, _ k: UnsafePointer<Int32>,
        _ a: UnsafeMutablePointer<Float>, _ lda: UnsafePointer<Int32>, _ tau: UnsafePointer<Float>,
        _ work: UnsafeMutablePointer<Float>, _ lwork: UnsafePointer<Int32>, _ info: UnsafeMutablePointer<Int32>
    ) {
        sorgqr_(m, n, k, a, lda, tau, work, lwork, info)
    }
    static func trsmRightUpperTrans(
        m: Int32, n: Int32, a: UnsafePointer<Float>, lda: Int32,
        b: UnsafeMutablePointer<Float>, ldb: Int32
    ) {
        cblas_strsm(CblasRowMajor, CblasRight, CblasUpper, CblasTrans, CblasNonUnit, m, n, 1, a, lda, b, ldb)
    }
}

extension Double: Real {
    static var dtype: DType { .float64 }
    @inline(__always) static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inline(__always) static func log1p(_ x: Double) -> Double { Foundation.log1p(x) }
    @inline(__always) static func expm1(_ x: Double) -> Double { Foundation.expm1(x) }
    @inline(__always) static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    @inline(__always) static func erf(_ x: Double) -> Double { Foundation.erf(x) }
    @inline(__always) static func expv(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) static func normalCDF(_ x: Double) -> Double {
        0.5 * (1 + Foundation.erf(x * 0.707_106_781_186_547_52))
    }
    @inline(__always)
    static func expShift(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ n: Int, _ shift: Double) {
        for i in 0..<n { y[i] = expv(x[i] - shift) }
    }
    static func softmaxRows(_ x: UnsafeMutablePointer<Double>, rows: Int, n: Int) {
        for r in 0..<rows {
            let row = x + r * n
            var mx = -Double.infinity
            for j in 0..<n { mx = Swift.max(mx, row[j]) }
            if mx == -.infinity {
                row.update(repeating: 0, count: n)
                continue
            }
            var s = 0.0
            for j in 0..<n {
                row[j] = Foundation.exp(row[j] - mx)
                s += row[j]
            }
            let inv = 1 / s
            for j in 0..<n { row[j] *= inv }
        }
    }
    static func softmaxGradRows(_ d: UnsafeMutablePointer<Double>, _ p: UnsafePointer<Double>, rows: Int, n: Int) {
        for r in 0..<rows {
            let (dr, pr) = (d + r * n, p + r * n)
            var dot = 0.0
            for j in 0..<n { dot += dr[j] * pr[j] }
            for j in 0..<n { dr[j] = pr[j] * (dr[j] - dot) }
        }
    }
    @inline(__always) static func sin(_ x: Double) -> Double { Foundation.sin(x) }
    @inline(__always) static func cos(_ x: Double) -> Double { Foundation.cos(x) }
    @inline(__always) static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
    @inline(__always) static func fmod(_ x: Double, _ y: Double) -> Double { Foundation.fmod(x, y) }
    @inline(__always)
    static func blasGemm(
        transA: Bool, transB: Bool, m: Int32, n: Int32, k: Int32, alpha: Double,
        a: UnsafePointer<Double>, lda: Int32, b: UnsafePointer<Double>, ldb: Int32,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int32
    ) {
        cblas_dgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    }
    static func geqrf(
        _ m: UnsafePointer<Int32>, _ n: UnsafePointer<Int32>, _ a: UnsafeMutablePointer<Double>,
        _ lda: UnsafePointer<Int32>, _ tau: UnsafeMutablePointer<Double>, _ work: UnsafeMutablePointer<Double>,
        _ lwork: UnsafePointer<Int32>, _ info: UnsafeMutablePointer<Int32>
    ) {
        dgeqrf_(m, n, a, lda, tau, work, lwork, info)
    }
    static func orgqr(
        _ m: UnsafePointer<Int32>, _ n: UnsafePointer<Int32>, _ k: UnsafePointer<Int32>,
        _ a: UnsafeMutablePointer<Double>, _ lda: UnsafePointer<Int32>, _ tau: UnsafePointer<Double>,
        _ work: UnsafeMutablePointer<Double>, _ lwork: UnsafePointer<Int32>, _ info: UnsafeMutablePointer<Int32>
    ) {
        dorgqr_(m, n, k, a, lda, tau, work, lwork, info)
    }
    static func trsmRightUpperTrans(
        m: Int32, n: Int32, a: UnsafePointer<Double>, lda: Int32,
        b: UnsafeMutablePointer<Double>, ldb: Int32
    ) {
        cblas_dtrsm(CblasRowMajor, CblasRight, CblasUpper, CblasTrans, CblasNonUnit, m, n, 1, a, lda, b, ldb)
    }
}

/// Runs `body` with the element type of the float tensor `x`: `Float.self` for float32,
/// `Double.self` for float64. Ops write their kernels once as a generic `body`.
@inline(__always)
func withReal<R>(_ x: Tensor, op: String, _ f32: () throws -> R, _ f64: () throws -> R) throws -> R {
    switch x.dtype {
    case .float32: return try f32()
    case .float64: return try f64()
    default: throw DFMError.type(op, "expected a floating point tensor (float32 or float64), got \(x.dtype)")
    }
}

/// Checks that every given tensor is float32 or float64 and that they share one dtype
/// (torch's rule for conv, linear and the norms: "expected both to have the same dtype");
/// returns that dtype.
func commonFloat(_ ts: [Tensor?], _ op: String) throws -> DType {
    let present = ts.compactMap { $0 }
    guard let first = present.first else { return .float32 }
    for t in present where !t.dtype.isFloat {
        throw DFMError.type(op, "expected a floating point tensor (float32 or float64), got \(t.dtype)")
    }
    for t in present where t.dtype != first.dtype {
        throw DFMError.type(op, "expected all tensors to have the same dtype, but found \(first.dtype) and \(t.dtype)")
    }
    return first.dtype
}

/// A generic element pointer as the float32 pointer CKernels takes (callers check S == Float).
@inline(__always)
func f32<S>(_ p: UnsafeMutablePointer<S>) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
}
@inline(__always)
func f32<S>(_ p: UnsafePointer<S>) -> UnsafePointer<Float> {
    UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
}
