import CDFM
import DFM

// torch.nn modules: built-in layers and models, and what a training loop does with them.

public typealias ModuleOut = UnsafeMutablePointer<dfm_module?>?

extension Arg {
    static func module(_ h: dfm_module?, _ name: String) throws -> Module { try object(h, .module, name) }

    /// A size-like constructor argument (channels, features): bounded like geometry values so
    /// the core's parameter-shape arithmetic cannot overflow.
    static func size(_ v: Int64, _ name: String) throws -> Int { try geometry(v, name) }
}

@inline(__always)
private func make(_ fn: StaticString, _ out: ModuleOut, _ body: () throws -> Module) -> dfm_status {
    produce(fn, out, .module, body)
}

// MARK: constructors

@c @implementation public func dfm_module_conv2d(
    _ in_channels: Int64, _ out_channels: Int64, _ kernel_size: Dims, _ stride: Dims,
    _ padding: Dims, _ dilation: Dims, _ groups: Int64, _ bias: Bool,
    _ out: ModuleOut
) -> dfm_status {
    make("dfm_module_conv2d", out) {
        try Conv2d(
            try Arg.size(in_channels, "in_channels"), try Arg.size(out_channels, "out_channels"),
            kernelSize: try Arg.pair(kernel_size, "kernel_size"), stride: try Arg.pair(stride, "stride"),
            padding: try Arg.pair(padding, "padding"), dilation: try Arg.pair(dilation, "dilation"),
            groups: try Arg.geometry(groups, "groups"), bias: bias)
    }
}

@c @implementation public func dfm_module_conv2d_padding_mode(
    _ in_channels: Int64, _ out_channels: Int64, _ kernel_size: Dims,
    _ stride: Dims, _ padding: UnsafePointer<CChar>?, _ dilation: Dims,
    _ groups: Int64, _ bias: Bool, _ out: ModuleOut
) -> dfm_status {
    make("dfm_module_conv2d_padding_mode", out) {
        try Conv2d(
            try Arg.size(in_channels, "in_channels"), try Arg.size(out_channels, "out_channels"),
            kernelSize: try Arg.pair(kernel_size, "kernel_size"), stride: try Arg.pair(stride, "stride"),
            padding: try Arg.string(padding, "padding"), dilation: try Arg.pair(dilation, "dilation"),
            groups: try Arg.geometry(groups, "groups"), bias: bias)
    }
}

@c @implementation public func dfm_module_linear(
    _ in_features: Int64, _ out_features: Int64, _ bias: Bool, _ out: ModuleOut
) -> dfm_status {
    make("dfm_module_linear", out) {
        try Linear(try Arg.size(in_features, "in_features"), try Arg.size(out_features, "out_features"), bias: bias)
    }
}

@c @implementation public func dfm_module_batch_norm2d(
    _ num_features: Int64, _ eps: Double, _ has_momentum: Bool, _ momentum: Double,
    _ affine: Bool, _ track_running_stats: Bool, _ out: ModuleOut
) -> dfm_status {
    make("dfm_module_batch_norm2d", out) {
        try BatchNorm2d(
            try Arg.size(num_features, "num_features"), eps: eps, momentum: has_momentum ? momentum : nil,
            affine: affine, trackRunningStats: track_running_stats)
    }
}

@c @implementation public func dfm_module_group_norm(
    _ num_groups: Int64, _ num_channels: Int64, _ eps: Double, _ affine: Bool,
    _ out: ModuleOut
) -> dfm_status {
    make("dfm_module_group_norm", out) {
        try GroupNorm(
            try Arg.size(num_groups, "num_groups"), try Arg.size(num_channels, "num_channels"), eps: eps, affine: affine
        )
    }
}

@c @implementation public func dfm_module_layer_norm(
    _ normalized_shape: Dims, _ ndim: Int64, _ eps: Double, _ elementwise_affine: Bool,
    _ bias: Bool, _ out: ModuleOut
) -> dfm_status {
    make("dfm_module_layer_norm", out) {
        try LayerNorm(
            try Arg.shape(normalized_shape, ndim, "normalized_shape"), eps: eps,
            elementwiseAffine: elementwise_affine, bias: bias)
    }
}

