import Foundation

// Loss functions, each a fused kernel with its analytic backward.

/// torch's reduction argument.
public enum Reduction: Sendable {
    case none, mean, sum

    /// From torch's strings "none" / "mean" / "sum".
    public init(_ name: String) throws {
        switch name {
        case "none": self = .none
        case "mean": self = .mean
        case "sum": self = .sum
        default:
            throw DFMError.invalid(
                "loss", "\(name) is not a valid value for reduction (expected 'none', 'mean' or 'sum')")
        }
    }
}

/// Deterministic sum of `n` floats (fixed blocks, each summed in double, added in order).
func orderedSum<S: Real>(_ p: UnsafeMutablePointer<S>, _ n: Int) -> Double {
    let block = 4096
    let nb = (n + block - 1) / block
    if nb <= 1 {
        var s: Double = 0
        for k in 0..<n { s += Double(p[k]) }
        return s
    }
    let partial = UnsafeMutablePointer<Double>.allocate(capacity: nb)
    defer { partial.deallocate() }
    Parallel.chunks(nb, costPerItem: block) { r in
        for b in r {
            var s: Double = 0
            for k in (b * block)..<min(n, (b + 1) * block) { s += Double(p[k]) }
            partial[b] = s
        }
    }
    var s: Double = 0
    for b in 0..<nb { s += partial[b] }
    return s
}

/// Reduces elementwise losses `l` (shaped `shape`) per `reduction`, dividing the mean by `denominator`.
func reduceLoss(_ l: Tensor, _ reduction: Reduction, denominator: Double) -> Tensor {
    let total = l.dtype == .float64 ? orderedSum(l.d, l.count) : orderedSum(l.f, l.count)
    switch reduction {
    case .none: return l
    case .sum: return Tensor.scalar(total, dtype: l.dtype)
    case .mean: return Tensor.scalar(total / denominator, dtype: l.dtype)
    }
}

/// Per-element scale of the upstream gradient for a reduced loss: g[k] (none), g (sum), g/denominator (mean).
@inline(__always)
func upstream<S: Real>(_ g: Tensor, _ reduction: Reduction, denominator: Double, _: S.Type) -> (
    p: UnsafeMutablePointer<S>, scalar: S?
) {
    let p = g.p(S.self)
    switch reduction {
    case .none: return (p, nil)
    case .sum: return (p, p[0])
    case .mean: return (p, S(Double(p[0]) / denominator))
    }
}

// MARK: cross_entropy

