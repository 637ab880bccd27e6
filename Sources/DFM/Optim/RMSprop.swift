import Foundation

/// torch.optim.RMSprop with torch's single-tensor arithmetic, per element:
///   g = grad (negated when maximize) + wd·p
///   v = α·v + (1 - α)·g·g
///   centered: ḡ = lerp(ḡ, g, 1 - α); avg = sqrt(v - ḡ·ḡ) + eps     else avg = sqrt(v) + eps
///   momentum: b = μ·b + g / avg; p = p - lr·b                       else p = p - lr·g / avg
public final class RMSprop: Optimizer {
    public var alpha: Double
    public var eps: Double
    public var momentum: Double
    public var centered: Bool
    public var maximize: Bool

    public init(
        _ params: [Tensor], lr: Double = 1e-2, alpha: Double = 0.99, eps: Double = 1e-8, weightDecay: Double = 0,
        momentum: Double = 0, centered: Bool = false, maximize: Bool = false
    ) throws {
        try RMSprop.check(alpha, eps, momentum, op: "RMSprop")
        (self.alpha, self.eps, self.momentum, self.centered, self.maximize) = (alpha, eps, momentum, centered, maximize)
        try super.init(params, lr: lr, weightDecay: weightDecay)
    }

    private static func check(_ alpha: Double, _ eps: Double, _ momentum: Double, op: String) throws {
        guard alpha >= 0, alpha.isFinite else { throw DFMError.invalid(op, "Invalid alpha value: \(alpha)") }
        guard eps >= 0, eps.isFinite else { throw DFMError.invalid(op, "Invalid epsilon value: \(eps)") }
        guard momentum >= 0, momentum.isFinite else {
            throw DFMError.invalid(op, "Invalid momentum value: \(momentum)")
        }
    }

    public override var stateNames: [String] { ["step", "square_avg", "grad_avg", "momentum_buffer"] }

    public override var hyperparameters: [String: String] {
        [
            "alpha": fmtDouble(alpha), "eps": fmtDouble(eps), "momentum": fmtDouble(momentum),
            "centered": centered ? "1" : "0", "maximize": maximize ? "1" : "0",
        ]
    }

    public override func setHyperparameters(_ h: [String: String]) throws {
        let op = "RMSprop.load_state_dict"
        let a = try parseDouble(h, "alpha", op: op)
        let e = try parseDouble(h, "eps", op: op)
        let m = try parseDouble(h, "momentum", op: op)
        try RMSprop.check(a, e, m, op: op)
        (alpha, eps, momentum, centered, maximize) = (a, e, m, h["centered"] == "1", h["maximize"] == "1")
    }

    public override func update(_ p: Tensor, grad: Tensor, group: ParamGroup, state: inout [String: Tensor]) throws {
        let step = try state["step"] ?? Tensor.zeros([])
        step.f[0] += 1
        state["step"] = step
        let sq = try state["square_avg"] ?? Tensor.zeros(p.shape, dtype: p.dtype)
        state["square_avg"] = sq
        let ga = centered ? try state["grad_avg"] ?? Tensor.zeros(p.shape, dtype: p.dtype) : nil
        if let ga { state["grad_avg"] = ga }
        let buf = momentum > 0 ? try state["momentum_buffer"] ?? Tensor.zeros(p.shape, dtype: p.dtype) : nil
        if let buf { state["momentum_buffer"] = buf }
        func run<S: Real>(_: S.Type) throws {
            let pp = p.p(S.self)
            let gp = grad.p(S.self)
            let sp = sq.p(S.self)
            let ap = ga?.p(S.self)
            let bp = buf?.p(S.self)
            let a = S(alpha)
            let keep = S(1 - alpha)
            let e = S(eps)
            let mu = S(momentum)
            let wd = S(group.weightDecay)
            let hasWd = group.weightDecay != 0
            let negLr = S(-group.lr)
            let maximize = self.maximize
            Parallel.chunks(p.count, costPerItem: 10) { r in
                for k in r {
                    var g = maximize ? -gp[k] : gp[k]
                    if hasWd { g = g.addingProduct(pp[k], wd) }
                    let v = sp[k] * a + keep * g * g
                    sp[k] = v
                    var avg: S
                    if let ap {
                        // torch's lerp_: from the nearer end, so weights above 0.5 round the same way
                        let m = keep < 0.5 ? ap[k] + keep * (g - ap[k]) : g - (g - ap[k]) * a
                        ap[k] = m
                        avg = (v - m * m).squareRoot()
                    } else {
                        avg = v.squareRoot()
                    }
                    avg += e
                    if let bp {
                        let b = bp[k] * mu + g / avg
                        bp[k] = b
                        pp[k] = pp[k].addingProduct(b, negLr)
                    } else {
                        pp[k] = pp[k] + negLr * g / avg
                    }
                }
            }
        }
        return try p.dtype == .float64 ? run(Double.self) : run(Float.self)
    }
}
