import Foundation

/// torch.optim.lr_scheduler.LRScheduler: on construction it records each group's
/// `initial_lr` (first scheduler only) as `baseLrs` and takes the initial step
/// (last_epoch -1 → 0); each `step()` then advances one epoch and writes the new lr
/// into the optimizer's groups. Learning rates are doubles, as in Python.
open class LRScheduler {
    public let optimizer: Optimizer
    public internal(set) var lastEpoch: Int = -1
    /// Bound on epochs, step sizes and periods, so schedule arithmetic cannot overflow.
    static let maxCount = 1 << 40
    public internal(set) var stepCount: Int = 0
    public internal(set) var baseLrs: [Double] = []
    /// torch's get_last_lr().
    public internal(set) var lastLr: [Double] = []
    /// True during the step taken by the constructor (torch's `_is_initial`).
    var isInitial = false

    open var typeName: String { String(describing: type(of: self)) }

    public init(_ optimizer: Optimizer) throws {
        self.optimizer = optimizer
        for (g, group) in optimizer.paramGroups.enumerated() where group.initialLr == nil {
            optimizer.setInitialLr(group.lr, group: g)
        }
        baseLrs = optimizer.paramGroups.map { $0.initialLr ?? $0.lr }
        stepCount = 0
        isInitial = true
        defer { isInitial = false }
        step()
    }

    /// For schedulers that only drive others (SequentialLR, ChainedScheduler): no initial
    /// step of their own, the optimizer's lrs as they stand.
    init(driving optimizer: Optimizer) {
        self.optimizer = optimizer
        baseLrs = optimizer.paramGroups.map { $0.initialLr ?? $0.lr }
        lastEpoch = 0
        lastLr = optimizer.paramGroups.map { $0.lr }
    }

    /// The learning rates for the current `lastEpoch` (torch's chainable get_lr).
    open func computeLr() -> [Double] { optimizer.paramGroups.map { $0.lr } }

    /// torch's `_get_closed_form_lr` where the scheduler has one (nil: none).
    open func closedFormLr() -> [Double]? { nil }

    /// torch's `_initial_step`: the step counter restarts and one step is taken in initial mode.
    func initialStep() {
        stepCount = 0
        isInitial = true
        defer { isInitial = false }
        step()
    }

    /// torch's `_update_lr(epoch)`: jumps to `epoch` (closed form where there is one) without
    /// counting a step (SequentialLR restarts a scheduler at its milestone with epoch 0).
    func jump(toEpoch epoch: Int) {
        lastEpoch = epoch
        apply(closedFormLr() ?? computeLr())
    }

    /// Writes `values` into the optimizer's groups and records them as the last lrs.
    func apply(_ values: [Double]) {
        for (g, lr) in values.enumerated() where g < optimizer.paramGroups.count {
            optimizer.paramGroups[g].lr = lr
        }
        lastLr = optimizer.paramGroups.map { $0.lr }
    }

    /// Advances one epoch and updates the optimizer's learning rates.
    public func step() {
        stepCount += 1
        lastEpoch += 1
        apply(computeLr())
    }

    public var lastLrValue: Double { lastLr.first ?? 0 }

    /// Scheduler-specific settings, saved alongside the counters.
    open var settings: [String: String] { [:] }
    open func setSettings(_ s: [String: String]) throws {}

    /// torch's state_dict(): counters, base and last lrs, and the scheduler's settings.
    public func stateDict() -> [String: String] {
        var d: [String: String] = [
            "scheduler": typeName,
            "last_epoch": String(lastEpoch),
            "_step_count": String(stepCount),
            "base_lrs": baseLrs.map(fmtDouble).joined(separator: ","),
            "_last_lr": lastLr.map(fmtDouble).joined(separator: ","),
        ]
        for (k, v) in settings { d[k] = v }
        return d
    }

