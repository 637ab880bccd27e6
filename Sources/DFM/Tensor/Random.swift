import Foundation

// Seeded randomness. A Generator is xoshiro256** seeded through SplitMix64. Filling a
// tensor draws one 64-bit key from the generator and derives an independent stream per
// block of `randomBlock` elements from (key, block index), so blocks can be filled in
// parallel and the numbers never depend on the thread count. Bitwise parity with
// torch's Mersenne Twister / Philox streams is not a goal.

/// SplitMix64 step: a good 64-bit mixer, used to seed xoshiro and to derive block streams.
@inline(__always)
func splitMix64(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// xoshiro256** (Blackman and Vigna): fast, 256-bit state, passes BigCrush.
struct Xoshiro256 {
    var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    init(seed: UInt64) {
        var sm = seed
        s0 = splitMix64(&sm)
        s1 = splitMix64(&sm)
        s2 = splitMix64(&sm)
        s3 = splitMix64(&sm)
    }

    /// Stream for block `block` of a fill keyed by `key`.
    init(key: UInt64, block: Int) {
        var sm = key ^ (UInt64(truncatingIfNeeded: block) &* 0xD1B5_4A32_D192_ED03)
        self.init(seed: splitMix64(&sm))
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// Uniform float in [0, 1): the top 24 bits, so every value is exactly representable.
    @inline(__always)
    mutating func uniformFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform double in (0, 1]: never 0, so log() is finite.
    @inline(__always)
    mutating func uniformOpenDouble() -> Double { Double((next() >> 11) + 1) * 0x1p-53 }

    /// A pair of independent standard normals (Box–Muller, in double).
    @inline(__always)
    mutating func normalPair() -> (Float, Float) {
        let r = (-2 * Foundation.log(uniformOpenDouble())).squareRoot()
        let theta = 2 * Double.pi * Double(next() >> 11) * 0x1p-53
        return (Float(r * Foundation.cos(theta)), Float(r * Foundation.sin(theta)))
    }

    /// Uniform integer in 0..<n without modulo bias (Lemire's multiply-and-reject).
    @inline(__always)
    mutating func below(_ n: UInt64) -> UInt64 {
        if n <= 1 { return 0 }
        var m = next().multipliedFullWidth(by: n)
        if m.low < n {
            let threshold = (0 &- n) % n
            while m.low < threshold { m = next().multipliedFullWidth(by: n) }
        }
        return m.high
    }
}

/// Elements per independently seeded block of a tensor fill (even, for Box–Muller pairs).
let randomBlock = 4096

/// A seeded random number generator (torch.Generator). Thread-safe: every draw holds a lock.
public final class Generator: @unchecked Sendable {
    private let lock = NSLock()
    private var rng: Xoshiro256
    private var cachedNormal: Float?
    private var seed: UInt64

    public init(seed: UInt64) {
        self.seed = seed
        rng = Xoshiro256(seed: seed)
    }

    /// The global generator used when an op is not given one. As torch's default generator it
    /// starts from a seed drawn from the OS once per process (`initialSeed` reports it);
    /// `manualSeed` makes every run reproducible.
    public static let `default` = Generator(seed: osSeed())

    /// A seed from the operating system's random source (getrandom on Linux).
    static func osSeed() -> UInt64 {
        var g = SystemRandomNumberGenerator()
        return g.next()
    }

    /// torch.seed(): reseeds from the OS and returns the new seed.
    @discardableResult
    public func reseed() -> UInt64 {
        let s = Generator.osSeed()
        manualSeed(s)
        return s
    }

    /// Reseeds this generator: the stream restarts exactly as a fresh Generator(seed:).
    public func manualSeed(_ seed: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        self.seed = seed
        rng = Xoshiro256(seed: seed)
        cachedNormal = nil
    }

    /// The seed last set (torch's initial_seed).
    public var initialSeed: UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return seed
    }

    /// The full state (for checkpoints); restore with `setState`.
    public func getState() -> [UInt64] {
        lock.lock()
        defer { lock.unlock() }
        return [
            rng.s0, rng.s1, rng.s2, rng.s3, seed,
            cachedNormal.map { UInt64($0.bitPattern) | (1 << 32) } ?? 0,
        ]
    }

    public func setState(_ state: [UInt64]) throws {
        guard state.count == 6, state[0] | state[1] | state[2] | state[3] != 0 else {
            throw DFMError.invalid(
                "set_rng_state", "expected a state of 6 words with a nonzero xoshiro state, got \(state.count) words")
        }
        lock.lock()
        defer { lock.unlock() }
        rng.s0 = state[0]
        rng.s1 = state[1]
        rng.s2 = state[2]
        rng.s3 = state[3]
        seed = state[4]
        cachedNormal = state[5] >> 32 == 1 ? Float(bitPattern: UInt32(truncatingIfNeeded: state[5])) : nil
    }

    public func nextUInt64() -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return rng.next()
    }

    /// Uniform in [0, 1).
    public func uniform() -> Float {
        lock.lock()
        defer { lock.unlock() }
        return rng.uniformFloat()
    }

    /// Standard normal (Box–Muller; the second value of each pair is kept for the next call).
    public func normal() -> Float {
        lock.lock()
        defer { lock.unlock() }
        if let z = cachedNormal {
            cachedNormal = nil
            return z
        }
        let (a, b) = rng.normalPair()
        cachedNormal = b
        return a
    }

    /// Uniform integer in 0..<n (n >= 1), without modulo bias.
    public func integer(below n: UInt64) -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return rng.below(n)
    }

    /// Runs `body` holding the lock on the raw stream (sequential algorithms such as Fisher–Yates).
    func withStream<R>(_ body: (inout Xoshiro256) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&rng)
    }

    /// Fills `n` elements block by block, in parallel; block b gets its own stream derived
    /// from one key drawn here, so the result is independent of the thread count.
    func fillBlocks(_ n: Int, costPerItem: Int = 4, _ body: (inout Xoshiro256, Range<Int>) -> Void) {
        let key = nextUInt64()
        let blocks = (n + randomBlock - 1) / randomBlock
        Parallel.chunks(blocks, costPerItem: randomBlock * costPerItem) { r in
            for b in r {
                var s = Xoshiro256(key: key, block: b)
                body(&s, (b * randomBlock)..<Swift.min(n, (b + 1) * randomBlock))
            }
        }
    }
}

