import Foundation

/// torch.nn.Module: a tree of named parameters, buffers and child modules.
///
/// Registration order is kept, so `stateDict()` lists keys in the order torch does.
/// A subclass keeps typed references to what it registers (`let weight: Tensor`,
/// `let conv1: Conv2d`); the registry holds the same objects, which is why a
/// registered name cannot be rebound: change a parameter's values with `copy_`
/// (what `loadStateDict` does), never by swapping the tensor.
open class Module: CustomStringConvertible {
    /// train/eval flag; `train(_:)` sets it on the whole tree.
    public private(set) var training: Bool = true

    private var paramEntries: [(name: String, tensor: Tensor?)] = []
    private var bufferEntries: [(name: String, tensor: Tensor?, persistent: Bool)] = []
    private var childEntries: [(name: String, module: Module)] = []

    public init() {}

    /// The name used in messages and `description` (torch prints the class name).
    open var typeName: String { String(describing: type(of: self)) }

    // MARK: registration

    private func checkNewName(_ name: String, _ op: String) throws {
        guard !name.isEmpty else { throw DFMError.invalid(op, "name can't be empty string \"\"") }
        guard !name.contains(".") else { throw DFMError.invalid(op, "name can't contain \".\" (got \"\(name)\")") }
        if paramEntries.contains(where: { $0.name == name }) || bufferEntries.contains(where: { $0.name == name })
            || childEntries.contains(where: { $0.name == name })
        {
            throw DFMError.invalid(
                op,
                "attribute '\(name)' already exists in \(typeName); registered tensors and modules cannot be rebound (use copy_ to change a parameter's values)"
            )
        }
    }

    /// torch's `register_parameter` / `nn.Parameter(t, requires_grad)`. `t` must be a float32
    /// leaf; its requires_grad flag is set to `requiresGrad`. nil registers an empty slot
    /// (e.g. `bias=False`) that parameters() and stateDict() skip.
    public func registerParameter(_ name: String, _ t: Tensor?, requiresGrad: Bool = true) throws {
        try checkNewName(name, "register_parameter")
        if let t {
            guard t.isLeaf else {
                throw DFMError.invalid(
                    "register_parameter",
                    "cannot assign a non-leaf tensor as parameter '\(name)'; parameters must be leaves (use detach())")
            }
            guard t.dtype.isFloat else {
                throw DFMError.type(
                    "register_parameter", "parameter '\(name)' must be float32 or float64, got \(t.dtype)")
            }
            try t.requiresGrad(requiresGrad)
        }
        paramEntries.append((name, t))
    }

    /// torch's `register_buffer`. Non-persistent buffers are not part of the state dict.
    public func registerBuffer(_ name: String, _ t: Tensor?, persistent: Bool = true) throws {
        try checkNewName(name, "register_buffer")
        if let t, !t.isLeaf {
            throw DFMError.invalid(
                "register_buffer", "buffer '\(name)' must not be part of an autograd graph (use detach())")
        }
        bufferEntries.append((name, t, persistent))
    }

    /// torch's `add_module` / `register_module`.
    public func registerModule(_ name: String, _ m: Module) throws {
        try checkNewName(name, "register_module")
        guard m !== self else {
            throw DFMError.invalid("register_module", "a module cannot be its own child ('\(name)')")
        }
        childEntries.append((name, m))
    }

    // MARK: local lookup

    /// The parameter registered here under `name` (nil when absent or an empty slot).
    public func parameter(_ name: String) -> Tensor? { paramEntries.first { $0.name == name }?.tensor ?? nil }
    public func buffer(_ name: String) -> Tensor? { bufferEntries.first { $0.name == name }?.tensor ?? nil }
    public func child(_ name: String) -> Module? { childEntries.first { $0.name == name }?.module }

    /// torch's `get_submodule("layer1.0.conv1")`; "" is the module itself.
    public func getSubmodule(_ target: String) throws -> Module {
        if target.isEmpty { return self }
        var m: Module = self
        var path = ""
        for part in target.split(separator: ".", omittingEmptySubsequences: false) {
            guard let c = m.child(String(part)) else {
                throw DFMError(
                    .notFound,
                    "get_submodule: \(m.typeName)\(path.isEmpty ? "" : " '\(path)'") has no attribute `\(part)`")
            }
            path += path.isEmpty ? String(part) : ".\(part)"
            m = c
        }
        return m
    }

    /// torch's `get_parameter("layer1.0.conv1.weight")`.
    public func getParameter(_ target: String) throws -> Tensor {
        let (mod, name) = try splitTarget(target)
        guard let p = mod.parameter(name) else {
            throw DFMError(.notFound, "get_parameter: \(mod.typeName) has no parameter `\(name)` (target '\(target)')")
        }
        return p
    }

