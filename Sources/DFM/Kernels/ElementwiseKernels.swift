import CKernels
import Foundation

/// Elementwise kernels over float32 and float64 tensors (the output has the input's dtype).
///
/// Two forms. The closure forms take `(Double) -> Double`: a float32 element is widened,
/// computed in double and rounded once, so each op's formula is written once for both
/// dtypes (for float32 this is at least as accurate as float arithmetic; a single +, -, ×,
/// ÷ or √ rounds to exactly the float result). The hot ops pass a `FloatFn` struct instead,
/// which is generic over the element type: each instantiation gets its own loop with the
/// function inlined (SIMD), in the tensor's own precision.
enum EW {
    /// out[k] = f(x[k]).
    @inline(__always)
    static func map(_ x: Tensor, op: String, _ f: (Double) -> Double) throws -> Tensor {
        try checkFloat(x, op)
        return try withoutActuallyEscaping(f) { try map(x, op: op, Closure1(f: $0)) }
    }

    /// out[k] = f(a[k], b[k]) for same-shaped a, b of one float dtype.
    @inline(__always)
    static func zip(_ a: Tensor, _ b: Tensor, op: String, _ f: (Double, Double) -> Double) throws -> Tensor {
        try withoutActuallyEscaping(f) { try zip(a, b, op: op, Closure2(f: $0)) }
    }

    /// out = f(a, b) with NumPy broadcasting (a and b of one float dtype).
    @inline(__always)
    static func broadcast(_ a: Tensor, _ b: Tensor, op: String, _ f: (Double, Double) -> Double) throws -> Tensor {
        try withoutActuallyEscaping(f) { try broadcast(a, b, op: op, Closure2(f: $0)) }
    }

    /// Calls `body(row, inner, index)` for every row of the innermost dimension of `shape`, in
    /// parallel over rows; `index` holds the row's indices in the outer dimensions (broadcast
    /// operands find their row offsets from it and their strides).
    @inline(__always)
    static func rows(_ shape: [Int], _ body: (Int, Int, [Int]) -> Void) {
        let nd = shape.count
        let inner = nd == 0 ? 1 : shape[nd - 1]
        let total = shape.reduce(1, *)
        guard total > 0 else { return }
        let outer = Array(shape.dropLast())
        Parallel.chunks(total / inner, costPerItem: inner) { r in
            var idx = [Int](repeating: 0, count: outer.count)
            var rem = r.lowerBound
            for d in stride(from: outer.count - 1, through: 0, by: -1) {
                idx[d] = rem % outer[d]
                rem /= outer[d]
            }
            for row in r {
                body(row, inner, idx)
                var d = outer.count - 1
                while d >= 0 {
                    idx[d] += 1
                    if idx[d] < outer[d] { break }
                    idx[d] = 0
                    d -= 1
                }
            }
        }
    }

    /// Materialises `x` broadcast to `shape` (shape already validated).
    static func expand(_ x: Tensor, to shape: [Int]) throws -> Tensor {
        if !x.dtype.isFloat { return try IntKernels.expand(x, to: shape) }
        let out = try Tensor.uninitialized(shape, dtype: x.dtype, op: "expand")
        let s = Shape.broadcastStrides(x.shape, to: shape)
        if x.dtype == .float64 {
            walk(shape, s, s, x.d, x.d, out.d, First())
        } else {
            walk(shape, s, s, x.f, x.f, out.f, First())
        }
        return out
    }

