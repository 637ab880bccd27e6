import XCTest
@testable import DFM

/// Finite-difference gradient check: compares autograd's gradient of sum(f(inputs) · w)
/// (w a fixed random weight) with central differences on up to `samples` elements of each
/// float input, first in float32 (loose: eps and tol as given), then with every float input
/// converted to float64, where central differences with eps 1e-6 are accurate to ~1e-9, so
/// each derivative rule is checked to 1e-6 relative in its float64 form.
func gradCheck(_ inputs: [Tensor], eps: Float = 1e-2, tol: Float = 2e-2, samples: Int = 12,
               file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) throws -> Tensor) throws {
    try gradCheck32(inputs, eps: eps, tol: tol, samples: samples, file: file, line: line, f)
    try gradCheck64(inputs.map { $0.dtype == .float32 ? try toDType($0, .float64) : $0 }, samples: samples,
                    file: file, line: line, f)
}

/// The float64 pass: f must produce float64 from float64 inputs.
func gradCheck64(_ inputs: [Tensor], eps: Double = 1e-6, tol: Double = 1e-6, samples: Int = 12,
                 file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) throws -> Tensor) throws {
    let leaves = try inputs.map { t -> Tensor in
        let c = try t.clone()
        if c.dtype == .float64 { try c.requiresGrad() }
        return c
    }
    let out = try f(leaves)
    XCTAssertEqual(out.dtype, .float64, "float64 inputs gave a \(out.dtype) output", file: file, line: line)
    var rng = SplitMix(seed: 7)
    let w = try Tensor(double: (0..<out.count).map { _ in Double(rng.nextFloat()) * 2 - 1 }, shape: out.shape)
    try sum(try mul(out, w)).backward()
    func objective() throws -> Double {
        try GradMode.noGrad {
            let o = try f(leaves)
            var s: Double = 0
            for k in 0..<o.count { s += o.d[k] * w.d[k] }
            return s
        }
    }
    for (i, x) in leaves.enumerated() where x.dtype == .float64 {
        guard let g = x.grad else { XCTFail("float64 input \(i): no gradient", file: file, line: line); continue }
        XCTAssertEqual(g.dtype, .float64, "float64 input \(i): gradient dtype", file: file, line: line)
        let n = x.count
        let picks = n <= samples ? Array(0..<n) : (0..<samples).map { _ in Int(rng.next() % UInt64(n)) }
        for k in picks {
            let orig = x.d[k]
            x.d[k] = orig + eps
            let fp = try objective()
            x.d[k] = orig - eps
            let fm = try objective()
            x.d[k] = orig
            let num = (fp - fm) / (2 * eps)
            let ana = g.d[k]
            let scale = max(1, Swift.abs(num), Swift.abs(ana))
            XCTAssert(Swift.abs(num - ana) <= tol * scale,
                      "float64 input \(i) element \(k): autograd \(ana) vs finite difference \(num)", file: file, line: line)
        }
    }
}

func gradCheck32(_ inputs: [Tensor], eps: Float = 1e-2, tol: Float = 2e-2, samples: Int = 12,
                 file: StaticString = #filePath, line: UInt = #line, _ f: ([Tensor]) throws -> Tensor) throws {
    let leaves = try inputs.map { t -> Tensor in
        let c = try t.clone()
        if c.dtype == .float32 { try c.requiresGrad() }
        return c
    }
    let out = try f(leaves)
    var rng = SplitMix(seed: 7)
    let w = try Tensor((0..<out.count).map { _ in rng.nextFloat() * 2 - 1 }, shape: out.shape)
    try sum(try mul(out, w)).backward()
    func objective() throws -> Double {
        try GradMode.noGrad {
            let o = try f(leaves)
            var s: Double = 0
            for k in 0..<o.count { s += Double(o.f[k]) * Double(w.f[k]) }
            return s
        }
    }
    for (i, x) in leaves.enumerated() where x.dtype == .float32 {
        guard let g = x.grad else { XCTFail("input \(i): no gradient", file: file, line: line); continue }
        let n = x.count
        let picks = n <= samples ? Array(0..<n) : (0..<samples).map { _ in Int(rng.next() % UInt64(n)) }
        for k in picks {
            let orig = x.f[k]
            x.f[k] = orig + eps
            let fp = try objective()
            x.f[k] = orig - eps
            let fm = try objective()
            x.f[k] = orig
            let num = Float((fp - fm) / Double(2 * eps))
            let ana = g.f[k]
            let scale = max(1, Swift.abs(num), Swift.abs(ana))
            XCTAssert(Swift.abs(num - ana) <= tol * scale,
                      "input \(i) element \(k): autograd \(ana) vs finite difference \(num)", file: file, line: line)
        }
    }
}

/// Small deterministic generator for tests (independent of dfm's RNG).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
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
