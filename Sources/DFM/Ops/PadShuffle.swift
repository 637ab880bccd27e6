import Foundation

// F.pad in every mode, F.pixel_shuffle / pixel_unshuffle, F.conv1d and F.alpha_dropout.

// MARK: pad

/// torch.nn.functional.pad. `pad` lists (before, after) pairs from the last dimension
/// backwards, as torch. mode "constant" fills with `value` (negative pads crop); "reflect"
/// mirrors without repeating the edge, "replicate" repeats the edge, "circular" wraps
/// around; those three pad the last 1, 2 or 3 dimensions of a (N, C, *) or (C, *) input
/// (torch's rank rule). Forward and backward go through one index map of the padded block:
/// out[j] = x[map[j]] (value where map[j] < 0), and the gradient sums back through it.
public func pad(_ x: Tensor, _ pad: [Int], mode: String = "constant", value: Double = 0) throws -> Tensor {
    let op = "pad"
    try EW.checkFloat(x, op)
    guard pad.count % 2 == 0 else {
        throw DFMError.invalid(op, "Padding length must be divisible by 2, got \(pad.count)")
    }
    let k = pad.count / 2
    guard k <= x.ndim else {
        throw DFMError.invalid(
            op,
            "Padding length should be less than or equal to two times the input dimension but got padding length \(pad.count) and input of dimension \(x.ndim)"
        )
    }
    for p in pad where Swift.abs(p) > 1 << 30 { throw DFMError.invalid(op, "padding \(p) is out of range") }
    switch mode {
    case "constant": break
    case "reflect", "replicate", "circular":
        guard (1...3).contains(k), x.ndim == k + 1 || x.ndim == k + 2 else {
            throw DFMError.invalid(
                op,
                "\(mode) padding of \(k) dimension(s) expects a \(k + 1)D or \(k + 2)D input (got shape \(x.shape)), with 2, 4 or 6 pad values"
            )
        }
    default:
        throw DFMError.invalid(
            op, "Unrecognised padding mode \(mode) (expected 'constant', 'reflect', 'replicate' or 'circular')")
    }
    if k == 0 { return x }
    let lead = x.ndim - k
    let inDims = Array(x.shape[lead...])
    var outDims = inDims
    // Per padded dimension (outermost first): where each output index reads from, or -1.
    var maps: [[Int]] = []
    for i in 0..<k {
        let n = inDims[i]
        let lo = pad[2 * (k - 1 - i)]
        let hi = pad[2 * (k - 1 - i) + 1]
        let m = n + lo + hi
        guard m >= 0 else {
            throw DFMError.invalid(
                op, "the padded size of dimension \(lead + i) would be \(m) (size \(n), padding (\(lo), \(hi)))")
        }
        if mode != "constant" {
            guard lo >= 0, hi >= 0 else {
                throw DFMError.invalid(op, "\(mode) padding must be non-negative, got (\(lo), \(hi))")
            }
            if mode == "reflect", lo >= n || hi >= n {
                throw DFMError.invalid(
                    op,
                    "Padding size should be less than the corresponding input dimension, but got: padding (\(lo), \(hi)) at dimension \(lead + i) of input \(x.shape)"
                )
            }
            if mode == "replicate", n == 0, m > 0 {
                throw DFMError.invalid(op, "replicate padding of an empty dimension (input \(x.shape))")
            }
            if mode == "circular", lo > n || hi > n {
                throw DFMError.invalid(
                    op,
                    "Padding value causes wrapping around more than once (padding (\(lo), \(hi)) at dimension \(lead + i) of size \(n))"
                )
            }
        }
        outDims[i] = m
        maps.append(
            (0..<m).map { j in
                let s = j - lo
                if s >= 0 && s < n { return s }
                switch mode {
                case "reflect": return s < 0 ? -s : 2 * (n - 1) - s
                case "replicate": return s < 0 ? 0 : n - 1
                case "circular": return ((s % n) + n) % n
                default: return -1
                }
            })
    }
    let outShape = Array(x.shape[..<lead]) + outDims
    _ = try Shape.count(outShape, op: op)
    // Flat map of the whole padded block.
    let inBlock = inDims.reduce(1, *)
    let outBlock = outDims.reduce(1, *)
    var flat = [Int](repeating: 0, count: outBlock)
    let inStrides = Shape.strides(inDims)
    let outStrides = Shape.strides(outDims)
    for j in 0..<outBlock {
        var src = 0
        for i in 0..<k {
            let s = maps[i][(j / outStrides[i]) % outDims[i]]
            if s < 0 {
                src = -1
                break
            }
            src += s * inStrides[i]
        }
        flat[j] = src
    }
    let outer = inBlock == 0 ? x.shape[..<lead].reduce(1, *) : x.count / inBlock
    let out = try Tensor.uninitialized(outShape, dtype: x.dtype, op: op)
    if x.dtype == .float64 {
        padGather(x.d, out.d, flat, outer: outer, inBlock: inBlock, value: value)
    } else {
        padGather(x.f, out.f, flat, outer: outer, inBlock: inBlock, value: Float(value))
    }
    // torch's node names: ConstantPadNd, ReflectionPad2D, ...
    let node =
        mode == "constant"
        ? "constant_pad_nd"
        : mode == "circular"
            ? "circular_pad"
            : "\(mode == "reflect" ? "reflection" : "replication")_pad\(k)d"
    return record(node, out, [x]) { g in
        let gx = try Tensor.zeros(x.shape, dtype: x.dtype)
        if x.dtype == .float64 {
            padScatter(g.d, gx.d, flat, outer: outer, inBlock: inBlock)
        } else {
            padScatter(g.f, gx.f, flat, outer: outer, inBlock: inBlock)
        }
        return [gx]
    }
}

