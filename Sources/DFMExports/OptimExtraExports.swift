import CDFM
import DFM

// The optimizers added after SGD/Adam/AdamW/RMSprop (torch.optim names and defaults).

@c @implementation public func dfm_optimizer_adadelta(
    _ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ rho: Double,
    _ eps: Double, _ weight_decay: Double, _ maximize: Bool,
    _ out: OptimizerOut
) -> dfm_status {
    produce("dfm_optimizer_adadelta", out, .optimizer) {
        try Adadelta(
            try Arg.tensors(params, n, "params"), lr: lr, rho: rho, eps: eps, weightDecay: weight_decay,
            maximize: maximize)
    }
}

@c @implementation public func dfm_optimizer_adagrad(
    _ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ lr_decay: Double,
    _ weight_decay: Double, _ initial_accumulator_value: Double, _ eps: Double,
    _ maximize: Bool, _ out: OptimizerOut
) -> dfm_status {
    produce("dfm_optimizer_adagrad", out, .optimizer) {
        try Adagrad(
            try Arg.tensors(params, n, "params"), lr: lr, lrDecay: lr_decay, weightDecay: weight_decay,
            initialAccumulatorValue: initial_accumulator_value, eps: eps, maximize: maximize)
    }
}

@c @implementation public func dfm_optimizer_adamax(
    _ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ beta1: Double,
    _ beta2: Double, _ eps: Double, _ weight_decay: Double, _ maximize: Bool,
    _ out: OptimizerOut
) -> dfm_status {
    produce("dfm_optimizer_adamax", out, .optimizer) {
        try Adamax(
            try Arg.tensors(params, n, "params"), lr: lr, betas: (beta1, beta2), eps: eps, weightDecay: weight_decay,
            maximize: maximize)
    }
}

@c @implementation public func dfm_optimizer_nadam(
    _ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ beta1: Double,
    _ beta2: Double, _ eps: Double, _ weight_decay: Double, _ momentum_decay: Double,
    _ decoupled_weight_decay: Bool, _ maximize: Bool, _ out: OptimizerOut
) -> dfm_status {
    produce("dfm_optimizer_nadam", out, .optimizer) {
        try NAdam(
            try Arg.tensors(params, n, "params"), lr: lr, betas: (beta1, beta2), eps: eps, weightDecay: weight_decay,
            momentumDecay: momentum_decay, decoupledWeightDecay: decoupled_weight_decay, maximize: maximize)
    }
}

@c @implementation public func dfm_optimizer_radam(
    _ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ beta1: Double,
    _ beta2: Double, _ eps: Double, _ weight_decay: Double,
    _ decoupled_weight_decay: Bool, _ maximize: Bool, _ out: OptimizerOut
) -> dfm_status {
    produce("dfm_optimizer_radam", out, .optimizer) {
        try RAdam(
            try Arg.tensors(params, n, "params"), lr: lr, betas: (beta1, beta2), eps: eps, weightDecay: weight_decay,
            decoupledWeightDecay: decoupled_weight_decay, maximize: maximize)
    }
}

@c @implementation public func dfm_optimizer_asgd(
    _ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ lambd: Double,
    _ alpha: Double, _ t0: Double, _ weight_decay: Double, _ maximize: Bool,
    _ out: OptimizerOut
) -> dfm_status {
    produce("dfm_optimizer_asgd", out, .optimizer) {
        try ASGD(
            try Arg.tensors(params, n, "params"), lr: lr, lambd: lambd, alpha: alpha, t0: t0, weightDecay: weight_decay,
            maximize: maximize)
    }
}

@c @implementation public func dfm_optimizer_lbfgs(
    _ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ max_iter: Int64,
    _ max_eval: Int64, _ tolerance_grad: Double, _ tolerance_change: Double,
    _ history_size: Int64, _ strong_wolfe: Bool, _ out: OptimizerOut
) -> dfm_status {
    produce("dfm_optimizer_lbfgs", out, .optimizer) {
        func small(_ v: Int64, _ name: String) throws -> Int {
            guard v >= -1, v <= 1 << 30 else {
                throw ABIError(.invalidArgument, "'\(name)' = \(v) is out of range (limit 2^30)")
            }
            return Int(v)
        }
        let mi = try small(max_iter, "max_iter")
        let me = try small(max_eval, "max_eval")
        return try LBFGS(
            try Arg.tensors(params, n, "params"), lr: lr, maxIter: mi, maxEval: me <= 0 ? nil : me,
            toleranceGrad: tolerance_grad, toleranceChange: tolerance_change,
            historySize: try small(history_size, "history_size"), strongWolfe: strong_wolfe)
    }
}

@c @implementation public func dfm_optimizer_step_closure(
    _ o: dfm_optimizer?, _ fn: dfm_closure_fn?, _ user_data: UnsafeMutableRawPointer?,
    _ loss: UnsafeMutablePointer<Double>?
) -> dfm_status {
    produceValue("dfm_optimizer_step_closure", loss) {
        let opt = try Arg.optimizer(o, "o")
        guard let fn else { throw ABIError(.invalidArgument, "'fn' is NULL") }
        nonisolated(unsafe) let user = user_data
        let closure = { () throws -> Double in
            var v = 0.0
            let st = fn(user, &v)
            guard st == DFM_OK else { throw ABIError(.invalidArgument, "the closure failed (status \(st.rawValue))") }
            return v
        }
        if let l = opt as? LBFGS { return try l.step(closure: closure) }
        let v = try closure()  // torch: other optimizers evaluate the closure once, then step
        try opt.step()
        return v
    }
}
