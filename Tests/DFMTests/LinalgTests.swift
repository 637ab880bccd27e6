import XCTest

@testable import DFM

final class LinalgTests: XCTestCase {
    func testParityWithPyTorch() throws {
        let fx = try Fixture("linalg")
        var checked = 0
        for c in fx.cases {
            if c.hasPrefix("matmul_") || c == "bmm" {
                let other = c == "bmm" ? "mat2" : "other"
                let ab = try fx.leaves(c, ["input", other])
                let y = c == "bmm" ? try bmm(ab[0], ab[1]) : try matmul(ab[0], ab[1])
                try fx.check(c, outputs: [y], inputs: ["input": ab[0], other: ab[1]], rtol: 1e-5, atol: 1e-5)
            } else if c.hasPrefix("linear_") {
                let hasBias = fx.tensors["\(c)/in/bias"] != nil
                let t = try fx.leaves(c, hasBias ? ["input", "weight", "bias"] : ["input", "weight"])
                let y = try linear(t[0], t[1], hasBias ? t[2] : nil)
                var inputs = ["input": t[0], "weight": t[1]]
                if hasBias { inputs["bias"] = t[2] }
                try fx.check(c, outputs: [y], inputs: inputs, rtol: 1e-5, atol: 1e-5)
            } else if c.hasPrefix("qr_") {
                let a = try fx.leaves(c, ["A"])[0]
                let (q, r) = try qr(a, mode: fx.string(c, "mode") ?? "")
                // PyTorch may run MKL's LAPACK: same Householder convention, different rounding.
                try fx.check(c, outputs: [q, r], inputs: ["A": a], rtol: 1e-4, atol: 1e-4)
            } else if c.hasPrefix("softmax_") || c.hasPrefix("log_softmax_") {
                let x = try fx.leaves(c, ["x"])[0]
                let dim = try XCTUnwrap(fx.int(c, "dim"))
                let y = c.hasPrefix("log_") ? try logSoftmax(x, dim: dim) : try softmax(x, dim: dim)
                try fx.check(c, outputs: [y], inputs: ["x": x], rtol: 1e-5, atol: 1e-6)
            } else {
                XCTFail("unhandled fixture case \(c)")
                continue
            }
            checked += 1
        }
        XCTAssertEqual(checked, 40)
    }

    func testFiniteDifferences() throws {
        var r = SplitMix(seed: 3)
        // matmul over rank combinations, including a broadcast batch (general sgemm loop).
        let shapes: [([Int], [Int])] = [
            ([4], [4]), ([3, 4], [4, 2]), ([3, 4], [4]), ([4], [4, 2]), ([2, 3, 4], [4, 2]),
            ([3, 4], [2, 4, 2]), ([2, 1, 3, 4], [3, 4, 2]), ([4], [2, 4, 3]), ([2, 3, 4], [4]),
        ]
        for (sa, sb) in shapes {
            try gradCheck([r.tensor(sa), r.tensor(sb)]) { try matmul($0[0], $0[1]) }
        }
        try gradCheck([r.tensor([2, 3, 4]), r.tensor([2, 4, 2])]) { try bmm($0[0], $0[1]) }
        try gradCheck([r.tensor([2, 3, 4]), r.tensor([5, 4]), r.tensor([5])]) { try linear($0[0], $0[1], $0[2]) }
        try gradCheck([r.tensor([3, 4]), r.tensor([2, 4])]) { try linear($0[0], $0[1]) }

        // QR: a fixed random weighting of both outputs, on well-conditioned matrices.
        for (shape, mode) in [
            ([4, 4], "reduced"), ([5, 3], "reduced"), ([4, 4], "complete"), ([3, 5], "reduced"),
            ([3, 5], "complete"), ([2, 4, 3], "reduced"),
        ] {
            let a = try add(r.tensor(shape), try eye(shape, scale: 2))
            let (q0, r0) = try qr(a, mode: mode)
            let wq = r.tensor(q0.shape)
            let wr = r.tensor(r0.shape)
            try gradCheck([a], eps: 5e-3) { xs in
                let (q, rr) = try qr(xs[0], mode: mode)
                return try add(try sum(try mul(q, wq)), try sum(try mul(rr, wr)))
            }
        }

        let x = r.tensor([2, 3, 4, 5], -2, 2)
        for dim in [1, -1, 0, 2] {
            try gradCheck([x]) { try softmax($0[0], dim: dim) }
            try gradCheck([x]) { try logSoftmax($0[0], dim: dim) }
        }
        // Inner size above one 64-lane block.
        try gradCheck([r.tensor([2, 3, 70])]) { try softmax($0[0], dim: 1) }
        try gradCheck([r.tensor([2, 3, 70])]) { try logSoftmax($0[0], dim: 1) }
    }

