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

    /// Materialises `x` broadcast to `shape` (shape already validated).
    static func expand(_ x: Tensor, to shape: [Int]) throws -> Tensor {
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

    static func checkFloat(_ x: Tensor, _ op: String) throws {
        guard x.dtype == .float32 else {
            throw DFMError.type(op, "expected a float32 tensor, got \(x.dtype)")
        }
    }
}
