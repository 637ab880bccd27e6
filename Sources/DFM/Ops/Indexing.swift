// dtype conversion, index_select, nonzero and masked_select.

/// torch's `x.to(dtype)` / `.float()` / `.double()` / `.long()` / `.bool()`. The same dtype
/// returns `x` itself (so a float tensor keeps its graph); int64 → float rounds to nearest
/// (exact up to 2^24 for float32, 2^53 for float64); float → int64 truncates toward zero and
/// throws for NaN, ±inf or values outside int64; → bool is `x != 0`; bool → numbers gives 0
/// and 1. Only float32 ↔ float64 records a graph node: gradients flow float → float only.
public func toDType(_ x: Tensor, _ dtype: DType) throws -> Tensor {
    if x.dtype == dtype { return x }
    switch (x.dtype, dtype) {
    case (_, .bool): return try BoolKernels.truth(x, op: "to")
    case (_, .uint8): return try BoolKernels.toUInt8(x.dtype.isFloat ? try IntKernels.toInt(x, op: "to") : x, op: "to")
    case (.bool, .int64), (.uint8, .int64): return try BoolKernels.toInt(x, op: "to")
    case (.uint8, _): return try IntKernels.toFloat(try BoolKernels.toInt(x, op: "to"), op: "to", dtype)
    case (.bool, _): return try BoolKernels.toFloat(x, op: "to", dtype)
    case (.int64, _): return try IntKernels.toFloat(x, op: "to", dtype)
    case (_, .int64): return try IntKernels.toInt(x, op: "to")
    default:
        // float32 <-> float64: differentiable, the gradient converts back.
        let out = try Tensor.uninitialized(x.shape, dtype: dtype, op: "to")
        let n = x.count
        if dtype == .float64 {
            let s = x.f
            let o = out.d
            Parallel.chunks(n) { r in for k in r { o[k] = Double(s[k]) } }
        } else {
            let s = x.d
            let o = out.f
            Parallel.chunks(n) { r in for k in r { o[k] = Float(s[k]) } }
        }
        let from = x.dtype
        return record("to", out, [x]) { g in [try toDType(g, from)] }
    }
}

/// torch.index_select(x, dim, index): the slices `index[j]` of `x` along `dim`, in order
/// (repeats allowed). `index` is int64, 1-D (or 0-dim, one index); every entry must be in
/// 0..<x.shape[dim] (negative entries are errors, as in torch). Works for float32 and int64
/// `x`; the gradient scatter-adds back into the selected slices.
public func indexSelect(_ x: Tensor, dim: Int, index: Tensor) throws -> Tensor {
    let op = "index_select"
    guard index.dtype == .int64 else { throw DFMError.type(op, "expected an int64 index tensor, got \(index.dtype)") }
    guard index.ndim <= 1 else {
        throw DFMError.index(op, "index is supposed to be a vector, got shape \(index.shape)")
    }
    let d = try Shape.dim(dim, x.ndim, op: op)
    let size = x.ndim == 0 ? 1 : x.shape[d]
    let m = index.count
    if x.ndim == 0, m != 1 { throw DFMError.index(op, "index to a 0-dim tensor can have only 1 value, got \(m)") }
    let ip = index.i
    var idx = [Int](repeating: 0, count: m)
    for j in 0..<m {
        let v = ip[j]
        guard v >= 0, v < Int64(size) else {
            throw DFMError.index(op, "index \(v) is out of range for dimension \(d) with size \(size)")
        }
        idx[j] = Int(v)
    }
    var shape = x.shape
    if x.ndim > 0 { shape[d] = m }
    let (outer, inner) = x.ndim == 0 ? (1, 1) : (x.shape[..<d].reduce(1, *), x.shape[(d + 1)...].reduce(1, *))
    let out = try Tensor.uninitialized(shape, dtype: x.dtype, op: op)
    // out[o, j, :] = x[o, idx[j], :], copied as raw bytes (any dtype).
    let es = x.dtype.byteSize
    let rowBytes = inner * es
    let src = x.rawPointer
    let dst = out.rawPointer
    idx.withUnsafeBufferPointer { ib in
        Parallel.chunks(outer * m, costPerItem: inner) { r in
            for row in r {
                let o = row / m
                let j = row % m
                (dst + row * rowBytes).copyMemory(from: src + (o * size + ib[j]) * rowBytes, byteCount: rowBytes)
            }
        }
    }
    let xShape = x.shape
    return record(op, out, [x]) { g in
        let gx = try Tensor.zeros(xShape, dtype: x.dtype)
        func add<S: Real>(_ gp: UnsafeMutablePointer<S>, _ gxp: UnsafeMutablePointer<S>) {
            // Each outer slice is written by one task; repeated indices add in index order.
            idx.withUnsafeBufferPointer { ib in
                Parallel.chunks(outer, costPerItem: m * inner) { r in
                    for o in r {
                        for j in 0..<m {
                            let s = gp + (o * m + j) * inner
                            let t = gxp + (o * size + ib[j]) * inner
                            for q in 0..<inner { t[q] += s[q] }
                        }
                    }
                }
            }
        }
        if x.dtype == .float64 { add(g.d, gx.d) } else { add(g.f, gx.f) }
        return [gx]
    }
}