/// torch.nn.functional.cross_entropy with class-index targets.
///
/// `input` is (N, C), (N, C, d1, ...) or unbatched (C); `target` (int64) is (N), (N, d1, ...)
/// or 0-d. Per element i with target t: loss = (1-ε)·(-w[t]·logp[t]) + ε/C·Σ_c(-w[c]·logp[c]),
/// zero where t == ignoreIndex. Mean divides by Σ w[t] over non-ignored elements (NaN when
/// all are ignored), exactly as torch combines label smoothing with weights.
public func crossEntropy(
    _ input: Tensor, _ target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
    reduction: Reduction = .mean, labelSmoothing: Double = 0
) throws -> Tensor {
    let op = "cross_entropy"
    guard labelSmoothing >= 0, labelSmoothing <= 1 else {
        throw DFMError.invalid(op, "label_smoothing must be between 0.0 and 1.0. Got: \(labelSmoothing)")
    }
    // Class probabilities when the float target has the input's shape (torch's test); any other
    // target is class indices, so a float one of another shape is refused as not int64, as in torch.
    if target.dtype.isFloat && target.shape == input.shape {
        return try crossEntropyProbabilities(
            input, target, weight: weight, ignoreIndex: ignoreIndex, reduction: reduction,
            labelSmoothing: labelSmoothing)
    }
    let (c, s) = try checkClassTargets(input, target, weight: weight, ignoreIndex: ignoreIndex, op: op)
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let tp = target.i
        let count = target.count

        let xp = input.p(S.self)
        let wp = weight?.p(S.self)
        let eps = S(labelSmoothing)
        let cf = S(c)
        var wsum: S = 0  // Σ_c w[c], for the smoothing term's gradient
        for k in 0..<c { wsum += wp?[k] ?? 1 }
        let lse = try Tensor.uninitialized([count], dtype: S.dtype, op: op)
        let losses = try Tensor.uninitialized(target.shape, dtype: S.dtype, op: op)
        let lp = lse.p(S.self)
        let lo = losses.p(S.self)
        Parallel.chunks(count, costPerItem: c * 4) { r in
            for pos in r {
                let i = pos / s
                let sp = pos % s
                let row = xp + i * c * s + sp  // class k at row[k * s]
                var mx = -S.infinity
                for k in 0..<c { mx = max(mx, row[k * s]) }
                if mx == -.infinity || mx.isNaN { mx = 0 }
                var se: Double = 0
                for k in 0..<c { se += Double(S.exp(row[k * s] - mx)) }
                let l = mx + S(Foundation.log(se))
                lp[pos] = l
                let t = Int(tp[pos])
                if t == ignoreIndex {
                    lo[pos] = 0
                    continue
                }
                var loss = (1 - eps) * -(wp?[t] ?? 1) * (row[t * s] - l)
                if eps > 0 {
                    var smooth: Double = 0
                    for k in 0..<c { smooth -= Double((wp?[k] ?? 1) * (row[k * s] - l)) }
                    loss += eps / cf * S(smooth)
                }
                lo[pos] = loss
            }
        }
        // Mean denominator: Σ w[target] over non-ignored elements.
        var denom: Double = 0
        for k in 0..<count where Int(tp[k]) != ignoreIndex { denom += Double(wp?[Int(tp[k])] ?? 1) }
        let out = reduceLoss(losses, reduction, denominator: denom)

        return record(op, out, [input]) { g in
            // Pointers from the captured tensors, which the closure keeps alive.
            let xp = input.p(S.self)
            let tp = target.i
            let lp = lse.p(S.self)
            let wp = weight?.p(S.self)
            let (gp, scalar) = upstream(g, reduction, denominator: denom, S.self)
            let gi = try Tensor.uninitialized(input.shape, dtype: S.dtype, op: "cross_entropy_backward")
            let dp = gi.p(S.self)
            Parallel.chunks(count, costPerItem: c * 3) { r in
                for pos in r {
                    let i = pos / s
                    let sp = pos % s
                    let row = xp + i * c * s + sp
                    let drow = dp + i * c * s + sp
                    let t = Int(tp[pos])
                    if t == ignoreIndex {
                        for k in 0..<c { drow[k * s] = 0 }
                        continue
                    }
                    let up = scalar ?? gp[pos]
                    // a = dloss/dlogp; dloss/dz_k = a_k - softmax_k · Σa.
                    let wt = wp?[t] ?? 1
                    let total = (1 - eps) * wt + eps / cf * wsum
                    let l = lp[pos]
                    for k in 0..<c {
                        let p = S.exp(row[k * s] - l)
                        var a = -eps / cf * (wp?[k] ?? 1)
                        if k == t { a -= (1 - eps) * wt }
                        drow[k * s] = up * (a + p * total)
                    }
                }
            }
            return [gi]
        }
    }
    return try input.dtype == .float64 ? run(Double.self) : run(Float.self)

}

/// Checks a class-index loss's arguments: float32 `input` (N, C, d1, ...), (N, C) or
/// unbatched (C); int64 `target` (N, d1, ...), (N) or 0-d with entries in [0, C) or equal to
/// `ignoreIndex`; `weight` float32 (C). Returns C and S, the size of the trailing dims
/// (input is seen as N × C × S).
private func checkClassTargets(
    _ input: Tensor, _ target: Tensor, weight: Tensor?, ignoreIndex: Int,
    op: String
) throws -> (c: Int, s: Int) {
    try EW.checkFloat(input, op)
    guard target.dtype == .int64 else {
        throw DFMError.type(op, "expected target of dtype int64 (class indices), got \(target.dtype)")
    }
    guard input.ndim >= 1 else {
        throw DFMError.shape(op, "input must have at least 1 dimension (C), got a 0-d tensor")
    }
    let unbatched = input.ndim == 1
    let n = unbatched ? 1 : input.shape[0]
    let c = unbatched ? input.shape[0] : input.shape[1]
    let s = unbatched ? 1 : input.shape.dropFirst(2).reduce(1, *)
    let expectedTarget = unbatched ? [] : [n] + Array(input.shape.dropFirst(2))
    guard target.shape == expectedTarget else {
        if input.ndim == 2 && target.ndim == 1 {
            throw DFMError.shape(
                op, "Expected input batch_size (\(n)) to match target batch_size (\(target.shape[0])).")
        }
        throw DFMError.shape(
            op,
            "target shape \(target.shape) does not match input shape \(input.shape) (expected target shape \(expectedTarget))"
        )
    }
    guard c > 0 else { throw DFMError.shape(op, "input has 0 classes (shape \(input.shape))") }
    if let weight {
        guard weight.dtype == input.dtype else {
            throw DFMError.type(op, "weight must be \(input.dtype) like the input, got \(weight.dtype)")
        }
        guard weight.shape == [c] else {
            throw DFMError.shape(
                op,
                "weight tensor should be defined either for all \(c) classes or no classes but got weight tensor of shape: \(weight.shape)"
            )
        }
    }
    let tp = target.i
    for k in 0..<target.count {
        let t = tp[k]
        if t != Int64(ignoreIndex) && (t < 0 || t >= Int64(c)) {
            throw DFMError.index(op, "Target \(t) is out of bounds (number of classes \(c))")
        }
    }
    return (c, s)
}