    /// torch's load_state_dict(): restores the scheduler only (the optimizer's lr comes
    /// from the optimizer's own state dict). Checked before anything changes.
    public func loadStateDict(_ d: [String: String]) throws {
        let op = "\(typeName).load_state_dict"
        guard d["scheduler"] == typeName else {
            throw DFMError.invalid(op, "state dict is for scheduler '\(d["scheduler"] ?? "unknown")', not \(typeName)")
        }
        guard let le = Int(d["last_epoch"] ?? ""), let sc = Int(d["_step_count"] ?? ""),
            Swift.abs(le) <= LRScheduler.maxCount, Swift.abs(sc) <= LRScheduler.maxCount
        else {
            throw DFMError.invalid(op, "last_epoch or _step_count missing, not an integer, or beyond 2^40")
        }
        func doubles(_ key: String) throws -> [Double] {
            let parts = (d[key] ?? "").split(separator: ",")
            let vals = parts.compactMap { Double($0) }
            guard vals.count == parts.count, vals.count == optimizer.paramGroups.count else {
                throw DFMError.invalid(
                    op,
                    "\(key) must hold one number per parameter group (\(optimizer.paramGroups.count)), got '\(d[key] ?? "")'"
                )
            }
            return vals
        }
        let base = try doubles("base_lrs")
        let last = try doubles("_last_lr")
        try setSettings(d)
        (lastEpoch, stepCount, baseLrs, lastLr) = (le, sc, base, last)
    }
}

/// torch.optim.lr_scheduler.StepLR: lr × gamma every `stepSize` epochs.
public final class StepLR: LRScheduler {
    public private(set) var stepSize: Int
    public private(set) var gamma: Double

    public init(_ optimizer: Optimizer, stepSize: Int, gamma: Double = 0.1) throws {
        guard stepSize > 0 else {
            throw DFMError.invalid("StepLR", "step_size must be a positive integer, got \(stepSize)")
        }
        guard gamma.isFinite else { throw DFMError.invalid("StepLR", "gamma must be finite, got \(gamma)") }
        self.stepSize = stepSize
        self.gamma = gamma
        try super.init(optimizer)
    }

    public override func computeLr() -> [Double] {
        if lastEpoch == 0 || lastEpoch % stepSize != 0 { return optimizer.paramGroups.map { $0.lr } }
        return optimizer.paramGroups.map { $0.lr * gamma }
    }

    public override func closedFormLr() -> [Double]? {
        baseLrs.map { $0 * Foundation.pow(gamma, Double(lastEpoch / stepSize)) }
    }

    public override var settings: [String: String] { ["step_size": String(stepSize), "gamma": fmtDouble(gamma)] }

    public override func setSettings(_ s: [String: String]) throws {
        guard let ss = Int(s["step_size"] ?? ""), ss > 0, let g = Double(s["gamma"] ?? "") else {
            throw DFMError.invalid("StepLR.load_state_dict", "step_size or gamma missing or invalid")
        }
        (stepSize, gamma) = (ss, g)
    }
}

/// torch.optim.lr_scheduler.CosineAnnealingLR with torch's recursive (chainable) formula:
///   lr_t = (1 + cos(π·t/T)) / (1 + cos(π·(t-1)/T)) · (lr_{t-1} - η_min) + η_min,
/// restarting the climb at t - 1 - T ≡ 0 (mod 2T), as torch does.
public final class CosineAnnealingLR: LRScheduler {
    public private(set) var tMax: Int
    public private(set) var etaMin: Double

    public init(_ optimizer: Optimizer, tMax: Int, etaMin: Double = 0) throws {
        guard tMax > 0, tMax <= LRScheduler.maxCount else {
            throw DFMError.invalid("CosineAnnealingLR", "T_max must be a positive integer up to 2^40, got \(tMax)")
        }
        guard etaMin.isFinite else {
            throw DFMError.invalid("CosineAnnealingLR", "eta_min must be finite, got \(etaMin)")
        }
        self.tMax = tMax
        self.etaMin = etaMin
        try super.init(optimizer)
    }

