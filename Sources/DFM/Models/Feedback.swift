import Foundation

/// The equilibrium loop shared by every feedback model (docs/MODELS.md §3).
///
/// `step(state, t)` runs one step at step index t (0, 1, ...) and returns the new state.
/// The loop runs `step` up to T-1 times; after each it computes e = Σ|state| (all
/// elements, as a host float) and stops early once |e - e_prev| <= atol (e_prev starts
/// at +inf). Then it runs ONE more step unconditionally. With T == 0 nothing runs.
/// Returns how many steps ran (what upstream reads from `model.T`).
public func runEquilibrium(T: Int, atol: Float, state: inout Tensor,
                           step: (_ state: Tensor, _ t: Int) throws -> Tensor) throws -> Int {
    guard T >= 0 else { throw DFMError.invalid("forward", "T must be non-negative, got \(T)") }
    guard !atol.isNaN else { throw DFMError.invalid("forward", "atol must not be NaN") }
    guard T > 0 else { return 0 }
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
