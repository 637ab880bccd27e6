import CKernels
import Foundation
import XCTest

@testable import DFM

/// The branch-free float32 exp and normal CDF (Sources/CKernels/include/dfm_kernels.h) against libm in
/// double precision, over their whole range, and on the values that need care.
final class FastMathTests: XCTestCase {
    func testExpWithinTwoUlp() {
        var worst = 0.0
        var x: Float = -87.3
        while x < 88.72 {
            let ref = Foundation.exp(Double(x))
            worst = Swift.max(worst, Swift.abs(Double(Float.expv(x)) - ref) / ref)
            x += 0.000_37
        }
        XCTAssertLessThan(worst, 2 * 5.97e-8)  // 2 ulp of 1 (relative)
        XCTAssertEqual(Float.expv(0), 1)
        XCTAssertEqual(Float.expv(89), .infinity)
        XCTAssertEqual(Float.expv(.infinity), .infinity)
        XCTAssertEqual(Float.expv(-88), 0)
        XCTAssertEqual(Float.expv(-.infinity), 0)
        XCTAssertTrue(Float.expv(.nan).isNaN)
    }

    func testNormalCDFRelativeErrorIncludingTheLeftTail() {
        var worst = 0.0
        var x: Float = -12.5  // Φ(-12.5) ≈ 4e-36: still a normal float
        while x < 9 {
            let ref = 0.5 * Foundation.erfc(-Double(x) / 2.0.squareRoot())
            worst = Swift.max(worst, Swift.abs(Double(Float.normalCDF(x)) - ref) / ref)
            x += 0.000_71
        }
        // The conditioning of Φ at x = -12.5 alone amplifies x's rounding 6e-8 by x² ≈ 160.
        XCTAssertLessThan(worst, 2e-5)
        XCTAssertEqual(Float.normalCDF(0), 0.5)
        XCTAssertEqual(Float.normalCDF(.infinity), 1)
        XCTAssertEqual(Float.normalCDF(-.infinity), 0)
        XCTAssertEqual(Float.normalCDF(-40), 0)
        XCTAssertTrue(Float.normalCDF(.nan).isNaN)
    }

    /// float32 GELU and its gradient through the fast path against the float64 op (libm).
    func testGeluFloat32MatchesFloat64() throws {
        let xs = (0..<4001).map { Double($0) * 0.005 - 10 }
        let x64 = try Tensor(double: xs, shape: [xs.count]).requiresGrad(true)
        let x32 = try Tensor(xs.map { Float($0) }, shape: [xs.count]).requiresGrad(true)
        let y64 = try gelu(x64)
        let y32 = try gelu(x32)
        try sum(y64).backward()
        try sum(y32).backward()
        for (name, a, b) in [("gelu", y32, y64), ("gelu grad", x32.grad!, x64.grad!)] {
            let a = a.toArray()
            let b = b.toDoubleArray()
            for i in 0..<xs.count {
                XCTAssertEqual(Double(a[i]), b[i], accuracy: 2e-7 + 2e-6 * Swift.abs(b[i]), "\(name) at x = \(xs[i])")
            }
        }
    }