    public override func computeLr() -> [Double] {
        let groups = optimizer.paramGroups
        let t = Double(lastEpoch)
        let T = Double(tMax)
        if isInitial { return groups.map { $0.lr } }
        if stepCount == 1 && lastEpoch > 0 {
            return baseLrs.map { etaMin + ($0 - etaMin) * (1 + Foundation.cos(t * Double.pi / T)) / 2 }
        }
        if (lastEpoch - 1 - tMax) % (2 * tMax) == 0 {
            return zip(baseLrs, groups).map { base, g in
                g.lr + (base - etaMin) * (1 - Foundation.cos(Double.pi / T)) / 2
            }
        }
        return groups.map {
            (1 + Foundation.cos(Double.pi * t / T)) / (1 + Foundation.cos(Double.pi * (t - 1) / T)) * ($0.lr - etaMin)
                + etaMin
        }
    }

    public override func closedFormLr() -> [Double]? {
        baseLrs.map { etaMin + ($0 - etaMin) * (1 + Foundation.cos(Double.pi * Double(lastEpoch) / Double(tMax))) / 2 }
    }

    public override var settings: [String: String] { ["T_max": String(tMax), "eta_min": fmtDouble(etaMin)] }

    public override func setSettings(_ s: [String: String]) throws {
        guard let tm = Int(s["T_max"] ?? ""), tm > 0, tm <= LRScheduler.maxCount, let e = Double(s["eta_min"] ?? "")
        else {
            throw DFMError.invalid("CosineAnnealingLR.load_state_dict", "T_max or eta_min missing or invalid")
        }
        (tMax, etaMin) = (tm, e)
    }
}

/// torch.optim.lr_scheduler.MultiStepLR: lr × gamma at each milestone epoch (a milestone
/// listed twice multiplies by gamma²), chainable as in torch.
public final class MultiStepLR: LRScheduler {
    public private(set) var milestones: [Int]
    public private(set) var gamma: Double

    public init(_ optimizer: Optimizer, milestones: [Int], gamma: Double = 0.1) throws {
        guard milestones.allSatisfy({ $0 >= 0 && $0 <= LRScheduler.maxCount }) else {
            throw DFMError.invalid("MultiStepLR", "milestones must be integers in [0, 2^40], got \(milestones)")
        }
        guard gamma.isFinite else { throw DFMError.invalid("MultiStepLR", "gamma must be finite, got \(gamma)") }
        self.milestones = milestones.sorted()
        self.gamma = gamma
        try super.init(optimizer)
    }

    public override func computeLr() -> [Double] {
        let hits = milestones.filter { $0 == lastEpoch }.count
        if hits == 0 { return optimizer.paramGroups.map { $0.lr } }
        return optimizer.paramGroups.map { $0.lr * Foundation.pow(gamma, Double(hits)) }
    }

    public override func closedFormLr() -> [Double]? {
        let passed = milestones.filter { $0 <= lastEpoch }.count  // bisect_right
        return baseLrs.map { $0 * Foundation.pow(gamma, Double(passed)) }
    }

    public override var settings: [String: String] {
        ["milestones": milestones.map(String.init).joined(separator: ","), "gamma": fmtDouble(gamma)]
    }

    public override func setSettings(_ s: [String: String]) throws {
        let parts = (s["milestones"] ?? "").split(separator: ",")
        let ms = parts.compactMap { Int($0) }
        guard ms.count == parts.count, ms.allSatisfy({ $0 >= 0 && $0 <= LRScheduler.maxCount }),
            let g = Double(s["gamma"] ?? "")
        else {
            throw DFMError.invalid("MultiStepLR.load_state_dict", "milestones or gamma missing or invalid")
        }
        (milestones, gamma) = (ms.sorted(), g)
    }
}

/// torch.optim.lr_scheduler.ExponentialLR: lr × gamma every epoch.
public final class ExponentialLR: LRScheduler {
    public private(set) var gamma: Double

    public init(_ optimizer: Optimizer, gamma: Double) throws {
        guard gamma.isFinite else { throw DFMError.invalid("ExponentialLR", "gamma must be finite, got \(gamma)") }
        self.gamma = gamma
        try super.init(optimizer)
    }

    public override func computeLr() -> [Double] {
        if lastEpoch == 0 { return optimizer.paramGroups.map { $0.lr } }
        return optimizer.paramGroups.map { $0.lr * gamma }
    }

