import CDFM
import DFM

// torch.optim optimizers and learning-rate schedulers.

public typealias OptimizerOut = UnsafeMutablePointer<dfm_optimizer?>?
public typealias SchedulerOut = UnsafeMutablePointer<dfm_scheduler?>?

extension Arg {
    static func optimizer(_ h: dfm_optimizer?, _ name: String) throws -> Optimizer { try object(h, .optimizer, name) }
    static func scheduler(_ h: dfm_scheduler?, _ name: String) throws -> LRScheduler { try object(h, .scheduler, name) }

    /// Epoch-like counts (step_size, T_max, scheduler counters): positive values up to 2^40,
    /// so the schedulers' epoch arithmetic cannot overflow.
    static let maxEpochs: Int64 = 1 << 40

    static func epochs(_ v: Int64, _ name: String) throws -> Int {
        guard v <= maxEpochs else {
            throw ABIError(.invalidArgument, "'\(name)' = \(v) is too large (limit \(maxEpochs))")
        }
        return Int(v)
    }
}

// MARK: optimizers

@c @implementation public func dfm_optimizer_sgd(
    _ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ momentum: Double,
    _ dampening: Double, _ weight_decay: Double, _ nesterov: Bool, _ maximize: Bool,
    _ out: OptimizerOut
) -> dfm_status {
    produce("dfm_optimizer_sgd", out, .optimizer) {
        try SGD(
            try Arg.tensors(params, n, "params"), lr: lr, momentum: momentum, dampening: dampening,
            weightDecay: weight_decay, nesterov: nesterov, maximize: maximize)
    }
}

@c @implementation public func dfm_optimizer_rmsprop(
    _ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ alpha: Double,
    _ eps: Double, _ weight_decay: Double, _ momentum: Double, _ centered: Bool,
    _ maximize: Bool, _ out: OptimizerOut
) -> dfm_status {
    produce("dfm_optimizer_rmsprop", out, .optimizer) {
        try RMSprop(
            try Arg.tensors(params, n, "params"), lr: lr, alpha: alpha, eps: eps, weightDecay: weight_decay,
            momentum: momentum, centered: centered, maximize: maximize)
    }
}

@c @implementation public func dfm_optimizer_adam(
    _ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ beta1: Double,
    _ beta2: Double, _ eps: Double, _ weight_decay: Double, _ amsgrad: Bool,
    _ maximize: Bool, _ out: OptimizerOut
) -> dfm_status {
    produce("dfm_optimizer_adam", out, .optimizer) {
        try Adam(
            try Arg.tensors(params, n, "params"), lr: lr, betas: (beta1, beta2), eps: eps, weightDecay: weight_decay,
            amsgrad: amsgrad, maximize: maximize)
    }
}

@c @implementation public func dfm_optimizer_adamw(
    _ params: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ lr: Double, _ beta1: Double,
    _ beta2: Double, _ eps: Double, _ weight_decay: Double, _ amsgrad: Bool,
    _ maximize: Bool, _ out: OptimizerOut
) -> dfm_status {
    produce("dfm_optimizer_adamw", out, .optimizer) {
        try AdamW(
            try Arg.tensors(params, n, "params"), lr: lr, betas: (beta1, beta2), eps: eps, weightDecay: weight_decay,
            amsgrad: amsgrad, maximize: maximize)
    }
}

@c @implementation public func dfm_optimizer_release(_ o: dfm_optimizer?) -> dfm_status {
    guarded("dfm_optimizer_release") { try Handles.release(o, .optimizer, "o") }
}

@c @implementation public func dfm_optimizer_step(_ o: dfm_optimizer?) -> dfm_status {
    guarded("dfm_optimizer_step") { try Arg.optimizer(o, "o").step() }
}

@c @implementation public func dfm_optimizer_zero_grad(_ o: dfm_optimizer?) -> dfm_status {
    guarded("dfm_optimizer_zero_grad") { try Arg.optimizer(o, "o").zeroGrad() }
}