// MARK: nll_loss

/// torch.nn.functional.nll_loss: `input` holds log-probabilities (N, C, d1, ...), (N, C) or
/// (C); per element loss = -w[t]·input[t], zero where t == ignoreIndex; the mean divides by
/// Σ w[t] over non-ignored elements, as in torch.
public func nllLoss(
    _ input: Tensor, _ target: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
    reduction: Reduction = .mean
) throws -> Tensor {
    let op = "nll_loss"
    let (c, s) = try checkClassTargets(input, target, weight: weight, ignoreIndex: ignoreIndex, op: op)
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let count = target.count
        let losses = try Tensor.uninitialized(target.shape, dtype: S.dtype, op: op)
        let xp = input.p(S.self)
        let tp = target.i
        let wp = weight?.p(S.self)
        let lo = losses.p(S.self)
        var denom: Double = 0
        for pos in 0..<count {
            let t = Int(tp[pos])
            if t == ignoreIndex {
                lo[pos] = 0
                continue
            }
            let w = wp?[t] ?? 1
            lo[pos] = -w * xp[(pos / s) * c * s + t * s + pos % s]
            denom += Double(w)
        }
        let out = reduceLoss(losses, reduction, denominator: denom)
        return record(op, out, [input]) { g in
            let tp = target.i
            let wp = weight?.p(S.self)
            let (gp, scalar) = upstream(g, reduction, denominator: denom, S.self)
            let gi = try Tensor.zeros(input.shape, dtype: S.dtype)
            let dp = gi.p(S.self)
            for pos in 0..<count {
                let t = Int(tp[pos])
                if t == ignoreIndex { continue }
                dp[(pos / s) * c * s + t * s + pos % s] = -(wp?[t] ?? 1) * (scalar ?? gp[pos])
            }
            return [gi]
        }
    }
    return try input.dtype == .float64 ? run(Double.self) : run(Float.self)

}

// MARK: mse_loss

/// torch.nn.functional.mse_loss: (input - target)², reduced. Shapes broadcast like torch.
public func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
    let op = "mse_loss"
    try EW.checkFloat(input, op)
    try EW.checkFloat(target, op)
    try EW.sameFloat(input, target, op)
    if input.shape != target.shape {
        let shape = try Shape.broadcast(input.shape, target.shape, op: op)
        return try mseLoss(try expand(input, to: shape), try expand(target, to: shape), reduction: reduction)
    }
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let l = try EW.zip(input, target, op: op) { ($0 - $1) * ($0 - $1) }
        let denom = Double(input.count)
        let out = reduceLoss(l, reduction, denominator: denom)
        return record(op, out, [input, target]) { g in
            let (gp, scalar) = upstream(g, reduction, denominator: denom, S.self)
            let d = try Tensor.uninitialized(input.shape, dtype: S.dtype, op: "mse_loss_backward")
            let xp = input.p(S.self)
            let tp = target.p(S.self)
            let dp = d.p(S.self)
            Parallel.chunks(input.count) { r in
                if let sc = scalar {
                    for k in r { dp[k] = 2 * (xp[k] - tp[k]) * sc }
                } else {
                    for k in r { dp[k] = 2 * (xp[k] - tp[k]) * gp[k] }
                }
            }
            return [input.requiresGrad ? d : nil, target.requiresGrad ? try neg(d) : nil]
        }
    }
    return try input.dtype == .float64 ? run(Double.self) : run(Float.self)

}

