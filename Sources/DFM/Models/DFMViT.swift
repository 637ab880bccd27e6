import Foundation

/// DFM Vision Transformer (docs/MODELS.md §7; dfm's own design: the published package lists a
/// Vision Transformer but ships none).
///
/// The frontend (patch embedding + position embedding) runs once; then each step fuses the
/// feedback softmax(LN_in(h[..., dim:])) into the tokens (`fuse`, a Linear from dim + fb to dim),
/// runs `depth` pre-norm encoder layers (torch's TransformerEncoderLayer with norm_first,
/// GELU, batch_first), projects to the state width (`state_proj` after `norm`) and adds
/// error_head(LN_err(y), t) to the state h (B, N, dim + fb), tokens channels-last. The
/// prediction is head(head_norm(mean over tokens of h[..., :dim])).
///
/// state_dict keys: `patch_embed.*`, `pos_embed`, `fuse.*` (fb > 0), `blocks.{i}.*` (torch's
/// TransformerEncoderLayer names), `norm.*`, `state_proj.*`, `layernorm_error.*`,
/// `layernorm_input.*` (fb > 0), `error_head.*`, `head_norm.*`, `head.*`, `T`.
/// The feedforward baseline is `fbFilters: 0` run with T = 1.
public final class DFMViT: Module {
    public let imageSize: [Int]
    public let patchSize: Int
    public let inChannels: Int
    public let dim: Int
    public let depth: Int
    public let heads: Int
    public let mlpDim: Int
    public let fbFilters: Int
    public let nClasses: Int
    public let dropout: Float
    /// Standard deviation of the initial state (0: zeros).
    public var stateInitStd: Float
    /// Steps used by `forward(_:)` (0 as in PyTorch: the prediction of the initial state).
    public var defaultT: Int = 0
    /// Steps the last forward actually ran (also kept in `T`).
    public private(set) var stepsRun: Int = 0
    /// Recompute each feedback step's activations during backward instead of keeping them.
    public var checkpointSteps = false
    /// The state after the last forward (part of its autograd graph in grad mode).
    public private(set) var state: Tensor?

    public let T: Tensor
    public let patchEmbed: Conv2d
    public let posEmbed: Tensor
    public let fuse: Linear?
    public let blocks: ModuleList
    public let norm: LayerNorm
    public let stateProj: Linear
    public let layernormError: LayerNorm
    public let layernormInput: LayerNorm?
    public let errorHead: StateExpDecay
    public let headNorm: LayerNorm
    public let head: Linear

    /// Channels of the state: dim + fb.
    public var channels: Int { dim + fbFilters }
    /// Tokens: (H / p)·(W / p).
    public var tokens: Int { (imageSize[0] / patchSize) * (imageSize[1] / patchSize) }