    /// General broadcast loop: rows of the innermost dimension, positioned by an index counter.
    @inline(__always)
    static func walk<S: Real, F: FloatFn2>(
        _ shape: [Int], _ sa: [Int], _ sb: [Int], _ ap: UnsafeMutablePointer<S>,
        _ bp: UnsafeMutablePointer<S>, _ o: UnsafeMutablePointer<S>, _ f: F
    ) {
        let nd = shape.count
        if nd == 0 {
            o[0] = f(ap[0], bp[0])
            return
        }
        let inner = shape[nd - 1]
        let ia = sa[nd - 1]
        let ib = sb[nd - 1]
        if inner == 0 { return }
        var total = 1
        for d in shape { total *= d }
        let rows = total / inner
        Parallel.chunks(rows, costPerItem: inner) { r in
            var idx = [Int](repeating: 0, count: nd)
            var rem = r.lowerBound
            for d in stride(from: nd - 2, through: 0, by: -1) {
                idx[d] = rem % shape[d]
                rem /= shape[d]
            }
            for row in r {
                var oa = 0
                var ob = 0
                for d in 0..<(nd - 1) {
                    oa += idx[d] * sa[d]
                    ob += idx[d] * sb[d]
                }
                let orow = o + row * inner
                for q in 0..<inner { orow[q] = f(ap[oa + q * ia], bp[ob + q * ib]) }
                var d = nd - 2
                while d >= 0 {
                    idx[d] += 1
                    if idx[d] < shape[d] { break }
                    idx[d] = 0
                    d -= 1
                }
            }
        }
    }

    // MARK: statically dispatched forms
    // A closure `f` reaches the worker threads as a captured function value, so the per-element
    // loops above make one indirect call per element and are not vectorised. The hot ops pass a
    // struct instead: each generic instantiation gets its own loop with `f` inlined (SIMD).

    @inline(__always)
    static func map<F: FloatFn1>(_ x: Tensor, op: String, _ f: F) throws -> Tensor {
        try checkFloat(x, op)
        let out = try Tensor.uninitialized(x.shape, dtype: x.dtype, op: op)
        if x.dtype == .float64 { mapLoop(x.d, out.d, x.count, f) } else { mapLoop(x.f, out.f, x.count, f) }
        return out
    }

    @inline(__always)
    static func mapLoop<S: Real, F: FloatFn1>(
        _ xp: UnsafeMutablePointer<S>, _ o: UnsafeMutablePointer<S>, _ n: Int, _ f: F
    ) {
        if S.self == Float.self, let loop = f.float32Loop {
            let xf = f32(xp)
            let of = f32(o)
            Parallel.chunks(n, costPerItem: 8) { r in loop(xf + r.lowerBound, of + r.lowerBound, r.count) }
            return
        }
        Parallel.chunks(n) { r in for k in r { o[k] = f(xp[k]) } }
    }

    @inline(__always)
    static func zip<F: FloatFn2>(_ a: Tensor, _ b: Tensor, op: String, _ f: F) throws -> Tensor {
        try sameFloat(a, b, op)
        let out = try Tensor.uninitialized(a.shape, dtype: a.dtype, op: op)
        if a.dtype == .float64 { zipLoop(a.d, b.d, out.d, a.count, f) } else { zipLoop(a.f, b.f, out.f, a.count, f) }
        return out
    }

    @inline(__always)
    static func zipLoop<S: Real, F: FloatFn2>(
        _ ap: UnsafeMutablePointer<S>, _ bp: UnsafeMutablePointer<S>,
        _ o: UnsafeMutablePointer<S>, _ n: Int, _ f: F
    ) {
        if S.self == Float.self, let loop = f.float32Loop {
            let af = f32(ap)
            let bf = f32(bp)
            let of = f32(o)
            Parallel.chunks(n, costPerItem: 8) { r in
                loop(af + r.lowerBound, bf + r.lowerBound, of + r.lowerBound, r.count)
            }
            return
        }
        Parallel.chunks(n) { r in for k in r { o[k] = f(ap[k], bp[k]) } }
    }

    @inline(__always)
    static func broadcast<F: FloatFn2>(_ a: Tensor, _ b: Tensor, op: String, _ f: F) throws -> Tensor {
        try sameFloat(a, b, op)
        if a.shape == b.shape { return try zip(a, b, op: op, f) }
        let shape = try Shape.broadcast(a.shape, b.shape, op: op)
        if b.count == 1 && shape == a.shape { return try map(a, op: op, Bind2(f: f, s: b.double(at: 0))) }
        if a.count == 1 && shape == b.shape { return try map(b, op: op, Bind1(f: f, s: a.double(at: 0))) }
        let out = try Tensor.uninitialized(shape, dtype: a.dtype, op: op)
        let sa = Shape.broadcastStrides(a.shape, to: shape)
        let sb = Shape.broadcastStrides(b.shape, to: shape)
        if a.dtype == .float64 {
            walk(shape, sa, sb, a.d, b.d, out.d, f)
        } else {
            walk(shape, sa, sb, a.f, b.f, out.f, f)
        }
        return out
    }

