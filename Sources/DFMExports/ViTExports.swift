import CDFM
import DFM

// Transformers: gelu tanh, scaled dot-product attention, multi-head attention, encoder
// layers, trunc_normal_ and the DFM Vision Transformer.

extension DFMViT: FeedbackModel {}

/// Two tensor outs (the second optional): both NULL unless the call succeeds.
@inline(__always)
private func produceWithWeights(
    _ fn: StaticString, _ out: TensorOut, _ weights: TensorOut, needWeights: Bool,
    _ body: () throws -> (Tensor, Tensor?)
) -> dfm_status {
    guarded(fn) {
        // Both NULL on failure, also when 'out' is the bad pointer.
        out?.pointee = nil
        weights?.pointee = nil
        let o = try Arg.out(out, "out")
        if needWeights && weights == nil {
            throw ABIError(.invalidArgument, "output pointer 'weights' is NULL but need_weights is true")
        }
        let (y, w) = try body()
        o.pointee = Handles.make(y, .tensor)
        if let w, let weights { weights.pointee = Handles.make(w, .tensor) }
    }
}

@c @implementation public func dfm_gelu_tanh(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    produceTensor("dfm_gelu_tanh", out) { try geluTanh(try Arg.tensor(a, "a")) }
}

@c @implementation public func dfm_scaled_dot_product_attention(
    _ q: dfm_tensor?, _ k: dfm_tensor?, _ v: dfm_tensor?, _ attn_mask: dfm_tensor?, _ dropout_p: Float,
    _ is_causal: Bool,
    _ has_scale: Bool, _ scale: Double, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_scaled_dot_product_attention", out) {
        try scaledDotProductAttention(
            try Arg.tensor(q, "q"), try Arg.tensor(k, "k"), try Arg.tensor(v, "v"),
            attnMask: try Arg.optionalTensor(attn_mask, "attn_mask"), dropoutP: dropout_p,
            isCausal: is_causal, scale: has_scale ? scale : nil)
    }
}

@c @implementation public func dfm_multi_head_attention_forward(
    _ query: dfm_tensor?, _ key: dfm_tensor?, _ value: dfm_tensor?, _ num_heads: Int64, _ in_proj_weight: dfm_tensor?,
    _ in_proj_bias: dfm_tensor?, _ out_proj_weight: dfm_tensor?, _ out_proj_bias: dfm_tensor?, _ dropout_p: Float,
    _ training: Bool, _ key_padding_mask: dfm_tensor?, _ need_weights: Bool, _ attn_mask: dfm_tensor?,
    _ average_attn_weights: Bool, _ is_causal: Bool, _ batch_first: Bool, _ out: TensorOut, _ weights: TensorOut
) -> dfm_status {
    produceWithWeights("dfm_multi_head_attention_forward", out, weights, needWeights: need_weights) {
        try multiHeadAttentionForward(
            query: try Arg.tensor(query, "query"), key: try Arg.tensor(key, "key"),
            value: try Arg.tensor(value, "value"),
            numHeads: try Arg.size(num_heads, "num_heads"),
            inProjWeight: try Arg.tensor(in_proj_weight, "in_proj_weight"),
            inProjBias: try Arg.optionalTensor(in_proj_bias, "in_proj_bias"),
            outProjWeight: try Arg.tensor(out_proj_weight, "out_proj_weight"),
            outProjBias: try Arg.optionalTensor(out_proj_bias, "out_proj_bias"), dropoutP: dropout_p,
            training: training,
            keyPaddingMask: try Arg.optionalTensor(key_padding_mask, "key_padding_mask"), needWeights: need_weights,
            attnMask: try Arg.optionalTensor(attn_mask, "attn_mask"), averageAttnWeights: average_attn_weights,
            isCausal: is_causal, batchFirst: batch_first)
    }
}

@c @implementation public func dfm_init_trunc_normal_(
    _ t: dfm_tensor?, _ mean: Float, _ std: Float, _ a: Float, _ b: Float
) -> dfm_status {
    guarded("dfm_init_trunc_normal_") {
        try Init.truncNormal_(try Arg.tensor(t, "t"), mean: mean, std: std, a: a, b: b)
    }
}

@c @implementation public func dfm_module_multihead_attention(
    _ embed_dim: Int64, _ num_heads: Int64, _ dropout: Float, _ bias: Bool,
    _ batch_first: Bool, _ out: ModuleOut
) -> dfm_status {
    produce("dfm_module_multihead_attention", out, .module) {
        try MultiheadAttention(
            embedDim: try Arg.size(embed_dim, "embed_dim"), numHeads: try Arg.size(num_heads, "num_heads"),
            dropout: dropout, bias: bias, batchFirst: batch_first)
    }
}