@c @implementation public func dfm_optimizer_get_lr(_ o: dfm_optimizer?, _ out: UnsafeMutablePointer<Double>?)
    -> dfm_status
{
    produceValue("dfm_optimizer_get_lr", out) { try Arg.optimizer(o, "o").lr }
}

@c @implementation public func dfm_optimizer_set_lr(_ o: dfm_optimizer?, _ lr: Double) -> dfm_status {
    guarded("dfm_optimizer_set_lr") {
        let opt = try Arg.optimizer(o, "o")
        // Validates (finite, >= 0) before the first group changes.
        try opt.setLr(lr, group: 0)
        for g in opt.paramGroups.indices.dropFirst() { try opt.setLr(lr, group: g) }
    }
}

@c @implementation public func dfm_optimizer_save(_ o: dfm_optimizer?, _ path: UnsafePointer<CChar>?) -> dfm_status {
    guarded("dfm_optimizer_save") { try Arg.optimizer(o, "o").save(to: try Arg.string(path, "path")) }
}

@c @implementation public func dfm_optimizer_load(_ o: dfm_optimizer?, _ path: UnsafePointer<CChar>?) -> dfm_status {
    guarded("dfm_optimizer_load") { try Arg.optimizer(o, "o").load(from: try Arg.string(path, "path")) }
}

// MARK: schedulers

@c @implementation public func dfm_scheduler_step_lr(
    _ o: dfm_optimizer?, _ step_size: Int64, _ gamma: Double, _ out: SchedulerOut
) -> dfm_status {
    produce("dfm_scheduler_step_lr", out, .scheduler) {
        try StepLR(try Arg.optimizer(o, "o"), stepSize: try Arg.epochs(step_size, "step_size"), gamma: gamma)
    }
}

@c @implementation public func dfm_scheduler_cosine_annealing_lr(
    _ o: dfm_optimizer?, _ t_max: Int64, _ eta_min: Double,
    _ out: SchedulerOut
) -> dfm_status {
    produce("dfm_scheduler_cosine_annealing_lr", out, .scheduler) {
        try CosineAnnealingLR(try Arg.optimizer(o, "o"), tMax: try Arg.epochs(t_max, "t_max"), etaMin: eta_min)
    }
}

@c @implementation public func dfm_scheduler_multi_step_lr(
    _ o: dfm_optimizer?, _ milestones: UnsafePointer<Int64>?, _ n: Int64,
    _ gamma: Double, _ out: SchedulerOut
) -> dfm_status {
    produce("dfm_scheduler_multi_step_lr", out, .scheduler) {
        let ms = try Arg.ints(milestones, n, "milestones", countName: "n", limit: 1 << 16)
        return try MultiStepLR(try Arg.optimizer(o, "o"), milestones: ms, gamma: gamma)
    }
}

@c @implementation public func dfm_scheduler_exponential_lr(_ o: dfm_optimizer?, _ gamma: Double, _ out: SchedulerOut)
    -> dfm_status
{
    produce("dfm_scheduler_exponential_lr", out, .scheduler) {
        try ExponentialLR(try Arg.optimizer(o, "o"), gamma: gamma)
    }
}

@c @implementation public func dfm_scheduler_one_cycle_lr(
    _ o: dfm_optimizer?, _ max_lr: Double, _ total_steps: Int64, _ pct_start: Double,
    _ anneal_linear: Bool, _ cycle_momentum: Bool, _ base_momentum: Double,
    _ max_momentum: Double, _ div_factor: Double, _ final_div_factor: Double,
    _ three_phase: Bool, _ out: SchedulerOut
) -> dfm_status {
    produce("dfm_scheduler_one_cycle_lr", out, .scheduler) {
        var c = OneCycleLR.Config(maxLr: max_lr, totalSteps: try Arg.epochs(total_steps, "total_steps"))
        (c.pctStart, c.linear, c.cycleMomentum, c.baseMomentum) = (
            pct_start, anneal_linear, cycle_momentum, base_momentum
        )
        (c.maxMomentum, c.divFactor, c.finalDivFactor, c.threePhase) = (
            max_momentum, div_factor, final_div_factor, three_phase
        )
        return try OneCycleLR(try Arg.optimizer(o, "o"), c)
    }
}

