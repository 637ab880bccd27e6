import Foundation

/// One parameter group: its tensors plus the settings a group may override.
public struct ParamGroup {
    public var params: [Tensor]
    public var lr: Double
    public var weightDecay: Double
    /// The lr a scheduler started from (torch's group["initial_lr"]); set by the first scheduler.
    public var initialLr: Double?
}

/// An optimizer's state as tensors plus string metadata, so it fits in a safetensors
/// file (alone, or next to a model's tensors under a prefix).
/// Tensors: `state.<i>.<name>` for parameter i (numbered across groups, as torch does).
/// Metadata: `optimizer`, `param_groups`, `param_groups.<g>.{params,lr,weight_decay,initial_lr}`
/// and `hyper.<name>` for the optimizer-wide settings.
public struct OptimizerState {
    public var tensors: [String: Tensor]
    public var metadata: [String: String]

    public init(tensors: [String: Tensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }
}

/// Doubles round-trip exactly through Swift's shortest representation.
func fmtDouble(_ v: Double) -> String { "\(v)" }

func parseDouble(_ meta: [String: String], _ key: String, op: String) throws -> Double {
    guard let s = meta[key], let v = Double(s) else {
        throw DFMError.invalid(
            op,
            "state dict metadata '\(key)' is missing or not a number (got \(meta[key].map { "'\($0)'" } ?? "nothing"))")
    }
    return v
}

/// torch.optim.Optimizer: parameter groups, per-parameter state, `step()` over the
/// parameters that have a gradient, `zeroGrad()` (set to none) and state save/restore.
open class Optimizer {
    public internal(set) var paramGroups: [ParamGroup] = []
    /// Per-parameter state tensors (e.g. "momentum_buffer", "step", "exp_avg"), by parameter identity.
    var state: [ObjectIdentifier: [String: Tensor]] = [:]

    open var typeName: String { String(describing: type(of: self)) }
    /// Names of the per-parameter state tensors this optimizer may keep.
    open var stateNames: [String] { [] }
    /// State kept as float32 scalars whatever the parameter's dtype (torch's `_get_scalar_dtype()`).
    open var scalarStateNames: Set<String> { ["step"] }
    /// Optimizer-wide settings, saved in the state dict as `hyper.<name>`.
    open var hyperparameters: [String: String] { [:] }
    /// Restores settings saved by `hyperparameters` (validated, not yet applied, by the caller).
    open func setHyperparameters(_ h: [String: String]) throws {}

    public init(_ params: [Tensor], lr: Double, weightDecay: Double) throws {
        try checkHyper(lr: lr, weightDecay: weightDecay)
        try addParamGroup(params, lr: lr, weightDecay: weightDecay)
    }

    private func checkHyper(lr: Double, weightDecay: Double) throws {
        guard lr >= 0, lr.isFinite else { throw DFMError.invalid(typeName, "Invalid learning rate: \(lr)") }
        guard weightDecay >= 0, weightDecay.isFinite else {
            throw DFMError.invalid(typeName, "Invalid weight_decay value: \(weightDecay)")
        }
    }

    /// torch's `add_param_group`: settings left nil take the first group's values.
    public func addParamGroup(_ params: [Tensor], lr: Double? = nil, weightDecay: Double? = nil) throws {
        guard !params.isEmpty else { throw DFMError.invalid(typeName, "optimizer got an empty parameter list") }
        var seen = Set(paramGroups.flatMap { $0.params.map(ObjectIdentifier.init) })
        for (i, p) in params.enumerated() {
            guard p.isLeaf else {
                throw DFMError.invalid(typeName, "can't optimize a non-leaf Tensor (parameter \(i))")
            }
            guard p.dtype.isFloat else {
                throw DFMError.type(typeName, "parameter \(i) must be float32 or float64, got \(p.dtype)")
            }
            guard seen.insert(ObjectIdentifier(p)).inserted else {
                throw DFMError.invalid(
                    typeName, "some parameters appear more than once (parameter \(i) of the new group)")
            }
        }
        let glr = lr ?? paramGroups.first?.lr ?? 0
        let gwd = weightDecay ?? paramGroups.first?.weightDecay ?? 0
        try checkHyper(lr: glr, weightDecay: gwd)
        paramGroups.append(ParamGroup(params: params, lr: glr, weightDecay: gwd, initialLr: nil))
    }

    /// The learning rate of every group (reads the first group's).
    public var lr: Double {
        get { paramGroups.first?.lr ?? 0 }
        set { for g in paramGroups.indices { paramGroups[g].lr = newValue } }
    }

    public func setLr(_ lr: Double, group: Int) throws {
        guard paramGroups.indices.contains(group) else {
            throw DFMError.index(typeName, "param group \(group) out of range (\(paramGroups.count) groups)")
        }
        guard lr >= 0, lr.isFinite else { throw DFMError.invalid(typeName, "Invalid learning rate: \(lr)") }
        paramGroups[group].lr = lr
    }

    func setInitialLr(_ v: Double, group: Int) { paramGroups[group].initialLr = v }

    /// All parameters in group order.
    public var params: [Tensor] { paramGroups.flatMap { $0.params } }

    /// torch's `zero_grad(set_to_none=True)`.
    public func zeroGrad() {
        for g in paramGroups { for p in g.params { p.grad = nil } }
    }

    /// The state tensors kept for `param` (nil before its first update).
    public func state(for param: Tensor) -> [String: Tensor]? { state[ObjectIdentifier(param)] }

