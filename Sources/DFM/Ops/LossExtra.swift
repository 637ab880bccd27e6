import Foundation

// The rest of torch.nn's losses. Elementwise ones are a `PointwiseLoss` rule (value and
// its two partial derivatives) run by one shared kernel; the rest have their own fused
// kernels with analytic backward rules, or are exact compositions of differentiable ops.

/// An elementwise loss l(x, t) and its partial derivatives (one place for each rule).
protocol PointwiseLoss {
    func value<S: Real>(_ x: S, _ t: S) -> S
    func derivative<S: Real>(_ x: S, _ t: S) -> (dx: S, dt: S)
}

/// Broadcasts input and target to one shape (torch does, with a warning) through the
/// differentiable `expand`, so gradients reduce back to each original shape.
private func broadcastPair(_ a: Tensor, _ b: Tensor, op: String) throws -> (Tensor, Tensor) {
    guard a.shape != b.shape else { return (a, b) }
    let shape = try Shape.broadcast(a.shape, b.shape, op: op)
    return (a.shape == shape ? a : try expand(a, to: shape), b.shape == shape ? b : try expand(b, to: shape))
}

/// Runs a pointwise rule over input and target (float, one dtype, broadcast), reduced.
func pointwiseLoss<R: PointwiseLoss>(
    _ op: String, _ input: Tensor, _ target: Tensor, reduction: Reduction,
    _ rule: R
) throws -> Tensor {
    try EW.sameFloat(input, target, op)
    let (x, t) = try broadcastPair(input, target, op: op)
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let n = x.count
        let l = try Tensor.uninitialized(x.shape, dtype: S.dtype, op: op)
        let xp = x.p(S.self)
        let tp = t.p(S.self)
        let lp = l.p(S.self)
        Parallel.chunks(n, costPerItem: 8) { r in for k in r { lp[k] = rule.value(xp[k], tp[k]) } }
        let denom = Double(n)
        return record(op, reduceLoss(l, reduction, denominator: denom), [x, t]) { g in
            let xp = x.p(S.self)
            let tp = t.p(S.self)
            let (gp, scalar) = upstream(g, reduction, denominator: denom, S.self)
            let gx = x.requiresGrad ? try Tensor.uninitialized(x.shape, dtype: S.dtype, op: op + "_backward") : nil
            let gt = t.requiresGrad ? try Tensor.uninitialized(x.shape, dtype: S.dtype, op: op + "_backward") : nil
            let gxp = gx?.p(S.self)
            let gtp = gt?.p(S.self)
            Parallel.chunks(n, costPerItem: 8) { r in
                for k in r {
                    let up = scalar ?? gp[k]
                    let d = rule.derivative(xp[k], tp[k])
                    gxp?[k] = d.dx * up
                    gtp?[k] = d.dt * up
                }
            }
            return [gx, gt]
        }
    }
    return try x.dtype == .float64 ? run(Double.self) : run(Float.self)
}

/// An elementwise loss of three tensors (margin ranking, Gaussian NLL) and its partials.
protocol PointwiseLoss3 {
    func value<S: Real>(_ a: S, _ b: S, _ c: S) -> S
    func derivative<S: Real>(_ a: S, _ b: S, _ c: S) -> (S, S, S)
}

func pointwiseLoss3<R: PointwiseLoss3>(
    _ op: String, _ a0: Tensor, _ b0: Tensor, _ c0: Tensor, reduction: Reduction,
    _ rule: R
) throws -> Tensor {
    try EW.sameFloat(a0, b0, op)
    try EW.sameFloat(a0, c0, op)
    let shape = try Shape.broadcast(try Shape.broadcast(a0.shape, b0.shape, op: op), c0.shape, op: op)
    let a = a0.shape == shape ? a0 : try expand(a0, to: shape)
    let b = b0.shape == shape ? b0 : try expand(b0, to: shape)
    let c = c0.shape == shape ? c0 : try expand(c0, to: shape)
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let n = a.count
        let l = try Tensor.uninitialized(shape, dtype: S.dtype, op: op)
        let ap = a.p(S.self)
        let bp = b.p(S.self)
        let cp = c.p(S.self)
        let lp = l.p(S.self)
        Parallel.chunks(n, costPerItem: 8) { r in for k in r { lp[k] = rule.value(ap[k], bp[k], cp[k]) } }
        let denom = Double(n)
        return record(op, reduceLoss(l, reduction, denominator: denom), [a, b, c]) { g in
            let ap = a.p(S.self)
            let bp = b.p(S.self)
            let cp = c.p(S.self)
            let (gp, scalar) = upstream(g, reduction, denominator: denom, S.self)
            func buf(_ t: Tensor) throws -> Tensor? {
                t.requiresGrad ? try Tensor.uninitialized(shape, dtype: S.dtype, op: op + "_backward") : nil
            }
            let ga = try buf(a)
            let gb = try buf(b)
            let gc = try buf(c)
            let gap = ga?.p(S.self)
            let gbp = gb?.p(S.self)
            let gcp = gc?.p(S.self)
            Parallel.chunks(n, costPerItem: 8) { r in
                for k in r {
                    let up = scalar ?? gp[k]
                    let (da, db, dc) = rule.derivative(ap[k], bp[k], cp[k])
                    gap?[k] = da * up
                    gbp?[k] = db * up
                    gcp?[k] = dc * up
                }
            }
            return [ga, gb, gc]
        }
    }
    return try a.dtype == .float64 ? run(Double.self) : run(Float.self)
}

