// max / min / argmax / argmin, for float32, int64 and bool. As in torch, NaN counts as
// larger and smaller than everything: a reduction containing NaN returns NaN and the
// index of the first NaN. Ties go to the first occurrence.
//
// These are free functions named max/min whose first parameter is a Tensor, so
// Swift.max/Swift.min on numbers still resolve as usual everywhere.

/// torch.max(x): the largest element (0-dim). Its gradient is shared evenly among all
/// elements equal to the maximum, as in torch.
public func max(_ x: Tensor) throws -> Tensor { try extremum(x, isMax: true, op: "max") }

/// torch.min(x): the smallest element (0-dim); gradient shared evenly among ties.
public func min(_ x: Tensor) throws -> Tensor { try extremum(x, isMax: false, op: "min") }

/// torch.max(x, dim): the largest values along `dim` and their int64 indices (first occurrence).
/// The gradient of `values` flows to the chosen index.
public func max(_ x: Tensor, dim: Int, keepdim: Bool = false) throws -> (values: Tensor, indices: Tensor) {
    try extremum(x, dim: dim, keepdim: keepdim, isMax: true, op: "max")
}

/// torch.min(x, dim): the smallest values along `dim` and their int64 indices (first occurrence).
public func min(_ x: Tensor, dim: Int, keepdim: Bool = false) throws -> (values: Tensor, indices: Tensor) {
    try extremum(x, dim: dim, keepdim: keepdim, isMax: false, op: "min")
}

/// torch.argmax: int64 index of the largest element along `dim`, or into the flattened
/// tensor when `dim` is nil (keepdim then keeps every dimension as size 1).
public func argmax(_ x: Tensor, dim: Int? = nil, keepdim: Bool = false) throws -> Tensor {
    try argExtremum(x, dim: dim, keepdim: keepdim, isMax: true, op: "argmax")
}

/// torch.argmin: int64 index of the smallest element along `dim` (or over all elements).
public func argmin(_ x: Tensor, dim: Int? = nil, keepdim: Bool = false) throws -> Tensor {
    try argExtremum(x, dim: dim, keepdim: keepdim, isMax: false, op: "argmin")
}

// MARK: implementation

/// `x` seen as outer × n × inner around dimension `d` (a 0-dim tensor is 1 × 1 × 1).
private func around(_ x: Tensor, _ d: Int) -> (outer: Int, n: Int, inner: Int) {
    guard x.ndim > 0 else { return (1, 1, 1) }
    return (x.shape[..<d].reduce(1, *), x.shape[d], x.shape[(d + 1)...].reduce(1, *))
}

/// Whether `v` replaces the running best `b`: strictly better, or the first NaN.
@inline(__always)
private func beats<T: Comparable>(_ v: T, _ b: T, isMax: Bool, isNaN: (T) -> Bool) -> Bool {
    (isMax ? v > b : v < b) || (isNaN(v) && !isNaN(b))
}

/// Best value and its index along the middle axis of an outer × n × inner block, written
/// to `vals` and `idx` (outer × inner). `n` >= 1.
@inline(__always)
private func scan<T: Comparable>(
    _ p: UnsafeMutablePointer<T>, outer: Int, n: Int, inner: Int, isMax: Bool,
    isNaN: (T) -> Bool, vals: UnsafeMutablePointer<T>?, idx: UnsafeMutablePointer<Int64>
) {
    guard outer > 0, inner > 0 else { return }
    // Blocks of `inner` keep the walk over k sequential in memory for every output cell.
    let block = Swift.min(inner, 256)
    let nb = (inner + block - 1) / block
    Parallel.chunks(outer * nb, costPerItem: n * block) { r in
        let best = UnsafeMutablePointer<T>.allocate(capacity: block)
        defer { best.deallocate() }
        for w in r {
            let o = w / nb
            let i0 = (w % nb) * block
            let m = Swift.min(inner, i0 + block) - i0
            let base = p + o * n * inner + i0
            let ix = idx + o * inner + i0
            best.initialize(from: base, count: m)
            for i in 0..<m { ix[i] = 0 }
            for k in 1..<Swift.max(n, 1) {
                let row = base + k * inner
                for i in 0..<m where beats(row[i], best[i], isMax: isMax, isNaN: isNaN) {
                    best[i] = row[i]
                    ix[i] = Int64(k)
                }
            }
            if let vals { (vals + o * inner + i0).update(from: best, count: m) }
            best.deinitialize(count: m)
        }
    }
}

