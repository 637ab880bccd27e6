import Foundation

/// torch.optim.RAdam with torch's single-tensor arithmetic:
///   g = grad (negated when maximize); decoupled: p *= 1 - lr·wd   else g = g + wd·p
///   m = lerp(m, g, 1 - β1);  v = β2·v + (1 - β2)·g·g
///   m̂ = m / (1 - β1^t);  ρ∞ = 2/(1 - β2) - 1;  ρ_t = ρ∞ - 2t·β2^t / (1 - β2^t)
///   ρ_t > 5: p = p - m̂·lr·(1/(sqrt(v) + eps))·sqrt(1 - β2^t)·r_t,
///            r_t = sqrt((ρ_t - 4)(ρ_t - 2)ρ∞ / ((ρ∞ - 4)(ρ∞ - 2)ρ_t))
///   else:    p = p - m̂·lr
/// (torch evaluates `c / x` on a tensor as reciprocal(x)·c; so does this.)
public final class RAdam: Optimizer {
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
    public var decoupledWeightDecay: Bool
    public var maximize: Bool

    public init(
        _ params: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
        weightDecay: Double = 0, decoupledWeightDecay: Bool = false, maximize: Bool = false
    ) throws {
        try checkBetas(betas.0, betas.1, eps, op: "RAdam")
        (beta1, beta2, self.eps, self.decoupledWeightDecay, self.maximize) = (
            betas.0, betas.1, eps, decoupledWeightDecay, maximize
        )
        try super.init(params, lr: lr, weightDecay: weightDecay)
    }

    public override var stateNames: [String] { ["step", "exp_avg", "exp_avg_sq"] }

    public override var hyperparameters: [String: String] {
        [
            "beta1": fmtDouble(beta1), "beta2": fmtDouble(beta2), "eps": fmtDouble(eps),
            "decoupled_weight_decay": fmtBool(decoupledWeightDecay), "maximize": fmtBool(maximize),
        ]
    }

    public override func setHyperparameters(_ h: [String: String]) throws {
        let op = "RAdam.load_state_dict"
        let b1 = try parseDouble(h, "beta1", op: op)
        let b2 = try parseDouble(h, "beta2", op: op)
        let e = try parseDouble(h, "eps", op: op)
        try checkBetas(b1, b2, e, op: op)
        (beta1, beta2, eps) = (b1, b2, e)
        (decoupledWeightDecay, maximize) = (h["decoupled_weight_decay"] == "1", h["maximize"] == "1")
    }

    public override func update(_ p: Tensor, grad: Tensor, group: ParamGroup, state: inout [String: Tensor]) throws {
        let step = advanceStep(&state)
        let m = try buffer(&state, "exp_avg", like: p)
        let v = try buffer(&state, "exp_avg_sq", like: p)
        let lr = group.lr
        let wdD = group.weightDecay
        let bc1 = 1 - Foundation.pow(beta1, step)
        let bc2 = 1 - Foundation.pow(beta2, step)
        let rhoInf = 2 / (1 - beta2) - 1
        let rhoT = rhoInf - 2 * step * Foundation.pow(beta2, step) / bc2
        let rectified = rhoT > 5.0
        let rect =
            rectified ? Foundation.pow((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT), 0.5) : 0
        func run<S: Real>(_: S.Type) {
            let pp = p.p(S.self)
            let gp = grad.p(S.self)
            let mp = m.p(S.self)
            let vp = v.p(S.self)
            let w = S(1 - beta1)
            let b2 = S(beta2)
            let keep = S(1 - beta2)
            let e = S(eps)
            let bc1S = S(bc1)
            let lrS = S(lr)
            let sqrtBc2 = S(Foundation.pow(bc2, 0.5))
            let rectS = S(rect)
            let wd = S(wdD)
            let decay = S(1 - lr * wdD)
            let hasWd = wdD != 0
            let decoupled = decoupledWeightDecay
            let maximize = self.maximize
            Parallel.chunks(p.count, costPerItem: 14) { range in
                for k in range {
                    var g = maximize ? -gp[k] : gp[k]
                    var pk = pp[k]
                    if hasWd {
                        if decoupled { pk = pk * decay } else { g = g.addingProduct(pk, wd) }
                    }
                    let mk = torchLerp(mp[k], g, w)
                    mp[k] = mk
                    let vk = vp[k] * b2 + keep * g * g
                    vp[k] = vk
                    let mhat = mk / bc1S
                    if rectified {
                        let adaptive = 1 / (vk.squareRoot() + e) * sqrtBc2
                        pp[k] = pk - mhat * lrS * adaptive * rectS
                    } else {
                        pp[k] = pk - mhat * lrS
                    }
                }
            }
        }
        p.dtype == .float64 ? run(Double.self) : run(Float.self)
    }
}