private func padGather<S: Real>(
    _ x: UnsafeMutablePointer<S>, _ y: UnsafeMutablePointer<S>, _ map: [Int],
    outer: Int, inBlock: Int, value: S
) {
    let ob = map.count
    map.withUnsafeBufferPointer { m in
        Parallel.chunks(outer, costPerItem: ob) { r in
            for o in r {
                let src = x + o * inBlock
                let dst = y + o * ob
                for j in 0..<ob { dst[j] = m[j] >= 0 ? src[m[j]] : value }
            }
        }
    }
}

/// Sums g back through the map; each outer slice is written by one thread only.
private func padScatter<S: Real>(
    _ g: UnsafeMutablePointer<S>, _ gx: UnsafeMutablePointer<S>, _ map: [Int],
    outer: Int, inBlock: Int
) {
    let ob = map.count
    map.withUnsafeBufferPointer { m in
        Parallel.chunks(outer, costPerItem: ob) { r in
            for o in r {
                let src = g + o * ob
                let dst = gx + o * inBlock
                for j in 0..<ob where m[j] >= 0 { dst[m[j]] += src[j] }
            }
        }
    }
}

// MARK: pixel shuffle

/// F.pixel_shuffle: (*, C·r², H, W) → (*, C, H·r, W·r). One node; the gradient is the
/// pixel_unshuffle of the upstream gradient.
public func pixelShuffle(_ x: Tensor, upscaleFactor r: Int) throws -> Tensor {
    let op = "pixel_shuffle"
    guard x.ndim >= 3 else {
        throw DFMError.shape(
            op, "pixel_shuffle expects input to have at least 3 dimensions, but got input with \(x.ndim) dimension(s)")
    }
    guard r > 0, r <= 1 << 20 else {
        throw DFMError.invalid(op, "pixel_shuffle expects a positive upscale_factor, but got \(r)")
    }
    let c = x.shape[x.ndim - 3]
    guard c % (r * r) == 0 else {
        throw DFMError.shape(
            op,
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of upscale_factor, but input.size(-3)=\(c) is not divisible by \(r * r)"
        )
    }
    let out = try GradMode.noGrad { try shuffle(x, r, up: true) }
    return record(op, out, [x]) { g in [try shuffle(g, r, up: false)] }
}

/// F.pixel_unshuffle: (*, C, H·r, W·r) → (*, C·r², H, W).
public func pixelUnshuffle(_ x: Tensor, downscaleFactor r: Int) throws -> Tensor {
    let op = "pixel_unshuffle"
    guard x.ndim >= 3 else {
        throw DFMError.shape(
            op, "pixel_unshuffle expects input to have at least 3 dimensions, but got input with \(x.ndim) dimension(s)"
        )
    }
    guard r > 0, r <= 1 << 20 else {
        throw DFMError.invalid(op, "pixel_unshuffle expects a positive downscale_factor, but got \(r)")
    }
    let h = x.shape[x.ndim - 2]
    let w = x.shape[x.ndim - 1]
    guard h % r == 0, w % r == 0 else {
        throw DFMError.shape(
            op,
            "pixel_unshuffle expects height and width to be divisible by downscale_factor, but got height \(h) and width \(w) for factor \(r)"
        )
    }
    let out = try GradMode.noGrad { try shuffle(x, r, up: false) }
    return record(op, out, [x]) { g in [try shuffle(g, r, up: true)] }
}

