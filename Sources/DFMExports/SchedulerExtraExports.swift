import CDFM
import DFM

// The schedulers added after StepLR .. OneCycleLR.

private func schedulers(_ p: UnsafePointer<dfm_scheduler?>?, _ n: Int64) throws -> [LRScheduler] {
    guard n >= 1, n <= 1024 else {
        throw ABIError(.invalidArgument, "number of schedulers must be in 1...1024, got \(n)")
    }
    guard let p else { throw ABIError(.invalidArgument, "'schedulers' is NULL but its count is \(n)") }
    return try (0..<Int(n)).map { try Arg.scheduler(p[$0], "schedulers[\($0)]") }
}

/// A LambdaLR's callback failure as the export's error.
func throwLambdaFailure(_ sched: LRScheduler) throws {
    if let l = sched as? LambdaLR, let e = l.takeFailure() { throw e }
}

@c @implementation public func dfm_scheduler_lambda_lr(
    _ o: dfm_optimizer?, _ fn: dfm_lr_lambda_fn?, _ user_data: UnsafeMutableRawPointer?,
    _ multiplicative: Bool, _ out: SchedulerOut
) -> dfm_status {
    produce("dfm_scheduler_lambda_lr", out, .scheduler) {
        let opt = try Arg.optimizer(o, "o")
        guard let fn else { throw ABIError(.invalidArgument, "'fn' is NULL") }
        // The caller keeps user_data valid while the scheduler lives (see dfm.h).
        nonisolated(unsafe) let user = user_data
        return try LambdaLR(opt, multiplicative: multiplicative) { epoch in
            var v = 0.0
            let st = fn(Int64(epoch), user, &v)
            guard st == DFM_OK else {
                throw ABIError(
                    .invalidArgument, "the lr lambda callback failed at epoch \(epoch) (status \(st.rawValue))")
            }
            return v
        }
    }
}

@c @implementation public func dfm_scheduler_constant_lr(
    _ o: dfm_optimizer?, _ factor: Double, _ total_iters: Int64,
    _ out: SchedulerOut
) -> dfm_status {
    produce("dfm_scheduler_constant_lr", out, .scheduler) {
        try ConstantLR(
            try Arg.optimizer(o, "o"), factor: factor, totalIters: try Arg.epochs(total_iters, "total_iters"))
    }
}

@c @implementation public func dfm_scheduler_linear_lr(
    _ o: dfm_optimizer?, _ start_factor: Double, _ end_factor: Double,
    _ total_iters: Int64, _ out: SchedulerOut
) -> dfm_status {
    produce("dfm_scheduler_linear_lr", out, .scheduler) {
        try LinearLR(
            try Arg.optimizer(o, "o"), startFactor: start_factor, endFactor: end_factor,
            totalIters: try Arg.epochs(total_iters, "total_iters"))
    }
}

@c @implementation public func dfm_scheduler_polynomial_lr(
    _ o: dfm_optimizer?, _ total_iters: Int64, _ power: Double,
    _ out: SchedulerOut
) -> dfm_status {
    produce("dfm_scheduler_polynomial_lr", out, .scheduler) {
        try PolynomialLR(
            try Arg.optimizer(o, "o"), totalIters: try Arg.epochs(total_iters, "total_iters"), power: power)
    }
}

@c @implementation public func dfm_scheduler_cosine_warm_restarts(
    _ o: dfm_optimizer?, _ t_0: Int64, _ t_mult: Int64, _ eta_min: Double,
    _ out: SchedulerOut
) -> dfm_status {
    produce("dfm_scheduler_cosine_warm_restarts", out, .scheduler) {
        try CosineAnnealingWarmRestarts(
            try Arg.optimizer(o, "o"), t0: try Arg.epochs(t_0, "t_0"),
            tMult: try Arg.epochs(t_mult, "t_mult"), etaMin: eta_min)
    }
}

@c @implementation public func dfm_scheduler_step_epoch(_ s: dfm_scheduler?, _ epoch: Double) -> dfm_status {
    guarded("dfm_scheduler_step_epoch") {
        guard let sched = try Arg.scheduler(s, "s") as? CosineAnnealingWarmRestarts else {
            throw ABIError(
                .typeError,
                "dfm_scheduler_step_epoch needs a CosineAnnealingWarmRestarts scheduler; use dfm_scheduler_step")
        }
        guard epoch >= 0, epoch < Double(Arg.maxEpochs) else {
            throw ABIError(.invalidArgument, "Expected non-negative epoch below 2^40, but got \(epoch)")
        }
        sched.step(epoch: epoch)
    }
}

@c @implementation public func dfm_scheduler_cyclic_lr(
    _ o: dfm_optimizer?, _ base_lr: Double, _ max_lr: Double, _ step_size_up: Int64,
    _ step_size_down: Int64, _ mode: UnsafePointer<CChar>?, _ gamma: Double,
    _ cycle_momentum: Bool, _ base_momentum: Double, _ max_momentum: Double,
    _ out: SchedulerOut
) -> dfm_status {
    produce("dfm_scheduler_cyclic_lr", out, .scheduler) {
        let m = try Arg.string(mode, "mode")
        guard let parsed = CyclicLR.Mode(rawValue: m) else {
            throw ABIError(.invalidArgument, "mode is invalid and scale_fn is None: '\(m)'")
        }
        var c = CyclicLR.Config(baseLr: base_lr, maxLr: max_lr)
        c.stepSizeUp = try Arg.epochs(step_size_up, "step_size_up")
        c.stepSizeDown = step_size_down < 0 ? nil : try Arg.epochs(step_size_down, "step_size_down")
        (c.mode, c.gamma, c.cycleMomentum, c.baseMomentum, c.maxMomentum) = (
            parsed, gamma, cycle_momentum, base_momentum, max_momentum
        )
        return try CyclicLR(try Arg.optimizer(o, "o"), c)
    }
}

@c @implementation public func dfm_scheduler_sequential_lr(
    _ o: dfm_optimizer?, _ scheds: UnsafePointer<dfm_scheduler?>?, _ n: Int64,
    _ milestones: UnsafePointer<Int64>?, _ n_milestones: Int64,
    _ out: SchedulerOut
) -> dfm_status {
    produce("dfm_scheduler_sequential_lr", out, .scheduler) {
        let opt = try Arg.optimizer(o, "o")
        let children = try schedulers(scheds, n)
        let ms =
            n_milestones == 0
            ? [] : try Arg.ints(milestones, n_milestones, "milestones", countName: "n_milestones", limit: 1024)
        let seq = try SequentialLR(opt, schedulers: children, milestones: ms)
        for c in children { try throwLambdaFailure(c) }
        return seq
    }
}

@c @implementation public func dfm_scheduler_chained(
    _ scheds: UnsafePointer<dfm_scheduler?>?, _ n: Int64, _ out: SchedulerOut
) -> dfm_status {
    produce("dfm_scheduler_chained", out, .scheduler) { try ChainedScheduler(try schedulers(scheds, n)) }
}