@inline(__always) private func signum<S: Real>(_ v: S) -> S { v > 0 ? 1 : (v < 0 ? -1 : v) }  // NaN stays NaN

/// log σ(x) = -softplus(-x), stable for any x.
@inline(__always) private func logSigmoid<S: Real>(_ x: S) -> S { -(Swift.max(-x, 0) + S.log1p(S.exp(-Swift.abs(x)))) }

@inline(__always) private func sigmoidS<S: Real>(_ x: S) -> S { 1 / (1 + S.exp(-x)) }

// MARK: L1, smooth L1, Huber, soft margin

struct L1Rule: PointwiseLoss {
    func value<S: Real>(_ x: S, _ t: S) -> S { Swift.abs(x - t) }
    func derivative<S: Real>(_ x: S, _ t: S) -> (dx: S, dt: S) {
        let s = signum(x - t)
        return (s, -s)
    }
}

/// torch: z = |x - t|; z < β ? 0.5·z²/β : z - 0.5·β. Gradient (x - t)/β inside, ±1 outside.
struct SmoothL1Rule: PointwiseLoss {
    let beta: Double
    func value<S: Real>(_ x: S, _ t: S) -> S {
        let z = Swift.abs(x - t)
        let b = S(beta)
        return z < b ? 0.5 * z * z / b : z - 0.5 * b
    }
    func derivative<S: Real>(_ x: S, _ t: S) -> (dx: S, dt: S) {
        let d = x - t
        let b = S(beta)
        let g = d <= -b ? -1 : (d >= b ? 1 : d / b)
        return (g, -g)
    }
}

/// torch: z = |x - t|; z < δ ? 0.5·z² : δ·(z - 0.5·δ). Gradient x - t inside, ±δ outside.
struct HuberRule: PointwiseLoss {
    let delta: Double
    func value<S: Real>(_ x: S, _ t: S) -> S {
        let z = Swift.abs(x - t)
        let dl = S(delta)
        return z < dl ? 0.5 * z * z : dl * (z - 0.5 * dl)
    }
    func derivative<S: Real>(_ x: S, _ t: S) -> (dx: S, dt: S) {
        let d = x - t
        let dl = S(delta)
        let g = d < -dl ? -dl : (d > dl ? dl : d)
        return (g, -g)
    }
}

/// log(1 + exp(-t·x)); d/dx = -t·σ(-t·x), d/dt = -x·σ(-t·x).
struct SoftMarginRule: PointwiseLoss {
    func value<S: Real>(_ x: S, _ t: S) -> S { S.log1p(S.exp(-t * x)) }
    func derivative<S: Real>(_ x: S, _ t: S) -> (dx: S, dt: S) {
        let s = sigmoidS(-t * x)
        return (-t * s, -x * s)
    }
}

public func l1Loss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
    try pointwiseLoss("l1_loss", input, target, reduction: reduction, L1Rule())
}

/// torch.nn.functional.smooth_l1_loss (beta 0 is the L1 loss, as in torch).
public func smoothL1Loss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean, beta: Double = 1) throws
    -> Tensor
{
    guard beta >= 0, beta.isFinite else {
        throw DFMError.invalid("smooth_l1_loss", "beta must be finite and >= 0, got \(beta)")
    }
    if beta == 0 { return try l1Loss(input, target, reduction: reduction) }
    return try pointwiseLoss("smooth_l1_loss", input, target, reduction: reduction, SmoothL1Rule(beta: beta))
}