/// The copy behind both (shapes already checked; not recorded when called under noGrad).
private func shuffle(_ x: Tensor, _ r: Int, up: Bool) throws -> Tensor {
    let n = x.ndim
    let c = x.shape[n - 3]
    let h = x.shape[n - 2]
    let w = x.shape[n - 1]
    let lead = Array(x.shape[..<(n - 3)])
    let l = lead.count
    if up {
        // (…, oc, r1, r2, h, w) → (…, oc, h, r1, w, r2)
        let t = try reshape(x, lead + [c / (r * r), r, r, h, w])
        let p = try permute(t, Array(0..<l) + [l, l + 3, l + 1, l + 4, l + 2])
        return try reshape(p, lead + [c / (r * r), h * r, w * r])
    }
    // (…, c, oh, r1, ow, r2) → (…, c, r1, r2, oh, ow)
    let t = try reshape(x, lead + [c, h / r, r, w / r, r])
    let p = try permute(t, Array(0..<l) + [l, l + 2, l + 4, l + 1, l + 3])
    return try reshape(p, lead + [c * r * r, h / r, w / r])
}

// MARK: conv1d

/// F.conv1d: x (N, C, L) or unbatched (C, L), weight (Cout, C/groups, K); the conv2d
/// kernels with a height of 1.
public func conv1d(
    _ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
    dilation: Int = 1, groups: Int = 1
) throws -> Tensor {
    let (x4, w4) = try conv1dOperands(x, weight)
    let y = try conv2d(
        x4, w4, bias, stride: [1, stride], padding: [0, padding], dilation: [1, dilation], groups: groups)
    return named("conv1d", try squeeze(y, dim: -2))
}

/// F.conv1d with padding "same" or "valid".
public func conv1d(
    _ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil, stride: Int = 1, padding: String,
    dilation: Int = 1, groups: Int = 1
) throws -> Tensor {
    let (x4, w4) = try conv1dOperands(x, weight)
    let y = try conv2d(x4, w4, bias, stride: [1, stride], padding: padding, dilation: [1, dilation], groups: groups)
    return named("conv1d", try squeeze(y, dim: -2))
}

/// `y` under an identity node called `op`: a composed op shows torch's grad_fn name.
private func named(_ op: String, _ y: Tensor) -> Tensor {
    record(op, y, [y]) { g in [g] }
}

private func conv1dOperands(_ x: Tensor, _ weight: Tensor) throws -> (Tensor, Tensor) {
    let op = "conv1d"
    guard x.ndim == 2 || x.ndim == 3 else {
        throw DFMError.shape(
            op, "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: \(x.shape)")
    }
    guard weight.ndim == 3 else {
        throw DFMError.shape(
            op, "weight must be 3-dimensional (out_channels, in_channels/groups, kW), got shape \(weight.shape)")
    }
    return (try unsqueeze(x, -2), try unsqueeze(weight, 2))
}

// MARK: alpha dropout

/// F.alpha_dropout (for SELU networks): in training each element is kept with
/// probability 1-p, a dropped one becomes -α' (α' = SELU's scale·alpha), and the result is
/// a·(·) + b so mean and variance stay those of the input: a = ((1-p)(1+p·α'²))^(-1/2),
/// b = a·α'·p for kept elements. The mask comes from `generator` (global when nil).
public func alphaDropout(_ x: Tensor, p: Float = 0.5, training: Bool = true, generator: Generator? = nil) throws
    -> Tensor
{
    let op = "alpha_dropout"
    guard p >= 0, p <= 1 else {
        throw DFMError.invalid(op, "dropout probability has to be between 0 and 1, but got \(p)")
    }
    try EW.checkFloat(x, op)
    if !training || p == 0 { return x }
    if p == 1 { return try mul(x, 0) }
    let alpha = 1.7580993408473766
    let pd = Double(p)
    let a = 1 / (alpha * alpha * pd + 1).squareRoot() / (1 - pd).squareRoot()
    // scale[k] = a (kept) or 0; shift[k] = a·α'·p (kept) or a·α'·(p-1) (dropped): torch's
    // noise·a and (noise-1)·α'·a + α'·a·p.
    let scale = try Tensor.uninitialized(x.shape, dtype: x.dtype, op: op)
    let shift = try Tensor.uninitialized(x.shape, dtype: x.dtype, op: op)
    func fill<S: Real>(_ sp: UnsafeMutablePointer<S>, _ bp: UnsafeMutablePointer<S>) {
        let keep = 1 - p
        let sa = S(a)
        let kept = S(a * alpha * pd)
        let dropped = S(a * alpha * (pd - 1))
        (generator ?? .default).fillBlocks(x.count, costPerItem: 2) { s, r in
            for k in r {
                let on = s.uniformFloat() < keep
                sp[k] = on ? sa : 0
                bp[k] = on ? kept : dropped
            }
        }
    }
    if x.dtype == .float64 { fill(scale.d, shift.d) } else { fill(scale.f, shift.f) }
    return try add(try mul(x, scale), shift)
}