@c @implementation public func dfm_module_multihead_attention_forward(
    _ m: dfm_module?, _ query: dfm_tensor?, _ key: dfm_tensor?, _ value: dfm_tensor?, _ key_padding_mask: dfm_tensor?,
    _ need_weights: Bool, _ attn_mask: dfm_tensor?, _ average_attn_weights: Bool, _ is_causal: Bool, _ out: TensorOut,
    _ weights: TensorOut
) -> dfm_status {
    produceWithWeights("dfm_module_multihead_attention_forward", out, weights, needWeights: need_weights) {
        guard let mha = try Arg.module(m, "m") as? MultiheadAttention else {
            throw ABIError(.typeError, "argument 'm' is not a MultiheadAttention")
        }
        return try mha.forward(
            query: try Arg.tensor(query, "query"), key: try Arg.tensor(key, "key"),
            value: try Arg.tensor(value, "value"),
            keyPaddingMask: try Arg.optionalTensor(key_padding_mask, "key_padding_mask"), needWeights: need_weights,
            attnMask: try Arg.optionalTensor(attn_mask, "attn_mask"), averageAttnWeights: average_attn_weights,
            isCausal: is_causal)
    }
}

@c @implementation public func dfm_module_transformer_encoder_layer(
    _ d_model: Int64, _ nhead: Int64, _ dim_feedforward: Int64, _ dropout: Float, _ activation: UnsafePointer<CChar>?,
    _ layer_norm_eps: Float, _ batch_first: Bool, _ norm_first: Bool, _ bias: Bool, _ out: ModuleOut
) -> dfm_status {
    produce("dfm_module_transformer_encoder_layer", out, .module) {
        try TransformerEncoderLayer(
            dModel: try Arg.size(d_model, "d_model"), nhead: try Arg.size(nhead, "nhead"),
            dimFeedforward: try Arg.size(dim_feedforward, "dim_feedforward"), dropout: dropout,
            activation: try Arg.string(activation, "activation"), layerNormEps: Double(layer_norm_eps),
            batchFirst: batch_first, normFirst: norm_first, bias: bias)
    }
}

@c @implementation public func dfm_module_transformer_encoder(
    _ encoder_layer: dfm_module?, _ num_layers: Int64, _ norm: dfm_module?,
    _ out: ModuleOut
) -> dfm_status {
    produce("dfm_module_transformer_encoder", out, .module) {
        guard let layer = try Arg.module(encoder_layer, "encoder_layer") as? TransformerEncoderLayer else {
            throw ABIError(.typeError, "argument 'encoder_layer' is not a TransformerEncoderLayer")
        }
        var ln: LayerNorm? = nil
        if norm != nil {
            guard let n = try Arg.module(norm, "norm") as? LayerNorm else {
                throw ABIError(.typeError, "argument 'norm' is not a LayerNorm")
            }
            ln = n
        }
        return try TransformerEncoder(layer, numLayers: try Arg.size(num_layers, "num_layers"), norm: ln)
    }
}

@c @implementation public func dfm_module_transformer_forward(
    _ m: dfm_module?, _ src: dfm_tensor?, _ mask: dfm_tensor?,
    _ src_key_padding_mask: dfm_tensor?, _ is_causal: Bool,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_module_transformer_forward", out) {
        let module = try Arg.module(m, "m")
        let x = try Arg.tensor(src, "src")
        let mk = try Arg.optionalTensor(mask, "mask")
        let kpm = try Arg.optionalTensor(src_key_padding_mask, "src_key_padding_mask")
        if let layer = module as? TransformerEncoderLayer {
            return try layer.forward(x, srcMask: mk, srcKeyPaddingMask: kpm, isCausal: is_causal)
        }
        if let enc = module as? TransformerEncoder {
            return try enc.forward(x, mask: mk, srcKeyPaddingMask: kpm, isCausal: is_causal)
        }
        throw ABIError(
            .typeError, "argument 'm' is a \(module.typeName), not a TransformerEncoderLayer or TransformerEncoder")
    }
}

@c @implementation public func dfm_module_dfm_vit(
    _ image_size: Dims, _ patch_size: Int64, _ in_channels: Int64, _ dim: Int64, _ depth: Int64, _ heads: Int64,
    _ mlp_dim: Int64,
    _ fb_filters: Int64, _ n_classes: Int64, _ tau: Float, _ dropout: Float, _ state_init_std: Float, _ out: ModuleOut
) -> dfm_status {
    produce("dfm_module_dfm_vit", out, .module) {
        try DFMViT(
            imageSize: try Arg.pair(image_size, "image_size"), patchSize: try Arg.size(patch_size, "patch_size"),
            inChannels: try Arg.size(in_channels, "in_channels"), dim: try Arg.size(dim, "dim"),
            depth: try Arg.size(depth, "depth"), heads: try Arg.size(heads, "heads"),
            mlpDim: try Arg.size(mlp_dim, "mlp_dim"),
            fbFilters: try Arg.size(fb_filters, "fb_filters"), nClasses: try Arg.size(n_classes, "n_classes"),
            tau: Double(tau), dropout: dropout, stateInitStd: state_init_std)
    }
}
