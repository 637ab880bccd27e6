import Foundation
import XCTest

@testable import DFM

final class NNTests: XCTestCase {
    // MARK: parity with PyTorch given the same weights

    func testLinearAndConvParity() throws {
        let fx = try Fixture("nn_optim")
        let lin = try Linear(4, 3)
        let lx = try fx.leaves("linear", ["x", "weight", "bias"])
        try lin.weight.copy_(lx[1])
        try lin.bias!.copy_(lx[2])
        let x = lx[0]
        try fx.check(
            "linear", outputs: [try lin(x)], inputs: ["x": x, "weight": lin.weight, "bias": lin.bias!], rtol: 1e-5,
            atol: 1e-5)

        var checked = 0
        for c in fx.cases where c.hasPrefix("conv_") {
            let hasBias = fx.bool(c, "bias")!
            let k = fx.ints(c, "k")!
            let stride = fx.ints(c, "stride")!
            let dil = fx.ints(c, "dilation")!
            let conv: Conv2d
            if let ps = fx.string(c, "padding_str") {
                conv = try Conv2d(
                    fx.int(c, "inC")!, fx.int(c, "outC")!, kernelSize: k, stride: stride, padding: ps,
                    dilation: dil, groups: fx.int(c, "groups")!, bias: hasBias)
            } else {
                conv = try Conv2d(
                    fx.int(c, "inC")!, fx.int(c, "outC")!, kernelSize: k, stride: stride,
                    padding: fx.ints(c, "padding")!, dilation: dil, groups: fx.int(c, "groups")!, bias: hasBias)
            }
            let ins = try fx.leaves(c, hasBias ? ["x", "weight", "bias"] : ["x", "weight"])
            try conv.weight.copy_(ins[1])
            if hasBias { try conv.bias!.copy_(ins[2]) }
            var grads: [String: Tensor] = ["x": ins[0], "weight": conv.weight]
            if hasBias { grads["bias"] = conv.bias! }
            try fx.check(c, outputs: [try conv(ins[0])], inputs: grads, rtol: 1e-4, atol: 1e-5)
            checked += 1
        }
        XCTAssertEqual(checked, 4)
    }

    func testBatchNorm2dParity() throws {
        let fx = try Fixture("nn_optim")
        for c in ["bn_default", "bn_momentum_none"] {
            let momentum = fx.float(c, "momentum")
            let bn = try BatchNorm2d(3, eps: fx.float(c, "eps")!, momentum: momentum)
            try bn.weight!.copy_(fx.tensors["\(c)/in/weight"]!)
            try bn.bias!.copy_(fx.tensors["\(c)/in/bias"]!)
            XCTAssertTrue(bn.training)
            for k in 0..<2 {
                bn.zeroGrad()
                let x = try fx.tensors["\(c)/x/\(k)"]!.clone().requiresGrad()
                let y = try bn(x)
                assertClose(y, fx.tensors["\(c)/y/\(k)"]!, rtol: 1e-4, atol: 1e-5, "\(c) y\(k)")
                try sum(try mul(y, fx.tensors["\(c)/gout/\(k)"]!)).backward()
                assertClose(x.grad!, fx.tensors["\(c)/gx/\(k)"]!, rtol: 1e-4, atol: 1e-4, "\(c) gx\(k)")
                assertClose(bn.weight!.grad!, fx.tensors["\(c)/gw/\(k)"]!, rtol: 1e-4, atol: 1e-4, "\(c) gw\(k)")
                assertClose(bn.bias!.grad!, fx.tensors["\(c)/gb/\(k)"]!, rtol: 1e-4, atol: 1e-4, "\(c) gb\(k)")
                assertClose(
                    bn.runningMean!, fx.tensors["\(c)/rm/\(k)"]!, rtol: 1e-5, atol: 1e-6, "\(c) running_mean \(k)")
                assertClose(
                    bn.runningVar!, fx.tensors["\(c)/rv/\(k)"]!, rtol: 1e-5, atol: 1e-6, "\(c) running_var \(k)")
                XCTAssertEqual(bn.numBatchesTracked!.toInt64Array(), fx.tensors["\(c)/nbt/\(k)"]!.toInt64Array())
                XCTAssertEqual(bn.numBatchesTracked!.dtype, .int64)
                XCTAssertEqual(bn.numBatchesTracked!.shape, [])
            }
            bn.eval()
            let y = try GradMode.noGrad { try bn(fx.tensors["\(c)/x/eval"]!) }
            assertClose(y, fx.tensors["\(c)/y/eval"]!, rtol: 1e-5, atol: 1e-5, "\(c) eval")
            XCTAssertEqual(bn.numBatchesTracked!.toInt64Array(), [2], "eval forwards are not counted")
        }
    }