/// torch.manual_seed: reseeds the global generator.
public func manualSeed(_ seed: UInt64) {
    Generator.default.manualSeed(seed)
}

/// Writes standard normals into `p[range]` (pairs from Box–Muller; an odd tail drops its partner).
@inline(__always)
private func fillNormal(
    _ p: UnsafeMutablePointer<Float>, _ range: Range<Int>, _ s: inout Xoshiro256,
    mean: Float, std: Float
) {
    var k = range.lowerBound
    while k < range.upperBound {
        let (a, b) = s.normalPair()
        p[k] = mean + std * a
        if k + 1 < range.upperBound { p[k + 1] = mean + std * b }
        k += 2
    }
}

private func checkFloatInPlace(_ t: Tensor, _ op: String) throws {
    guard t.dtype.isFloat else { throw DFMError.type(op, "expected a floating point tensor, got \(t.dtype)") }
}

/// Random fills draw float32 values; a float64 tensor gets them converted (exactly), so a
/// seed gives the same numbers in either precision.
private func viaFloat32(_ t: Tensor, _ fill: (Tensor) throws -> Void) throws {
    let tmp = try Tensor.uninitialized(t.shape, op: "random")
    try fill(tmp)
    try t.copy_(tmp)
}

/// torch.randn: standard normal float32 values.
public func randn(_ shape: [Int], generator: Generator? = nil) throws -> Tensor {
    let t = try Tensor.uninitialized(shape, op: "randn")
    try normal_(t, mean: 0, std: 1, generator: generator)
    return t
}

