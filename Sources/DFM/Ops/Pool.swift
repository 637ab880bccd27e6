import CKernels
import Foundation

// 2-D pooling with PyTorch's window and output-size rules. Every kernel works on one
// (sample, channel) plane per task, so the backward scatters never collide.

/// Validated layout of a pooling input: `planes` = N·C planes of h×w.
struct PoolInput {
    let batched: Bool
    let n, c, h, w: Int
    var planes: Int { n * c }

    init(_ x: Tensor, op: String) throws {
        try EW.checkFloat(x, op)
        let ok = (x.ndim == 3 || x.ndim == 4) && x.shape[(x.ndim == 4 ? 1 : 0)...].allSatisfy { $0 > 0 }
        guard ok else {
            throw DFMError.shape(
                op, "non-empty 3D or 4D (batch mode) tensor expected for input, but got shape \(x.shape)")
        }
        batched = x.ndim == 4
        n = batched ? x.shape[0] : 1
        (c, h, w) = (x.shape[x.ndim - 3], x.shape[x.ndim - 2], x.shape[x.ndim - 1])
    }

    func outShape(_ oh: Int, _ ow: Int) -> [Int] { batched ? [n, c, oh, ow] : [c, oh, ow] }
}

/// torch's pooling_output_shape: floor (or ceil) division, and with ceil_mode the last
/// window must start inside the input or its left padding.
func poolOutputSize(_ size: Int, kernel: Int, pad: Int, stride: Int, dilation: Int, ceil: Bool) -> Int {
    let num = size + 2 * pad - dilation * (kernel - 1) - 1 + (ceil ? stride - 1 : 0)
    var out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1
    if ceil && (out - 1) * stride >= size + pad { out -= 1 }
    return out
}

/// The shared argument checks of max_pool2d and avg_pool2d.
private func poolGeometry(
    _ p: PoolInput, kernelSize: [Int], stride: [Int]?, padding: [Int], dilation: [Int],
    ceilMode: Bool, op: String
) throws -> (k: (Int, Int), s: (Int, Int), pad: (Int, Int), d: (Int, Int), oh: Int, ow: Int) {
    let k = try spatialPair(kernelSize, "kernel_size", op: op)
    let s = try stride.map { $0.isEmpty ? k : try spatialPair($0, "stride", op: op) } ?? k
    let pad = try spatialPair(padding, "padding", op: op)
    let d = try spatialPair(dilation, "dilation", op: op)
    guard k.0 > 0, k.1 > 0 else {
        throw DFMError.invalid(op, "kernel_size must be greater than zero, but got \(kernelSize)")
    }
    guard s.0 > 0, s.1 > 0 else {
        throw DFMError.invalid(op, "stride must be greater than zero, but got \(stride ?? kernelSize)")
    }
    guard d.0 > 0, d.1 > 0 else {
        throw DFMError.invalid(op, "dilation must be greater than zero, but got \(dilation)")
    }
    guard pad.0 >= 0, pad.1 >= 0 else { throw DFMError.invalid(op, "pad must be non-negative, but got \(padding)") }
    for (kk, pp, dd) in [(k.0, pad.0, d.0), (k.1, pad.1, d.1)] where pp > ((kk - 1) * dd + 1) / 2 {
        throw DFMError.invalid(
            op,
            "pad should be at most half of effective kernel size, but got pad=\(pp), kernel_size=\(kk) and dilation=\(dd)"
        )
    }
    guard k.1 / 2 >= pad.1, k.0 / 2 >= pad.0 else {
        throw DFMError.invalid(
            op,
            "pad should be smaller than or equal to half of kernel size, but got padW = \(pad.1), padH = \(pad.0), kW = \(k.1), kH = \(k.0)"
        )
    }
    let oh = poolOutputSize(p.h, kernel: k.0, pad: pad.0, stride: s.0, dilation: d.0, ceil: ceilMode)
    let ow = poolOutputSize(p.w, kernel: k.1, pad: pad.1, stride: s.1, dilation: d.1, ceil: ceilMode)
    guard oh >= 1, ow >= 1 else {
        throw DFMError.shape(
            op,
            "Given input size: (\(p.c)x\(p.h)x\(p.w)). Calculated output size: (\(p.c)x\(oh)x\(ow)). Output size is too small"
        )
    }
    return (k, s, pad, d, oh, ow)
}