public func huberLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean, delta: Double = 1) throws
    -> Tensor
{
    guard delta > 0, delta.isFinite else {
        throw DFMError.invalid("huber_loss", "huber_loss does not support non-positive values for delta, got \(delta)")
    }
    return try pointwiseLoss("huber_loss", input, target, reduction: reduction, HuberRule(delta: delta))
}

public func softMarginLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
    try pointwiseLoss("soft_margin_loss", input, target, reduction: reduction, SoftMarginRule())
}

// MARK: binary cross entropy, KL divergence, Poisson NLL, hinge embedding

/// -(t·log x + (1 - t)·log(1 - x)), each log clamped at -100 as torch does; torch's backward
/// divides by max((1 - x)·x, 1e-12).
struct BCERule: PointwiseLoss {
    func value<S: Real>(_ x: S, _ t: S) -> S {
        let lx = Swift.max(S.log(x), -100)
        let l1x = Swift.max(S.log(1 - x), -100)
        return (t - 1) * l1x - t * lx
    }
    func derivative<S: Real>(_ x: S, _ t: S) -> (dx: S, dt: S) {
        let lx = Swift.max(S.log(x), -100)
        let l1x = Swift.max(S.log(1 - x), -100)
        return ((x - t) / Swift.max((1 - x) * x, S(1e-12)), l1x - lx)
    }
}

/// Weighted elementwise losses: `weight` (broadcast to the loss) multiplies before the reduction.
private func weighted(_ l: Tensor, _ weight: Tensor?, _ reduction: Reduction, op: String) throws -> Tensor {
    guard let weight else {
        switch reduction {
        case .none: return l
        case .sum: return try sum(l)
        case .mean: return try mean(l)
        }
    }
    try EW.sameFloat(l, weight, op)
    guard try Shape.broadcast(weight.shape, l.shape, op: op) == l.shape else {
        throw DFMError.shape(op, "weight of shape \(weight.shape) cannot be broadcast to the input shape \(l.shape)")
    }
    let wl = try mul(l, weight)
    switch reduction {
    case .none: return wl
    case .sum: return try sum(wl)
    case .mean: return try mean(wl)
    }
}

/// torch.nn.functional.binary_cross_entropy: `input` holds probabilities in [0, 1].
public func binaryCrossEntropy(
    _ input: Tensor, _ target: Tensor, weight: Tensor? = nil,
    reduction: Reduction = .mean
) throws -> Tensor {
    let op = "binary_cross_entropy"
    try EW.sameFloat(input, target, op)
    guard target.shape == input.shape else {
        throw DFMError.shape(
            op,
            "Using a target size (\(target.shape)) that is different to the input size (\(input.shape)) is deprecated. Please ensure they have the same size."
        )
    }
    let bad = try withReal(
        input, op: op, { (0..<input.count).contains { !(input.f[$0] >= 0 && input.f[$0] <= 1) } },
        { (0..<input.count).contains { !(input.d[$0] >= 0 && input.d[$0] <= 1) } })
    guard !bad else { throw DFMError.invalid(op, "all elements of input should be between 0 and 1") }
    if weight == nil { return try pointwiseLoss(op, input, target, reduction: reduction, BCERule()) }
    return try weighted(try pointwiseLoss(op, input, target, reduction: .none, BCERule()), weight, reduction, op: op)
}

/// KL(target ‖ input) with `input` log-probabilities: t·(log t - x) (0 where t = 0), or
/// with `logTarget` exp(t)·(t - x).
struct KLDivRule: PointwiseLoss {
    let logTarget: Bool
    func value<S: Real>(_ x: S, _ t: S) -> S {
        if logTarget { return S.exp(t) * (t - x) }
        let xlogy: S = t == 0 ? 0 : t * S.log(t)  // torch's xlogy(t, t); NaN stays NaN
        return xlogy - t * x
    }
    func derivative<S: Real>(_ x: S, _ t: S) -> (dx: S, dt: S) {
        if logTarget {
            let e = S.exp(t)
            return (-e, e * (t - x + 1))
        }
        return (-t, S.log(t) + 1 - x)
    }
}

