import Foundation

// torchvision's ResNet building blocks, with torchvision's module names, so
// state_dict keys (`layer1.0.conv1.weight`, `layer2.0.downsample.1.running_mean`, ...)
// match torchvision checkpoints exactly.

/// torchvision.models.resnet.conv3x3: 3×3, padding = dilation, no bias.
public func conv3x3(_ inPlanes: Int, _ outPlanes: Int, stride: Int = 1, groups: Int = 1, dilation: Int = 1) throws
    -> Conv2d
{
    try Conv2d(
        inPlanes, outPlanes, kernelSize: 3, stride: stride, padding: dilation, dilation: dilation, groups: groups,
        bias: false)
}

/// torchvision.models.resnet.conv1x1: 1×1, no bias.
public func conv1x1(_ inPlanes: Int, _ outPlanes: Int, stride: Int = 1) throws -> Conv2d {
    try Conv2d(inPlanes, outPlanes, kernelSize: 1, stride: stride, bias: false)
}

/// The two residual block types and their channel expansion.
public enum ResNetBlock: Sendable {
    case basic, bottleneck

    public var expansion: Int { self == .basic ? 1 : 4 }
}

/// torchvision's BasicBlock: conv3x3(stride)-bn-relu-conv3x3-bn, plus the (optionally
/// downsampled) input, then relu.
public final class BasicBlock: Module {
    public static let expansion = 1
    public let conv1: Conv2d
    public let bn1: BatchNorm2d
    public let relu: ReLU
    public let conv2: Conv2d
    public let bn2: BatchNorm2d
    public let downsample: Module?
    public let stride: Int

    public init(
        inplanes: Int, planes: Int, stride: Int = 1, downsample: Module? = nil, groups: Int = 1,
        baseWidth: Int = 64, dilation: Int = 1
    ) throws {
        guard groups == 1, baseWidth == 64 else {
            throw DFMError.invalid(
                "BasicBlock",
                "BasicBlock only supports groups=1 and base_width=64 (got groups=\(groups), base_width=\(baseWidth))")
        }
        guard dilation <= 1 else {
            throw DFMError.invalid("BasicBlock", "Dilation > 1 not supported in BasicBlock (got \(dilation))")
        }
        conv1 = try conv3x3(inplanes, planes, stride: stride)
        bn1 = try BatchNorm2d(planes)
        relu = ReLU()
        conv2 = try conv3x3(planes, planes)
        bn2 = try BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride
        super.init()
        try registerModule("conv1", conv1)
        try registerModule("bn1", bn1)
        try registerModule("relu", relu)
        try registerModule("conv2", conv2)
        try registerModule("bn2", bn2)
        if let downsample { try registerModule("downsample", downsample) }
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        var out = try relu(try bn1(try conv1(x)))
        out = try bn2(try conv2(out))
        let identity = try downsample?.forward(x) ?? x
        return try relu(try add(out, identity))
    }
}

/// torchvision's Bottleneck (ResNet v1.5: the stride sits on the 3×3 conv):
/// conv1x1-bn-relu-conv3x3(stride)-bn-relu-conv1x1(×4)-bn, plus the input, then relu.
public final class Bottleneck: Module {
    public static let expansion = 4
    public let conv1: Conv2d
    public let bn1: BatchNorm2d
    public let conv2: Conv2d
    public let bn2: BatchNorm2d
    public let conv3: Conv2d
    public let bn3: BatchNorm2d
    public let relu: ReLU
    public let downsample: Module?
    public let stride: Int