    public override func closedFormLr() -> [Double]? { baseLrs.map { $0 * Foundation.pow(gamma, Double(lastEpoch)) } }

    public override var settings: [String: String] { ["gamma": fmtDouble(gamma)] }

    public override func setSettings(_ s: [String: String]) throws {
        guard let g = Double(s["gamma"] ?? "") else {
            throw DFMError.invalid("ExponentialLR.load_state_dict", "gamma missing or invalid")
        }
        gamma = g
    }
}

/// torch.optim.lr_scheduler.ReduceLROnPlateau: multiplies the lr by `factor` when the
/// metric passed to `step(metric:)` has not improved for more than `patience` epochs,
/// then waits `cooldown` epochs; lr never goes below `minLr`, and changes smaller than
/// `eps` are skipped. (The plain `step()` leaves the lr alone.)
public final class ReduceLROnPlateau: LRScheduler {
    public private(set) var maximize: Bool
    public private(set) var factor: Double
    public private(set) var patience: Int
    public private(set) var threshold: Double
    public private(set) var relativeThreshold: Bool
    public private(set) var cooldown: Int
    public private(set) var minLr: Double
    public private(set) var eps: Double
    public private(set) var best: Double
    public private(set) var numBadEpochs = 0
    public private(set) var cooldownCounter = 0

    public init(
        _ optimizer: Optimizer, maximize: Bool = false, factor: Double = 0.1, patience: Int = 10,
        threshold: Double = 1e-4, relativeThreshold: Bool = true, cooldown: Int = 0, minLr: Double = 0,
        eps: Double = 1e-8
    ) throws {
        let op = "ReduceLROnPlateau"
        guard factor < 1, factor >= 0 else { throw DFMError.invalid(op, "Factor should be < 1.0, got \(factor)") }
        guard patience >= 0, patience <= LRScheduler.maxCount, cooldown >= 0, cooldown <= LRScheduler.maxCount else {
            throw DFMError.invalid(
                op, "patience and cooldown must be integers in [0, 2^40], got \(patience) and \(cooldown)")
        }
        guard threshold.isFinite, minLr >= 0, minLr.isFinite, eps >= 0, eps.isFinite else {
            throw DFMError.invalid(op, "threshold, min_lr and eps must be finite (min_lr and eps >= 0)")
        }
        (self.maximize, self.factor, self.patience, self.threshold) = (maximize, factor, patience, threshold)
        (self.relativeThreshold, self.cooldown, self.minLr, self.eps) = (relativeThreshold, cooldown, minLr, eps)
        best = maximize ? -.infinity : .infinity
        try super.init(optimizer)
    }

    private func isBetter(_ a: Double) -> Bool {
        switch (maximize, relativeThreshold) {
        case (false, true): return a < best * (1 - threshold)
        case (false, false): return a < best - threshold
        case (true, true): return a > best * (threshold + 1)
        case (true, false): return a > best + threshold
        }
    }

    /// One epoch with its metric (torch's step(metrics)).
    public func step(metric: Double) {
        lastEpoch += 1
        stepCount += 1
        if isBetter(metric) {
            best = metric
            numBadEpochs = 0
        } else {
            numBadEpochs += 1
        }
        if cooldownCounter > 0 {
            cooldownCounter -= 1
            numBadEpochs = 0
        }
        if numBadEpochs > patience {
            for g in optimizer.paramGroups.indices {
                let old = optimizer.paramGroups[g].lr
                let new = Swift.max(old * factor, minLr)
                if old - new > eps { optimizer.paramGroups[g].lr = new }
            }
            cooldownCounter = cooldown
            numBadEpochs = 0
        }
        lastLr = optimizer.paramGroups.map { $0.lr }
    }

    public override var settings: [String: String] {
        [
            "mode": maximize ? "max" : "min", "factor": fmtDouble(factor), "patience": String(patience),
            "threshold": fmtDouble(threshold), "threshold_mode": relativeThreshold ? "rel" : "abs",
            "cooldown": String(cooldown), "min_lr": fmtDouble(minLr), "eps": fmtDouble(eps), "best": fmtDouble(best),
            "num_bad_epochs": String(numBadEpochs), "cooldown_counter": String(cooldownCounter),
        ]
    }

