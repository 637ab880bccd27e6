import Foundation

/// Elementwise kernels. `f` is inlined into each caller, so every op gets its own
/// tight loop over raw pointers, split across cores.
enum EW {
    /// out[k] = f(x[k]).
    @inline(__always)
    static func map(_ x: Tensor, op: String, _ f: (Float) -> Float) throws -> Tensor {
        try checkFloat(x, op)
        let out = try Tensor.uninitialized(x.shape, op: op)
        let xp = x.f, op = out.f
        Parallel.chunks(x.count) { r in for k in r { op[k] = f(xp[k]) } }
        return out
    }

    /// out[k] = f(a[k], b[k]) for same-shaped a, b.
    @inline(__always)
    static func zip(_ a: Tensor, _ b: Tensor, op: String, _ f: (Float, Float) -> Float) throws -> Tensor {
        let out = try Tensor.uninitialized(a.shape, op: op)
        let ap = a.f, bp = b.f, o = out.f
        Parallel.chunks(a.count) { r in for k in r { o[k] = f(ap[k], bp[k]) } }
        return out
    }

    /// out = f(a, b) with NumPy broadcasting.
    @inline(__always)
    static func broadcast(_ a: Tensor, _ b: Tensor, op: String, _ f: (Float, Float) -> Float) throws -> Tensor {
        try checkFloat(a, op)
        try checkFloat(b, op)
        if a.shape == b.shape { return try zip(a, b, op: op, f) }
        let shape = try Shape.broadcast(a.shape, b.shape, op: op)
        let out = try Tensor.uninitialized(shape, op: op)
        let ap = a.f, bp = b.f, o = out.f
        if b.count == 1 && shape == a.shape {
            let s = bp[0]
            Parallel.chunks(out.count) { r in for k in r { o[k] = f(ap[k], s) } }
            return out
        }
        if a.count == 1 && shape == b.shape {
            let s = ap[0]
            Parallel.chunks(out.count) { r in for k in r { o[k] = f(s, bp[k]) } }
            return out
        }
        walk(shape, Shape.broadcastStrides(a.shape, to: shape), Shape.broadcastStrides(b.shape, to: shape), ap, bp, o, f)
        return out
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
            for d in stride(from: outer.count - 1, through: 0, by: -1) { idx[d] = rem % outer[d]; rem /= outer[d] }
            for row in r {
                body(row, inner, idx)
                var d = outer.count - 1
                while d >= 0 { idx[d] += 1; if idx[d] < outer[d] { break }; idx[d] = 0; d -= 1 }
            }
        }
    }

    /// Materialises `x` broadcast to `shape` (shape already validated).
    static func expand(_ x: Tensor, to shape: [Int]) throws -> Tensor {
        if x.dtype != .float32 { return try IntKernels.expand(x, to: shape) }
        let out = try Tensor.uninitialized(shape, op: "expand")
        let s = Shape.broadcastStrides(x.shape, to: shape)
        walk(shape, s, s, x.f, x.f, out.f) { a, _ in a }
        return out
    }

    /// General broadcast loop: rows of the innermost dimension, positioned by an index counter.
    @inline(__always)
    static func walk(_ shape: [Int], _ sa: [Int], _ sb: [Int], _ ap: UnsafeMutablePointer<Float>,
                     _ bp: UnsafeMutablePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ f: (Float, Float) -> Float) {
        let nd = shape.count
        if nd == 0 { o[0] = f(ap[0], bp[0]); return }
        let inner = shape[nd - 1], ia = sa[nd - 1], ib = sb[nd - 1]
        if inner == 0 { return }
        var total = 1
        for d in shape { total *= d }
        let rows = total / inner
        Parallel.chunks(rows, costPerItem: inner) { r in
            var idx = [Int](repeating: 0, count: nd)
            var rem = r.lowerBound
            for d in stride(from: nd - 2, through: 0, by: -1) { idx[d] = rem % shape[d]; rem /= shape[d] }
            for row in r {
                var oa = 0, ob = 0
                for d in 0..<(nd - 1) { oa += idx[d] * sa[d]; ob += idx[d] * sb[d] }
                let orow = o + row * inner
                for q in 0..<inner { orow[q] = f(ap[oa + q * ia], bp[ob + q * ib]) }
                var d = nd - 2
                while d >= 0 { idx[d] += 1; if idx[d] < shape[d] { break }; idx[d] = 0; d -= 1 }
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
        let out = try Tensor.uninitialized(x.shape, op: op)
        let xp = x.f, o = out.f
        Parallel.chunks(x.count) { r in for k in r { o[k] = f(xp[k]) } }
        return out
    }

    @inline(__always)
    static func zip<F: FloatFn2>(_ a: Tensor, _ b: Tensor, op: String, _ f: F) throws -> Tensor {
        let out = try Tensor.uninitialized(a.shape, op: op)
        let ap = a.f, bp = b.f, o = out.f
        Parallel.chunks(a.count) { r in for k in r { o[k] = f(ap[k], bp[k]) } }
        return out
    }

    @inline(__always)
    static func broadcast<F: FloatFn2>(_ a: Tensor, _ b: Tensor, op: String, _ f: F) throws -> Tensor {
        try checkFloat(a, op)
        try checkFloat(b, op)
        if a.shape == b.shape { return try zip(a, b, op: op, f) }
        let shape = try Shape.broadcast(a.shape, b.shape, op: op)
        if b.count == 1 && shape == a.shape { return try map(a, op: op, Bind2(f: f, s: b.f[0])) }
        if a.count == 1 && shape == b.shape { return try map(b, op: op, Bind1(f: f, s: a.f[0])) }
        let out = try Tensor.uninitialized(shape, op: op)
        walk(shape, Shape.broadcastStrides(a.shape, to: shape), Shape.broadcastStrides(b.shape, to: shape), a.f, b.f, out.f) { f($0, $1) }
        return out
    }

    /// acc += x in place (same shape); the autograd engine's gradient accumulation.
    static func addInPlace(_ acc: Tensor, _ x: Tensor) {
        let ap = acc.f, xp = x.f
        Parallel.chunks(acc.count) { r in for k in r { ap[k] += xp[k] } }
    }

    static func checkFloat(_ x: Tensor, _ op: String) throws {
        guard x.dtype == .float32 else {
            throw DFMError.type(op, "expected a float32 tensor, got \(x.dtype)")
        }
    }
}

/// A unary float function as a type, for EW's specialised kernels.
protocol FloatFn1 { func callAsFunction(_ x: Float) -> Float }
/// A binary float function as a type, for EW's specialised kernels.
protocol FloatFn2 { func callAsFunction(_ a: Float, _ b: Float) -> Float }

struct Bind1<F: FloatFn2>: FloatFn1 {  // f(s, x)
    let f: F, s: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { f(s, x) }
}
struct Bind2<F: FloatFn2>: FloatFn1 {  // f(x, s)
    let f: F, s: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { f(x, s) }
}

enum FloatOps {
    struct Add: FloatFn2 { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b } }
    struct Sub: FloatFn2 { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b } }
    struct Mul: FloatFn2 { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b } }
    struct Div: FloatFn2 { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b } }
    struct AddScalar: FloatFn1 { let s: Float; @inline(__always) func callAsFunction(_ x: Float) -> Float { x + s } }
    struct MulScalar: FloatFn1 { let s: Float; @inline(__always) func callAsFunction(_ x: Float) -> Float { x * s } }
    struct Neg: FloatFn1 { @inline(__always) func callAsFunction(_ x: Float) -> Float { -x } }
    /// max(x, 0), NaN kept (torch).
    struct Relu: FloatFn1 { @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : (x.isNaN ? x : 0) } }
    /// g where the relu output is positive.
    struct ReluBackward: FloatFn2 { @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { y > 0 ? g : 0 } }

    /// floor(a / b) as torch computes it (div_floor_floating): from fmod, so the quotient is
    /// exact where a / b itself would round across an integer.
    @inline(__always)
    static func floorDiv(_ a: Float, _ b: Float) -> Float {
        if b == 0 { return a / b }
        let mod = fmodf(a, b)
        var div = (a - mod) / b
        if mod != 0 && (b < 0) != (mod < 0) { div -= 1 }
        guard div != 0 else { return Float(signOf: a / b, magnitudeOf: 0) }
        var q = div.rounded(.down)
        if div - q > 0.5 { q += 1 }
        return q
    }

    /// Python's a % b (the sign follows b), as torch's remainder.
    @inline(__always)
    static func remainder(_ a: Float, _ b: Float) -> Float {
        var mod = fmodf(a, b)
        if mod != 0 && (b < 0) != (mod < 0) { mod += b }
        return mod
    }
}