/// torch.nn.functional.kl_div; reduction "none", "sum", "mean" (over every element) or
/// "batchmean" (the sum over the batch size, input.shape[0]).
public func klDiv(_ input: Tensor, _ target: Tensor, reduction: String = "mean", logTarget: Bool = false) throws
    -> Tensor
{
    let op = "kl_div"
    guard ["none", "sum", "mean", "batchmean"].contains(reduction) else {
        throw DFMError.invalid(
            op, "\(reduction) is not a valid value for reduction (expected 'none', 'mean', 'batchmean' or 'sum')")
    }
    let rule = KLDivRule(logTarget: logTarget)
    if reduction != "batchmean" {
        return try pointwiseLoss(op, input, target, reduction: try Reduction(reduction), rule)
    }
    let total = try pointwiseLoss(op, input, target, reduction: .sum, rule)
    return input.ndim == 0 ? total : try div(total, Double(input.shape[0]))
}

/// log_input: exp(x) - t·x, else x - t·log(x + eps); full adds Stirling's
/// t·log t - t + 0.5·log(2πt) where t > 1.
struct PoissonNLLRule: PointwiseLoss {
    let logInput: Bool, full: Bool, eps: Double
    func value<S: Real>(_ x: S, _ t: S) -> S {
        var l = logInput ? S.exp(x) - t * x : x - t * S.log(x + S(eps))
        if full && t > 1 { l += t * S.log(t) - t + 0.5 * S.log(2 * S.pi * t) }
        return l
    }
    func derivative<S: Real>(_ x: S, _ t: S) -> (dx: S, dt: S) {
        var d = logInput ? (S.exp(x) - t, -x) : (1 - t / (x + S(eps)), -S.log(x + S(eps)))
        if full && t > 1 { d.1 += S.log(t) + 0.5 / t }
        return d
    }
}

public func poissonNLLLoss(
    _ input: Tensor, _ target: Tensor, logInput: Bool = true, full: Bool = false, eps: Double = 1e-8,
    reduction: Reduction = .mean
) throws -> Tensor {
    guard eps.isFinite else { throw DFMError.invalid("poisson_nll_loss", "eps must be finite, got \(eps)") }
    return try pointwiseLoss(
        "poisson_nll_loss", input, target, reduction: reduction,
        PoissonNLLRule(logInput: logInput, full: full, eps: eps))
}

/// torch: (t ≠ 1 ? max(0, margin - x) : 0) + (t ≠ -1 ? x : 0); the target gets no gradient
/// (it only selects), and the clamp passes the gradient at margin - x = 0, as torch's does.
struct HingeEmbeddingRule: PointwiseLoss {
    let margin: Double
    func value<S: Real>(_ x: S, _ t: S) -> S {
        (t != 1 ? Swift.max(S(margin) - x, 0) : 0) + (t != -1 ? x : 0)
    }
    func derivative<S: Real>(_ x: S, _ t: S) -> (dx: S, dt: S) {
        ((t != 1 && S(margin) - x >= 0 ? -1 : 0) + (t != -1 ? 1 : 0), 0)
    }
}

public func hingeEmbeddingLoss(_ input: Tensor, _ target: Tensor, margin: Double = 1, reduction: Reduction = .mean)
    throws -> Tensor
{
    guard margin.isFinite else {
        throw DFMError.invalid("hinge_embedding_loss", "margin must be finite, got \(margin)")
    }
    return try pointwiseLoss(
        "hinge_embedding_loss", input, target, reduction: reduction, HingeEmbeddingRule(margin: margin))
}

/// -(t·log σ(x) + (1 - t)·log σ(-x)); d/dx = σ(x) - t, d/dt = -x.
struct MultiLabelSoftMarginRule: PointwiseLoss {
    func value<S: Real>(_ x: S, _ t: S) -> S { -(t * logSigmoid(x) + (1 - t) * logSigmoid(-x)) }
    func derivative<S: Real>(_ x: S, _ t: S) -> (dx: S, dt: S) { (sigmoidS(x) - t, -x) }
}

