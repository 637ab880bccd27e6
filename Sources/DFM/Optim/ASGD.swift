import Foundation

/// torch.optim.ASGD (averaged SGD) with torch's single-tensor arithmetic:
///   g = grad (negated when maximize) + wd·p
///   p = p·(1 - λ·η) - η·g
///   ax = ax + (p - ax)·μ   (ax = p while μ = 1)
///   η = lr / (1 + λ·lr·t)^α,  μ = 1 / max(1, t - t0)   (float32 scalars, as torch keeps them)
public final class ASGD: Optimizer {
    public var lambd: Double
    public var alpha: Double
    public var t0: Double
    public var maximize: Bool

    public init(
        _ params: [Tensor], lr: Double = 1e-2, lambd: Double = 1e-4, alpha: Double = 0.75, t0: Double = 1e6,
        weightDecay: Double = 0, maximize: Bool = false
    ) throws {
        try ASGD.check(lambd, alpha, t0, op: "ASGD")
        (self.lambd, self.alpha, self.t0, self.maximize) = (lambd, alpha, t0, maximize)
        try super.init(params, lr: lr, weightDecay: weightDecay)
    }

    private static func check(_ lambd: Double, _ alpha: Double, _ t0: Double, op: String) throws {
        try requireHyper(lambd.isFinite, op, "Invalid lambd value: \(lambd)")
        try requireHyper(alpha.isFinite, op, "Invalid alpha value: \(alpha)")
        try requireHyper(!t0.isNaN, op, "Invalid t0 value: \(t0)")
    }

    public override var stateNames: [String] { ["step", "eta", "mu", "ax"] }
    public override var scalarStateNames: Set<String> { ["step", "eta", "mu"] }

    public override var hyperparameters: [String: String] {
        ["lambd": fmtDouble(lambd), "alpha": fmtDouble(alpha), "t0": fmtDouble(t0), "maximize": fmtBool(maximize)]
    }

    public override func setHyperparameters(_ h: [String: String]) throws {
        let op = "ASGD.load_state_dict"
        let l = try parseDouble(h, "lambd", op: op)
        let a = try parseDouble(h, "alpha", op: op)
        let t = try parseDouble(h, "t0", op: op)
        try ASGD.check(l, a, t, op: op)
        (lambd, alpha, t0, maximize) = (l, a, t, h["maximize"] == "1")
    }

    public override func update(_ p: Tensor, grad: Tensor, group: ParamGroup, state: inout [String: Tensor]) throws {
        let step = advanceStep(&state)
        let etaT = scalarState(&state, "eta", initial: group.lr)
        let muT = scalarState(&state, "mu", initial: 1)
        let ax = try buffer(&state, "ax", like: p)
        let eta = Double(etaT.f[0])
        let mu = Double(muT.f[0])
        func run<S: Real>(_: S.Type) {
            let pp = p.p(S.self)
            let gp = grad.p(S.self)
            let ap = ax.p(S.self)
            let decay = S(1 - lambd * eta)
            let negEta = S(-eta)
            let muS = S(mu)
            let averaging = mu != 1
            let wd = S(group.weightDecay)
            let hasWd = group.weightDecay != 0
            let maximize = self.maximize
            Parallel.chunks(p.count, costPerItem: 8) { range in
                for k in range {
                    var g = maximize ? -gp[k] : gp[k]
                    if hasWd { g = g.addingProduct(pp[k], wd) }
                    let pk = (pp[k] * decay).addingProduct(g, negEta)
                    pp[k] = pk
                    ap[k] = averaging ? ap[k] + (pk - ap[k]) * muS : pk
                }
            }
        }
        p.dtype == .float64 ? run(Double.self) : run(Float.self)
        let lr = group.lr
        etaT.f[0] = Float(lr / Foundation.pow(1 + lambd * lr * step, alpha))
        muT.f[0] = Float(1 / Swift.max(1, step - t0))
    }
}