    /// One update of every parameter that has a gradient; the others are skipped
    /// (their state untouched). All gradients are checked before anything changes.
    public func step() throws {
        var work: [(group: Int, param: Tensor, grad: Tensor)] = []
        for (gi, g) in paramGroups.enumerated() {
            for (pi, p) in g.params.enumerated() {
                guard let grad = p.grad else { continue }
                guard grad.shape == p.shape, grad.dtype == p.dtype else {
                    throw DFMError.shape(
                        "\(typeName).step",
                        "gradient of parameter \(pi) in group \(gi) has shape \(grad.shape) (\(grad.dtype)) but the parameter has shape \(p.shape)"
                    )
                }
                work.append((gi, p, grad))
            }
        }
        try GradMode.noGrad {
            for w in work {
                let key = ObjectIdentifier(w.param)
                var s = state[key] ?? [:]
                try update(w.param, grad: w.grad, group: paramGroups[w.group], state: &s)
                state[key] = s
            }
        }
    }

    /// Updates one parameter in place. Subclasses implement torch's single-tensor arithmetic.
    open func update(_ p: Tensor, grad: Tensor, group: ParamGroup, state: inout [String: Tensor]) throws {
        throw DFMError.state(typeName, "step is not implemented for \(typeName)")
    }

    // MARK: state dict

    public func stateDict() throws -> OptimizerState {
        var out = OptimizerState()
        out.metadata["optimizer"] = typeName
        out.metadata["param_groups"] = String(paramGroups.count)
        var index = 0
        for (gi, g) in paramGroups.enumerated() {
            var ids: [String] = []
            for p in g.params {
                ids.append(String(index))
                for (name, t) in state[ObjectIdentifier(p)] ?? [:] {
                    out.tensors["state.\(index).\(name)"] = try t.clone()
                }
                index += 1
            }
            out.metadata["param_groups.\(gi).params"] = ids.joined(separator: ",")
            out.metadata["param_groups.\(gi).lr"] = fmtDouble(g.lr)
            out.metadata["param_groups.\(gi).weight_decay"] = fmtDouble(g.weightDecay)
            if let i = g.initialLr { out.metadata["param_groups.\(gi).initial_lr"] = fmtDouble(i) }
        }
        for (k, v) in hyperparameters { out.metadata["hyper.\(k)"] = v }
        return out
    }

    /// torch's `load_state_dict`: restores per-parameter state and every group's settings.
    /// The saved groups must match this optimizer's in number and size. Everything is
    /// checked first; a throw leaves the optimizer unchanged.
    public func loadStateDict(_ s: OptimizerState) throws {
        let op = "\(typeName).load_state_dict"
        guard s.metadata["optimizer"] == typeName else {
            throw DFMError.invalid(
                op, "state dict is for optimizer '\(s.metadata["optimizer"] ?? "unknown")', not \(typeName)")
        }
        guard let ng = Int(s.metadata["param_groups"] ?? ""), ng == paramGroups.count else {
            throw DFMError.invalid(
                op,
                "loaded state dict has a different number of parameter groups (\(s.metadata["param_groups"] ?? "none") vs \(paramGroups.count))"
            )
        }
        var newGroups = paramGroups
        var newState: [ObjectIdentifier: [String: Tensor]] = [:]
        var used = Set<String>()
        var index = 0
        for gi in 0..<ng {
            let ids = (s.metadata["param_groups.\(gi).params"] ?? "").split(separator: ",")
            guard ids.count == paramGroups[gi].params.count else {
                throw DFMError.invalid(
                    op,
                    "loaded state dict contains a parameter group that doesn't match the size of optimizer's group (group \(gi): \(ids.count) vs \(paramGroups[gi].params.count) parameters)"
                )
            }
            newGroups[gi].lr = try parseDouble(s.metadata, "param_groups.\(gi).lr", op: op)
            newGroups[gi].weightDecay = try parseDouble(s.metadata, "param_groups.\(gi).weight_decay", op: op)
            newGroups[gi].initialLr =
                s.metadata["param_groups.\(gi).initial_lr"] == nil
                ? nil
                : try parseDouble(s.metadata, "param_groups.\(gi).initial_lr", op: op)
            guard newGroups[gi].lr >= 0, newGroups[gi].weightDecay >= 0 else {
                throw DFMError.invalid(op, "group \(gi) has a negative lr or weight_decay")
            }
            for p in paramGroups[gi].params {
                var ps: [String: Tensor] = [:]
                for name in stateNames {
                    let key = "state.\(index).\(name)"
                    guard let t = s.tensors[key] else { continue }
                    let scalar = scalarStateNames.contains(name)
                    let expected = scalar ? [] : p.shape
                    let dtype: DType = scalar ? .float32 : p.dtype  // step counts etc. are float32 scalars
                    guard t.shape == expected, t.dtype == dtype else {
                        throw DFMError.shape(
                            op,
                            "\(key) has shape \(t.shape) (\(t.dtype)) but parameter \(index) needs \(expected) (\(dtype))"
                        )
                    }
                    ps[name] = try t.clone()
                    used.insert(key)
                }
                if !ps.isEmpty { newState[ObjectIdentifier(p)] = ps }
                index += 1
            }
        }
        let unknown = s.tensors.keys.filter { !used.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw DFMError.invalid(
                op, "unexpected state tensors for \(typeName): \(unknown.prefix(5).joined(separator: ", "))")
        }
        var hyper: [String: String] = [:]
        for (k, v) in s.metadata where k.hasPrefix("hyper.") { hyper[String(k.dropFirst(6))] = v }
        try setHyperparameters(hyper)
        paramGroups = newGroups
        state = newState
    }

    /// Writes `stateDict()` to a safetensors file (atomically).
    public func save(to path: String) throws {
        let s = try stateDict()
        try SafeTensors.write(s.tensors, to: path, metadata: s.metadata)
    }

    public func load(from path: String) throws {
        let (t, m) = try SafeTensors.read(path)
        try loadStateDict(OptimizerState(tensors: t, metadata: m))
    }
}
