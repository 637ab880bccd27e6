import Foundation

/// torch.optim.SGD with torch's single-tensor arithmetic, fused per element:
///   g = grad (negated when maximize) + weight_decay·p
///   buf = g on the first step, else momentum·buf + (1 - dampening)·g
///   g = g + momentum·buf (nesterov) or buf
///   p = p - lr·g
/// Scalar factors are rounded to float32 as torch does; `a + alpha·b` is one fused
/// multiply-add, as in torch's vectorised add kernel.
public final class SGD: Optimizer {
    public var momentum: Double
    public var dampening: Double
    public var nesterov: Bool
    public var maximize: Bool

    public init(
        _ params: [Tensor], lr: Double = 1e-3, momentum: Double = 0, dampening: Double = 0,
        weightDecay: Double = 0, nesterov: Bool = false, maximize: Bool = false
    ) throws {
        try SGD.check(momentum: momentum, dampening: dampening, nesterov: nesterov)
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.maximize = maximize
        try super.init(params, lr: lr, weightDecay: weightDecay)
    }

    private static func check(momentum: Double, dampening: Double, nesterov: Bool) throws {
        guard momentum >= 0, momentum.isFinite else {
            throw DFMError.invalid("SGD", "Invalid momentum value: \(momentum)")
        }
        guard dampening.isFinite else { throw DFMError.invalid("SGD", "Invalid dampening value: \(dampening)") }
        if nesterov && (momentum <= 0 || dampening != 0) {
            throw DFMError.invalid("SGD", "Nesterov momentum requires a momentum and zero dampening")
        }
    }

    public override var stateNames: [String] { ["momentum_buffer"] }

    public override var hyperparameters: [String: String] {
        [
            "momentum": fmtDouble(momentum), "dampening": fmtDouble(dampening),
            "nesterov": nesterov ? "1" : "0", "maximize": maximize ? "1" : "0",
        ]
    }

    public override func setHyperparameters(_ h: [String: String]) throws {
        let op = "SGD.load_state_dict"
        let m = try parseDouble(h, "momentum", op: op)
        let d = try parseDouble(h, "dampening", op: op)
        let n = h["nesterov"] == "1"
        let mx = h["maximize"] == "1"
        try SGD.check(momentum: m, dampening: d, nesterov: n)
        (momentum, dampening, nesterov, maximize) = (m, d, n, mx)
    }

    public override func update(_ p: Tensor, grad: Tensor, group: ParamGroup, state: inout [String: Tensor]) throws {
        let n = p.count
        func run<S: Real>(_: S.Type) throws {
            let pp = p.p(S.self)
            let gp = grad.p(S.self)
            let wd = S(group.weightDecay)
            let negLr = S(-group.lr)
            let hasWd = group.weightDecay != 0
            let maximize = self.maximize
            if momentum == 0 {
                Parallel.chunks(n, costPerItem: 4) { r in
                    for k in r {
                        var g = maximize ? -gp[k] : gp[k]
                        if hasWd { g = g.addingProduct(pp[k], wd) }
                        pp[k] = pp[k].addingProduct(g, negLr)
                    }
                }
                return
            }
            let mom = S(momentum)
            let keep = S(1 - dampening)
            let nesterov = self.nesterov
            let first = state["momentum_buffer"] == nil
            let buf = try state["momentum_buffer"] ?? Tensor.zeros(p.shape, dtype: p.dtype)
            let bp = buf.p(S.self)
            Parallel.chunks(n, costPerItem: 6) { r in
                for k in r {
                    var g = maximize ? -gp[k] : gp[k]
                    if hasWd { g = g.addingProduct(pp[k], wd) }
                    let b = first ? g : (bp[k] * mom).addingProduct(g, keep)
                    bp[k] = b
                    let step = nesterov ? g.addingProduct(b, mom) : b
                    pp[k] = pp[k].addingProduct(step, negLr)
                }
            }
            state["momentum_buffer"] = buf
        }
        return try p.dtype == .float64 ? run(Double.self) : run(Float.self)
    }
}
