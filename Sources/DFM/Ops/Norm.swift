import CKernels
import Foundation

// Normalisation layers: batch_norm, group_norm, layer_norm. Each is one fused kernel
// (statistics, normalise, scale and shift) with an analytic backward. Statistics are
// two-pass in double (mean, then squared deviations), so large offsets do not cancel.
// With x̂ = (x - mean)·rstd, ĝ = g·w and D values per normalisation set:
//   dx = rstd · (ĝ - Σĝ/D - x̂·Σ(ĝ·x̂)/D),  dw = Σ g·x̂,  db = Σ g.

/// Σ q[k] over `length` floats in double, with four independent accumulators so the adds
/// pipeline (one dependent chain runs at a quarter of the rate). The order is fixed by
/// `length` alone, so results do not depend on threads.
@inline(__always)
private func sum4<S: Real>(_ q: UnsafeMutablePointer<S>, _ length: Int, _ f: (S) -> Double) -> Double {
    var a0: Double = 0
    var a1: Double = 0
    var a2: Double = 0
    var a3: Double = 0
    var k = 0
    while k + 4 <= length {
        a0 += f(q[k])
        a1 += f(q[k + 1])
        a2 += f(q[k + 2])
        a3 += f(q[k + 3])
        k += 4
    }
    while k < length {
        a0 += f(q[k])
        k += 1
    }
    return (a0 + a1) + (a2 + a3)
}

/// Mean and sum of squared deviations of `segments` runs of `length` floats, the runs
/// `stride` floats apart, starting at `p`. float32 goes through CKernels: sixteen partial sums
/// carried across all the runs (four per run here), so the vector units can take them.
@inline(__always)
private func moments<S: Real>(_ p: UnsafeMutablePointer<S>, segments: Int, stride: Int, length: Int) -> (
    mean: Double, m2: Double
) {
    if S.self == Float.self {
        let x = f32(p)
        let n = Double(segments * length)
        let mean = n > 0 ? dfmk_norm_sum_f32(x, segments, stride, length, 0, 0) / n : 0
        return (mean, dfmk_norm_sum_f32(x, segments, stride, length, mean, 1))
    }
    var s: Double = 0
    for seg in 0..<segments { s += sum4(p + seg * stride, length) { Double($0) } }
    let n = Double(segments * length)
    let mean = n > 0 ? s / n : 0
    var m2: Double = 0
    for seg in 0..<segments {
        m2 += sum4(p + seg * stride, length) {
            let d = Double($0) - mean
            return d * d
        }
    }
    return (mean, m2)
}

/// Σg and Σg·(x - mean)·rstd over `segments` runs of `length` floats, `stride` apart (float32
/// through CKernels as in `moments`).
@inline(__always)
private func gradSums<S: Real>(
    _ g: UnsafeMutablePointer<S>, _ x: UnsafeMutablePointer<S>, segments: Int = 1, stride: Int = 0, length: Int,
    mean: S, rstd: S
) -> (sg: Double, sgx: Double) {
    if S.self == Float.self {
        var sg: Double = 0
        var sgx: Double = 0
        dfmk_grad_sums_f32(f32(g), f32(x), segments, stride, length, Float(mean), Float(rstd), &sg, &sgx)
        return (sg, sgx)
    }
    var sg: Double = 0
    var sgx: Double = 0
    for seg in 0..<segments {
        let (a, b) = gradSums2(g + seg * stride, x + seg * stride, length: length, mean: mean, rstd: rstd)
        sg += a
        sgx += b
    }
    return (sg, sgx)
}

/// Σg and Σg·(x - mean)·rstd over one run of `length` floats (two accumulators each, see sum4).
@inline(__always)
private func gradSums2<S: Real>(
    _ g: UnsafeMutablePointer<S>, _ x: UnsafeMutablePointer<S>, length: Int,
    mean: S, rstd: S
) -> (sg: Double, sgx: Double) {
    var sg0: Double = 0
    var sg1: Double = 0
    var sgx0: Double = 0
    var sgx1: Double = 0
    var k = 0
    while k + 2 <= length {
        let g0 = Double(g[k])
        let g1 = Double(g[k + 1])
        sg0 += g0
        sg1 += g1
        sgx0 += g0 * Double((x[k] - mean) * rstd)
        sgx1 += g1 * Double((x[k + 1] - mean) * rstd)
        k += 2
    }
    if k < length {
        let gv = Double(g[k])
        sg0 += gv
        sgx0 += gv * Double((x[k] - mean) * rstd)
    }
    return (sg0 + sg1, sgx0 + sgx1)
}