    /// acc += x in place (same shape and dtype); the autograd engine's gradient accumulation.
    static func addInPlace(_ acc: Tensor, _ x: Tensor) {
        if acc.dtype == .float64 {
            let ap = acc.d
            let xp = x.d
            Parallel.chunks(acc.count) { r in for k in r { ap[k] += xp[k] } }
        } else {
            let ap = acc.f
            let xp = x.f
            Parallel.chunks(acc.count) { r in for k in r { ap[k] += xp[k] } }
        }
    }

    static func checkFloat(_ x: Tensor, _ op: String) throws {
        guard x.dtype.isFloat else {
            throw DFMError.type(op, "expected a floating point tensor (float32 or float64), got \(x.dtype)")
        }
    }

    /// Both float, and of one dtype (ops that mix float32 and float64 promote before calling).
    static func sameFloat(_ a: Tensor, _ b: Tensor, _ op: String) throws {
        try checkFloat(a, op)
        try checkFloat(b, op)
        guard a.dtype == b.dtype else {
            throw DFMError.type(op, "expected both tensors to have the same dtype, but found \(a.dtype) and \(b.dtype)")
        }
    }
}

/// A unary function of the element type, for EW's specialised kernels.
protocol FloatFn1 {
    func callAsFunction<S: Real>(_ x: S) -> S
    /// The same function as a float32 array loop of CKernels (compiled per ISA level), if it has one.
    var float32Loop: ((UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void)? { get }
}
/// A binary function of the element type, for EW's specialised kernels.
protocol FloatFn2 {
    func callAsFunction<S: Real>(_ a: S, _ b: S) -> S
    var float32Loop: ((UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void)? { get }
}
extension FloatFn1 {
    var float32Loop: ((UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void)? { nil }
}
extension FloatFn2 {
    var float32Loop: ((UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void)? { nil }
}

/// A `(Double) -> Double` closure as a FloatFn1: computes in double, rounds once to S.
struct Closure1: FloatFn1 {
    let f: (Double) -> Double
    @inline(__always) func callAsFunction<S: Real>(_ x: S) -> S { S(f(Double(x))) }
}
struct Closure2: FloatFn2 {
    let f: (Double, Double) -> Double
    @inline(__always) func callAsFunction<S: Real>(_ a: S, _ b: S) -> S { S(f(Double(a), Double(b))) }
}
struct First: FloatFn2 { @inline(__always) func callAsFunction<S: Real>(_ a: S, _ b: S) -> S { a } }

struct Bind1<F: FloatFn2>: FloatFn1 {  // f(s, x)
    let f: F, s: Double
    @inline(__always) func callAsFunction<S: Real>(_ x: S) -> S { f(S(s), x) }
}
struct Bind2<F: FloatFn2>: FloatFn1 {  // f(x, s)
    let f: F, s: Double
    @inline(__always) func callAsFunction<S: Real>(_ x: S) -> S { f(x, S(s)) }
}

enum FloatOps {
    struct Add: FloatFn2 { @inline(__always) func callAsFunction<S: Real>(_ a: S, _ b: S) -> S { a + b } }
    struct Sub: FloatFn2 { @inline(__always) func callAsFunction<S: Real>(_ a: S, _ b: S) -> S { a - b } }
    struct Mul: FloatFn2 { @inline(__always) func callAsFunction<S: Real>(_ a: S, _ b: S) -> S { a * b } }
    struct Div: FloatFn2 { @inline(__always) func callAsFunction<S: Real>(_ a: S, _ b: S) -> S { a / b } }
    /// x + s and x * s with the scalar rounded to the tensor's dtype first (torch's rule).
    struct AddScalar: FloatFn1 {
        let s: Double
        @inline(__always) func callAsFunction<S: Real>(_ x: S) -> S { x + S(s) }
    }
    struct MulScalar: FloatFn1 {
        let s: Double
        @inline(__always) func callAsFunction<S: Real>(_ x: S) -> S { x * S(s) }
    }
    struct Neg: FloatFn1 { @inline(__always) func callAsFunction<S: Real>(_ x: S) -> S { -x } }
    /// max(x, 0), NaN kept (torch).
    struct Relu: FloatFn1 {
        @inline(__always) func callAsFunction<S: Real>(_ x: S) -> S { x > 0 ? x : (x.isNaN ? x : 0) }
    }
    /// GELU, exact form x·Φ(x), and its derivative g·(Φ(x) + x·φ(x)); float32 runs CKernels'
    /// loops, the same formula per element.
    struct Gelu: FloatFn1 {
        @inline(__always) func callAsFunction<S: Real>(_ x: S) -> S { x * S.normalCDF(x) }
        var float32Loop: ((UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void)? {
            { dfmk_gelu_f32($0, $1, $2) }
        }
    }
    struct GeluBackward: FloatFn2 {
        @inline(__always) func callAsFunction<S: Real>(_ g: S, _ x: S) -> S {
            g * (S.normalCDF(x) + x * S.expv(-0.5 * x * x) * 0.398_942_280_401_432_68)
        }
        var float32Loop: ((UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void)? {
            { dfmk_gelu_backward_f32($0, $1, $2, $3) }
        }
    }
    /// g where the relu output is positive.
    struct ReluBackward: FloatFn2 {
        @inline(__always) func callAsFunction<S: Real>(_ g: S, _ y: S) -> S { y > 0 ? g : 0 }
    }

