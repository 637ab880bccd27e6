import Foundation

// torch.nn layers: the same constructor arguments, parameter names and default
// initialisation as PyTorch, forwarding to the functional ops.

/// One value for both spatial dims, or two (height, width): torch's `_pair`.
func pair2(_ v: [Int], _ what: String, op: String) throws -> [Int] {
    switch v.count {
    case 1: return [v[0], v[0]]
    case 2: return v
    default: throw DFMError.invalid(op, "\(what) must be one int or two ints (height, width), got \(v)")
    }
}

/// Python's tuple repr: (3, 3).
func tupleRepr(_ v: [Int]) -> String {
    v.count == 1 ? "(\(v[0]),)" : "(" + v.map(String.init).joined(separator: ", ") + ")"
}

func pyBool(_ b: Bool) -> String { b ? "True" : "False" }

/// PyTorch's default init for conv and linear layers (`reset_parameters`):
/// weight ~ kaiming_uniform(a=√5), i.e. U(±1/√fan_in); bias ~ U(±1/√fan_in).
func torchDefaultInit(weight: Tensor, bias: Tensor?) throws {
    try Init.kaimingUniform_(weight, a: Float(5.0.squareRoot()))
    if let bias {
        let fanIn = try Init.calculateFanInAndFanOut(weight).fanIn
        let bound = fanIn > 0 ? Float(1 / Double(fanIn).squareRoot()) : 0
        try Init.uniform_(bias, a: -bound, b: bound)
    }
}

// MARK: Conv2d

/// torch.nn.Conv2d. Weight (out, in/groups, kh, kw), optional bias (out).
/// `stride`, `padding` and `dilation` stay mutable so a backbone can be re-dilated
/// after construction (as segmentation_models_pytorch's make_dilated does).
public final class Conv2d: Module {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: [Int]
    public var stride: [Int]
    /// Explicit padding; ignored when `paddingString` is set.
    public var padding: [Int]
    /// "same" or "valid" when constructed with a string padding.
    public var paddingString: String?
    public var dilation: [Int]
    public let groups: Int
    public let weight: Tensor
    public let bias: Tensor?

