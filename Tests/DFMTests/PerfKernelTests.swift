import Foundation
import XCTest

@testable import DFM

/// The speed-motivated paths give the same results as the plain ones: conv tap pruning,
/// in-place gradient accumulation in the autograd engine, statically dispatched elementwise kernels.
final class PerfKernelTests: XCTestCase {
    /// conv2d output and input/weight gradients with and without dead-tap pruning.
    private func convBothWays(x: [Int], w: [Int], stride: Int, padding: Int, dilation: Int = 1) throws {
        var r = SplitMix(seed: 11)
        let x0 = r.tensor(x)
        let w0 = r.tensor(w)
        var gy: Tensor? = nil  // one upstream gradient for both runs
        var outs: [[Float]] = []
        var gxs: [[Float]] = []
        var gws: [[Float]] = []
        let saved = ConvGeom.pruneDeadTaps
        defer { ConvGeom.pruneDeadTaps = saved }
        for prune in [true, false] {
            ConvGeom.pruneDeadTaps = prune
            let xl = try x0.clone()
            let wl = try w0.clone()
            try xl.requiresGrad()
            try wl.requiresGrad()
            let y = try conv2d(xl, wl, stride: [stride], padding: [padding], dilation: [dilation])
            if gy == nil { gy = r.tensor(y.shape) }
            try y.backward(gy)
            outs.append(y.toArray())
            gxs.append(xl.grad!.toArray())
            gws.append(wl.grad!.toArray())
        }
        assertClose(outs[0], outs[1], atol: 1e-5)
        assertClose(gxs[0], gxs[1], atol: 1e-5)
        assertClose(gws[0], gws[1], atol: 1e-5)
    }

    private func assertClose(
        _ a: [Float], _ b: [Float], atol: Float, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        let worst = zip(a, b).map { Swift.abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, atol, file: file, line: line)
    }

    /// Pointwise convs on large planes run sample by sample (no layout copies): same results
    /// as the batched path, groups included.
    func testPointwisePerSampleMatchesBatched() throws {
        var r = SplitMix(seed: 21)
        let x0 = r.tensor([3, 4, 16, 17])
        let w0 = r.tensor([6, 2, 1, 1])
        let b0 = r.tensor([6])
        let gy = r.tensor([3, 6, 16, 17])
        let saved = ConvGeom.pointwiseDirectMinPlane
        defer { ConvGeom.pointwiseDirectMinPlane = saved }
        var res: [[[Float]]] = []
        for minPlane in [256, Int.max] {
            ConvGeom.pointwiseDirectMinPlane = minPlane
            let x = try x0.clone()
            let w = try w0.clone()
            let b = try b0.clone()
            try x.requiresGrad()
            try w.requiresGrad()
            try b.requiresGrad()
            let y = try conv2d(x, w, b, groups: 2)
            try y.backward(gy)
            res.append([y.toArray(), x.grad!.toArray(), w.grad!.toArray(), b.grad!.toArray()])
        }
        for k in 0..<4 { assertClose(res[0][k], res[1][k], atol: 1e-5) }
    }

    func testPrunedTapsGeometry() {
        // 3×3/pad 1 on a 1×1 plane: only the centre tap reads the input.
        let g = ConvGeom(
            n: 2, c: 4, h: 1, w: 1, o: 3, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1,
            oh: 1, ow: 1, groups: 1
        ).pruned()
        XCTAssertEqual(g.live, [4])
        // 3×3/2 pad 1 from 2×2 to 1×1: taps (1,1), (1,2), (2,1), (2,2).
        let s = ConvGeom(
            n: 2, c: 4, h: 2, w: 2, o: 3, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, dh: 1, dw: 1,
            oh: 1, ow: 1, groups: 1
        ).pruned()
        XCTAssertEqual(s.live, [4, 5, 7, 8])
        // 2×2 with pad 1: every tap reads something; nothing to prune.
        let f = ConvGeom(
            n: 2, c: 4, h: 2, w: 2, o: 3, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1,
            oh: 2, ow: 2, groups: 1
        ).pruned()
        XCTAssertNil(f.live)
    }

    func testPrunedConvMatchesFull() throws {
        try convBothWays(x: [3, 5, 1, 1], w: [6, 5, 3, 3], stride: 1, padding: 1)
        try convBothWays(x: [3, 5, 2, 2], w: [6, 5, 3, 3], stride: 2, padding: 1)
        try convBothWays(x: [2, 3, 2, 3], w: [4, 3, 3, 3], stride: 1, padding: 2, dilation: 2)
        try convBothWays(x: [2, 3, 1, 4], w: [4, 3, 3, 3], stride: 1, padding: 1)
    }

