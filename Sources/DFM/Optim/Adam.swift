import CKernels
import Foundation

/// torch.optim.Adam (and, with decoupled weight decay, AdamW) with torch's
/// single-tensor ("for-loop") arithmetic, fused per element:
///   step += 1
///   decoupled: p *= 1 - lr·wd          else: g = g + wd·p
///   m = lerp(m, g, 1 - β1)
///   v = v·β2 + (1 - β2)·g·g
///   bc1 = 1 - β1^step, bc2 = 1 - β2^step (in double, as Python computes them)
///   vmax = max(vmax, v) (amsgrad)
///   denom = sqrt(v or vmax) / bc2^0.5 + eps
///   p = p + (-lr/bc1)·m / denom
/// Scalars are rounded to float32 where torch passes them to a float kernel.
public class Adam: Optimizer {
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
    public var amsgrad: Bool
    public var maximize: Bool
    /// AdamW's weight decay (applied to the parameter, not the gradient).
    public let decoupledWeightDecay: Bool

    public init(
        _ params: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
        weightDecay: Double = 0, amsgrad: Bool = false, maximize: Bool = false,
        decoupledWeightDecay: Bool = false
    ) throws {
        let name = decoupledWeightDecay ? "AdamW" : "Adam"
        try Adam.check(betas.0, betas.1, eps, op: name)
        beta1 = betas.0
        beta2 = betas.1
        self.eps = eps
        self.amsgrad = amsgrad
        self.maximize = maximize
        self.decoupledWeightDecay = decoupledWeightDecay
        try super.init(params, lr: lr, weightDecay: weightDecay)
    }

    private static func check(_ b1: Double, _ b2: Double, _ eps: Double, op: String) throws {
        guard eps >= 0, eps.isFinite else { throw DFMError.invalid(op, "Invalid epsilon value: \(eps)") }
        guard b1 >= 0, b1 < 1 else { throw DFMError.invalid(op, "Invalid beta parameter at index 0: \(b1)") }
        guard b2 >= 0, b2 < 1 else { throw DFMError.invalid(op, "Invalid beta parameter at index 1: \(b2)") }
    }

    public var betas: (Double, Double) { (beta1, beta2) }

