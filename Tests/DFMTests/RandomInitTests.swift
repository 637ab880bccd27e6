import XCTest

@testable import DFM

/// Mean and (population) standard deviation in double.
private func stats(_ t: Tensor) -> (mean: Double, std: Double) {
    let v = t.toArray().map(Double.init)
    let m = v.reduce(0, +) / Double(v.count)
    return (m, (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot())
}

private func bits(_ t: Tensor) -> [UInt32] { t.toArray().map(\.bitPattern) }

/// Generator, random tensors, dropout and nn.init.
final class RandomInitTests: XCTestCase {
    // MARK: generator

    func testSameSeedSameNumbers() throws {
        let a = try randn([1000], generator: Generator(seed: 42))
        let b = try randn([1000], generator: Generator(seed: 42))
        XCTAssertEqual(bits(a), bits(b))
        XCTAssertNotEqual(bits(a), bits(try randn([1000], generator: Generator(seed: 43))))
        manualSeed(7)
        let c = try rand([500])
        let d = try randint(low: -5, high: 5, shape: [300])
        let e = try randperm(50)
        manualSeed(7)
        XCTAssertEqual(bits(c), bits(try rand([500])))
        XCTAssertEqual(d.toInt64Array(), try randint(low: -5, high: 5, shape: [300]).toInt64Array())
        XCTAssertEqual(e.toInt64Array(), try randperm(50).toInt64Array())
        XCTAssertEqual(Generator.default.initialSeed, 7)
        // Consecutive draws differ.
        let g = Generator(seed: 1)
        XCTAssertNotEqual(bits(try rand([100], generator: g)), bits(try rand([100], generator: g)))
    }

    func testIndependentOfThreadCount() throws {
        let saved = Parallel.threads
        defer { try? Parallel.setThreads(saved) }
        var results: [[[UInt32]]] = []
        for threads in [1, 2, 3] {
            try Parallel.setThreads(threads)
            let g = Generator(seed: 99)
            let x = try Tensor.ones([40_000])
            results.append([
                bits(try randn([50_001], generator: g)), bits(try rand([50_000], generator: g)),
                try randint(low: 0, high: 1000, shape: [50_000], generator: g).toInt64Array().map { UInt32($0) },
                bits(try dropout(x, p: 0.3, generator: g)),
            ])
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(results[0], results[2])
    }

    func testStateRoundTrip() throws {
        let g = Generator(seed: 5)
        _ = g.normal()  // leaves a cached Box–Muller partner in the state
        let state = g.getState()
        let a = (0..<5).map { _ in g.normal() }
        let u = try rand([10], generator: g)
        try g.setState(state)
        XCTAssertEqual((0..<5).map { _ in g.normal() }, a)
        XCTAssertEqual(bits(try rand([10], generator: g)), bits(u))
        assertThrowsDFM(try g.setState([1, 2]), "6 words", kind: .invalidArgument)
        assertThrowsDFM(try g.setState([0, 0, 0, 0, 0, 0]), "nonzero")
    }

    func testDistributions() throws {
        let g = Generator(seed: 2024)
        let n = try stats(try randn([100_000], generator: g))
        XCTAssertEqual(n.mean, 0, accuracy: 0.015)
        XCTAssertEqual(n.std, 1, accuracy: 0.015)
        let u = try rand([100_000], generator: g)
        let us = stats(u)
        XCTAssertEqual(us.mean, 0.5, accuracy: 0.005)
        XCTAssertEqual(us.std, (1.0 / 12).squareRoot(), accuracy: 0.005)
        XCTAssertTrue(u.toArray().allSatisfy { $0 >= 0 && $0 < 1 })
        // Scalar draws.
        let scalars = (0..<20_000).map { _ in Double(g.normal()) }
        XCTAssertEqual(scalars.reduce(0, +) / 20_000, 0, accuracy: 0.03)
        XCTAssertTrue(
            (0..<1000).allSatisfy { _ in
                let v = g.uniform()
                return v >= 0 && v < 1
            })

        // randint: range, and each of 7 values about 1/7 of the time.
        let ri = try randint(low: -3, high: 4, shape: [70_000], generator: g).toInt64Array()
        XCTAssertEqual(Set(ri), Set(-3...3))
        for v in -3...3 { XCTAssertEqual(Double(ri.filter { $0 == Int64(v) }.count), 10_000, accuracy: 400) }
        // The full Int64 span does not overflow.
        let wide = try randint(low: .min, high: .max, shape: [1000], generator: g).toInt64Array()
        XCTAssertTrue(wide.contains { $0 < 0 } && wide.contains { $0 > 0 })
        XCTAssertEqual(try randint(low: 5, high: 6, shape: [4], generator: g).toInt64Array(), [5, 5, 5, 5])
        XCTAssertEqual(try randint(low: 0, high: 3, shape: [2, 3], generator: g).shape, [2, 3])
        XCTAssertEqual(try randint(low: 0, high: 3, shape: [2], generator: g).dtype, .int64)
        // integer(below:) without bias: n = 3·2^62 would be badly biased by a plain modulo.
        let big: UInt64 = 3 << 62
        let draws = (0..<30_000).map { _ in g.integer(below: big) }
        XCTAssertTrue(draws.allSatisfy { $0 < big })
        XCTAssertEqual(Double(draws.filter { $0 < big / 3 }.count), 10_000, accuracy: 400)

        // randperm: a permutation, and every position sees every value.
        for n in [0, 1, 2, 17] {
            XCTAssertEqual(try randperm(n, generator: g).toInt64Array().sorted(), (0..<Int64(n)).map { $0 })
        }
        var firstCounts = [Int](repeating: 0, count: 4)
        for _ in 0..<4000 { firstCounts[Int(try randperm(4, generator: g).toInt64Array()[0])] += 1 }
        for c in firstCounts { XCTAssertEqual(Double(c), 1000, accuracy: 120) }
    }

    func testInPlaceFills() throws {
        let g = Generator(seed: 3)
        let t = try Tensor.zeros([50_000])
        try normal_(t, mean: 2, std: 0.5, generator: g)
        let s = stats(t)
        XCTAssertEqual(s.mean, 2, accuracy: 0.01)
        XCTAssertEqual(s.std, 0.5, accuracy: 0.01)
        try uniform_(t, low: -3, high: -1, generator: g)
        XCTAssertTrue(t.toArray().allSatisfy { $0 >= -3 && $0 < -1 })
        XCTAssertEqual(stats(t).mean, -2, accuracy: 0.01)
        try uniform_(t, low: 1, high: 1, generator: g)
        XCTAssertTrue(t.toArray().allSatisfy { $0 == 1 })
    }

    func testThreadSafety() throws {
        final class Box: @unchecked Sendable {
            let lock = NSLock()
            var values: [UInt64] = []
        }
        let g = Generator(seed: 11)
        let box = Box()
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            var local: [UInt64] = []
            for _ in 0..<2000 { local.append(g.nextUInt64()) }
            box.lock.lock()
            box.values += local
            box.lock.unlock()
        }
        // A racy generator would hand out duplicates; a locked one gives 8000 distinct draws,
        // exactly the first 8000 of the sequence.
        XCTAssertEqual(Set(box.values).count, 8000)
        let ref = Generator(seed: 11)
        XCTAssertEqual(Set(box.values), Set((0..<8000).map { _ in ref.nextUInt64() }))
    }

    func testRandomErrors() throws {
        assertThrowsDFM(
            try randint(low: 5, high: 3, shape: [2]),
            "random_ expects 'from' to be less than 'to', but got from=5 >= to=3",
            kind: .invalidArgument)
        assertThrowsDFM(try randint(low: 3, high: 3, shape: [2]), "from=3 >= to=3")
        assertThrowsDFM(try randperm(-1), "n must be non-negative, got -1")
        assertThrowsDFM(try randn([-2, 3]), "negative dimension")
        assertThrowsDFM(try rand([1 << 40, 1 << 40]), "too large", kind: .outOfMemory)
        let t = try Tensor.zeros([3])
        assertThrowsDFM(try normal_(t, std: -1), "std >= 0.0")
        assertThrowsDFM(try uniform_(t, low: 2, high: 1), "found from=2.0 > to=1.0")
        assertThrowsDFM(try uniform_(t, low: -3e38, high: 3e38), "to-from")
        assertThrowsDFM(try normal_(try Tensor(int64: [1], shape: [1])), "floating point", kind: .typeError)
    }

    // MARK: dropout

    func testDropout() throws {
        let x = try Tensor.ones([40_000])
        let y = try dropout(x, p: 0.3, generator: Generator(seed: 8))
        let v = y.toArray()
        let scale = 1 / (1 - Float(0.3))
        XCTAssertTrue(v.allSatisfy { $0 == 0 || $0 == scale })
        XCTAssertEqual(Double(v.filter { $0 == 0 }.count) / 40_000, 0.3, accuracy: 0.01)
        XCTAssertEqual(stats(y).mean, 1, accuracy: 0.02)  // unbiased in expectation
        // Deterministic under a seed, different under another.
        XCTAssertEqual(bits(try dropout(x, p: 0.3, generator: Generator(seed: 8))), bits(y))
        XCTAssertNotEqual(bits(try dropout(x, p: 0.3, generator: Generator(seed: 9))), bits(y))
        manualSeed(4)
        let d1 = try dropout(x, p: 0.5)
        manualSeed(4)
        XCTAssertEqual(bits(try dropout(x, p: 0.5)), bits(d1))
        // Eval and p = 0 are the identity; p = 1 gives zeros.
        XCTAssertTrue(try dropout(x, p: 0.5, training: false) === x)
        XCTAssertTrue(try dropout(x, p: 0) === x)
        XCTAssertTrue(try dropout(x, p: 1).toArray().allSatisfy { $0 == 0 })
        // Gradient is the same mask.
        let leaf = try Tensor.ones([1000]).requiresGrad()
        let out = try dropout(leaf, p: 0.4, generator: Generator(seed: 1))
        try sum(out).backward()
        XCTAssertEqual(leaf.grad?.toArray(), out.toArray())
        let z = try Tensor.ones([10]).requiresGrad()
        try sum(try dropout(z, p: 1)).backward()
        XCTAssertEqual(z.grad?.toArray(), [Float](repeating: 0, count: 10))
    }

    func testDropoutFiniteDifferences() throws {
        var r = SplitMix(seed: 6)
        try gradCheck([r.tensor([4, 5])]) { try dropout($0[0], p: 0.4, generator: Generator(seed: 3)) }
    }

    func testDropoutErrors() throws {
        let x = try Tensor.ones([3])
        assertThrowsDFM(
            try dropout(x, p: 1.5), "dropout probability has to be between 0 and 1, but got 1.5", kind: .invalidArgument
        )
        assertThrowsDFM(try dropout(x, p: -0.1), "but got -0.1")
        assertThrowsDFM(try dropout(x, p: .nan), "between 0 and 1")
        assertThrowsDFM(try dropout(try Tensor(int64: [1], shape: [1]), p: 0.5), "float32", kind: .typeError)
    }

    // MARK: init

    func testFansAndGainsMatchPyTorch() throws {
        let fx = try Fixture("init")
        var fans = 0
        var gains = 0
        for c in fx.cases {
            if c.hasPrefix("fan") {
                let f = try Init.calculateFanInAndFanOut(try Tensor.zeros(fx.ints(c, "shape")!))
                XCTAssertEqual(f.fanIn, fx.int(c, "fan_in"), c)
                XCTAssertEqual(f.fanOut, fx.int(c, "fan_out"), c)
                fans += 1
            } else {
                let gain = try Init.calculateGain(
                    fx.string(c, "nonlinearity")!, param: fx.float(c, "param").map { Float($0) })
                XCTAssertEqual(Double(gain), fx.float(c, "gain")!, accuracy: 1e-6, c)
                gains += 1
            }
        }
        XCTAssertEqual(fans, 5)
        XCTAssertEqual(gains, 10)
    }

    func testKaimingAndXavierStatistics() throws {
        let g = Generator(seed: 17)
        let w = try Tensor.zeros([128, 64, 3, 3])  // fan_in 576, fan_out 1152
        try Init.kaimingNormal_(w, mode: .fanIn, nonlinearity: "relu", generator: g)
        var s = stats(w)
        XCTAssertEqual(s.mean, 0, accuracy: 0.002)
        XCTAssertEqual(s.std / (2.0 / 576).squareRoot(), 1, accuracy: 0.03)
        try Init.kaimingNormal_(w, mode: .fanOut, generator: g)  // leaky_relu with a = 0: gain sqrt(2)
        XCTAssertEqual(stats(w).std / (2.0 / 1152).squareRoot(), 1, accuracy: 0.03)
        try Init.kaimingUniform_(w, a: 0.2, mode: try FanMode("fan_out"), generator: g)
        let bound = (3.0 * 2 / (1 + 0.04) / 1152).squareRoot()
        XCTAssertTrue(w.toArray().allSatisfy { Swift.abs(Double($0)) <= bound * 1.000001 })
        XCTAssertEqual(stats(w).std / (bound / 3.0.squareRoot()), 1, accuracy: 0.03)
        try Init.kaimingUniform_(w, generator: g)  // torch's Conv2d default: a = 0, fan_in
        XCTAssertEqual(stats(w).std / (2.0 / 576).squareRoot(), 1, accuracy: 0.03)

        let lin = try Tensor.zeros([300, 200])
        try Init.xavierUniform_(lin, gain: 2, generator: g)
        let a = 2 * (6.0 / 500).squareRoot()
        XCTAssertTrue(lin.toArray().allSatisfy { Swift.abs(Double($0)) <= a * 1.000001 })
        XCTAssertEqual(stats(lin).std / (a / 3.0.squareRoot()), 1, accuracy: 0.03)
        try Init.xavierNormal_(lin, generator: g)
        s = stats(lin)
        XCTAssertEqual(s.std / (2.0 / 500).squareRoot(), 1, accuracy: 0.03)
        // Same seed, same weights.
        let w1 = try Tensor.zeros([8, 4])
        let w2 = try Tensor.zeros([8, 4])
        try Init.kaimingUniform_(w1, generator: Generator(seed: 1))
        try Init.kaimingUniform_(w2, generator: Generator(seed: 1))
        XCTAssertEqual(bits(w1), bits(w2))
        // Zero-element tensors are a no-op, as in torch.
        XCTAssertEqual(try Init.kaimingNormal_(try Tensor.zeros([0, 3])).count, 0)
    }

    func testOrthogonal() throws {
        let g = Generator(seed: 23)
        for (shape, gain) in [([6, 10], Float(1)), ([10, 6], 1), ([4, 3, 2, 2], 2), ([5, 5], 0.5)] {
            let t = try Init.orthogonal_(try Tensor.zeros(shape), gain: gain, generator: g)
            let rows = shape[0]
            let cols = t.count / rows
            let v = t.toArray()
            // The smaller Gram matrix (W·Wᵀ when rows <= cols, else Wᵀ·W) is gain²·I.
            let k = min(rows, cols)
            for i in 0..<k {
                for j in 0..<k {
                    var d: Float = 0
                    if rows <= cols {
                        for q in 0..<cols { d += v[i * cols + q] * v[j * cols + q] }
                    } else {
                        for q in 0..<rows { d += v[q * cols + i] * v[q * cols + j] }
                    }
                    XCTAssertEqual(d, i == j ? gain * gain : 0, accuracy: 1e-5, "\(shape) gram[\(i),\(j)]")
                }
            }
        }
        let a = try Init.orthogonal_(try Tensor.zeros([3, 7]), generator: Generator(seed: 2))
        let b = try Init.orthogonal_(try Tensor.zeros([3, 7]), generator: Generator(seed: 2))
        XCTAssertEqual(bits(a), bits(b))
        // Q·sign(diag R) makes the distribution Haar: the first entry is positive about half the time.
        var positive = 0
        for _ in 0..<400 where try Init.orthogonal_(try Tensor.zeros([3, 3]), generator: g).toArray()[0] > 0 {
            positive += 1
        }
        XCTAssertEqual(Double(positive), 200, accuracy: 45)
    }

    func testConstantZerosOnes() throws {
        let t = try Tensor.zeros([2, 3])
        XCTAssertEqual(try Init.constant_(t, 0.25).toArray(), [Float](repeating: 0.25, count: 6))
        XCTAssertEqual(try Init.ones_(t).toArray(), [Float](repeating: 1, count: 6))
        XCTAssertEqual(try Init.zeros_(t).toArray(), [Float](repeating: 0, count: 6))
        try Init.normal_(t, mean: 5, std: 0, generator: Generator(seed: 1))
        XCTAssertEqual(t.toArray(), [Float](repeating: 5, count: 6))
        try Init.uniform_(t, a: 2, b: 3, generator: Generator(seed: 1))
        XCTAssertTrue(t.toArray().allSatisfy { $0 >= 2 && $0 < 3 })
    }

    func testInitErrors() throws {
        let v = try Tensor.zeros([5])
        assertThrowsDFM(
            try Init.calculateFanInAndFanOut(v),
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
        assertThrowsDFM(try Init.kaimingNormal_(v), "fewer than 2 dimensions")
        assertThrowsDFM(try Init.kaimingUniform_(v), "fewer than 2 dimensions")
        assertThrowsDFM(try Init.xavierUniform_(v), "fewer than 2 dimensions")
        assertThrowsDFM(try Init.xavierNormal_(v), "fewer than 2 dimensions")
        assertThrowsDFM(try Init.orthogonal_(v), "Only tensors with 2 or more dimensions are supported")
        assertThrowsDFM(try Init.calculateGain("swish"), "Unsupported nonlinearity swish", kind: .invalidArgument)
        assertThrowsDFM(
            try Init.kaimingNormal_(try Tensor.zeros([2, 2]), nonlinearity: "swish"), "Unsupported nonlinearity")
        assertThrowsDFM(try FanMode("fan_avg"), "Mode fan_avg not supported, please use one of ['fan_in', 'fan_out']")
        assertThrowsDFM(
            try Init.constant_(try Tensor(int64: [1, 2], shape: [1, 2]), 1), "floating point", kind: .typeError)
        assertThrowsDFM(
            try Init.orthogonal_(try Tensor(int64: [1, 2], shape: [1, 2])), "floating point", kind: .typeError)
    }
}
