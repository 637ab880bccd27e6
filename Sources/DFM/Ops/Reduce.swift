// Reductions. The kernel walks the input once in row-major order and accumulates
// into the output cell each element maps to, in a fixed order (deterministic).

/// Output shape and per-input-dim output strides (0 on reduced dims) for reducing `dims`.
private func reducePlan(_ shape: [Int], _ dims: [Int], keepdim: Bool, op: String) throws -> (
    keep: [Int], out: [Int], reduced: Set<Int>
) {
    var reduced = Set<Int>()
    for d in dims {
        let w = try Shape.dim(d, shape.count, op: op)
        guard reduced.insert(w).inserted else {
            throw DFMError.invalid(op, "dim \(w) appears multiple times in the list of dims")
        }
    }
    if dims.isEmpty { reduced = Set(0..<shape.count) }
    let keep = shape.enumerated().map { reduced.contains($0.offset) ? 1 : $0.element }
    let out = keepdim ? keep : shape.enumerated().filter { !reduced.contains($0.offset) }.map { $0.element }
    return (keep, out, reduced)
}

/// Sums `x` over `reduced` into a tensor of shape `keep` (same rank, 1 on reduced dims).
private func sumKernel(_ x: Tensor, keep: [Int], op: String) throws -> Tensor {
    x.dtype == .float64 ? try sumKernel(x, Double.self, keep: keep) : try sumKernel(x, Float.self, keep: keep)
}

private func sumKernel<S: Real>(_ x: Tensor, _: S.Type, keep: [Int]) throws -> Tensor {
    let out = try Tensor.zeros(keep, dtype: S.dtype)
    let o = out.p(S.self)
    let xp = x.p(S.self)
    if x.count == 0 { return out }
    if out.count == 1 {
        // Pairwise blocks of 4096, summed in order: accurate and thread-count independent.
        let block = 4096
        let nb = (x.count + block - 1) / block
        var partial = [Double](repeating: 0, count: nb)
        partial.withUnsafeMutableBufferPointer { pp in
            let p = pp.baseAddress!
            Parallel.chunks(nb, costPerItem: block) { r in
                for b in r {
                    var s: S = 0
                    for k in (b * block)..<min(x.count, (b + 1) * block) { s += xp[k] }
                    p[b] = Double(s)
                }
            }
        }
        o[0] = S(partial.reduce(0, +))
        return out
    }
    // General: iterate over outputs in parallel; each output sums its fiber in order.
    let nd = x.shape.count
    let xs = Shape.strides(x.shape)
    let redDims = (0..<nd).filter { keep[$0] == 1 && x.shape[$0] != 1 }
    let redShape = redDims.map { x.shape[$0] }
    let redStrides = redDims.map { xs[$0] }
    let redCount = redShape.reduce(1, *)
    let keptDims = (0..<nd).filter { !redDims.contains($0) }
    let keptShape = keptDims.map { keep[$0] }
    let keptStrides = keptDims.map { xs[$0] }
    if let lastRed = redDims.last, let firstKept = keptDims.first, lastRed < firstKept {
        // Reduced dims all lead (bias and broadcast gradients): x is (redCount, out.count) row-major.
        // Rows are added in order into each output, as the fiber loop below does (bitwise the
        // same), but row by row over contiguous memory instead of one strided fiber at a time.
        let k = out.count
        Parallel.chunks(k, costPerItem: redCount) { r in
            let lo = r.lowerBound
            let len = r.count
            for i in 0..<redCount {
                let src = xp + i * k + lo
                let dst = o + lo
                for j in 0..<len { dst[j] += src[j] }
            }
        }
        return out
    }
    Parallel.chunks(out.count, costPerItem: redCount) { r in
        var ridx = [Int](repeating: 0, count: redDims.count)
        for oi in r {
            // Input offset of output cell oi.
            var rem = oi
            var base = 0
            for d in stride(from: keptDims.count - 1, through: 0, by: -1) {
                base += (rem % keptShape[d]) * keptStrides[d]
                rem /= keptShape[d]
            }
            var s: S = 0
            if redDims.count == 1 {
                let st = redStrides[0]
                for q in 0..<redCount { s += xp[base + q * st] }
            } else {
                for q in 0..<ridx.count { ridx[q] = 0 }
                for _ in 0..<redCount {
                    var off = base
                    for q in 0..<ridx.count { off += ridx[q] * redStrides[q] }
                    s += xp[off]
                    var q = ridx.count - 1
                    while q >= 0 {
                        ridx[q] += 1
                        if ridx[q] < redShape[q] { break }
                        ridx[q] = 0
                        q -= 1
                    }
                }
            }
            o[oi] = s
        }
    }
    return out
}

/// torch.sum(x) over all elements, or over `dims` (keepdim like torch).
public func sum(_ x: Tensor, dims: [Int] = [], keepdim: Bool = false) throws -> Tensor {
    let plan = try reducePlan(x.shape, dims, keepdim: keepdim, op: "sum")
    // int64 and bool sums are int64 (torch); neither requires grad, so nothing to record.
    if !x.dtype.isFloat {
        return try IntKernels.sum(try BoolKernels.toInt(x, op: "sum"), keep: plan.keep, op: "sum").viewAs(plan.out)
    }
    try EW.checkFloat(x, "sum")
    let kept = try sumKernel(x, keep: plan.keep, op: "sum")
    let out = kept.viewAs(plan.out)
    return record("sum", out, [x]) { g in [try expand(g.viewAs(plan.keep), to: x.shape)] }
}

