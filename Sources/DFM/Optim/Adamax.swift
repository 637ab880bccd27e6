import Foundation

/// torch.optim.Adamax with torch's single-tensor arithmetic, per element:
///   g = grad (negated when maximize) + wd·p
///   m = lerp(m, g, 1 - β1)
///   u = max(β2·u, |g| + eps)          (NaN propagates, as torch.maximum)
///   p = p - (lr / (1 - β1^step))·m / u
public final class Adamax: Optimizer {
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
    public var maximize: Bool

    public init(
        _ params: [Tensor], lr: Double = 2e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
        weightDecay: Double = 0, maximize: Bool = false
    ) throws {
        try checkBetas(betas.0, betas.1, eps, op: "Adamax")
        (beta1, beta2, self.eps, self.maximize) = (betas.0, betas.1, eps, maximize)
        try super.init(params, lr: lr, weightDecay: weightDecay)
    }

    public override var stateNames: [String] { ["step", "exp_avg", "exp_inf"] }

    public override var hyperparameters: [String: String] {
        ["beta1": fmtDouble(beta1), "beta2": fmtDouble(beta2), "eps": fmtDouble(eps), "maximize": fmtBool(maximize)]
    }

    public override func setHyperparameters(_ h: [String: String]) throws {
        let op = "Adamax.load_state_dict"
        let b1 = try parseDouble(h, "beta1", op: op)
        let b2 = try parseDouble(h, "beta2", op: op)
        let e = try parseDouble(h, "eps", op: op)
        try checkBetas(b1, b2, e, op: op)
        (beta1, beta2, eps, maximize) = (b1, b2, e, h["maximize"] == "1")
    }

    public override func update(_ p: Tensor, grad: Tensor, group: ParamGroup, state: inout [String: Tensor]) throws {
        let step = advanceStep(&state)
        let m = try buffer(&state, "exp_avg", like: p)
        let u = try buffer(&state, "exp_inf", like: p)
        let clr = group.lr / (1 - Foundation.pow(beta1, step))
        func run<S: Real>(_: S.Type) {
            let pp = p.p(S.self)
            let gp = grad.p(S.self)
            let mp = m.p(S.self)
            let up = u.p(S.self)
            let w = S(1 - beta1)
            let b2 = S(beta2)
            let e = S(eps)
            let negClr = S(-clr)
            let wd = S(group.weightDecay)
            let hasWd = group.weightDecay != 0
            let maximize = self.maximize
            Parallel.chunks(p.count, costPerItem: 10) { range in
                for k in range {
                    var g = maximize ? -gp[k] : gp[k]
                    if hasWd { g = g.addingProduct(pp[k], wd) }
                    let mk = torchLerp(mp[k], g, w)
                    mp[k] = mk
                    let uk = nanMax(up[k] * b2, Swift.abs(g) + e)
                    up[k] = uk
                    pp[k] = pp[k] + negClr * mk / uk
                }
            }
        }
        p.dtype == .float64 ? run(Double.self) : run(Float.self)
    }
}

/// The Adam family's checks, with torch's messages.
func checkBetas(_ b1: Double, _ b2: Double, _ eps: Double, op: String) throws {
    try requireHyper(eps >= 0 && eps.isFinite, op, "Invalid epsilon value: \(eps)")
    try requireHyper(b1 >= 0 && b1 < 1, op, "Invalid beta parameter at index 0: \(b1)")
    try requireHyper(b2 >= 0 && b2 < 1, op, "Invalid beta parameter at index 1: \(b2)")
}