/// torch.rand: uniform float32 values in [0, 1).
public func rand(_ shape: [Int], generator: Generator? = nil) throws -> Tensor {
    let t = try Tensor.uninitialized(shape, op: "rand")
    let p = t.f
    (generator ?? .default).fillBlocks(t.count, costPerItem: 2) { s, r in
        for k in r { p[k] = s.uniformFloat() }
    }
    return t
}

/// torch.randint(low, high, shape): int64 values uniform in low..<high.
public func randint(low: Int64, high: Int64, shape: [Int], generator: Generator? = nil) throws -> Tensor {
    guard low < high else {
        throw DFMError.invalid(
            "randint", "random_ expects 'from' to be less than 'to', but got from=\(low) >= to=\(high)")
    }
    let t = try Tensor.uninitialized(shape, dtype: .int64, op: "randint")
    // high - low fits in UInt64 even when it overflows Int64.
    let span = UInt64(bitPattern: high &- low)
    let p = t.i
    (generator ?? .default).fillBlocks(t.count, costPerItem: 2) { s, r in
        for k in r { p[k] = low &+ Int64(bitPattern: s.below(span)) }
    }
    return t
}

/// torch.randperm(n): a uniformly random permutation of 0..<n as int64 (Fisher–Yates).
public func randperm(_ n: Int, generator: Generator? = nil) throws -> Tensor {
    guard n >= 0 else { throw DFMError.invalid("randperm", "n must be non-negative, got \(n)") }
    let t = try Tensor.uninitialized([n], dtype: .int64, op: "randperm")
    let p = t.i
    for k in 0..<n { p[k] = Int64(k) }
    if n > 1 {
        (generator ?? .default).withStream { s in
            for k in stride(from: n - 1, to: 0, by: -1) {
                let j = Int(s.below(UInt64(k + 1)))
                let v = p[k]
                p[k] = p[j]
                p[j] = v
            }
        }
    }
    return t
}

/// In place: t ~ N(mean, std²) (torch's Tensor.normal_). Runs outside autograd.
public func normal_(_ t: Tensor, mean: Float = 0, std: Float = 1, generator: Generator? = nil) throws {
    try checkFloatInPlace(t, "normal_")
    guard std >= 0, std.isFinite, mean.isFinite else {
        throw DFMError.invalid(
            "normal_", "normal expects std >= 0.0 and finite mean/std, but found mean \(mean), std \(std)")
    }
    if t.dtype == .float64 { return try viaFloat32(t) { try normal_($0, mean: mean, std: std, generator: generator) } }
    let p = t.f
    (generator ?? .default).fillBlocks(t.count, costPerItem: 16) { s, r in
        fillNormal(p, r, &s, mean: mean, std: std)
    }
}

/// In place: t ~ U[low, high) (torch's Tensor.uniform_). Runs outside autograd.
public func uniform_(_ t: Tensor, low: Float = 0, high: Float = 1, generator: Generator? = nil) throws {
    try checkFloatInPlace(t, "uniform_")
    guard low <= high, low.isFinite, high.isFinite else {
        throw DFMError.invalid(
            "uniform_", "uniform_ expects to return a [from, to) range, but found from=\(low) > to=\(high)")
    }
    let width = high - low
    guard width.isFinite else {
        throw DFMError.invalid(
            "uniform_",
            "uniform_ expects to-from <= \(Float.greatestFiniteMagnitude), but found to=\(high) and from=\(low)")
    }
    if t.dtype == .float64 { return try viaFloat32(t) { try uniform_($0, low: low, high: high, generator: generator) } }
    let p = t.f
    let top = Swift.max(low, high.nextDown)
    (generator ?? .default).fillBlocks(t.count, costPerItem: 2) { s, r in
        for k in r {
            // Rounding of low + width·u can reach `high`; keep the interval half-open.
            let v = low + width * s.uniformFloat()
            p[k] = v < high ? v : top
        }
    }
}
