import Foundation

/// torch.optim.Adadelta with torch's single-tensor arithmetic, per element:
///   g = grad (negated when maximize) + wd·p
///   v = ρ·v + (1 - ρ)·g·g
///   δ = sqrt(u + eps) / sqrt(v + eps) · g
///   u = ρ·u + (1 - ρ)·δ·δ
///   p = p - lr·δ
public final class Adadelta: Optimizer {
    public var rho: Double
    public var eps: Double
    public var maximize: Bool

    public init(
        _ params: [Tensor], lr: Double = 1.0, rho: Double = 0.9, eps: Double = 1e-6, weightDecay: Double = 0,
        maximize: Bool = false
    ) throws {
        try Adadelta.check(rho, eps, op: "Adadelta")
        (self.rho, self.eps, self.maximize) = (rho, eps, maximize)
        try super.init(params, lr: lr, weightDecay: weightDecay)
    }

    private static func check(_ rho: Double, _ eps: Double, op: String) throws {
        try requireHyper(rho >= 0 && rho <= 1, op, "Invalid rho value: \(rho)")
        try requireHyper(eps >= 0 && eps.isFinite, op, "Invalid epsilon value: \(eps)")
    }

    public override var stateNames: [String] { ["step", "square_avg", "acc_delta"] }

    public override var hyperparameters: [String: String] {
        ["rho": fmtDouble(rho), "eps": fmtDouble(eps), "maximize": fmtBool(maximize)]
    }

    public override func setHyperparameters(_ h: [String: String]) throws {
        let op = "Adadelta.load_state_dict"
        let r = try parseDouble(h, "rho", op: op)
        let e = try parseDouble(h, "eps", op: op)
        try Adadelta.check(r, e, op: op)
        (rho, eps, maximize) = (r, e, h["maximize"] == "1")
    }

    public override func update(_ p: Tensor, grad: Tensor, group: ParamGroup, state: inout [String: Tensor]) throws {
        _ = advanceStep(&state)
        let sq = try buffer(&state, "square_avg", like: p)
        let acc = try buffer(&state, "acc_delta", like: p)
        func run<S: Real>(_: S.Type) {
            let pp = p.p(S.self)
            let gp = grad.p(S.self)
            let vp = sq.p(S.self)
            let up = acc.p(S.self)
            let r = S(rho)
            let keep = S(1 - rho)
            let e = S(eps)
            let negLr = S(-group.lr)
            let wd = S(group.weightDecay)
            let hasWd = group.weightDecay != 0
            let maximize = self.maximize
            Parallel.chunks(p.count, costPerItem: 12) { range in
                for k in range {
                    var g = maximize ? -gp[k] : gp[k]
                    if hasWd { g = g.addingProduct(pp[k], wd) }
                    let v = vp[k] * r + keep * g * g
                    vp[k] = v
                    let delta = (up[k] + e).squareRoot() / (v + e).squareRoot() * g
                    up[k] = up[k] * r + keep * delta * delta
                    pp[k] = pp[k].addingProduct(delta, negLr)
                }
            }
        }
        p.dtype == .float64 ? run(Double.self) : run(Float.self)
    }
}