    public init(
        inplanes: Int, planes: Int, stride: Int = 1, downsample: Module? = nil, groups: Int = 1,
        baseWidth: Int = 64, dilation: Int = 1
    ) throws {
        let width = Int(Double(planes) * (Double(baseWidth) / 64.0)) * groups
        conv1 = try conv1x1(inplanes, width)
        bn1 = try BatchNorm2d(width)
        conv2 = try conv3x3(width, width, stride: stride, groups: groups, dilation: dilation)
        bn2 = try BatchNorm2d(width)
        conv3 = try conv1x1(width, planes * Bottleneck.expansion)
        bn3 = try BatchNorm2d(planes * Bottleneck.expansion)
        relu = ReLU()
        self.downsample = downsample
        self.stride = stride
        super.init()
        try registerModule("conv1", conv1)
        try registerModule("bn1", bn1)
        try registerModule("conv2", conv2)
        try registerModule("bn2", bn2)
        try registerModule("conv3", conv3)
        try registerModule("bn3", bn3)
        try registerModule("relu", relu)
        if let downsample { try registerModule("downsample", downsample) }
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        var out = try relu(try bn1(try conv1(x)))
        out = try relu(try bn2(try conv2(out)))
        out = try bn3(try conv3(out))
        let identity = try downsample?.forward(x) ?? x
        return try relu(try add(out, identity))
    }
}

/// torchvision's `ResNet._make_layer`, with its running state (`inplanes`, `dilation`)
/// exposed so a model can start a layer from any channel count (the DFM ResNets feed
/// layer1 with 64 + feedback channels) or choose custom planes (their layer4).
public struct ResNetLayerBuilder {
    public var block: ResNetBlock
    /// Input channels of the next layer; each layer sets it to planes × expansion.
    public var inplanes: Int
    public var dilation: Int = 1
    public var groups: Int
    public var baseWidth: Int

    public init(block: ResNetBlock, inplanes: Int = 64, groups: Int = 1, baseWidth: Int = 64) {
        self.block = block
        self.inplanes = inplanes
        self.groups = groups
        self.baseWidth = baseWidth
    }

    /// Builds `blocks` blocks of `planes`; the first one strides (or, with `dilate`, dilates
    /// instead) and gets a conv1x1+BN downsample when the stride or channel count changes.
    public mutating func makeLayer(planes: Int, blocks: Int, stride: Int = 1, dilate: Bool = false) throws -> Sequential
    {
        guard blocks >= 1 else {
            throw DFMError.invalid("make_layer", "a layer needs at least one block, got \(blocks)")
        }
        guard planes > 0, stride > 0 else {
            throw DFMError.invalid("make_layer", "planes and stride must be positive, got \(planes) and \(stride)")
        }
        var stride = stride
        let previousDilation = dilation
        if dilate {
            dilation *= stride
            stride = 1
        }
        let outChannels = planes * block.expansion
        var downsample: Module? = nil
        if stride != 1 || inplanes != outChannels {
            downsample = try Sequential(
                try conv1x1(inplanes, outChannels, stride: stride), try BatchNorm2d(outChannels))
        }
        var layers: [Module] = [try makeBlock(inplanes, planes, stride, downsample, previousDilation)]
        inplanes = outChannels
        for _ in 1..<blocks {
            layers.append(try makeBlock(inplanes, planes, 1, nil, dilation))
        }
        return try Sequential(layers)
    }

    private func makeBlock(_ inplanes: Int, _ planes: Int, _ stride: Int, _ downsample: Module?, _ dilation: Int) throws
        -> Module
    {
        switch block {
        case .basic:
            return try BasicBlock(
                inplanes: inplanes, planes: planes, stride: stride, downsample: downsample,
                groups: groups, baseWidth: baseWidth, dilation: dilation)
        case .bottleneck:
            return try Bottleneck(
                inplanes: inplanes, planes: planes, stride: stride, downsample: downsample,
                groups: groups, baseWidth: baseWidth, dilation: dilation)
        }
    }
}

/// torchvision.models.ResNet (feedforward), plus `inChannels` for non-RGB input.
public final class ResNet: Module {
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