    /// torch.nn.Conv2d(in, out, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True, padding_mode='zeros').
    public init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: [Int], stride: [Int] = [1], padding: [Int] = [0],
        dilation: [Int] = [1], groups: Int = 1, bias: Bool = true, paddingMode: String = "zeros"
    ) throws {
        let op = "Conv2d"
        guard groups > 0 else { throw DFMError.invalid(op, "groups must be a positive integer, got \(groups)") }
        guard inChannels > 0, outChannels > 0 else {
            throw DFMError.invalid(
                op, "in_channels and out_channels must be positive, got \(inChannels) and \(outChannels)")
        }
        guard inChannels % groups == 0 else {
            throw DFMError.invalid(
                op, "in_channels must be divisible by groups (in_channels=\(inChannels), groups=\(groups))")
        }
        guard outChannels % groups == 0 else {
            throw DFMError.invalid(
                op, "out_channels must be divisible by groups (out_channels=\(outChannels), groups=\(groups))")
        }
        guard paddingMode == "zeros" else {
            throw DFMError.invalid(op, "padding_mode '\(paddingMode)' is not supported by dfm (only 'zeros')")
        }
        let k = try pair2(kernelSize, "kernel_size", op: op)
        let s = try pair2(stride, "stride", op: op)
        let p = try pair2(padding, "padding", op: op)
        let d = try pair2(dilation, "dilation", op: op)
        guard k.allSatisfy({ $0 > 0 }) else {
            throw DFMError.invalid(op, "kernel_size must be positive, got \(kernelSize)")
        }
        guard s.allSatisfy({ $0 > 0 }) else { throw DFMError.invalid(op, "stride must be positive, got \(stride)") }
        guard d.allSatisfy({ $0 > 0 }) else { throw DFMError.invalid(op, "dilation must be positive, got \(dilation)") }
        guard p.allSatisfy({ $0 >= 0 }) else {
            throw DFMError.invalid(op, "padding must be non-negative, got \(padding)")
        }
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = k
        self.stride = s
        self.padding = p
        self.dilation = d
        self.groups = groups
        self.weight = try Tensor.zeros([outChannels, inChannels / groups, k[0], k[1]])
        self.bias = bias ? try Tensor.zeros([outChannels]) : nil
        super.init()
        try registerParameter("weight", weight)
        try registerParameter("bias", self.bias)
        try resetParameters()
    }

    public convenience init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        dilation: Int = 1, groups: Int = 1, bias: Bool = true, paddingMode: String = "zeros"
    ) throws {
        try self.init(
            inChannels, outChannels, kernelSize: [kernelSize], stride: [stride], padding: [padding],
            dilation: [dilation], groups: groups, bias: bias, paddingMode: paddingMode)
    }

    /// Conv2d with padding="same" or "valid".
    public convenience init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: [Int], stride: [Int] = [1], padding: String,
        dilation: [Int] = [1], groups: Int = 1, bias: Bool = true, paddingMode: String = "zeros"
    ) throws {
        guard padding == "same" || padding == "valid" else {
            throw DFMError.invalid("Conv2d", "Invalid padding string '\(padding)', should be one of {'valid', 'same'}")
        }
        if padding == "same", try pair2(stride, "stride", op: "Conv2d") != [1, 1] {
            throw DFMError.invalid("Conv2d", "padding='same' is not supported for strided convolutions")
        }
        try self.init(
            inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: [0], dilation: dilation,
            groups: groups, bias: bias, paddingMode: paddingMode)
        paddingString = padding
    }

    /// torch's reset_parameters: kaiming_uniform(a=√5) weight, U(±1/√fan_in) bias.
    public func resetParameters() throws { try torchDefaultInit(weight: weight, bias: bias) }

    public override func forward(_ x: Tensor) throws -> Tensor {
        if let ps = paddingString {
            return try conv2d(x, weight, bias, stride: stride, padding: ps, dilation: dilation, groups: groups)
        }
        return try conv2d(x, weight, bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    public override var extraRepr: String {
        var s = "\(inChannels), \(outChannels), kernel_size=\(tupleRepr(kernelSize)), stride=\(tupleRepr(stride))"
        if let ps = paddingString {
            s += ", padding=\(ps)"
        } else if padding != [0, 0] {
            s += ", padding=\(tupleRepr(padding))"
        }
        if dilation != [1, 1] { s += ", dilation=\(tupleRepr(dilation))" }
        if groups != 1 { s += ", groups=\(groups)" }
        if bias == nil { s += ", bias=False" }
        return s
    }
}

// MARK: Linear

/// torch.nn.Linear: y = x·Wᵀ + b, W (out, in).
public final class Linear: Module {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) throws {
        guard inFeatures >= 0, outFeatures >= 0 else {
            throw DFMError.invalid(
                "Linear", "in_features and out_features must be non-negative, got \(inFeatures) and \(outFeatures)")
        }
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.weight = try Tensor.zeros([outFeatures, inFeatures])
        self.bias = bias ? try Tensor.zeros([outFeatures]) : nil
        super.init()
        try registerParameter("weight", weight)
        try registerParameter("bias", self.bias)
        try resetParameters()
    }

    public func resetParameters() throws {
        if weight.count > 0 { try torchDefaultInit(weight: weight, bias: bias) }
    }

    public override func forward(_ x: Tensor) throws -> Tensor { try linear(x, weight, bias) }

    public override var extraRepr: String {
        "in_features=\(inFeatures), out_features=\(outFeatures), bias=\(pyBool(bias != nil))"
    }
}

// MARK: normalisation

/// torch.nn.BatchNorm2d. Buffers running_mean (zeros), running_var (ones) and
/// num_batches_tracked (int64, 0-dim), which counts training forwards. With
/// `momentum` nil the running stats are a cumulative average (factor 1/num_batches_tracked).
public final class BatchNorm2d: Module {
    public let numFeatures: Int
    public var eps: Double
    public var momentum: Double?
    public let affine: Bool
    public let trackRunningStats: Bool
    public let weight: Tensor?
    public let bias: Tensor?
    public let runningMean: Tensor?
    public let runningVar: Tensor?
    public let numBatchesTracked: Tensor?

