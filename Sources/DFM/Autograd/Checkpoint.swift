import Foundation

/// Activation checkpointing (torch.utils.checkpoint) for one piece of a module: the
/// forward runs without recording, so its activations are freed at once; the graph keeps
/// only the inputs and the output. Backward re-runs the piece with recording, from the
/// same random-generator state and with `module`'s buffers (BatchNorm running stats)
/// restored afterwards, and backpropagates through the re-run. Parameters receive their
/// gradients inside that inner backward. `Recompute.isActive` is true during the re-run,
/// so one-off side effects (the StateExpDecay's QR at t = 0) are not repeated.
public func checkpoint(_ module: Module, _ inputs: [Tensor], _ body: @escaping ([Tensor]) throws -> Tensor) throws
    -> Tensor
{
    guard GradMode.isEnabled else { return try body(inputs) }
    let rng = Generator.default.getState()
    let out = try GradMode.noGrad { try body(inputs) }
    // Parameters are inputs of the node only so it is recorded when they alone need grad.
    let params = module.parameters().filter { $0.requiresGrad }
    return record("checkpoint", out, inputs + params) { g in
        let leaves = try inputs.map { t -> Tensor in
            let d = t.detach()
            if t.requiresGrad { try d.requiresGrad() }
            return d
        }
        let buffers = try module.buffers().map { ($0, try $0.clone()) }
        let current = Generator.default.getState()
        try Generator.default.setState(rng)
        defer {
            for (b, saved) in buffers { try? b.copy_(saved) }
            try? Generator.default.setState(current)
        }
        let y = try Recompute.run { try GradMode.withEnabled { try body(leaves) } }
        try y.backward(g)
        return leaves.map { $0.requiresGrad ? $0.grad : nil } + params.map { _ in nil }
    }
}

/// Whether the current thread is re-running a checkpointed piece during backward.
public enum Recompute {
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    public static var isActive: Bool { pthread_getspecific(key) != nil }

    static func run<R>(_ body: () throws -> R) rethrows -> R {
        let prev = pthread_getspecific(key)
        pthread_setspecific(key, UnsafeMutableRawPointer(bitPattern: 1))
        defer { pthread_setspecific(key, prev) }
        return try body()
    }
}

extension GradMode {
    /// Runs `body` with graph recording on (backward rules run with it off).
    static func withEnabled<R>(_ body: () throws -> R) rethrows -> R {
        let prev = isEnabled
        isEnabled = true
        defer { isEnabled = prev }
        return try body()
    }
}
