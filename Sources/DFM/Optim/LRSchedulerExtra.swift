import Foundation

// The rest of torch.optim.lr_scheduler, with torch's (chainable) double arithmetic.

/// torch.optim.lr_scheduler.LambdaLR: lr = base_lr · λ(epoch). The multiplier is a closure
/// (from C a function pointer, from Python a callback); a failing callback is reported by
/// `failure` (the lr is left as it was), since `step()` itself cannot throw.
public final class LambdaLR: LRScheduler {
    /// Returns the multiplier for an epoch, or throws.
    public typealias Multiplier = (Int) throws -> Double
    let lambda: Multiplier
    /// The first error a multiplier threw since the last `takeFailure()`.
    public private(set) var failure: Error?
    /// MultiplicativeLR: multiply the current lr by λ(epoch) instead of setting base_lr · λ(epoch).
    let multiplicative: Bool

    public init(_ optimizer: Optimizer, multiplicative: Bool = false, _ lambda: @escaping Multiplier) throws {
        self.lambda = lambda
        self.multiplicative = multiplicative
        try super.init(optimizer)
        if let e = takeFailure() { throw e }
    }

    public override var typeName: String { multiplicative ? "MultiplicativeLR" : "LambdaLR" }

    /// Returns and clears the recorded callback failure.
    public func takeFailure() -> Error? {
        defer { failure = nil }
        return failure
    }

    public override func computeLr() -> [Double] {
        let groups = optimizer.paramGroups
        if multiplicative && isInitial { return groups.map { $0.lr } }
        do {
            let f = try lambda(lastEpoch)
            guard f.isFinite else {
                throw DFMError.invalid(typeName, "the lr lambda returned \(f) at epoch \(lastEpoch)")
            }
            return multiplicative ? groups.map { $0.lr * f } : baseLrs.map { $0 * f }
        } catch {
            if failure == nil { failure = error }
            return groups.map { $0.lr }
        }
    }
}

/// torch.optim.lr_scheduler.ConstantLR: lr × factor until epoch `totalIters`, then back.
public final class ConstantLR: LRScheduler {
    public private(set) var factor: Double
    public private(set) var totalIters: Int

    public init(_ optimizer: Optimizer, factor: Double = 1.0 / 3, totalIters: Int = 5) throws {
        try ConstantLR.check(factor, totalIters, op: "ConstantLR")
        (self.factor, self.totalIters) = (factor, totalIters)
        try super.init(optimizer)
    }

    private static func check(_ factor: Double, _ totalIters: Int, op: String) throws {
        try requireHyper(
            factor >= 0 && factor <= 1, op,
            "Constant multiplicative factor expected to be between 0 and 1, got \(factor)")
        try requireHyper(
            totalIters >= 0 && totalIters <= LRScheduler.maxCount, op,
            "total_iters must be in [0, 2^40], got \(totalIters)")
    }

    public override func computeLr() -> [Double] {
        let groups = optimizer.paramGroups
        if lastEpoch == 0 { return groups.map { $0.lr * factor } }
        if lastEpoch != totalIters { return groups.map { $0.lr } }
        return groups.map { $0.lr * (1.0 / factor) }
    }

    public override func closedFormLr() -> [Double]? {
        baseLrs.map { $0 * (factor + (lastEpoch >= totalIters ? 1 : 0) * (1 - factor)) }
    }

    public override var settings: [String: String] { ["factor": fmtDouble(factor), "total_iters": String(totalIters)] }

    public override func setSettings(_ s: [String: String]) throws {
        let op = "ConstantLR.load_state_dict"
        let f = try parseDouble(s, "factor", op: op)
        guard let t = Int(s["total_iters"] ?? "") else { throw DFMError.invalid(op, "total_iters missing or invalid") }
        try ConstantLR.check(f, t, op: op)
        (factor, totalIters) = (f, t)
    }
}

/// torch.optim.lr_scheduler.LinearLR: the factor moves linearly from `startFactor` to
/// `endFactor` over `totalIters` epochs (torch's chainable ratio form).
public final class LinearLR: LRScheduler {
    public private(set) var startFactor: Double
    public private(set) var endFactor: Double
    public private(set) var totalIters: Int

    public init(_ optimizer: Optimizer, startFactor: Double = 1.0 / 3, endFactor: Double = 1, totalIters: Int = 5)
        throws
    {
        try LinearLR.check(startFactor, endFactor, totalIters, op: "LinearLR")
        (self.startFactor, self.endFactor, self.totalIters) = (startFactor, endFactor, totalIters)
        try super.init(optimizer)
    }