    /// Batched matmul through the folded sgemm and through the per-matrix loop agree with
    /// a naive triple loop, and broadcast gradients sum over the broadcast batch.
    func testMatmulAgainstNaiveLoops() throws {
        var r = SplitMix(seed: 5)
        let a = r.tensor([3, 1, 2, 4])
        let b = r.tensor([2, 4, 3])
        let y = try matmul(a, b)
        XCTAssertEqual(y.shape, [3, 2, 2, 3])
        for i in 0..<3 {
            for j in 0..<2 {
                for p in 0..<2 {
                    for q in 0..<3 {
                        var s: Float = 0
                        for k in 0..<4 { s += a.f[(i * 2 + p) * 4 + k] * b.f[(j * 4 + k) * 3 + q] }
                        XCTAssertEqual(y.f[((i * 2 + j) * 2 + p) * 3 + q], s, accuracy: 1e-5)
                    }
                }
            }
        }
        // Same product with a's batch materialised must give the same gradient for b.
        let bl = try b.clone().requiresGrad()
        try sum(try matmul(a, bl)).backward()
        let bl2 = try b.clone().requiresGrad()
        try sum(try matmul(try expand(a, to: [3, 2, 2, 4]), bl2)).backward()
        assertClose(try XCTUnwrap(bl.grad), try XCTUnwrap(bl2.grad), rtol: 1e-5, atol: 1e-5, "broadcast batch grad")
    }

    func testEmptyAndDegenerateShapes() throws {
        // k = 0 gives zeros; empty batches give empty results and zero gradients.
        let z = try matmul(try Tensor.zeros([2, 0]).requiresGrad(), try Tensor.zeros([0, 3]))
        XCTAssertEqual(z.shape, [2, 3])
        XCTAssertEqual(z.toArray(), [Float](repeating: 0, count: 6))
        let e = try Tensor.zeros([0, 2, 3]).requiresGrad()
        let w = try Tensor.ones([3, 4]).requiresGrad()
        let ye = try matmul(e, w)
        XCTAssertEqual(ye.shape, [0, 2, 4])
        try sum(ye).backward()
        XCTAssertEqual(w.grad?.toArray(), [Float](repeating: 0, count: 12))
        XCTAssertEqual(try matmul(try Tensor([1, 2], shape: [2]), try Tensor([3, 4], shape: [2])).shape, [])
        let lin = try linear(try Tensor.zeros([3, 0]), try Tensor.zeros([2, 0]), try Tensor([1, 2], shape: [2]))
        XCTAssertEqual(lin.toArray(), [1, 2, 1, 2, 1, 2])
        XCTAssertEqual(try softmax(Tensor.scalar(3), dim: 0).toArray(), [1])
        XCTAssertEqual(try softmax(try Tensor.zeros([2, 0, 3]), dim: 1).shape, [2, 0, 3])
        // A row of -inf has no distribution: NaN, like PyTorch.
        XCTAssertTrue(
            try softmax(try Tensor([-.infinity, -.infinity], shape: [2]), dim: 0).toArray().allSatisfy(\.isNaN))

        for (shape, mode) in [([0, 3], "reduced"), ([3, 0], "complete"), ([3, 0], "reduced"), ([0, 0], "complete")] {
            let (q, r) = try qr(try Tensor.zeros(shape), mode: mode)
            let m = shape[0]
            let n = shape[1]
            let k = mode == "complete" ? m : min(m, n)
            XCTAssertEqual(q.shape, [m, k], "\(shape) \(mode)")
            XCTAssertEqual(r.shape, [k, n], "\(shape) \(mode)")
        }
        // An m×0 matrix has Q = I in complete mode.
        XCTAssertEqual(try qr(try Tensor.zeros([2, 0]), mode: "complete").q.toArray(), [1, 0, 0, 1])
    }

    /// Q has orthonormal columns, R is upper triangular and QR reproduces A, for every shape and mode.
    func testQRReconstructs() throws {
        var rng = SplitMix(seed: 11)
        for shape in [[5, 3], [3, 5], [4, 4], [1, 4], [4, 1], [2, 3, 2]] {
            let a = rng.tensor(shape)
            for mode in ["reduced", "complete"] {
                let (q, r) = try qr(a, mode: mode)
                let m = shape[shape.count - 2]
                let n = shape[shape.count - 1]
                let k = mode == "complete" ? m : min(m, n)
                XCTAssertEqual(q.shape, Array(shape.dropLast(2)) + [m, k])
                XCTAssertEqual(r.shape, Array(shape.dropLast(2)) + [k, n])
                assertClose(try matmul(q, r), a, rtol: 1e-5, atol: 1e-5, "\(shape) \(mode) QR")
                let batches = q.count / (m * k)
                for bi in 0..<batches {
                    for i in 0..<k {
                        for j in 0..<k {
                            var s: Float = 0
                            for p in 0..<m { s += q.f[bi * m * k + p * k + i] * q.f[bi * m * k + p * k + j] }
                            XCTAssertEqual(s, i == j ? 1 : 0, accuracy: 1e-5, "\(shape) \(mode) QᵀQ")
                        }
                    }
                    for i in 0..<k {
                        for j in 0..<min(i, n) { XCTAssertEqual(r.f[bi * k * n + i * n + j], 0, "\(shape) R lower") }
                    }
                }
            }
        }
        // Mode "r": R only, Q empty.
        let a = rng.tensor([4, 3])
        let (q, r) = try qr(a, mode: "r")
        XCTAssertEqual(q.shape, [0])
        assertClose(r, try qr(a).r, rtol: 0.0, atol: 0.0, "mode r")
    }