    public init(
        imageSize: [Int] = [28, 28], patchSize: Int = 4, inChannels: Int = 1, dim: Int = 128, depth: Int = 6,
        heads: Int = 4, mlpDim: Int = 256, fbFilters: Int = 0, nClasses: Int = 10, tau: Double = 1.0,
        dropout: Float = 0, stateInitStd: Float = 1e-3
    ) throws {
        let op = "DFMViT"
        guard imageSize.count == 2, imageSize.allSatisfy({ $0 > 0 }) else {
            throw DFMError.invalid(op, "image_size must be (H, W) with positive sizes, got \(imageSize)")
        }
        guard patchSize > 0 else { throw DFMError.invalid(op, "patch_size must be positive, got \(patchSize)") }
        guard imageSize[0] % patchSize == 0, imageSize[1] % patchSize == 0 else {
            throw DFMError.invalid(
                op, "image size \(imageSize[0])x\(imageSize[1]) is not a multiple of the patch size \(patchSize)")
        }
        guard inChannels > 0 else { throw DFMError.invalid(op, "in_channels must be positive, got \(inChannels)") }
        guard dim > 0, depth >= 0, heads > 0, mlpDim > 0 else {
            throw DFMError.invalid(
                op,
                "dim, heads and mlp_dim must be positive and depth non-negative, got dim \(dim), depth \(depth), heads \(heads), mlp_dim \(mlpDim)"
            )
        }
        guard dim % heads == 0 else { throw DFMError.invalid(op, "dim (\(dim)) must be divisible by heads (\(heads))") }
        guard fbFilters >= 0 else { throw DFMError.invalid(op, "fb_filters must be non-negative, got \(fbFilters)") }
        guard nClasses > 0 else { throw DFMError.invalid(op, "n_classes must be positive, got \(nClasses)") }
        guard tau.isFinite, tau > 0 else { throw DFMError.invalid(op, "tau must be positive and finite, got \(tau)") }
        guard dropout >= 0, dropout <= 1 else {
            throw DFMError.invalid(op, "dropout must be in [0, 1], got \(dropout)")
        }
        guard stateInitStd.isFinite, stateInitStd >= 0 else {
            throw DFMError.invalid(op, "state_init_std must be finite and non-negative, got \(stateInitStd)")
        }
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.inChannels = inChannels
        self.dim = dim
        self.depth = depth
        self.heads = heads
        self.mlpDim = mlpDim
        self.fbFilters = fbFilters
        self.nClasses = nClasses
        self.dropout = dropout
        self.stateInitStd = stateInitStd
        let c = dim + fbFilters
        let n = (imageSize[0] / patchSize) * (imageSize[1] / patchSize)

        T = Tensor.scalar(1)
        patchEmbed = try Conv2d(inChannels, dim, kernelSize: patchSize, stride: patchSize, bias: true)
        posEmbed = try Tensor.zeros([1, n, dim])
        fuse = fbFilters > 0 ? try Linear(c, dim) : nil
        blocks = try ModuleList(
            try (0..<depth).map { _ in
                try TransformerEncoderLayer(
                    dModel: dim, nhead: heads, dimFeedforward: mlpDim, dropout: dropout, activation: "gelu",
                    batchFirst: true, normFirst: true)
            })
        norm = try LayerNorm(dim)
        stateProj = try Linear(dim, c)
        layernormError = try LayerNorm(c)
        layernormInput = fbFilters > 0 ? try LayerNorm(fbFilters) : nil
        errorHead = try StateExpDecay(channels: c, tau: tau)
        headNorm = try LayerNorm(dim)
        head = try Linear(dim, nClasses)
        super.init()
        try registerParameter("T", T, requiresGrad: false)
        try registerModule("patch_embed", patchEmbed)
        try registerParameter("pos_embed", posEmbed)
        if let fuse { try registerModule("fuse", fuse) }
        try registerModule("blocks", blocks)
        try registerModule("norm", norm)
        try registerModule("state_proj", stateProj)
        try registerModule("layernorm_error", layernormError)
        if let layernormInput { try registerModule("layernorm_input", layernormInput) }
        try registerModule("error_head", errorHead)
        try registerModule("head_norm", headNorm)
        try registerModule("head", head)
        // LN_err and LN_in are affine but frozen at weight 1, bias 0.
        for p in layernormError.parameters() + (layernormInput?.parameters() ?? []) { try p.requiresGrad(false) }
        // §7 init: trunc_normal(0.02) for the patch embedding, every Linear and pos_embed, biases 0;
        // MHA in_proj keeps torch's xavier_uniform (its own init); LayerNorms 1 and 0.
        try Init.truncNormal_(patchEmbed.weight, std: 0.02)
        if let b = patchEmbed.bias { try Init.zeros_(b) }
        try Init.truncNormal_(posEmbed, std: 0.02)
        for case let l as Linear in modules() {
            try Init.truncNormal_(l.weight, std: 0.02)
            if let b = l.bias { try Init.zeros_(b) }
        }
    }

    public override var typeName: String { "DFMViT" }