    public override func setSettings(_ s: [String: String]) throws {
        let op = "ReduceLROnPlateau.load_state_dict"
        func num(_ k: String) throws -> Double { try parseDouble(s, k, op: op) }
        func count(_ k: String) throws -> Int {
            guard let v = Int(s[k] ?? ""), v >= 0, v <= LRScheduler.maxCount else {
                throw DFMError.invalid(op, "\(k) missing, negative or beyond 2^40")
            }
            return v
        }
        guard ["min", "max"].contains(s["mode"] ?? ""), ["rel", "abs"].contains(s["threshold_mode"] ?? "") else {
            throw DFMError.invalid(op, "mode or threshold_mode missing or invalid")
        }
        let f = try num("factor")
        let th = try num("threshold")
        let ml = try num("min_lr")
        let e = try num("eps")
        let b = try num("best")
        let p = try count("patience")
        let cd = try count("cooldown")
        let nb = try count("num_bad_epochs")
        let cc = try count("cooldown_counter")
        guard f >= 0, f < 1 else { throw DFMError.invalid(op, "factor must be in [0, 1), got \(f)") }
        (maximize, relativeThreshold) = (s["mode"] == "max", s["threshold_mode"] == "rel")
        (factor, threshold, minLr, eps, best) = (f, th, ml, e, b)
        (patience, cooldown, numBadEpochs, cooldownCounter) = (p, cd, nb, cc)
    }
}

/// torch.optim.lr_scheduler.OneCycleLR, stepped once per batch: the lr climbs from
/// maxLr/divFactor to maxLr over the first pctStart of `totalSteps`, then anneals to
/// maxLr/divFactor/finalDivFactor (three-phase: down to the start value first). With
/// cycleMomentum the optimizer's momentum (SGD, RMSprop) or beta1 (Adam, AdamW) moves the
/// opposite way between maxMomentum and baseMomentum. Same double arithmetic as torch.
public final class OneCycleLR: LRScheduler {
    public struct Config: Sendable, Equatable {
        public var maxLr: Double
        public var totalSteps: Int
        public var pctStart = 0.3
        public var linear = false
        public var cycleMomentum = true
        public var baseMomentum = 0.85
        public var maxMomentum = 0.95
        public var divFactor = 25.0
        public var finalDivFactor = 1e4
        public var threePhase = false

        public init(maxLr: Double, totalSteps: Int) { (self.maxLr, self.totalSteps) = (maxLr, totalSteps) }

        /// (end step, lr and momentum at the phase's start and end), as torch's _schedule_phases.
        var phases: [(end: Double, lr0: Double, lr1: Double, m0: Double, m1: Double)] {
            let initial = maxLr / divFactor
            let minLr = initial / finalDivFactor
            let t = Double(totalSteps)
            if threePhase {
                return [
                    (pctStart * t - 1, initial, maxLr, maxMomentum, baseMomentum),
                    (2 * pctStart * t - 2, maxLr, initial, baseMomentum, maxMomentum),
                    (t - 1, initial, minLr, maxMomentum, maxMomentum),
                ]
            }
            return [
                (pctStart * t - 1, initial, maxLr, maxMomentum, baseMomentum),
                (t - 1, maxLr, minLr, baseMomentum, maxMomentum),
            ]
        }

        func check(op: String) throws {
            guard totalSteps > 0, totalSteps <= LRScheduler.maxCount else {
                throw DFMError.invalid(op, "Expected positive integer total_steps up to 2^40, but got \(totalSteps)")
            }
            guard pctStart >= 0, pctStart <= 1 else {
                throw DFMError.invalid(op, "Expected float between 0 and 1 pct_start, but got \(pctStart)")
            }
            guard maxLr >= 0, maxLr.isFinite, divFactor > 0, divFactor.isFinite, finalDivFactor > 0,
                finalDivFactor.isFinite,
                baseMomentum.isFinite, maxMomentum.isFinite
            else {
                throw DFMError.invalid(op, "max_lr must be finite and >= 0, div factors finite and > 0, momenta finite")
            }
            var start = 0.0
            for p in phases {  // torch divides by each phase's length
                guard p.end - start != 0 else {
                    throw DFMError.invalid(
                        op, "a phase has zero length (total_steps \(totalSteps), pct_start \(pctStart))")
                }
                start = p.end
            }
        }
    }