    public init(
        _ numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true,
        trackRunningStats: Bool = true
    ) throws {
        guard numFeatures > 0 else {
            throw DFMError.invalid("BatchNorm2d", "num_features must be positive, got \(numFeatures)")
        }
        self.numFeatures = numFeatures
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.trackRunningStats = trackRunningStats
        weight = affine ? try Tensor.ones([numFeatures]) : nil
        bias = affine ? try Tensor.zeros([numFeatures]) : nil
        runningMean = trackRunningStats ? try Tensor.zeros([numFeatures]) : nil
        runningVar = trackRunningStats ? try Tensor.ones([numFeatures]) : nil
        numBatchesTracked = trackRunningStats ? try Tensor.zeros([], dtype: .int64) : nil
        super.init()
        try registerParameter("weight", weight)
        try registerParameter("bias", bias)
        try registerBuffer("running_mean", runningMean)
        try registerBuffer("running_var", runningVar)
        try registerBuffer("num_batches_tracked", numBatchesTracked)
    }

    /// torch's reset_running_stats + reset_parameters.
    public func resetParameters() {
        runningMean?.fill_(0)
        runningVar?.fill_(1)
        numBatchesTracked?.fill_(0)
        weight?.fill_(1)
        bias?.fill_(0)
    }

    // MARK: per-step statistics (dfm's option for feedback models, off by default)

    /// Sets of per-step running statistics (0: off, the torch module). A feedback model runs
    /// its backbone T times on differently distributed activations (step 0 sees a uniform
    /// feedback, later steps a sharp one); with sets, step t trains and evaluates with its own
    /// running mean/var (recurrent batch normalisation), kept in `running_mean_per_step`,
    /// `running_var_per_step` (S, C) and `num_batches_tracked_per_step` (S). The shared
    /// `running_mean`/`running_var` are still updated exactly as without sets, so the same
    /// weights can be evaluated either way (`useStepStatistics`).
    public private(set) var stepSets = 0
    /// The step the next forward belongs to (set by the feedback model before each step).
    public var step = 0
    /// Eval with per-step sets (true) or with the shared running statistics (false).
    public var useStepStatistics = true
    public private(set) var runningMeanPerStep: Tensor?
    public private(set) var runningVarPerStep: Tensor?
    public private(set) var numBatchesTrackedPerStep: Tensor?

    /// Adds `sets` per-step statistic sets (fresh: mean 0, var 1, count 0). Once per module.
    public func enableStepStatistics(_ sets: Int) throws {
        let op = "BatchNorm2d"
        guard sets >= 1, sets <= 1000 else {
            throw DFMError.invalid(op, "per-step statistic sets must be in 1...1000, got \(sets)")
        }
        guard trackRunningStats else { throw DFMError.invalid(op, "per-step statistics need track_running_stats=True") }
        guard stepSets == 0 else {
            if sets == stepSets { return }
            throw DFMError.state(op, "per-step statistics are already enabled with \(stepSets) sets")
        }
        let dtype = runningMean?.dtype ?? .float32
        let m = try Tensor.zeros([sets, numFeatures], dtype: dtype)
        let v = try Tensor.ones([sets, numFeatures], dtype: dtype)
        let n = try Tensor.zeros([sets], dtype: .int64)
        try registerBuffer("running_mean_per_step", m)
        try registerBuffer("running_var_per_step", v)
        try registerBuffer("num_batches_tracked_per_step", n)
        runningMeanPerStep = m
        runningVarPerStep = v
        numBatchesTrackedPerStep = n
        stepSets = sets
    }

    /// The set step t uses. Training: min(t, S - 1). Eval: min(t, last trained set), so a
    /// model evaluated with more steps than it was trained with keeps using the statistics of
    /// its last trained step (a set never trained holds no information); with no set trained,
    /// min(t, S - 1) (fresh statistics, as the shared ones of a fresh module).
    public func statisticSet(forStep t: Int) -> Int {
        let last = stepSets - 1
        guard !training, let n = numBatchesTrackedPerStep else { return Swift.max(0, Swift.min(t, last)) }
        var trained = -1
        for k in 0..<stepSets where n.i[k] > 0 { trained = k }
        return Swift.max(0, Swift.min(t, trained >= 0 ? trained : last))
    }

    /// Row k of an (S, C) buffer as a new (C) tensor, and writing it back.
    private func row(_ t: Tensor, _ k: Int) throws -> Tensor {
        let r = try Tensor.uninitialized([numFeatures], dtype: t.dtype, op: "BatchNorm2d")
        r.rawPointer.copyMemory(from: t.rawPointer + k * r.byteCount, byteCount: r.byteCount)
        return r
    }

