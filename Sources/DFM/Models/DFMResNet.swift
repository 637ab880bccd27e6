import Foundation

/// DFM-ResNet18/34/50 for classification (docs/MODELS.md §4), on torchvision's blocks.
///
/// The frontend (conv1 7×7/2, bn1, relu, maxpool) runs once; then each step feeds
/// softmax(GN_in(resize(h[fb part]))) back next to the frontend's output, runs layer1..4
/// and adds error_head(GN_err(y), t) to the state h (B, (512+fb)·e, h4, w4). The
/// prediction is fc(flatten(avgpool(h[:, :512e]))).
///
/// Where the published package breaks, dfm decides (README):
/// R1 the state is sized from layer4's real output (not frontend_H // 8);
/// R2 the GroupNorms use gcd(8, channels) groups (not 8);
/// R3 the feedback is resized to the frontend's real output (not shape // 4), so any
///    input size works (`shape` is kept for the published signature);
/// R4 unbatched input (C, H, W) runs as a batch of one and returns unbatched logits.
///
/// state_dict keys are the published ones: torchvision's names, the aliases
/// `frontend.0/1` (= conv1/bn1) and `classification_head.2` (= fc), `T`,
/// `layernorm_weight`, `layernorm_error.*`, `layernorm_input.*`, `error_head.*`.
/// The feedforward baseline is `fbFilters: 0` run with T = 1.
public final class DFMResNet: Module {
    public let block: ResNetBlock
    public let fbFilters: Int
    public let registers: Int
    public let nClasses: Int
    public let shape: [Int]
    public let inChannels: Int
    /// Standard deviation of the initial state (0: zeros).
    public var stateInitStd: Float
    /// Steps used by `forward(_:)` (0 as in PyTorch: the prediction of the initial state).
    public var defaultT: Int = 0
    /// Steps the last forward actually ran (upstream reads `model.T`; also kept in `T`).
    public private(set) var stepsRun: Int = 0
    /// Recompute each feedback step's activations during backward instead of keeping them:
    /// memory stays nearly flat as T grows, gradients are unchanged, a step costs one more forward.
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
        if stepNorms.norms.isEmpty {
            stepNorms = StepBatchNorms(loop: [layer1, layer2, layer3, layer4], once: [self.frontend])
        }
        try stepNorms.enable(sets, typeName)
        stepNorms.useSteps(bnUseStepStatistics)
    }
    /// The state after the last forward (part of its autograd graph in grad mode).
    public private(set) var state: Tensor?

    public let conv1: Conv2d
    public let bn1: BatchNorm2d
    public let relu: ReLU
    public let maxpool: MaxPool2d
    public let layer1: Sequential
    public let layer2: Sequential
    public let layer3: Sequential
    public let layer4: Sequential
    public let avgpool: AdaptiveAvgPool2d
    public let fc: Linear
    public let frontend: Sequential
    public let classificationHead: Sequential
    /// 0-dim, frozen: the steps the last forward ran.
    public let T: Tensor
    /// Trainable and unused, as upstream (kept for checkpoint keys).
    public let layernormWeight: Tensor
    public let layernormError: GroupNorm
    public let layernormInput: GroupNorm
    public let errorHead: StateExpDecay

    /// Channels of the state: (512 + fb)·e.
    public var channels: Int { (512 + fbFilters) * block.expansion }
    /// Channels read by the classifier: 512·e.
    public var classChannels: Int { 512 * block.expansion }

    public init(
        block: ResNetBlock, layers: [Int], frontend: String = "resnet", fbFilters: Int = 0, registers: Int = 0,
        nClasses: Int = 200, shape: [Int] = [64, 64], tau: Double = 1.0, inChannels: Int = 3,
        stateInitStd: Float = 1e-3
    ) throws {
        let op = "DFMResNet"
        guard frontend == "resnet" else { throw DFMError.invalid(op, "frontend must be 'resnet', got '\(frontend)'") }
        guard layers.count == 4, layers.allSatisfy({ $0 >= 1 }) else {
            throw DFMError.invalid(op, "layers must list 4 positive block counts, got \(layers)")
        }
        guard fbFilters >= 0 else { throw DFMError.invalid(op, "fb_filters must be non-negative, got \(fbFilters)") }
        guard registers >= 0 else { throw DFMError.invalid(op, "registers must be non-negative, got \(registers)") }
        guard nClasses > 0 else { throw DFMError.invalid(op, "n_classes must be positive, got \(nClasses)") }
        guard inChannels > 0 else { throw DFMError.invalid(op, "in_channels must be positive, got \(inChannels)") }
        guard shape.count == 2, shape.allSatisfy({ $0 > 0 }) else {
            throw DFMError.invalid(op, "shape must be (H, W) with positive sizes, got \(shape)")
        }
        guard tau.isFinite, tau > 0 else { throw DFMError.invalid(op, "tau must be positive and finite, got \(tau)") }
        guard stateInitStd.isFinite, stateInitStd >= 0 else {
            throw DFMError.invalid(op, "state_init_std must be finite and non-negative, got \(stateInitStd)")
        }
        self.block = block
        self.fbFilters = fbFilters
        self.registers = registers
        self.nClasses = nClasses
        self.shape = shape
        self.inChannels = inChannels
        self.stateInitStd = stateInitStd
        let e = block.expansion
        let c = (512 + fbFilters) * e
        let fbc = fbFilters * e

        conv1 = try Conv2d(inChannels, 64, kernelSize: 7, stride: 2, padding: 3, bias: false)
        bn1 = try BatchNorm2d(64)
        relu = ReLU()
        maxpool = try MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
        // layer1 sees the frontend output concatenated with the feedback; layer4 has 512+fb planes.
        var b = ResNetLayerBuilder(block: block, inplanes: 64 + fbc)
        layer1 = try b.makeLayer(planes: 64, blocks: layers[0])
        layer2 = try b.makeLayer(planes: 128, blocks: layers[1], stride: 2)
        layer3 = try b.makeLayer(planes: 256, blocks: layers[2], stride: 2)
        layer4 = try b.makeLayer(planes: 512 + fbFilters, blocks: layers[3], stride: 2)
        avgpool = try AdaptiveAvgPool2d([1, 1])
        fc = try Linear(512 * e, nClasses)
        self.frontend = try Sequential([conv1, bn1, relu, maxpool])
        classificationHead = try Sequential([avgpool, Flatten(), fc])
        T = Tensor.scalar(1)
        layernormWeight = try Tensor.zeros([1, c, 1, 1])
        layernormError = try GroupNorm(DFMResNet.gcd(8, c), c)  // R2
        layernormInput = try GroupNorm(DFMResNet.gcd(8, fbc), fbc)  // R2 (gcd(8, 0) = 8 groups of 0 channels)
        errorHead = try StateExpDecay(channels: c, tau: tau)
        super.init()
        try registerParameter("T", T, requiresGrad: false)
        try registerParameter("layernorm_weight", layernormWeight)
        for (name, m) in [
            ("conv1", conv1), ("bn1", bn1), ("relu", relu), ("maxpool", maxpool), ("layer1", layer1),
            ("layer2", layer2), ("layer3", layer3), ("layer4", layer4), ("avgpool", avgpool), ("fc", fc),
            ("frontend", self.frontend), ("classification_head", classificationHead),
            ("layernorm_error", layernormError), ("layernorm_input", layernormInput),
            ("error_head", errorHead),
        ] as [(String, Module)] {
            try registerModule(name, m)
        }
        for p in layernormError.parameters() + layernormInput.parameters() { try p.requiresGrad(false) }
        // torchvision's init (convs kaiming_normal fan_out/relu, BN/GN 1 and 0); fc kaiming_normal, bias 0.
        try ResNet.initWeights(self)
        try Init.kaimingNormal_(fc.weight)
        if let bias = fc.bias { try Init.zeros_(bias) }
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    /// DFM-ResNet18: BasicBlock, [2, 2, 2, 2].
    public static func resnet18(
        frontend: String = "resnet", fbFilters: Int = 0, registers: Int = 0, nClasses: Int = 200,
        shape: [Int] = [64, 64], tau: Double = 1.0, inChannels: Int = 3,
        stateInitStd: Float = 1e-3
    ) throws -> DFMResNet {
        try DFMResNet(
            block: .basic, layers: [2, 2, 2, 2], frontend: frontend, fbFilters: fbFilters, registers: registers,
            nClasses: nClasses, shape: shape, tau: tau, inChannels: inChannels, stateInitStd: stateInitStd)
    }

    /// DFM-ResNet34: BasicBlock, [3, 4, 6, 3].
    public static func resnet34(
        frontend: String = "resnet", fbFilters: Int = 0, registers: Int = 0, nClasses: Int = 200,
        shape: [Int] = [64, 64], tau: Double = 1.0, inChannels: Int = 3,
        stateInitStd: Float = 1e-3
    ) throws -> DFMResNet {
        try DFMResNet(
            block: .basic, layers: [3, 4, 6, 3], frontend: frontend, fbFilters: fbFilters, registers: registers,
            nClasses: nClasses, shape: shape, tau: tau, inChannels: inChannels, stateInitStd: stateInitStd)
    }

    /// DFM-ResNet50: Bottleneck, [3, 4, 6, 3] (default shape 224×224).
    public static func resnet50(
        frontend: String = "resnet", fbFilters: Int = 0, registers: Int = 0, nClasses: Int = 200,
        shape: [Int] = [224, 224], tau: Double = 1.0, inChannels: Int = 3,
        stateInitStd: Float = 1e-3
    ) throws -> DFMResNet {
        try DFMResNet(
            block: .bottleneck, layers: [3, 4, 6, 3], frontend: frontend, fbFilters: fbFilters,
            registers: registers, nClasses: nClasses, shape: shape, tau: tau, inChannels: inChannels,
            stateInitStd: stateInitStd)
    }

    public override var typeName: String { "DFMResNet" }

    public override func forward(_ x: Tensor) throws -> Tensor { try forward(x, T: defaultT) }

    /// The equilibrium loop (docs/MODELS.md §3). Input (B, inChannels, H, W) or unbatched
    /// (inChannels, H, W) (R4); returns logits (B, nClasses) or (nClasses).
    public func forward(_ input: Tensor, T steps: Int, atol: Float = 1e-2) throws -> Tensor {
        let op = "DFMResNet"
        guard steps >= 0 else { throw DFMError.invalid(op, "T must be non-negative, got \(steps)") }
        let unbatched = input.ndim == 3
        guard input.ndim == 3 || input.ndim == 4 else {
            throw DFMError.shape(
                op, "expected input (B, \(inChannels), H, W) or (\(inChannels), H, W), got shape \(input.shape)")
        }
        let x4 = unbatched ? try unsqueeze(input, 0) : input
        guard x4.shape[1] == inChannels else {
            throw DFMError.shape(
                op, "input has \(x4.shape[1]) channels but the model expects in_channels=\(inChannels)")
        }
        guard x4.shape[0] > 0, x4.shape[2] > 0, x4.shape[3] > 0 else {
            throw DFMError.shape(op, "input must be non-empty, got shape \(input.shape)")
        }
        // R1: the stem conv, the max-pool and layer2..4 each halve the size as a
        // k×k/2 conv with padding k/2 does: n -> (n-1)/2 + 1.
        func down(_ n: Int) -> Int { (n - 1) / 2 + 1 }
        // R4: a single unbatched sample whose layer4 output is 1×1 gives training-mode
        // BatchNorm one value per channel, which PyTorch rejects. The published MNIST example's test loop does
        // exactly that without calling eval(), so such a forward uses eval-mode
        // normalisation (running statistics, untouched) and leaves the mode as it was.
        if training && unbatched
            && down(down(down(down(down(x4.shape[2]))))) * down(down(down(down(down(x4.shape[3]))))) == 1
        {
            train(false)
            defer { train(true) }
            return try forward(input, T: steps, atol: atol)
        }
        let x = try frontend(x4)
        let h4 = down(down(down(x.shape[2])))
        let w4 = down(down(down(x.shape[3])))
        var h = try initialFeedbackState([x.shape[0], channels, h4, w4], std: stateInitStd, dtype: x.dtype)
        state = h
        // The x halves of layer1's first convolutions, once for all steps (see `layer1Split`).
        let xParts = try xConvs(x)
        stepsRun = try runEquilibrium(T: steps, atol: atol, state: &h) { s, t in
            let step = { (xs: [Tensor]) throws -> Tensor in
                self.stepNorms.enter(step: t)
                let l1: Tensor
                if xs.count > 2 {
                    l1 = try self.layer1Split(Array(xs[2...]), try self.feedbackPart(xs[0], xs[1]))
                } else {
                    l1 = try self.layer1(try self.feedback(xs[0], xs[1]))
                }
                let y = try self.layer4(try self.layer3(try self.layer2(l1)))
                return try add(xs[1], try self.errorHead.forward(try self.layernormError(y), t: t))
            }
            let inputs = [x, s] + (xParts ?? [])
            return self.checkpointSteps ? try checkpoint(self, inputs, step) : try step(inputs)
        }
        state = h
        T.fill_(Double(stepsRun))
        let out = try prediction()
        return unbatched ? try squeeze(out, dim: 0) : out
    }

    // MARK: layer1's first block on cat(x, fb), split

    /// The first convolution of layer1's first block and its downsample convolution, when both
    /// can be split along input channels (fb > 0, plain convolutions without bias, a downsample
    /// of conv then other layers): nil otherwise, and the block runs on cat(x, fb).
    private func splitConvs() -> (first: Conv2d, down: Conv2d, downRest: [Module])? {
        guard fbFilters > 0, layer1.count >= 1, let block = try? layer1.at(0) else { return nil }
        let first: Conv2d
        let ds: Module?
        if let b = block as? BasicBlock {
            first = b.conv1
            ds = b.downsample
        } else if let b = block as? Bottleneck {
            first = b.conv1
            ds = b.downsample
        } else {
            return nil
        }
        guard let seq = ds as? Sequential, seq.count >= 1, let down = (try? seq.at(0)) as? Conv2d else { return nil }
        for c in [first, down] where c.groups != 1 || c.bias != nil || c.paddingString != nil { return nil }
        return (first, down, Array(seq.layers.dropFirst()))
    }

    /// conv(input, W[:, start..<start+length]): one input-channel slice of `conv`.
    private func convPart(_ input: Tensor, _ conv: Conv2d, start: Int, length: Int) throws -> Tensor {
        try conv2d(
            input, try narrow(conv.weight, dim: 1, start: start, length: length),
            stride: conv.stride, padding: conv.padding, dilation: conv.dilation)
    }

    /// layer1's first block reads cat(x, fb), where x (the frontend output) is the same at every
    /// step. Convolution is linear in its input channels, conv(cat(x, fb), W) = conv(x, W_x) +
    /// conv(fb, W_fb), so the x halves of its first conv and downsample conv run once per forward
    /// (here); autograd sums their output gradients over the steps and runs their backward once.
    /// nil when the model has no feedback (or the block cannot be split).
    func xConvs(_ x: Tensor) throws -> [Tensor]? {
        guard let (first, down, _) = splitConvs() else { return nil }
        let cx = x.shape[1]
        return [try convPart(x, first, start: 0, length: cx), try convPart(x, down, start: 0, length: cx)]
    }

    /// layer1 on cat(x, fb), from the precomputed x parts `xp` (`xConvs`) and the feedback `fb`.
    func layer1Split(_ xp: [Tensor], _ fb: Tensor) throws -> Tensor {
        guard let (first, down, downRest) = splitConvs() else {
            throw DFMError(.internal, "DFMResNet: layer1's first block cannot be split")
        }
        let cf = fb.shape[1]
        let cx = first.inChannels - cf
        let c1 = try add(xp[0], try convPart(fb, first, start: cx, length: cf))
        var identity = try add(xp[1], try convPart(fb, down, start: cx, length: cf))
        for m in downRest { identity = try m(identity) }
        var out: Tensor
        if let b = try layer1.at(0) as? BasicBlock {
            out = try b.relu(try b.bn1(c1))
            out = try b.bn2(try b.conv2(out))
            out = try b.relu(try add(out, identity))
        } else if let b = try layer1.at(0) as? Bottleneck {
            out = try b.relu(try b.bn1(c1))
            out = try b.relu(try b.bn2(try b.conv2(out)))
            out = try b.bn3(try b.conv3(out))
            out = try b.relu(try add(out, identity))
        } else {
            throw DFMError(.internal, "DFMResNet: layer1's first block cannot be split")
        }
        for i in 1..<layer1.count { out = try layer1.at(i)(out) }
        return out
    }

    /// softmax(GN_in(resize(h[:, 512e:], x's size))): the feedback half of layer1's input.
    func feedbackPart(_ x: Tensor, _ s: Tensor) throws -> Tensor {
        var fb = try narrow(s, dim: 1, start: classChannels, length: channels - classChannels)
        fb = try interpolate(fb, size: [x.shape[2], x.shape[3]], mode: "bilinear", alignCorners: false)
        return try softmax(try layernormInput(fb), dim: 1)
    }

    /// cat(x, softmax(GN_in(resize(h[:, 512e:], x's size)))) (R3); x alone without feedback.
    func feedback(_ x: Tensor, _ s: Tensor) throws -> Tensor {
        guard fbFilters > 0 else { return x }
        return try cat([x, try feedbackPart(x, s)], dim: 1)
    }

    /// fc(flatten(avgpool(h[:, :512e]))) for the current state.
    public func prediction() throws -> Tensor {
        guard let s = state else { throw DFMError.state("DFMResNet", "no state yet: call forward first") }
        return try classificationHead(try narrow(s, dim: 1, start: 0, length: classChannels))
    }
}
