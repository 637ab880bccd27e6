import CKernels
import Foundation

/// Geometry of one 2-D convolution, validated by `conv2d` before any kernel runs.
/// Padding may be asymmetric (torch's 'same' with an even effective kernel pads one
/// more on the bottom/right); `ph`/`pw` are the top/left amounts.
struct ConvGeom {
    var n, c, h, w: Int  // input
    var o, kh, kw: Int  // weight (o, c / groups, kh, kw)
    var sh, sw, ph, pw, dh, dw: Int
    var oh, ow: Int
    var groups: Int
    /// The taps (i·kw + j) the GEMM path multiplies: nil for all of them, else (small planes,
    /// see `pruned()`) only those that read some non-padding input.
    var live: [Int]? = nil

    var cg: Int { c / groups }
    var og: Int { o / groups }
    var l: Int { oh * ow }
    /// GEMM depth of one group: one row of the unfolded input per (channel, tap).
    var kg: Int { cg * kh * kw }
    /// Taps in the GEMM, and its depth per group with dead taps dropped.
    var ntaps: Int { live?.count ?? kh * kw }
    var kgLive: Int { cg * ntaps }

    /// Test hook: turns tap pruning off.
    nonisolated(unsafe) static var pruneDeadTaps = true
    /// Test hook: float32 convs through im2col and OpenBLAS instead of the gathered GEMM.
    nonisolated(unsafe) static var gatheredGemm = true
    /// Fewest (sample, position) rows for the gathered weight gradient to run tap by tap: below,
    /// its (o, tap, c) -> (o, c, tap) reorder costs more than its GEMMs save (512 channels on a
    /// 2×2 plane, 8 samples: 2.3 against 1.6 ms; 32 samples: 4.5 against 6.9).
    nonisolated(unsafe) static var byTapMinRows = 64
    /// Floats of the tap-by-tap weight gradient's result held at once (2 MB).
    nonisolated(unsafe) static var byTapBudget = 1 << 19

    /// The conv runs on CKernels' gathered GEMM, which packs its panels straight from the tensor
    /// through the tap map, so the unfolded matrix is never written and read back (W3: im2col plus
    /// OpenBLAS's packing of it were a third of the time): the forward and the weight gradient
    /// gather from x, the input gradient (stride 1) from the output gradient through the inverse
    /// map (no col2im). Float32, one group, not pointwise (x itself is that GEMM's operand), outputs
    /// narrower than 32 (W2 with its 16×16 planes gathered: 660-690 against 722-731 ms per step;
    /// 64 gave nothing more, W5 and W6 unchanged), CPUs with hardware FMA, offsets within int32.
    /// Not dilated: DeepLabV3+'s dilated encoder and ASPP convs ran 6% slower gathered (W5 133
    /// against 142 ms over 4 alternated rounds) and their cached packed weights cost 62 MB of
    /// peak memory (315 against 377 MB).
    func gathers<S>(_: S.Type) -> Bool {
        S.self == Float.self && ConvGeom.gatheredGemm && groups == 1 && !isPointwise && dh == 1 && dw == 1
            && ow < 32 && dfmk_gg_fast() != 0
            && n * max(c * h * w, o * oh * ow) < Int(Int32.max)
    }

    /// This geometry with `live` set when some taps only ever read padding: with 3×3/pad 1 at
    /// 1×1 spatial (ResNet's layer4 on 32×32 inputs) 8 of the 9 taps multiply zeros, a 9× waste
    /// of FLOPs. Only on the tap-map path (narrow planes), the one place dead taps occur.
    func pruned() -> ConvGeom {
        guard ConvGeom.pruneDeadTaps, groups == 1, usesTapMap else { return self }
        var taps: [Int] = []
        for i in 0..<kh {
            let rowLive = (0..<oh).contains {
                let ih = $0 * sh - ph + i * dh
                return ih >= 0 && ih < h
            }
            for j in 0..<kw {
                let colLive = (0..<ow).contains {
                    let iw = $0 * sw - pw + j * dw
                    return iw >= 0 && iw < w
                }
                if rowLive && colLive { taps.append(i * kw + j) }
            }
        }
        guard taps.count < kh * kw, !taps.isEmpty else { return self }
        var g = self
        g.live = taps
        return g
    }
    var isDepthwise: Bool { groups > 1 && groups == c }
    /// 1×1, stride 1, no padding: the unfolded input is the input itself.
    var isPointwise: Bool { kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && oh == h && ow == w }

    /// Narrow outputs unfold through a precomputed tap map (see ConvKernels.tapMap); the
    /// planes are small, so offsets fit Int32.
    var usesTapMap: Bool { ow < ConvGeom.tapMapMaxWidth && !isPointwise && h * w < Int(Int32.max) }
    /// Output widths below this use the tap map (tests move it to cover both paths).
    nonisolated(unsafe) static var tapMapMaxWidth = 12

    /// Output columns [ow0, ow1) whose input column `ow*sw + off` lies inside 0..<w.
    @inline(__always)
    func validCols(_ off: Int) -> (Int, Int) {
        let lo = off < 0 ? min(ow, (-off + sw - 1) / sw) : 0
        let hiRaw = w - off <= 0 ? 0 : (w - off + sw - 1) / sw
        return (lo, max(lo, min(ow, hiRaw)))
    }

    /// Floats in one unfolded chunk (16 MB): large enough for wide GEMMs, small enough to
    /// stay mostly in cache between im2col and the GEMM that reads it.
    nonisolated(unsafe) static var colsBudget = 1 << 22
    /// Smallest plane (oh·ow) at which pointwise convs run sample by sample.
    nonisolated(unsafe) static var pointwiseDirectMinPlane = 256

    /// Samples per im2col chunk: the unfolded buffer stays under `colsBudget`, while each
    /// chunk still spans many samples so small-spatial layers get wide GEMMs. Chunks are balanced.
    var samplesPerChunk: Int {
        // Pointwise convs on planes this large already give GEMMs wide enough one sample at a
        // time; per sample they read x and write out in place, skipping the two layout copies.
        if isPointwise && l >= ConvGeom.pointwiseDirectMinPlane { return 1 }
        let per = max(1, c * ntaps * l)
        let fit = max(1, min(n, ConvGeom.colsBudget / per))
        let chunks = (n + fit - 1) / max(fit, 1)
        return max(1, (n + chunks - 1) / max(chunks, 1))
    }
}

/// Convolution kernels: im2col + one sgemm per group over a whole chunk of the batch
/// (columns are (sample, oh, ow)), col2im for the input gradient, and direct loops for
/// depthwise convolutions, where GEMMs would be degenerate.
enum ConvKernels {
    // MARK: unfolding