    private static func check(_ s: Double, _ e: Double, _ t: Int, op: String) throws {
        try requireHyper(
            s > 0 && s <= 1, op,
            "Starting multiplicative factor expected to be greater than 0 and less or equal to 1, got \(s)")
        try requireHyper(e >= 0 && e <= 1, op, "Ending multiplicative factor expected to be between 0 and 1, got \(e)")
        try requireHyper(
            t > 0 && t <= LRScheduler.maxCount, op, "total_iters must be a positive integer up to 2^40, got \(t)")
    }

    public override func computeLr() -> [Double] {
        let groups = optimizer.paramGroups
        if lastEpoch == 0 { return groups.map { $0.lr * startFactor } }
        if isInitial || lastEpoch > totalIters { return groups.map { $0.lr } }
        let ratio =
            1.0 + (endFactor - startFactor)
            / (Double(totalIters) * startFactor + Double(lastEpoch - 1) * (endFactor - startFactor))
        return groups.map { $0.lr * ratio }
    }

    public override func closedFormLr() -> [Double]? {
        baseLrs.map {
            $0
                * (startFactor + (endFactor - startFactor) * Double(Swift.min(totalIters, lastEpoch))
                    / Double(totalIters))
        }
    }

    public override var settings: [String: String] {
        ["start_factor": fmtDouble(startFactor), "end_factor": fmtDouble(endFactor), "total_iters": String(totalIters)]
    }

    public override func setSettings(_ s: [String: String]) throws {
        let op = "LinearLR.load_state_dict"
        let a = try parseDouble(s, "start_factor", op: op)
        let b = try parseDouble(s, "end_factor", op: op)
        guard let t = Int(s["total_iters"] ?? "") else { throw DFMError.invalid(op, "total_iters missing or invalid") }
        try LinearLR.check(a, b, t, op: op)
        (startFactor, endFactor, totalIters) = (a, b, t)
    }
}

/// torch.optim.lr_scheduler.PolynomialLR: lr · (1 - t/T)^power up to T = totalIters.
public final class PolynomialLR: LRScheduler {
    public private(set) var totalIters: Int
    public private(set) var power: Double

    public init(_ optimizer: Optimizer, totalIters: Int = 5, power: Double = 1) throws {
        try PolynomialLR.check(totalIters, power, op: "PolynomialLR")
        (self.totalIters, self.power) = (totalIters, power)
        try super.init(optimizer)
    }

    private static func check(_ t: Int, _ p: Double, op: String) throws {
        try requireHyper(
            t > 0 && t <= LRScheduler.maxCount, op, "total_iters must be a positive integer up to 2^40, got \(t)")
        try requireHyper(p.isFinite, op, "power must be finite, got \(p)")
    }

    public override func computeLr() -> [Double] {
        let groups = optimizer.paramGroups
        if isInitial || lastEpoch > totalIters { return groups.map { $0.lr } }
        let t = Double(totalIters)
        let e = Double(lastEpoch)
        let decay = Foundation.pow((1.0 - e / t) / (1.0 - (e - 1) / t), power)
        return groups.map { $0.lr * decay }
    }

    public override func closedFormLr() -> [Double]? {
        baseLrs.map { $0 * Foundation.pow(1.0 - Double(Swift.min(totalIters, lastEpoch)) / Double(totalIters), power) }
    }

    public override var settings: [String: String] { ["total_iters": String(totalIters), "power": fmtDouble(power)] }

    public override func setSettings(_ s: [String: String]) throws {
        let op = "PolynomialLR.load_state_dict"
        let p = try parseDouble(s, "power", op: op)
        guard let t = Int(s["total_iters"] ?? "") else { throw DFMError.invalid(op, "total_iters missing or invalid") }
        try PolynomialLR.check(t, p, op: op)
        (totalIters, power) = (t, p)
    }
}

/// torch.optim.lr_scheduler.CosineAnnealingWarmRestarts: cosine from base_lr to eta_min
/// over T_i epochs, restarting with T_{i+1} = T_i·T_mult. `step(epoch:)` takes fractional
/// epochs (torch's `step(epoch + i / iters)`).
public final class CosineAnnealingWarmRestarts: LRScheduler {
    public private(set) var t0: Int
    public private(set) var tMult: Int
    public private(set) var etaMin: Double
    public private(set) var tI: Int
    public private(set) var tCur: Double

    public init(_ optimizer: Optimizer, t0: Int, tMult: Int = 1, etaMin: Double = 0) throws {
        try CosineAnnealingWarmRestarts.check(t0, tMult, etaMin, op: "CosineAnnealingWarmRestarts")
        (self.t0, self.tMult, self.etaMin, tI, tCur) = (t0, tMult, etaMin, t0, -1)
        try super.init(optimizer)
    }