/// torch.nn.functional.multilabel_soft_margin_loss: the elementwise loss (times `weight`)
/// averaged over the last (class) dimension, then reduced over the batch.
public func multilabelSoftMarginLoss(
    _ input: Tensor, _ target: Tensor, weight: Tensor? = nil,
    reduction: Reduction = .mean
) throws -> Tensor {
    let op = "multilabel_soft_margin_loss"
    guard input.ndim >= 1 else { throw DFMError.shape(op, "input must have at least 1 dimension, got a 0-d tensor") }
    guard target.shape == input.shape else {
        throw DFMError.shape(op, "target shape \(target.shape) must match input shape \(input.shape)")
    }
    let l = try pointwiseLoss(op, input, target, reduction: .none, MultiLabelSoftMarginRule())
    let wl = try weighted(l, weight, .none, op: op)
    let perSample = try div(try sum(wl, dims: [input.ndim - 1]), Double(input.shape[input.ndim - 1]))
    switch reduction {
    case .none: return perSample
    case .sum: return try sum(perSample)
    case .mean: return try mean(perSample)
    }
}

// MARK: margin ranking, Gaussian NLL

/// max(0, -y·(x1 - x2) + margin); the clamp passes the gradient at 0, as torch's clamp_min.
struct MarginRankingRule: PointwiseLoss3 {
    let margin: Double
    func value<S: Real>(_ a: S, _ b: S, _ y: S) -> S { Swift.max(-y * (a - b) + S(margin), 0) }
    func derivative<S: Real>(_ a: S, _ b: S, _ y: S) -> (S, S, S) {
        guard -y * (a - b) + S(margin) >= 0 else { return (0, 0, 0) }
        return (-y, y, -(a - b))
    }
}

public func marginRankingLoss(
    _ input1: Tensor, _ input2: Tensor, _ target: Tensor, margin: Double = 0,
    reduction: Reduction = .mean
) throws -> Tensor {
    let op = "margin_ranking_loss"
    guard input1.ndim == input2.ndim, input1.ndim == target.ndim else {
        throw DFMError.shape(
            op,
            "All input tensors should have same dimension but got sizes: input1: \(input1.shape), input2: \(input2.shape), target: \(target.shape)"
        )
    }
    guard margin.isFinite else { throw DFMError.invalid(op, "margin must be finite, got \(margin)") }
    return try pointwiseLoss3(op, input1, input2, target, reduction: reduction, MarginRankingRule(margin: margin))
}

/// 0.5·(log v + (x - t)²/v) (+ 0.5·log 2π when full), v = max(var, eps). The clamp is
/// outside autograd in torch, so var's gradient is the unclamped formula's at v.
struct GaussianNLLRule: PointwiseLoss3 {
    let full: Bool, eps: Double
    func value<S: Real>(_ x: S, _ t: S, _ v0: S) -> S {
        let v = Swift.max(v0, S(eps))
        let d = x - t
        var l = 0.5 * (S.log(v) + d * d / v)
        if full { l += S(0.5 * Foundation.log(2 * Double.pi)) }
        return l
    }
    func derivative<S: Real>(_ x: S, _ t: S, _ v0: S) -> (S, S, S) {
        let v = Swift.max(v0, S(eps))
        let d = x - t
        return (d / v, -d / v, 0.5 * (1 / v - d * d / (v * v)))
    }
}

public func gaussianNLLLoss(
    _ input: Tensor, _ target: Tensor, _ variance: Tensor, full: Bool = false, eps: Double = 1e-6,
    reduction: Reduction = .mean
) throws -> Tensor {
    let op = "gaussian_nll_loss"
    try EW.sameFloat(input, variance, op)
    guard eps >= 0, eps.isFinite else { throw DFMError.invalid(op, "eps must be finite and >= 0, got \(eps)") }
    var v = variance
    if v.shape != input.shape {
        if Array(input.shape.dropLast()) == v.shape && input.ndim >= 1 {
            v = try reshape(v, v.shape + [1])  // homoscedastic: one variance per sample
        } else if input.ndim == v.ndim
            && zip(input.shape, v.shape).filter({ $0.0 != $0.1 }).map({ $0.1 }).reduce(0, +) == 1
        {
            // one dimension of size 1 broadcasts (torch's test: the mismatched sizes of var sum to 1)
        } else {
            throw DFMError.shape(op, "var is of incorrect size (var \(variance.shape), input \(input.shape))")
        }
    }
    let negative = try withReal(
        v, op: op, { (0..<v.count).contains { v.f[$0] < 0 } }, { (0..<v.count).contains { v.d[$0] < 0 } })
    guard !negative else { throw DFMError.invalid(op, "var has negative entry/entries") }
    return try pointwiseLoss3(op, input, target, v, reduction: reduction, GaussianNLLRule(full: full, eps: eps))
}
