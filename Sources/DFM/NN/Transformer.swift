import Foundation

// torch.nn.MultiheadAttention, TransformerEncoderLayer and TransformerEncoder with torch's
// constructor arguments, parameter names and initialisation, on the fused attention op.

/// torch.nn.MultiheadAttention(embed_dim, num_heads, dropout, bias, batch_first) with the packed
/// in-projection (kdim = vdim = embed_dim, no add_bias_kv / add_zero_attn). Parameters
/// `in_proj_weight` (3E, E, xavier_uniform), `in_proj_bias` (3E, zeros), `out_proj.{weight,bias}`
/// (a Linear: default init, bias zeroed).
public final class MultiheadAttention: Module {
    public let embedDim: Int
    public let numHeads: Int
    public let dropout: Float
    public let batchFirst: Bool
    public var generator: Generator?
    public let inProjWeight: Tensor
    public let inProjBias: Tensor?
    public let outProj: Linear

    public init(embedDim: Int, numHeads: Int, dropout: Float = 0, bias: Bool = true, batchFirst: Bool = false) throws {
        let op = "MultiheadAttention"
        guard embedDim > 0, numHeads > 0 else {
            throw DFMError.invalid(
                op,
                "embed_dim and num_heads must be greater than 0, got embed_dim=\(embedDim) and num_heads=\(numHeads) instead"
            )
        }
        guard embedDim % numHeads == 0 else {
            throw DFMError.invalid(op, "embed_dim must be divisible by num_heads, got \(embedDim) and \(numHeads)")
        }
        guard dropout >= 0, dropout <= 1 else {
            throw DFMError.invalid(op, "dropout probability has to be between 0 and 1, but got \(dropout)")
        }
        self.embedDim = embedDim
        self.numHeads = numHeads
        self.dropout = dropout
        self.batchFirst = batchFirst
        inProjWeight = try Tensor.zeros([3 * embedDim, embedDim])
        inProjBias = bias ? try Tensor.zeros([3 * embedDim]) : nil
        outProj = try Linear(embedDim, embedDim, bias: bias)
        super.init()
        try registerParameter("in_proj_weight", inProjWeight)
        try registerParameter("in_proj_bias", inProjBias)
        try registerModule("out_proj", outProj)
        // torch's _reset_parameters, after out_proj's own init.
        try Init.xavierUniform_(inProjWeight)
        if let b = inProjBias { try Init.zeros_(b) }
        if let b = outProj.bias { try Init.zeros_(b) }
    }

    public override var typeName: String { "MultiheadAttention" }

    /// Self-attention of x (query = key = value); the output only.
    public override func forward(_ x: Tensor) throws -> Tensor {
        try forward(query: x, key: x, value: x, needWeights: false).output
    }

    /// torch's forward(query, key, value, key_padding_mask, need_weights, attn_mask,
    /// average_attn_weights, is_causal) → (output, weights or nil).
    public func forward(
        query: Tensor, key: Tensor, value: Tensor, keyPaddingMask: Tensor? = nil, needWeights: Bool = true,
        attnMask: Tensor? = nil, averageAttnWeights: Bool = true,
        isCausal: Bool = false
    ) throws -> (output: Tensor, weights: Tensor?) {
        try multiHeadAttentionForward(
            query: query, key: key, value: value, numHeads: numHeads, inProjWeight: inProjWeight,
            inProjBias: inProjBias, outProjWeight: outProj.weight, outProjBias: outProj.bias,
            dropoutP: dropout, training: training, keyPaddingMask: keyPaddingMask,
            needWeights: needWeights, attnMask: attnMask, averageAttnWeights: averageAttnWeights,
            isCausal: isCausal, batchFirst: batchFirst, generator: generator)
    }

    public override var extraRepr: String {
        "embed_dim=\(embedDim), num_heads=\(numHeads), dropout=\(dropout), batch_first=\(pyBool(batchFirst))"
    }
}