// MARK: binary_cross_entropy_with_logits

/// torch.nn.functional.binary_cross_entropy_with_logits in its stable form:
/// loss = (1 - t)·x + lw·softplus(-x), lw = 1 + (pos_weight - 1)·t, times `weight`.
/// `weight` broadcasts to the input; `posWeight` broadcasts along the trailing (class) dims.
public func binaryCrossEntropyWithLogits(
    _ input: Tensor, _ target: Tensor, weight: Tensor? = nil, posWeight: Tensor? = nil,
    reduction: Reduction = .mean
) throws -> Tensor {
    let op = "binary_cross_entropy_with_logits"
    try EW.checkFloat(input, op)
    try EW.checkFloat(target, op)
    try EW.sameFloat(input, target, op)
    guard target.shape == input.shape else {
        throw DFMError.shape(op, "Target size (\(target.shape)) must be the same as input size (\(input.shape))")
    }
    // Materialise weight and pos_weight at the input's shape (constants: no gradient).
    func broadcastParam(_ t: Tensor?, _ name: String) throws -> Tensor? {
        guard let t else { return nil }
        try EW.sameFloat(t, input, op)
        let shape = try Shape.broadcast(t.shape, input.shape, op: op)
        guard shape == input.shape else {
            throw DFMError.shape(
                op, "\(name) of shape \(t.shape) cannot be broadcast to the input shape \(input.shape)")
        }
        return t.shape == input.shape ? t : try EW.expand(t, to: input.shape)
    }
    let w = try broadcastParam(weight, "weight")
    let pw = try broadcastParam(posWeight, "pos_weight")
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let xp = input.p(S.self)
        let tp = target.p(S.self)
        let wp = w?.p(S.self)
        let pwp = pw?.p(S.self)
        let l = try Tensor.uninitialized(input.shape, dtype: S.dtype, op: op)
        let lp = l.p(S.self)
        Parallel.chunks(input.count, costPerItem: 8) { r in
            for k in r {
                let x = xp[k]
                let t = tp[k]
                // softplus(-x) = max(-x, 0) + log1p(exp(-|x|)), stable for any x.
                let sp = max(-x, 0) + S.log1p(S.exp(-Swift.abs(x)))
                let lw = pwp.map { 1 + ($0[k] - 1) * t } ?? 1
                lp[k] = ((1 - t) * x + lw * sp) * (wp?[k] ?? 1)
            }
        }
        let denom = Double(input.count)
        let out = reduceLoss(l, reduction, denominator: denom)
        return record(op, out, [input, target]) { g in
            let xp = input.p(S.self)
            let tp = target.p(S.self)
            let wp = w?.p(S.self)
            let pwp = pw?.p(S.self)
            let (gp, scalar) = upstream(g, reduction, denominator: denom, S.self)
            let gx =
                input.requiresGrad
                ? try Tensor.uninitialized(input.shape, dtype: S.dtype, op: "binary_cross_entropy_with_logits_backward")
                : nil
            let gt =
                target.requiresGrad
                ? try Tensor.uninitialized(input.shape, dtype: S.dtype, op: "binary_cross_entropy_with_logits_backward")
                : nil
            let gxp = gx?.p(S.self)
            let gtp = gt?.p(S.self)
            Parallel.chunks(input.count, costPerItem: 8) { r in
                for k in r {
                    let x = xp[k]
                    let t = tp[k]
                    let up = (scalar ?? gp[k]) * (wp?[k] ?? 1)
                    let sigNeg = 1 / (1 + S.exp(x))  // σ(-x)
                    let pwk = pwp?[k] ?? 1
                    // d/dx = (1 - t) - lw·σ(-x);  d/dt = -x + (pos_weight - 1)·softplus(-x).
                    gxp?[k] = up * ((1 - t) - (1 + (pwk - 1) * t) * sigNeg)
                    if let gtp {
                        let sp = max(-x, 0) + S.log1p(S.exp(-Swift.abs(x)))
                        gtp[k] = up * (-x + (pwk - 1) * sp)
                    }
                }
            }
            return [gx, gt]
        }
    }
    return try input.dtype == .float64 ? run(Double.self) : run(Float.self)

}