    /// torch's `get_buffer("bn1.running_mean")`.
    public func getBuffer(_ target: String) throws -> Tensor {
        let (mod, name) = try splitTarget(target)
        guard let b = mod.buffer(name) else {
            throw DFMError(.notFound, "get_buffer: \(mod.typeName) has no buffer `\(name)` (target '\(target)')")
        }
        return b
    }

    private func splitTarget(_ target: String) throws -> (Module, String) {
        guard let dot = target.lastIndex(of: ".") else { return (self, target) }
        return (try getSubmodule(String(target[..<dot])), String(target[target.index(after: dot)...]))
    }

    // MARK: traversal (torch's order and de-duplication)

    /// Children registered directly here, in order.
    public func namedChildren() -> [(String, Module)] {
        var seen = Set<ObjectIdentifier>()
        return childEntries.filter { seen.insert(ObjectIdentifier($0.module)).inserted }.map { ($0.name, $0.module) }
    }

    public func children() -> [Module] { namedChildren().map { $0.1 } }

    /// Pre-order walk including self (named ""), each module once even when reachable
    /// under several names (the first name wins), like torch's `named_modules()`.
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        var out: [(String, Module)] = []
        var memo = Set<ObjectIdentifier>()
        // Explicit stack: (prefix, module), children pushed in reverse to keep pre-order.
        var stack: [(String, Module)] = [(prefix, self)]
        while let (p, m) = stack.popLast() {
            guard memo.insert(ObjectIdentifier(m)).inserted else { continue }
            out.append((p, m))
            for (name, c) in m.childEntries.reversed() {
                stack.append((p.isEmpty ? name : "\(p).\(name)", c))
            }
        }
        return out
    }

    public func modules() -> [Module] { namedModules().map { $0.1 } }

    /// Parameters with dotted names, each tensor once (first name wins), like torch's
    /// `named_parameters()`. Empty slots are skipped.
    public func namedParameters(prefix: String = "", recurse: Bool = true) -> [(String, Tensor)] {
        namedMembers(prefix: prefix, recurse: recurse) { $0.paramEntries.map { ($0.name, $0.tensor) } }
    }

    public func parameters(recurse: Bool = true) -> [Tensor] { namedParameters(recurse: recurse).map { $0.1 } }

    /// Buffers with dotted names (persistent or not), each tensor once.
    public func namedBuffers(prefix: String = "", recurse: Bool = true) -> [(String, Tensor)] {
        namedMembers(prefix: prefix, recurse: recurse) { $0.bufferEntries.map { ($0.name, $0.tensor) } }
    }

    public func buffers(recurse: Bool = true) -> [Tensor] { namedBuffers(recurse: recurse).map { $0.1 } }

    private func namedMembers(prefix: String, recurse: Bool, _ members: (Module) -> [(String, Tensor?)]) -> [(
        String, Tensor
    )] {
        var memo = Set<ObjectIdentifier>()
        var out: [(String, Tensor)] = []
        let mods = recurse ? namedModules(prefix: prefix) : [(prefix, self)]
        for (p, m) in mods {
            for (name, t) in members(m) {
                guard let t, memo.insert(ObjectIdentifier(t)).inserted else { continue }
                out.append((p.isEmpty ? name : "\(p).\(name)", t))
            }
        }
        return out
    }

    /// Calls `fn` on every module of the tree (children first, then self), like torch's `apply`.
    public func apply(_ fn: (Module) throws -> Void) rethrows {
        for (_, c) in namedChildren() { try c.apply(fn) }
        try fn(self)
    }

    // MARK: modes and gradients

    /// torch's `train(mode)`: sets the flag on this module and every descendant.
    @discardableResult
    open func train(_ mode: Bool = true) -> Self {
        for (_, m) in namedModules() { m.training = mode }
        return self
    }

    @discardableResult
    public func eval() -> Self { train(false) }

    /// torch's `module.to(dtype)` / `.double()` / `.float()`: every floating point parameter
    /// and buffer is converted in place (the same tensor objects, so an optimizer built
    /// before still holds them); integer buffers (num_batches_tracked) are left alone.
    @discardableResult
    public func to(_ dtype: DType) throws -> Self {
        guard dtype.isFloat else {
            throw DFMError.type("to", "nn.Module.to only accepts floating point dtypes, but got \(dtype)")
        }
        for t in parameters() + buffers() where t.dtype.isFloat { try t.convert_(dtype) }
        return self
    }

    /// torch's `zero_grad()` (set_to_none=True): every parameter's grad becomes nil.
    public func zeroGrad() {
        for p in parameters() { p.grad = nil }
    }

    /// torch's `requires_grad_(flag)` over every parameter.
    @discardableResult
    public func requiresGrad(_ flag: Bool = true) throws -> Self {
        for p in parameters() { try p.requiresGrad(flag) }
        return self
    }

    // MARK: state dict

    /// torch's `state_dict()`: parameters then persistent buffers of each module, children
    /// after their parent, in registration order. Not de-duplicated: a module reachable
    /// under two names contributes its tensors under both. Tensors share memory with the
    /// module (detached).
    public func stateDict(prefix: String = "") -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        // Recursion depth is the module tree's depth (a handful of levels).
        func visit(_ m: Module, _ p: String) {
            for (name, t) in m.paramEntries { if let t { out.append((p + name, t.detach())) } }
            for (name, t, persistent) in m.bufferEntries where persistent {
                if let t { out.append((p + name, t.detach())) }
            }
            for (name, c) in m.childEntries { visit(c, p + name + ".") }
        }
        visit(self, prefix.isEmpty ? "" : prefix + ".")
        return out
    }

    /// The live tensors behind `stateDict()` keys (not detached), for copying into.
    private func stateTargets() -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        func visit(_ m: Module, _ p: String) {
            for (name, t) in m.paramEntries { if let t { out.append((p + name, t)) } }
            for (name, t, persistent) in m.bufferEntries where persistent { if let t { out.append((p + name, t)) } }
            for (name, c) in m.childEntries { visit(c, p + name + ".") }
        }
        visit(self, "")
        return out
    }

    /// torch's `load_state_dict(state_dict, strict)`. Values are copied in place (no autograd).
    /// Everything is validated before anything is written, so a throw leaves the module as it was.
    /// Size mismatches always throw; missing and unexpected keys throw when `strict`,
    /// otherwise they are returned (missing in module order, unexpected sorted).
    @discardableResult
    public func loadStateDict(_ state: [String: Tensor], strict: Bool = true) throws -> (
        missing: [String], unexpected: [String]
    ) {
        try loadStateDict(state.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, strict: strict)
    }

    /// Ordered form of `loadStateDict`: unexpected keys come back in the given order. For a
    /// key given twice, the last value wins.
    @discardableResult
    public func loadStateDict(_ entries: [(String, Tensor)], strict: Bool = true) throws -> (
        missing: [String], unexpected: [String]
    ) {
        var given: [String: Tensor] = [:]
        var givenOrder: [String] = []
        for (k, v) in entries {
            if given.updateValue(v, forKey: k) == nil { givenOrder.append(k) }
        }
        let targets = stateTargets()
        var expected = Set<String>()
        var missing: [String] = []
        var sizeErrors: [String] = []
        var plan: [(Tensor, Tensor)] = []
        for (key, dst) in targets {
            expected.insert(key)
            guard var src = given[key] else {
                missing.append(key)
                continue
            }
            // torch's backward-compatibility rule: a 1-element 1-dim tensor loads into a 0-dim one.
            if dst.ndim == 0 && src.shape == [1] { src = src.viewAs([]) }
            guard src.shape == dst.shape else {
                sizeErrors.append(
                    "size mismatch for \(key): copying a param with shape \(src.shape) from checkpoint, the shape in current model is \(dst.shape)."
                )
                continue
            }
            if dst.dtype == .int64 && src.dtype.isFloat {
                for k in 0..<src.count where !(src.double(at: k).isFinite && Swift.abs(src.double(at: k)) < 9.2e18) {
                    sizeErrors.append("value \(src.double(at: k)) in \(key) cannot be converted to int64.")
                    break
                }
            }
            plan.append((dst, src))
        }
        let unexpected = givenOrder.filter { !expected.contains($0) }
        var errors: [String] = []
        if strict {
            if !missing.isEmpty {
                errors.append("Missing key(s) in state_dict: \(missing.map { "\"\($0)\"" }.joined(separator: ", ")).")
            }
            if !unexpected.isEmpty {
                errors.append(
                    "Unexpected key(s) in state_dict: \(unexpected.map { "\"\($0)\"" }.joined(separator: ", ")).")
            }
        }
        errors += sizeErrors
        let kind: DFMError.Kind = (errors.count == sizeErrors.count) ? .shapeMismatch : .stateError
        // Per-step BatchNorm statistics (a DFM model's bn_per_step option) are a mode, not a key typo: say so.
        let perStep = "running_mean_per_step"
        if strict && unexpected.contains(where: { $0.hasSuffix(perStep) })
            && !missing.contains(where: { $0.hasSuffix(perStep) })
        {
            errors.insert(
                "the state_dict holds per-step BatchNorm statistics (bn_per_step) but this model keeps shared running statistics: build it with bn_per_step",
                at: 0)
        } else if strict && missing.contains(where: { $0.hasSuffix(perStep) })
            && !unexpected.contains(where: { $0.hasSuffix(perStep) })
        {
            errors.insert(
                "this model keeps per-step BatchNorm statistics (bn_per_step) but the state_dict holds shared running statistics only: build it without bn_per_step",
                at: 0)
        } else if sizeErrors.contains(where: { $0.contains("_per_step:") }) {
            errors.insert(
                "the state_dict's per-step BatchNorm statistics have a different number of sets (bn_per_step) than this model's",
                at: 0)
        }
        if !errors.isEmpty {
            throw DFMError(
                kind,
                "load_state_dict: Error(s) in loading state_dict for \(typeName):\n\t"
                    + errors.joined(separator: "\n\t"))
        }
        for (dst, src) in plan where dst !== src { try dst.copy_(src) }
        return (missing, unexpected)
    }

    // MARK: files

    /// Writes `stateDict()` as a safetensors file (atomically), with torch's "format": "pt" metadata.
    public func save(to path: String) throws {
        var dict: [String: Tensor] = [:]
        for (k, v) in stateDict() { dict[k] = v }
        // Per-step BatchNorm statistics (bn_per_step) are a mode of the model: the file says which it holds.
        let sets = modules().compactMap { ($0 as? BatchNorm2d)?.stepSets }.max() ?? 0
        try SafeTensors.write(
            dict, to: path, metadata: sets > 0 ? ["format": "pt", "dfm_bn_per_step": String(sets)] : ["format": "pt"])
    }

    /// Loads a safetensors file written by `save(to:)` or by PyTorch's `safetensors.torch.save_file`.
    @discardableResult
    public func load(from path: String, strict: Bool = true) throws -> (missing: [String], unexpected: [String]) {
        try loadStateDict(try SafeTensors.read(path).tensors, strict: strict)
    }

    // MARK: forward

    /// Subclasses override. The base class, like torch's, has no forward.
    open func forward(_ x: Tensor) throws -> Tensor {
        throw DFMError.state(
            "forward",
            "Module [\(typeName)] is missing the required \"forward\" function (not implemented for \(typeName))")
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try forward(x) }

    // MARK: printing

    /// The part inside the parentheses of torch's repr, e.g. "3, 64, kernel_size=(7, 7)".
    open var extraRepr: String { "" }

    /// torch-style repr: `Name(extra)` or a nested listing of children.
    public var description: String {
        let children = childEntries
        if children.isEmpty { return "\(typeName)(\(extraRepr))" }
        var lines: [String] = []
        if !extraRepr.isEmpty { lines.append(extraRepr) }
        for (name, c) in children {
            let body = c.description.replacingOccurrences(of: "\n", with: "\n  ")
            lines.append("(\(name)): \(body)")
        }
        return "\(typeName)(\n  " + lines.joined(separator: "\n  ") + "\n)"
    }
}

