import CKernels
import XCTest

@testable import DFM

final class ConvTests: XCTestCase {
    // MARK: PyTorch parity

    /// torch keyword values in fixture metadata: an int or a list of ints.
    private func intList(_ fx: Fixture, _ c: String, _ k: String, _ dflt: [Int]) -> [Int] {
        if let v = fx.ints(c, k) { return v }
        if let v = fx.int(c, k) { return [v] }
        return dflt
    }

    func testConvParity() throws {
        // Both unfolding paths: row copies (wide outputs) and the tap map (narrow outputs).
        let saved = ConvGeom.tapMapMaxWidth
        defer { ConvGeom.tapMapMaxWidth = saved }
        for width in [0, 1 << 30] {
            ConvGeom.tapMapMaxWidth = width
            try checkConvFixtures()
        }
    }

    /// The tap-map path (narrow outputs; float32 through CKernels' gathers) and the row-copy path
    /// unfold and fold back the same values in the same order: same bits, forward and backward.
    func testTapMapAndRowPathsGiveTheSameBits() throws {
        let saved = (ConvGeom.tapMapMaxWidth, ConvGeom.gatheredGemm)
        defer { (ConvGeom.tapMapMaxWidth, ConvGeom.gatheredGemm) = saved }
        ConvGeom.gatheredGemm = false  // both forwards through im2col (the gathered GEMM: next test)
        let gen = Generator(seed: 7)
        for (stride, dilation) in [(1, 1), (2, 1), (1, 2)] {
            let x0 = try randn([3, 5, 9, 11], generator: gen)
            let w0 = try randn([6, 5, 3, 3], generator: gen)
            let g0 = try randn([1], generator: gen)
            var results: [[UInt32]] = []
            for width in [0, 1 << 30] {
                ConvGeom.tapMapMaxWidth = width
                let x = try x0.clone().requiresGrad()
                let w = try w0.clone().requiresGrad()
                let y = try conv2d(
                    x, w, nil, stride: [stride, stride], padding: [1, 1], dilation: [dilation, dilation])
                try sum(try mul(y, try add(y, g0))).backward()
                results.append((y.toArray() + x.grad!.toArray() + w.grad!.toArray()).map(\.bitPattern))
            }
            XCTAssertEqual(results[0], results[1], "stride \(stride) dilation \(dilation)")
        }
    }

