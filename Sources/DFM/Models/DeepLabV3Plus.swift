import Foundation

// DFM-DeepLabV3+ (docs/MODELS.md §5): a dilated ResNet encoder and segmentation-models-pytorch
// 0.4.0's DeepLabV3PlusDecoder and SegmentationHead, turned into a deep feedback model.
// Module names follow smp and torchvision, so state_dict keys match a PyTorch build of the
// same model (tools/reference/dfm_deeplab_torch.py) and checkpoints move both ways.

// MARK: smp building blocks

/// smp's SeparableConv2d: depthwise k×k conv (groups = in, no bias) then pointwise 1×1.
public final class SeparableConv2d: Sequential {
    public init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: Int, padding: Int = 0, dilation: Int = 1,
        bias: Bool = true
    ) throws {
        try super.init([
            try Conv2d(
                inChannels, inChannels, kernelSize: kernelSize, padding: padding, dilation: dilation,
                groups: inChannels, bias: false),
            try Conv2d(inChannels, outChannels, kernelSize: 1, bias: bias),
        ])
    }
}

/// smp's ASPPPooling: global average pool, 1×1 conv, BN, ReLU, then bilinear resize back to
/// the input size (align_corners=False).
public final class ASPPPooling: Sequential {
    public init(_ inChannels: Int, _ outChannels: Int) throws {
        try super.init([
            try AdaptiveAvgPool2d(1), try Conv2d(inChannels, outChannels, kernelSize: 1, bias: false),
            try BatchNorm2d(outChannels), ReLU(),
        ])
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        let y = try super.forward(x)
        return try interpolate(y, size: [x.shape[2], x.shape[3]], mode: "bilinear", alignCorners: false)
    }
}

/// smp's ASPP: a 1×1 branch, three atrous branches (separable or plain), the pooling branch;
/// concatenated and projected by 1×1 conv + BN + ReLU + dropout.
public final class ASPP: Module {
    public let convs: ModuleList
    public let project: Sequential

    public init(_ inChannels: Int, _ outChannels: Int, atrousRates: [Int], separable: Bool, dropout: Float) throws {
        guard atrousRates.count == 3 else {
            throw DFMError.invalid("ASPP", "atrous_rates must hold 3 rates, got \(atrousRates)")
        }
        var branches: [Module] = [
            try Sequential(
                try Conv2d(inChannels, outChannels, kernelSize: 1, bias: false),
                try BatchNorm2d(outChannels), ReLU())
        ]
        for r in atrousRates {
            let conv: Module =
                separable
                ? try SeparableConv2d(inChannels, outChannels, kernelSize: 3, padding: r, dilation: r, bias: false)
                : try Conv2d(inChannels, outChannels, kernelSize: 3, padding: r, dilation: r, bias: false)
            branches.append(try Sequential(conv, try BatchNorm2d(outChannels), ReLU()))
        }
        branches.append(try ASPPPooling(inChannels, outChannels))
        convs = try ModuleList(branches)
        project = try Sequential(
            try Conv2d(5 * outChannels, outChannels, kernelSize: 1, bias: false),
            try BatchNorm2d(outChannels), ReLU(), try Dropout(p: dropout))
        super.init()
        try registerModule("convs", convs)
        try registerModule("project", project)
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try project(try cat(try convs.items.map { try $0.forward(x) }, dim: 1))
    }
}

/// smp 0.4.0's DeepLabV3PlusDecoder for output stride 16 and encoder depth 5: ASPP on the
/// deepest features (then separable 3×3 + BN + ReLU), ×4 bilinear upsampling
/// (align_corners=True), a 48-channel 1×1 high-resolution branch on layer1's features,
/// concatenation, separable 3×3 + BN + ReLU.
public final class DeepLabV3PlusDecoder: Module {
    public let aspp: Sequential
    public let up: Upsample
    public let block1: Sequential
    public let block2: Sequential

    /// `highResChannels`: channels of layer1's output; `deepChannels`: of layer4's.
    public init(
        highResChannels: Int, deepChannels: Int, outChannels: Int, atrousRates: [Int] = [12, 24, 36],
        asppDropout: Float = 0.5
    ) throws {
        aspp = try Sequential(
            try ASPP(deepChannels, outChannels, atrousRates: atrousRates, separable: true, dropout: asppDropout),
            try SeparableConv2d(outChannels, outChannels, kernelSize: 3, padding: 1, bias: false),
            try BatchNorm2d(outChannels), ReLU())
        up = try Upsample(scaleFactor: [4], mode: "bilinear", alignCorners: true)
        let highRes = 48  // proposed by the DeepLabV3+ authors
        block1 = try Sequential(
            try Conv2d(highResChannels, highRes, kernelSize: 1, bias: false),
            try BatchNorm2d(highRes), ReLU())
        block2 = try Sequential(
            try SeparableConv2d(highRes + outChannels, outChannels, kernelSize: 3, padding: 1, bias: false),
            try BatchNorm2d(outChannels), ReLU())
        super.init()
        try registerModule("aspp", aspp)
        try registerModule("up", up)
        try registerModule("block1", block1)
        try registerModule("block2", block2)
    }