/// torch.nn.TransformerEncoderLayer: self-attention and a feed-forward block, each with a
/// residual; post-norm (default) or pre-norm (`normFirst`). Children as torch names them:
/// `self_attn`, `linear1`, `dropout`, `linear2`, `norm1`, `norm2`, `dropout1`, `dropout2`
/// (the activation is a function, not a child, as for torch's "relu"/"gelu" strings).
public final class TransformerEncoderLayer: Module {
    public let dModel: Int
    public let nhead: Int
    public let dimFeedforward: Int
    public let dropoutP: Float
    public let activation: String
    public let layerNormEps: Double
    public let batchFirst: Bool
    public let normFirst: Bool
    public let bias: Bool
    public let selfAttn: MultiheadAttention
    public let linear1: Linear
    public let dropout: Dropout
    public let linear2: Linear
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    public let dropout1: Dropout
    public let dropout2: Dropout

    public init(
        dModel: Int, nhead: Int, dimFeedforward: Int = 2048, dropout: Float = 0.1, activation: String = "relu",
        layerNormEps: Double = 1e-5, batchFirst: Bool = false, normFirst: Bool = false, bias: Bool = true
    ) throws {
        let op = "TransformerEncoderLayer"
        guard activation == "relu" || activation == "gelu" else {
            throw DFMError.invalid(op, "activation should be relu/gelu, not \(activation)")
        }
        guard dimFeedforward > 0 else {
            throw DFMError.invalid(op, "dim_feedforward must be positive, got \(dimFeedforward)")
        }
        guard layerNormEps.isFinite, layerNormEps >= 0 else {
            throw DFMError.invalid(op, "layer_norm_eps must be finite and non-negative, got \(layerNormEps)")
        }
        self.dModel = dModel
        self.nhead = nhead
        self.dimFeedforward = dimFeedforward
        self.dropoutP = dropout
        self.activation = activation
        self.layerNormEps = layerNormEps
        self.batchFirst = batchFirst
        self.normFirst = normFirst
        self.bias = bias
        selfAttn = try MultiheadAttention(
            embedDim: dModel, numHeads: nhead, dropout: dropout, bias: bias, batchFirst: batchFirst)
        linear1 = try Linear(dModel, dimFeedforward, bias: bias)
        self.dropout = try Dropout(p: dropout)
        linear2 = try Linear(dimFeedforward, dModel, bias: bias)
        norm1 = try LayerNorm([dModel], eps: layerNormEps, bias: bias)
        norm2 = try LayerNorm([dModel], eps: layerNormEps, bias: bias)
        dropout1 = try Dropout(p: dropout)
        dropout2 = try Dropout(p: dropout)
        super.init()
        for (name, m) in [
            ("self_attn", selfAttn), ("linear1", linear1), ("dropout", self.dropout), ("linear2", linear2),
            ("norm1", norm1), ("norm2", norm2), ("dropout1", dropout1), ("dropout2", dropout2),
        ] as [(String, Module)] {
            try registerModule(name, m)
        }
    }

    public override var typeName: String { "TransformerEncoderLayer" }

    /// A new layer with the same configuration and a copy of this one's parameters (torch's deepcopy).
    public func copy() throws -> TransformerEncoderLayer {
        let c = try TransformerEncoderLayer(
            dModel: dModel, nhead: nhead, dimFeedforward: dimFeedforward, dropout: dropoutP,
            activation: activation, layerNormEps: layerNormEps, batchFirst: batchFirst,
            normFirst: normFirst, bias: bias)
        _ = try c.loadStateDict(stateDict(), strict: true)
        c.train(training)
        return c
    }

    public override func forward(_ x: Tensor) throws -> Tensor { try forward(x, srcMask: nil, srcKeyPaddingMask: nil) }

    /// torch's forward(src, src_mask, src_key_padding_mask, is_causal).
    public func forward(_ src: Tensor, srcMask: Tensor?, srcKeyPaddingMask: Tensor?, isCausal: Bool = false) throws
        -> Tensor
    {
        func sa(_ x: Tensor) throws -> Tensor {
            try dropout1(
                try selfAttn.forward(
                    query: x, key: x, value: x, keyPaddingMask: srcKeyPaddingMask, needWeights: false,
                    attnMask: srcMask, isCausal: isCausal
                ).output)
        }
        func ff(_ x: Tensor) throws -> Tensor {
            let h = try linear1(x)
            return try dropout2(try linear2(try dropout(activation == "gelu" ? try gelu(h) : try relu(h))))
        }
        if normFirst {
            let x = try add(src, try sa(try norm1(src)))
            return try add(x, try ff(try norm2(x)))
        }
        let x = try norm1(try add(src, try sa(src)))
        return try norm2(try add(x, try ff(x)))
    }
}