    public override var stateNames: [String] { ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"] }

    public override var hyperparameters: [String: String] {
        [
            "beta1": fmtDouble(beta1), "beta2": fmtDouble(beta2), "eps": fmtDouble(eps),
            "amsgrad": amsgrad ? "1" : "0", "maximize": maximize ? "1" : "0",
        ]
    }

    public override func setHyperparameters(_ h: [String: String]) throws {
        let op = "\(typeName).load_state_dict"
        let b1 = try parseDouble(h, "beta1", op: op)
        let b2 = try parseDouble(h, "beta2", op: op)
        let e = try parseDouble(h, "eps", op: op)
        try Adam.check(b1, b2, e, op: op)
        (beta1, beta2, eps, amsgrad, maximize) = (b1, b2, e, h["amsgrad"] == "1", h["maximize"] == "1")
    }

    public override func update(_ p: Tensor, grad: Tensor, group: ParamGroup, state: inout [String: Tensor]) throws {
        if state["step"] == nil {
            state["step"] = try Tensor.zeros([])
            state["exp_avg"] = try Tensor.zeros(p.shape, dtype: p.dtype)
            state["exp_avg_sq"] = try Tensor.zeros(p.shape, dtype: p.dtype)
            if amsgrad { state["max_exp_avg_sq"] = try Tensor.zeros(p.shape, dtype: p.dtype) }
        }
        if amsgrad && state["max_exp_avg_sq"] == nil {
            state["max_exp_avg_sq"] = try Tensor.zeros(p.shape, dtype: p.dtype)
        }
        guard let stepT = state["step"], let m = state["exp_avg"], let v = state["exp_avg_sq"] else {
            throw DFMError(.internal, "\(typeName): incomplete state for a parameter of shape \(p.shape)")
        }
        let vmax = amsgrad ? state["max_exp_avg_sq"] : nil
        stepT.f[0] += 1  // a float32 scalar in either precision, as torch keeps it
        let step = Double(stepT.f[0])
        let lr = group.lr
        let wdD = group.weightDecay
        let bc1 = 1 - Foundation.pow(beta1, step)
        let bc2 = 1 - Foundation.pow(beta2, step)
        let stepSize = lr / bc1
        func run<S: Real>(_: S.Type) throws {
            let bc2Sqrt = S(Foundation.pow(bc2, 0.5))
            let negStep = S(-stepSize)
            let epsF = S(eps)
            let w1 = S(1 - beta1)
            let b2 = S(beta2)
            let oneMinusB2 = S(1 - beta2)
            let hasWd = wdD != 0
            let decoupled = decoupledWeightDecay
            let wd = S(wdD)
            let decay = S(1 - lr * wdD)
            let maximize = self.maximize
            let pp = p.p(S.self)
            let gp = grad.p(S.self)
            let mp = m.p(S.self)
            let vp = v.p(S.self)
            let xp = vmax?.p(S.self)
            // torch's lerp: small weights start from `start`, large ones from `end`.
            let smallW = Swift.abs(w1) < 0.5
            let w1m1 = w1 - 1
            if S.self == Float.self {
                // CKernels' loop, compiled per ISA level (FMA for the lerp): the arithmetic below.
                let a = dfmk_adam_params(
                    w1: Float(w1), w1m1: Float(w1m1), b2: Float(b2), one_minus_b2: Float(oneMinusB2),
                    neg_step: Float(negStep), bc2_sqrt: Float(bc2Sqrt), eps: Float(epsF), wd: Float(wd),
                    decay: Float(decay), small_w: smallW ? 1 : 0, maximize: maximize ? 1 : 0,
                    has_wd: hasWd ? 1 : 0, decoupled: decoupled ? 1 : 0)
                let pf = f32(pp)
                let gf = f32(gp)
                let mf = f32(mp)
                let vf = f32(vp)
                let xf = xp.map { f32($0) }
                withUnsafePointer(to: a) { ap in
                    Parallel.chunks(p.count, costPerItem: 12) { r in
                        let o = r.lowerBound
                        dfmk_adam_f32(pf + o, gf + o, mf + o, vf + o, xf.map { $0 + o }, r.count, ap)
                    }
                }
                return
            }
            if !hasWd && xp == nil && !maximize {
                // The common case as branch-free loops, which the compiler vectorises (the general
                // loop below runs scalar); same arithmetic, expression for expression.
                Parallel.chunks(p.count, costPerItem: 12) { r in
                    if smallW {
                        for k in r {
                            let g = gp[k]
                            let mk = mp[k].addingProduct(w1, g - mp[k])
                            mp[k] = mk
                            let vk = vp[k] * b2 + oneMinusB2 * g * g
                            vp[k] = vk
                            pp[k] = pp[k] + negStep * mk / (vk.squareRoot() / bc2Sqrt + epsF)
                        }
                    } else {
                        for k in r {
                            let g = gp[k]
                            let mk = g.addingProduct(w1m1, g - mp[k])
                            mp[k] = mk
                            let vk = vp[k] * b2 + oneMinusB2 * g * g
                            vp[k] = vk
                            pp[k] = pp[k] + negStep * mk / (vk.squareRoot() / bc2Sqrt + epsF)
                        }
                    }
                }
                return
            }
            Parallel.chunks(p.count, costPerItem: 12) { r in
                for k in r {
                    var g = maximize ? -gp[k] : gp[k]
                    var pk = pp[k]
                    if hasWd {
                        if decoupled { pk = pk * decay } else { g = g.addingProduct(pk, wd) }
                    }
                    let diff = g - mp[k]
                    let mk = smallW ? mp[k].addingProduct(w1, diff) : g.addingProduct(w1m1, diff)
                    mp[k] = mk
                    let vk = vp[k] * b2 + oneMinusB2 * g * g
                    vp[k] = vk
                    var s = vk
                    if let xp {
                        let mx = xp[k]
                        let nm = (mx.isNaN || vk.isNaN) ? S.nan : Swift.max(mx, vk)
                        xp[k] = nm
                        s = nm
                    }
                    let denom = s.squareRoot() / bc2Sqrt + epsF
                    pp[k] = pk + negStep * mk / denom
                }
            }
        }
        return try p.dtype == .float64 ? run(Double.self) : run(Float.self)
    }
}

/// torch.optim.AdamW: Adam with decoupled weight decay (default 1e-2).
public final class AdamW: Adam {
    public init(
        _ params: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
        weightDecay: Double = 1e-2, amsgrad: Bool = false, maximize: Bool = false
    ) throws {
        try super.init(
            params, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad,
            maximize: maximize, decoupledWeightDecay: true)
    }
}