@c @implementation public func dfm_module_relu(_ out: ModuleOut) -> dfm_status {
    make("dfm_module_relu", out) { ReLU() }
}

@c @implementation public func dfm_module_gelu(_ approximate: UnsafePointer<CChar>?, _ out: ModuleOut) -> dfm_status {
    make("dfm_module_gelu", out) { try GELU(approximate: try Arg.string(approximate, "approximate")) }
}

@c @implementation public func dfm_module_sigmoid(_ out: ModuleOut) -> dfm_status {
    make("dfm_module_sigmoid", out) { Sigmoid() }
}
@c @implementation public func dfm_module_tanh(_ out: ModuleOut) -> dfm_status {
    make("dfm_module_tanh", out) { Tanh() }
}
@c @implementation public func dfm_module_identity(_ out: ModuleOut) -> dfm_status {
    make("dfm_module_identity", out) { Identity() }
}

@c @implementation public func dfm_module_softmax(_ dim: Int64, _ out: ModuleOut) -> dfm_status {
    make("dfm_module_softmax", out) { Softmax(dim: Int(dim)) }
}

@c @implementation public func dfm_module_dropout(_ p: Double, _ out: ModuleOut) -> dfm_status {
    make("dfm_module_dropout", out) { try Dropout(p: Float(p)) }
}

@c @implementation public func dfm_module_max_pool2d(
    _ kernel_size: Dims, _ stride: Dims, _ padding: Dims, _ dilation: Dims,
    _ ceil_mode: Bool, _ out: ModuleOut
) -> dfm_status {
    make("dfm_module_max_pool2d", out) {
        try MaxPool2d(
            kernelSize: try Arg.pair(kernel_size, "kernel_size"), stride: try Arg.optionalPair(stride, "stride"),
            padding: try Arg.pair(padding, "padding"), dilation: try Arg.pair(dilation, "dilation"), ceilMode: ceil_mode
        )
    }
}

@c @implementation public func dfm_module_avg_pool2d(
    _ kernel_size: Dims, _ stride: Dims, _ padding: Dims, _ ceil_mode: Bool,
    _ count_include_pad: Bool, _ out: ModuleOut
) -> dfm_status {
    make("dfm_module_avg_pool2d", out) {
        try AvgPool2d(
            kernelSize: try Arg.pair(kernel_size, "kernel_size"), stride: try Arg.optionalPair(stride, "stride"),
            padding: try Arg.pair(padding, "padding"), ceilMode: ceil_mode, countIncludePad: count_include_pad)
    }
}

@c @implementation public func dfm_module_adaptive_avg_pool2d(_ output_size: Dims, _ out: ModuleOut) -> dfm_status {
    make("dfm_module_adaptive_avg_pool2d", out) { try AdaptiveAvgPool2d(try Arg.pair(output_size, "output_size")) }
}

@c @implementation public func dfm_module_flatten(_ start_dim: Int64, _ end_dim: Int64, _ out: ModuleOut) -> dfm_status
{
    make("dfm_module_flatten", out) { Flatten(startDim: Int(start_dim), endDim: Int(end_dim)) }
}

@c @implementation public func dfm_module_upsample(
    _ size: Dims, _ scale_factor: UnsafePointer<Double>?, _ mode: UnsafePointer<CChar>?,
    _ has_align_corners: Bool, _ align_corners: Bool, _ out: ModuleOut
) -> dfm_status {
    make("dfm_module_upsample", out) {
        try Upsample(
            size: try Arg.optionalPair(size, "size"), scaleFactor: scale_factor.map { [$0[0], $0[1]] },
            mode: try Arg.string(mode, "mode"), alignCorners: has_align_corners ? align_corners : nil)
    }
}