    // MARK: names, aliases, traversal

    private func torchvisionKeys(_ fx: Fixture, _ arch: String) throws -> (
        state: [(String, [Int])], params: [String], modules: [String]
    ) {
        let d = try XCTUnwrap(fx.meta["keys_\(arch)"]?.data(using: .utf8))
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: d) as? [String: Any])
        let sd = try XCTUnwrap(o["state_dict"] as? [[Any]]).map {
            ($0[0] as! String, ($0[1] as! [NSNumber]).map { $0.intValue })
        }
        return (sd, try XCTUnwrap(o["parameters"] as? [String]), try XCTUnwrap(o["modules"] as? [String]))
    }

    func testResNetKeysMatchTorchvision() throws {
        let fx = try Fixture("nn_optim")
        for (arch, model) in [
            ("resnet18", try ResNet.resnet18(numClasses: 10)), ("resnet50", try ResNet.resnet50(numClasses: 10)),
        ] {
            let expected = try torchvisionKeys(fx, arch)
            let sd = model.stateDict()
            XCTAssertEqual(sd.map { $0.0 }, expected.state.map { $0.0 }, arch)
            XCTAssertEqual(sd.map { $0.1.shape }, expected.state.map { $0.1 }, arch)
            XCTAssertEqual(model.namedParameters().map { $0.0 }, expected.params, arch)
            XCTAssertEqual(model.namedModules().map { $0.0 }, expected.modules, arch)
            for (k, t) in sd where k.hasSuffix("num_batches_tracked") {
                XCTAssertEqual(t.dtype, .int64)
                XCTAssertEqual(t.shape, [])
            }
            XCTAssertTrue(model.parameters().allSatisfy { $0.requiresGrad && $0.isLeaf })
            XCTAssertTrue(model.buffers().allSatisfy { !$0.requiresGrad })
        }
    }

    /// A module reachable under two names (the DFM ResNet's conv1 / frontend.0): parameters
    /// are listed once, the state dict lists both names, loading fills both.
    func testAliasedModules() throws {
        final class Aliased: Module {
            let conv1: Conv2d, bn1: BatchNorm2d, frontend: Sequential
            override init() {
                conv1 = try! Conv2d(1, 2, kernelSize: 3, bias: false)
                bn1 = try! BatchNorm2d(2)
                frontend = try! Sequential(conv1, bn1)
                super.init()
                try! registerModule("conv1", conv1)
                try! registerModule("bn1", bn1)
                try! registerModule("frontend", frontend)
            }
        }
        let m = Aliased()
        XCTAssertEqual(m.namedParameters().map { $0.0 }, ["conv1.weight", "bn1.weight", "bn1.bias"])
        XCTAssertEqual(
            m.namedBuffers().map { $0.0 }, ["bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"])
        XCTAssertEqual(m.namedModules().map { $0.0 }, ["", "conv1", "bn1", "frontend"])
        let keys = m.stateDict().map { $0.0 }
        XCTAssertEqual(
            keys,
            [
                "conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                "bn1.num_batches_tracked",
                "frontend.0.weight", "frontend.1.weight", "frontend.1.bias", "frontend.1.running_mean",
                "frontend.1.running_var", "frontend.1.num_batches_tracked",
            ])
        // Strict loading wants both names; either one alone is reported missing for the other.
        var state = Dictionary(uniqueKeysWithValues: m.stateDict().map { ($0.0, try! $0.1.clone()) })
        state["frontend.0.weight"] = nil
        assertThrowsDFM(try m.loadStateDict(state), "Missing key(s) in state_dict: \"frontend.0.weight\"")
        let w = try Tensor.full([2, 1, 3, 3], 0.5)
        state["conv1.weight"] = w
        let r = try m.loadStateDict(state, strict: false)
        XCTAssertEqual(r.missing, ["frontend.0.weight"])
        XCTAssertEqual(r.unexpected, [])
        XCTAssertEqual(m.conv1.weight.toArray(), w.toArray())
        XCTAssertTrue(try m.frontend.at(0) === m.conv1)
    }

    // MARK: state dict round trip and load errors

    private func smallNet() throws -> Sequential {
        try Sequential(
            Conv2d(2, 4, kernelSize: 3, padding: 1), BatchNorm2d(4), ReLU(), MaxPool2d(kernelSize: 2),
            Flatten(), Linear(4 * 2 * 2, 3))
    }

    func testStateDictSaveLoadRoundTrip() throws {
        manualSeed(11)
        let a = try smallNet()
        // Move the BN statistics away from their defaults.
        _ = try a(try randn([3, 2, 4, 4]))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dfm-nn-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("net.safetensors").path
        try a.save(to: path)

        let b = try smallNet()
        let r = try b.load(from: path)
        XCTAssertEqual(r.missing, [])
        XCTAssertEqual(r.unexpected, [])
        let sa = a.stateDict()
        let sb = b.stateDict()
        XCTAssertEqual(sa.map { $0.0 }, sb.map { $0.0 })
        for ((k, x), (_, y)) in zip(sa, sb) {
            XCTAssertEqual(x.dtype, y.dtype, k)
            XCTAssertEqual(x.toArray(), y.toArray(), k)
        }
        XCTAssertEqual(sb.first { $0.0 == "1.num_batches_tracked" }?.1.toInt64Array(), [1])
        a.eval()
        b.eval()
        let x = try randn([2, 2, 4, 4])
        XCTAssertEqual(try a(x).toArray(), try b(x).toArray())
        // Loading copies values; the module keeps its own tensors.
        let w = try b.getParameter("0.weight")
        XCTAssertTrue(w === (try b.at(0) as! Conv2d).weight)
    }

    func testLoadErrorsLeaveModuleUnchanged() throws {
        let m = try smallNet()
        let before = m.stateDict().map { ($0.0, try! $0.1.clone()) }
        func unchanged(file: StaticString = #filePath, line: UInt = #line) {
            for ((k, t), (_, now)) in zip(before, m.stateDict()) {
                XCTAssertEqual(t.toArray(), now.toArray(), "\(k) changed", file: file, line: line)
            }
        }
        var good: [String: Tensor] = [:]
        for (k, t) in before { good[k] = try Tensor.full(t.shape, 0.25) }
        good["1.num_batches_tracked"] = try Tensor(int64: [7], shape: [])

        var missing = good
        missing["5.bias"] = nil
        assertThrowsDFM(try m.loadStateDict(missing), "Missing key(s) in state_dict: \"5.bias\"", kind: .stateError)
        unchanged()

        var extra = good
        extra["5.extra"] = try Tensor.zeros([1])
        assertThrowsDFM(try m.loadStateDict(extra), "Unexpected key(s) in state_dict: \"5.extra\"", kind: .stateError)
        unchanged()

        var wrong = good
        wrong["5.weight"] = try Tensor.zeros([3, 5])
        assertThrowsDFM(
            try m.loadStateDict(wrong),
            "size mismatch for 5.weight: copying a param with shape [3, 5] from checkpoint, the shape in current model is [3, 16]",
            kind: .shapeMismatch)
        unchanged()
        // Non-strict still refuses a size mismatch, and still changes nothing.
        assertThrowsDFM(try m.loadStateDict(wrong, strict: false), "size mismatch for 5.weight")
        unchanged()

        var badInt = good
        badInt["1.num_batches_tracked"] = Tensor.scalar(.nan)
        assertThrowsDFM(try m.loadStateDict(badInt), "cannot be converted to int64")
        unchanged()

        // Non-strict with missing and unexpected keys: loads the rest, reports both.
        var partial = good
        partial["0.bias"] = nil
        partial["zzz"] = try Tensor.zeros([2])
        let r = try m.loadStateDict(partial, strict: false)
        XCTAssertEqual(r.missing, ["0.bias"])
        XCTAssertEqual(r.unexpected, ["zzz"])
        XCTAssertEqual(try m.getParameter("0.weight").toArray(), [Float](repeating: 0.25, count: 4 * 2 * 9))
        XCTAssertEqual(try m.getParameter("0.bias").toArray(), before.first { $0.0 == "0.bias" }!.1.toArray())
        XCTAssertEqual(try m.getBuffer("1.num_batches_tracked").toInt64Array(), [7])
        // A 1-element 1-dim value loads into a 0-dim buffer (torch's compatibility rule).
        var oneDim = good
        oneDim["1.num_batches_tracked"] = try Tensor(int64: [3], shape: [1])
        try m.loadStateDict(oneDim)
        XCTAssertEqual(try m.getBuffer("1.num_batches_tracked").toInt64Array(), [3])

        assertThrowsDFM(try m.load(from: "/nonexistent/dir/x.safetensors"), "", kind: .notFound)
    }

    // MARK: modes, registration, errors

    func testTrainEvalAndRegistration() throws {
        let net = try Sequential(Linear(3, 3), Dropout(p: 0.5), try Sequential(BatchNorm2d(2)))
        XCTAssertTrue(net.modules().allSatisfy { $0.training })
        net.eval()
        XCTAssertTrue(net.modules().allSatisfy { !$0.training })
        net.train()
        XCTAssertTrue(net.modules().allSatisfy { $0.training })

        let x = try Tensor.ones([4, 3])
        let d = try Dropout(p: 0.5)
        d.eval()
        XCTAssertTrue(try d(x) === x)
        d.train()
        let y = try d(try Tensor.ones([1000]))
        XCTAssertTrue(y.toArray().allSatisfy { $0 == 0 || $0 == 2 })

        let m = Module()
        assertThrowsDFM(try m(x), "missing the required \"forward\"", kind: .stateError)
        try m.registerParameter("w", try Tensor.zeros([2]))
        XCTAssertTrue(m.parameter("w")!.requiresGrad)
        assertThrowsDFM(try m.registerParameter("w", try Tensor.zeros([2])), "attribute 'w' already exists")
        assertThrowsDFM(try m.registerBuffer("w", try Tensor.zeros([2])), "already exists")
        assertThrowsDFM(try m.registerParameter("a.b", try Tensor.zeros([2])), "can't contain \".\"")
        assertThrowsDFM(try m.registerParameter("", try Tensor.zeros([2])), "empty")
        let nonLeaf = try mul(try Tensor.zeros([2]).requiresGrad(), 2)
        assertThrowsDFM(try m.registerParameter("nl", nonLeaf), "non-leaf")
        assertThrowsDFM(try m.registerParameter("i", try Tensor(int64: [1], shape: [1])), "float32", kind: .typeError)
        try m.registerParameter("frozen", try Tensor.ones([1]), requiresGrad: false)
        XCTAssertFalse(m.parameter("frozen")!.requiresGrad)
        try m.registerParameter("none", nil)
        XCTAssertEqual(m.namedParameters().map { $0.0 }, ["w", "frozen"])
        assertThrowsDFM(try m.registerModule("self", m), "own child")
        assertThrowsDFM(try net.getSubmodule("2.5"), "has no attribute `5`", kind: .notFound)
        XCTAssertTrue(try net.getSubmodule("2.0") is BatchNorm2d)
        assertThrowsDFM(try net.at(3), "out of range", kind: .indexError)
        XCTAssertTrue(try net.at(-1) is Sequential)

        // zeroGrad sets to none.
        let lin = try Linear(2, 1)
        try sum(try lin(try Tensor.ones([1, 2]))).backward()
        XCTAssertNotNil(lin.weight.grad)
        lin.zeroGrad()
        XCTAssertNil(lin.weight.grad)
        XCTAssertNil(lin.bias!.grad)
    }

    func testLayerErrorsAndShapes() throws {
        assertThrowsDFM(try Conv2d(3, 4, kernelSize: 3, groups: 2), "in_channels must be divisible by groups")
        assertThrowsDFM(try Conv2d(4, 3, kernelSize: 3, groups: 2), "out_channels must be divisible by groups")
        assertThrowsDFM(try Conv2d(4, 4, kernelSize: [3, 3, 3]), "kernel_size must be one int or two ints")
        assertThrowsDFM(try Conv2d(4, 4, kernelSize: [3], stride: [2], padding: "same"), "strided")
        assertThrowsDFM(try Conv2d(4, 4, kernelSize: 3, paddingMode: "reflect"), "padding_mode")
        assertThrowsDFM(try GroupNorm(3, 10), "num_channels must be divisible by num_groups")
        assertThrowsDFM(try Dropout(p: 1.5), "between 0 and 1")
        assertThrowsDFM(try GELU(approximate: "fast"), "approximate")
        assertThrowsDFM(try Upsample(), "exactly one of size or scale_factor")
        let bn = try BatchNorm2d(3)
        assertThrowsDFM(try bn(try Tensor.zeros([2, 3, 4])), "expected 4D input (got 3D input)")
        assertThrowsDFM(try bn(try Tensor.zeros([1, 3, 1, 1])), "more than 1 value per channel")
        XCTAssertEqual(bn.numBatchesTracked!.toInt64Array(), [0], "a rejected input is not counted")
        let conv = try Conv2d(4, 2, kernelSize: 3)
        assertThrowsDFM(try conv(try Tensor.zeros([1, 3, 5, 5])), "channels")

        // Shapes through the simple layers.
        let x = try randn([2, 3, 8, 8])
        XCTAssertEqual(try MaxPool2d(kernelSize: 3, stride: 2, padding: 1)(x).shape, [2, 3, 4, 4])
        XCTAssertEqual(try AvgPool2d(kernelSize: 2)(x).shape, [2, 3, 4, 4])
        XCTAssertEqual(try AdaptiveAvgPool2d(1)(x).shape, [2, 3, 1, 1])
        XCTAssertEqual(try Flatten()(x).shape, [2, 192])
        XCTAssertEqual(try Upsample(scaleFactor: [2], mode: "bilinear", alignCorners: false)(x).shape, [2, 3, 16, 16])
        XCTAssertEqual(try GroupNorm(3, 3)(x).shape, x.shape)
        XCTAssertEqual(try LayerNorm([8, 8])(x).shape, x.shape)
        XCTAssertTrue(try Identity()(x) === x)
        let g = try GELU(approximate: "tanh")(try Tensor([-1, 0, 1, 2], shape: [4])).toArray()
        // torch.nn.functional.gelu(torch.tensor([-1., 0., 1., 2.]), approximate='tanh')
        for (a, e) in zip(g, [-0.15880801, 0, 0.84119199, 1.95459769] as [Float]) {
            XCTAssertEqual(a, e, accuracy: 1e-6)
        }
        XCTAssertEqual(
            try Conv2d(3, 64, kernelSize: 7, stride: 2, padding: 3, bias: false).description,
            "Conv2d(3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)")
        XCTAssertEqual(
            try BatchNorm2d(64).description,
            "BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)")
        XCTAssertEqual(
            try Sequential(ReLU(), Linear(2, 3)).description,
            "Sequential(\n  (0): ReLU()\n  (1): Linear(in_features=2, out_features=3, bias=True)\n)")
    }

    // MARK: default initialisation (by statistics)

    private func stats(_ t: Tensor) -> (mean: Double, std: Double, maxAbs: Float) {
        let v = t.toArray().map(Double.init)
        let mean = v.reduce(0, +) / Double(v.count)
        let std = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)).squareRoot()
        return (mean, std, t.toArray().map { Swift.abs($0) }.max() ?? 0)
    }

    func testDefaultInits() throws {
        manualSeed(3)
        // Conv2d/Linear: U(±1/√fan_in) for weight (kaiming_uniform a=√5) and bias.
        let conv = try Conv2d(16, 32, kernelSize: 3)
        let bound = Float(1 / (16.0 * 9).squareRoot())
        let sw = stats(conv.weight)
        XCTAssertLessThanOrEqual(sw.maxAbs, bound)
        XCTAssertEqual(sw.std, Double(bound) / 3.0.squareRoot(), accuracy: 0.05 * Double(bound))
        XCTAssertGreaterThan(sw.maxAbs, 0.95 * bound)
        XCTAssertLessThanOrEqual(stats(conv.bias!).maxAbs, bound)
        let lin = try Linear(200, 50)
        let lb = Float(1 / 200.0.squareRoot())
        XCTAssertLessThanOrEqual(stats(lin.weight).maxAbs, lb)
        XCTAssertEqual(stats(lin.weight).std, Double(lb) / 3.0.squareRoot(), accuracy: 0.05 * Double(lb))
        XCTAssertLessThanOrEqual(stats(lin.bias!).maxAbs, lb)
        XCTAssertGreaterThan(stats(lin.bias!).std, 0)

        // ResNet: convs kaiming_normal(fan_out, relu) → std √(2/fan_out); BN weight 1, bias 0.
        let net = try ResNet.resnet18(numClasses: 10)
        for (name, t) in [
            ("conv1", net.conv1.weight), ("layer3.1.conv2", (try net.layer3.at(1) as! BasicBlock).conv2.weight),
        ] {
            let fanOut = Double(t.shape[0] * t.shape[2] * t.shape[3])
            let s = stats(t)
            XCTAssertEqual(s.std, (2 / fanOut).squareRoot(), accuracy: 0.05 * (2 / fanOut).squareRoot(), name)
            XCTAssertEqual(s.mean, 0, accuracy: 0.05 * (2 / fanOut).squareRoot(), name)
        }
        for m in net.modules() {
            if let bn = m as? BatchNorm2d {
                XCTAssertTrue(bn.weight!.toArray().allSatisfy { $0 == 1 })
                XCTAssertTrue(bn.bias!.toArray().allSatisfy { $0 == 0 })
            }
        }
        // fc keeps Linear's default init.
        XCTAssertLessThanOrEqual(stats(net.fc.weight).maxAbs, Float(1 / 512.0.squareRoot()))
        let z = try ResNet(block: .bottleneck, layers: [1, 1, 1, 1], numClasses: 2, zeroInitResidual: true)
        XCTAssertTrue((try z.layer2.at(0) as! Bottleneck).bn3.weight!.toArray().allSatisfy { $0 == 0 })
    }

    // MARK: ResNet structure

    func testResNetBlocksAndLayerBuilder() throws {
        manualSeed(5)
        let net = try ResNet.resnet18(numClasses: 7, inChannels: 1)
        let y = try net(try randn([2, 1, 32, 32]))
        XCTAssertEqual(y.shape, [2, 7])
        XCTAssertNil((try net.layer1.at(0) as! BasicBlock).downsample)
        XCTAssertNotNil((try net.layer2.at(0) as! BasicBlock).downsample)

        // A DFM-style layer1 with extra input channels, and a custom-planes layer4.
        var b = ResNetLayerBuilder(block: .bottleneck, inplanes: 64 + 10 * 4)
        let l1 = try b.makeLayer(planes: 64, blocks: 2)
        XCTAssertEqual(b.inplanes, 256)
        let first = try l1.at(0) as! Bottleneck
        XCTAssertEqual(first.conv1.inChannels, 104)
        let ds = try XCTUnwrap(first.downsample as? Sequential)
        XCTAssertEqual((try ds.at(0) as! Conv2d).kernelSize, [1, 1])
        XCTAssertEqual((try ds.at(1) as! BatchNorm2d).numFeatures, 256)
        b.inplanes = 1024
        let l4 = try b.makeLayer(planes: 512 + 10, blocks: 1, stride: 2)
        XCTAssertEqual(b.inplanes, (512 + 10) * 4)
        let out = try l4(try randn([1, 1024, 4, 4]))
        XCTAssertEqual(out.shape, [1, 2088, 2, 2])
        XCTAssertEqual(
            (try l4.at(0) as! Bottleneck).conv2.stride, [2, 2], "ResNet v1.5: the stride sits on the 3×3 conv")

        var d = ResNetLayerBuilder(block: .bottleneck, inplanes: 256)
        let dil = try d.makeLayer(planes: 128, blocks: 2, stride: 2, dilate: true)
        XCTAssertEqual(d.dilation, 2)
        XCTAssertEqual(
            (try dil.at(0) as! Bottleneck).conv2.dilation, [1, 1], "the first block keeps the previous dilation")
        XCTAssertEqual((try dil.at(1) as! Bottleneck).conv2.dilation, [2, 2])
        XCTAssertEqual(try dil(try randn([1, 256, 6, 6])).shape, [1, 512, 6, 6])

        var basic = ResNetLayerBuilder(block: .basic)
        assertThrowsDFM(
            try basic.makeLayer(planes: 64, blocks: 2, stride: 2, dilate: true),
            "Dilation > 1 not supported in BasicBlock")
        assertThrowsDFM(try BasicBlock(inplanes: 64, planes: 64, groups: 2), "BasicBlock only supports groups=1")
        assertThrowsDFM(try basic.makeLayer(planes: 64, blocks: 0), "at least one block")
    }

    // MARK: training

    /// A tiny conv net on a synthetic two-class problem (bright top half vs bright bottom half): loss falls.
    func testTinyConvNetTrains() throws {
        manualSeed(21)
        let net = try Sequential(
            Conv2d(1, 4, kernelSize: 3, padding: 1), BatchNorm2d(4), ReLU(),
            AdaptiveAvgPool2d([2, 1]), Flatten(), Linear(8, 2))
        var xs = [Float]()
        var ys = [Int64]()
        var r = SplitMix(seed: 9)
        for i in 0..<16 {
            let cls = i % 2
            for h in 0..<6 {
                for _ in 0..<6 { xs.append((h < 3) == (cls == 0) ? 1 + 0.3 * r.nextFloat() : 0.3 * r.nextFloat()) }
            }
            ys.append(Int64(cls))
        }
        let x = try Tensor(xs, shape: [16, 1, 6, 6])
        let y = try Tensor(int64: ys, shape: [16])
        let opt = try Adam(net.parameters(), lr: 0.05)
        var losses: [Float] = []
        for _ in 0..<30 {
            opt.zeroGrad()
            let loss = try crossEntropy(try net(x), y)
            try loss.backward()
            try opt.step()
            losses.append(try loss.item())
        }
        XCTAssertLessThan(losses.last!, 0.5 * losses.first!, "losses \(losses)")
        net.eval()
        let pred = try argmax(try net(x), dim: 1).toInt64Array()
        XCTAssertEqual(pred, ys)
    }
}
