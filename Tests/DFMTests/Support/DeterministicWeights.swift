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

    /// n float64 values u_k in [-1, 1) from the SplitMix64 stream of `key`.
    static func uniform(_ key: String, _ n: Int) -> [Double] {
        let seed = fnv1a64(key)
        var out = [Double](repeating: 0, count: n)
        for k in 0..<n {
            var z = seed &+ UInt64(k + 1) &* 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z = z ^ (z >> 31)
            out[k] = Double(z >> 40) / Double(1 << 23) - 1.0
        }
        return out
    }

    /// float32(u) of the stream of `key`, shaped.
    static func uniformTensor(_ key: String, _ shape: [Int]) throws -> Tensor {
        try Tensor(uniform(key, shape.reduce(1, *)).map { Float($0) }, shape: shape)
    }

    /// The deterministic value of `key`, or nil when the key keeps its constructed value.
    static func value(_ key: String, _ shape: [Int]) -> [Float]? {
        guard !shape.isEmpty else { return nil }
        let n = shape.reduce(1, *)
        let u = uniform(key, n)
        let layer4 = key.hasPrefix("layer4.")
        if key.hasSuffix("error_head.Q") || key.hasSuffix("error_head.Qinv") {
            let c = shape[0]
            let r = Double(c).squareRoot()
            return (0..<n).map { k in Float((k / c == k % c ? 1.0 : 0.0) + (u[k] / r) * 0.5) }
        }
        let v: [Double]
        if key.hasSuffix("error_head.S") {
            v = u.map { 1.0 + 0.5 * $0 }
        } else if key.hasSuffix("running_var") {
            v = u.map { 1.0 + 0.1 * Swift.abs($0) }
        } else if key.hasSuffix("running_mean") {
            v = u.map { 0.1 * $0 }
        } else if key == "layernorm_weight" {
            v = u.map { 0.1 * $0 }
        } else if shape.count == 1 && key.hasSuffix(".weight") {
            v = u.map { 1.0 + 0.1 * $0 }
        } else if key.hasSuffix(".bias") {
            v = u.map { (layer4 ? 0.0 : 0.1) * $0 }
        } else {
            let r = Double(shape.dropFirst().reduce(1, *)).squareRoot()
            v = u.map { layer4 ? ($0 / r) * 0.001 : $0 / r }
        }
        return v.map { Float($0) }
    }

    /// Overwrites the module's float parameters and buffers; aliases (one tensor under
    /// several keys) take the value of their alphabetically first key.
    static func apply(_ module: Module) throws {
        var done = Set<UnsafeMutableRawPointer>()
        for (key, t) in module.stateDict().sorted(by: { $0.0 < $1.0 }) where t.dtype == .float32 && t.count > 0 {
            guard done.insert(UnsafeMutableRawPointer(t.f)).inserted else { continue }
            guard let v = value(key, t.shape) else { continue }
            v.withUnsafeBufferPointer { src in t.f.update(from: src.baseAddress!, count: v.count) }
        }
    }
}