    private func setRow(_ t: Tensor, _ k: Int, _ r: Tensor) throws {
        let src = try toDType(r, t.dtype)
        (t.rawPointer + k * src.byteCount).copyMemory(from: src.rawPointer, byteCount: src.byteCount)
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        guard x.ndim == 4 else { throw DFMError.shape("BatchNorm2d", "expected 4D input (got \(x.ndim)D input)") }
        guard stepSets > 0, let ms = runningMeanPerStep, let vs = runningVarPerStep, let ns = numBatchesTrackedPerStep
        else {
            return try sharedForward(x)
        }
        let k = statisticSet(forStep: step)
        let mean = try row(ms, k)
        let variance = try row(vs, k)
        if !training {
            guard useStepStatistics else { return try sharedForward(x) }
            return try batchNorm(
                x, runningMean: mean, runningVar: variance, weight: weight, bias: bias, training: false, eps: eps)
        }
        let y = try sharedForward(x)
        // The set's update: the same batch statistics and rule as the shared one (its own count
        // when momentum is nil); the normalised output of this second pass is not used.
        let factor = momentum ?? 1.0 / Double(ns.i[k] + 1)
        _ = try GradMode.noGrad {
            try batchNorm(
                x.detach(), runningMean: mean, runningVar: variance, weight: nil, bias: nil, training: true,
                momentum: factor, eps: eps)
        }
        try setRow(ms, k, mean)
        try setRow(vs, k, variance)
        ns.i[k] += 1
        return y
    }

    private func sharedForward(_ x: Tensor) throws -> Tensor {
        var factor = momentum ?? 0
        let counting = training && trackRunningStats
        if counting, let nbt = numBatchesTracked, momentum == nil {
            factor = 1.0 / Double(nbt.i[0] + 1)
        }
        let bnTraining = training || (runningMean == nil && runningVar == nil)
        let useStats = !training || trackRunningStats
        let y = try batchNorm(
            x, runningMean: useStats ? runningMean : nil, runningVar: useStats ? runningVar : nil,
            weight: weight, bias: bias, training: bnTraining, momentum: factor, eps: eps)
        // Counted after a successful forward, so a rejected input changes nothing.
        if counting, let nbt = numBatchesTracked { nbt.i[0] += 1 }
        return y
    }

    public override var extraRepr: String {
        "\(numFeatures), eps=\(eps), momentum=\(momentum.map { "\($0)" } ?? "None"), affine=\(pyBool(affine)), track_running_stats=\(pyBool(trackRunningStats))"
            + (stepSets > 0 ? ", per_step_sets=\(stepSets)" : "")
    }
}

/// torch.nn.GroupNorm(num_groups, num_channels, eps, affine): weight ones, bias zeros.
public final class GroupNorm: Module {
    public let numGroups: Int
    public let numChannels: Int
    public var eps: Double
    public let affine: Bool
    public let weight: Tensor?
    public let bias: Tensor?

    public init(_ numGroups: Int, _ numChannels: Int, eps: Double = 1e-5, affine: Bool = true) throws {
        guard numGroups > 0 else {
            throw DFMError.invalid("GroupNorm", "num_groups must be positive, got \(numGroups)")
        }
        guard numChannels % numGroups == 0 else {
            throw DFMError.invalid(
                "GroupNorm",
                "num_channels must be divisible by num_groups (num_channels=\(numChannels), num_groups=\(numGroups))")
        }
        self.numGroups = numGroups
        self.numChannels = numChannels
        self.eps = eps
        self.affine = affine
        weight = affine ? try Tensor.ones([numChannels]) : nil
        bias = affine ? try Tensor.zeros([numChannels]) : nil
        super.init()
        try registerParameter("weight", weight)
        try registerParameter("bias", bias)
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try groupNorm(x, groups: numGroups, weight: weight, bias: bias, eps: eps)
    }

    public override var extraRepr: String { "\(numGroups), \(numChannels), eps=\(eps), affine=\(pyBool(affine))" }
}

/// torch.nn.LayerNorm(normalized_shape, eps, elementwise_affine, bias): weight ones, bias zeros.
public final class LayerNorm: Module {
    public let normalizedShape: [Int]
    public var eps: Double
    public let elementwiseAffine: Bool
    public let weight: Tensor?
    public let bias: Tensor?