@c @implementation public func dfm_scheduler_reduce_on_plateau(
    _ o: dfm_optimizer?, _ mode_max: Bool, _ factor: Double,
    _ patience: Int64, _ threshold: Double, _ threshold_relative: Bool,
    _ cooldown: Int64, _ min_lr: Double, _ eps: Double,
    _ out: SchedulerOut
) -> dfm_status {
    produce("dfm_scheduler_reduce_on_plateau", out, .scheduler) {
        try ReduceLROnPlateau(
            try Arg.optimizer(o, "o"), maximize: mode_max, factor: factor,
            patience: try Arg.epochs(patience, "patience"), threshold: threshold,
            relativeThreshold: threshold_relative, cooldown: try Arg.epochs(cooldown, "cooldown"),
            minLr: min_lr, eps: eps)
    }
}

@c @implementation public func dfm_scheduler_step_metric(_ s: dfm_scheduler?, _ metric: Double) -> dfm_status {
    guarded("dfm_scheduler_step_metric") {
        guard let sched = try Arg.scheduler(s, "s") as? ReduceLROnPlateau else {
            throw ABIError(
                .typeError, "dfm_scheduler_step_metric needs a ReduceLROnPlateau scheduler; use dfm_scheduler_step")
        }
        try checkEpochLimit(sched)
        sched.step(metric: metric)
    }
}

@c @implementation public func dfm_scheduler_release(_ s: dfm_scheduler?) -> dfm_status {
    guarded("dfm_scheduler_release") { try Handles.release(s, .scheduler, "s") }
}

/// Epoch counters stay far from overflowing the schedule arithmetic.
private func checkEpochLimit(_ sched: LRScheduler) throws {
    guard Int64(sched.lastEpoch) < Arg.maxEpochs else {
        throw ABIError(.stateError, "the scheduler is at epoch \(sched.lastEpoch), the limit is \(Arg.maxEpochs)")
    }
}

@c @implementation public func dfm_scheduler_step(_ s: dfm_scheduler?) -> dfm_status {
    guarded("dfm_scheduler_step") {
        let sched = try Arg.scheduler(s, "s")
        if sched is ReduceLROnPlateau {
            throw ABIError(.stateError, "ReduceLROnPlateau steps with a metric: use dfm_scheduler_step_metric")
        }
        if let oc = sched as? OneCycleLR, oc.isFinished {
            throw ABIError(
                .stateError,
                "Tried to step \(oc.lastEpoch + 1) times. The specified number of total steps is \(oc.config.totalSteps)"
            )
        }
        try checkEpochLimit(sched)
        sched.step()
        // LambdaLR's callback (and those of schedulers a composite drives) may have failed.
        try throwLambdaFailure(sched)
        for c in (sched as? SequentialLR)?.schedulers ?? (sched as? ChainedScheduler)?.schedulers ?? [] {
            try throwLambdaFailure(c)
        }
    }
}

@c @implementation public func dfm_scheduler_get_last_lr(_ s: dfm_scheduler?, _ out: UnsafeMutablePointer<Double>?)
    -> dfm_status
{
    produceValue("dfm_scheduler_get_last_lr", out) { try Arg.scheduler(s, "s").lastLrValue }
}

@c @implementation public func dfm_scheduler_save(_ s: dfm_scheduler?, _ path: UnsafePointer<CChar>?) -> dfm_status {
    guarded("dfm_scheduler_save") {
        let sched = try Arg.scheduler(s, "s")
        let p = try Arg.string(path, "path")
        try SafeTensors.write([:], to: p, metadata: sched.stateDict())
    }
}

@c @implementation public func dfm_scheduler_load(_ s: dfm_scheduler?, _ path: UnsafePointer<CChar>?) -> dfm_status {
    guarded("dfm_scheduler_load") {
        let sched = try Arg.scheduler(s, "s")
        let p = try Arg.string(path, "path")
        let meta = try SafeTensors.read(p).metadata
        try checkSchedulerCounters(meta, source: p)
        try sched.loadStateDict(meta)
    }
}
