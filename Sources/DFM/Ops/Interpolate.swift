import Foundation

/// torch.nn.functional.interpolate for 4-D (N, C, H, W) input, modes "nearest" and
/// "bilinear". Give exactly one of `size` and `scaleFactor` (one value for both dims or
/// two). With a scale factor the output is floor(in · scale) and, like torch with
/// recompute_scale_factor=None, source indices use 1/scale rather than in/out.
public func interpolate(
    _ x: Tensor, size: [Int]? = nil, scaleFactor: [Double]? = nil, mode: String = "nearest",
    alignCorners: Bool? = nil
) throws -> Tensor {
    let op = "interpolate"
    try EW.checkFloat(x, op)
    guard mode == "nearest" || mode == "bilinear" else {
        throw DFMError.invalid(op, "unsupported mode '\(mode)' (supported: nearest | bilinear)")
    }
    guard x.ndim == 4 else {
        throw DFMError.shape(
            op, "expected a 4-D input (N, C, H, W) for mode \(mode), but got input of shape \(x.shape)")
    }
    if mode == "nearest", alignCorners != nil {
        throw DFMError.invalid(
            op,
            "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear"
        )
    }
    let align = alignCorners ?? false
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let oh: Int
    let ow: Int
    var scales: (Double?, Double?) = (nil, nil)
    switch (size, scaleFactor) {
    case (.some, .some): throw DFMError.invalid(op, "only one of size or scale_factor should be defined")
    case (nil, nil): throw DFMError.invalid(op, "either size or scale_factor should be defined")
    case (let size?, nil):
        guard size.count == 1 || size.count == 2 else {
            throw DFMError.invalid(
                op,
                "Input and output must have the same number of spatial dimensions, but got input with spatial dimensions of [\(h), \(w)] and output size of \(size)"
            )
        }
        (oh, ow) = (size[0], size[size.count - 1])
    case (nil, let sf?):
        guard sf.count == 1 || sf.count == 2 else {
            throw DFMError.invalid(
                op,
                "Input and scale_factor must have the same number of spatial dimensions, but got input with spatial dimensions of [\(h), \(w)] and scale_factor of \(sf)"
            )
        }
        let (a, b) = (sf[0], sf[sf.count - 1])
        guard a.isFinite, b.isFinite, a > 0, b > 0, Double(h) * a < 1e15, Double(w) * b < 1e15 else {
            throw DFMError.invalid(op, "scale_factor must be positive and finite, got \(sf)")
        }
        (oh, ow) = (Int((Double(h) * a).rounded(.down)), Int((Double(w) * b).rounded(.down)))
        scales = (a, b)
    }
    guard h > 0, w > 0, oh > 0, ow > 0 else {
        throw DFMError.invalid(
            op,
            "Input and output sizes should be greater than 0, but got input (H: \(h), W: \(w)) output (H: \(oh), W: \(ow))"
        )
    }
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let out = try Tensor.uninitialized([n, c, oh, ow], dtype: S.dtype, op: op)
        let planes = n * c
        let ihw = h * w
        let ohw = oh * ow
        let xp = x.p(S.self)
        let yp = out.p(S.self)

        if mode == "nearest" {
            let hi = try InterpIndex<S>.nearest(h, oh, scales.0)
            let wi = try InterpIndex<S>.nearest(w, ow, scales.1)
            Parallel.chunks(planes, costPerItem: ohw) { r in
                for plane in r {
                    let src = xp + plane * ihw
                    let dst = yp + plane * ohw
                    for oy in 0..<oh {
                        let srow = src + hi.i0[oy] * w
                        let drow = dst + oy * ow
                        for ox in 0..<ow { drow[ox] = srow[wi.i0[ox]] }
                    }
                }
            }
            return record(op, out, [x]) { g in
                let dx = try Tensor.zeros(x.shape, dtype: S.dtype)
                let gp = g.p(S.self)
                let dp = dx.p(S.self)
                Parallel.chunks(planes, costPerItem: ohw) { r in
                    for plane in r {
                        let dst = dp + plane * ihw
                        let src = gp + plane * ohw
                        for oy in 0..<oh {
                            let drow = dst + hi.i0[oy] * w
                            let srow = src + oy * ow
                            for ox in 0..<ow { drow[wi.i0[ox]] += srow[ox] }
                        }
                    }
                }
                withExtendedLifetime((hi, wi)) {}
                return [dx]
            }
        }

        let hi = try InterpIndex<S>.linear(h, oh, align, scales.0)
        let wi = try InterpIndex<S>.linear(w, ow, align, scales.1)
        Parallel.chunks(planes, costPerItem: ohw * 4) { r in
            for plane in r {
                let src = xp + plane * ihw
                let dst = yp + plane * ohw
                for oy in 0..<oh {
                    let r0 = src + hi.i0[oy] * w
                    let r1 = src + hi.i1[oy] * w
                    let lh0 = hi.l0[oy]
                    let lh1 = hi.l1[oy]
                    let drow = dst + oy * ow
                    for ox in 0..<ow {
                        let a = wi.i0[ox]
                        let b = wi.i1[ox]
                        let lw0 = wi.l0[ox]
                        let lw1 = wi.l1[ox]
                        // torch's order: interpolate along W within each row, then along H.
                        drow[ox] = (r0[a] * lw0 + r0[b] * lw1) * lh0 + (r1[a] * lw0 + r1[b] * lw1) * lh1
                    }
                }
            }
        }
        return record(op, out, [x]) { g in
            let dx = try Tensor.zeros(x.shape, dtype: S.dtype)
            let gp = g.p(S.self)
            let dp = dx.p(S.self)
            Parallel.chunks(planes, costPerItem: ohw * 4) { r in
                for plane in r {
                    let dst = dp + plane * ihw
                    let src = gp + plane * ohw
                    for oy in 0..<oh {
                        let r0 = dst + hi.i0[oy] * w
                        let r1 = dst + hi.i1[oy] * w
                        let lh0 = hi.l0[oy]
                        let lh1 = hi.l1[oy]
                        let grow = src + oy * ow
                        for ox in 0..<ow {
                            let a = wi.i0[ox]
                            let b = wi.i1[ox]
                            let lw0 = wi.l0[ox]
                            let lw1 = wi.l1[ox]
                            let v = grow[ox]
                            r0[a] += lh0 * lw0 * v
                            r0[b] += lh0 * lw1 * v
                            r1[a] += lh1 * lw0 * v
                            r1[b] += lh1 * lw1 * v
                        }
                    }
                }
            }
            withExtendedLifetime((hi, wi)) {}
            return [dx]
        }
    }
    return try x.dtype == .float64 ? run(Double.self) : run(Float.self)
}