    public init(_ normalizedShape: [Int], eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) throws
    {
        guard !normalizedShape.isEmpty, normalizedShape.allSatisfy({ $0 > 0 }) else {
            throw DFMError.invalid(
                "LayerNorm", "normalized_shape must be non-empty with positive sizes, got \(normalizedShape)")
        }
        self.normalizedShape = normalizedShape
        self.eps = eps
        self.elementwiseAffine = elementwiseAffine
        weight = elementwiseAffine ? try Tensor.ones(normalizedShape) : nil
        self.bias = elementwiseAffine && bias ? try Tensor.zeros(normalizedShape) : nil
        super.init()
        try registerParameter("weight", weight)
        try registerParameter("bias", self.bias)
    }

    public convenience init(
        _ normalizedShape: Int, eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true
    ) throws {
        try self.init([normalizedShape], eps: eps, elementwiseAffine: elementwiseAffine, bias: bias)
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try layerNorm(x, normalizedShape: normalizedShape, weight: weight, bias: bias, eps: eps)
    }

    public override var extraRepr: String {
        "\(tupleRepr(normalizedShape)), eps=\(eps), elementwise_affine=\(pyBool(elementwiseAffine))"
    }
}

// MARK: activations and regularisation

public final class ReLU: Module {
    public override init() { super.init() }
    public override func forward(_ x: Tensor) throws -> Tensor { try relu(x) }
}

/// torch.nn.GELU(approximate='none' | 'tanh').
public final class GELU: Module {
    public let approximate: String

    public init(approximate: String = "none") throws {
        guard approximate == "none" || approximate == "tanh" else {
            throw DFMError.invalid("GELU", "approximate argument must be either none or tanh, got '\(approximate)'")
        }
        self.approximate = approximate
        super.init()
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try gelu(x, approximate: approximate)
    }

    public override var extraRepr: String { "approximate='\(approximate)'" }
}

public final class Sigmoid: Module {
    public override init() { super.init() }
    public override func forward(_ x: Tensor) throws -> Tensor { try sigmoid(x) }
}

public final class Tanh: Module {
    public override init() { super.init() }
    public override func forward(_ x: Tensor) throws -> Tensor { try tanh(x) }
}

/// torch.nn.Softmax(dim).
public final class Softmax: Module {
    public let dim: Int
    public init(dim: Int) {
        self.dim = dim
        super.init()
    }
    public override func forward(_ x: Tensor) throws -> Tensor { try softmax(x, dim: dim) }
    public override var extraRepr: String { "dim=\(dim)" }
}

/// torch.nn.Dropout(p): active in training mode only. Masks come from `generator`
/// (the global generator when nil).
public final class Dropout: Module {
    public let p: Float
    public var generator: Generator?

    public init(p: Float = 0.5, generator: Generator? = nil) throws {
        guard p >= 0, p <= 1 else {
            throw DFMError.invalid("Dropout", "dropout probability has to be between 0 and 1, but got \(p)")
        }
        self.p = p
        self.generator = generator
        super.init()
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try dropout(x, p: p, training: training, generator: generator)
    }
    public override var extraRepr: String { "p=\(p), inplace=False" }
}

public final class Identity: Module {
    public override init() { super.init() }
    public override func forward(_ x: Tensor) throws -> Tensor { x }
}

// MARK: pooling, reshaping, resampling

/// torch.nn.MaxPool2d(kernel_size, stride=kernel_size, padding=0, dilation=1, ceil_mode=False).
public final class MaxPool2d: Module {
    public let kernelSize: [Int]
    public let stride: [Int]
    public let padding: [Int]
    public let dilation: [Int]
    public let ceilMode: Bool

    public init(
        kernelSize: [Int], stride: [Int]? = nil, padding: [Int] = [0], dilation: [Int] = [1], ceilMode: Bool = false
    ) throws {
        let op = "MaxPool2d"
        self.kernelSize = try pair2(kernelSize, "kernel_size", op: op)
        self.stride = try pair2(stride ?? kernelSize, "stride", op: op)
        self.padding = try pair2(padding, "padding", op: op)
        self.dilation = try pair2(dilation, "dilation", op: op)
        self.ceilMode = ceilMode
        super.init()
    }

