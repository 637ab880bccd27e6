import Foundation

/// The equilibrium loop shared by every feedback model (docs/MODELS.md §3).
///
/// `step(state, t)` runs one step at step index t (0, 1, ...) and returns the new state.
/// The loop runs `step` up to T-1 times; after each it computes e = Σ|state| (all
/// elements, as a host float) and stops early once |e - e_prev| <= atol (e_prev starts
/// at +inf). Then it runs ONE more step unconditionally. With T == 0 nothing runs.
/// Returns how many steps ran (what upstream reads from `model.T`).
public func runEquilibrium(
    T: Int, atol: Float, state: inout Tensor,
    step: (_ state: Tensor, _ t: Int) throws -> Tensor
) throws -> Int {
    guard T >= 0 else { throw DFMError.invalid("forward", "T must be non-negative, got \(T)") }
    guard !atol.isNaN else { throw DFMError.invalid("forward", "atol must not be NaN") }
    guard T > 0 else { return 0 }
    // The parameters are the same at every step: pruned convs gather their live taps once.
    return try LiveWeightCache.scope {
        var t = 0
        var ePrev = Double.infinity
        for _ in 0..<(T - 1) {
            state = try step(state, t)
            t += 1
            let e = Double(try GradMode.noGrad { try sum(try abs(state)) }.item())
            if Swift.abs(e - ePrev) <= Double(atol) { break }
            ePrev = e
        }
        state = try step(state, t)
        return t + 1
    }
}

/// The initial state of a feedback model: N(0, std²) (from the global generator, drawn in
/// float32 whatever `dtype`, so a model gives the same draws in either precision), or zeros
/// when std is 0.
public func initialFeedbackState(_ shape: [Int], std: Float, dtype: DType = .float32) throws -> Tensor {
    guard std.isFinite, std >= 0 else {
        throw DFMError.invalid("forward", "state_init_std must be finite and non-negative, got \(std)")
    }
    if std == 0 { return try Tensor.zeros(shape, dtype: dtype) }
    return try GradMode.noGrad { try toDType(try mul(try randn(shape), Double(std)), dtype) }
}

/// Per-step BatchNorm statistics for a feedback model's backbone (dfm's option, off by
/// default): every BatchNorm2d that runs once per step gets `sets` sets of running
/// statistics, and step t trains and evaluates with set min(t, S - 1) (in eval, with the last
/// trained set for steps beyond the trained T; BatchNorm2d.statisticSet). Off, the model is
/// exactly the published one.
public struct StepBatchNorms {
    public private(set) var sets = 0
    let norms: [BatchNorm2d]

    /// The BatchNorms inside `loop` (each once, in module order) that are not in `once`.
    init(loop: [Module], once: [Module]) {
        let skip = Set(once.flatMap { $0.modules() }.map { ObjectIdentifier($0) })
        var seen = Set<ObjectIdentifier>()
        var out: [BatchNorm2d] = []
        for m in loop.flatMap({ $0.modules() }) {
            if let bn = m as? BatchNorm2d, !skip.contains(ObjectIdentifier(bn)),
                seen.insert(ObjectIdentifier(bn)).inserted
            {
                out.append(bn)
            }
        }
        norms = out
    }

    mutating func enable(_ sets: Int, _ op: String) throws {
        guard sets >= 1, sets <= 1000 else {
            throw DFMError.invalid(op, "bn_per_step sets must be in 1...1000, got \(sets)")
        }
        guard self.sets == 0 || self.sets == sets else {
            throw DFMError.state(op, "per-step BatchNorm statistics are already enabled with \(self.sets) sets")
        }
        for bn in norms { try bn.enableStepStatistics(sets) }
        self.sets = sets
    }

    /// Called at the start of step t.
    func enter(step t: Int) { if sets > 0 { for bn in norms { bn.step = t } } }

    /// Eval with the per-step sets (true) or the shared running statistics (false).
    func useSteps(_ on: Bool) { for bn in norms { bn.useStepStatistics = on } }
}