/// torch.nn.Sequential: children named "0", "1", ...; forward chains them.
open class Sequential: Module {
    public private(set) var layers: [Module] = []

    public init(_ layers: [Module]) throws {
        super.init()
        for m in layers { try append(m) }
    }

    public convenience init(_ layers: Module...) throws { try self.init(layers) }

    public func append(_ m: Module) throws {
        try registerModule(String(layers.count), m)
        layers.append(m)
    }

    public var count: Int { layers.count }

    /// The i-th layer (negative counts from the end), IndexError when out of range.
    public func at(_ i: Int) throws -> Module {
        let j = i < 0 ? i + layers.count : i
        guard j >= 0, j < layers.count else {
            throw DFMError.index("Sequential", "index \(i) is out of range for \(layers.count) modules")
        }
        return layers[j]
    }

    open override func forward(_ x: Tensor) throws -> Tensor {
        var y = x
        for m in layers { y = try m.forward(y) }
        return y
    }
}

/// torch.nn.ModuleList: an indexable container whose children are named "0", "1", ...
/// It has no forward of its own.
open class ModuleList: Module {
    public private(set) var items: [Module] = []

    public init(_ items: [Module] = []) throws {
        super.init()
        for m in items { try append(m) }
    }

    public func append(_ m: Module) throws {
        try registerModule(String(items.count), m)
        items.append(m)
    }

    public var count: Int { items.count }

    public func at(_ i: Int) throws -> Module {
        let j = i < 0 ? i + items.count : i
        guard j >= 0, j < items.count else {
            throw DFMError.index("ModuleList", "index \(i) is out of range for \(items.count) modules")
        }
        return items[j]
    }
}