    /// cols[(ch·kh + i)·kw + j][nn·L + oh·ow + ow] = x[n0 + nn][ch][ih][iw] (0 outside); with
    /// pruned taps, rows are (ch, t) over the live taps only.
    static func im2col<S: Real>(_ x: UnsafePointer<S>, _ g: ConvGeom, n0: Int, nb: Int, _ cols: UnsafeMutablePointer<S>)
    {
        let rows = g.c * g.ntaps
        let ncol = nb * g.l
        let hw = g.h * g.w
        if g.isPointwise {
            Parallel.chunks(rows, costPerItem: ncol) { r in
                for ch in r {
                    for nn in 0..<nb {
                        (cols + ch * ncol + nn * hw).update(from: x + ((n0 + nn) * g.c + ch) * hw, count: hw)
                    }
                }
            }
            return
        }
        if g.usesTapMap {
            let taps = g.ntaps
            let l = g.l
            let live = g.live
            let map = tapMap(g)
            defer { map.deallocate() }
            Parallel.chunks(rows, costPerItem: ncol) { r in
                for row in r {
                    let t = row % taps
                    let tap = live?[t] ?? t
                    let ch = row / taps
                    let m = map + tap * l
                    let dst = cols + row * ncol
                    if S.self == Float.self {
                        dfmk_im2col_taps_f32(
                            f32(x + (n0 * g.c + ch) * hw), g.c * hw, m, f32(dst), l, nb)
                        continue
                    }
                    for nn in 0..<nb {
                        let src = x + ((n0 + nn) * g.c + ch) * hw
                        let d = dst + nn * l
                        for q in 0..<l {
                            let k = Int(m[q])
                            d[q] = k >= 0 ? src[k] : 0
                        }
                    }
                }
            }
            return
        }
        Parallel.chunks(rows, costPerItem: ncol) { r in
            for row in r {
                let ch = row / (g.kh * g.kw)
                let i = (row / g.kw) % g.kh
                let j = row % g.kw
                let off = j * g.dw - g.pw
                let (ow0, ow1) = g.validCols(off)
                let dst = cols + row * ncol
                for nn in 0..<nb {
                    let src = x + ((n0 + nn) * g.c + ch) * hw
                    for oy in 0..<g.oh {
                        let d = dst + nn * g.l + oy * g.ow
                        let ih = oy * g.sh - g.ph + i * g.dh
                        if ih < 0 || ih >= g.h || ow0 == ow1 {
                            d.update(repeating: 0, count: g.ow)
                            continue
                        }
                        let srow = src + ih * g.w + off
                        if ow0 > 0 { d.update(repeating: 0, count: ow0) }
                        if g.sw == 1 {
                            (d + ow0).update(from: srow + ow0, count: ow1 - ow0)
                        } else {
                            let s = g.sw
                            for ox in ow0..<ow1 { d[ox] = srow[ox * s] }
                        }
                        if ow1 < g.ow { (d + ow1).update(repeating: 0, count: g.ow - ow1) }
                    }
                }
            }
        }
    }

