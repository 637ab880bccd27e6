import CDFM
import DFM

// Optimizer and scheduler state dicts as dfm_tensor_dict (in memory; the *_save / *_load
// exports write the same content to a safetensors file).

@c @implementation public func dfm_optimizer_state_dict(
    _ o: dfm_optimizer?, _ out: UnsafeMutablePointer<dfm_tensor_dict?>?
) -> dfm_status {
    produce("dfm_optimizer_state_dict", out, .tensorDict) {
        let s = try Arg.optimizer(o, "o").stateDict()
        // Sorted keys: the same state gives the same dict order on every run.
        return TensorDict(s.tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, metadata: s.metadata)
    }
}

@c @implementation public func dfm_optimizer_load_state_dict(_ o: dfm_optimizer?, _ state: dfm_tensor_dict?)
    -> dfm_status
{
    guarded("dfm_optimizer_load_state_dict") {
        let opt = try Arg.optimizer(o, "o")
        let d = try Arg.dict(state, "state")
        try opt.loadStateDict(
            OptimizerState(tensors: Dictionary(uniqueKeysWithValues: d.entries), metadata: d.metadata))
    }
}

@c @implementation public func dfm_scheduler_state_dict(
    _ s: dfm_scheduler?, _ out: UnsafeMutablePointer<dfm_tensor_dict?>?
) -> dfm_status {
    produce("dfm_scheduler_state_dict", out, .tensorDict) {
        TensorDict([], metadata: try Arg.scheduler(s, "s").stateDict())
    }
}

@c @implementation public func dfm_scheduler_load_state_dict(_ s: dfm_scheduler?, _ state: dfm_tensor_dict?)
    -> dfm_status
{
    guarded("dfm_scheduler_load_state_dict") {
        let sched = try Arg.scheduler(s, "s")
        let d = try Arg.dict(state, "state")
        guard d.keys.isEmpty else {
            throw ABIError(.invalidArgument, "a scheduler's state dict holds metadata only, got tensor '\(d.keys[0])'")
        }
        try checkSchedulerCounters(d.metadata, source: "state")
        try sched.loadStateDict(d.metadata)
    }
}

/// Counters and periods from a file or a caller's dict feed the schedulers' epoch
/// arithmetic: they are bounded before anything is restored.
func checkSchedulerCounters(_ meta: [String: String], source: String) throws {
    for key in ["last_epoch", "_step_count", "step_size", "T_max"] {
        guard let text = meta[key] else { continue }
        guard let v = Int64(text), v >= -1, v <= Arg.maxEpochs else {
            throw ABIError(
                .invalidArgument, "'\(source)': \(key) = '\(text)' is not an integer in -1...\(Arg.maxEpochs)")
        }
    }
}
