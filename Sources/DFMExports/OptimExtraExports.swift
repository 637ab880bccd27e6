import CDFM
import DFM

// The optimizers added after SGD/Adam/AdamW/RMSprop (torch.optim names and defaults).

@c @implementation public func dfm_optimizer_adadelta(_ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ rho: Double,
                                                     _ eps: Double, _ weight_decay: Double, _ maximize: Bool,
                                                     _ out: OptimizerOut) -> dfm_status {
    produce("dfm_optimizer_adadelta", out, .optimizer) {
        try Adadelta(try Arg.tensors(params, n, "params"), lr: lr, rho: rho, eps: eps, weightDecay: weight_decay, maximize: maximize)
    }
}

@c @implementation public func dfm_optimizer_adagrad(_ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ lr_decay: Double,
                                                    _ weight_decay: Double, _ initial_accumulator_value: Double, _ eps: Double,
                                                    _ maximize: Bool, _ out: OptimizerOut) -> dfm_status {
    produce("dfm_optimizer_adagrad", out, .optimizer) {
        try Adagrad(try Arg.tensors(params, n, "params"), lr: lr, lrDecay: lr_decay, weightDecay: weight_decay,
                    initialAccumulatorValue: initial_accumulator_value, eps: eps, maximize: maximize)
    }
}

@c @implementation public func dfm_optimizer_adamax(_ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ beta1: Double,
                                                   _ beta2: Double, _ eps: Double, _ weight_decay: Double, _ maximize: Bool,
                                                   _ out: OptimizerOut) -> dfm_status {
    produce("dfm_optimizer_adamax", out, .optimizer) {
        try Adamax(try Arg.tensors(params, n, "params"), lr: lr, betas: (beta1, beta2), eps: eps, weightDecay: weight_decay,
                   maximize: maximize)
    }
}

@c @implementation public func dfm_optimizer_nadam(_ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ beta1: Double,
                                                  _ beta2: Double, _ eps: Double, _ weight_decay: Double, _ momentum_decay: Double,
                                                  _ decoupled_weight_decay: Bool, _ maximize: Bool, _ out: OptimizerOut) -> dfm_status {
    produce("dfm_optimizer_nadam", out, .optimizer) {
        try NAdam(try Arg.tensors(params, n, "params"), lr: lr, betas: (beta1, beta2), eps: eps, weightDecay: weight_decay,
                  momentumDecay: momentum_decay, decoupledWeightDecay: decoupled_weight_decay, maximize: maximize)
    }
}

@c @implementation public func dfm_optimizer_radam(_ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ beta1: Double,
                                                  _ beta2: Double, _ eps: Double, _ weight_decay: Double,
                                                  _ decoupled_weight_decay: Bool, _ maximize: Bool, _ out: OptimizerOut) -> dfm_status {
    produce("dfm_optimizer_radam", out, .optimizer) {
        try RAdam(try Arg.tensors(params, n, "params"), lr: lr, betas: (beta1, beta2), eps: eps, weightDecay: weight_decay,
                  decoupledWeightDecay: decoupled_weight_decay, maximize: maximize)
    }
}

@c @implementation public func dfm_optimizer_asgd(_ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ lambd: Double,
                                                 _ alpha: Double, _ t0: Double, _ weight_decay: Double, _ maximize: Bool,
                                                 _ out: OptimizerOut) -> dfm_status {
    produce("dfm_optimizer_asgd", out, .optimizer) {
        try ASGD(try Arg.tensors(params, n, "params"), lr: lr, lambd: lambd, alpha: alpha, t0: t0, weightDecay: weight_decay,
                 maximize: maximize)
    }
}
