import XCTest

@testable import DFM

/// Finite-difference gradient check: compares autograd's gradient of sum(f(inputs) · w)
/// (w a fixed random weight) with central differences on up to `samples` elements of each
/// float input, first in float32 (loose: eps and tol as given), then with every float input
/// converted to float64, where central differences with eps 1e-6 are accurate to ~1e-9, so
/// each derivative rule is checked to 1e-6 relative in its float64 form.
func gradCheck(
    _ inputs: [Tensor], eps: Float = 1e-2, tol: Float = 2e-2, samples: Int = 12,
    file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) throws -> Tensor
) throws {
    try gradCheckPass(inputs, eps: eps, tol: tol, samples: samples, file: file, line: line, f)
    try gradCheckPass(
        inputs.map { $0.dtype == .float32 ? try toDType($0, .float64) : $0 }, eps: 1e-6 as Double,
        tol: 1e-6, samples: samples, file: file, line: line, f)
}

/// One pass in precision S: every S input is a leaf, f must give an S output.
func gradCheckPass<S: Real>(
    _ inputs: [Tensor], eps: S, tol: S, samples: Int = 12,
    file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) throws -> Tensor
) throws {
    let leaves = try inputs.map { t -> Tensor in
        let c = try t.clone()
        if c.dtype == S.dtype { try c.requiresGrad() }
        return c
    }
    let out = try f(leaves)
    XCTAssertEqual(out.dtype, S.dtype, "\(S.dtype) inputs gave a \(out.dtype) output", file: file, line: line)
    var rng = SplitMix(seed: 7)
    let w = try toDType(
        try Tensor(double: (0..<out.count).map { _ in Double(rng.nextFloat()) * 2 - 1 }, shape: out.shape), S.dtype)
    try sum(try mul(out, w)).backward()
    func objective() throws -> Double {
        try GradMode.noGrad {
            let o = try f(leaves)
            let op = o.p(S.self)
            let wp = w.p(S.self)
            var s: Double = 0
            for k in 0..<o.count { s += Double(op[k]) * Double(wp[k]) }
            return s
        }
    }
    for (i, x) in leaves.enumerated() where x.dtype == S.dtype {
        guard let g = x.grad else {
            XCTFail("\(S.dtype) input \(i): no gradient", file: file, line: line)
            continue
        }
        XCTAssertEqual(g.dtype, S.dtype, "\(S.dtype) input \(i): gradient dtype", file: file, line: line)
        let n = x.count
        let xp = x.p(S.self)
        let gp = g.p(S.self)
        let picks = n <= samples ? Array(0..<n) : (0..<samples).map { _ in Int(rng.next() % UInt64(n)) }
        for k in picks {
            let orig = xp[k]
            xp[k] = orig + eps
            let fp = try objective()
            xp[k] = orig - eps
            let fm = try objective()
            xp[k] = orig
            let num = S((fp - fm) / Double(2 * eps))
            let ana = gp[k]
            let scale = max(1, Swift.abs(num), Swift.abs(ana))
            XCTAssert(
                Swift.abs(num - ana) <= tol * scale,
                "\(S.dtype) input \(i) element \(k): autograd \(ana) vs finite difference \(num)", file: file,
                line: line)
        }
    }
}

/// Small deterministic generator for tests (independent of dfm's RNG).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }
    /// A tensor of uniform values in [lo, hi).
    mutating func tensor(_ shape: [Int], _ lo: Float = -1, _ hi: Float = 1) -> Tensor {
        let n = shape.reduce(1, *)
        return try! Tensor((0..<n).map { _ in lo + (hi - lo) * nextFloat() }, shape: shape)
    }
}

/// Distinct values 0.1 apart in shuffled order: order-dependent ops (max, sort) keep their
/// order under the finite-difference step.
func spread(_ shape: [Int], seed: UInt64) throws -> Tensor {
    var rng = SplitMix(seed: seed)
    let n = shape.reduce(1, *)
    var v = (0..<n).map { Float($0) * 0.1 - Float(n) * 0.05 }
    for k in stride(from: n - 1, to: 0, by: -1) { v.swapAt(k, Int(rng.next() % UInt64(k + 1))) }
    return try Tensor(v, shape: shape)
}

/// `t` in `ref`'s dtype: constants captured by a gradCheck closure follow its float32 or float64 pass.
func like(_ t: Tensor, _ ref: Tensor) throws -> Tensor { try toDType(t, ref.dtype) }

/// The float64 pass alone (for rules with kinks, where float32 differences are unreliable).
func gradCheck64(
    _ inputs: [Tensor], eps: Double = 1e-6, tol: Double = 1e-6, samples: Int = 12,
    file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) throws -> Tensor
) throws {
    try gradCheckPass(inputs, eps: eps, tol: tol, samples: samples, file: file, line: line, f)
}
