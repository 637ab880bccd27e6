import Foundation

/// Input corruptions for robustness experiments (the DFM papers' noise claim).
/// All work on images in [0, 1] of shape (..., H, W), return a new tensor, and are
/// deterministic for a given generator state.
public enum Corruption: Equatable, CustomStringConvertible {
    case clean
    case gaussian(sigma: Float)
    case saltPepper(fraction: Float)
    case blur(sigma: Float)

    public var description: String {
        switch self {
        case .clean: return "clean"
        case .gaussian(let s): return "gaussian σ=\(s)"
        case .saltPepper(let p): return "salt-pepper p=\(p)"
        case .blur(let s): return "blur σ=\(s)"
        }
    }

    public func apply(_ x: Tensor, generator: Generator = .default) throws -> Tensor {
        try EW.checkFloat(x, "corruption")
        guard x.ndim >= 2 else { throw DFMError.shape("corruption", "expected (..., H, W), got shape \(x.shape)") }
        switch self {
        case .clean:
            return try x.clone()
        case .gaussian(let sigma):
            guard sigma >= 0, sigma.isFinite else {
                throw DFMError.invalid("gaussian_noise", "sigma must be finite and >= 0, got \(sigma)")
            }
            let out = try x.clone()
            for k in 0..<out.count { out.f[k] = Swift.min(1, Swift.max(0, out.f[k] + sigma * generator.normal())) }
            return out
        case .saltPepper(let p):
            guard p >= 0, p <= 1 else { throw DFMError.invalid("salt_pepper", "fraction must be in [0, 1], got \(p)") }
            let out = try x.clone()
            for k in 0..<out.count where generator.uniform() < p {
                out.f[k] = generator.uniform() < 0.5 ? 0 : 1
            }
            return out
        case .blur(let sigma):
            guard sigma > 0, sigma <= 64 else {
                throw DFMError.invalid("blur", "sigma must be in (0, 64], got \(sigma)")
            }
            return try Corruption.gaussianBlur(x, sigma: sigma)
        }
    }

    /// Separable Gaussian blur, radius ceil(2σ), edges replicated.
    static func gaussianBlur(_ x: Tensor, sigma: Float) throws -> Tensor {
        let r = Int((2 * sigma).rounded(.up))
        var w = (-r...r).map { Foundation.exp(-Float($0 * $0) / (2 * sigma * sigma)) }
        let s = w.reduce(0, +)
        w = w.map { $0 / s }
        let h = x.shape[x.ndim - 2]
        let wd = x.shape[x.ndim - 1]
        let planes = x.count / max(h * wd, 1)
        let tmp = try Tensor.uninitialized(x.shape, op: "blur")
        let out = try Tensor.uninitialized(x.shape, op: "blur")
        let src = x.f
        let t = tmp.f
        let o = out.f
        Parallel.chunks(planes, costPerItem: h * wd * (2 * r + 1) * 2) { range in
            for p in range {
                let base = p * h * wd
                for i in 0..<h {
                    for j in 0..<wd {
                        var acc: Float = 0
                        for k in -r...r {
                            acc += w[k + r] * src[base + i * wd + Swift.min(wd - 1, Swift.max(0, j + k))]
                        }
                        t[base + i * wd + j] = acc
                    }
                }
                for i in 0..<h {
                    for j in 0..<wd {
                        var acc: Float = 0
                        for k in -r...r { acc += w[k + r] * t[base + Swift.min(h - 1, Swift.max(0, i + k)) * wd + j] }
                        o[base + i * wd + j] = acc
                    }
                }
            }
        }
        return out
    }
}