    func testQRBackwardUnsupportedModesThrow() throws {
        var rng = SplitMix(seed: 2)
        let a = try rng.tensor([5, 3]).requiresGrad()
        let (_, rc) = try qr(a, mode: "complete")
        assertThrowsDFM(
            try sum(rc).backward(), "not differentiable when mode='complete' and nrows > ncols", kind: .stateError)
        let (_, rr) = try qr(a, mode: "r")
        assertThrowsDFM(try sum(rr).backward(), "mode='r'", kind: .stateError)
        // Without grad, complete tall QR works.
        XCTAssertEqual(try qr(a.detach(), mode: "complete").q.shape, [5, 5])
    }

    func testErrors() throws {
        let ints = try Tensor(int64: [1, 2, 3, 4], shape: [2, 2])
        let m23 = try Tensor.zeros([2, 3])
        let m45 = try Tensor.zeros([4, 5])
        // matmul
        assertThrowsDFM(
            try matmul(m23, m45), "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)", kind: .shapeMismatch)
        assertThrowsDFM(
            try matmul(try Tensor.zeros([3]), try Tensor.zeros([4])), "inconsistent tensor size", kind: .shapeMismatch)
        assertThrowsDFM(try matmul(m23, try Tensor.zeros([4])), "cannot be multiplied", kind: .shapeMismatch)
        assertThrowsDFM(try matmul(Tensor.scalar(1), m23), "at least 1D, but they are 0D and 2D", kind: .shapeMismatch)
        assertThrowsDFM(
            try matmul(try Tensor.zeros([2, 2, 3]), try Tensor.zeros([3, 3, 4])), "cannot be broadcast",
            kind: .shapeMismatch)
        assertThrowsDFM(try matmul(ints, try Tensor.zeros([2, 2])), "float32", kind: .typeError)
        // bmm
        assertThrowsDFM(try bmm(m23, try Tensor.zeros([3, 2])), "batch1 must be a 3D tensor", kind: .shapeMismatch)
        assertThrowsDFM(try bmm(try Tensor.zeros([2, 2, 3]), m45), "batch2 must be a 3D tensor", kind: .shapeMismatch)
        assertThrowsDFM(
            try bmm(try Tensor.zeros([2, 2, 3]), try Tensor.zeros([3, 3, 4])),
            "expected size for first two dimensions of batch2 tensor to be: [2, 3] but got: [3, 3]",
            kind: .shapeMismatch)
        assertThrowsDFM(
            try bmm(try Tensor(int64: [1], shape: [1, 1, 1]), try Tensor.zeros([1, 1, 1])), "float32", kind: .typeError)
        // linear
        assertThrowsDFM(
            try linear(try Tensor.zeros([5, 4]), try Tensor.zeros([3, 5])),
            "mat1 and mat2 shapes cannot be multiplied (5x4 and 5x3)", kind: .shapeMismatch)
        assertThrowsDFM(
            try linear(try Tensor.zeros([5, 4]), try Tensor.zeros([4])), "weight must be 2-D", kind: .shapeMismatch)
        assertThrowsDFM(
            try linear(Tensor.scalar(1), try Tensor.zeros([3, 1])), "at least 1 dimension", kind: .shapeMismatch)
        assertThrowsDFM(
            try linear(try Tensor.zeros([5, 4]), try Tensor.zeros([3, 4]), try Tensor.zeros([4])),
            "bias has shape [4] but weight has 3 output features", kind: .shapeMismatch)
        assertThrowsDFM(try linear(ints, try Tensor.zeros([2, 2])), "float32", kind: .typeError)
        // qr
        assertThrowsDFM(try qr(m23, mode: "full"), "unrecognized mode 'full'", kind: .invalidArgument)
        assertThrowsDFM(try qr(try Tensor.zeros([3])), "at least 2 dimensions", kind: .shapeMismatch)
        assertThrowsDFM(try qr(ints), "floating point", kind: .typeError)
        // softmax / log_softmax
        for f in [softmax, logSoftmax] as [(Tensor, Int) throws -> Tensor] {
            assertThrowsDFM(
                try f(m23, 2), "dimension out of range (expected to be in range of [-2, 1], but got 2)",
                kind: .indexError)
            assertThrowsDFM(try f(m23, -3), "dimension out of range", kind: .indexError)
            assertThrowsDFM(try f(ints, 0), "float32", kind: .typeError)
        }
    }

    /// m×n (batched) matrix with `scale` on the main diagonal: keeps R well conditioned.
    private func eye(_ shape: [Int], scale: Float) throws -> Tensor {
        let m = shape[shape.count - 2]
        let n = shape[shape.count - 1]
        let t = try Tensor.zeros(shape)
        for b in 0..<(t.count / (m * n)) { for i in 0..<min(m, n) { t.f[b * m * n + i * n + i] = scale } }
        return t
    }
}