/// Checks an optional per-feature parameter has `dtype` and `shape`.
private func checkParam(_ t: Tensor?, _ name: String, shape: [Int], dtype: DType, op: String) throws {
    guard let t else { return }
    guard t.dtype == dtype else { throw DFMError.type(op, "\(name) must be \(dtype) like the input, got \(t.dtype)") }
    guard t.shape == shape else {
        throw DFMError.shape(
            op, "\(name) should have shape \(shape) (\(shape.reduce(1, *)) elements), got shape \(t.shape)")
    }
}

/// Inputs list for `record` with optional weight and bias; returns their indices.
private func normInputs(_ x: Tensor, _ w: Tensor?, _ b: Tensor?) -> (inputs: [Tensor], wi: Int?, bi: Int?) {
    var ins = [x]
    var wi: Int? = nil
    var bi: Int? = nil
    if let w {
        wi = ins.count
        ins.append(w)
    }
    if let b {
        bi = ins.count
        ins.append(b)
    }
    return (ins, wi, bi)
}

/// The gradient list for `record`: x's first, then weight's and bias's at their indices.
private func normGrads(_ n: Int, _ gx: Tensor?, _ w: (Int?, Tensor?), _ b: (Int?, Tensor?)) -> [Tensor?] {
    var grads = [Tensor?](repeating: nil, count: n)
    grads[0] = gx
    if let wi = w.0 { grads[wi] = w.1 }
    if let bi = b.0 { grads[bi] = b.1 }
    return grads
}

// MARK: batch_norm