/// torch.nonzero(x): the (n, ndim) int64 coordinates of the nonzero (true) elements, in
/// row-major order. A 0-dim input gives (n, 0).
public func nonzero(_ x: Tensor) throws -> Tensor {
    let t = try BoolKernels.truth(x, op: "nonzero")
    return try withExtendedLifetime(t) {  // t may be a temporary: keep it alive while p is read
        let p = t.b
        var n = 0
        for k in 0..<t.count where p[k] != 0 { n += 1 }
        let nd = x.ndim
        let out = try Tensor.uninitialized([n, nd], dtype: .int64, op: "nonzero")
        let o = out.i
        let strides = Shape.strides(x.shape)
        var row = 0
        for k in 0..<t.count where p[k] != 0 {
            var rem = k
            for d in 0..<nd {
                o[row * nd + d] = Int64(rem / strides[d])
                rem %= strides[d]
            }
            row += 1
        }
        return out
    }
}

/// torch.masked_select(x, mask): the elements of `x` where the bool `mask` is true, as a
/// 1-D tensor in row-major order; `x` and `mask` broadcast together. The gradient flows
/// back to the selected elements (through expand and index_select).
public func maskedSelect(_ x: Tensor, _ mask: Tensor) throws -> Tensor {
    let op = "masked_select"
    guard mask.dtype == .bool else { throw DFMError.type(op, "expected a bool mask, got \(mask.dtype)") }
    let shape = try Shape.broadcast(x.shape, mask.shape, op: op)
    let flat = try reshape(try expand(x, to: shape), [-1])
    let positions = try nonzero(try reshape(try expand(mask, to: shape), [-1]))
    return try indexSelect(flat, dim: 0, index: positions.viewAs([positions.shape[0]]))
}

/// torch.gather(x, dim, index): out[..., j, ...] = x[..., index[..., j, ...], ...] along `dim`.
/// `index` is int64 with x's rank; every other dim is at most x's; entries lie in
/// [0, x.shape[dim]). The gradient scatter-adds back into x (repeats accumulate).
public func gather(_ x: Tensor, dim: Int, index: Tensor) throws -> Tensor {
    if x.ndim == 0 || index.ndim == 0 {
        let out = try gather(try asVector(x), dim: dim, index: try asVector(index))
        return index.ndim == 0 ? try reshape(out, []) : out
    }
    let op = "gather"
    let d = try checkIndex(index, against: x, dim: dim, op: op)
    let offsets = elementOffsets(index.shape, strides: Shape.strides(x.shape), replacing: d, with: index)
    let out = try Tensor.uninitialized(index.shape, dtype: x.dtype, op: op)
    let es = x.dtype.byteSize
    let xb = x.rawPointer
    let ob = out.rawPointer
    for p in 0..<offsets.count { (ob + p * es).copyMemory(from: xb + offsets[p] * es, byteCount: es) }
    return record(op, out, [x]) { g in
        let gx = try Tensor.zeros(x.shape, dtype: x.dtype)
        func add<S: Real>(_ gp: UnsafeMutablePointer<S>, _ gxp: UnsafeMutablePointer<S>) {
            for p in 0..<offsets.count { gxp[offsets[p]] += gp[p] }  // in order: repeated indices add deterministically
        }
        if x.dtype == .float64 { add(g.d, gx.d) } else { add(g.f, gx.f) }
        return [gx]
    }
}

/// torch.scatter(x, dim, index, src) (out of place): x with x[..., index[..., j, ...], ...] =
/// src[..., j, ...] for every position j of `index` (src may be larger than index; repeated
/// targets keep the last write, in index order). Gradients: to x where nothing was written,
/// to src by gathering.
public func scatter(_ x: Tensor, dim: Int, index: Tensor, src: Tensor) throws -> Tensor {
    try scatterCore(x, dim: dim, index: index, src: src, accumulate: false, op: "scatter")
}

/// torch.scatter_add(x, dim, index, src): like scatter, but adding into x (repeats accumulate).
public func scatterAdd(_ x: Tensor, dim: Int, index: Tensor, src: Tensor) throws -> Tensor {
    try scatterCore(x, dim: dim, index: index, src: src, accumulate: true, op: "scatter_add")
}

/// gather and scatter see a 0-dim x, index or src as a one-element vector, as torch does
/// (so `one_hot.scatter_(0, label, 1.0)` works with a 0-dim label).
private func asVector(_ t: Tensor) throws -> Tensor { t.ndim == 0 ? try reshape(t, [1]) : t }

private func scatterCore(_ x: Tensor, dim: Int, index: Tensor, src: Tensor, accumulate: Bool, op: String) throws
    -> Tensor
{
    if x.ndim == 0 || index.ndim == 0 || src.ndim == 0 {
        let out = try scatterCore(
            try asVector(x), dim: dim, index: try asVector(index), src: try asVector(src),
            accumulate: accumulate, op: op)
        return x.ndim == 0 ? try reshape(out, []) : out
    }
    return try scatterVectors(x, dim: dim, index: index, src: src, accumulate: accumulate, op: op)
}

