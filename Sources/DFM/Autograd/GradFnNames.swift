/// torch's names for autograd nodes (`y.grad_fn` prints `<AddmmBackward0 object>`), and the
/// node's inputs (torch's next_functions). Where torch's name depends on the call (sum over all
/// elements or over dims, matmul by rank, linear with or without bias), the output's and the
/// inputs' shapes decide; an op with no entry gets its own name in torch's style
/// ("foo_bar" → "FooBarBackward0").
extension Tensor {
    /// The grad_fn class name torch gives the op that produced this tensor; nil for a leaf.
    public var gradFnName: String? {
        guard let node else { return nil }
        return torchNodeName(node, output: self)
    }

    /// The inputs of the op that produced this tensor (empty for a leaf, or once backward
    /// has freed the graph).
    public var gradFnInputs: [Tensor] { node?.inputs ?? [] }
}

private let fixedNames: [String: String] = [
    "add": "AddBackward0", "add_scalar": "AddBackward0", "sub": "SubBackward0", "rsub": "RsubBackward0",
    "rsub_scalar": "RsubBackward1", "mul": "MulBackward0", "mul_scalar": "MulBackward0", "div": "DivBackward0",
    "div_scalar": "DivBackward0", "rdiv": "DivBackward0", "rdiv_scalar": "MulBackward0", "pow": "PowBackward1",
    "pow_scalar": "PowBackward0", "clamp": "ClampBackward1", "where": "WhereBackward0",
    "remainder": "RemainderBackward1",
    "remainder_scalar": "RemainderBackward0", "neg": "NegBackward0", "exp": "ExpBackward0", "log": "LogBackward0",
    "log1p": "Log1PBackward0", "expm1": "Expm1Backward0", "sqrt": "SqrtBackward0", "sin": "SinBackward0",
    "cos": "CosBackward0", "abs": "AbsBackward0", "tanh": "TanhBackward0", "sigmoid": "SigmoidBackward0",
    "relu": "ReluBackward0", "leaky_relu": "LeakyReluBackward0", "gelu": "GeluBackward0", "gelu_tanh": "GeluBackward0",
    "reshape": "ViewBackward0", "flatten": "ViewBackward0", "squeeze": "SqueezeBackward1",
    "unsqueeze": "UnsqueezeBackward0",
    "permute": "PermuteBackward0", "transpose": "TransposeBackward0", "narrow": "SliceBackward0",
    "slice": "SliceBackward0",
    "select": "SelectBackward0", "expand": "ExpandBackward0", "cat": "CatBackward0", "stack": "StackBackward0",
    "mm": "MmBackward0", "bmm": "BmmBackward0", "mv": "MvBackward0", "dot": "DotBackward0", "outer": "MulBackward0",
    "addmm": "AddmmBackward0", "baddbmm": "BaddbmmBackward0", "conv2d": "ConvolutionBackward0",
    "conv1d": "ConvolutionBackward0", "conv_transpose2d": "ConvolutionBackward0",
    "max_pool2d": "MaxPool2DWithIndicesBackward0", "avg_pool2d": "AvgPool2DBackward0",
    "adaptive_avg_pool2d": "AdaptiveAvgPool2DBackward0", "batch_norm": "NativeBatchNormBackward0",
    "layer_norm": "NativeLayerNormBackward0", "group_norm": "NativeGroupNormBackward0", "softmax": "SoftmaxBackward0",
    "log_softmax": "LogSoftmaxBackward0", "cross_entropy": "NllLossBackward0", "nll_loss": "NllLossBackward0",
    "mse_loss": "MseLossBackward0", "binary_cross_entropy": "BinaryCrossEntropyBackward0",
    "binary_cross_entropy_with_logits": "BinaryCrossEntropyWithLogitsBackward0", "dropout": "MulBackward0",
    "feature_dropout": "MulBackward0", "index_select": "IndexSelectBackward0", "gather": "GatherBackward0",
    "scatter": "ScatterBackward0", "scatter_add": "ScatterAddBackward0", "masked_select": "MaskedSelectBackward0",
    "cumsum": "CumsumBackward0", "sort": "SortBackward0", "topk": "TopkBackward0", "to": "ToCopyBackward0",
    "clone": "CloneBackward0", "flip": "FlipBackward0", "roll": "RollBackward0", "triu": "TriuBackward0",
    "tril": "TrilBackward0", "diag_embed": "DiagEmbedBackward0", "diagonal": "DiagonalBackward0",
    "einsum_diagonal": "DiagonalBackward0", "pixel_shuffle": "PixelShuffleBackward0",
    "pixel_unshuffle": "PixelUnshuffleBackward0", "constant_pad_nd": "ConstantPadNdBackward0",
    "reflection_pad1d": "ReflectionPad1DBackward0", "reflection_pad2d": "ReflectionPad2DBackward0",
    "reflection_pad3d": "ReflectionPad3DBackward0", "replication_pad1d": "ReplicationPad1DBackward0",
    "replication_pad2d": "ReplicationPad2DBackward0", "replication_pad3d": "ReplicationPad3DBackward0",
    "circular_pad": "CopySlices", "linalg_qr": "LinalgQrBackward0", "linalg_qr_q": "LinalgQrBackward0",
    "linalg_qr_r": "LinalgQrBackward0",
]

private func torchNodeName(_ node: Node, output: Tensor) -> String {
    let ins = node.inputs
    // Reductions: torch's ...Backward0 reduces everything, ...Backward1 takes dims.
    let allReduced = output.ndim == 0 && (ins.first?.ndim ?? 0) > 0
    switch node.op {
    case "sum": return allReduced ? "SumBackward0" : "SumBackward1"
    case "mean": return allReduced ? "MeanBackward0" : "MeanBackward1"
    case "prod": return allReduced ? "ProdBackward0" : "ProdBackward1"
    case "max": return allReduced ? "MaxBackward1" : "MaxBackward0"
    case "min": return allReduced ? "MinBackward1" : "MinBackward0"
    case "linear":
        guard let x = ins.first, x.ndim == 2 else { return "UnsafeViewBackward0" }
        return ins.count > 2 ? "AddmmBackward0" : "MmBackward0"
    case "matmul":
        let a = ins.first?.ndim ?? 0
        let b = ins.count > 1 ? ins[1].ndim : 0
        switch (a, b) {
        case (1, 1): return "DotBackward0"
        case (2, 1): return "MvBackward0"
        case (2, 2): return "MmBackward0"
        default: return "UnsafeViewBackward0"
        }
    case "interpolate": return "UpsampleBackward0"
    default:
        if let n = fixedNames[node.op] { return n }
        let camel = node.op.split(separator: "_").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        return camel + "Backward0"
    }
}