/// torch.nn.functional.max_pool2d. Padding acts as -inf; the gradient goes to the first
/// maximum of each window (NaN counts as a maximum), as in torch's CPU kernel.
public func maxPool2d(
    _ x: Tensor, kernelSize: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0],
    dilation: [Int] = [1, 1], ceilMode: Bool = false
) throws -> Tensor {
    let op = "max_pool2d"
    let p = try PoolInput(x, op: op)
    let geo = try poolGeometry(
        p, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation,
        ceilMode: ceilMode, op: op)
    let (k, s, pad, d, oh, ow) = geo
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let out = try Tensor.uninitialized(p.outShape(oh, ow), dtype: S.dtype, op: op)
        // Argmax per output (index within its plane), kept only for backward.
        let needIdx = GradMode.isEnabled && x.requiresGrad
        let idx = needIdx ? try Tensor.uninitialized(out.shape, dtype: .int64, op: op) : nil
        let xp = x.p(S.self)
        let op_ = out.p(S.self)
        let ip = idx?.i
        let (h, w) = (p.h, p.w)
        if S.self == Float.self {
            // CKernels: selects instead of branches, no overflow checks (3.8 -> 1.4 ms on W3's maxpool).
            let pg = dfmk_pool_geom(
                h: h, w: w, oh: oh, ow: ow, kh: k.0, kw: k.1, sh: s.0, sw: s.1, ph: pad.0, pw: pad.1, dh: d.0, dw: d.1)
            withUnsafePointer(to: pg) { gp in
                Parallel.chunks(p.planes, costPerItem: oh * ow * k.0 * k.1) { r in
                    let o = r.lowerBound * oh * ow
                    dfmk_max_pool_f32(f32(xp + r.lowerBound * h * w), r.count, gp, f32(op_ + o), ip.map { $0 + o })
                }
            }
        } else {
            Parallel.chunks(p.planes, costPerItem: oh * ow * k.0 * k.1) { r in
                for plane in r {
                    let src = xp + plane * h * w
                    for oy in 0..<oh {
                        var ih0 = oy * s.0 - pad.0
                        let ih1 = min(ih0 + (k.0 - 1) * d.0 + 1, h)
                        while ih0 < 0 { ih0 += d.0 }
                        for ox in 0..<ow {
                            var iw0 = ox * s.1 - pad.1
                            let iw1 = min(iw0 + (k.1 - 1) * d.1 + 1, w)
                            while iw0 < 0 { iw0 += d.1 }
                            var best = -S.infinity
                            var bestIdx = ih0 * w + iw0
                            var ih = ih0
                            while ih < ih1 {
                                var iw = iw0
                                while iw < iw1 {
                                    let v = src[ih * w + iw]
                                    if v > best || v.isNaN {
                                        best = v
                                        bestIdx = ih * w + iw
                                    }
                                    iw += d.1
                                }
                                ih += d.0
                            }
                            let o = (plane * oh + oy) * ow + ox
                            op_[o] = best
                            ip?[o] = Int64(bestIdx)
                        }
                    }
                }
            }
        }
        guard let idx else { return out }
        return record(op, out, [x]) { g in
            let dx = try Tensor.zeros(x.shape, dtype: S.dtype)
            let gp = g.p(S.self)
            let dp = dx.p(S.self)
            let ip = idx.i
            let hw = h * w
            let ohw = oh * ow
            Parallel.chunks(p.planes, costPerItem: ohw) { r in
                for plane in r {
                    let dst = dp + plane * hw
                    for q in 0..<ohw {
                        let o = plane * ohw + q
                        let t = Int(ip[o])
                        // A window that lies wholly in padding has no input to credit.
                        if t >= 0 && t < hw { dst[t] += gp[o] }
                    }
                }
            }
            return [dx]
        }
    }
    return try x.dtype == .float64 ? run(Double.self) : run(Float.self)
}

/// torch.nn.functional.avg_pool2d (no divisor_override).
public func avgPool2d(
    _ x: Tensor, kernelSize: [Int], stride: [Int]? = nil, padding: [Int] = [0, 0],
    ceilMode: Bool = false, countIncludePad: Bool = true
) throws -> Tensor {
    let op = "avg_pool2d"
    let p = try PoolInput(x, op: op)
    let (k, s, pad, _, oh, ow) = try poolGeometry(
        p, kernelSize: kernelSize, stride: stride, padding: padding,
        dilation: [1, 1], ceilMode: ceilMode, op: op)
    let (h, w) = (p.h, p.w)
    func run<S: Real>(_: S.Type) throws -> Tensor {
        // Window bounds and divisor of output (oy, ox), as in torch's cpu_avg_pool.
        @inline(__always) func window(_ oy: Int, _ ox: Int) -> (Int, Int, Int, Int, S) {
            var ih0 = oy * s.0 - pad.0
            var iw0 = ox * s.1 - pad.1
            var ih1 = min(ih0 + k.0, h + pad.0)
            var iw1 = min(iw0 + k.1, w + pad.1)
            let poolSize = (ih1 - ih0) * (iw1 - iw0)
            ih0 = max(ih0, 0)
            iw0 = max(iw0, 0)
            ih1 = min(ih1, h)
            iw1 = min(iw1, w)
            let div = countIncludePad ? poolSize : (ih1 - ih0) * (iw1 - iw0)
            return (ih0, ih1, iw0, iw1, S(div))
        }
        let out = try Tensor.uninitialized(p.outShape(oh, ow), dtype: S.dtype, op: op)
        let xp = x.p(S.self)
        let yp = out.p(S.self)
        Parallel.chunks(p.planes, costPerItem: oh * ow * k.0 * k.1) { r in
            for plane in r {
                let src = xp + plane * h * w
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let (ih0, ih1, iw0, iw1, div) = window(oy, ox)
                        var acc: S = 0
                        if ih0 < ih1 && iw0 < iw1 {
                            for ih in ih0..<ih1 { for iw in iw0..<iw1 { acc += src[ih * w + iw] } }
                            acc /= div
                        }
                        yp[(plane * oh + oy) * ow + ox] = acc
                    }
                }
            }
        }
        return record(op, out, [x]) { g in
            let dx = try Tensor.zeros(x.shape, dtype: S.dtype)
            let gp = g.p(S.self)
            let dp = dx.p(S.self)
            Parallel.chunks(p.planes, costPerItem: oh * ow * k.0 * k.1) { r in
                for plane in r {
                    let dst = dp + plane * h * w
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            let (ih0, ih1, iw0, iw1, div) = window(oy, ox)
                            if ih0 >= ih1 || iw0 >= iw1 { continue }
                            let v = gp[(plane * oh + oy) * ow + ox] / div
                            for ih in ih0..<ih1 { for iw in iw0..<iw1 { dst[ih * w + iw] += v } }
                        }
                    }
                }
            }
            return [dx]
        }
    }
    return try x.dtype == .float64 ? run(Double.self) : run(Float.self)
}