    /// The adjoint of im2col: dx[n0 + nn] (zeroed here) accumulates every column entry
    /// at the input position it was read from. One task per (sample, channel) plane.
    static func col2im<S: Real>(
        _ cols: UnsafePointer<S>, _ g: ConvGeom, n0: Int, nb: Int, _ dx: UnsafeMutablePointer<S>
    ) {
        let ncol = nb * g.l
        let hw = g.h * g.w
        let taps = g.ntaps
        let l = g.l
        let live = g.live
        let map = g.usesTapMap ? tapMap(g) : nil
        defer { map?.deallocate() }
        // float32: each input element gathers its taps' values (no scatter, so it vectorises).
        let inverse = map != nil && S.self == Float.self ? inverseTapMap(g, map!) : nil
        defer { inverse?.deallocate() }
        let liveTaps = inverse != nil ? live?.map(Int32.init) : nil
        Parallel.chunks(nb * g.c, costPerItem: taps * l) { r in
            for plane in r {
                let nn = plane / g.c
                let ch = plane % g.c
                let dst = dx + ((n0 + nn) * g.c + ch) * hw
                if g.isPointwise {
                    dst.update(from: cols + ch * ncol + nn * hw, count: hw)
                    continue
                }
                if let inverse {
                    dfmk_col2im_taps_f32(
                        f32(cols + ch * taps * ncol + nn * l), ncol, inverse, liveTaps, taps, f32(dst), hw)
                    continue
                }
                dst.update(repeating: 0, count: hw)
                if let map {
                    for t in 0..<taps {
                        let s = cols + (ch * taps + t) * ncol + nn * l
                        let m = map + (live?[t] ?? t) * l
                        for q in 0..<l {
                            let k = Int(m[q])
                            if k >= 0 { dst[k] += s[q] }
                        }
                    }
                    continue
                }
                for i in 0..<g.kh {
                    for j in 0..<g.kw {
                        let src = cols + ((ch * g.kh + i) * g.kw + j) * ncol + nn * g.l
                        let off = j * g.dw - g.pw
                        let (ow0, ow1) = g.validCols(off)
                        if ow0 == ow1 { continue }
                        for oy in 0..<g.oh {
                            let ih = oy * g.sh - g.ph + i * g.dh
                            if ih < 0 || ih >= g.h { continue }
                            let drow = dst + ih * g.w + off
                            let s = src + oy * g.ow
                            if g.sw == 1 {
                                for ox in ow0..<ow1 { drow[ox] += s[ox] }
                            } else {
                                let st = g.sw
                                for ox in ow0..<ow1 { drow[ox * st] += s[ox] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The tap map turned around: at inv[t·H·W + k], the output position q whose tap t reads input
    /// element k, or -1 (for a fixed tap, distinct outputs read distinct inputs).
    static func inverseTapMap(_ g: ConvGeom, _ map: UnsafeMutablePointer<Int32>) -> UnsafeMutablePointer<Int32> {
        let hw = g.h * g.w
        let taps = g.kh * g.kw
        let inv = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, taps * hw))
        inv.initialize(repeating: -1, count: max(1, taps * hw))
        for t in 0..<taps {
            for q in 0..<g.l {
                let k = Int(map[t * g.l + q])
                if k >= 0 { inv[t * hw + k] = Int32(q) }
            }
        }
        return inv
    }

    /// For small output planes, where per-row loops are all overhead: the plane offset that
    /// tap t reads for output position q, at map[t·L + q], or -1 where it reads padding.
    static func tapMap(_ g: ConvGeom) -> UnsafeMutablePointer<Int32> {
        let l = g.l
        let map = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, g.kh * g.kw * l))
        for i in 0..<g.kh {
            for j in 0..<g.kw {
                let m = map + (i * g.kw + j) * l
                for oy in 0..<g.oh {
                    let ih = oy * g.sh - g.ph + i * g.dh
                    for ox in 0..<g.ow {
                        let iw = ox * g.sw - g.pw + j * g.dw
                        m[oy * g.ow + ox] = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? Int32(ih * g.w + iw) : -1
                    }
                }
            }
        }
        return map
    }

    /// A small plane's positions grouped by the taps that read inside the input there, for the
    /// gathered GEMM to skip the (position, tap) pairs that only read padding: with 3×3/pad 1 on a
    /// 2×2 plane 5 of every 9 products are zeros, on 4×4 31%. Built when the share of the work
    /// skipped, counted in whole tile-wide panels of columns (samples × the group's positions), is at
    /// least `minSkipped`: 8×8 planes skip 16%, and the narrow GEMMs of their border groups cost more
    /// than that saves; with 8 samples a 2×2 plane's groups would fill a quarter of their panels.
    struct TapGroups {
        struct Group {
            /// Rows of the map the group reads, their map rows for its positions (taps × positions),
            /// and the positions in the plane.
            var taps: [Int32], map: [Int32], positions: [Int32]
        }
        var groups: [Group]
        nonisolated(unsafe) static var minSkipped = 0.25

        /// `map`: `taps` rows of `plane` offsets, -1 where the tap reads padding, for `samples`.
        /// A group with no taps holds the positions no tap reaches (a strided conv's input gradient):
        /// they get zeros, or the bias.
        init?(_ map: UnsafePointer<Int32>?, taps: Int, plane: Int, samples: Int) {
            guard let map, taps <= 64, plane > 1 else { return nil }
            var masks = [UInt64](repeating: 0, count: plane)
            for t in 0..<taps {
                for q in 0..<plane where map[t * plane + q] >= 0 { masks[q] |= 1 << t }
            }
            var order: [UInt64] = []
            var members: [UInt64: [Int32]] = [:]
            for q in 0..<plane {
                if members[masks[q]] == nil { order.append(masks[q]) }
                members[masks[q], default: []].append(Int32(q))
            }
            let nr = dfmk_gg_nr()
            let panels = { (positions: Int) in Double((samples * positions + nr - 1) / nr) }
            let work = order.reduce(0) { $0 + panels(members[$1]!.count) * Double($1.nonzeroBitCount) }
            guard work <= (1 - TapGroups.minSkipped) * panels(plane) * Double(taps) else { return nil }
            groups = order.map { mask in
                let positions = members[mask]!
                let rows = (0..<taps).filter { mask >> $0 & 1 != 0 }
                let gmap = rows.flatMap { t in positions.map { map[t * plane + Int($0)] } }
                return Group(taps: rows.map(Int32.init), map: gmap, positions: positions)
            }
        }
    }

    // MARK: GEMM path

    /// Runs `body` with the weight as (o, c·ntaps) holding only the live taps' columns (the
    /// full weight when no tap is pruned). A leaf `owner` (a parameter) inside a
    /// `LiveWeightCache.scope` is gathered once per scope; otherwise into scratch per call.
    static func withLiveWeight<S: Real, R>(
        _ wt: UnsafePointer<S>, _ g: ConvGeom, owner: Tensor?, _ op: String,
        _ body: (UnsafePointer<S>) throws -> R
    ) throws -> R {
        guard g.live != nil else { return try body(wt) }
        if let owner, owner.isLeaf,
            let cached = try LiveWeightCache.current.lookup(owner, wt, g, build: { gatherLive(wt, g, into: $0) })
        {
            return try body(cached)
        }
        let buf = try ScratchPool.shared.take(g.o * g.c * (g.live?.count ?? 0), op, as: S.self)
        defer { ScratchPool.shared.give(buf) }
        gatherLive(wt, g, into: buf.ptr)
        return try body(buf.ptr)
    }

    /// Copies the live taps' columns of the weight (o·c rows of kh·kw taps) into d (o·c rows of nt).
    static func gatherLive<S: Real>(_ wt: UnsafePointer<S>, _ g: ConvGeom, into d: UnsafeMutablePointer<S>) {
        let live = g.live ?? []
        let nt = live.count
        let taps = g.kh * g.kw
        // A strided gather over the whole weight (memory-bound): unsafe buffers, no Array access
        // in the inner loop, and the single live tap (1×1 planes) as a plain strided copy.
        live.withUnsafeBufferPointer { lv in
            Parallel.chunks(g.o * g.c, costPerItem: taps) { r in
                if nt == 1 {
                    let src = wt + lv[0]
                    for row in r { d[row] = src[row * taps] }
                    return
                }
                for row in r {
                    let s = wt + row * taps
                    let o = d + row * nt
                    for t in 0..<nt { o[t] = s[lv[t]] }
                }
            }
        }
    }

    /// Runs `body` with the scratch both passes use for a chunk of up to `g.samplesPerChunk`
    /// samples: im2col columns (nil when a pointwise conv of single samples reads x in place)
    /// and an (o, nb·l) staging block (nil for single-sample chunks, whose (o, l) block is
    /// already in NCHW order). Both go back to the pool afterwards.
    private static func withChunkScratch<S: Real>(
        _ g: ConvGeom, _ op: String, _: S.Type,
        _ body: (_ cols: UnsafeMutablePointer<S>?, _ staging: UnsafeMutablePointer<S>?) throws -> Void
    ) throws {
        let nbMax = g.samplesPerChunk
        let colsBuf =
            g.isPointwise && nbMax == 1 ? nil : try ScratchPool.shared.take(g.c * g.ntaps * nbMax * g.l, op, as: S.self)
        defer { colsBuf.map { ScratchPool.shared.give($0) } }
        let stagingBuf = nbMax == 1 ? nil : try ScratchPool.shared.take(g.o * nbMax * g.l, op, as: S.self)
        defer { stagingBuf.map { ScratchPool.shared.give($0) } }
        try body(colsBuf?.ptr, stagingBuf?.ptr)
    }

    /// The GEMM operand for samples n0..<n0+nb: their im2col columns, or x itself when there are none.
    @inline(__always)
    private static func columns<S: Real>(
        _ x: UnsafePointer<S>, _ g: ConvGeom, n0: Int, nb: Int,
        _ cols: UnsafeMutablePointer<S>?
    ) -> UnsafePointer<S> {
        guard let cols else { return x + n0 * g.c * g.l }
        im2col(x, g, n0: n0, nb: nb, cols)
        return UnsafePointer(cols)
    }

    /// out (n, o, oh, ow) = conv(x, w) + bias.
    static func forward<S: Real>(
        _ x: UnsafePointer<S>, _ wtFull: UnsafePointer<S>, _ bias: UnsafePointer<S>?,
        _ g: ConvGeom, _ out: UnsafeMutablePointer<S>, weightOwner: Tensor? = nil
    ) throws {
        if g.isDepthwise {
            depthwiseForward(x, wtFull, bias, g, out)
            return
        }
        if g.gathers(S.self) {
            try withPackedWeight(f32(wtFull), g, owner: weightOwner) { pa in
                try forwardGathered(f32(x), pa, bias.map { f32($0) }, g, f32(out))
            }
            return
        }
        try withLiveWeight(wtFull, g, owner: weightOwner, "conv2d") { wt in
            try forwardGemm(x, wt, bias, g, out)
        }
    }

    /// The tap map's rows for the live taps only (all rows when none is pruned).
    static func liveTapMap(_ g: ConvGeom) -> UnsafeMutablePointer<Int32> { liveRows(tapMap(g), g, length: g.l) }

    /// The rows of the live taps, in the weight's tap order, of a per-tap table (one row of
    /// `length` per tap), which this takes over: the table itself when no tap is pruned.
    static func liveRows(_ table: UnsafeMutablePointer<Int32>, _ g: ConvGeom, length: Int) -> UnsafeMutablePointer<
        Int32
    > {
        guard let live = g.live else { return table }
        let m = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, live.count * length))
        for (t, tap) in live.enumerated() { (m + t * length).update(from: table + tap * length, count: length) }
        table.deallocate()
        return m
    }

    /// Runs `body` with the live weight packed for the gathered GEMM. Like the live weight, a leaf
    /// `owner` inside a `LiveWeightCache.scope` is packed once per scope (W1's layer3 weights are
    /// 2.4 MB: packing them at every feedback step cost as much as the GEMM on the 1×1 planes).
    /// With `transposed`, the input gradient's A instead: (c, o·ntaps), A[ch][oc·nt + t] = W[oc][ch][live t].
    static func withPackedWeight<R>(
        _ wt: UnsafePointer<Float>, _ g: ConvGeom, owner: Tensor?, transposed: Bool = false,
        _ body: (UnsafePointer<Float>) throws -> R
    ) throws -> R {
        let m = transposed ? g.c : g.o
        let k = transposed ? g.o * g.ntaps : g.kgLive
        let size = dfmk_gg_packed_a_size(m, k)
        // Packed straight from the (o, c, kh, kw) weight, panels over the threads: row oc and
        // column (ch, t), or transposed row ch and column (oc, t), hold W[oc][ch][live t].
        let mr = dfmk_gg_mr()
        let live = (g.live ?? Array(0..<(g.kh * g.kw))).map(Int32.init)
        let pack = { (pa: UnsafeMutablePointer<Float>) in
            Parallel.chunks((m + mr - 1) / mr, costPerItem: mr * k) { r in
                let r0 = r.lowerBound * mr
                dfmk_gg_pack_w_f32(
                    wt, transposed ? 1 : g.c, transposed ? g.c : 1, transposed ? g.o : g.c, g.kh * g.kw, live,
                    live.count, r0, min(m, r.upperBound * mr) - r0, k, pa)
            }
        }
        let packing = (Int(dfmk_level()) * 1000 + dfmk_gg_mr()) * (transposed ? -1 : 1)
        if let owner, owner.isLeaf,
            let cached = try LiveWeightCache.current.lookup(owner, wt, g, packing: packing, count: size, build: pack)
        {
            return try body(cached)
        }
        let pa = try ScratchPool.shared.take(size, "conv2d", as: Float.self)
        defer { ScratchPool.shared.give(pa) }
        pack(pa.ptr)
        return try body(pa.ptr)
    }

    /// forward through the gathered GEMM (`ConvGeom.gathers`): C (o, n·l) = W_live · B, B gathered
    /// from x, then to (n, o, l) with the bias as the im2col path does. `pa`: `withPackedWeight`.
    private static func forwardGathered(
        _ x: UnsafePointer<Float>, _ pa: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, _ g: ConvGeom,
        _ out: UnsafeMutablePointer<Float>
    ) throws {
        let map = liveTapMap(g)
        defer { map.deallocate() }
        let src = dfmk_gather(
            x: x, sample_stride: g.c * g.h * g.w, plane_stride: g.h * g.w, plane: g.l, map: map, ntaps: g.ntaps,
            transposed: 0)
        try gatheredBatches(
            pa, rows: g.o, k: g.kgLive, src, n: g.n, l: g.l, bias: bias, out, "conv2d",
            groups: TapGroups(map, taps: g.ntaps, plane: g.l, samples: g.n))
    }

    /// out (n, rows, l) = A · B for the whole batch, in chunks of samples whose (rows, nb·l) staging
    /// stays within `ConvGeom.colsBudget` floats, as the im2col path bounds its scratch; a chunk of
    /// one sample writes its (rows, l) block of out directly. `src.x` is the first sample's; the
    /// bias, if any, is added on the way out.
    /// On a plane where many (position, tap) pairs read padding (`TapGroups`), one GEMM per group
    /// of positions over the taps they read, scattered into out: the skipped products were zeros.
    private static func gatheredBatches(
        _ pa: UnsafePointer<Float>, rows: Int, k: Int, _ src: dfmk_gather, n: Int, l: Int,
        bias: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>, _ op: String, groups: TapGroups?
    ) throws {
        guard n > 0 else { return }
        guard let groups else {
            try gatheredBatches(pa, rows: rows, ka: k, arows: nil, k: k, src, n: n, positions: nil, l: l, bias, out, op)
            return
        }
        let outer = k / src.ntaps
        for grp in groups.groups where grp.taps.isEmpty {
            Parallel.chunks(n * rows, costPerItem: 4 * grp.positions.count) { r in
                for p in r {
                    let d = out + p * l
                    let bv = bias?[p % rows] ?? 0
                    for q in grp.positions { d[Int(q)] = bv }
                }
            }
        }
        for grp in groups.groups where !grp.taps.isEmpty {
            // B's row (ch, t) of the group multiplies A's column (ch, taps[t]).
            let arows = (0..<outer).flatMap { ch in grp.taps.map { Int32(ch * src.ntaps) + $0 } }
            var gsrc = src
            gsrc.ntaps = grp.taps.count
            gsrc.plane = grp.positions.count
            try grp.map.withUnsafeBufferPointer { map in
                gsrc.map = map.baseAddress
                try arows.withUnsafeBufferPointer { ar in
                    try grp.positions.withUnsafeBufferPointer { pos in
                        try gatheredBatches(
                            pa, rows: rows, ka: k, arows: ar.baseAddress, k: arows.count, gsrc, n: n, positions: pos,
                            l: l, bias, out, op)
                    }
                }
            }
        }
    }

    /// The chunked GEMMs of `gatheredBatches` for the positions `src` gathers (`src.plane` of them,
    /// at `positions` in out's plane of l; nil: all of it, in order).
    private static func gatheredBatches(
        _ pa: UnsafePointer<Float>, rows: Int, ka: Int, arows: UnsafePointer<Int32>?, k: Int, _ src: dfmk_gather,
        n: Int,
        positions: UnsafeBufferPointer<Int32>?, l: Int, _ bias: UnsafePointer<Float>?,
        _ out: UnsafeMutablePointer<Float>, _ op: String
    ) throws {
        let lg = src.plane
        let fit = max(1, min(n, ConvGeom.colsBudget / max(1, rows * lg)))
        let chunks = (n + fit - 1) / fit
        let nbMax = (n + chunks - 1) / chunks
        let direct = nbMax == 1 && positions == nil
        let staging = direct ? nil : try ScratchPool.shared.take(rows * nbMax * lg, op, as: Float.self)
        defer { staging.map { ScratchPool.shared.give($0) } }
        var chunk = src
        var n0 = 0
        while n0 < n {
            let nb = min(nbMax, n - n0)
            chunk.x = src.x + n0 * src.sample_stride
            try gatheredGemm(
                pa, m: rows, ka: ka, arows: arows, k: k, &chunk, ncol: nb * lg, staging?.ptr ?? out + n0 * rows * l)
            if let positions, let staging {
                unstage(staging.ptr, bias, rows: rows, positions: positions, l: l, n0: n0, nb: nb, out)
            } else {
                unstage(staging?.ptr, bias, rows: rows, l: l, n0: n0, nb: nb, out)
            }
            n0 += nb
        }
    }

    /// The input gradient through the gathered GEMM: dx (c, n·hw) = A · B with A = W arranged as
    /// (c, o·ntaps) (`withPackedWeight(transposed:)`) and B[(oc, t)][(n, p)] = gy[n][oc][q], q the
    /// output position whose tap t read input p (the inverse tap map; 0 if none). col2im's fold is
    /// the packing's gather; each element is one chain over (oc, live tap) in order.
    /// Strided convs only when their input positions are grouped by the taps that read them
    /// (`TapGroups`; false: left to col2im): each tap reaches a 1/stride² share of the input, so
    /// one GEMM over all of it would multiply mostly zeros (a 1×1/2 downsample's ran 1.7× slower).
    private static func inputGradGathered(
        _ wt: UnsafePointer<Float>, _ gy: UnsafePointer<Float>, _ g: ConvGeom, _ dx: UnsafeMutablePointer<Float>,
        owner: Tensor?
    ) throws -> Bool {
        let hw = g.h * g.w
        let full = tapMap(g)
        let inv = liveRows(inverseTapMap(g, full), g, length: hw)
        full.deallocate()
        defer { inv.deallocate() }
        let groups = TapGroups(inv, taps: g.ntaps, plane: hw, samples: g.n)
        if groups == nil && (g.sh != 1 || g.sw != 1) { return false }
        let src = dfmk_gather(
            x: gy, sample_stride: g.o * g.l, plane_stride: g.l, plane: hw, map: inv, ntaps: g.ntaps, transposed: 0)
        try withPackedWeight(wt, g, owner: owner, transposed: true) { pa in
            try gatheredBatches(
                pa, rows: g.c, k: g.o * g.ntaps, src, n: g.n, l: hw, bias: nil, dx, "conv2d_backward", groups: groups)
        }
        return true
    }

    /// The weight gradient through the gathered GEMM: dW_live (o, c·ntaps) = A · B with A = gy as
    /// (o, n·l) (packed straight from NCHW) and B[(n, q)][(ch, t)] = x[n][ch][map_t[q]], the im2col
    /// matrix transposed, gathered and never written out. `accumulate` adds the finished gradient
    /// into dw (sum + contribution, as the engine adds, so checkpointed steps give the same bits);
    /// pruned taps go through live-layout scratch and `scatterLive`.
    private static func weightGradGathered(
        _ x: UnsafePointer<Float>, _ gy: UnsafePointer<Float>, _ g: ConvGeom, _ dwFull: UnsafeMutablePointer<Float>,
        accumulate: Bool
    ) throws {
        let k = g.n * g.l
        let ncol = g.c * g.ntaps
        let pa = try ScratchPool.shared.take(dfmk_gg_packed_a_size(g.o, k), "conv2d_backward", as: Float.self)
        defer { ScratchPool.shared.give(pa) }
        // A = gy as (o, n·l), panels over the threads.
        let mr = dfmk_gg_mr()
        Parallel.chunks((g.o + mr - 1) / mr, costPerItem: mr * k) { r in
            let r0 = r.lowerBound * mr
            dfmk_gg_pack_a_f32(gy + r0 * g.l, g.l, g.l, g.o * g.l, min(g.o, r.upperBound * mr) - r0, k, pa.ptr + r0 * k)
        }
        let map = liveTapMap(g)
        defer { map.deallocate() }
        let direct = g.live == nil && !accumulate
        let dwl = direct ? nil : try ScratchPool.shared.take(g.o * ncol, "conv2d_backward", as: Float.self)
        defer { dwl.map { ScratchPool.shared.give($0) } }
        if g.c % dfmk_gg_nr() == 0 && g.n * g.l >= ConvGeom.byTapMinRows {
            try weightGradByTap(x, pa.ptr, map, g, dwl?.ptr ?? dwFull)
        } else {
            var src = dfmk_gather(
                x: x, sample_stride: g.c * g.h * g.w, plane_stride: g.h * g.w, plane: g.l, map: map, ntaps: g.ntaps,
                transposed: 1)
            try gatheredGemm(pa.ptr, m: g.o, k: k, &src, ncol: ncol, dwl?.ptr ?? dwFull)
        }
        guard let dwl else { return }
        if g.live != nil {
            scatterLive(UnsafePointer(dwl.ptr), g, dwFull, accumulate: accumulate)
            return
        }
        let d = dwl.ptr
        Parallel.chunks(g.o * ncol) { r in for i in r { dwFull[i] += d[i] } }
    }

    /// `weightGradGathered` one tap at a time, on x channels-last: for tap t, dW[:, :, t] (o, c) =
    /// gy (o, rows) · X_t with rows the (sample, position) pairs whose tap t reads inside x (the
    /// rest multiply padding; A's columns picked by `arows`), and X_t's row a run of c channels, so
    /// B is packed with masked loads instead of two gathers per 16 floats (W1's weight gradients
    /// were 43% of its gathered-GEMM time). Each element is the chain of the one-GEMM form without
    /// its zero products. Into dw (o, c·ntaps), fully written.
    private static func weightGradByTap(
        _ x: UnsafePointer<Float>, _ pa: UnsafePointer<Float>, _ map: UnsafePointer<Int32>, _ g: ConvGeom,
        _ dw: UnsafeMutablePointer<Float>
    ) throws {
        let hw = g.h * g.w
        let nt = g.ntaps
        let ka = g.n * g.l
        // Output rows in blocks whose (rows, tap, c) result stays within `byTapBudget` floats (512
        // channels on a 2×2 plane in one piece: 9.4 MB, which raised W2's peak memory).
        let mr = dfmk_gg_mr()
        let block = max(mr, min(g.o, ConvGeom.byTapBudget / (nt * g.c)) / mr * mr)
        let xt = try ScratchPool.shared.take(g.n * hw * g.c, "conv2d_backward", as: Float.self)
        defer { ScratchPool.shared.give(xt) }
        let byTap = try ScratchPool.shared.take(block * nt * g.c, "conv2d_backward", as: Float.self)
        defer { ScratchPool.shared.give(byTap) }
        Parallel.chunks(g.n * g.c, costPerItem: hw) { r in
            for p in r {
                let (nn, ch) = p.quotientAndRemainder(dividingBy: g.c)
                let s = x + p * hw
                let d = xt.ptr + nn * hw * g.c + ch
                for q in 0..<hw { d[q * g.c] = s[q] }
            }
        }
        // Per tap: the positions it reads inside x, their offsets in xt, and A's columns for them.
        let positions = (0..<nt).map { t in (0..<g.l).filter { map[t * g.l + $0] >= 0 } }
        let offsets = (0..<nt).map { t in positions[t].map { map[t * g.l + $0] * Int32(g.c) } }
        let arows = positions.map { ps in (0..<g.n).flatMap { nn in ps.map { Int32(nn * g.l + $0) } } }
        for r0 in stride(from: 0, to: g.o, by: block) {
            let rows = min(block, g.o - r0)
            for t in 0..<nt {
                let c = byTap.ptr + t * g.c
                guard !positions[t].isEmpty else {
                    for oc in 0..<rows { (c + oc * nt * g.c).update(repeating: 0, count: g.c) }
                    continue
                }
                try offsets[t].withUnsafeBufferPointer { off in
                    var src = dfmk_gather(
                        x: xt.ptr, sample_stride: hw * g.c, plane_stride: 1, plane: positions[t].count,
                        map: off.baseAddress, ntaps: 1, transposed: 1)
                    try gatheredGemm(
                        pa + r0 * ka, m: rows, ka: ka, arows: arows[t], k: arows[t].count, &src, ncol: g.c, c,
                        ldc: nt * g.c)
                }
            }
            // (rows, t, c) -> dw's rows (o, c, t)
            Parallel.chunks(rows, costPerItem: nt * g.c) { r in
                for oc in r {
                    let s = byTap.ptr + oc * nt * g.c
                    let d = dw + (r0 + oc) * nt * g.c
                    for t in 0..<nt { for ch in 0..<g.c { d[ch * nt + t] = s[t * g.c + ch] } }
                }
            }
        }
    }

    /// C (m × ncol, row-major) = A·B on dfm's threads, split as `gemm` splits: along columns on
    /// multiples of the kernel's tile width, or along rows when C is narrow. Each element is one
    /// chain over k whatever the split: deterministic.
    /// With `arows`, B's row kk multiplies column arows[kk] of A (packed with ka columns).
    static func gatheredGemm(
        _ pa: UnsafePointer<Float>, m: Int, ka: Int? = nil, arows: UnsafePointer<Int32>? = nil, k: Int,
        _ src: UnsafePointer<dfmk_gather>, ncol: Int, _ c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) throws {
        let ka = ka ?? k
        let ldc = ldc ?? ncol
        let nr = dfmk_gg_nr()
        let mr = dfmk_gg_mr()
        let byCols = ncol >= m
        let units = byCols ? (ncol + nr - 1) / nr : (m + mr - 1) / mr
        let blocks = Parallel.threads > 1 && m &* ncol &* k >= gemmSplitMinWork ? min(Parallel.threads, units) : 1
        let size = dfmk_gg_scratch_size(k, src.pointee.ntaps)
        let scratch = try ScratchPool.shared.take(blocks * size, "conv2d", as: Float.self)
        defer { ScratchPool.shared.give(scratch) }
        Parallel.chunks(blocks, costPerItem: 1 << 18) { r in
            for p in r {
                let u0 = units * p / blocks
                let u1 = units * (p + 1) / blocks
                let s = scratch.ptr + p * size
                if byCols {
                    let c0 = min(ncol, u0 * nr)
                    let c1 = min(ncol, u1 * nr)
                    if c0 < c1 { dfmk_gg_gemm_rows_f32(pa, m, ka, arows, k, src, c0, c1, c, ldc, s) }
                } else {
                    let r0 = min(m, u0 * mr)
                    let r1 = min(m, u1 * mr)
                    if r0 < r1 {
                        dfmk_gg_gemm_rows_f32(pa + r0 * ka, r1 - r0, ka, arows, k, src, 0, ncol, c + r0 * ldc, ldc, s)
                    }
                }
            }
        }
    }

    /// (rows, nb·l) staging -> out (nb, rows, l) for samples n0..<n0+nb, adding the bias on the way;
    /// with no staging the GEMM wrote out's (rows, l) block itself and only the bias is added.
    private static func unstage<S: Real>(
        _ staging: UnsafePointer<S>?, _ bias: UnsafePointer<S>?, rows: Int, l: Int, n0: Int, nb: Int,
        _ out: UnsafeMutablePointer<S>
    ) {
        let ncol = nb * l
        Parallel.chunks(nb * rows, costPerItem: l) { r in
            for p in r {
                let nn = p / rows
                let oc = p % rows
                let d = out + ((n0 + nn) * rows + oc) * l
                let bv = bias?[oc] ?? 0
                guard let staging else {
                    if bias != nil { for q in 0..<l { d[q] += bv } }
                    continue
                }
                let s = staging + oc * ncol + nn * l
                if bias != nil {
                    for q in 0..<l { d[q] = s[q] + bv }
                } else {
                    d.update(from: s, count: l)
                }
            }
        }
    }

    /// (rows, nb·lg) staging -> out (nb, rows, l) at the lg `positions` of each plane, adding the bias.
    private static func unstage(
        _ staging: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?, rows: Int,
        positions: UnsafeBufferPointer<Int32>,
        l: Int, n0: Int, nb: Int, _ out: UnsafeMutablePointer<Float>
    ) {
        let lg = positions.count
        let ncol = nb * lg
        // Out is written in order, plane by plane (stores across planes missed the cache: by output
        // channel, W3's unstage took 5% of the main thread). A scattered store costs several
        // element-wise operations' worth, so this goes parallel from an eighth of the elements.
        Parallel.chunks(nb * rows, costPerItem: 8 * lg) { r in
            for p in r {
                let (nn, oc) = p.quotientAndRemainder(dividingBy: rows)
                let d = out + ((n0 + nn) * rows + oc) * l
                let bv = bias?[oc] ?? 0
                let s = staging + oc * ncol + nn * lg
                for q in 0..<lg { d[Int(positions[q])] = s[q] + bv }
            }
        }
    }

    private static func forwardGemm<S: Real>(
        _ x: UnsafePointer<S>, _ wt: UnsafePointer<S>, _ bias: UnsafePointer<S>?,
        _ g: ConvGeom, _ out: UnsafeMutablePointer<S>
    ) throws {
        let nbMax = g.samplesPerChunk
        let l = g.l
        try withChunkScratch(g, "conv2d", S.self) { cols, y in
            var n0 = 0
            while n0 < g.n {
                let nb = min(nbMax, g.n - n0)
                let ncol = nb * l
                let b = columns(x, g, n0: n0, nb: nb, cols)
                let dst = y ?? (out + n0 * g.o * l)  // with nb == 1, (o, l) is already the output layout
                for gi in 0..<g.groups {
                    gemm(
                        transA: false, transB: false, m: g.og, n: ncol, k: g.kgLive,
                        a: wt + gi * g.og * g.kgLive, lda: g.kgLive, b: b + gi * g.kgLive * ncol, ldb: ncol,
                        c: dst + gi * g.og * ncol, ldc: ncol)
                }
                unstage(y.map { UnsafePointer($0) }, bias, rows: g.o, l: l, n0: n0, nb: nb, out)
                n0 += nb
            }
        }
    }

    /// Gradients of conv for the input (dx, fully written) and weight (dw: fully written, or with
    /// `accumulate` added to what it holds; depthwise convs cannot accumulate).
    static func backward<S: Real>(
        _ x: UnsafePointer<S>, _ wtFull: UnsafePointer<S>, _ gy: UnsafePointer<S>, _ g: ConvGeom,
        dx: UnsafeMutablePointer<S>?, dw dwFull: UnsafeMutablePointer<S>?, accumulate: Bool = false,
        weightOwner: Tensor? = nil
    ) throws {
        if g.isDepthwise {
            precondition(!accumulate, "depthwise weight gradients are written, not accumulated")
            if let dx { depthwiseInputGrad(wtFull, gy, g, dx) }
            if let dwFull { depthwiseWeightGrad(x, gy, g, dwFull) }
            return
        }
        var dx = dx
        var dwFull = dwFull
        if g.n > 0, g.gathers(S.self) {
            if let dw = dwFull {
                try weightGradGathered(f32(x), f32(gy), g, f32(dw), accumulate: accumulate)
                dwFull = nil
            }
            if let d = dx, try inputGradGathered(f32(wtFull), f32(gy), g, f32(d), owner: weightOwner) { dx = nil }
            if dx == nil && dwFull == nil { return }
        }
        // The GEMMs add into dw (beta 1). With pruned taps the scatter at the end writes every
        // element of dw (dead taps 0) or adds into the live ones.
        if let dwFull, !accumulate, g.live == nil || g.n == 0 { dwFull.update(repeating: 0, count: g.o * g.kg) }
        if g.n == 0 { return }
        // Pruned taps: GEMMs on the live columns of the weight (only dx reads it), and the live
        // part of the weight gradient in scratch, scattered into dw (dead taps get 0) at the end.
        if dx == nil {
            try backwardGemm(x, wtFull, gy, g, dx: dx, dw: dwFull, accumulate: accumulate)
        } else {
            try withLiveWeight(wtFull, g, owner: weightOwner, "conv2d_backward") { wt in
                try backwardGemm(x, wt, gy, g, dx: dx, dw: dwFull, accumulate: accumulate)
            }
        }
    }

    /// `backward` after the live-tap gather: `wt` holds only the live columns when g.live is set.
    private static func backwardGemm<S: Real>(
        _ x: UnsafePointer<S>, _ wt: UnsafePointer<S>, _ gy: UnsafePointer<S>, _ g: ConvGeom,
        dx: UnsafeMutablePointer<S>?, dw dwFull: UnsafeMutablePointer<S>?, accumulate: Bool
    ) throws {
        let dwlBuf =
            g.live != nil && dwFull != nil
            ? try ScratchPool.shared.take(g.o * g.kgLive, "conv2d_backward", as: S.self) : nil
        defer { dwlBuf.map { ScratchPool.shared.give($0) } }
        if let dwlBuf { dwlBuf.ptr.update(repeating: 0, count: g.o * g.kgLive) }
        let dw = dwlBuf?.ptr ?? dwFull
        let nbMax = g.samplesPerChunk
        let l = g.l
        try withChunkScratch(g, "conv2d_backward", S.self) { cols, gT in
            var n0 = 0
            while n0 < g.n {
                let nb = min(nbMax, g.n - n0)
                let ncol = nb * l
                // Upstream gradient as (o, nb·l), matching the GEMM layout of the forward.
                let gm: UnsafePointer<S>
                if let gT {
                    Parallel.chunks(nb * g.o, costPerItem: l) { r in
                        for p in r {
                            let nn = p / g.o
                            let oc = p % g.o
                            (gT + oc * ncol + nn * l).update(from: gy + ((n0 + nn) * g.o + oc) * l, count: l)
                        }
                    }
                    gm = UnsafePointer(gT)
                } else {
                    gm = gy + n0 * g.o * l
                }
                if let dw {
                    let b = columns(x, g, n0: n0, nb: nb, cols)
                    for gi in 0..<g.groups {
                        gemm(
                            transA: false, transB: true, m: g.og, n: g.kgLive, k: ncol,
                            a: gm + gi * g.og * ncol, lda: ncol, b: b + gi * g.kgLive * ncol, ldb: ncol,
                            beta: 1, c: dw + gi * g.og * g.kgLive, ldc: g.kgLive)
                    }
                }
                if let dx {
                    let dcols = cols ?? (dx + n0 * g.c * l)  // pointwise, one sample: dcols is dx itself
                    for gi in 0..<g.groups {
                        gemm(
                            transA: true, transB: false, m: g.kgLive, n: ncol, k: g.og,
                            a: wt + gi * g.og * g.kgLive, lda: g.kgLive, b: gm + gi * g.og * ncol, ldb: ncol,
                            c: dcols + gi * g.kgLive * ncol, ldc: ncol)
                    }
                    if cols != nil { col2im(dcols, g, n0: n0, nb: nb, dx) }
                }
                n0 += nb
            }
        }
        if let dwlBuf, let dwFull { scatterLive(UnsafePointer(dwlBuf.ptr), g, dwFull, accumulate: accumulate) }
    }

    /// A pruned conv's weight gradient from the live layout (o·c rows of the live taps) back to all
    /// taps: dead taps 0, or with `accumulate` added into the live taps of what dw holds.
    static func scatterLive<S: Real>(
        _ src: UnsafePointer<S>, _ g: ConvGeom, _ dwFull: UnsafeMutablePointer<S>, accumulate: Bool
    ) {
        guard let live = g.live else { return }
        let nt = live.count
        let taps = g.kh * g.kw
        if S.self == Float.self {
            let lv = live.map(Int32.init)
            Parallel.chunks(g.o * g.c, costPerItem: taps) { r in
                dfmk_scatter_taps_f32(
                    f32(src + r.lowerBound * nt), nt, lv, f32(dwFull + r.lowerBound * taps), taps, r.count,
                    accumulate ? 1 : 0)
            }
            return
        }
        live.withUnsafeBufferPointer { lv in
            Parallel.chunks(g.o * g.c, costPerItem: taps) { r in
                for row in r {
                    let s = src + row * nt
                    let o = dwFull + row * taps
                    if accumulate {
                        for t in 0..<nt { o[lv[t]] += s[t] }
                    } else {
                        o.update(repeating: 0, count: taps)
                        for t in 0..<nt { o[lv[t]] = s[t] }
                    }
                }
            }
        }
    }

    /// db[o] = Σ_{n, l} gy[n][o][l], accumulated in double.
    static func biasGrad<S: Real>(_ gy: UnsafePointer<S>, _ g: ConvGeom, _ db: UnsafeMutablePointer<S>) {
        let l = g.l
        Parallel.chunks(g.o, costPerItem: g.n * l) { r in
            for oc in r {
                var acc: Double = 0
                for nn in 0..<g.n {
                    let s = gy + (nn * g.o + oc) * l
                    var part: S = 0
                    for q in 0..<l { part += s[q] }
                    acc += Double(part)
                }
                db[oc] = S(acc)
            }
        }
    }

    // MARK: depthwise (groups == channels)

    static func depthwiseForward<S: Real>(
        _ x: UnsafePointer<S>, _ wt: UnsafePointer<S>, _ bias: UnsafePointer<S>?,
        _ g: ConvGeom, _ out: UnsafeMutablePointer<S>
    ) {
        let mult = g.og
        let hw = g.h * g.w
        let taps = g.kh * g.kw
        Parallel.chunks(g.n * g.o, costPerItem: g.l * taps) { r in
            for p in r {
                let nn = p / g.o
                let oc = p % g.o
                let src = x + (nn * g.c + oc / mult) * hw
                let dst = out + p * g.l
                dst.update(repeating: bias?[oc] ?? 0, count: g.l)
                for i in 0..<g.kh {
                    for j in 0..<g.kw {
                        let wv = wt[oc * taps + i * g.kw + j]
                        let off = j * g.dw - g.pw
                        let (ow0, ow1) = g.validCols(off)
                        if ow0 == ow1 { continue }
                        for oy in 0..<g.oh {
                            let ih = oy * g.sh - g.ph + i * g.dh
                            if ih < 0 || ih >= g.h { continue }
                            let srow = src + ih * g.w + off
                            let drow = dst + oy * g.ow
                            let st = g.sw
                            for ox in ow0..<ow1 { drow[ox] += wv * srow[ox * st] }
                        }
                    }
                }
            }
        }
    }

    static func depthwiseInputGrad<S: Real>(
        _ wt: UnsafePointer<S>, _ gy: UnsafePointer<S>, _ g: ConvGeom,
        _ dx: UnsafeMutablePointer<S>
    ) {
        let mult = g.og
        let hw = g.h * g.w
        let taps = g.kh * g.kw
        Parallel.chunks(g.n * g.c, costPerItem: mult * g.l * taps) { r in
            for p in r {
                let nn = p / g.c
                let ch = p % g.c
                let dst = dx + p * hw
                dst.update(repeating: 0, count: hw)
                for m in 0..<mult {
                    let oc = ch * mult + m
                    let src = gy + (nn * g.o + oc) * g.l
                    for i in 0..<g.kh {
                        for j in 0..<g.kw {
                            let wv = wt[oc * taps + i * g.kw + j]
                            let off = j * g.dw - g.pw
                            let (ow0, ow1) = g.validCols(off)
                            if ow0 == ow1 { continue }
                            for oy in 0..<g.oh {
                                let ih = oy * g.sh - g.ph + i * g.dh
                                if ih < 0 || ih >= g.h { continue }
                                let drow = dst + ih * g.w + off
                                let grow = src + oy * g.ow
                                let st = g.sw
                                for ox in ow0..<ow1 { drow[ox * st] += wv * grow[ox] }
                            }
                        }
                    }
                }
            }
        }
    }

    static func depthwiseWeightGrad<S: Real>(
        _ x: UnsafePointer<S>, _ gy: UnsafePointer<S>, _ g: ConvGeom,
        _ dw: UnsafeMutablePointer<S>
    ) {
        let mult = g.og
        let hw = g.h * g.w
        let taps = g.kh * g.kw
        Parallel.chunks(g.o, costPerItem: g.n * g.l * taps) { r in
            for oc in r {
                for i in 0..<g.kh {
                    for j in 0..<g.kw {
                        let off = j * g.dw - g.pw
                        let (ow0, ow1) = g.validCols(off)
                        var acc: Double = 0
                        if ow0 < ow1 {
                            for nn in 0..<g.n {
                                let src = x + (nn * g.c + oc / mult) * hw
                                let grd = gy + (nn * g.o + oc) * g.l
                                var part: S = 0
                                for oy in 0..<g.oh {
                                    let ih = oy * g.sh - g.ph + i * g.dh
                                    if ih < 0 || ih >= g.h { continue }
                                    let srow = src + ih * g.w + off
                                    let grow = grd + oy * g.ow
                                    let st = g.sw
                                    for ox in ow0..<ow1 { part += grow[ox] * srow[ox * st] }
                                }
                                acc += Double(part)
                            }
                        }
                        dw[oc * taps + i * g.kw + j] = S(acc)
                    }
                }
            }
        }
    }

    /// Uninitialised scratch memory; sizes come from already-validated shapes, but a failed
    /// allocation of a huge buffer is still reported rather than trapped.
    static func scratch<S: Real>(_ count: Int, _ op: String, as: S.Type = S.self) throws -> UnsafeMutablePointer<S> {
        guard count >= 0, count <= (1 << 36) else {
            throw DFMError(.outOfMemory, "\(op): scratch buffer of \(count) elements is too large")
        }
        let size = MemoryLayout<S>.stride
        var raw: UnsafeMutableRawPointer? = nil
        guard posix_memalign(&raw, 64, max(1, count) * size) == 0, let raw else {
            throw DFMError(.outOfMemory, "\(op): could not allocate \(count * size) bytes of scratch memory")
        }
        return raw.bindMemory(to: S.self, capacity: max(1, count))
    }
}

/// Reuses the unfolding buffers across calls: a fresh multi-megabyte buffer costs a page
/// fault per 4 KB on first touch, which showed up as a third of im2col's time. Buffers are
/// bounded by ConvGeom.samplesPerChunk's budget; a few are kept for concurrent callers.
final class ScratchPool: @unchecked Sendable {
    static let shared = ScratchPool()
    // Buffers are kept as bytes and typed on the way out (float32 and float64 convs share them).
    private var free: [(ptr: UnsafeMutableRawPointer, bytes: Int)] = []
    private let lock = NSLock()
    // A gathered weight gradient holds five buffers at once (packed A, its result, x channels-last,
    // the tap blocks, the GEMM's panels): keeping 4 sent one back to malloc at every call, and the
    // churn grew W2's heap over the steps (peak 674-683 MB; 8: 661-671; 16 holds more: 700).
    private let keep = 8

    /// A buffer of at least `count` elements of `S`; hand it back with `give`.
    func take<S: Real>(_ count: Int, _ op: String, as: S.Type = S.self) throws -> (
        ptr: UnsafeMutablePointer<S>, count: Int
    ) {
        let bytes = count * MemoryLayout<S>.stride
        lock.lock()
        if let i = free.indices.filter({ free[$0].bytes >= bytes }).min(by: { free[$0].bytes < free[$1].bytes }) {
            let b = free.remove(at: i)
            lock.unlock()
            return (b.ptr.bindMemory(to: S.self, capacity: max(1, count)), count)
        }
        lock.unlock()
        return (try ConvKernels.scratch(count, op), count)
    }

    func give<S: Real>(_ b: (ptr: UnsafeMutablePointer<S>, count: Int)) {
        lock.lock()
        free.append((UnsafeMutableRawPointer(b.ptr), b.count * MemoryLayout<S>.stride))
        var dropped: [UnsafeMutableRawPointer] = []
        if free.count > keep {
            // Keep the largest buffers: they serve every smaller request.
            free.sort { $0.bytes > $1.bytes }
            dropped = free[keep...].map { $0.ptr }
            free.removeLast(free.count - keep)
        }
        lock.unlock()
        for p in dropped { p.deallocate() }
    }
}

/// Timing hooks for bench/DFMBench, public so the benchmark needs no `@testable` import.
public enum KernelBench {
    /// False: float32 convs through im2col and OpenBLAS (ConvGeom.gatheredGemm), for comparison.
    public static var gatheredGemm: Bool {
        get { ConvGeom.gatheredGemm }
        set { ConvGeom.gatheredGemm = newValue }
    }

    /// Floats per im2col chunk (ConvGeom.colsBudget), for tuning runs of the benchmark.
    public static var colsBudget: Int {
        get { ConvGeom.colsBudget }
        set { ConvGeom.colsBudget = max(1, newValue) }
    }

    /// True (the default): OpenBLAS single-threaded, large GEMMs split over dfm's own threads;
    /// false: OpenBLAS's own thread pool runs every GEMM (the earlier arrangement, for comparison).
    public static var oneThreadPool: Bool {
        get {
            _ = BLASSetup.ready
            return BLASSetup.splitGemm
        }
        set {
            _ = BLASSetup.ready
            BLASSetup.splitGemm = newValue
        }
    }

    /// The OpenBLAS core (kernel set) dfm's GEMMs run on, e.g. "SkylakeX".
    public static var blasCore: String { BLASSetup.coreName }

    /// Best wall-clock seconds of `reps` row-major n×n×n sgemm calls (2·n³ FLOPs each).
    public static func sgemmSeconds(n: Int, reps: Int) throws -> Double {
        guard n >= 1, n <= 8192, reps >= 1 else {
            throw DFMError.invalid("sgemm_bench", "n must be in 1...8192 and reps >= 1, got n \(n), reps \(reps)")
        }
        let a = try ConvKernels.scratch(n * n, "sgemm_bench", as: Float.self)
        let b = try ConvKernels.scratch(n * n, "sgemm_bench", as: Float.self)
        let c = try ConvKernels.scratch(n * n, "sgemm_bench", as: Float.self)
        defer {
            a.deallocate()
            b.deallocate()
            c.deallocate()
        }
        for k in 0..<(n * n) {
            a[k] = Float(k % 13) * 0.01
            b[k] = Float(k % 7) * 0.02
        }
        gemm(transA: false, transB: false, m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: c, ldc: n)
        var best = Double.infinity
        for _ in 0..<reps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            gemm(transA: false, transB: false, m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: c, ldc: n)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
        }
        return best
    }
}

/// Live-tap weights gathered once per scope. Inside `LiveWeightCache.scope { }` (a feedback
/// model's T steps, one backward pass) parameters do not change, so a conv with pruned taps
/// gathers the live columns of a leaf weight once instead of at every step (at 1×1 and 2×2
/// planes that gather reads the whole 3×3 weight, several MB per conv). Scopes and entries
/// belong to the calling thread, so a scope ending on one thread never frees what a conv on
/// another is reading. Entries keep their weight alive, so no address is reused within a
/// scope; the outermost scope's end frees them. A weight changed in place inside a scope (a
/// forward pre-hook writing into a parameter) is the one case this does not see.
final class LiveWeightCache {
    private struct Key: Hashable {
        let address: UnsafeRawPointer
        let live: [Int]
        let rows: Int
        let taps: Int
        let elementSize: Int
        /// 0: the live weight; else the gathered GEMM's packing (its tile rows and ISA level).
        let packing: Int
    }
    private var entries: [Key: (owner: Tensor, ptr: UnsafeMutableRawPointer)] = [:]
    private var depth = 0