/// Per-output-index source indices and weights along one dimension (raw buffers, freed
/// with the object; the backward closure keeps them alive).
final class InterpIndex<S: Real> {
    let i0: UnsafeMutablePointer<Int>, i1: UnsafeMutablePointer<Int>
    let l0: UnsafeMutablePointer<S>, l1: UnsafeMutablePointer<S>

    private init(_ n: Int) {
        i0 = .allocate(capacity: max(n, 1))
        i1 = .allocate(capacity: max(n, 1))
        l0 = .allocate(capacity: max(n, 1))
        l1 = .allocate(capacity: max(n, 1))
    }

    deinit {
        i0.deallocate()
        i1.deallocate()
        l0.deallocate()
        l1.deallocate()
    }

    /// torch's compute_scales_value: 1/scale when a scale was given, else in/out (in float).
    private static func scaleValue(_ scale: Double?, _ input: Int, _ output: Int) -> S {
        if let scale, scale > 0 { return S(1.0 / scale) }
        return S(input) / S(output)
    }

    /// torch's nearest_idx (legacy "nearest"): floor(dst · scale), clamped.
    static func nearest(_ input: Int, _ output: Int, _ scale: Double?) throws -> InterpIndex {
        let t = InterpIndex(output)
        let f = scaleValue(scale, input, output)
        for o in 0..<output {
            let s: Int
            if output == input {
                s = o
            } else if output == 2 * input {
                s = o >> 1
            } else {
                s = min(Int((S(o) * f).rounded(.down)), input - 1)
            }
            t.i0[o] = s
            t.i1[o] = s
            t.l0[o] = 1
            t.l1[o] = 0
        }
        return t
    }

    /// torch's linear source index and lambdas (area_pixel_compute_source_index and
    /// guard_index_and_lambda); equal sizes are the identity.
    static func linear(_ input: Int, _ output: Int, _ alignCorners: Bool, _ scale: Double?) throws -> InterpIndex {
        let t = InterpIndex(output)
        let ratio: S =
            alignCorners
            ? (output > 1 ? S(input - 1) / S(output - 1) : 0)
            : scaleValue(scale, input, output)
        for o in 0..<output {
            if output == input {
                t.i0[o] = o
                t.i1[o] = o
                t.l0[o] = 1
                t.l1[o] = 0
                continue
            }
            let real: S = alignCorners ? ratio * S(o) : max(ratio * (S(o) + 0.5) - 0.5, 0)
            let idx = min(Int(real.rounded(.down)), input - 1)
            let lambda = min(max(real - S(idx), 0), 1)
            t.i0[o] = idx
            t.i1[o] = idx + (idx < input - 1 ? 1 : 0)
            t.l0[o] = 1 - lambda
            t.l1[o] = lambda
        }
        return t
    }
}