    public convenience init(
        kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1, ceilMode: Bool = false
    ) throws {
        try self.init(
            kernelSize: [kernelSize], stride: stride.map { [$0] }, padding: [padding], dilation: [dilation],
            ceilMode: ceilMode)
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try maxPool2d(
            x, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }

    public override var extraRepr: String {
        func v(_ a: [Int]) -> String { a[0] == a[1] ? "\(a[0])" : tupleRepr(a) }
        return
            "kernel_size=\(v(kernelSize)), stride=\(v(stride)), padding=\(v(padding)), dilation=\(v(dilation)), ceil_mode=\(pyBool(ceilMode))"
    }
}

/// torch.nn.AvgPool2d(kernel_size, stride=kernel_size, padding=0, ceil_mode=False, count_include_pad=True).
public final class AvgPool2d: Module {
    public let kernelSize: [Int]
    public let stride: [Int]
    public let padding: [Int]
    public let ceilMode: Bool
    public let countIncludePad: Bool

    public init(
        kernelSize: [Int], stride: [Int]? = nil, padding: [Int] = [0], ceilMode: Bool = false,
        countIncludePad: Bool = true
    ) throws {
        let op = "AvgPool2d"
        self.kernelSize = try pair2(kernelSize, "kernel_size", op: op)
        self.stride = try pair2(stride ?? kernelSize, "stride", op: op)
        self.padding = try pair2(padding, "padding", op: op)
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
        super.init()
    }

    public convenience init(
        kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false, countIncludePad: Bool = true
    ) throws {
        try self.init(
            kernelSize: [kernelSize], stride: stride.map { [$0] }, padding: [padding], ceilMode: ceilMode,
            countIncludePad: countIncludePad)
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try avgPool2d(
            x, kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode,
            countIncludePad: countIncludePad)
    }

    public override var extraRepr: String {
        func v(_ a: [Int]) -> String { a[0] == a[1] ? "\(a[0])" : tupleRepr(a) }
        return "kernel_size=\(v(kernelSize)), stride=\(v(stride)), padding=\(v(padding))"
    }
}

/// torch.nn.AdaptiveAvgPool2d(output_size).
public final class AdaptiveAvgPool2d: Module {
    public let outputSize: [Int]

    public init(_ outputSize: [Int]) throws {
        self.outputSize = try pair2(outputSize, "output_size", op: "AdaptiveAvgPool2d")
        super.init()
    }

    public convenience init(_ outputSize: Int) throws { try self.init([outputSize]) }

    public override func forward(_ x: Tensor) throws -> Tensor { try adaptiveAvgPool2d(x, outputSize: outputSize) }
    public override var extraRepr: String { "output_size=\(tupleRepr(outputSize))" }
}

/// torch.nn.Flatten(start_dim=1, end_dim=-1).
public final class Flatten: Module {
    public let startDim: Int
    public let endDim: Int

    public init(startDim: Int = 1, endDim: Int = -1) {
        self.startDim = startDim
        self.endDim = endDim
        super.init()
    }

    public override func forward(_ x: Tensor) throws -> Tensor { try flatten(x, startDim: startDim, endDim: endDim) }
    public override var extraRepr: String { "start_dim=\(startDim), end_dim=\(endDim)" }
}

/// torch.nn.Upsample(size=None, scale_factor=None, mode='nearest', align_corners=None).
public final class Upsample: Module {
    public let size: [Int]?
    public let scaleFactor: [Double]?
    public let mode: String
    public let alignCorners: Bool?

    public init(size: [Int]? = nil, scaleFactor: [Double]? = nil, mode: String = "nearest", alignCorners: Bool? = nil)
        throws
    {
        guard (size == nil) != (scaleFactor == nil) else {
            throw DFMError.invalid("Upsample", "exactly one of size or scale_factor must be given")
        }
        self.size = size
        self.scaleFactor = scaleFactor
        self.mode = mode
        self.alignCorners = alignCorners
        super.init()
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try interpolate(x, size: size, scaleFactor: scaleFactor, mode: mode, alignCorners: alignCorners)
    }

    public override var extraRepr: String {
        var s =
            size.map { "size=\(tupleRepr($0))" }
            ?? "scale_factor=\(scaleFactor.map { $0.count == 1 ? "\($0[0])" : "(" + $0.map { "\($0)" }.joined(separator: ", ") + ")" } ?? "None")"
        s += ", mode='\(mode)'"
        if let a = alignCorners { s += ", align_corners=\(pyBool(a))" }
        return s
    }
}