    /// The calling thread's cache.
    static var current: LiveWeightCache {
        let d = Thread.current.threadDictionary
        if let c = d["dfm.LiveWeightCache"] as? LiveWeightCache { return c }
        let c = LiveWeightCache()
        d["dfm.LiveWeightCache"] = c
        return c
    }

    static func scope<R>(_ body: () throws -> R) rethrows -> R {
        let c = current
        c.depth += 1
        defer {
            c.depth -= 1
            if c.depth == 0 {
                for e in c.entries.values { e.ptr.deallocate() }
                c.entries.removeAll()
            }
        }
        return try body()
    }

    /// The cached live weight of `owner` (built by `build` on first use), or nil outside a scope;
    /// with `packing` (not 0) a packed form of `count` elements instead.
    func lookup<S: Real>(
        _ owner: Tensor, _ wt: UnsafePointer<S>, _ g: ConvGeom, packing: Int = 0, count: Int? = nil,
        build: (UnsafeMutablePointer<S>) throws -> Void
    ) throws -> UnsafePointer<S>? {
        guard depth > 0 else { return nil }
        let live = g.live ?? []
        let key = Key(
            address: UnsafeRawPointer(wt), live: live, rows: g.o * g.c, taps: g.kh * g.kw,
            elementSize: MemoryLayout<S>.size, packing: packing)
        if let e = entries[key] { return UnsafePointer(e.ptr.assumingMemoryBound(to: S.self)) }
        let ptr = try ConvKernels.scratch(count ?? g.o * g.c * live.count, "conv2d", as: S.self)
        try build(ptr)
        entries[key] = (owner, UnsafeMutableRawPointer(ptr))
        return UnsafePointer(ptr)
    }
}