/// torch.nn.functional.adaptive_avg_pool2d: output cell i averages input rows
/// floor(i·H/OH) ..< ceil((i+1)·H/OH) (likewise for columns).
public func adaptiveAvgPool2d(_ x: Tensor, outputSize: [Int]) throws -> Tensor {
    let op = "adaptive_avg_pool2d"
    try EW.checkFloat(x, op)
    guard x.ndim == 3 || x.ndim == 4 else {
        throw DFMError.shape(op, "Expected 3D or 4D tensor, but got shape \(x.shape)")
    }
    for dim in (x.ndim - 3)..<x.ndim where x.shape[dim] == 0 {
        throw DFMError.shape(
            op,
            "Expected input to have non-zero size for non-batch dimensions, but input has sizes \(x.shape) with dimension \(dim) being empty"
        )
    }
    let (oh, ow) = try spatialPair(outputSize, "output_size", op: op)
    guard oh >= 0, ow >= 0 else {
        throw DFMError.invalid(
            op, "elements of output_size must be greater than or equal to 0 but received \(outputSize)")
    }
    let p = try PoolInput(x, op: op)
    let (h, w) = (p.h, p.w)
    @inline(__always) func start(_ a: Int, _ b: Int, _ c: Int) -> Int { (a / b) * c + ((a % b) * c) / b }
    @inline(__always) func end(_ a: Int, _ b: Int, _ c: Int) -> Int { 1 + ((a + 1) * c - 1) / b }
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let out = try Tensor.uninitialized(p.outShape(oh, ow), dtype: S.dtype, op: op)
        let xp = x.p(S.self)
        let yp = out.p(S.self)
        Parallel.chunks(p.planes, costPerItem: h * w + oh * ow) { r in
            for plane in r {
                let src = xp + plane * h * w
                for oy in 0..<oh {
                    let ih0 = start(oy, oh, h)
                    let ih1 = end(oy, oh, h)
                    for ox in 0..<ow {
                        let iw0 = start(ox, ow, w)
                        let iw1 = end(ox, ow, w)
                        var acc: S = 0
                        for ih in ih0..<ih1 { for iw in iw0..<iw1 { acc += src[ih * w + iw] } }
                        yp[(plane * oh + oy) * ow + ox] = acc / S(ih1 - ih0) / S(iw1 - iw0)
                    }
                }
            }
        }
        return record(op, out, [x]) { g in
            let dx = try Tensor.zeros(x.shape, dtype: S.dtype)
            let gp = g.p(S.self)
            let dp = dx.p(S.self)
            Parallel.chunks(p.planes, costPerItem: h * w + oh * ow) { r in
                for plane in r {
                    let dst = dp + plane * h * w
                    for oy in 0..<oh {
                        let ih0 = start(oy, oh, h)
                        let ih1 = end(oy, oh, h)
                        for ox in 0..<ow {
                            let iw0 = start(ox, ow, w)
                            let iw1 = end(ox, ow, w)
                            let v = gp[(plane * oh + oy) * ow + ox] / S(ih1 - ih0) / S(iw1 - iw0)
                            for ih in ih0..<ih1 { for iw in iw0..<iw1 { dst[ih * w + iw] += v } }
                        }
                    }
                }
            }
            return [dx]
        }
    }
    return try x.dtype == .float64 ? run(Double.self) : run(Float.self)
}