/// torch.nn.functional.batch_norm for (N, C), (N, C, L), (N, C, H, W) (any (N, C, *)).
/// Training normalises with the batch mean and biased variance per channel and, when
/// given, updates `runningMean`/`runningVar` in place with `momentum` (running_var gets
/// the unbiased variance). Eval normalises with the running statistics.
public func batchNorm(
    _ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?,
    training: Bool, momentum: Double = 0.1, eps: Double = 1e-5
) throws -> Tensor {
    let op = "batch_norm"
    try EW.checkFloat(x, op)
    guard x.ndim >= 2 else {
        throw DFMError.shape(op, "expected an input of at least 2 dimensions (N, C, *), got shape \(x.shape)")
    }
    let n = x.shape[0]
    let c = x.shape[1]
    let s = x.shape.dropFirst(2).reduce(1, *)
    for (name, t) in [("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVar)] {
        if let t, t.count != c || t.ndim != 1 {
            throw DFMError.shape(
                op, "\(name) should contain \(c) elements not \(t.count) (shape \(t.shape), input shape \(x.shape))")
        }
        if let t, t.dtype != x.dtype {
            throw DFMError.type(op, "\(name) must be \(x.dtype) like the input, got \(t.dtype)")
        }
    }
    guard eps >= 0, eps.isFinite else { throw DFMError.invalid(op, "eps must be finite and non-negative, got \(eps)") }
    let m = n * s  // values per channel
    if training {
        guard m > 1 else {
            throw DFMError.invalid(
                op, "Expected more than 1 value per channel when training, got input size \(x.shape)")
        }
    } else {
        guard runningMean != nil, runningVar != nil else {
            throw DFMError.invalid(op, "running_mean and running_var must be defined in evaluation mode")
        }
    }

    func run<S: Real>(_: S.Type) throws -> Tensor {
        let out = try Tensor.uninitialized(x.shape, dtype: S.dtype, op: op)
        let meanT = try Tensor.uninitialized([c], dtype: S.dtype, op: op)
        let rstdT = try Tensor.uninitialized([c], dtype: S.dtype, op: op)
        let xp = x.p(S.self)
        let o = out.p(S.self)
        let mp = meanT.p(S.self)
        let rp = rstdT.p(S.self)
        let wp = weight?.p(S.self)
        let bp = bias?.p(S.self)
        let rmp = runningMean?.p(S.self)
        let rvp = runningVar?.p(S.self)
        let mom = Double(momentum)
        Parallel.chunks(c, costPerItem: m * 3) { r in
            for ch in r {
                let base = xp + ch * s
                let mean: S
                let rstd: S
                if training {
                    let (mu, m2) = moments(base, segments: n, stride: c * s, length: s)
                    mean = S(mu)
                    rstd = S(1 / (m2 / Double(m) + Double(eps)).squareRoot())
                    if let rmp { rmp[ch] = S(mom * mu + (1 - mom) * Double(rmp[ch])) }
                    if let rvp { rvp[ch] = S(mom * (m2 / Double(m - 1)) + (1 - mom) * Double(rvp[ch])) }
                } else {
                    // Eval: both pointers were checked non-nil above.
                    mean = rmp?[ch] ?? 0
                    rstd = 1 / ((rvp?[ch] ?? 1) + S(eps)).squareRoot()
                }
                mp[ch] = mean
                rp[ch] = rstd
                // y = x·α + β with α = w·rstd, β = b - mean·α (torch's CPU form).
                let alpha = (wp?[ch] ?? 1) * rstd
                let beta = (bp?[ch] ?? 0) - mean * alpha
                for i in 0..<n {
                    let src = base + i * c * s
                    let dst = o + (i * c + ch) * s
                    for k in 0..<s { dst[k] = src[k] * alpha + beta }
                }
            }
        }

        let (ins, wi, bi) = normInputs(x, weight, bias)
        return record(op, out, ins) { g in
            // Pointers from the captured tensors, which the closure keeps alive.
            let xp = x.p(S.self)
            let mp = meanT.p(S.self)
            let rp = rstdT.p(S.self)
            let wp = weight?.p(S.self)
            let gp = g.p(S.self)
            let gx = x.requiresGrad ? try Tensor.uninitialized(x.shape, dtype: S.dtype, op: "batch_norm_backward") : nil
            let gw =
                weight?.requiresGrad == true
                ? try Tensor.uninitialized([c], dtype: S.dtype, op: "batch_norm_backward") : nil
            let gb =
                bias?.requiresGrad == true
                ? try Tensor.uninitialized([c], dtype: S.dtype, op: "batch_norm_backward") : nil
            let gxp = gx?.p(S.self)
            let gwp = gw?.p(S.self)
            let gbp = gb?.p(S.self)
            Parallel.chunks(c, costPerItem: m * 3) { r in
                for ch in r {
                    let mean = mp[ch]
                    let rstd = rp[ch]
                    let w = wp?[ch] ?? 1
                    let (sg, sgx) = gradSums(
                        gp + ch * s, xp + ch * s, segments: n, stride: c * s, length: s, mean: mean, rstd: rstd)
                    gwp?[ch] = S(sgx)
                    gbp?[ch] = S(sg)
                    guard let gxp else { continue }
                    let k1 = w * rstd
                    // Training: the batch statistics depend on x. Eval: they are constants.
                    let cg = training ? S(sg / Double(m)) : 0
                    let cx = training ? S(sgx / Double(m)) : 0
                    for i in 0..<n {
                        let off = (i * c + ch) * s
                        let gi = gp + off
                        let xi = xp + off
                        let di = gxp + off
                        for k in 0..<s { di[k] = k1 * (gi[k] - cg - (xi[k] - mean) * rstd * cx) }
                    }
                }
            }
            return normGrads(ins.count, gx, (wi, gw), (bi, gb))
        }
    }
    return try x.dtype == .float64 ? run(Double.self) : run(Float.self)
}

// MARK: group_norm

/// torch.nn.functional.group_norm for (N, C, *): channels split into `groups` groups,
/// each (sample, group) normalised with its own mean and biased variance; optional
/// per-channel affine `weight` and `bias` of shape [C].
public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Double = 1e-5) throws -> Tensor {
    let op = "group_norm"
    try EW.checkFloat(x, op)
    guard x.ndim >= 2 else {
        throw DFMError.shape(op, "expected an input of at least 2 dimensions (N, C, *), got shape \(x.shape)")
    }
    let n = x.shape[0]
    let c = x.shape[1]
    let s = x.shape.dropFirst(2).reduce(1, *)
    guard groups > 0 else { throw DFMError.invalid(op, "num_groups must be positive, got \(groups)") }
    guard c % groups == 0 else {
        throw DFMError.invalid(
            op,
            "Expected number of channels in input to be divisible by num_groups, but got input of shape \(x.shape) and num_groups=\(groups)"
        )
    }
    try checkParam(weight, "weight", shape: [c], dtype: x.dtype, op: op)
    try checkParam(bias, "bias", shape: [c], dtype: x.dtype, op: op)
    guard eps >= 0, eps.isFinite else { throw DFMError.invalid(op, "eps must be finite and non-negative, got \(eps)") }
    let cpg = c / groups
    let d = cpg * s  // channels per group, values per group

    func run<S: Real>(_: S.Type) throws -> Tensor {
        let out = try Tensor.uninitialized(x.shape, dtype: S.dtype, op: op)
        let meanT = try Tensor.uninitialized([n * groups], dtype: S.dtype, op: op)
        let rstdT = try Tensor.uninitialized([n * groups], dtype: S.dtype, op: op)
        let xp = x.p(S.self)
        let o = out.p(S.self)
        let mp = meanT.p(S.self)
        let rp = rstdT.p(S.self)
        let wp = weight?.p(S.self)
        let bp = bias?.p(S.self)
        Parallel.chunks(n * groups, costPerItem: d * 3) { r in
            for ng in r {
                let base = ng * d
                let (mu, m2) = moments(xp + base, segments: 1, stride: 0, length: d)
                let mean = S(mu)
                let rstd = S(1 / (m2 / Double(max(d, 1)) + Double(eps)).squareRoot())
                mp[ng] = mean
                rp[ng] = rstd
                for j in 0..<cpg {
                    let ch = (ng % groups) * cpg + j
                    let alpha = (wp?[ch] ?? 1) * rstd
                    let beta = (bp?[ch] ?? 0) - mean * alpha
                    let src = xp + base + j * s
                    let dst = o + base + j * s
                    for k in 0..<s { dst[k] = src[k] * alpha + beta }
                }
            }
        }

        let (ins, wi, bi) = normInputs(x, weight, bias)
        return record(op, out, ins) { g in
            // Pointers from the captured tensors, which the closure keeps alive.
            let xp = x.p(S.self)
            let mp = meanT.p(S.self)
            let rp = rstdT.p(S.self)
            let wp = weight?.p(S.self)
            let gp = g.p(S.self)
            // Per (sample, channel): Σg and Σg·x̂. They give dw, db and the group sums for dx.
            let sums = try Tensor.uninitialized([n * c, 2], dtype: S.dtype, op: "group_norm_backward")
            let sp = sums.p(S.self)
            defer { withExtendedLifetime(sums) {} }  // only its raw pointer is used below
            Parallel.chunks(n * c, costPerItem: s * 2) { r in
                for nc in r {
                    let ng = (nc / c) * groups + (nc % c) / cpg
                    let (a, b) = gradSums(gp + nc * s, xp + nc * s, length: s, mean: mp[ng], rstd: rp[ng])
                    sp[2 * nc] = S(a)
                    sp[2 * nc + 1] = S(b)
                }
            }
            let gw =
                weight?.requiresGrad == true
                ? try Tensor.uninitialized([c], dtype: S.dtype, op: "group_norm_backward") : nil
            let gb =
                bias?.requiresGrad == true
                ? try Tensor.uninitialized([c], dtype: S.dtype, op: "group_norm_backward") : nil
            if gw != nil || gb != nil {
                let gwp = gw?.p(S.self)
                let gbp = gb?.p(S.self)
                for ch in 0..<c {
                    var a: Double = 0
                    var b: Double = 0
                    for i in 0..<n {
                        a += Double(sp[2 * (i * c + ch)])
                        b += Double(sp[2 * (i * c + ch) + 1])
                    }
                    gbp?[ch] = S(a)
                    gwp?[ch] = S(b)
                }
            }
            var gx: Tensor? = nil
            if x.requiresGrad {
                let t = try Tensor.uninitialized(x.shape, dtype: S.dtype, op: "group_norm_backward")
                let dp = t.p(S.self)
                Parallel.chunks(n * groups, costPerItem: d * 2) { r in
                    for ng in r {
                        let i = ng / groups
                        let c0 = (ng % groups) * cpg
                        var a: Double = 0
                        var b: Double = 0
                        for j in 0..<cpg {
                            let w = Double(wp?[c0 + j] ?? 1)
                            let nc = i * c + c0 + j
                            a += w * Double(sp[2 * nc])
                            b += w * Double(sp[2 * nc + 1])
                        }
                        let mean = mp[ng]
                        let rstd = rp[ng]
                        let cg = S(a / Double(d))
                        let cx = S(b / Double(d))
                        for j in 0..<cpg {
                            let w = wp?[c0 + j] ?? 1
                            let off = (i * c + c0 + j) * s
                            let gi = gp + off
                            let xi = xp + off
                            let di = dp + off
                            for k in 0..<s { di[k] = rstd * (gi[k] * w - cg - (xi[k] - mean) * rstd * cx) }
                        }
                    }
                }
                gx = t
            }
            return normGrads(ins.count, gx, (wi, gw), (bi, gb))
        }
    }
    return try x.dtype == .float64 ? run(Double.self) : run(Float.self)
}

