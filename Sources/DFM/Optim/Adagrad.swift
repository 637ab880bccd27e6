import Foundation

/// torch.optim.Adagrad with torch's single-tensor arithmetic, per element:
///   g = grad (negated when maximize) + wd·p
///   clr = lr / (1 + (step - 1)·lr_decay)
///   s = s + g·g            (s starts at initial_accumulator_value)
///   p = p - clr·g / (sqrt(s) + eps)
public final class Adagrad: Optimizer {
    public var lrDecay: Double
    public var initialAccumulatorValue: Double
    public var eps: Double
    public var maximize: Bool

    public init(
        _ params: [Tensor], lr: Double = 1e-2, lrDecay: Double = 0, weightDecay: Double = 0,
        initialAccumulatorValue: Double = 0, eps: Double = 1e-10, maximize: Bool = false
    ) throws {
        try Adagrad.check(lrDecay, initialAccumulatorValue, eps, op: "Adagrad")
        (self.lrDecay, self.initialAccumulatorValue, self.eps, self.maximize) = (
            lrDecay, initialAccumulatorValue, eps, maximize
        )
        try super.init(params, lr: lr, weightDecay: weightDecay)
    }

    private static func check(_ lrDecay: Double, _ initial: Double, _ eps: Double, op: String) throws {
        try requireHyper(lrDecay >= 0 && lrDecay.isFinite, op, "Invalid lr_decay value: \(lrDecay)")
        try requireHyper(initial >= 0 && initial.isFinite, op, "Invalid initial_accumulator_value value: \(initial)")
        try requireHyper(eps >= 0 && eps.isFinite, op, "Invalid epsilon value: \(eps)")
    }

    public override var stateNames: [String] { ["step", "sum"] }

    public override var hyperparameters: [String: String] {
        [
            "lr_decay": fmtDouble(lrDecay), "initial_accumulator_value": fmtDouble(initialAccumulatorValue),
            "eps": fmtDouble(eps), "maximize": fmtBool(maximize),
        ]
    }

    public override func setHyperparameters(_ h: [String: String]) throws {
        let op = "Adagrad.load_state_dict"
        let d = try parseDouble(h, "lr_decay", op: op)
        let i = try parseDouble(h, "initial_accumulator_value", op: op)
        let e = try parseDouble(h, "eps", op: op)
        try Adagrad.check(d, i, e, op: op)
        (lrDecay, initialAccumulatorValue, eps, maximize) = (d, i, e, h["maximize"] == "1")
    }

    public override func update(_ p: Tensor, grad: Tensor, group: ParamGroup, state: inout [String: Tensor]) throws {
        let step = advanceStep(&state)
        let sum = try buffer(&state, "sum", like: p, value: initialAccumulatorValue)
        let clr = group.lr / (1 + (step - 1) * lrDecay)
        func run<S: Real>(_: S.Type) {
            let pp = p.p(S.self)
            let gp = grad.p(S.self)
            let sp = sum.p(S.self)
            let e = S(eps)
            let negClr = S(-clr)
            let wd = S(group.weightDecay)
            let hasWd = group.weightDecay != 0
            let maximize = self.maximize
            Parallel.chunks(p.count, costPerItem: 8) { range in
                for k in range {
                    var g = maximize ? -gp[k] : gp[k]
                    if hasWd { g = g.addingProduct(pp[k], wd) }
                    let s = sp[k] + g * g
                    sp[k] = s
                    pp[k] = pp[k] + negClr * g / (s.squareRoot() + e)
                }
            }
        }
        p.dtype == .float64 ? run(Double.self) : run(Float.self)
    }
}
