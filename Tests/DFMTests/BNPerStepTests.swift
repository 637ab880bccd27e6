import XCTest

@testable import DFM

/// Issue 19: per-step BatchNorm statistics in the DFM backbones (off by default).
final class BNPerStepTests: XCTestCase {
    func model(perStep: Int, size: Int = 16) throws -> DFMResNet {
        manualSeed(5)
        let m = try DFMResNet.resnet18(fbFilters: 2, nClasses: 3, shape: [size, size], inChannels: 1)
        if perStep > 0 { try m.enableBNPerStep(perStep) }
        return m
    }

    /// Trains `steps` Adam steps at T 3 on fixed data; returns the losses.
    func trainSteps(_ m: DFMResNet, steps: Int = 3, size: Int = 16) throws -> [Float] {
        manualSeed(9)
        let x = try rand([4, 1, size, size])
        let y = try randint(low: 0, high: 3, shape: [4])
        let opt = try Adam(m.parameters(), lr: 1e-3)
        var losses: [Float] = []
        for s in 0..<steps {
            manualSeed(100 + UInt64(s))
            let loss = try crossEntropy(try m.forward(x, T: 3, atol: 0), y)
            opt.zeroGrad()
            try loss.backward()
            try opt.step()
            losses.append(try loss.item())
        }
        return losses
    }

    var stepNorms: (DFMResNet) -> [BatchNorm2d] {
        { m in [m.layer1, m.layer2, m.layer3, m.layer4].flatMap { $0.modules() }.compactMap { $0 as? BatchNorm2d } }
    }

    /// Off: the published state_dict keys, nothing added; the option changes no training number
    /// (training normalises with batch statistics) and leaves the shared statistics as they were.
    func testOffIsThePublishedModelAndOnTrainsIdentically() throws {
        let off = try model(perStep: 0)
        let on = try model(perStep: 3)
        XCTAssertEqual(off.bnPerStep, 0)
        XCTAssertFalse(off.stateDict().contains { $0.0.contains("per_step") })
        let added = Set(on.stateDict().map(\.0)).subtracting(off.stateDict().map(\.0))
        // 4 layers × 2 blocks × 2 BNs + 4 downsample BNs (layer1's too: it takes 64 + fb channels) = 20 BNs,
        // 3 buffers each; the frontend's bn1 runs once: none.
        XCTAssertEqual(added.count, 20 * 3, "\(added.sorted())")
        XCTAssertFalse(added.contains { $0.hasPrefix("bn1.") || $0.hasPrefix("frontend.") })
        XCTAssertEqual(try trainSteps(off), try trainSteps(on))
        let onShared = Dictionary(uniqueKeysWithValues: on.stateDict())
        for (k, t) in off.stateDict() { XCTAssertEqual(t.toArray(), onShared[k]!.toArray(), k) }
    }

    /// On: each step's set holds that step's statistics (they differ), counts one update per step.
    func testPerStepStatisticsDifferAndCount() throws {
        // 64×64: layer4's output (the state) is 2×2, so the feedback varies over the image (see below).
        let m = try model(perStep: 4, size: 64)
        _ = try trainSteps(m, steps: 2, size: 64)
        for bn in stepNorms(m) {
            let n = try XCTUnwrap(bn.numBatchesTrackedPerStep).toInt64Array()
            XCTAssertEqual(n, [2, 2, 2, 0], "T 3 trains sets 0, 1, 2; set 3 untouched")
            let mean = try XCTUnwrap(bn.runningMeanPerStep).toArray()
            let c = bn.numFeatures
            XCTAssertEqual(Array(mean[(3 * c)...]), [Float](repeating: 0, count: c))
        }
        // Steps 0 (uniform feedback) and 1 see different activations: their statistics differ.
        var d: Float = 0
        for bn in stepNorms(m) {
            let mean = try XCTUnwrap(bn.runningMeanPerStep).toArray()
            let c = bn.numFeatures
            d = Swift.max(d, zip(mean[0..<c], mean[c..<(2 * c)]).map { Swift.abs($0 - $1) }.max()!)
        }
        XCTAssertGreaterThan(d, 1e-3)
    }