/// Best element of all `count` (>= 1) elements and its flat index: per-part results
/// combined in order, so the first occurrence wins whatever the thread count.
private func flatScan<T: Comparable>(
    _ p: UnsafeMutablePointer<T>, count: Int, isMax: Bool,
    isNaN: (T) -> Bool
) -> (value: T, index: Int) {
    let parts = Swift.max(1, Swift.min(Parallel.threads, count / 65_536))
    var bestIndex = [Int](repeating: 0, count: parts)
    bestIndex.withUnsafeMutableBufferPointer { bi in
        guard let out = bi.baseAddress else { return }
        Parallel.chunks(parts, costPerItem: count / parts + 1) { r in
            for q in r {
                let lo = count * q / parts
                let hi = count * (q + 1) / parts
                var b = lo
                for k in (lo + 1)..<Swift.max(hi, lo + 1) where beats(p[k], p[b], isMax: isMax, isNaN: isNaN) { b = k }
                out[q] = b
            }
        }
    }
    var b = bestIndex[0]
    for q in 1..<parts where beats(p[bestIndex[q]], p[b], isMax: isMax, isNaN: isNaN) { b = bestIndex[q] }
    return (p[b], b)
}

/// `flatScan` for `x`'s dtype: writes the value to `val` (if given) and the index to `idx[0]`.
private func flatScanTensor(_ x: Tensor, isMax: Bool, val: Tensor?, idx: Tensor) {
    switch x.dtype {
    case .float32:
        let (v, k) = flatScan(x.f, count: x.count, isMax: isMax, isNaN: { $0.isNaN })
        val?.f[0] = v
        idx.i[0] = Int64(k)
    case .float64:
        let (v, k) = flatScan(x.d, count: x.count, isMax: isMax, isNaN: { $0.isNaN })
        val?.d[0] = v
        idx.i[0] = Int64(k)
    case .int64:
        let (v, k) = flatScan(x.i, count: x.count, isMax: isMax, isNaN: { _ in false })
        val?.i[0] = v
        idx.i[0] = Int64(k)
    case .bool, .uint8:
        let (v, k) = flatScan(x.b, count: x.count, isMax: isMax, isNaN: { _ in false })
        val?.b[0] = v
        idx.i[0] = Int64(k)
    }
}

/// Runs `scan` on `x` for its dtype; `vals` (same dtype as x) may be nil.
private func scanTensor(_ x: Tensor, outer: Int, n: Int, inner: Int, isMax: Bool, vals: Tensor?, idx: Tensor) {
    switch x.dtype {
    case .float32:
        scan(x.f, outer: outer, n: n, inner: inner, isMax: isMax, isNaN: { $0.isNaN }, vals: vals?.f, idx: idx.i)
    case .float64:
        scan(x.d, outer: outer, n: n, inner: inner, isMax: isMax, isNaN: { $0.isNaN }, vals: vals?.d, idx: idx.i)
    case .int64:
        scan(x.i, outer: outer, n: n, inner: inner, isMax: isMax, isNaN: { _ in false }, vals: vals?.i, idx: idx.i)
    case .bool, .uint8:
        scan(x.b, outer: outer, n: n, inner: inner, isMax: isMax, isNaN: { _ in false }, vals: vals?.b, idx: idx.i)
    }
}