    public private(set) var config: Config

    public init(_ optimizer: Optimizer, _ config: Config) throws {
        try config.check(op: "OneCycleLR")
        self.config = config
        for g in optimizer.paramGroups.indices { optimizer.setInitialLr(config.maxLr / config.divFactor, group: g) }
        if config.cycleMomentum { OneCycleLR.setMomentum(config.maxMomentum, of: optimizer) }
        try super.init(optimizer)
    }

    /// Sets the optimizer's momentum (SGD, RMSprop) or beta1 (the Adam family); false if it has neither.
    @discardableResult
    static func setMomentum(_ m: Double, of optimizer: Optimizer) -> Bool {
        switch optimizer {
        case let o as SGD: o.momentum = m
        case let o as RMSprop: o.momentum = m
        case let o as Adam: o.beta1 = m
        case let o as Adamax: o.beta1 = m
        case let o as NAdam: o.beta1 = m
        case let o as RAdam: o.beta1 = m
        default: return false
        }
        return true
    }

    private func anneal(_ start: Double, _ end: Double, _ pct: Double) -> Double {
        config.linear ? (end - start) * pct + start : end + (start - end) / 2.0 * (Foundation.cos(Double.pi * pct) + 1)
    }

    /// True once all `totalSteps` have been taken (torch raises on the step after).
    public var isFinished: Bool { lastEpoch >= config.totalSteps }

    public override func computeLr() -> [Double] {
        guard lastEpoch <= config.totalSteps else { return optimizer.paramGroups.map { $0.lr } }
        let step = Double(lastEpoch)
        let ph = config.phases
        var start = 0.0
        for (i, p) in ph.enumerated() {
            if step <= p.end || i == ph.count - 1 {
                let pct = (step - start) / (p.end - start)
                if config.cycleMomentum { OneCycleLR.setMomentum(anneal(p.m0, p.m1, pct), of: optimizer) }
                return optimizer.paramGroups.map { _ in anneal(p.lr0, p.lr1, pct) }
            }
            start = p.end
        }
        return optimizer.paramGroups.map { $0.lr }  // not reached: the last phase always matches
    }

    public override var settings: [String: String] {
        let c = config
        return [
            "max_lr": fmtDouble(c.maxLr), "total_steps": String(c.totalSteps), "pct_start": fmtDouble(c.pctStart),
            "anneal_strategy": c.linear ? "linear" : "cos", "cycle_momentum": c.cycleMomentum ? "1" : "0",
            "base_momentum": fmtDouble(c.baseMomentum), "max_momentum": fmtDouble(c.maxMomentum),
            "div_factor": fmtDouble(c.divFactor), "final_div_factor": fmtDouble(c.finalDivFactor),
            "three_phase": c.threePhase ? "1" : "0",
        ]
    }

    public override func setSettings(_ s: [String: String]) throws {
        let op = "OneCycleLR.load_state_dict"
        func num(_ k: String) throws -> Double { try parseDouble(s, k, op: op) }
        guard let t = Int(s["total_steps"] ?? ""), ["cos", "linear"].contains(s["anneal_strategy"] ?? "") else {
            throw DFMError.invalid(op, "total_steps or anneal_strategy missing or invalid")
        }
        var c = Config(maxLr: try num("max_lr"), totalSteps: t)
        (c.pctStart, c.linear, c.cycleMomentum) = (
            try num("pct_start"), s["anneal_strategy"] == "linear", s["cycle_momentum"] == "1"
        )
        (c.baseMomentum, c.maxMomentum) = (try num("base_momentum"), try num("max_momentum"))
        (c.divFactor, c.finalDivFactor, c.threePhase) = (
            try num("div_factor"), try num("final_div_factor"), s["three_phase"] == "1"
        )
        try c.check(op: op)
        config = c
    }
}