    /// The float32 convolution through CKernels' gathered GEMM (planes under 32 wide, CPUs with FMA)
    /// is, bit for bit, one chain of fused multiply-adds per output over (channel, live tap) in
    /// order, plus the bias; the weight gradient one chain per weight over (sample, output
    /// position); the input gradient (stride 1, or strided with its positions grouped) one chain
    /// per input element over (output channel, live tap) of the output gradient where that tap
    /// read it, zero where none did. Covered: strides, dilation, pruned
    /// taps, positions grouped by the taps they read, weight gradients tap by tap, a plane wider
    /// than the tap-map path, one sample (no staging), tile edges (o and n·l not multiples of the
    /// tile), column and row splits over threads, K in several blocks, the batch in one chunk or
    /// sample by sample, and every ISA level with FMA.
    func testGatheredGemmIsTheFMAChain() throws {
        guard dfmk_gg_fast() != 0 else { throw XCTSkip("no hardware FMA: the forward stays on im2col + OpenBLAS") }
        let top = dfmk_max_level()
        defer { XCTAssertEqual(dfmk_set_level(top), 0) }
        let gen = Generator(seed: 5)
        // (n, c, h, w, o, kernel, stride, padding, dilation, bias)
        let cases: [(Int, Int, Int, Int, Int, Int, Int, Int, Int, Bool)] = [
            (3, 5, 9, 11, 6, 3, 1, 1, 1, true), (1, 4, 5, 5, 9, 3, 2, 1, 1, false), (2, 3, 1, 5, 4, 3, 1, 1, 1, true),
            (5, 7, 6, 6, 70, 5, 1, 2, 1, true), (33, 2, 3, 3, 17, 1, 2, 0, 1, false),
            (2, 64, 4, 4, 128, 3, 1, 1, 1, false), (9, 48, 6, 6, 24, 3, 1, 1, 1, true),
            (2, 3, 14, 17, 5, 3, 1, 1, 1, true),  // wider than the tap-map path: row copies elsewhere
            // Planes whose positions are grouped by the taps they read (TapGroups): 2×2, stride 1 and 2.
            (4, 32, 2, 2, 40, 3, 1, 1, 1, true), (3, 8, 3, 3, 10, 3, 2, 1, 1, true),
            (32, 32, 2, 2, 24, 3, 1, 1, 1, true),
        ]
        // Dilated convs stay on im2col + OpenBLAS (ConvGeom.gathers).
        XCTAssertFalse(
            ConvGeom(
                n: 5, c: 7, h: 6, w: 6, o: 70, kh: 3, kw: 3, sh: 1, sw: 1, ph: 2, pw: 2, dh: 2, dw: 2, oh: 6, ow: 6,
                groups: 1
            ).gathers(Float.self))
        let saved = (
            ConvGeom.colsBudget, ConvKernels.TapGroups.minSkipped, ConvGeom.byTapMinRows, ConvGeom.byTapBudget
        )
        defer {
            (ConvGeom.colsBudget, ConvKernels.TapGroups.minSkipped, ConvGeom.byTapMinRows, ConvGeom.byTapBudget) =
                saved
        }
        // The default staging budget (one chunk), and one so small that every sample is its own;
        // `forced`: every plane's positions grouped by their taps, every weight gradient by tap
        // (one tile of output rows at a time).
        let passes: [(Int32, Int, Bool)] = [
            (3, saved.0, true), (4, saved.0, false), (top, 1, true), (top, saved.0, false),
        ]
        for (level, chunkBudget, forced) in passes where level <= top {
            XCTAssertEqual(dfmk_set_level(level), 0)
            ConvGeom.colsBudget = chunkBudget
            ConvKernels.TapGroups.minSkipped = forced ? -.infinity : saved.1
            ConvGeom.byTapMinRows = forced ? 0 : saved.2
            ConvGeom.byTapBudget = forced ? 1 : saved.3
            for (n, c, h, w, o, k, st, pad, dil, hasBias) in cases {
                let x = try randn([n, c, h, w], generator: gen).requiresGrad()
                let wt = try randn([o, c, k, k], generator: gen).requiresGrad()
                let b = hasBias ? try randn([o], generator: gen) : nil
                let y = try conv2d(x, wt, b, stride: [st, st], padding: [pad, pad], dilation: [dil, dil])
                let oh = y.shape[2]
                let ow = y.shape[3]
                let g = ConvGeom(
                    n: n, c: c, h: h, w: w, o: o, kh: k, kw: k, sh: st, sw: st, ph: pad, pw: pad, dh: dil, dw: dil,
                    oh: oh, ow: ow, groups: 1
                ).pruned()
                XCTAssertTrue(g.gathers(Float.self), "case \((n, c, h, w, o)) takes the gathered GEMM")
                let xs = x.toArray()
                let ws = wt.toArray()
                let bs = b?.toArray()
                let taps = g.live ?? Array(0..<(k * k))
                var want = [Float](repeating: 0, count: n * o * oh * ow)
                for nn in 0..<n {
                    for oc in 0..<o {
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                var acc: Float = 0
                                for ch in 0..<c {
                                    for t in taps {
                                        let ih = oy * st - pad + (t / k) * dil
                                        let iw = ox * st - pad + (t % k) * dil
                                        let v =
                                            ih >= 0 && ih < h && iw >= 0 && iw < w
                                            ? xs[((nn * c + ch) * h + ih) * w + iw] : 0
                                        acc = acc.addingProduct(ws[(oc * c + ch) * k * k + t], v)
                                    }
                                }
                                want[((nn * o + oc) * oh + oy) * ow + ox] = acc + (bs?[oc] ?? 0)
                            }
                        }
                    }
                }
                XCTAssertEqual(
                    y.toArray().map(\.bitPattern), want.map(\.bitPattern),
                    "level \(level) forced \(forced) case \((n, c, h, w, o, k, st))")
                let gy = try randn(y.shape, generator: gen)
                try y.backward(gy)
                let gys = gy.toArray()
                // dW[oc][ch][t]: one chain over (sample, output position) in order; dead taps 0.
                var wantDw = [Float](repeating: 0, count: o * c * k * k)
                for oc in 0..<o {
                    for ch in 0..<c {
                        for t in taps {
                            var acc: Float = 0
                            for nn in 0..<n {
                                for q in 0..<(oh * ow) {
                                    let ih = (q / ow) * st - pad + (t / k) * dil
                                    let iw = (q % ow) * st - pad + (t % k) * dil
                                    let v =
                                        ih >= 0 && ih < h && iw >= 0 && iw < w
                                        ? xs[((nn * c + ch) * h + ih) * w + iw] : 0
                                    acc = acc.addingProduct(gys[(nn * o + oc) * oh * ow + q], v)
                                }
                            }
                            wantDw[(oc * c + ch) * k * k + t] = acc
                        }
                    }
                }
                XCTAssertEqual(
                    wt.grad!.toArray().map(\.bitPattern), wantDw.map(\.bitPattern),
                    "dw: level \(level) forced \(forced) case \((n, c, h, w, o, k, st))")
                // Strided convs take the gathered GEMM for their input gradient where its positions
                // are grouped by the taps that read them; the rest fold with col2im.
                guard st == 1 || forced else { continue }
                // reads[t][p]: the output position whose tap t read input p, or -1.
                var reads = [[Int]](repeating: [Int](repeating: -1, count: h * w), count: k * k)
                for t in 0..<(k * k) {
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            let ih = oy * st - pad + (t / k) * dil
                            let iw = ox * st - pad + (t % k) * dil
                            if ih >= 0 && ih < h && iw >= 0 && iw < w { reads[t][ih * w + iw] = oy * ow + ox }
                        }
                    }
                }
                var wantDx = [Float](repeating: 0, count: n * c * h * w)
                for nn in 0..<n {
                    for ch in 0..<c {
                        for pos in 0..<(h * w) {
                            var acc: Float = 0
                            for oc in 0..<o {
                                for t in taps {
                                    let q = reads[t][pos]
                                    let v = q >= 0 ? gys[(nn * o + oc) * oh * ow + q] : 0
                                    acc = acc.addingProduct(ws[(oc * c + ch) * k * k + t], v)
                                }
                            }
                            wantDx[(nn * c + ch) * h * w + pos] = acc
                        }
                    }
                }
                XCTAssertEqual(
                    x.grad!.toArray().map(\.bitPattern), wantDx.map(\.bitPattern),
                    "dx: level \(level) forced \(forced) case \((n, c, h, w, o, k))")
            }
        }
    }

    /// A weight used at several steps: the engine hands its running gradient sum to conv2d and
    /// linear, whose GEMMs add into it (pruned taps through the scatter). The result must be the
    /// sum of the per-use gradients, on top of a gradient already there, in float64.
    func testWeightGradientsAddIntoTheRunningSum() throws {
        // float64 (Swift loops) and float32 (CKernels' scatter); float32 sums in another order.
        for (dt, tol) in [(DType.float64, 1e-9), (DType.float32, 1e-4)] {
            let gen = Generator(seed: 11)
            let x = try toDType(try randn([2, 3, 1, 5], generator: gen), dt)  // height 1: dead taps (pruned)
            let w0 = try toDType(try randn([4, 3, 3, 3], generator: gen), dt)
            let lw0 = try toDType(try randn([6, 5], generator: gen), dt)
            let prior = try toDType(try randn([4, 3, 3, 3], generator: gen), dt)
            func loss(_ w: Tensor, _ lw: Tensor, uses: Range<Int>) throws -> Tensor {
                var total = try Tensor.zeros([], dtype: dt)
                for k in uses {
                    let y = try conv2d(try mul(x, Double(k + 1)), w, nil, padding: [1, 1])
                    let z = try linear(y, lw)
                    total = try add(total, try sum(try mul(z, z)))
                }
                return total
            }
            let w = try w0.clone().requiresGrad()
            let lw = try lw0.clone().requiresGrad()
            w.grad = try prior.clone()
            try loss(w, lw, uses: 0..<3).backward()
            var wSum = prior.toDoubleArray()
            var lwSum = [Double](repeating: 0, count: lw0.count)
            for k in 0..<3 {
                let wk = try w0.clone().requiresGrad()
                let lk = try lw0.clone().requiresGrad()
                try loss(wk, lk, uses: k..<(k + 1)).backward()
                for (i, v) in wk.grad!.toDoubleArray().enumerated() { wSum[i] += v }
                for (i, v) in lk.grad!.toDoubleArray().enumerated() { lwSum[i] += v }
            }
            for (a, b) in zip(w.grad!.toDoubleArray(), wSum) { XCTAssertEqual(a, b, accuracy: tol * max(1, abs(b))) }
            for (a, b) in zip(lw.grad!.toDoubleArray(), lwSum) { XCTAssertEqual(a, b, accuracy: tol * max(1, abs(b))) }
            XCTAssertEqual(w.grad!.toDoubleArray()[0..<9].filter { $0 != 0 }.count, 9, "\(dt): prior kept on dead taps")
        }
    }

    /// max_pool2d's float32 kernel (CKernels) and the generic loop (float64) pick the same
    /// maxima and the same argmax: NaN wins, ties keep the first, windows in padding, dilation,
    /// ceil mode; checked through the values and the backward's gradient positions.
    func testMaxPoolFloat32KernelMatchesTheGenericLoop() throws {
        var vals = [Float](repeating: 0, count: 378)
        for i in 0..<378 { vals[i] = Float((i * 37) % 11) - 5 }  // many ties
        vals[5] = .nan
        vals[70] = -.infinity
        let x32 = try Tensor(vals, shape: [2, 3, 7, 9])
        for (k, st, pad, dil, ceil) in [
            (3, 2, 1, 1, false), (2, 2, 0, 1, true), (3, 1, 1, 2, false), (3, 3, 1, 1, true),
        ] {
            var outs: [[Double]] = []
            for dt in [DType.float32, .float64] {
                let x = try toDType(x32, dt).detach().requiresGrad()
                let y = try maxPool2d(
                    x, kernelSize: [k, k], stride: [st, st], padding: [pad, pad], dilation: [dil, dil], ceilMode: ceil)
                try sum(y).backward()  // ones into y: x.grad counts the windows that picked each element
                outs.append(
                    y.toDoubleArray().map { $0.isNaN ? 1e300 : $0 }
                        + x.grad!.toDoubleArray().map { $0.isNaN ? 1e300 : $0 })
            }
            XCTAssertEqual(outs[0], outs[1], "kernel \(k) stride \(st) padding \(pad) dilation \(dil) ceil \(ceil)")
        }
    }

    private func checkConvFixtures() throws {
        let fx = try Fixture("conv")
        var checked = 0
        for c in fx.cases where c.hasPrefix("conv_") {
            let hasBias = fx.tensors["\(c)/in/b"] != nil
            let leaves = try fx.leaves(c, hasBias ? ["x", "w", "b"] : ["x", "w"])
            let (x, w, b) = (leaves[0], leaves[1], hasBias ? leaves[2] : nil)
            let stride = intList(fx, c, "stride", [1, 1])
            let dil = intList(fx, c, "dilation", [1, 1])
            let groups = fx.int(c, "groups") ?? 1
            let y: Tensor
            if let pad = fx.string(c, "padding") {
                y = try conv2d(x, w, b, stride: stride, padding: pad, dilation: dil, groups: groups)
            } else {
                y = try conv2d(
                    x, w, b, stride: stride, padding: intList(fx, c, "padding", [0, 0]), dilation: dil, groups: groups)
            }
            var inputs = ["x": x, "w": w]
            if let b { inputs["b"] = b }
            try fx.check(c, outputs: [y], inputs: inputs, rtol: 1e-4, atol: 1e-4)
            checked += 1
        }
        XCTAssertEqual(checked, 19)
    }

    func testPoolParity() throws {
        let fx = try Fixture("conv")
        var checked = 0
        for c in fx.cases where c.hasPrefix("maxpool_") || c.hasPrefix("avgpool_") || c.hasPrefix("adaptive_") {
            let x = try fx.leaves(c, ["x"])[0]
            let k = intList(fx, c, "kernel_size", [])
            let stride = fx.params(c)["stride"] == nil ? nil : intList(fx, c, "stride", [])
            let pad = intList(fx, c, "padding", [0, 0])
            let ceil = fx.bool(c, "ceil_mode") ?? false
            let y: Tensor
            if c.hasPrefix("maxpool_") {
                y = try maxPool2d(
                    x, kernelSize: k, stride: stride, padding: pad, dilation: intList(fx, c, "dilation", [1, 1]),
                    ceilMode: ceil)
            } else if c.hasPrefix("avgpool_") {
                y = try avgPool2d(
                    x, kernelSize: k, stride: stride, padding: pad, ceilMode: ceil,
                    countIncludePad: fx.bool(c, "count_include_pad") ?? true)
            } else {
                y = try adaptiveAvgPool2d(x, outputSize: intList(fx, c, "output_size", []))
            }
            try fx.check(c, outputs: [y], inputs: ["x": x], rtol: 1e-5, atol: 1e-5)
            checked += 1
        }
        XCTAssertEqual(checked, 18)
    }

    func testInterpolateParity() throws {
        let fx = try Fixture("conv")
        var checked = 0
        for c in fx.cases where c.hasPrefix("interp_") {
            let x = try fx.leaves(c, ["x"])[0]
            let scale = (fx.params(c)["scale_factor"] as? [NSNumber])?.map { $0.doubleValue }
            let y = try interpolate(
                x, size: fx.ints(c, "size"), scaleFactor: scale, mode: fx.string(c, "mode") ?? "nearest",
                alignCorners: fx.bool(c, "align_corners"))
            try fx.check(c, outputs: [y], inputs: ["x": x], rtol: 1e-5, atol: 1e-5)
            checked += 1
        }
        XCTAssertEqual(checked, 13)
    }

    /// The GEMM path splits big batches into chunks; the result must not depend on it.
    func testConvChunkedBatchMatchesPerSample() throws {
        var r = SplitMix(seed: 3)
        // 3·9·(40·40) = 43200 floats per sample -> several chunks over 400 samples.
        let x = r.tensor([400, 3, 40, 40])
        let w = r.tensor([2, 3, 3, 3])
        let b = r.tensor([2])
        let g = ConvGeom(
            n: 400, c: 3, h: 40, w: 40, o: 2, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1,
            oh: 40, ow: 40, groups: 1)
        XCTAssertLessThan(g.samplesPerChunk, 400)
        let xs = try x.clone()
        let ws = try w.clone()
        try xs.requiresGrad()
        try ws.requiresGrad()
        let y = try conv2d(xs, ws, b, padding: [1])
        try sum(y).backward()
        for n in [0, 217, 399] {
            let xn = try Tensor(Array(x.toArray()[(n * 4800)..<((n + 1) * 4800)]), shape: [1, 3, 40, 40])
            let xl = try xn.clone()
            try xl.requiresGrad()
            let yn = try conv2d(xl, w, b, padding: [1])
            assertClose(
                yn, try Tensor(Array(y.toArray()[(n * 3200)..<((n + 1) * 3200)]), shape: [1, 2, 40, 40]),
                rtol: 1e-5, atol: 1e-5, "sample \(n)")
            try sum(yn).backward()
            assertClose(
                try XCTUnwrap(xl.grad),
                try Tensor(Array(xs.grad!.toArray()[(n * 4800)..<((n + 1) * 4800)]), shape: [1, 3, 40, 40]),
                rtol: 1e-5, atol: 1e-5, "dx sample \(n)")
        }
        XCTAssertEqual(ws.grad?.shape, [2, 3, 3, 3])
    }

    // MARK: finite differences

    func testConvFiniteDifferences() throws {
        var r = SplitMix(seed: 11)
        try gradCheck([r.tensor([2, 3, 5, 6]), r.tensor([4, 3, 3, 3]), r.tensor([4])]) {
            try conv2d($0[0], $0[1], $0[2], stride: [2, 1], padding: [1], dilation: [1, 2])
        }
        try gradCheck([r.tensor([2, 4, 5, 5]), r.tensor([4, 2, 3, 3])]) { try conv2d($0[0], $0[1], groups: 2) }
        try gradCheck([r.tensor([1, 3, 6, 5]), r.tensor([6, 1, 3, 3]), r.tensor([6])]) {
            try conv2d($0[0], $0[1], $0[2], stride: [2], padding: [1], groups: 3)
        }
        try gradCheck([r.tensor([3, 5, 4]), r.tensor([2, 3, 2, 2])]) { try conv2d($0[0], $0[1], padding: "same") }
        try gradCheck([r.tensor([2, 3, 4, 4]), r.tensor([5, 3, 1, 1]), r.tensor([5])]) {
            try conv2d($0[0], $0[1], $0[2])
        }
    }

    func testPoolFiniteDifferences() throws {
        var r = SplitMix(seed: 12)
        // Distinct values keep max pooling away from ties, where it is not differentiable.
        let perm: [Float] = (0..<168).map { (k: Int) -> Float in Float((k * 37) % 168) * 0.05 }
        let xm = try Tensor(perm, shape: [2, 2, 7, 6])
        try gradCheck([xm], eps: 1e-3) {
            try maxPool2d($0[0], kernelSize: [3], stride: [2], padding: [1], ceilMode: true)
        }
        try gradCheck([xm], eps: 1e-3) { try maxPool2d($0[0], kernelSize: [2, 3], stride: [1], dilation: [2, 1]) }
        try gradCheck([r.tensor([2, 3, 7, 6])]) {
            try avgPool2d($0[0], kernelSize: [3], stride: [2], padding: [1], ceilMode: true, countIncludePad: false)
        }
        try gradCheck([r.tensor([3, 5, 6])]) { try avgPool2d($0[0], kernelSize: [2]) }
        try gradCheck([r.tensor([2, 2, 7, 5])]) { try adaptiveAvgPool2d($0[0], outputSize: [3, 2]) }
    }

    func testInterpolateFiniteDifferences() throws {
        var r = SplitMix(seed: 13)
        let x = r.tensor([1, 2, 4, 5])
        try gradCheck([x]) { try interpolate($0[0], size: [7, 3], mode: "bilinear", alignCorners: false) }
        try gradCheck([x]) { try interpolate($0[0], size: [6, 8], mode: "bilinear", alignCorners: true) }
        try gradCheck([x]) { try interpolate($0[0], scaleFactor: [1.5], mode: "bilinear") }
        try gradCheck([x]) { try interpolate($0[0], size: [9, 4], mode: "nearest") }
        try gradCheck([x]) { try interpolate($0[0], scaleFactor: [2, 0.5]) }
    }

    // MARK: errors

    func testConvErrors() throws {
        let x = try Tensor.zeros([1, 3, 5, 5])
        let w = try Tensor.zeros([4, 3, 3, 3])
        assertThrowsDFM(
            try conv2d(x, try Tensor.zeros([4, 2, 3, 3])), "to have 2 channels, but got 3 channels",
            kind: .shapeMismatch)
        assertThrowsDFM(
            try conv2d(try Tensor.zeros([1, 4, 5, 5]), try Tensor.zeros([3, 2, 3, 3]), groups: 2),
            "expected weight to be divisible by 2", kind: .shapeMismatch)
        assertThrowsDFM(try conv2d(x, try Tensor.zeros([4, 1, 3, 3]), groups: 2), "to have 2 channels, but got 3")
        assertThrowsDFM(
            try conv2d(x, try Tensor.zeros([4, 3, 7, 7])), "Kernel size can't be greater than actual input size")
        assertThrowsDFM(try conv2d(x, try Tensor.zeros([4, 3, 4, 4]), dilation: [2]), "Kernel size: (7 x 7)")
        XCTAssertEqual(try conv2d(x, try Tensor.zeros([4, 3, 7, 7]), padding: [1]).shape, [1, 4, 1, 1])
        assertThrowsDFM(try conv2d(x, w, stride: [0]), "non-positive stride", kind: .invalidArgument)
        assertThrowsDFM(try conv2d(x, w, padding: [-1, 0]), "negative padding", kind: .invalidArgument)
        assertThrowsDFM(try conv2d(x, w, dilation: [1, 0]), "dilation should be greater than zero")
        assertThrowsDFM(try conv2d(x, w, groups: 0), "non-positive groups")
        assertThrowsDFM(
            try conv2d(x, w, stride: [1, 1, 1]), "stride to be a single integer value or a list of 2 values")
        assertThrowsDFM(
            try conv2d(try Tensor.zeros([3, 5]), w), "Expected 3D (unbatched) or 4D (batched) input",
            kind: .shapeMismatch)
        assertThrowsDFM(try conv2d(x, try Tensor.zeros([4, 3, 3])), "weight must be 4-dimensional")
        assertThrowsDFM(try conv2d(x, w, try Tensor.zeros([3])), "expected bias to be 1-dimensional with 4 elements")
        assertThrowsDFM(
            try conv2d(x, w, stride: [2], padding: "same"), "padding='same' is not supported for strided convolutions")
        assertThrowsDFM(try conv2d(x, w, padding: "full"), "Invalid padding string: 'full'")
        assertThrowsDFM(
            try conv2d(try Tensor(int64: [Int64](repeating: 0, count: 75), shape: [1, 3, 5, 5]), w), "float32",
            kind: .typeError)
    }

    func testPoolErrors() throws {
        let x = try Tensor.zeros([1, 3, 5, 5])
        for pool in [
            { try maxPool2d($0, kernelSize: $1, stride: $2, padding: $3) },
            { try avgPool2d($0, kernelSize: $1, stride: $2, padding: $3) },
        ] as [(Tensor, [Int], [Int]?, [Int]) throws -> Tensor] {
            assertThrowsDFM(try pool(x, [0], nil, [0]), "kernel_size must be greater than zero")
            assertThrowsDFM(try pool(x, [2], [0], [0]), "stride must be greater than zero")
            assertThrowsDFM(try pool(x, [3], nil, [2]), "pad should be at most half of effective kernel size")
            assertThrowsDFM(try pool(x, [3], nil, [-1]), "pad must be non-negative")
            assertThrowsDFM(
                try pool(try Tensor.zeros([1, 3, 2, 2]), [3], nil, [0]), "Output size is too small",
                kind: .shapeMismatch)
            assertThrowsDFM(try pool(try Tensor.zeros([3, 2]), [1], nil, [0]), "non-empty 3D or 4D")
            assertThrowsDFM(try pool(try Tensor.zeros([1, 0, 4, 4]), [1], nil, [0]), "non-empty 3D or 4D")
            assertThrowsDFM(
                try pool(x, [2, 2, 2], nil, [0]), "kernel_size to be a single integer value or a list of 2 values")
        }
        assertThrowsDFM(
            try maxPool2d(try Tensor.zeros([1, 3, 9, 9]), kernelSize: [3], padding: [2], dilation: [2]),
            "pad should be smaller than or equal to half of kernel size")
        assertThrowsDFM(try maxPool2d(x, kernelSize: [2], dilation: [0]), "dilation must be greater than zero")
        assertThrowsDFM(try adaptiveAvgPool2d(x, outputSize: [-1, 2]), "must be greater than or equal to 0")
        assertThrowsDFM(
            try adaptiveAvgPool2d(try Tensor.zeros([1, 3, 0, 4]), outputSize: [2]), "with dimension 2 being empty")
        assertThrowsDFM(try adaptiveAvgPool2d(try Tensor.zeros([5, 5]), outputSize: [2]), "Expected 3D or 4D tensor")
        assertThrowsDFM(try adaptiveAvgPool2d(x, outputSize: [1, 2, 3]), "output_size to be a single integer value")
        XCTAssertEqual(try adaptiveAvgPool2d(x, outputSize: [0, 2]).shape, [1, 3, 0, 2])
    }

    func testInterpolateErrors() throws {
        let x = try Tensor.zeros([1, 2, 4, 4])
        assertThrowsDFM(
            try interpolate(x, size: [3, 3], scaleFactor: [2]), "only one of size or scale_factor should be defined")
        assertThrowsDFM(try interpolate(x), "either size or scale_factor should be defined")
        assertThrowsDFM(try interpolate(x, size: [3, 3], alignCorners: true), "align_corners option can only be set")
        assertThrowsDFM(try interpolate(x, size: [3, 3, 3]), "same number of spatial dimensions")
        assertThrowsDFM(try interpolate(x, scaleFactor: [2, 2, 2]), "same number of spatial dimensions")
        assertThrowsDFM(try interpolate(x, scaleFactor: [0.1], mode: "bilinear"), "sizes should be greater than 0")
        assertThrowsDFM(try interpolate(x, size: [0, 3]), "sizes should be greater than 0")
        assertThrowsDFM(try interpolate(x, scaleFactor: [-2]), "scale_factor must be positive and finite")
        assertThrowsDFM(try interpolate(x, scaleFactor: [.nan]), "scale_factor must be positive and finite")
        assertThrowsDFM(try interpolate(x, size: [3], mode: "bicubic"), "unsupported mode 'bicubic'")
        assertThrowsDFM(
            try interpolate(try Tensor.zeros([2, 4, 4]), size: [3], mode: "bilinear"), "expected a 4-D input",
            kind: .shapeMismatch)
    }

    /// Gradients reach only the inputs that ask for them, and no_grad records nothing.
    func testGradSelectionAndNoGrad() throws {
        var r = SplitMix(seed: 5)
        let x = r.tensor([2, 3, 5, 5])
        let w = try r.tensor([4, 3, 3, 3]).requiresGrad()
        let b = r.tensor([4])
        try sum(try conv2d(x, w, b, padding: [1])).backward()
        XCTAssertNil(x.grad)
        XCTAssertNil(b.grad)
        XCTAssertEqual(w.grad?.shape, [4, 3, 3, 3])
        let y = try GradMode.noGrad { try maxPool2d(try conv2d(x, w, b), kernelSize: [2]) }
        XCTAssertFalse(y.requiresGrad)
    }
}