    private static func check(_ t0: Int, _ tMult: Int, _ etaMin: Double, op: String) throws {
        try requireHyper(
            t0 > 0 && t0 <= LRScheduler.maxCount, op, "Expected positive integer T_0 up to 2^40, but got \(t0)")
        try requireHyper(
            tMult >= 1 && tMult <= 1 << 20, op, "Expected integer T_mult >= 1 (up to 2^20), but got \(tMult)")
        try requireHyper(etaMin.isFinite, op, "eta_min must be finite, got \(etaMin)")
    }

    public override func computeLr() -> [Double] {
        baseLrs.map { etaMin + ($0 - etaMin) * (1 + Foundation.cos(Double.pi * tCur / Double(tI))) / 2 }
    }

    /// One epoch on (torch's step() without an epoch).
    public override func step() {
        if lastEpoch < 0 {
            step(epoch: 0)
            return
        }
        tCur += 1
        if tCur >= Double(tI) {
            tCur = tCur.truncatingRemainder(dividingBy: Double(tI))  // Python's % on non-negatives
            // T_i grows geometrically; it stays below the epoch limit (beyond it the period no longer matters).
            tI = tI <= LRScheduler.maxCount / tMult ? tI * tMult : tI
        }
        finish(epoch: Double(lastEpoch + 1))
    }

    /// torch's step(epoch): jumps to a (possibly fractional) epoch >= 0.
    public func step(epoch: Double) {
        if epoch >= Double(t0) {
            if tMult == 1 {
                tCur = epoch.truncatingRemainder(dividingBy: Double(t0))
            } else {
                let m = Double(tMult)
                let n = Int(Foundation.log(epoch / Double(t0) * (m - 1) + 1) / Foundation.log(m))
                tCur = epoch - Double(t0) * (Foundation.pow(m, Double(n)) - 1) / (m - 1)
                tI = Int(Double(t0) * Foundation.pow(m, Double(n)))
            }
        } else {
            tI = t0
            tCur = epoch
        }
        finish(epoch: epoch)
    }

    private func finish(epoch: Double) {
        lastEpoch = Int(epoch.rounded(.down))
        apply(computeLr())
    }

    public override var settings: [String: String] {
        [
            "T_0": String(t0), "T_mult": String(tMult), "eta_min": fmtDouble(etaMin), "T_i": String(tI),
            "T_cur": fmtDouble(tCur),
        ]
    }

    public override func setSettings(_ s: [String: String]) throws {
        let op = "CosineAnnealingWarmRestarts.load_state_dict"
        let e = try parseDouble(s, "eta_min", op: op)
        let c = try parseDouble(s, "T_cur", op: op)
        guard let a = Int(s["T_0"] ?? ""), let m = Int(s["T_mult"] ?? ""), let i = Int(s["T_i"] ?? ""),
            i > 0, i <= LRScheduler.maxCount, c.isFinite, c >= -1
        else {
            throw DFMError.invalid(op, "T_0, T_mult, T_i or T_cur missing or invalid")
        }
        try CosineAnnealingWarmRestarts.check(a, m, e, op: op)
        (t0, tMult, etaMin, tI, tCur) = (a, m, e, i, c)
    }
}

/// torch.optim.lr_scheduler.CyclicLR: the lr cycles between baseLr and maxLr (triangular,
/// triangular2 or exp_range), stepped per batch; with cycleMomentum the optimizer's momentum
/// or beta1 cycles the other way between maxMomentum and baseMomentum.
public final class CyclicLR: LRScheduler {
    public enum Mode: String, Sendable {
        case triangular, triangular2
        case expRange = "exp_range"
    }
    public struct Config: Sendable, Equatable {
        public var baseLr: Double
        public var maxLr: Double
        public var stepSizeUp = 2000
        public var stepSizeDown: Int? = nil
        public var mode = Mode.triangular
        public var gamma = 1.0
        public var cycleMomentum = true
        public var baseMomentum = 0.8
        public var maxMomentum = 0.9

        public init(baseLr: Double, maxLr: Double) { (self.baseLr, self.maxLr) = (baseLr, maxLr) }

        var totalSize: Double { Double(stepSizeUp) + Double(stepSizeDown ?? stepSizeUp) }
        var stepRatio: Double { Double(stepSizeUp) / totalSize }