    /// CKernels' vectorised loops (the ISA level this CPU picks) against the scalar definitions
    /// inlined into Swift at the baseline level, bit for bit: no level contracts or reorders.
    func testVectorLoopsMatchScalarDefinitionsBitwise() throws {
        var xs: [Float] = (0..<3001).map { Float($0) * 0.01 - 15 }
        xs += [0, -0.0, .infinity, -.infinity, .nan, 88.7, -87.3, 1e-30, -1e-30, 5.5e-3]
        let g: [Float] = xs.indices.map { Float(($0 * 7919) % 1000) / 250 - 2 }
        let x = try Tensor(xs, shape: [xs.count]).requiresGrad(true)
        let y = try gelu(x)
        try y.backward(try Tensor(g, shape: [g.count]))
        let ya = y.toArray()
        let ga = x.grad!.toArray()
        for i in xs.indices {
            let xi = xs[i]
            let want = xi * Float.normalCDF(xi)
            let wantG = g[i] * (Float.normalCDF(xi) + xi * Float.expv(-0.5 * xi * xi) * 0.398_942_280_401_432_68)
            XCTAssertEqual(ya[i].bitPattern, want.bitPattern, "gelu(\(xi))")
            XCTAssertEqual(ga[i].bitPattern, wantG.bitPattern, "gelu'(\(xi))")
        }
        var row = xs.filter { $0.isFinite }
        let shift: Float = 0.75
        let want = row.map { Float.expv($0 - shift) }
        row.withUnsafeMutableBufferPointer { Float.expShift($0.baseAddress!, $0.baseAddress!, $0.count, shift) }
        XCTAssertEqual(row.map(\.bitPattern), want.map(\.bitPattern))

        // Attention's softmax rows (16-lane vectors) against the scalar definition: the maximum,
        // expv(x - max) into partial sum k mod 16, the tree 8, 4, 2, 1, times 1/sum; and the backward
        // p·(d - Σ d·p) with the same sums. Rows of 49 (a tail), 16, 5 and 1, one with ±inf and NaN,
        // one all -inf (zeros). NaNs compare as NaN (a payload may differ).
        func lanes(_ v: [Float]) -> Float {
            var s = [Float](repeating: 0, count: 16)
            for (k, e) in v.enumerated() { s[k % 16] += e }
            for w in [8, 4, 2, 1] { for j in 0..<w { s[j] += s[j + w] } }
            return s[0]
        }
        let rows: [[Float]] = [
            Array(xs[0..<49]), Array(xs[49..<65]), Array(xs[65..<70]), [xs[70]], Array(xs[2962..<3011]),
            [Float](repeating: -.infinity, count: 7),
        ]
        for r in rows {
            let m = r.reduce(-Float.infinity) { $1 >= $0 ? $1 : $0 }
            let e = r.map { Float.expv($0 - m) }
            let inv = 1 / lanes(e)
            let want = m == -.infinity ? r.map { _ in Float(0) } : e.map { $0 * inv }
            var got = r
            got.withUnsafeMutableBufferPointer { Float.softmaxRows($0.baseAddress!, rows: 1, n: $0.count) }
            let d = r.indices.map { Float(($0 * 31) % 17) / 8 - 1 }
            let dot = lanes(zip(d, want).map { $0 * $1 })
            let wantD = zip(d, want).map { $1 * ($0 - dot) }
            var gotD = d
            gotD.withUnsafeMutableBufferPointer { Float.softmaxGradRows($0.baseAddress!, want, rows: 1, n: $0.count) }
            func canon(_ v: [Float]) -> [UInt32] { v.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern } }
            XCTAssertEqual(canon(got), canon(want), "softmax of a row of \(r.count)")
            XCTAssertEqual(canon(gotD), canon(wantD), "softmax backward of a row of \(r.count)")
        }
    }

    /// Every ISA level this CPU runs (baseline, AVX2, AVX-512) gives the same bits for every loop
    /// of CKernels, Adam's fused multiply-adds included: the CPU never changes a number.
    func testEveryISALevelGivesTheSameBits() throws {
        let top = dfmk_max_level()
        defer { XCTAssertEqual(dfmk_set_level(top), 0) }
        let n = 1000
        let x: [Float] = (0..<n).map { Float(($0 * 7919) % 2000) / 97 - 10 }
        let g: [Float] = (0..<n).map { Float(($0 * 104_729) % 1000) / 500 - 1 }
        var runs: [(level: Int32, bits: [UInt32])] = []
        for level: Int32 in [1, 3, 4] where level <= top {
            XCTAssertEqual(dfmk_set_level(level), 0)
            XCTAssertEqual(dfmk_level(), level)
            var y = [Float](repeating: 0, count: n)
            var dx = [Float](repeating: 0, count: n)
            var e = x
            dfmk_gelu_f32(x, &y, n)
            dfmk_gelu_backward_f32(g, x, &dx, n)
            e.withUnsafeMutableBufferPointer { dfmk_exp_shift_f32($0.baseAddress!, $0.baseAddress!, n, 1.5) }
            // A 3x3 tap map over a 5x5 plane with padding 1 (every fourth entry padding), two samples.
            let map: [Int32] = (0..<25).map { $0 % 4 == 3 ? -1 : Int32(($0 * 7) % 25) }
            var inv = [Int32](repeating: -1, count: 25)
            for (q, k) in map.enumerated() where k >= 0 { inv[Int(k)] = Int32(q) }
            var cols = [Float](repeating: 0, count: 50)
            var plane = [Float](repeating: 0, count: 25)
            dfmk_im2col_taps_f32(x, 25, map, &cols, 25, 2)
            dfmk_col2im_taps_f32(g, 25, inv + inv, [0, 1], 2, &plane, 25)
            var full = [Float](repeating: 1, count: 36)
            dfmk_scatter_taps_f32(g, 2, [4, 7], &full, 9, 4, 0)
            var summed = full
            dfmk_scatter_taps_f32(g, 2, [4, 7], &summed, 9, 4, 1)
            // The gathered GEMM: 11 rows (a tile edge), depth 5 channels x 2 taps, 3 samples of 25.
            var ggOut = [Float](repeating: 0, count: 11 * 75)
            let ggMap = map + map.reversed()
            var pa = [Float](repeating: 0, count: dfmk_gg_packed_a_size(11, 10))
            var scratch = [Float](repeating: 0, count: dfmk_gg_scratch_size(10, 2))
            dfmk_gg_pack_a_f32(g, 10, 10, 0, 11, 10, &pa)
            x.withUnsafeBufferPointer { xb in
                ggMap.withUnsafeBufferPointer { mb in
                    var src = dfmk_gather(
                        x: xb.baseAddress, sample_stride: 125, plane_stride: 25, plane: 25, map: mb.baseAddress,
                        ntaps: 2, transposed: 0)
                    dfmk_gg_gemm_f32(pa, 11, 10, &src, 0, 75, &ggOut, 75, &scratch)
                    // The transposed form: depth 3 samples x 25, 5 channels x 2 taps.
                    var tsrc = dfmk_gather(
                        x: xb.baseAddress, sample_stride: 125, plane_stride: 25, plane: 25, map: mb.baseAddress,
                        ntaps: 2, transposed: 1)
                    var pt = [Float](repeating: 0, count: dfmk_gg_packed_a_size(11, 75))
                    dfmk_gg_pack_a_f32(g, 75, 75, 0, 11, 75, &pt)
                    var tsScratch = [Float](repeating: 0, count: dfmk_gg_scratch_size(75, 2))
                    var tOut = [Float](repeating: 0, count: 11 * 10)
                    dfmk_gg_gemm_f32(pt, 11, 75, &tsrc, 0, 10, &tOut, 10, &tsScratch)
                    ggOut += tOut
                }
            }
            // Softmax rows: 20 rows of 49 (three 16-lane blocks and a tail), then its backward.
            var sm = Array(x[0..<980])
            dfmk_softmax_rows_f32(&sm, 20, 49)
            var smd = Array(g[0..<980])
            dfmk_softmax_grad_rows_f32(&smd, sm, 20, 49)
            var bits = (y + dx + e + cols + plane + full + summed + ggOut + sm + smd).map(\.bitPattern)
            // Normalisation sums: 3 runs of 333 (lanes plus a tail) 111 apart, and 40 runs of 4.
            var sums: [Double] = []
            for (runs, stride, len) in [(3, 111, 333), (40, 20, 4)] {
                let s = dfmk_norm_sum_f32(x, runs, stride, len, 0, 0)
                let mean = s / Double(runs * len)
                var sg: Double = 0
                var sgx: Double = 0
                dfmk_grad_sums_f32(g, x, runs, stride, len, Float(mean), 0.7, &sg, &sgx)
                sums += [s, dfmk_norm_sum_f32(x, runs, stride, len, mean, 1), sg, sgx]
                // Against plain double sums (another order, so only nearly equal).
                var ref = [Double](repeating: 0, count: 4)
                for r in 0..<runs {
                    for k in (r * stride)..<(r * stride + len) {
                        ref[0] += Double(x[k])
                        ref[1] += (Double(x[k]) - mean) * (Double(x[k]) - mean)
                        ref[2] += Double(g[k])
                        ref[3] += Double(g[k]) * Double((x[k] - Float(mean)) * 0.7)
                    }
                }
                for (a, b) in zip(sums.suffix(4), ref) { XCTAssertEqual(a, b, accuracy: 1e-9 * max(1, abs(b))) }
            }
            bits += sums.flatMap { [UInt32(truncatingIfNeeded: $0.bitPattern), UInt32($0.bitPattern >> 32)] }
            for (amsgrad, smallW, wd, decoupled) in [(false, true, 0, 0), (false, false, 1, 1), (true, true, 1, 0)] {
                var p = x
                var m = [Float](repeating: 0, count: n)
                var v = [Float](repeating: 0, count: n)
                var vmax = [Float](repeating: 0, count: n)
                let a = dfmk_adam_params(
                    w1: smallW ? 0.1 : 0.7, w1m1: smallW ? -0.9 : -0.3, b2: 0.999, one_minus_b2: 0.001,
                    neg_step: -0.01, bc2_sqrt: 0.0447, eps: 1e-8, wd: 0.1, decay: 0.999, small_w: smallW ? 1 : 0,
                    maximize: 0, has_wd: Int32(wd), decoupled: Int32(decoupled))
                for _ in 0..<3 {
                    withUnsafePointer(to: a) { ap in
                        vmax.withUnsafeMutableBufferPointer { vb in
                            dfmk_adam_f32(&p, g, &m, &v, amsgrad ? vb.baseAddress : nil, n, ap)
                        }
                    }
                }
                bits += (p + m + v).map(\.bitPattern)
            }
            runs.append((level, bits))
        }
        XCTAssertGreaterThanOrEqual(runs.count, 1)
        for r in runs.dropFirst() { XCTAssertEqual(r.bits, runs[0].bits, "level \(r.level) differs from the baseline") }
    }
}
