// sort and topk along one dimension.

/// torch.sort(x, dim, descending, stable=True): the values along `dim` in order, with their
/// int64 source indices. Ties keep their original order; NaN sorts above every number, as in
/// torch. The gradient of `values` flows back to the positions the values came from.
public func sort(_ x: Tensor, dim: Int = -1, descending: Bool = false) throws -> (values: Tensor, indices: Tensor) {
    let op = "sort"
    let d = x.ndim == 0 ? 0 : try Shape.dim(dim, x.ndim, op: op)
    let (outer, n, inner) =
        x.ndim == 0
        ? (1, 1, 1)
        : (x.shape[..<d].reduce(1, *), x.shape[d], x.shape[(d + 1)...].reduce(1, *))
    let idx = try Tensor.uninitialized(x.shape, dtype: .int64, op: op)
    let vals = try Tensor.uninitialized(x.shape, dtype: x.dtype, op: op)
    switch x.dtype {
    case .float32: sortLanes(x.f, vals.f, idx.i, outer, n, inner, descending) { $0.isNaN }
    case .float64: sortLanes(x.d, vals.d, idx.i, outer, n, inner, descending) { $0.isNaN }
    case .int64: sortLanes(x.i, vals.i, idx.i, outer, n, inner, descending) { _ in false }
    case .bool, .uint8: sortLanes(x.b, vals.b, idx.i, outer, n, inner, descending) { _ in false }
    }
    let values = record(op, vals, [x]) { g in
        let gx = try Tensor.zeros(x.shape, dtype: x.dtype)
        let es = x.dtype.byteSize
        let gp = g.rawPointer
        let gxp = gx.rawPointer
        let ip = idx.i
        Parallel.chunks(outer * inner, costPerItem: n) { r in
            for lane in r {
                let base = (lane / inner) * n * inner + lane % inner
                for j in 0..<n {
                    (gxp + (base + Int(ip[base + j * inner]) * inner) * es).copyMemory(
                        from: gp + (base + j * inner) * es, byteCount: es)
                }
            }
        }
        return [gx]
    }
    return (values, idx)
}

/// torch.topk(x, k, dim, largest, sorted=True): the k largest (or smallest) values along `dim`
/// in sorted order, with their indices; ties go to the earlier position.
public func topk(_ x: Tensor, _ k: Int, dim: Int = -1, largest: Bool = true) throws -> (values: Tensor, indices: Tensor)
{
    let d = x.ndim == 0 ? 0 : try Shape.dim(dim, x.ndim, op: "topk")
    let size = x.ndim == 0 ? 1 : x.shape[d]
    guard k >= 0, k <= size else {
        throw DFMError.shape("topk", "selected index k (\(k)) out of range for dimension \(d) of size \(size)")
    }
    let s = try sort(x, dim: d, descending: largest)
    if x.ndim == 0 { return s }
    return (try narrow(s.values, dim: d, start: 0, length: k), try narrow(s.indices, dim: d, start: 0, length: k))
}

/// Sorts every lane (the n elements at stride `inner`) of `src` into `dst`, writing the
/// permutation to `idx`. Ties break on the index, so the order is stable and deterministic.
private func sortLanes<T: Comparable>(
    _ src: UnsafeMutablePointer<T>, _ dst: UnsafeMutablePointer<T>,
    _ idx: UnsafeMutablePointer<Int64>, _ outer: Int, _ n: Int, _ inner: Int,
    _ descending: Bool, _ isNaN: @escaping (T) -> Bool
) {
    Parallel.chunks(outer * inner, costPerItem: n * 16) { r in
        var perm = [Int](repeating: 0, count: n)
        perm.withUnsafeMutableBufferPointer { p in
            for lane in r {
                let base = (lane / inner) * n * inner + lane % inner
                for j in 0..<n { p[j] = j }
                p.sort { a, b in
                    let va = src[base + a * inner]
                    let vb = src[base + b * inner]
                    let na = isNaN(va)
                    let nb = isNaN(vb)
                    if na || nb { return na && nb ? a < b : (descending ? na : nb) }
                    if va != vb { return descending ? va > vb : va < vb }
                    return a < b
                }
                for j in 0..<n {
                    dst[base + j * inner] = src[base + p[j] * inner]
                    idx[base + j * inner] = Int64(p[j])
                }
            }
        }
    }
}