        func check(op: String) throws {
            try requireHyper(
                baseLr >= 0 && baseLr.isFinite && maxLr >= 0 && maxLr.isFinite, op,
                "base_lr and max_lr must be finite and >= 0, got \(baseLr) and \(maxLr)")
            let down = stepSizeDown ?? stepSizeUp
            try requireHyper(
                stepSizeUp >= 0 && down >= 0 && stepSizeUp + down > 0 && stepSizeUp <= LRScheduler.maxCount
                    && down <= LRScheduler.maxCount, op,
                "step_size_up and step_size_down must be >= 0 (up to 2^40) with a positive sum, got \(stepSizeUp) and \(down)"
            )
            try requireHyper(
                gamma.isFinite && baseMomentum.isFinite && maxMomentum.isFinite, op,
                "gamma and the momenta must be finite")
        }
    }

    public private(set) var config: Config

    public init(_ optimizer: Optimizer, _ config: Config) throws {
        try config.check(op: "CyclicLR")
        if config.cycleMomentum {
            guard OneCycleLR.setMomentum(config.maxMomentum, of: optimizer) else {
                throw DFMError.invalid(
                    "CyclicLR", "optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
            }
        }
        self.config = config
        for g in optimizer.paramGroups.indices { optimizer.paramGroups[g].lr = config.baseLr }
        try super.init(optimizer)
        baseLrs = optimizer.paramGroups.map { _ in config.baseLr }
    }

    private func scale(_ x: Double) -> Double {
        switch config.mode {
        case .triangular: return 1.0
        case .triangular2: return 1 / Foundation.pow(2.0, x - 1)
        case .expRange: return Foundation.pow(config.gamma, x)
        }
    }

    public override func computeLr() -> [Double] {
        let c = config
        let total = c.totalSize
        let ratio = c.stepRatio
        let e = Double(lastEpoch)
        let cycle = Foundation.floor(1 + e / total)
        let x = 1.0 + e / total - cycle
        let factor = x <= ratio ? x / ratio : (x - 1) / (ratio - 1)
        let s = scale(c.mode == .expRange ? e : cycle)  // exp_range scales by iterations, the others by cycle
        if c.cycleMomentum {
            OneCycleLR.setMomentum(c.maxMomentum - (c.maxMomentum - c.baseMomentum) * factor * s, of: optimizer)
        }
        return baseLrs.map { $0 + (c.maxLr - $0) * factor * s }
    }

    public override var settings: [String: String] {
        let c = config
        return [
            "base_lr": fmtDouble(c.baseLr), "max_lr": fmtDouble(c.maxLr), "step_size_up": String(c.stepSizeUp),
            "step_size_down": String(c.stepSizeDown ?? c.stepSizeUp), "mode": c.mode.rawValue,
            "gamma": fmtDouble(c.gamma),
            "cycle_momentum": fmtBool(c.cycleMomentum), "base_momentum": fmtDouble(c.baseMomentum),
            "max_momentum": fmtDouble(c.maxMomentum),
        ]
    }

    public override func setSettings(_ s: [String: String]) throws {
        let op = "CyclicLR.load_state_dict"
        var c = Config(baseLr: try parseDouble(s, "base_lr", op: op), maxLr: try parseDouble(s, "max_lr", op: op))
        guard let up = Int(s["step_size_up"] ?? ""), let down = Int(s["step_size_down"] ?? ""),
            let mode = Mode(rawValue: s["mode"] ?? "")
        else {
            throw DFMError.invalid(op, "step_size_up, step_size_down or mode missing or invalid")
        }
        (c.stepSizeUp, c.stepSizeDown, c.mode, c.gamma) = (up, down, mode, try parseDouble(s, "gamma", op: op))
        (c.cycleMomentum, c.baseMomentum, c.maxMomentum) = (
            s["cycle_momentum"] == "1", try parseDouble(s, "base_momentum", op: op),
            try parseDouble(s, "max_momentum", op: op)
        )
        try c.check(op: op)
        config = c
    }
}

/// Checks the schedulers a composite drives: at least one, none a ReduceLROnPlateau, all on `optimizer`.
private func checkChildren(_ schedulers: [LRScheduler], _ optimizer: Optimizer, op: String) throws {
    guard !schedulers.isEmpty else { throw DFMError.invalid(op, "\(op) expects at least one scheduler") }
    for (i, s) in schedulers.enumerated() {
        guard !(s is ReduceLROnPlateau) else {
            throw DFMError.invalid(
                op,
                "\(op) does not support `ReduceLROnPlateau` scheduler as it requires additional kwargs to be specified when calling `step`, but got one at index \(i) in the given schedulers sequence."
            )
        }
        guard s.optimizer === optimizer else {
            throw DFMError.invalid(
                op,
                "\(op) expects all schedulers to belong to the same optimizer, but got scheduler at index \(i) with a different optimizer"
            )
        }
    }
}

/// Children's state dicts under `scheduler.<i>.` keys.
private func childSettings(_ schedulers: [LRScheduler]) -> [String: String] {
    var d: [String: String] = [:]
    for (i, s) in schedulers.enumerated() { for (k, v) in s.stateDict() { d["scheduler.\(i).\(k)"] = v } }
    return d
}

private func loadChildren(_ schedulers: [LRScheduler], _ s: [String: String]) throws {
    for (i, child) in schedulers.enumerated() {
        var d: [String: String] = [:]
        let prefix = "scheduler.\(i)."
        for (k, v) in s where k.hasPrefix(prefix) { d[String(k.dropFirst(prefix.count))] = v }
        try child.loadStateDict(d)
    }
}

/// torch.optim.lr_scheduler.SequentialLR: runs schedulers[i] from milestone i-1 on (each
/// restarted at its milestone with epoch 0), built from already constructed schedulers as
/// in torch (their construction steps are undone).
public final class SequentialLR: LRScheduler {
    public let schedulers: [LRScheduler]
    public let milestones: [Int]

