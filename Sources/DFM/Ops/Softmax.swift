import Foundation

// softmax and log_softmax along any dim, max-subtracted so large inputs never overflow.
// The tensor is viewed as (outer, n, inner) with n the softmax dim:
// - inner == 1 (last dim): every row is contiguous; rows run in parallel.
// - inner > 1 (e.g. the channels of NCHW, inner = H·W): blocks of up to `lanesPerBlock`
//   neighbouring inner positions are reduced together, so each pass over the n slices
//   reads contiguous memory; blocks run in parallel.

private let lanesPerBlock = 64

/// (outer, n, inner) for reducing `dim` of `x`.
private func softmaxLayout(_ x: Tensor, _ dim: Int, op: String) throws -> (outer: Int, n: Int, inner: Int) {
    try EW.checkFloat(x, op)
    let d = try Shape.dim(dim, x.ndim, op: op)
    if x.ndim == 0 { return (1, 1, 1) }
    let outer = x.shape[..<d].reduce(1, *)
    let inner = x.shape[(d + 1)...].reduce(1, *)
    return (outer, x.shape[d], inner)
}

/// torch.softmax(x, dim): exp(x - max) / Σ exp(x - max) along `dim`.
public func softmax(_ x: Tensor, dim: Int) throws -> Tensor {
    let (outer, n, inner) = try softmaxLayout(x, dim, op: "softmax")
    // dx = y ⊙ (g − Σ g⊙y)
    return try softmaxOp(x, outer, n, inner, log: false)
}

/// torch.log_softmax(x, dim): (x - max) - log Σ exp(x - max) along `dim`.
public func logSoftmax(_ x: Tensor, dim: Int) throws -> Tensor {
    let (outer, n, inner) = try softmaxLayout(x, dim, op: "log_softmax")
    // dx = g − exp(y)·Σ g
    return try softmaxOp(x, outer, n, inner, log: true)
}

/// The forward kernel and its recorded backward, in x's precision.
private func softmaxOp(_ x: Tensor, _ outer: Int, _ n: Int, _ inner: Int, log: Bool) throws -> Tensor {
    let op = log ? "log_softmax" : "softmax"
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let out = try Tensor.uninitialized(x.shape, dtype: S.dtype, op: op)
        softmaxForward(x.p(S.self), out.p(S.self), outer: outer, n: n, inner: inner, log: log)
        return record(op, out, [x]) { g in
            let gx = try Tensor.uninitialized(x.shape, dtype: S.dtype, op: op + "_backward")
            softmaxBackward(g.p(S.self), out.p(S.self), gx.p(S.self), outer: outer, n: n, inner: inner, log: log)
            return [gx]
        }
    }
    return try x.dtype == .float64 ? run(Double.self) : run(Float.self)
}

private func softmaxForward<S: Real>(
    _ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>,
    outer: Int, n: Int, inner: Int, log: Bool
) {
    if outer == 0 || n == 0 || inner == 0 { return }
    if inner == 1 {
        Parallel.chunks(outer, costPerItem: 8 * n) { rows in
            for row in rows {
                let xr = x + row * n
                let yr = y + row * n
                var mx = xr[0]
                for c in 0..<n { mx = Swift.max(mx, xr[c]) }
                var s: S = 0
                if log {
                    for c in 0..<n { s += S.expv(xr[c] - mx) }
                    let ls = S.log(s)
                    for c in 0..<n { yr[c] = (xr[c] - mx) - ls }
                } else {
                    S.expShift(xr, yr, n, mx)
                    for c in 0..<n { s += yr[c] }
                    let inv = 1 / s
                    for c in 0..<n { yr[c] *= inv }
                }
            }
        }
        return
    }
    let blocks = (inner + lanesPerBlock - 1) / lanesPerBlock
    Parallel.chunks(outer * blocks, costPerItem: 8 * n * lanesPerBlock) { items in
        let scratch = UnsafeMutablePointer<S>.allocate(capacity: 2 * lanesPerBlock)
        defer { scratch.deallocate() }
        let mx = scratch
        let s = scratch + lanesPerBlock
        for item in items {
            let j0 = (item % blocks) * lanesPerBlock
            let w = Swift.min(lanesPerBlock, inner - j0)
            let base = (item / blocks) * n * inner + j0
            for j in 0..<w {
                mx[j] = x[base + j]
                s[j] = 0
            }
            for c in 1..<n {
                let xr = x + base + c * inner
                for j in 0..<w { mx[j] = Swift.max(mx[j], xr[j]) }
            }
            if log {
                for c in 0..<n {
                    let xr = x + base + c * inner
                    for j in 0..<w { s[j] += S.expv(xr[j] - mx[j]) }
                }
                for j in 0..<w { s[j] = S.log(s[j]) }
                for c in 0..<n {
                    let xr = x + base + c * inner
                    let yr = y + base + c * inner
                    for j in 0..<w { yr[j] = (xr[j] - mx[j]) - s[j] }
                }
            } else {
                for c in 0..<n {
                    let xr = x + base + c * inner
                    let yr = y + base + c * inner
                    for j in 0..<w {
                        let e = S.expv(xr[j] - mx[j])
                        yr[j] = e
                        s[j] += e
                    }
                }
                for j in 0..<w { s[j] = 1 / s[j] }
                for c in 0..<n {
                    let yr = y + base + c * inner
                    for j in 0..<w { yr[j] *= s[j] }
                }
            }
        }
    }
}

/// gx from the upstream gradient g and the forward output y (softmax or log_softmax).
private func softmaxBackward<S: Real>(
    _ g: UnsafePointer<S>, _ y: UnsafePointer<S>, _ gx: UnsafeMutablePointer<S>,
    outer: Int, n: Int, inner: Int, log: Bool
) {
    if outer == 0 || n == 0 || inner == 0 { return }
    if inner == 1 {
        Parallel.chunks(outer, costPerItem: 8 * n) { rows in
            for row in rows {
                let gr = g + row * n
                let yr = y + row * n
                let o = gx + row * n
                var s: S = 0
                if log {
                    for c in 0..<n { s += gr[c] }
                    for c in 0..<n { o[c] = gr[c] - S.expv(yr[c]) * s }
                } else {
                    for c in 0..<n { s += gr[c] * yr[c] }
                    for c in 0..<n { o[c] = yr[c] * (gr[c] - s) }
                }
            }
        }
        return
    }
    let blocks = (inner + lanesPerBlock - 1) / lanesPerBlock
    Parallel.chunks(outer * blocks, costPerItem: 8 * n * lanesPerBlock) { items in
        let s = UnsafeMutablePointer<S>.allocate(capacity: lanesPerBlock)
        defer { s.deallocate() }
        for item in items {
            let j0 = (item % blocks) * lanesPerBlock
            let w = Swift.min(lanesPerBlock, inner - j0)
            let base = (item / blocks) * n * inner + j0
            for j in 0..<w { s[j] = 0 }
            if log {
                for c in 0..<n {
                    let gr = g + base + c * inner
                    for j in 0..<w { s[j] += gr[j] }
                }
                for c in 0..<n {
                    let off = base + c * inner
                    for j in 0..<w { gx[off + j] = g[off + j] - S.expv(y[off + j]) * s[j] }
                }
            } else {
                for c in 0..<n {
                    let off = base + c * inner
                    for j in 0..<w { s[j] += g[off + j] * y[off + j] }
                }
                for c in 0..<n {
                    let off = base + c * inner
                    for j in 0..<w { gx[off + j] = y[off + j] * (g[off + j] - s[j]) }
                }
            }
        }
    }
}