    /// `highRes` is layer1's output, `deep` layer4's.
    public func forward(highRes: Tensor, deep: Tensor) throws -> Tensor {
        let a = try up(try aspp(deep))
        let h = try block1(highRes)
        guard a.shape[2] == h.shape[2], a.shape[3] == h.shape[3] else {
            throw DFMError.shape(
                "DeepLabV3PlusDecoder",
                "upsampled ASPP features are \(a.shape[2])x\(a.shape[3]) but the high-resolution features are \(h.shape[2])x\(h.shape[3])"
            )
        }
        return try block2(try cat([a, h], dim: 1))
    }
}

/// torchvision ResNet layers 1–4 with layer4 dilated for output stride 16 (smp's
/// make_dilated: every conv of layer4 gets stride 1, dilation 2, padding 2·(k/2)).
public final class DilatedResNetEncoder: Module {
    public let layer1: Sequential
    public let layer2: Sequential
    public let layer3: Sequential
    public let layer4: Sequential

    public init(block: ResNetBlock, layers: [Int], inChannels: Int) throws {
        guard layers.count == 4, layers.allSatisfy({ $0 >= 1 }) else {
            throw DFMError.invalid("DilatedResNetEncoder", "layers must list 4 positive block counts, got \(layers)")
        }
        var b = ResNetLayerBuilder(block: block, inplanes: inChannels)
        layer1 = try b.makeLayer(planes: 64, blocks: layers[0])
        layer2 = try b.makeLayer(planes: 128, blocks: layers[1], stride: 2)
        layer3 = try b.makeLayer(planes: 256, blocks: layers[2], stride: 2)
        layer4 = try b.makeLayer(planes: 512, blocks: layers[3], stride: 2)
        for m in layer4.modules() {
            if let c = m as? Conv2d {
                c.stride = [1, 1]
                c.dilation = [2, 2]
                c.padding = [(c.kernelSize[0] / 2) * 2, (c.kernelSize[1] / 2) * 2]
            }
        }
        super.init()
        try registerModule("layer1", layer1)
        try registerModule("layer2", layer2)
        try registerModule("layer3", layer3)
        try registerModule("layer4", layer4)
    }

    /// [layer1, layer2, layer3, layer4] outputs.
    public func features(_ x: Tensor) throws -> [Tensor] {
        let l1 = try layer1(x)
        let l2 = try layer2(l1)
        let l3 = try layer3(l2)
        return [l1, l2, l3, try layer4(l3)]
    }
}

// MARK: the model

/// DFM-DeepLabV3+ (docs/MODELS.md §5). The state h (B, C, H/4, W/4), C = classFilters + fbFilters,
/// starts at N(0, stateInitStd²); each step feeds softmax(GN_in(resize(h[fb part]))) back
/// next to the frontend's output, runs maxpool → dilated ResNet → DeepLabV3+ decoder, and
/// adds error_head(GN_err(y), t) to h. The prediction is segmentation_head(h[class part]).
///
/// `forward(x, T:, atol:)` runs the equilibrium loop of §3; `forward(x)` uses `defaultT`
/// (0, as in PyTorch, returns the prediction of the initial state). The feedforward
/// baseline is `fbFilters: 0` run with T = 1. `alpha` is accepted for the published
/// signature and unused (a dead parameter there too).
public final class DeepLabV3Plus: Module {
    public let inFilters: Int
    public let fbFilters: Int
    public let classFilters: Int
    public let registers: Int
    public let classes: Int
    public let alpha: Double
    public let shape: [Int]
    public var stateInitStd: Float
    /// Steps used by `forward(_:)`.
    public var defaultT: Int = 0
    /// Steps the last forward actually ran (upstream reads `model.T`).
    public private(set) var stepsRun: Int = 0
    /// Recompute each feedback step's activations during backward (see DFMResNet.checkpointSteps).
    public var checkpointSteps = false
    /// Per-step BatchNorm statistics of the backbone's BatchNorms (StepBatchNorms; off by default).
    public private(set) var stepNorms = StepBatchNorms(loop: [], once: [])
    /// Sets of per-step BatchNorm statistics (0: off, shared running statistics as upstream).
    public var bnPerStep: Int { stepNorms.sets }
    /// Eval with the per-step sets (true, the default once enabled) or the shared statistics, which
    /// are still kept, so one trained model can be evaluated both ways.
    public var bnUseStepStatistics = true { didSet { stepNorms.useSteps(bnUseStepStatistics) } }

