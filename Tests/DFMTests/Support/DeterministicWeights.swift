import Foundation

@testable import DFM

/// Deterministic weights computed from state_dict key names, bit-identical to
/// tools/reference/deterministic_weights.py (read its docstring for the scheme), so
/// parity fixtures need not carry model weights.
enum DeterministicWeights {
    static func fnv1a64(_ key: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in key.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    /// u_k in [-1, 1): value k of the SplitMix64 stream with `seed`.
    @inline(__always) static func u(_ seed: UInt64, _ k: Int) -> Double {
        var z = seed &+ UInt64(k + 1) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z = z ^ (z >> 31)
        return Double(z >> 40) / Double(1 << 23) - 1.0
    }

    /// n float64 values u_k in [-1, 1) from the SplitMix64 stream of `key`.
    static func uniform(_ key: String, _ n: Int) -> [Double] {
        let seed = fnv1a64(key)
        return (0..<n).map { u(seed, $0) }
    }

    /// float32(u) of the stream of `key`, shaped.
    static func uniformTensor(_ key: String, _ shape: [Int]) throws -> Tensor {
        try Tensor(uniform(key, shape.reduce(1, *)).map { Float($0) }, shape: shape)
    }

    /// The float64 value of element k of `key` from its u_k, or nil when the key keeps its
    /// constructed value (computed per element, so large tensors need no temporary arrays).
    static func rule(_ key: String, _ shape: [Int]) -> ((Double, Int) -> Double)? {
        guard !shape.isEmpty else { return nil }
        let layer4 = key.hasPrefix("layer4.")
        if key.hasSuffix("error_head.Q") || key.hasSuffix("error_head.Qinv") {
            let c = shape[0]
            let r = Double(c).squareRoot()
            return { u, k in (k / c == k % c ? 1.0 : 0.0) + (u / r) * 0.5 }
        }
        if key.hasSuffix("error_head.S") { return { u, _ in 1.0 + 0.5 * u } }
        if key.hasSuffix("running_var") { return { u, _ in 1.0 + 0.1 * Swift.abs(u) } }
        if key.hasSuffix("running_mean") { return { u, _ in 0.1 * u } }
        if key == "layernorm_weight" { return { u, _ in 0.1 * u } }
        if shape.count == 1 && key.hasSuffix(".weight") { return { u, _ in 1.0 + 0.1 * u } }
        if key.hasSuffix(".bias") {
            let scale = layer4 ? 0.0 : 0.1
            return { u, _ in scale * u }
        }
        let r = Double(shape.dropFirst().reduce(1, *)).squareRoot()
        return layer4 ? { u, _ in (u / r) * 0.001 } : { u, _ in u / r }
    }

    /// The deterministic value of `key`, or nil when the key keeps its constructed value.
    static func value(_ key: String, _ shape: [Int]) -> [Float]? {
        guard let f = rule(key, shape) else { return nil }
        let seed = fnv1a64(key)
        return (0..<shape.reduce(1, *)).map { k in Float(f(u(seed, k), k)) }
    }

    /// Overwrites the module's float parameters and buffers; aliases (one tensor under
    /// several keys) take the value of their alphabetically first key.
    static func apply(_ module: Module) throws {
        var done = Set<UnsafeMutableRawPointer>()
        for (key, t) in module.stateDict().sorted(by: { $0.0 < $1.0 }) where t.dtype == .float32 && t.count > 0 {
            guard done.insert(UnsafeMutableRawPointer(t.f)).inserted else { continue }
            guard let f = rule(key, t.shape) else { continue }
            let seed = fnv1a64(key)
            let p = t.f
            for k in 0..<t.count { p[k] = Float(f(u(seed, k), k)) }
        }
    }
}