/// torch.nn.TransformerEncoder(encoder_layer, num_layers, norm): `num_layers` copies of the
/// layer (identical initial weights, as torch's deepcopy) under `layers.{i}`, then the
/// optional final `norm`.
public final class TransformerEncoder: Module {
    public let layers: ModuleList
    public let norm: LayerNorm?
    public let numLayers: Int

    public init(_ encoderLayer: TransformerEncoderLayer, numLayers: Int, norm: LayerNorm? = nil) throws {
        guard numLayers > 0 else {
            throw DFMError.invalid("TransformerEncoder", "num_layers must be positive, got \(numLayers)")
        }
        self.numLayers = numLayers
        layers = try ModuleList(try (0..<numLayers).map { _ in try encoderLayer.copy() })
        self.norm = norm
        super.init()
        try registerModule("layers", layers)
        if let norm { try registerModule("norm", norm) }
    }

    public override var typeName: String { "TransformerEncoder" }

    public override func forward(_ x: Tensor) throws -> Tensor { try forward(x, mask: nil, srcKeyPaddingMask: nil) }

    public func forward(_ src: Tensor, mask: Tensor?, srcKeyPaddingMask: Tensor?, isCausal: Bool = false) throws
        -> Tensor
    {
        var x = src
        for case let layer as TransformerEncoderLayer in layers.items {
            x = try layer.forward(x, srcMask: mask, srcKeyPaddingMask: srcKeyPaddingMask, isCausal: isCausal)
        }
        return try norm.map { try $0(x) } ?? x
    }
}

extension Init {
    /// torch.nn.init.trunc_normal_(t, mean, std, a, b): N(mean, std²) restricted to [a, b]
    /// (absolute bounds), by torch's method: u ~ U(2Φ(α) - 1, 2Φ(β) - 1), x = mean + std·√2·erfinv(u),
    /// clamped to [a, b]. Draws in float32 (either dtype), like the other random inits.
    @discardableResult
    public static func truncNormal_(
        _ t: Tensor, mean: Float = 0, std: Float = 1, a: Float = -2, b: Float = 2,
        generator: Generator? = nil
    ) throws -> Tensor {
        let op = "trunc_normal_"
        guard t.dtype.isFloat else { throw DFMError.type(op, "expected a floating point tensor, got \(t.dtype)") }
        guard mean.isFinite, std.isFinite, std >= 0, a.isFinite, b.isFinite, a < b else {
            throw DFMError.invalid(
                op, "expected finite mean, std >= 0 and a < b, got mean \(mean), std \(std), a \(a), b \(b)")
        }
        if t.count == 0 { return t }
        if std == 0 { return try constant_(t, Double(Swift.min(Swift.max(mean, a), b))) }
        func cdf(_ x: Double) -> Double { (1 + Foundation.erf(x / 2.0.squareRoot())) / 2 }
        let lo = 2 * cdf(Double(a - mean) / Double(std)) - 1
        let hi = 2 * cdf(Double(b - mean) / Double(std)) - 1
        let u = try Tensor.zeros(t.shape)
        try DFM.uniform_(u, low: Float(lo), high: Float(hi), generator: generator)
        let up = u.f
        let s2 = Double(std) * 2.0.squareRoot()
        for k in 0..<u.count { up[k] = Swift.min(Swift.max(Float(Double(mean) + s2 * erfinv(Double(up[k]))), a), b) }
        try t.copy_(u)
        return t
    }

    /// Inverse error function: Giles' single-precision approximation refined by two Newton steps.
    static func erfinv(_ y: Double) -> Double {
        if y <= -1 { return -.infinity }
        if y >= 1 { return .infinity }
        var w = -Foundation.log((1 - y) * (1 + y))
        var x: Double
        if w < 5 {
            w -= 2.5
            var p = 2.81022636e-08
            for c in [
                3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164,
                0.246640727, 1.50140941,
            ] { p = c + p * w }
            x = p * y
        } else {
            w = w.squareRoot() - 3
            var p = -0.000200214257
            for c in [
                0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
                1.00167406, 2.83297682,
            ] { p = c + p * w }
            x = p * y
        }
        for _ in 0..<2 { x -= (Foundation.erf(x) - y) / (2 / Double.pi.squareRoot() * Foundation.exp(-x * x)) }
        return x
    }
}
