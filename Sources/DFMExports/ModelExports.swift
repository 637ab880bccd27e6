import CDFM
import DFM

// The DFM (feedback) models: constructors, forward with T and atol, steps run.

/// What the ABI needs from a feedback model. The models share this shape; conformance is
/// declared here so the C layer can treat them alike.
protocol FeedbackModel: Module {
    func forward(_ input: Tensor, T steps: Int, atol: Float) throws -> Tensor
    var stepsRun: Int { get }
    var checkpointSteps: Bool { get set }
}

extension DeepLabV3Plus: FeedbackModel {}
extension DFMResNet: FeedbackModel {}

extension Arg {
    static func feedbackModel(_ h: dfm_module?, _ name: String) throws -> FeedbackModel {
        let m = try module(h, name)
        guard let f = m as? FeedbackModel else {
            throw ABIError(
                .typeError,
                "argument '\(name)' is a \(m.typeName), not a DFM model (ResNet18/34/50, DeepLabV3Plus or ViT)")
        }
        return f
    }

    static func block(_ p: UnsafePointer<CChar>?) throws -> ResNetBlock {
        switch try string(p, "block") {
        case "basic": return .basic
        case "bottleneck": return .bottleneck
        case let other: throw ABIError(.invalidArgument, "block must be 'basic' or 'bottleneck', got '\(other)'")
        }
    }
}

@c @implementation public func dfm_module_dfm_resnet(
    _ arch: UnsafePointer<CChar>?, _ frontend: UnsafePointer<CChar>?, _ fb_filters: Int64, _ registers: Int64,
    _ n_classes: Int64, _ shape: Dims, _ tau: Double, _ in_channels: Int64, _ state_init_std: Double, _ out: ModuleOut
) -> dfm_status {
    produce("dfm_module_dfm_resnet", out, .module) {
        let a = try Arg.string(arch, "arch")
        let f = try Arg.string(frontend, "frontend")
        let fb = try Arg.size(fb_filters, "fb_filters")
        let reg = try Arg.size(registers, "registers")
        let classes = try Arg.size(n_classes, "n_classes")
        let channels = try Arg.size(in_channels, "in_channels")
        let hw = try Arg.pair(shape, "shape")
        switch a {
        case "resnet18":
            return try DFMResNet.resnet18(
                frontend: f, fbFilters: fb, registers: reg, nClasses: classes, shape: hw, tau: tau,
                inChannels: channels, stateInitStd: Float(state_init_std))
        case "resnet34":
            return try DFMResNet.resnet34(
                frontend: f, fbFilters: fb, registers: reg, nClasses: classes, shape: hw, tau: tau,
                inChannels: channels, stateInitStd: Float(state_init_std))
        case "resnet50":
            return try DFMResNet.resnet50(
                frontend: f, fbFilters: fb, registers: reg, nClasses: classes, shape: hw, tau: tau,
                inChannels: channels, stateInitStd: Float(state_init_std))
        default:
            throw ABIError(.invalidArgument, "unknown arch '\(a)' (expected resnet18, resnet34 or resnet50)")
        }
    }
}

@c @implementation public func dfm_module_dfm_deeplabv3plus(
    _ in_filters: Int64, _ fb_filters: Int64, _ class_filters: Int64, _ registers: Int64, _ classes: Int64,
    _ alpha: Double,
    _ tau: Double, _ shape: Dims, _ block: UnsafePointer<CChar>?, _ layers: Dims, _ aspp_dropout: Double,
    _ state_init_std: Double, _ out: ModuleOut
) -> dfm_status {
    produce("dfm_module_dfm_deeplabv3plus", out, .module) {
        let blocks = try Arg.ints(layers, 4, "layers", countName: "4")
        for (k, v) in blocks.enumerated() { _ = try Arg.geometry(Int64(v), "layers[\(k)]") }
        return try DeepLabV3Plus(
            inFilters: try Arg.size(in_filters, "in_filters"), fbFilters: try Arg.size(fb_filters, "fb_filters"),
            classFilters: try Arg.size(class_filters, "class_filters"),
            registers: try Arg.size(registers, "registers"), classes: try Arg.size(classes, "classes"),
            alpha: alpha, tau: tau, shape: try Arg.pair(shape, "shape"), block: try Arg.block(block),
            layers: blocks, asppDropout: Float(aspp_dropout), stateInitStd: Float(state_init_std))
    }
}

@c @implementation public func dfm_module_forward_dfm(
    _ m: dfm_module?, _ x: dfm_tensor?, _ T: Int64, _ atol: Double,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_module_forward_dfm", out) {
        let model = try Arg.feedbackModel(m, "m")
        return try model.forward(try Arg.tensor(x, "x"), T: try Arg.geometry(T, "T"), atol: Float(atol))
    }
}

@c @implementation public func dfm_module_steps(_ m: dfm_module?, _ out: UnsafeMutablePointer<Int64>?) -> dfm_status {
    produceValue("dfm_module_steps", out) { Int64(try Arg.feedbackModel(m, "m").stepsRun) }
}

@c @implementation public func dfm_module_set_checkpoint_steps(_ m: dfm_module?, _ on: Bool) -> dfm_status {
    guarded("dfm_module_set_checkpoint_steps") {
        let model = try Arg.feedbackModel(m, "m")
        model.checkpointSteps = on
    }
}

@c @implementation public func dfm_module_checkpoint_steps(_ m: dfm_module?, _ out: UnsafeMutablePointer<Bool>?)
    -> dfm_status
{
    produceValue("dfm_module_checkpoint_steps", out) { try Arg.feedbackModel(m, "m").checkpointSteps }
}

// MARK: per-step BatchNorm statistics (issue 19)

/// The DFM models with BatchNorms in their feedback loop.
private func stepNormModel(_ m: dfm_module?) throws -> (Int, (Int) throws -> Void) {
    let model = try Arg.feedbackModel(m, "m")
    if let r = model as? DFMResNet { return (r.bnPerStep, r.enableBNPerStep) }
    if let d = model as? DeepLabV3Plus { return (d.bnPerStep, d.enableBNPerStep) }
    throw ABIError(
        .typeError,
        "argument 'm' is a \(model.typeName), which has no BatchNorm: bn_per_step applies to DFM-ResNet and DFM-DeepLabV3+"
    )
}

@c @implementation public func dfm_module_set_bn_per_step(_ m: dfm_module?, _ sets: Int64) -> dfm_status {
    guarded("dfm_module_set_bn_per_step") {
        let (_, enable) = try stepNormModel(m)
        guard sets >= 1, sets <= 1000 else { throw ABIError(.invalidArgument, "sets must be in 1...1000, got \(sets)") }
        try enable(Int(sets))
    }
}

@c @implementation public func dfm_module_bn_per_step(_ m: dfm_module?, _ out: UnsafeMutablePointer<Int64>?)
    -> dfm_status
{
    produceValue("dfm_module_bn_per_step", out) { Int64(try stepNormModel(m).0) }
}
