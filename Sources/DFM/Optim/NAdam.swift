import Foundation

/// torch.optim.NAdam with torch's single-tensor arithmetic:
///   μ_t = β1·(1 - 0.5·0.96^(t·ψ)), μ_{t+1} likewise; Πμ *= μ_t (a float32 scalar, as in torch)
///   g = grad (negated when maximize); decoupled: p *= 1 - lr·wd   else g = g + wd·p
///   m = lerp(m, g, 1 - β1);  v = β2·v + (1 - β2)·g·g
///   d = sqrt(v / (1 - β2^t)) + eps
///   p = p + (-lr·(1 - μ_t) / (1 - Πμ))·g / d + (-lr·μ_{t+1} / (1 - Πμ·μ_{t+1}))·m / d
public final class NAdam: Optimizer {
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
    public var momentumDecay: Double
    public var decoupledWeightDecay: Bool
    public var maximize: Bool

    public init(
        _ params: [Tensor], lr: Double = 2e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
        weightDecay: Double = 0, momentumDecay: Double = 4e-3, decoupledWeightDecay: Bool = false,
        maximize: Bool = false
    ) throws {
        try NAdam.check(betas.0, betas.1, eps, momentumDecay, op: "NAdam")
        (beta1, beta2, self.eps, self.momentumDecay) = (betas.0, betas.1, eps, momentumDecay)
        (self.decoupledWeightDecay, self.maximize) = (decoupledWeightDecay, maximize)
        try super.init(params, lr: lr, weightDecay: weightDecay)
    }

    private static func check(_ b1: Double, _ b2: Double, _ eps: Double, _ md: Double, op: String) throws {
        try checkBetas(b1, b2, eps, op: op)
        try requireHyper(md >= 0 && md.isFinite, op, "Invalid momentum_decay value: \(md)")
    }

    public override var stateNames: [String] { ["step", "mu_product", "exp_avg", "exp_avg_sq"] }
    public override var scalarStateNames: Set<String> { ["step", "mu_product"] }

    public override var hyperparameters: [String: String] {
        [
            "beta1": fmtDouble(beta1), "beta2": fmtDouble(beta2), "eps": fmtDouble(eps),
            "momentum_decay": fmtDouble(momentumDecay), "decoupled_weight_decay": fmtBool(decoupledWeightDecay),
            "maximize": fmtBool(maximize),
        ]
    }

    public override func setHyperparameters(_ h: [String: String]) throws {
        let op = "NAdam.load_state_dict"
        let b1 = try parseDouble(h, "beta1", op: op)
        let b2 = try parseDouble(h, "beta2", op: op)
        let e = try parseDouble(h, "eps", op: op)
        let md = try parseDouble(h, "momentum_decay", op: op)
        try NAdam.check(b1, b2, e, md, op: op)
        (beta1, beta2, eps, momentumDecay) = (b1, b2, e, md)
        (decoupledWeightDecay, maximize) = (h["decoupled_weight_decay"] == "1", h["maximize"] == "1")
    }

    public override func update(_ p: Tensor, grad: Tensor, group: ParamGroup, state: inout [String: Tensor]) throws {
        let step = advanceStep(&state)
        let muProduct = scalarState(&state, "mu_product", initial: 1)
        let m = try buffer(&state, "exp_avg", like: p)
        let v = try buffer(&state, "exp_avg_sq", like: p)
        let lr = group.lr
        let wdD = group.weightDecay
        let bc2 = 1 - Foundation.pow(beta2, step)
        let mu = beta1 * (1.0 - 0.5 * Foundation.pow(0.96, step * momentumDecay))
        let muNext = beta1 * (1.0 - 0.5 * Foundation.pow(0.96, (step + 1) * momentumDecay))
        muProduct.f[0] *= Float(mu)  // a float32 tensor times a Python float: float32 arithmetic
        let prod = Double(muProduct.f[0])
        let c1 = -lr * (1.0 - mu) / (1.0 - prod)
        let c2 = (-lr * muNext) / (1.0 - prod * muNext)
        func run<S: Real>(_: S.Type) {
            let pp = p.p(S.self)
            let gp = grad.p(S.self)
            let mp = m.p(S.self)
            let vp = v.p(S.self)
            let w = S(1 - beta1)
            let b2 = S(beta2)
            let keep = S(1 - beta2)
            let e = S(eps)
            let bc2S = S(bc2)
            let s1 = S(c1)
            let s2 = S(c2)
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
                    let d = (vk / bc2S).squareRoot() + e
                    pk = pk + s1 * g / d
                    pp[k] = pk + s2 * mk / d
                }
            }
        }
        p.dtype == .float64 ? run(Double.self) : run(Float.self)
    }
}