// MARK: layer_norm

/// torch.nn.functional.layer_norm: normalises over the trailing dims `normalizedShape`,
/// with optional elementwise affine `weight`/`bias` of that shape.
public func layerNorm(_ x: Tensor, normalizedShape: [Int], weight: Tensor?, bias: Tensor?, eps: Double = 1e-5) throws
    -> Tensor
{
    let op = "layer_norm"
    try EW.checkFloat(x, op)
    guard !normalizedShape.isEmpty else {
        throw DFMError.invalid(
            op,
            "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, but got normalized_shape = []"
        )
    }
    guard normalizedShape.count <= x.ndim, Array(x.shape.suffix(normalizedShape.count)) == normalizedShape else {
        throw DFMError.shape(
            op,
            "Given normalized_shape=\(normalizedShape), expected input with shape [*, \(normalizedShape.map(String.init).joined(separator: ", "))], but got input of size \(x.shape)"
        )
    }
    for (name, t) in [("weight", weight), ("bias", bias)] {
        if let t, t.shape != normalizedShape {
            throw DFMError.shape(
                op,
                "Expected \(name) to be of same shape as normalized_shape, but got \(name) of shape \(t.shape) and normalized_shape = \(normalizedShape)"
            )
        }
        if let t, t.dtype != x.dtype {
            throw DFMError.type(op, "\(name) must be \(x.dtype) like the input, got \(t.dtype)")
        }
    }
    guard eps >= 0, eps.isFinite else { throw DFMError.invalid(op, "eps must be finite and non-negative, got \(eps)") }
    let d = normalizedShape.reduce(1, *)
    let rows = d == 0 ? 0 : x.count / d

    func run<S: Real>(_: S.Type) throws -> Tensor {
        let out = try Tensor.uninitialized(x.shape, dtype: S.dtype, op: op)
        let meanT = try Tensor.uninitialized([rows], dtype: S.dtype, op: op)
        let rstdT = try Tensor.uninitialized([rows], dtype: S.dtype, op: op)
        let xp = x.p(S.self)
        let o = out.p(S.self)
        let mp = meanT.p(S.self)
        let rp = rstdT.p(S.self)
        let wp = weight?.p(S.self)
        let bp = bias?.p(S.self)
        Parallel.chunks(rows, costPerItem: d * 3) { r in
            for row in r {
                let src = xp + row * d
                let dst = o + row * d
                let (mu, m2) = moments(src, segments: 1, stride: 0, length: d)
                let mean = S(mu)
                let rstd = S(1 / (m2 / Double(d) + Double(eps)).squareRoot())
                mp[row] = mean
                rp[row] = rstd
                // Branch once per row, not per element, on which affine parameters exist.
                switch (wp, bp) {
                case (let w?, let b?): for k in 0..<d { dst[k] = (src[k] - mean) * rstd * w[k] + b[k] }
                case (let w?, nil): for k in 0..<d { dst[k] = (src[k] - mean) * rstd * w[k] }
                case (nil, let b?): for k in 0..<d { dst[k] = (src[k] - mean) * rstd + b[k] }
                case (nil, nil): for k in 0..<d { dst[k] = (src[k] - mean) * rstd }
                }
            }
        }

        let (ins, wi, bi) = normInputs(x, weight, bias)
        return record(op, out, ins) { g in
            // Pointers from the captured tensors, which the closure keeps alive.
            let xp = x.p(S.self)
            let mp = meanT.p(S.self)
            let rp = rstdT.p(S.self)
            let wp = weight?.p(S.self)
            let gp = g.p(S.self)
            var gx: Tensor? = nil
            if x.requiresGrad {
                let t = try Tensor.uninitialized(x.shape, dtype: S.dtype, op: "layer_norm_backward")
                let dp = t.p(S.self)
                Parallel.chunks(rows, costPerItem: d * 3) { r in
                    for row in r {
                        let gi = gp + row * d
                        let xi = xp + row * d
                        let di = dp + row * d
                        let mean = mp[row]
                        let rstd = rp[row]
                        // ĝ = g·w is staged in the output row, then overwritten with dx.
                        if let wp { for k in 0..<d { di[k] = gi[k] * wp[k] } } else { di.update(from: gi, count: d) }
                        let (a, b) = gradSums(di, xi, length: d, mean: mean, rstd: rstd)
                        let cg = S(a / Double(d))
                        let cx = S(b / Double(d))
                        for k in 0..<d { di[k] = rstd * (di[k] - cg - (xi[k] - mean) * rstd * cx) }
                    }
                }
                gx = t
            }
            let gw =
                weight?.requiresGrad == true
                ? try Tensor.uninitialized(normalizedShape, dtype: S.dtype, op: "layer_norm_backward") : nil
            let gb =
                bias?.requiresGrad == true
                ? try Tensor.uninitialized(normalizedShape, dtype: S.dtype, op: "layer_norm_backward") : nil
            if gw != nil || gb != nil {
                // Partial sums over fixed blocks of rows, then summed in block order: parallel,
                // cache-friendly, and independent of the thread count.
                let blockRows = 64
                let nb = (rows + blockRows - 1) / blockRows
                let part = try Tensor.zeros([max(nb, 1), 2, d], dtype: S.dtype)
                let pp = part.p(S.self)
                defer { withExtendedLifetime(part) {} }
                Parallel.chunks(nb, costPerItem: blockRows * d * 2) { r in
                    for blk in r {
                        let pa = pp + blk * 2 * d
                        let pb = pa + d
                        for row in (blk * blockRows)..<min(rows, (blk + 1) * blockRows) {
                            let gi = gp + row * d
                            let xi = xp + row * d
                            let mean = mp[row]
                            let rstd = rp[row]
                            for k in 0..<d {
                                pa[k] += gi[k]
                                pb[k] += gi[k] * (xi[k] - mean) * rstd
                            }
                        }
                    }
                }
                let gwp = gw?.p(S.self)
                let gbp = gb?.p(S.self)
                Parallel.chunks(d, costPerItem: nb * 2) { r in
                    for k in r {
                        var a: Double = 0
                        var b: Double = 0
                        for blk in 0..<nb {
                            a += Double(pp[blk * 2 * d + k])
                            b += Double(pp[blk * 2 * d + d + k])
                        }
                        gbp?[k] = S(a)
                        gwp?[k] = S(b)
                    }
                }
            }
            return normGrads(ins.count, gx, (wi, gw), (bi, gb))
        }
    }
    return try x.dtype == .float64 ? run(Double.self) : run(Float.self)
}