    public override func forward(_ x: Tensor) throws -> Tensor { try forward(x, T: defaultT) }

    /// The equilibrium loop (docs/MODELS.md §3). Input (B, inChannels, H, W) or unbatched
    /// (inChannels, H, W); returns logits (B, nClasses) or (nClasses).
    public func forward(_ input: Tensor, T steps: Int, atol: Float = 1e-2) throws -> Tensor {
        let op = "DFMViT"
        guard steps >= 0 else { throw DFMError.invalid(op, "T must be non-negative, got \(steps)") }
        guard input.ndim == 3 || input.ndim == 4 else {
            throw DFMError.shape(
                op, "expected input (B, \(inChannels), H, W) or (\(inChannels), H, W), got shape \(input.shape)")
        }
        let unbatched = input.ndim == 3
        let x4 = unbatched ? try unsqueeze(input, 0) : input
        guard x4.shape[1] == inChannels else {
            throw DFMError.shape(
                op, "input has \(x4.shape[1]) channels but the model expects in_channels=\(inChannels)")
        }
        guard x4.shape[0] > 0 else { throw DFMError.shape(op, "input must be non-empty, got shape \(input.shape)") }
        guard x4.shape[2] % patchSize == 0, x4.shape[3] % patchSize == 0 else {
            throw DFMError.shape(
                op, "image size \(x4.shape[2])x\(x4.shape[3]) is not a multiple of the patch size \(patchSize)")
        }
        guard [x4.shape[2], x4.shape[3]] == imageSize else {
            throw DFMError.shape(
                op,
                "image size \(x4.shape[2])x\(x4.shape[3]) differs from the model's image_size \(imageSize[0])x\(imageSize[1]) (pos_embed has \(tokens) tokens)"
            )
        }
        let b = x4.shape[0]
        let n = tokens
        // Frontend, once: (B, dim, h, w) → (B, N, dim) + pos_embed.
        let x = try add(try transpose(try reshape(try patchEmbed(x4), [b, dim, n]), 1, 2), posEmbed)
        var h = try initialFeedbackState([b, n, channels], std: stateInitStd, dtype: x.dtype)
        state = h
        stepsRun = try runEquilibrium(T: steps, atol: atol, state: &h) { s, t in
            let step = { (xs: [Tensor]) throws -> Tensor in
                var z = try self.feedback(xs[0], xs[1])
                for blk in self.blocks.items { z = try blk(z) }
                let y = try self.stateProj(try self.norm(z))
                return try add(xs[1], try self.errorHead.forward(channelsLast: try self.layernormError(y), t: t))
            }
            return self.checkpointSteps ? try checkpoint(self, [x, s], step) : try step([x, s])
        }
        state = h
        T.fill_(Double(stepsRun))
        let out = try prediction()
        return unbatched ? try squeeze(out, dim: 0) : out
    }

    /// fuse(cat(tokens, softmax(LN_in(h[..., dim:])))); the tokens alone without feedback.
    func feedback(_ x: Tensor, _ s: Tensor) throws -> Tensor {
        guard let fuse, let layernormInput else { return x }
        let f = try softmax(try layernormInput(try narrow(s, dim: 2, start: dim, length: fbFilters)), dim: -1)
        return try fuse(try cat([x, f], dim: 2))
    }

    /// head(head_norm(mean over tokens of h[..., :dim])) for the current state.
    public func prediction() throws -> Tensor {
        guard let s = state else { throw DFMError.state("DFMViT", "no state yet: call forward first") }
        return try head(try headNorm(try mean(try narrow(s, dim: 2, start: 0, length: dim), dims: [1])))
    }

    public override var extraRepr: String {
        "image_size=\(tupleRepr(imageSize)), patch_size=\(patchSize), dim=\(dim), depth=\(depth), heads=\(heads), mlp_dim=\(mlpDim), fb_filters=\(fbFilters)"
    }
}