    public init(_ optimizer: Optimizer, schedulers: [LRScheduler], milestones: [Int]) throws {
        let op = "SequentialLR"
        try checkChildren(schedulers, optimizer, op: op)
        guard milestones.count == schedulers.count - 1 else {
            throw DFMError.invalid(
                op,
                "Sequential Schedulers expects number of schedulers provided to be one more than the number of milestone points, but got number of schedulers \(schedulers.count) and the number of milestones to be equal to \(milestones.count)"
            )
        }
        guard milestones.allSatisfy({ $0 >= 0 && $0 <= LRScheduler.maxCount }) else {
            throw DFMError.invalid(op, "milestones must be integers in [0, 2^40], got \(milestones)")
        }
        (self.schedulers, self.milestones) = (schedulers, milestones)
        super.init(driving: optimizer)
        for g in optimizer.paramGroups.indices {
            optimizer.paramGroups[g].lr = optimizer.paramGroups[g].initialLr ?? optimizer.paramGroups[g].lr
        }
        for s in schedulers { SequentialLR.undo(s) }
        let idx = milestones.filter { $0 <= 0 }.count
        schedulers[idx].initialStep()
        lastLr = schedulers[idx].lastLr
    }

    /// torch's recursive_undo: takes back the construction step of every (nested) scheduler.
    private static func undo(_ s: LRScheduler) {
        if let seq = s as? SequentialLR {
            seq.schedulers.forEach(undo)
        } else if let ch = s as? ChainedScheduler {
            ch.schedulers.forEach(undo)
        } else {
            s.lastEpoch -= 1
        }
    }

    public override func step() {
        lastEpoch += 1
        stepCount += 1
        let idx = milestones.filter { $0 <= lastEpoch }.count
        let s = schedulers[idx]
        if idx > 0 && milestones[idx - 1] == lastEpoch { s.jump(toEpoch: 0) } else { s.step() }
        lastLr = s.lastLr
    }

    public override var settings: [String: String] {
        childSettings(schedulers).merging(["milestones": milestones.map(String.init).joined(separator: ",")]) { a, _ in
            a
        }
    }

    public override func setSettings(_ s: [String: String]) throws {
        guard s["milestones"] == milestones.map(String.init).joined(separator: ",") else {
            throw DFMError.invalid(
                "SequentialLR.load_state_dict", "the saved milestones differ from this scheduler's \(milestones)")
        }
        try loadChildren(schedulers, s)
    }
}

/// torch.optim.lr_scheduler.ChainedScheduler: each step() steps every scheduler in order.
public final class ChainedScheduler: LRScheduler {
    public let schedulers: [LRScheduler]

    public init(_ schedulers: [LRScheduler], optimizer: Optimizer? = nil) throws {
        guard let opt = optimizer ?? schedulers.first?.optimizer else {
            throw DFMError.invalid("ChainedScheduler", "ChainedScheduler expects at least one scheduler")
        }
        try checkChildren(schedulers, opt, op: "ChainedScheduler")
        self.schedulers = schedulers
        super.init(driving: opt)
    }

    public override func step() {
        lastEpoch += 1
        stepCount += 1
        for s in schedulers { s.step() }
        lastLr = optimizer.paramGroups.map { $0.lr }
    }

    public override var settings: [String: String] { childSettings(schedulers) }

    public override func setSettings(_ s: [String: String]) throws { try loadChildren(schedulers, s) }
}
