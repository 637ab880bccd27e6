import Foundation

/// The DFM stabiliser (docs/MODELS.md §2): over the channels of x (B, C, H, W),
///     out = x·Qᵀ·diag(exp(t·T·Δ))·Q,   Δ = -(1/τ)·|S|^α.
/// Parameters (state_dict keys): `tau`, `T`, `alpha` (0-dim, frozen), `S` (C, frozen, ones),
/// `Q` (C×C, trainable, orthogonal) and `Qinv` (C×C, trainable, orthogonal, unused in forward:
/// kept so checkpoints keep the published keys).
///
/// As the published custom autograd function, the decay passes grad·exp(t·Δ) back to its
/// input and nothing to S, T, α, τ; Q gets its gradient through the two matrix products.
/// In training, at t = 0, Q is first replaced in place by the Q factor of its own complete
/// QR decomposition (LAPACK sgeqrf + sorgqr, no sign correction), as upstream does.
public final class StateExpDecay: Module {
    public let channels: Int
    public let tau: Tensor
    public let T: Tensor
    public let alpha: Tensor
    public let S: Tensor
    public let Q: Tensor
    public let Qinv: Tensor

    public init(channels: Int, tau: Double = 1.0) throws {
        let op = "StateExpDecay"
        guard channels > 0 else { throw DFMError.invalid(op, "channels must be positive, got \(channels)") }
        guard tau.isFinite, tau != 0 else { throw DFMError.invalid(op, "tau must be finite and non-zero, got \(tau)") }
        self.channels = channels
        self.tau = Tensor.scalar(tau)
        T = Tensor.scalar(1)
        alpha = Tensor.scalar(1)
        S = try Tensor.ones([channels])
        Q = try Tensor.zeros([channels, channels])
        Qinv = try Tensor.zeros([channels, channels])
        super.init()
        try registerParameter("tau", self.tau, requiresGrad: false)
        try registerParameter("T", T, requiresGrad: false)
        try registerParameter("alpha", alpha, requiresGrad: false)
        try registerParameter("S", S, requiresGrad: false)
        try registerParameter("Q", Q)
        try registerParameter("Qinv", Qinv)
        try Init.orthogonal_(Q)
        try Init.orthogonal_(Qinv)
    }

    public override var extraRepr: String { "\(channels), tau=\(tau.toDoubleArray()[0])" }

    /// Without a step index the decay is the identity map through Q (t = 0).
    public override func forward(_ x: Tensor) throws -> Tensor { try forward(x, t: 0) }

    public func forward(_ x: Tensor, t: Int) throws -> Tensor {
        guard x.ndim == 4, x.shape[1] == channels else {
            throw DFMError.shape("StateExpDecay", "expected input (B, \(channels), H, W), got shape \(x.shape)")
        }
        return try permute(try forward(channelsLast: try permute(x, [0, 2, 3, 1]), t: t), [0, 3, 1, 2])
    }

    /// The decay over the last dim of x (*, C): channels-last input such as tokens (B, N, C).
    public func forward(channelsLast x: Tensor, t: Int) throws -> Tensor {
        let op = "StateExpDecay"
        guard x.dtype == Q.dtype else {
            throw DFMError.type(op, "expected a \(Q.dtype) input like the module, got \(x.dtype)")
        }
        guard x.ndim >= 1, x.shape[x.ndim - 1] == channels else {
            throw DFMError.shape(op, "expected channels-last input (*, \(channels)), got shape \(x.shape)")
        }
        guard t >= 0 else { throw DFMError.invalid(op, "step index t must be non-negative, got \(t)") }
        // Re-orthogonalise once per forward; not again when checkpointing re-runs the step.
        if training && t == 0 && !Recompute.isActive {
            let q = try GradMode.noGrad { try qr(Q, mode: "complete").q }
            try Q.copy_(q)
        }
        // Per-channel factors in the module's precision, in PyTorch's order: Δ = -(1/τ)·|S|^α,
        // forward exp((t·T)·Δ), backward exp(t·Δ).
        let c = channels
        func factors<R: Real>(_: R.Type) throws -> (Tensor, Tensor) {
            let fwd = try Tensor.uninitialized([c], dtype: R.dtype, op: op)
            let bwd = try Tensor.uninitialized([c], dtype: R.dtype, op: op)
            let negInvTau = -(1 / tau.p(R.self)[0])
            let tt = R(t)
            let tT = tt * T.p(R.self)[0]
            let a = alpha.p(R.self)[0]
            let sp = S.p(R.self)
            let fp = fwd.p(R.self)
            let bp = bwd.p(R.self)
            for k in 0..<c {
                let delta = negInvTau * R.pow(Swift.abs(sp[k]), a)
                fp[k] = R.exp(tT * delta)
                bp[k] = R.exp(tt * delta)
            }
            return (fwd, bwd)
        }
        let (fwd, bwd) = Q.dtype == .float64 ? try factors(Double.self) : try factors(Float.self)
        // x·Qᵀ as linear (sgemm with Q transposed in place) rather than matmul on a transposed copy.
        let z = try linear(x, Q)
        let decayed = try GradMode.noGrad { try mul(z, fwd) }
        let zd = record("exp_decay", decayed.detach(), [z]) { g in [try mul(g, bwd)] }
        return try matmul(zd, Q)
    }
}