private func scatterVectors(_ x: Tensor, dim: Int, index: Tensor, src: Tensor, accumulate: Bool, op: String) throws
    -> Tensor
{
    guard src.dtype == x.dtype else {
        throw DFMError.type(op, "Expected self.dtype to be equal to src.dtype (\(x.dtype) vs \(src.dtype))")
    }
    guard (x.dtype != .bool && x.dtype != .uint8) || !accumulate else {
        throw DFMError.type(op, "scatter_add is not implemented for \(x.dtype)")
    }
    let d = try checkIndex(index, against: x, dim: dim, op: op)
    guard src.ndim == index.ndim, zip(index.shape, src.shape).allSatisfy({ $0 <= $1 }) else {
        throw DFMError.shape(
            op, "Expected index \(index.shape) to be no larger than src \(src.shape) in every dimension")
    }
    let dst = elementOffsets(index.shape, strides: Shape.strides(x.shape), replacing: d, with: index)
    let from = elementOffsets(index.shape, strides: Shape.strides(src.shape), replacing: nil, with: index)
    let out = try x.clone()
    switch (x.dtype, accumulate) {
    case (.float32, true):
        let o = out.f
        let sp = src.f
        for p in 0..<dst.count { o[dst[p]] += sp[from[p]] }
    case (.float64, true):
        let o = out.d
        let sp = src.d
        for p in 0..<dst.count { o[dst[p]] += sp[from[p]] }
    case (.int64, true):
        let o = out.i
        let sp = src.i
        for p in 0..<dst.count { o[dst[p]] &+= sp[from[p]] }
    default:  // in index order, so a repeated target keeps the last write
        let es = x.dtype.byteSize
        let ob = out.rawPointer
        let sb = src.rawPointer
        for p in 0..<dst.count { (ob + dst[p] * es).copyMemory(from: sb + from[p] * es, byteCount: es) }
    }
    return record(op, out, [x, src]) { g in
        var gx: Tensor? = nil
        if x.requiresGrad {
            let t = try g.clone()
            let es = t.dtype.byteSize
            let tp = t.rawPointer
            // overwritten elements do not reach x
            if !accumulate { for p in dst { (tp + p * es).initializeMemory(as: UInt8.self, repeating: 0, count: es) } }
            gx = t
        }
        var gs: Tensor? = nil
        if src.requiresGrad {
            let t = try Tensor.zeros(src.shape, dtype: src.dtype)
            let es = t.dtype.byteSize
            let tp = t.rawPointer
            let gp = g.rawPointer
            for p in 0..<dst.count { (tp + from[p] * es).copyMemory(from: gp + dst[p] * es, byteCount: es) }
            gs = t
        }
        return [gx, gs]
    }
}

/// Validates an int64 `index` for gather/scatter on `x` along `dim` (same rank, every other
/// dim at most x's, entries in [0, x.shape[dim])); returns the normalised dim.
private func checkIndex(_ index: Tensor, against x: Tensor, dim: Int, op: String) throws -> Int {
    guard index.dtype == .int64 else { throw DFMError.type(op, "expected an int64 index tensor, got \(index.dtype)") }
    guard index.ndim == x.ndim else {
        throw DFMError.shape(
            op, "Index tensor must have the same number of dimensions as input tensor (\(index.ndim) vs \(x.ndim))")
    }
    let d = try Shape.dim(dim, x.ndim, op: op)
    let size = x.ndim == 0 ? 1 : x.shape[d]
    for k in 0..<x.ndim where k != d && index.shape[k] > x.shape[k] {
        throw DFMError.shape(
            op,
            "Size does not match at dimension \(k) expected index \(index.shape) to be no larger than self \(x.shape) apart from dimension \(d)"
        )
    }
    let ip = index.i
    for k in 0..<index.count where ip[k] < 0 || ip[k] >= Int64(size) {
        throw DFMError.index(op, "index \(ip[k]) is out of bounds for dimension \(d) with size \(size)")
    }
    return d
}

/// For every position of `shape` (row-major), its element offset under `strides`, with the
/// coordinate along `replacing` taken from `index` at that position instead.
private func elementOffsets(_ shape: [Int], strides: [Int], replacing d: Int?, with index: Tensor) -> [Int] {
    let nd = shape.count
    let n = shape.reduce(1, *)
    let ip = index.i
    var offsets = [Int](repeating: 0, count: n)
    offsets.withUnsafeMutableBufferPointer { o in
        Parallel.chunks(n, costPerItem: nd + 1) { r in
            for p in r {
                var rem = p
                var off = 0
                for k in stride(from: nd - 1, through: 0, by: -1) {
                    let c = rem % shape[k]
                    rem /= shape[k]
                    off += (k == d ? Int(ip[p]) : c) * strides[k]
                }
                o[p] = off
            }
        }
    }
    return offsets
}