    /// Turns on per-step BatchNorm statistics with `sets` sets (once; before training).
    public func enableBNPerStep(_ sets: Int) throws {
        if stepNorms.norms.isEmpty { stepNorms = StepBatchNorms(loop: [encoder, decoder], once: [self.frontend]) }
        try stepNorms.enable(sets, typeName)
        stepNorms.useSteps(bnUseStepStatistics)
    }
    /// The state after the last forward (part of its autograd graph in grad mode).
    public private(set) var state: Tensor?

    public let frontend: Sequential
    public let maxpool: MaxPool2d
    public let encoder: DilatedResNetEncoder
    public let decoder: DeepLabV3PlusDecoder
    public let segmentationHead: Sequential
    /// Step counter parameter (0-dim, frozen), as upstream: holds the steps of the last forward.
    public let T: Tensor
    public let errorHead: StateExpDecay
    public let layernormError: GroupNorm
    public let layernormInput: GroupNorm?

    public var channels: Int { classFilters + fbFilters }

    public init(
        inFilters: Int = 3, fbFilters: Int = 2, classFilters: Int = 256, registers: Int = 0, classes: Int = 8,
        alpha: Double = 0.2, tau: Double = 1.0, shape: [Int] = [512, 512], block: ResNetBlock = .basic,
        layers: [Int] = [2, 2, 2, 2], asppDropout: Float = 0.5, stateInitStd: Float = 1e-3
    ) throws {
        let op = "DeepLabV3Plus"
        guard inFilters > 0, classFilters > 0, classes > 0 else {
            throw DFMError.invalid(
                op,
                "in_filters, class_filters and classes must be positive, got \(inFilters), \(classFilters), \(classes)")
        }
        guard fbFilters >= 0, registers >= 0 else {
            throw DFMError.invalid(
                op, "fb_filters and registers must be non-negative, got \(fbFilters) and \(registers)")
        }
        guard registers == 0 else {
            throw DFMError.invalid(
                op, "registers > 0 is not supported (the published model never uses them), got \(registers)")
        }
        guard shape.count == 2, shape.allSatisfy({ $0 > 0 && $0 % 16 == 0 }) else {
            throw DFMError.invalid(op, "shape must be (H, W) with H and W positive multiples of 16, got \(shape)")
        }
        guard tau > 0, tau.isFinite else { throw DFMError.invalid(op, "tau must be positive and finite, got \(tau)") }
        guard alpha.isFinite else { throw DFMError.invalid(op, "alpha must be finite, got \(alpha)") }
        guard stateInitStd >= 0, stateInitStd.isFinite else {
            throw DFMError.invalid(op, "state_init_std must be finite and non-negative, got \(stateInitStd)")
        }
        self.inFilters = inFilters
        self.fbFilters = fbFilters
        self.classFilters = classFilters
        self.registers = registers
        self.classes = classes
        self.alpha = alpha
        self.shape = shape
        self.stateInitStd = stateInitStd
        let c = classFilters + fbFilters
        let e = block.expansion

        frontend = try Sequential(
            try Conv2d(inFilters, 64, kernelSize: 7, stride: 2, padding: 3, bias: false),
            try BatchNorm2d(64), ReLU())
        maxpool = try MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
        encoder = try DilatedResNetEncoder(block: block, layers: layers, inChannels: 64 + fbFilters)
        decoder = try DeepLabV3PlusDecoder(
            highResChannels: 64 * e, deepChannels: 512 * e, outChannels: c,
            asppDropout: asppDropout)
        segmentationHead = try Sequential(
            try Conv2d(classFilters, classes, kernelSize: 1),
            try Upsample(scaleFactor: [4], mode: "bilinear", alignCorners: true), Identity())
        T = Tensor.scalar(0)
        errorHead = try StateExpDecay(channels: c, tau: tau)
        layernormError = try GroupNorm(c, c)
        layernormInput = fbFilters > 0 ? try GroupNorm(fbFilters, fbFilters) : nil
        super.init()
        // torch's registration order (state_dict order): T, then the children.
        try registerParameter("T", T, requiresGrad: false)
        try registerModule("frontend", frontend)
        try registerModule("maxpool", maxpool)
        try registerModule("encoder", encoder)
        try registerModule("decoder", decoder)
        try registerModule("segmentation_head", segmentationHead)
        try registerModule("error_head", errorHead)
        try registerModule("layernorm_error", layernormError)
        for p in layernormError.parameters() { try p.requiresGrad(false) }
        if let gn = layernormInput {
            try registerModule("layernorm_input", gn)
            for p in gn.parameters() { try p.requiresGrad(false) }
        }
        // Frontend and encoder: torchvision's ResNet init; decoder: PyTorch's default conv
        // init (from Conv2d) with BN weight 1, bias 0; head: xavier uniform, bias 0.
        try ResNet.initWeights(frontend)
        try ResNet.initWeights(encoder)
        if let conv = try segmentationHead.at(0) as? Conv2d {
            try Init.xavierUniform_(conv.weight)
            if let b = conv.bias { try Init.zeros_(b) }
        }
    }

