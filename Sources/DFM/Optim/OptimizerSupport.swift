import Foundation

// Shared pieces of the single-tensor optimizers: state buffers, the float32 step count,
// hyperparameter checks and torch's lerp.

extension Optimizer {
    /// The state tensor `name`, created in `p`'s shape and dtype, filled with `value`, on first use.
    func buffer(_ state: inout [String: Tensor], _ name: String, like p: Tensor, value: Double = 0) throws -> Tensor {
        if let t = state[name] { return t }
        let t = try Tensor.full(p.shape, value, dtype: p.dtype)
        state[name] = t
        return t
    }

    /// A float32 0-d state value (torch keeps step, eta, mu, mu_product as float32 scalars
    /// for float32 and float64 parameters alike), created holding `initial`.
    func scalarState(_ state: inout [String: Tensor], _ name: String, initial: Double) -> Tensor {
        if let t = state[name] { return t }
        let t = Tensor.scalar(initial, dtype: .float32)
        state[name] = t
        return t
    }

    /// `step += 1` on the float32 count; returns the new count as Python reads it (a double).
    func advanceStep(_ state: inout [String: Tensor]) -> Double {
        let t = scalarState(&state, "step", initial: 0)
        t.f[0] += 1
        return Double(t.f[0])
    }
}

/// Throws torch's message for a hyperparameter outside its range (NaN fails every check).
func requireHyper(_ ok: Bool, _ op: String, _ message: @autoclosure () -> String) throws {
    guard ok else { throw DFMError.invalid(op, message()) }
}

func fmtBool(_ b: Bool) -> String { b ? "1" : "0" }

/// torch's lerp(a, b, w) = a + w·(b - a), computed from the nearer end (as its CPU kernel
/// does, with a fused multiply-add) so that weights above 0.5 round the same way.
@inline(__always)
func torchLerp<S: Real>(_ a: S, _ b: S, _ w: S) -> S {
    let diff = b - a
    return Swift.abs(w) < 0.5 ? a.addingProduct(w, diff) : b.addingProduct(w - 1, diff)
}

/// torch.maximum: NaN if either side is NaN.
@inline(__always)
func nanMax<S: Real>(_ a: S, _ b: S) -> S { (a.isNaN || b.isNaN) ? S.nan : Swift.max(a, b) }