    /// A finding, kept as a test: when the state is 1×1 (inputs up to 32×32, e.g. Fashion-MNIST's
    /// 28×28) and every GN_in group holds one channel (fb_filters ≤ 8, R2's gcd(8, fb) groups), the
    /// resized feedback is constant per channel and GN_in maps it to 0: the feedback is the uniform
    /// softmax at every step, so every step sees the same activations and the per-step statistics
    /// coincide. (The ViT's feedback, LayerNorm over the fb channels of each token, has no such case.)
    func testFeedbackIsConstantWhenTheStateIs1x1() throws {
        manualSeed(5)
        let m = try DFMResNet.resnet18(fbFilters: 8, nClasses: 3, shape: [28, 28], inChannels: 1)
        try m.enableBNPerStep(3)
        manualSeed(9)
        _ = try m.forward(try rand([4, 1, 28, 28]), T: 3, atol: 0)
        XCTAssertEqual(m.state?.shape, [4, 520, 1, 1])
        var d: Float = 0
        for bn in stepNorms(m) {
            let mean = try XCTUnwrap(bn.runningMeanPerStep).toArray()
            let c = bn.numFeatures
            d = Swift.max(d, zip(mean[0..<c], mean[(2 * c)..<(3 * c)]).map { Swift.abs($0 - $1) }.max()!)
        }
        XCTAssertLessThan(d, 1e-5, "steps 0 and 2 saw different activations")
    }

    /// The set rule: training min(t, S-1); eval min(t, last trained set) (eval beyond the trained T).
    func testSetRule() throws {
        let bn = try BatchNorm2d(2)
        try bn.enableStepStatistics(5)
        XCTAssertEqual([0, 1, 4, 9].map { bn.statisticSet(forStep: $0) }, [0, 1, 4, 4])
        bn.train(false)
        XCTAssertEqual([0, 3].map { bn.statisticSet(forStep: $0) }, [0, 3], "nothing trained: min(t, S-1)")
        bn.train(true)
        for t in 0..<3 {
            bn.step = t
            _ = try bn(try rand([3, 2, 2, 2]))
        }
        bn.train(false)
        XCTAssertEqual([0, 1, 2, 3, 7].map { bn.statisticSet(forStep: $0) }, [0, 1, 2, 2, 2])
        XCTAssertThrowsError(try bn.enableStepStatistics(4))
        XCTAssertNoThrow(try bn.enableStepStatistics(5))
        XCTAssertThrowsError(try BatchNorm2d(2).enableStepStatistics(0))
    }

    /// Eval reads the per-step sets: with every set overwritten by the shared statistics the output
    /// equals shared eval, with its own sets it differs; `bnUseStepStatistics = false` is shared eval.
    func testEvalUsesPerStepSets() throws {
        let m = try model(perStep: 3)
        _ = try trainSteps(m, steps: 2)
        m.eval()
        let x = try rand([2, 1, 16, 16])
        func run() throws -> [Float] {
            manualSeed(7)
            return try m.forward(x, T: 3, atol: 0).toArray()
        }
        let perStep = try run()
        m.bnUseStepStatistics = false
        let shared = try run()
        m.bnUseStepStatistics = true
        XCTAssertNotEqual(perStep, shared)
        for bn in stepNorms(m) {
            let ms = try XCTUnwrap(bn.runningMeanPerStep)
            let vs = try XCTUnwrap(bn.runningVarPerStep)
            let rm = try XCTUnwrap(bn.runningMean).toArray()
            let rv = try XCTUnwrap(bn.runningVar).toArray()
            try ms.copy_(try Tensor(Array((0..<3).map { _ in rm }.joined()), shape: ms.shape))
            try vs.copy_(try Tensor(Array((0..<3).map { _ in rv }.joined()), shape: vs.shape))
        }
        XCTAssertEqual(try run(), shared)
    }

