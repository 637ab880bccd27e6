/// Strided copies between tensors' memory: the one data-movement kernel behind
/// permute, narrow/slice/select, cat/stack and their backward passes. Since dfm
/// tensors are contiguous, a "strided view" exists only as (offset, strides) handed
/// to this kernel, which reads it and writes another (offset, strides) layout.
enum CopyKernels {
    /// For every index `idx` of `shape`:
    /// `dst[dstOffset + Σ idx·dstStrides] = src[srcOffset + Σ idx·srcStrides]` (offsets and strides
    /// in elements). `src` and `dst` share the dtype; callers guarantee all positions are in bounds
    /// and that distinct indices never write the same destination element.
    static func strided(
        _ shape: [Int], src: Tensor, srcOffset: Int = 0, srcStrides: [Int],
        dst: Tensor, dstOffset: Int = 0, dstStrides: [Int]
    ) {
        if shape.contains(0) { return }
        switch src.dtype {
        case .float32: run(shape, src.f + srcOffset, srcStrides, dst.f + dstOffset, dstStrides)
        case .float64: run(shape, src.d + srcOffset, srcStrides, dst.d + dstOffset, dstStrides)
        case .int64: run(shape, src.i + srcOffset, srcStrides, dst.i + dstOffset, dstStrides)
        case .bool, .uint8: run(shape, src.b + srcOffset, srcStrides, dst.b + dstOffset, dstStrides)
        }
    }

    /// Drops size-1 dimensions and merges neighbours that are contiguous in both layouts,
    /// so cat and narrow become a few long memcpy rows and permute keeps only the real axes.
    static func simplify(_ shape: [Int], _ ss: [Int], _ ds: [Int]) -> (shape: [Int], src: [Int], dst: [Int]) {
        var n: [Int] = []
        var s: [Int] = []
        var d: [Int] = []
        for k in shape.indices where shape[k] != 1 {
            if let last = n.last, s[s.count - 1] == ss[k] * shape[k], d[d.count - 1] == ds[k] * shape[k] {
                n[n.count - 1] = last * shape[k]
                s[s.count - 1] = ss[k]
                d[d.count - 1] = ds[k]
            } else {
                n.append(shape[k])
                s.append(ss[k])
                d.append(ds[k])
            }
        }
        return (n, s, d)
    }

    @inline(__always)
    private static func run<T>(
        _ shape: [Int], _ src: UnsafeMutablePointer<T>, _ srcStrides: [Int],
        _ dst: UnsafeMutablePointer<T>, _ dstStrides: [Int]
    ) {
        let (n, s, d) = simplify(shape, srcStrides, dstStrides)
        let nd = n.count
        if nd == 0 {
            dst[0] = src[0]
            return
        }
        let inner = n[nd - 1]
        let si = s[nd - 1]
        let di = d[nd - 1]
        // A transpose-like copy (destination rows contiguous, source contiguous along another
        // axis) goes through cache-sized tiles instead of striding across all of memory.
        if di == 1, si != 1, inner >= 16, let p = (0..<(nd - 1)).last(where: { s[$0] == 1 }), n[p] >= 16 {
            tiled(n, s, d, p, src, dst)
            return
        }
        let outerShape = Array(n[0..<(nd - 1)])
        let rows = outerShape.reduce(1, *)
        Parallel.chunks(rows, costPerItem: inner) { r in
            var idx = [Int](repeating: 0, count: nd - 1)
            var rem = r.lowerBound
            var so = 0
            var dof = 0
            for k in stride(from: nd - 2, through: 0, by: -1) {
                idx[k] = rem % n[k]
                rem /= n[k]
                so += idx[k] * s[k]
                dof += idx[k] * d[k]
            }
            for _ in r {
                if si == 1 && di == 1 {
                    (dst + dof).update(from: src + so, count: inner)
                } else {
                    let sp = src + so
                    let dp = dst + dof
                    for q in 0..<inner { dp[q * di] = sp[q * si] }
                }
                var k = nd - 2
                while k >= 0 {
                    idx[k] += 1
                    so += s[k]
                    dof += d[k]
                    if idx[k] < n[k] { break }
                    so -= s[k] * n[k]
                    dof -= d[k] * n[k]
                    idx[k] = 0
                    k -= 1
                }
            }
        }
    }

    /// Copy where the last axis is contiguous in `dst` and axis `p` is contiguous in `src`:
    /// 32×32 tiles over (p, last) for every index of the remaining axes.
    private static func tiled<T>(
        _ n: [Int], _ s: [Int], _ d: [Int], _ p: Int,
        _ src: UnsafeMutablePointer<T>, _ dst: UnsafeMutablePointer<T>
    ) {
        let nd = n.count
        let tile = 32
        let np = n[p]
        let nq = n[nd - 1]
        let sq = s[nd - 1]
        let dp = d[p]
        let others = (0..<(nd - 1)).filter { $0 != p }
        let oShape = others.map { n[$0] }
        let oSrc = others.map { s[$0] }
        let oDst = others.map { d[$0] }
        let outer = oShape.reduce(1, *)
        let tilesP = (np + tile - 1) / tile
        Parallel.chunks(outer * tilesP, costPerItem: tile * nq) { r in
            for w in r {
                var rem = w / tilesP
                var so = 0
                var dof = 0
                for k in stride(from: others.count - 1, through: 0, by: -1) {
                    let ix = rem % oShape[k]
                    rem /= oShape[k]
                    so += ix * oSrc[k]
                    dof += ix * oDst[k]
                }
                let p0 = (w % tilesP) * tile
                let p1 = Swift.min(np, p0 + tile)
                var q0 = 0
                while q0 < nq {
                    let q1 = Swift.min(nq, q0 + tile)
                    for pi in p0..<p1 {
                        let sRow = src + so + pi
                        let dRow = dst + dof + pi * dp
                        for q in q0..<q1 { dRow[q] = sRow[q * sq] }
                    }
                    q0 = q1
                }
            }
        }
    }
}