/// torch.mean(x) over all elements, or over `dims`.
public func mean(_ x: Tensor, dims: [Int] = [], keepdim: Bool = false) throws -> Tensor {
    try EW.checkFloat(x, "mean")
    let plan = try reducePlan(x.shape, dims, keepdim: keepdim, op: "mean")
    let n = plan.keep.reduce(1, *)
    let m = n == 0 ? 0 : x.count / n
    let kept = try sumKernel(x, keep: plan.keep, op: "mean")
    // torch divides the sum by the count (in the tensor's precision).
    let scale: Double = m == 0 ? .nan : 1 / Double(m)
    if kept.dtype == .float64 {
        let o = kept.d
        for k in 0..<kept.count { o[k] = m == 0 ? .nan : o[k] / Double(m) }
    } else {
        let o = kept.f
        for k in 0..<kept.count { o[k] = m == 0 ? .nan : o[k] * Float(scale) }
    }
    let out = kept.viewAs(plan.out)
    return record("mean", out, [x]) { g in [try expand(try mul(g.viewAs(plan.keep), scale), to: x.shape)] }
}

/// Sums a broadcast gradient back down to `shape` (the inverse of broadcasting).
func sumTo(_ g: Tensor, _ shape: [Int]) throws -> Tensor {
    if g.shape == shape { return g }
    let lead = g.shape.count - shape.count
    var dims: [Int] = Array(0..<lead)
    for (i, d) in shape.enumerated() where d == 1 && g.shape[lead + i] != 1 { dims.append(lead + i) }
    let keep = g.shape.enumerated().map { dims.contains($0.offset) ? 1 : $0.element }
    return try sumKernel(g, keep: keep, op: "sum_to").viewAs(shape)
}

/// Broadcasts `x` to `shape` (a materialised copy; dfm tensors are contiguous).
public func expand(_ x: Tensor, to shape: [Int]) throws -> Tensor {
    let lead = shape.count - x.shape.count
    guard lead >= 0 else {
        throw DFMError.shape(
            "expand",
            "the number of sizes provided (\(shape.count)) must be greater or equal to the number of dimensions in the tensor (\(x.shape.count))"
        )
    }
    for (i, d) in x.shape.enumerated() where d != 1 && d != shape[lead + i] {
        throw DFMError.shape(
            "expand",
            "the expanded size of the tensor (\(shape[lead + i])) must match the existing size (\(d)) at non-singleton dimension \(lead + i); target sizes \(shape), tensor sizes \(x.shape)"
        )
    }
    _ = try Shape.count(shape, op: "expand")
    if x.shape == shape { return x }
    let full = try EW.expand(x, to: shape)
    return record("expand", full, [x]) { g in [try sumTo(g, x.shape)] }
}

extension Tensor {
    /// Same memory, new shape (caller guarantees equal element counts). Not recorded.
    func viewAs(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, dtype: dtype, storage: storage, offset: offset)
    }
}

/// torch.cumsum(x, dim): running sums along `dim`. float32 accumulates in double and rounds
/// each partial sum (as torch's CPU kernel does); int64 and bool give int64 (wrapping). The
/// gradient is the reversed running sum of the upstream gradient.
public func cumsum(_ x: Tensor, dim: Int) throws -> Tensor {
    let op = "cumsum"
    let d = x.ndim == 0 ? 0 : try Shape.dim(dim, x.ndim, op: op)
    let (outer, n, inner) =
        x.ndim == 0
        ? (1, 1, 1)
        : (x.shape[..<d].reduce(1, *), x.shape[d], x.shape[(d + 1)...].reduce(1, *))
    if !x.dtype.isFloat {
        let xi = try BoolKernels.toInt(x, op: op)
        let out = try Tensor.uninitialized(x.shape, dtype: .int64, op: op)
        let src = xi.i
        let dst = out.i
        withExtendedLifetime(xi) {
            Parallel.chunks(outer * inner, costPerItem: n) { r in
                for lane in r {
                    let base = (lane / inner) * n * inner + lane % inner
                    var s: Int64 = 0
                    for j in 0..<n {
                        s &+= src[base + j * inner]
                        dst[base + j * inner] = s
                    }
                }
            }
        }
        return out
    }
    func sums(_ src: Tensor, reversed: Bool) throws -> Tensor {
        let out = try Tensor.uninitialized(x.shape, dtype: src.dtype, op: op)
        if src.dtype == .float64 {
            runningSums(src.d, out.d, outer: outer, n: n, inner: inner, reversed: reversed)
        } else {
            runningSums(src.f, out.f, outer: outer, n: n, inner: inner, reversed: reversed)
        }
        return out
    }
    let out = try sums(x, reversed: false)
    return record(op, out, [x]) { g in [try sums(g, reversed: true)] }
}

/// Running sums of every lane (n elements at stride `inner`), from the end when `reversed`.
private func runningSums<S: Real>(
    _ src: UnsafeMutablePointer<S>, _ dst: UnsafeMutablePointer<S>,
    outer: Int, n: Int, inner: Int, reversed: Bool
) {
    Parallel.chunks(outer * inner, costPerItem: n) { r in
        for lane in r {
            let base = (lane / inner) * n * inner + lane % inner
            var s: Double = 0
            for t in 0..<n {
                let j = reversed ? n - 1 - t : t
                s += Double(src[base + j * inner])
                dst[base + j * inner] = S(s)
            }
        }
    }
}