    /// Checkpoint round trip; a checkpoint of the other mode fails with a message naming the option.
    func testCheckpointRoundTripAndModeMismatch() throws {
        let dir = NSTemporaryDirectory() + "dfm-bnstep-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let m = try model(perStep: 3)
        _ = try trainSteps(m, steps: 1)
        try m.save(to: dir + "/on.safetensors")
        XCTAssertEqual(try SafeTensors.read(dir + "/on.safetensors").metadata["dfm_bn_per_step"], "3")
        let back = try model(perStep: 3)
        try back.load(from: dir + "/on.safetensors")
        m.eval()
        back.eval()
        let x = try rand([2, 1, 16, 16])
        manualSeed(1)
        let a = try m.forward(x, T: 5, atol: 0).toArray()
        manualSeed(1)
        XCTAssertEqual(try back.forward(x, T: 5, atol: 0).toArray(), a)

        let shared = try model(perStep: 0)
        XCTAssertThrowsError(try shared.load(from: dir + "/on.safetensors")) { e in
            XCTAssert("\(e)".contains("holds per-step BatchNorm statistics (bn_per_step)"), "\(e)")
        }
        try shared.save(to: dir + "/off.safetensors")
        XCTAssertNil(try SafeTensors.read(dir + "/off.safetensors").metadata["dfm_bn_per_step"])
        XCTAssertThrowsError(try model(perStep: 3).load(from: dir + "/off.safetensors")) { e in
            XCTAssert("\(e)".contains("shared running statistics only: build it without bn_per_step"), "\(e)")
        }
        XCTAssertThrowsError(try model(perStep: 4).load(from: dir + "/on.safetensors")) { e in
            XCTAssert("\(e)".contains("different number of sets (bn_per_step)"), "\(e)")
        }
    }

    /// DeepLabV3+: the encoder's and decoder's BatchNorms get sets, the frontend's do not.
    func testDeepLabPerStep() throws {
        manualSeed(2)
        let m = try DeepLabV3Plus(inFilters: 1, fbFilters: 2, classFilters: 8, classes: 3, shape: [32, 32])
        try m.enableBNPerStep(2)
        XCTAssertEqual(m.bnPerStep, 2)
        let keys = m.stateDict().map(\.0).filter { $0.hasSuffix("running_mean_per_step") }
        XCTAssertFalse(keys.isEmpty)
        XCTAssertFalse(keys.contains { $0.hasPrefix("frontend.") }, "\(keys)")
        _ = try m.forward(try rand([2, 1, 32, 32]), T: 2, atol: 0)
        for (k, t) in m.stateDict() where k.hasSuffix("num_batches_tracked_per_step") {
            XCTAssertEqual(t.toInt64Array(), [1, 1], k)
        }
    }

    func testPlotTicksAreRound() {
        let a = PlotTicks.nice(0.153, 0.861)
        XCTAssertEqual(a.step, 0.2, accuracy: 1e-12)
        XCTAssertEqual(a.lo, 0, accuracy: 1e-12)
        XCTAssertEqual(a.hi, 1, accuracy: 1e-12)
        XCTAssertEqual(a.ticks.count, 6)
        XCTAssertEqual(a.decimals, 1)
        let b = PlotTicks.nice(61.3, 87.9)
        XCTAssertEqual(b.step, 10)  // 26.6 / 5 = 5.3 per interval: the next round step is 10
        XCTAssertEqual(b.ticks, [60, 70, 80, 90])
        XCTAssertEqual(PlotTicks.nice(62, 83).ticks, [60, 65, 70, 75, 80, 85])
        XCTAssertEqual(b.decimals, 0)
        XCTAssertEqual(PlotTicks.nice(0, 0.5).step, 0.1, accuracy: 1e-12)
        XCTAssertEqual(PlotTicks.log(10, 300), [10, 20, 50, 100, 200])
    }
}