@c @implementation public func dfm_module_sequential(
    _ modules: UnsafePointer<dfm_module?>?, _ n: Int64, _ out: ModuleOut
) -> dfm_status {
    make("dfm_module_sequential", out) {
        guard n >= 0, n <= 65_536 else {
            throw ABIError(.invalidArgument, "number of modules must be in 0...65536, got \(n)")
        }
        guard let modules else {
            if n == 0 { return try Sequential([]) }
            throw ABIError(.invalidArgument, "'modules' is NULL but n is \(n)")
        }
        return try Sequential(try (0..<Int(n)).map { try Arg.module(modules[$0], "modules[\($0)]") })
    }
}

@c @implementation public func dfm_module_resnet(
    _ arch: UnsafePointer<CChar>?, _ num_classes: Int64, _ in_channels: Int64,
    _ out: ModuleOut
) -> dfm_status {
    make("dfm_module_resnet", out) {
        let a = try Arg.string(arch, "arch")
        let classes = try Arg.size(num_classes, "num_classes")
        let channels = try Arg.size(in_channels, "in_channels")
        switch a {
        case "resnet18": return try ResNet.resnet18(numClasses: classes, inChannels: channels)
        case "resnet34": return try ResNet.resnet34(numClasses: classes, inChannels: channels)
        case "resnet50": return try ResNet.resnet50(numClasses: classes, inChannels: channels)
        default: throw ABIError(.invalidArgument, "unknown arch '\(a)' (expected resnet18, resnet34 or resnet50)")
        }
    }
}

// MARK: using a module

@c @implementation public func dfm_module_retain(_ m: dfm_module?) -> dfm_status {
    guarded("dfm_module_retain") { try Handles.retain(m, .module, "m") }
}

@c @implementation public func dfm_module_release(_ m: dfm_module?) -> dfm_status {
    guarded("dfm_module_release") { try Handles.release(m, .module, "m") }
}

@c @implementation public func dfm_module_forward(_ m: dfm_module?, _ x: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    produceTensor("dfm_module_forward", out) { try Arg.module(m, "m").forward(try Arg.tensor(x, "x")) }
}

@c @implementation public func dfm_module_train(_ m: dfm_module?, _ mode: Bool) -> dfm_status {
    guarded("dfm_module_train") { try Arg.module(m, "m").train(mode) }
}

@c @implementation public func dfm_module_is_training(_ m: dfm_module?, _ out: UnsafeMutablePointer<Bool>?)
    -> dfm_status
{
    produceValue("dfm_module_is_training", out) { try Arg.module(m, "m").training }
}

@c @implementation public func dfm_module_zero_grad(_ m: dfm_module?) -> dfm_status {
    guarded("dfm_module_zero_grad") { try Arg.module(m, "m").zeroGrad() }
}

@c @implementation public func dfm_module_to(_ m: dfm_module?, _ dtype: dfm_dtype) -> dfm_status {
    guarded("dfm_module_to") { try Arg.module(m, "m").to(try Arg.dtype(dtype)) }
}

@c @implementation public func dfm_module_get_submodule(
    _ m: dfm_module?, _ path: UnsafePointer<CChar>?, _ out: ModuleOut
) -> dfm_status {
    make("dfm_module_get_submodule", out) { try Arg.module(m, "m").getSubmodule(try Arg.string(path, "path")) }
}

@c @implementation public func dfm_module_children(_ m: dfm_module?, _ out: UnsafeMutablePointer<dfm_string_list?>?)
    -> dfm_status
{
    produce("dfm_module_children", out, .stringList) { StringList(try Arg.module(m, "m").namedChildren().map { $0.0 }) }
}

@c @implementation public func dfm_module_named_parameters(
    _ m: dfm_module?, _ out: UnsafeMutablePointer<dfm_tensor_dict?>?
) -> dfm_status {
    produce("dfm_module_named_parameters", out, .tensorDict) { TensorDict(try Arg.module(m, "m").namedParameters()) }
}