    /// The live-tap weights cached inside a scope: the same numbers as without it, a weight
    /// changed between scopes is seen, and non-leaf weights (new tensors that may reuse a freed
    /// address) are never served from the cache.
    func testLiveWeightCacheScope() throws {
        var r = SplitMix(seed: 3)
        let x = r.tensor([2, 4, 1, 1])  // 1×1 planes with padding 1: only the centre tap is live
        let w = r.tensor([5, 4, 3, 3])
        let plain = try conv2d(x, w, padding: [1]).toArray()
        try LiveWeightCache.scope {
            XCTAssertEqual(try conv2d(x, w, padding: [1]).toArray(), plain)
            XCTAssertEqual(try conv2d(x, w, padding: [1]).toArray(), plain)  // from the cache
            for k in 1...4 {  // non-leaf weights, created and freed inside the scope
                let wk = try mul(try w.requiresGrad(), Double(k))
                XCTAssertFalse(wk.isLeaf)
                assertClose(try conv2d(x, wk, padding: [1]).toArray(), plain.map { $0 * Float(k) }, atol: 1e-5)
            }
        }
        // Scopes are per thread: another thread inside this thread's scope is not in one.
        try LiveWeightCache.scope {
            let g = ConvGeom(
                n: 2, c: 4, h: 1, w: 1, o: 5, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, oh: 1, ow: 1,
                groups: 1
            ).pruned()
            XCTAssertNotNil(try LiveWeightCache.current.lookup(w, UnsafePointer(w.p(Float.self)), g, build: { _ in }))
            final class Box: @unchecked Sendable { var servedFromCache = true }
            let other = Box()
            let done = DispatchSemaphore(value: 0)
            let t = Thread {
                other.servedFromCache =
                    (try? LiveWeightCache.current.lookup(w, UnsafePointer(w.p(Float.self)), g, build: { _ in })) != nil
                done.signal()
            }
            t.start()
            done.wait()
            XCTAssertFalse(other.servedFromCache)
        }
        try GradMode.noGrad { try w.copy_(try mul(w, 2)) }
        let doubled = try LiveWeightCache.scope { try conv2d(x, w, padding: [1]).toArray() }
        assertClose(doubled, plain.map { $0 * 2 }, atol: 1e-5)
    }

    /// A leaf used several times and gradients that rules hand on unchanged (add returns the same
    /// tensor for both inputs): in-place accumulation must never write into a shared tensor.
    func testGradientAccumulationWithAliasedGrads() throws {
        let x = try Tensor([1, -2, 3], shape: [3]).requiresGrad()
        let u = try mul(x, 2)  // du/dx = 2
        let v = try add(u, u)  // rule returns g for both inputs (same object)
        let w = try add(try add(v, u), x)  // w = 2u + u + x = 7x
        let z = try add(w, try mul(u, u))  // + u² = 4x²  => dz/dx = 7 + 8x
        try sum(z).backward()
        XCTAssertEqual(x.grad?.toArray(), [15, -9, 31])
        // A second backward accumulates into the existing .grad (not owned by the engine).
        let held = x.grad!
        let y = try mul(x, 3)
        try sum(try add(y, y)).backward()
        XCTAssertEqual(x.grad?.toArray(), [21, -3, 37])
        XCTAssertEqual(held.toArray(), [15, -9, 31], "the previous .grad tensor must not be modified in place")
    }

    /// A weight used in 5 recurrent steps (the DFM pattern): the accumulated gradient against
    /// finite differences.
    func testWeightSharedAcrossStepsGetsSummedGrad() throws {
        var r = SplitMix(seed: 5)
        let w = try mul(r.tensor([3, 3]), 0.5).detach()
        let h0 = r.tensor([2, 3])
        try gradCheck([w]) { xs in
            let h0 = try like(h0, xs[0])
            var h = h0
            for _ in 0..<5 { h = try add(try matmul(h, xs[0]), h0) }
            return h
        }
    }

    func testStaticElementwiseOps() throws {
        let a = try Tensor([1, -2, .nan, 0], shape: [4])
        let r = try relu(a).toArray()
        XCTAssertEqual(r[0], 1)
        XCTAssertEqual(r[1], 0)
        XCTAssertTrue(r[2].isNaN)
        XCTAssertEqual(r[3], 0)
        let s = try Tensor([10], shape: [1])
        XCTAssertEqual(try sub(s, a).toArray()[0], 9)  // scalar-shaped left operand: s - a
        XCTAssertEqual(try sub(a, s).toArray()[1], -12)  // scalar-shaped right operand: a - s
        XCTAssertEqual(try div(s, try Tensor([4, 5], shape: [2])).toArray(), [2.5, 2])
        let m = try Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let col = try Tensor([10, 20], shape: [2, 1])
        XCTAssertEqual(try add(m, col).toArray(), [11, 12, 13, 24, 25, 26])
        XCTAssertEqual(try mul(m, 2).toArray(), [2, 4, 6, 8, 10, 12])
        XCTAssertEqual(try add(m, 0.5).toArray(), [1.5, 2.5, 3.5, 4.5, 5.5, 6.5])
        XCTAssertEqual(try neg(m).toArray(), [-1, -2, -3, -4, -5, -6])
    }
    /// Sums over leading dims (row-by-row path) equal the in-order fiber sums bitwise.
    func testLeadingDimSumIsInOrder() throws {
        var r = SplitMix(seed: 13)
        let x = r.tensor([6, 5, 70])
        let v = x.toArray()
        let s01 = try sum(x, dims: [0, 1]).toArray()
        let s0 = try sum(x, dims: [0]).toArray()
        for j in 0..<70 {
            var acc: Float = 0
            for i in 0..<30 { acc += v[i * 70 + j] }
            XCTAssertEqual(s01[j], acc)
        }
        for q in 0..<(5 * 70) {
            var acc: Float = 0
            for i in 0..<6 { acc += v[i * 350 + q] }
            XCTAssertEqual(s0[q], acc)
        }
    }

    /// GEMMs split over dfm's threads match one single-threaded GEMM closely and repeat bitwise.
    func testSplitGemmMatchesUnsplit() throws {
        var r = SplitMix(seed: 17)
        let a = r.tensor([96, 200])
        let b = r.tensor([200, 300])
        let saved = Parallel.threads
        defer { try? Parallel.setThreads(saved) }
        try Parallel.setThreads(2)
        let split1 = try matmul(a, b).toArray()
        let split2 = try matmul(a, b).toArray()
        XCTAssertEqual(split1, split2)
        try Parallel.setThreads(1)
        let one = try matmul(a, b).toArray()
        assertClose(split1, one, atol: 1e-4)
    }
}