    public init(
        block: ResNetBlock, layers: [Int], numClasses: Int = 1000, zeroInitResidual: Bool = false,
        groups: Int = 1, widthPerGroup: Int = 64, replaceStrideWithDilation: [Bool] = [false, false, false],
        inChannels: Int = 3
    ) throws {
        guard layers.count == 4 else {
            throw DFMError.invalid("ResNet", "layers must list 4 block counts, got \(layers)")
        }
        guard replaceStrideWithDilation.count == 3 else {
            throw DFMError.invalid(
                "ResNet",
                "replace_stride_with_dilation should be None or a 3-element tuple, got \(replaceStrideWithDilation)")
        }
        var b = ResNetLayerBuilder(block: block, inplanes: 64, groups: groups, baseWidth: widthPerGroup)
        conv1 = try Conv2d(inChannels, 64, kernelSize: 7, stride: 2, padding: 3, bias: false)
        bn1 = try BatchNorm2d(64)
        relu = ReLU()
        maxpool = try MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
        layer1 = try b.makeLayer(planes: 64, blocks: layers[0])
        layer2 = try b.makeLayer(planes: 128, blocks: layers[1], stride: 2, dilate: replaceStrideWithDilation[0])
        layer3 = try b.makeLayer(planes: 256, blocks: layers[2], stride: 2, dilate: replaceStrideWithDilation[1])
        layer4 = try b.makeLayer(planes: 512, blocks: layers[3], stride: 2, dilate: replaceStrideWithDilation[2])
        avgpool = try AdaptiveAvgPool2d([1, 1])
        fc = try Linear(512 * block.expansion, numClasses)
        super.init()
        for (name, m) in [
            ("conv1", conv1), ("bn1", bn1), ("relu", relu), ("maxpool", maxpool), ("layer1", layer1),
            ("layer2", layer2), ("layer3", layer3), ("layer4", layer4), ("avgpool", avgpool), ("fc", fc),
        ] as [(String, Module)] {
            try registerModule(name, m)
        }
        try ResNet.initWeights(self, zeroInitResidual: zeroInitResidual)
    }

    /// torchvision's ResNet init over a module tree: convs kaiming_normal(fan_out, relu),
    /// BatchNorm/GroupNorm weight 1 and bias 0; with `zeroInitResidual`, the last BN of
    /// each residual block starts at 0 so every block begins as the identity.
    public static func initWeights(_ root: Module, zeroInitResidual: Bool = false) throws {
        for m in root.modules() {
            if let c = m as? Conv2d {
                try Init.kaimingNormal_(c.weight, mode: .fanOut, nonlinearity: "relu")
            } else if let bn = m as? BatchNorm2d {
                if let w = bn.weight { try Init.constant_(w, 1) }
                if let b = bn.bias { try Init.constant_(b, 0) }
            } else if let gn = m as? GroupNorm {
                if let w = gn.weight { try Init.constant_(w, 1) }
                if let b = gn.bias { try Init.constant_(b, 0) }
            }
        }
        if zeroInitResidual {
            for m in root.modules() {
                if let b = m as? Bottleneck, let w = b.bn3.weight { try Init.constant_(w, 0) }
                if let b = m as? BasicBlock, let w = b.bn2.weight { try Init.constant_(w, 0) }
            }
        }
    }

    public static func resnet18(numClasses: Int = 1000, inChannels: Int = 3) throws -> ResNet {
        try ResNet(block: .basic, layers: [2, 2, 2, 2], numClasses: numClasses, inChannels: inChannels)
    }

    public static func resnet34(numClasses: Int = 1000, inChannels: Int = 3) throws -> ResNet {
        try ResNet(block: .basic, layers: [3, 4, 6, 3], numClasses: numClasses, inChannels: inChannels)
    }

    public static func resnet50(numClasses: Int = 1000, inChannels: Int = 3) throws -> ResNet {
        try ResNet(block: .bottleneck, layers: [3, 4, 6, 3], numClasses: numClasses, inChannels: inChannels)
    }

    public override func forward(_ x: Tensor) throws -> Tensor {
        var y = try maxpool(try relu(try bn1(try conv1(x))))
        y = try layer4(try layer3(try layer2(try layer1(y))))
        return try fc(try flatten(try avgpool(y), startDim: 1))
    }
}