private func extremum(_ x: Tensor, isMax: Bool, op: String) throws -> Tensor {
    guard x.count > 0 else {
        throw DFMError.invalid(
            op,
            "Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument."
        )
    }
    let idx = try Tensor.uninitialized([], dtype: .int64, op: op)
    let out = try Tensor.uninitialized([], dtype: x.dtype, op: op)
    flatScanTensor(x, isMax: isMax, val: out, idx: idx)
    return record(op, out, [x]) { g in
        // torch's evenly_distribute_backward: every element equal to the result (or every NaN
        // when the result is NaN) gets g / (number of such elements).
        func run<S: Real>(_: S.Type) throws -> Tensor {
            let v = out.p(S.self)[0]
            let xp = x.p(S.self)
            let hit: (S) -> Bool = v.isNaN ? { $0.isNaN } : { $0 == v }
            var ties = 0
            for k in 0..<x.count where hit(xp[k]) { ties += 1 }
            let share = g.p(S.self)[0] / S(ties)
            let gx = try Tensor.uninitialized(x.shape, dtype: S.dtype, op: op + "_backward")
            let gp = gx.p(S.self)
            for k in 0..<x.count { gp[k] = hit(xp[k]) ? share : 0 }
            return gx
        }
        return [x.dtype == .float64 ? try run(Double.self) : try run(Float.self)]
    }
}

private func extremum(_ x: Tensor, dim: Int, keepdim: Bool, isMax: Bool, op: String) throws -> (
    values: Tensor, indices: Tensor
) {
    let d = try Shape.dim(dim, x.ndim, op: op)
    let (outer, n, inner) = around(x, d)
    guard n > 0 else {
        throw DFMError.index(op, "Expected reduction dim \(d) to have non-zero size (input shape \(x.shape))")
    }
    let shape = reducedShape(x.shape, d, keepdim: keepdim)
    let idx = try Tensor.uninitialized(shape, dtype: .int64, op: op)
    let vals = try Tensor.uninitialized(shape, dtype: x.dtype, op: op)
    scanTensor(x, outer: outer, n: n, inner: inner, isMax: isMax, vals: vals, idx: idx)
    let values = record(op, vals, [x]) { g in
        // The gradient goes to the selected index only.
        let gx = try Tensor.zeros(x.shape, dtype: x.dtype)
        let es = x.dtype.byteSize
        let gp = gx.rawPointer
        let src = g.rawPointer
        let ip = idx.i
        Parallel.chunks(outer * inner) { r in
            for c in r {
                let o = c / inner
                let i = c % inner
                (gp + ((o * n + Int(ip[c])) * inner + i) * es).copyMemory(from: src + c * es, byteCount: es)
            }
        }
        return [gx]
    }
    return (values, idx)
}

private func argExtremum(_ x: Tensor, dim: Int?, keepdim: Bool, isMax: Bool, op: String) throws -> Tensor {
    guard x.dtype != .bool else { throw DFMError.type(op, "\(op)(): does not support bool input") }
    guard let dim else {
        guard x.count > 0 else {
            throw DFMError.invalid(op, "Expected reduction dim to be specified for input.numel() == 0.")
        }
        let idx = try Tensor.uninitialized(keepdim ? x.shape.map { _ in 1 } : [], dtype: .int64, op: op)
        flatScanTensor(x, isMax: isMax, val: nil, idx: idx)
        return idx
    }
    let d = try Shape.dim(dim, x.ndim, op: op)
    let (outer, n, inner) = around(x, d)
    guard n > 0 else {
        throw DFMError.index(op, "Expected reduction dim \(d) to have non-zero size (input shape \(x.shape))")
    }
    let idx = try Tensor.uninitialized(reducedShape(x.shape, d, keepdim: keepdim), dtype: .int64, op: op)
    scanTensor(x, outer: outer, n: n, inner: inner, isMax: isMax, vals: nil, idx: idx)
    return idx
}

private func reducedShape(_ shape: [Int], _ d: Int, keepdim: Bool) -> [Int] {
    guard !shape.isEmpty else { return [] }
    var s = shape
    if keepdim { s[d] = 1 } else { s.remove(at: d) }
    return s
}