    public override func forward(_ x: Tensor) throws -> Tensor { try forward(x, T: defaultT) }

    /// The equilibrium loop (docs/MODELS.md §3). Input (B, inFilters, H, W) with H and W multiples
    /// of 16, or unbatched (inFilters, H, W); output logits (B, classes, H, W).
    public func forward(_ input: Tensor, T steps: Int, atol: Float = 1e-2) throws -> Tensor {
        let op = "DeepLabV3Plus"
        guard steps >= 0 else { throw DFMError.invalid(op, "T must be non-negative, got \(steps)") }
        let unbatched = input.ndim == 3
        let x4 = unbatched ? try unsqueeze(input, 0) : input
        guard x4.ndim == 4 else {
            throw DFMError.shape(
                op, "expected input (B, \(inFilters), H, W) or (\(inFilters), H, W), got shape \(input.shape)")
        }
        guard x4.shape[1] == inFilters else {
            throw DFMError.shape(op, "input has \(x4.shape[1]) channels but the model expects in_filters=\(inFilters)")
        }
        let (b, h, w) = (x4.shape[0], x4.shape[2], x4.shape[3])
        guard h % 16 == 0, w % 16 == 0, h > 0, w > 0 else {
            throw DFMError.shape(op, "input height and width must be divisible by 16 (output stride 16), got \(h)x\(w)")
        }
        guard !(training && b == 1) else {
            throw DFMError.invalid(
                op,
                "batch size 1 is not supported in training mode: the BatchNorm of the ASPP pooling branch would see one value per channel (use a batch of 2 or more, or eval())"
            )
        }
        let x = try frontend(x4)
        var h0 = try initialFeedbackState([b, channels, h / 4, w / 4], std: stateInitStd, dtype: x.dtype)
        state = h0
        stepsRun = try runEquilibrium(T: steps, atol: atol, state: &h0) { s, t in
            let step = { (xs: [Tensor]) throws -> Tensor in
                self.stepNorms.enter(step: t)
                let f = try self.encoder.features(try self.maxpool(try self.feedback(xs[0], xs[1])))
                let y = try self.decoder.forward(highRes: f[0], deep: f[3])
                return try add(xs[1], try self.errorHead.forward(try self.layernormError(y), t: t))
            }
            return self.checkpointSteps ? try checkpoint(self, [x, s], step) : try step([x, s])
        }
        state = h0
        T.fill_(Double(stepsRun))
        let out = try prediction()
        return unbatched ? try squeeze(out, dim: 0) : out
    }

    /// cat(x, softmax(GN_in(resize(h[:, cf:cf+fb], 2× the state size)))) (x alone without feedback).
    func feedback(_ x: Tensor, _ s: Tensor) throws -> Tensor {
        guard fbFilters > 0, let gn = layernormInput else { return x }
        var fb = try narrow(s, dim: 1, start: classFilters, length: fbFilters)
        fb = try interpolate(fb, size: [s.shape[2] * 2, s.shape[3] * 2], mode: "bilinear", alignCorners: false)
        fb = try softmax(try gn(fb), dim: 1)
        return try cat([x, fb], dim: 1)
    }

    /// segmentation_head(h[:, :classFilters]) for the current state.
    public func prediction() throws -> Tensor {
        guard let s = state else {
            throw DFMError.state("DeepLabV3Plus", "no state yet: call forward first")
        }
        return try segmentationHead(try narrow(s, dim: 1, start: 0, length: classFilters))
    }
}