    /// x ** p in the tensor's precision, with torch's special cases (pow_tensor_scalar): x·x for
    /// 2, x·x·x for 3, √x for 0.5, 1/√x for -0.5, 1/x for -1, 1/(x·x) for -2 (fast and exact).
    struct PowScalar: FloatFn1 {
        let p: Double
        @inline(__always)
        func callAsFunction<S: Real>(_ x: S) -> S {
            switch p {
            case 2: return x * x
            case 3: return x * x * x
            case 0.5: return x.squareRoot()
            case -0.5: return 1 / x.squareRoot()
            case -1: return 1 / x
            case -2: return 1 / (x * x)
            case 1: return x
            default: return S.pow(x, S(p))
            }
        }
    }
    /// g · p · x^(p-1), the derivative of PowScalar (p != 0).
    struct PowScalarBackward: FloatFn2 {
        let p: Double
        @inline(__always)
        func callAsFunction<S: Real>(_ g: S, _ x: S) -> S {
            switch p {
            case 2: return g * 2 * x
            case 1: return g
            default: return g * S(p) * S.pow(x, S(p - 1))
            }
        }
    }

    /// floor(a / b) as torch computes it (div_floor_floating): from fmod, so the quotient is
    /// exact where a / b itself would round across an integer.
    struct FloorDiv: FloatFn2 {
        @inline(__always)
        func callAsFunction<S: Real>(_ a: S, _ b: S) -> S {
            if b == 0 { return a / b }
            let mod = S.fmod(a, b)
            var div = (a - mod) / b
            if mod != 0 && (b < 0) != (mod < 0) { div -= 1 }
            guard div != 0 else { return S(signOf: a / b, magnitudeOf: 0) }
            var q = div.rounded(.down)
            if div - q > 0.5 { q += 1 }
            return q
        }
    }

    /// Python's a % b (the sign follows b), as torch's remainder.
    struct Remainder: FloatFn2 {
        @inline(__always)
        func callAsFunction<S: Real>(_ a: S, _ b: S) -> S {
            var mod = S.fmod(a, b)
            if mod != 0 && (b < 0) != (mod < 0) { mod += b }
            return mod
        }
    }
}
