// 2-D convolution with PyTorch's argument rules (F.conv2d).

/// torch.nn.functional.conv2d. `x` is (N, C, H, W) or unbatched (C, H, W); `weight` is
/// (O, C / groups, KH, KW); `bias` is (O). Each of stride/padding/dilation is one value
/// for both spatial dims or two (height, width).
public func conv2d(
    _ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil, stride: [Int] = [1, 1], padding: [Int] = [0, 0],
    dilation: [Int] = [1, 1], groups: Int = 1
) throws -> Tensor {
    let op = "conv2d"
    let p = try spatialPair(padding, "padding", op: op)
    guard p.0 >= 0, p.1 >= 0 else {
        throw DFMError.invalid(op, "negative padding is not supported (got padding=\(padding))")
    }
    return try conv2dCore(x, weight, bias, stride: stride, padLo: p, padHi: p, dilation: dilation, groups: groups)
}

/// conv2d with padding "valid" (none) or "same" (output size = input size; stride 1 only).
/// As in torch, an even effective kernel puts the extra padding row/column at the bottom/right.
public func conv2d(
    _ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil, stride: [Int] = [1, 1], padding: String,
    dilation: [Int] = [1, 1], groups: Int = 1
) throws -> Tensor {
    let op = "conv2d"
    switch padding {
    case "valid":
        return try conv2dCore(
            x, weight, bias, stride: stride, padLo: (0, 0), padHi: (0, 0), dilation: dilation, groups: groups)
    case "same":
        let s = try spatialPair(stride, "stride", op: op)
        guard s.0 == 1, s.1 == 1 else {
            throw DFMError.invalid(op, "padding='same' is not supported for strided convolutions (stride=\(stride))")
        }
        let d = try spatialPair(dilation, "dilation", op: op)
        guard d.0 > 0, d.1 > 0 else {
            throw DFMError.invalid(op, "dilation should be greater than zero, but got \(dilation)")
        }
        guard weight.ndim == 4 else {
            throw DFMError.shape(
                op, "weight must be 4-dimensional (out_channels, in_channels/groups, kH, kW), got shape \(weight.shape)"
            )
        }
        let th = d.0 * (weight.shape[2] - 1)
        let tw = d.1 * (weight.shape[3] - 1)
        return try conv2dCore(
            x, weight, bias, stride: stride, padLo: (th / 2, tw / 2), padHi: (th - th / 2, tw - tw / 2),
            dilation: dilation, groups: groups)
    default:
        throw DFMError.invalid(op, "Invalid padding string: '\(padding)' (expected 'same' or 'valid')")
    }
}

/// One value for both spatial dims, or (height, width).
func spatialPair(_ v: [Int], _ name: String, op: String) throws -> (Int, Int) {
    // Bounded so that sizes computed from it (h + 2·pad, d·(k-1)+1, ...) cannot overflow.
    for x in v where Swift.abs(x) > 1 << 24 {
        throw DFMError.invalid(op, "\(name)=\(v) is out of range (at most 2^24 in absolute value)")
    }
    switch v.count {
    case 1: return (v[0], v[0])
    case 2: return (v[0], v[1])
    default:
        throw DFMError.invalid(
            op, "expected \(name) to be a single integer value or a list of 2 values, but got \(name)=\(v)")
    }
}