@c @implementation public func dfm_module_named_buffers(
    _ m: dfm_module?, _ out: UnsafeMutablePointer<dfm_tensor_dict?>?
) -> dfm_status {
    produce("dfm_module_named_buffers", out, .tensorDict) { TensorDict(try Arg.module(m, "m").namedBuffers()) }
}

@c @implementation public func dfm_module_state_dict(_ m: dfm_module?, _ out: UnsafeMutablePointer<dfm_tensor_dict?>?)
    -> dfm_status
{
    produce("dfm_module_state_dict", out, .tensorDict) { TensorDict(try Arg.module(m, "m").stateDict()) }
}

/// Shared tail of load_state_dict and load: clear the optional outs, run, fill them.
private func loadInto(
    _ fn: StaticString, _ missing: UnsafeMutablePointer<dfm_string_list?>?,
    _ unexpected: UnsafeMutablePointer<dfm_string_list?>?,
    _ body: () throws -> (missing: [String], unexpected: [String])
) -> dfm_status {
    guarded(fn) {
        missing?.pointee = nil
        unexpected?.pointee = nil
        let r = try body()
        optionalList(missing, r.missing)
        optionalList(unexpected, r.unexpected)
    }
}

@c @implementation public func dfm_module_load_state_dict(
    _ m: dfm_module?, _ state: dfm_tensor_dict?, _ strict: Bool,
    _ missing_keys: UnsafeMutablePointer<dfm_string_list?>?,
    _ unexpected_keys: UnsafeMutablePointer<dfm_string_list?>?
) -> dfm_status {
    loadInto("dfm_module_load_state_dict", missing_keys, unexpected_keys) {
        try Arg.module(m, "m").loadStateDict(try Arg.dict(state, "state").entries, strict: strict)
    }
}

@c @implementation public func dfm_module_save(_ m: dfm_module?, _ path: UnsafePointer<CChar>?) -> dfm_status {
    guarded("dfm_module_save") { try Arg.module(m, "m").save(to: try Arg.string(path, "path")) }
}

@c @implementation public func dfm_module_load(
    _ m: dfm_module?, _ path: UnsafePointer<CChar>?, _ strict: Bool,
    _ missing_keys: UnsafeMutablePointer<dfm_string_list?>?,
    _ unexpected_keys: UnsafeMutablePointer<dfm_string_list?>?
) -> dfm_status {
    loadInto("dfm_module_load", missing_keys, unexpected_keys) {
        try Arg.module(m, "m").load(from: try Arg.string(path, "path"), strict: strict)
    }
}

@c @implementation public func dfm_module_repr(
    _ m: dfm_module?, _ buf: UnsafeMutablePointer<CChar>?, _ capacity: Int,
    _ length: UnsafeMutablePointer<Int>?
) -> dfm_status {
    guarded("dfm_module_repr") {
        let text = try Arg.module(m, "m").description
        try copyString(text, buf, capacity, length)
    }
}

@c @implementation public func dfm_module_type_name(
    _ m: dfm_module?, _ buf: UnsafeMutablePointer<CChar>?, _ capacity: Int,
    _ length: UnsafeMutablePointer<Int>?
) -> dfm_status {
    guarded("dfm_module_type_name") { try copyString(try Arg.module(m, "m").typeName, buf, capacity, length) }
}

/// snprintf-style copy of `text` into a caller buffer: truncated at a byte boundary,
/// always NUL-terminated when capacity > 0; `length` gets the full byte length.
func copyString(
    _ text: String, _ buf: UnsafeMutablePointer<CChar>?, _ capacity: Int, _ length: UnsafeMutablePointer<Int>?
) throws {
    let cap = try Arg.bytes(capacity, "capacity")
    let bytes = Array(text.utf8)
    length?.pointee = bytes.count
    guard cap > 0 else { return }
    guard let buf else { throw ABIError(.invalidArgument, "'buf' is NULL but capacity is \(cap)") }
    let n = Swift.min(bytes.count, cap - 1)
    for k in 0..<n { buf[k] = CChar(bitPattern: bytes[k]) }
    buf[n] = 0
}