func conv2dCore(
    _ x: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: [Int], padLo: (Int, Int), padHi: (Int, Int),
    dilation: [Int], groups: Int
) throws -> Tensor {
    let op = "conv2d"
    let dt = try commonFloat([x, weight, bias], op)
    guard x.ndim == 3 || x.ndim == 4 else {
        throw DFMError.shape(
            op, "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: \(x.shape)")
    }
    guard weight.ndim == 4 else {
        throw DFMError.shape(
            op, "weight must be 4-dimensional (out_channels, in_channels/groups, kH, kW), got shape \(weight.shape)")
    }
    let s = try spatialPair(stride, "stride", op: op)
    let d = try spatialPair(dilation, "dilation", op: op)
    guard groups > 0 else { throw DFMError.invalid(op, "non-positive groups is not supported (got groups=\(groups))") }
    guard s.0 > 0, s.1 > 0 else {
        throw DFMError.invalid(op, "non-positive stride is not supported (got stride=\(stride))")
    }
    guard d.0 > 0, d.1 > 0 else {
        throw DFMError.invalid(op, "dilation should be greater than zero, but got \(dilation)")
    }
    let batched = x.ndim == 4
    let n = batched ? x.shape[0] : 1
    let (c, h, w) = (x.shape[x.ndim - 3], x.shape[x.ndim - 2], x.shape[x.ndim - 1])
    let (o, wc, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    guard kh > 0, kw > 0 else { throw DFMError.shape(op, "weight has an empty kernel: shape \(weight.shape)") }
    guard o % groups == 0 else {
        throw DFMError.shape(
            op,
            "Given groups=\(groups), expected weight to be divisible by \(groups) at dimension 0, but got weight of size \(weight.shape) instead"
        )
    }
    guard wc * groups == c else {
        throw DFMError.shape(
            op,
            "Given groups=\(groups), weight of size \(weight.shape), expected input\(x.shape) to have \(wc * groups) channels, but got \(c) channels instead"
        )
    }
    if let bias, bias.shape != [o] {
        throw DFMError.shape(
            op,
            "Given weight of size \(weight.shape), expected bias to be 1-dimensional with \(o) elements, but got bias of size \(bias.shape) instead"
        )
    }
    let hp = h + padLo.0 + padHi.0
    let wp = w + padLo.1 + padHi.1
    let ekh = d.0 * (kh - 1) + 1
    let ekw = d.1 * (kw - 1) + 1
    guard hp >= ekh, wp >= ekw else {
        throw DFMError.shape(
            op,
            "Calculated padded input size per channel: (\(hp) x \(wp)). Kernel size: (\(ekh) x \(ekw)). Kernel size can't be greater than actual input size"
        )
    }
    let g = ConvGeom(
        n: n, c: c, h: h, w: w, o: o, kh: kh, kw: kw, sh: s.0, sw: s.1, ph: padLo.0, pw: padLo.1,
        dh: d.0, dw: d.1, oh: (hp - ekh) / s.0 + 1, ow: (wp - ekw) / s.1 + 1, groups: groups
    ).pruned()
    let outShape = batched ? [n, o, g.oh, g.ow] : [o, g.oh, g.ow]
    return try dt == .float64
        ? conv2dRun(Double.self, x, weight, bias, g, outShape) : conv2dRun(Float.self, x, weight, bias, g, outShape)
}

private func conv2dRun<S: Real>(
    _: S.Type, _ x: Tensor, _ weight: Tensor, _ bias: Tensor?, _ g: ConvGeom,
    _ outShape: [Int]
) throws -> Tensor {
    let op = "conv2d"
    let out = try Tensor.uninitialized(outShape, dtype: S.dtype, op: op)
    try ConvKernels.forward(x.p(S.self), weight.p(S.self), bias?.p(S.self), g, out.p(S.self), weightOwner: weight)

    let inputs = [x, weight] + (bias.map { [$0] } ?? [])
    return recordAccumulating(op, out, inputs) { gy, sums in
        let dx = x.requiresGrad ? try Tensor.uninitialized(x.shape, dtype: S.dtype, op: "conv2d_backward") : nil
        // The weight's gradient from earlier feedback steps, if the engine has a sum: added into.
        let sum = g.isDepthwise ? nil : sums.count > 1 ? sums[1] : nil
        let dw =
            weight.requiresGrad
            ? try sum ?? Tensor.uninitialized(weight.shape, dtype: S.dtype, op: "conv2d_backward") : nil
        try ConvKernels.backward(
            x.p(S.self), weight.p(S.self), gy.p(S.self), g, dx: dx?.p(S.self), dw: dw?.p(S.self),
            accumulate: sum != nil, weightOwner: weight)
        var grads: [Tensor?] = [dx, dw]
        if let bias {
            if bias.requiresGrad {
                let db = try Tensor.uninitialized(bias.shape, dtype: S.dtype, op: "conv2d_backward")
                ConvKernels.biasGrad(gy.p(S.self), g, db.p(S.self))
                grads.append(db)
            } else {
                grads.append(nil)
            }
        }
        return grads
    }
}

/// torch.nn.functional.conv_transpose2d: the gradient of conv2d with respect to its input,
/// as a layer. `x` is (N, Cin, H, W) or (Cin, H, W); `weight` is (Cin, Cout / groups, KH, KW);
/// output size (H - 1)·stride - 2·padding + dilation·(KH - 1) + output_padding + 1. It runs
/// the conv2d kernels with the roles swapped: the forward is conv2d's input gradient, the
/// input gradient is conv2d's forward, the weight gradient conv2d's weight gradient.
public func convTranspose2d(
    _ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil, stride: [Int] = [1, 1],
    padding: [Int] = [0, 0], outputPadding: [Int] = [0, 0], dilation: [Int] = [1, 1],
    groups: Int = 1
) throws -> Tensor {
    let op = "conv_transpose2d"
    let dt = try commonFloat([x, weight, bias], op)
    guard x.ndim == 3 || x.ndim == 4 else {
        throw DFMError.shape(
            op, "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: \(x.shape)")
    }
    guard weight.ndim == 4 else {
        throw DFMError.shape(
            op, "weight must be 4-dimensional (in_channels, out_channels/groups, kH, kW), got shape \(weight.shape)")
    }
    let s = try spatialPair(stride, "stride", op: op)
    let p = try spatialPair(padding, "padding", op: op)
    let op2 = try spatialPair(outputPadding, "output_padding", op: op)
    let d = try spatialPair(dilation, "dilation", op: op)
    guard groups > 0 else { throw DFMError.invalid(op, "non-positive groups is not supported (got groups=\(groups))") }
    guard s.0 > 0, s.1 > 0 else {
        throw DFMError.invalid(op, "non-positive stride is not supported (got stride=\(stride))")
    }
    guard d.0 > 0, d.1 > 0 else {
        throw DFMError.invalid(op, "dilation should be greater than zero, but got \(dilation)")
    }
    guard p.0 >= 0, p.1 >= 0, op2.0 >= 0, op2.1 >= 0 else {
        throw DFMError.invalid(op, "negative padding is not supported")
    }
    guard op2.0 < Swift.max(s.0, d.0), op2.1 < Swift.max(s.1, d.1) else {
        throw DFMError.invalid(
            op,
            "output padding must be smaller than either stride or dilation, but got output_padding=\(outputPadding), stride=\(stride), dilation=\(dilation)"
        )
    }
    let batched = x.ndim == 4
    let n = batched ? x.shape[0] : 1
    let (cin, h, w) = (x.shape[x.ndim - 3], x.shape[x.ndim - 2], x.shape[x.ndim - 1])
    let (wi, wo, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    guard kh > 0, kw > 0 else { throw DFMError.shape(op, "weight has an empty kernel: shape \(weight.shape)") }
    guard wi == cin, cin % groups == 0 else {
        throw DFMError.shape(
            op,
            "Given transposed=1, weight of size \(weight.shape), expected input \(x.shape) to have \(wi) channels (divisible by groups=\(groups)), but got \(cin) channels instead"
        )
    }
    let cout = wo * groups
    if let bias, bias.shape != [cout] {
        throw DFMError.shape(
            op,
            "Given weight of size \(weight.shape), expected bias to be 1-dimensional with \(cout) elements, but got bias of size \(bias.shape) instead"
        )
    }
    let oh = (h - 1) * s.0 - 2 * p.0 + d.0 * (kh - 1) + op2.0 + 1
    let ow = (w - 1) * s.1 - 2 * p.1 + d.1 * (kw - 1) + op2.1 + 1
    guard oh > 0, ow > 0 else {
        throw DFMError.shape(op, "the output size (\(oh) x \(ow)) is too small for input \(x.shape)")
    }
    // The conv2d this layer transposes: input (n, cout, oh, ow) -> output (n, cin, h, w).
    let g = ConvGeom(
        n: n, c: cout, h: oh, w: ow, o: cin, kh: kh, kw: kw, sh: s.0, sw: s.1, ph: p.0, pw: p.1,
        dh: d.0, dw: d.1, oh: h, ow: w, groups: groups
    ).pruned()
    let outShape = batched ? [n, cout, oh, ow] : [cout, oh, ow]
    return try dt == .float64
        ? convTransposeRun(Double.self, x, weight, bias, g, outShape)
        : convTransposeRun(Float.self, x, weight, bias, g, outShape)
}

private func convTransposeRun<S: Real>(
    _: S.Type, _ x: Tensor, _ weight: Tensor, _ bias: Tensor?, _ g: ConvGeom,
    _ outShape: [Int]
) throws -> Tensor {
    let op = "conv_transpose2d"
    let n = g.n
    let cout = g.c
    let oh = g.h
    let ow = g.w
    let out = try Tensor.uninitialized(outShape, dtype: S.dtype, op: op)
    // x.p(S.self) as conv "x" is unread without dw
    try ConvKernels.backward(
        x.p(S.self), weight.p(S.self), x.p(S.self), g, dx: out.p(S.self), dw: nil, weightOwner: weight)
    if let bias {
        let l = oh * ow
        let op = out.p(S.self)
        let bp = bias.p(S.self)
        Parallel.chunks(n * cout, costPerItem: l) { r in
            for k in r {
                let v = bp[k % cout]
                let row = op + k * l
                for q in 0..<l { row[q] += v }
            }
        }
    }
    let inputs = [x, weight] + (bias.map { [$0] } ?? [])
    return record(op, out, inputs) { gy in
        let dx =
            x.requiresGrad ? try Tensor.uninitialized(x.shape, dtype: S.dtype, op: "conv_transpose2d_backward") : nil
        if let dx { try ConvKernels.forward(gy.p(S.self), weight.p(S.self), nil, g, dx.p(S.self), weightOwner: weight) }
        let dw =
            weight.requiresGrad
            ? try Tensor.uninitialized(weight.shape, dtype: S.dtype, op: "conv_transpose2d_backward") : nil
        if let dw {
            try ConvKernels.backward(gy.p(S.self), weight.p(S.self), x.p(S.self), g, dx: nil, dw: dw.p(S.self))
        }
        var grads: [Tensor?] = [dx, dw]
        if let bias {
            var db: Tensor? = nil
            if bias.requiresGrad {
                var gb = g  // the bias sums the conv's input channels over (n, oh, ow)
                (gb.o, gb.oh, gb.ow) = (cout, oh, ow)
                let t = try Tensor.uninitialized(bias.shape, dtype: S.dtype, op: "conv_transpose2d_backward")
                ConvKernels.biasGrad(gy.p(S.self), gb, t.p(S.self))
                db = t
            }
            grads.append(db)
        }
        return grads
    }
}
