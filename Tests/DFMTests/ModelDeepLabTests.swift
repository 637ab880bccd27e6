import Foundation
import XCTest

@testable import DFM

/// DFM-DeepLabV3+ against the PyTorch reference (tools/fixtures/models_deeplab.py,
/// tools/reference/dfm_deeplab_torch.py). The float32 parity cases are smoke/regression tests whose
/// gradient checks allow ReLU kink flips (ModelTolerance, issue #12), not a proof of parity.
final class ModelDeepLabTests: XCTestCase {
    static let ignore = 255
    func load() throws -> (tensors: [String: Tensor], meta: [String: String]) {
        guard let url = Bundle.module.url(forResource: "Fixtures/models/deeplab", withExtension: "safetensors") else {
            throw DFMError(.notFound, "fixture models/deeplab missing: run tools/fixtures/models_deeplab.py")
        }
        let r = try SafeTensors.read(url.path)
        return (r.0, r.1)
    }

    func config(_ c: String) throws -> [String: Any] {
        let meta = try load().meta
        guard let s = meta[c], let o = try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any] else {
            throw DFMError(.notFound, "no metadata for case \(c)")
        }
        return o
    }

    /// The fixture script's sampling: whole when <= 128 elements, else `count` samples.
    func sampled(_ t: Tensor, count: Int = 32) throws -> Tensor {
        let v = t.toArray()
        if v.count <= 128 { return try Tensor(v, shape: t.shape) }
        let n = v.count
        return try Tensor((0..<count).map { v[((2 * $0 + 1) * n) / (2 * count)] }, shape: [count])
    }

    static func input(batch: Int, size: Int) throws -> Tensor {
        let u = try DeterministicWeights.uniformTensor("input/\(batch)x3x\(size)x\(size)", [batch, 3, size, size])
        let per = 3 * size * size
        for b in 0..<batch { for k in 0..<per { u.f[b * per + k] += Float(2 * b - 1) } }
        return u
    }

    static func targets(batch: Int, size: Int, classes: Int) throws -> Tensor {
        var t: [Int64] = []
        for i in 0..<batch {
            for y in 0..<size {
                for x in 0..<size {
                    t.append((i + y + 2 * x) % 13 == 0 ? Int64(ignore) : Int64((5 * i + 7 * y + 3 * x) % classes))
                }
            }
        }
        return try Tensor(int64: t, shape: [batch, size, size])
    }

    func build(_ cfg: [String: Any]) throws -> DeepLabV3Plus {
        func i(_ k: String) -> Int { (cfg[k] as? NSNumber)?.intValue ?? -1 }
        func f(_ k: String) -> Float { (cfg[k] as? NSNumber)?.floatValue ?? -1 }
        func d(_ k: String) -> Double { (cfg[k] as? NSNumber)?.doubleValue ?? -1 }
        let m = try DeepLabV3Plus(
            inFilters: i("in_filters"), fbFilters: i("fb_filters"), classFilters: i("class_filters"),
            classes: i("classes"), tau: d("tau"), shape: (cfg["shape"] as? [NSNumber])?.map { $0.intValue } ?? [],
            asppDropout: f("aspp_dropout"), stateInitStd: f("state_init_std"))
        try DeterministicWeights.apply(m)
        try Self.adjust(m, cfg["adjust"] as? [String: Any] ?? [:])
        return m
    }

    /// The fixture script's conditioning adjustments (tools/fixtures/models_deeplab.py `adjust`,
    /// whose docstring says why): scale the ASPP pooling branch's conv, and set the feedback
    /// channels' bias of the decoder's last BN.
    static func adjust(_ m: DeepLabV3Plus, _ adj: [String: Any]) throws {
        if let scale = (adj["pool_conv_scale"] as? NSNumber)?.floatValue {
            guard let aspp = try m.decoder.aspp.at(0) as? ASPP, let pool = try aspp.convs.at(4) as? ASPPPooling,
                let conv = try pool.at(1) as? Conv2d
            else {
                throw DFMError.state("ModelDeepLabTests", "unexpected ASPP layout")
            }
            try GradMode.noGrad { try conv.weight.copy_(try mul(conv.weight, Double(scale))) }
        }
        if let bias = (adj["fb_bn_bias"] as? NSNumber)?.floatValue {
            guard let bn = try m.decoder.block2.at(1) as? BatchNorm2d, let b = bn.bias else {
                throw DFMError.state("ModelDeepLabTests", "unexpected decoder.block2 layout")
            }
            for k in m.classFilters..<m.channels { b.f[k] = bias }
        }
    }

    /// Asserts relNormDiff(a, e) <= tol; returns the relative difference.
    @discardableResult
    func checkRel(
        _ a: Tensor, _ e: Tensor, _ tol: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line
    ) -> Double {
        XCTAssertEqual(a.shape, e.shape, what, file: file, line: line)
        let r = Double(relNormDiff(a, e))
        XCTAssertLessThanOrEqual(r, tol, "\(what): relative difference \(r) > \(tol)", file: file, line: line)
        return r
    }

    func checkCase(_ c: String) throws {
        let (tensors, _) = try load()
        let cfg = try config(c)
        let train = (cfg["train"] as? Bool) ?? false
        let steps = (cfg["T"] as? NSNumber)?.intValue ?? 0
        let atol = (cfg["atol"] as? NSNumber)?.floatValue ?? 1e-2
        let shape = (cfg["input"] as? [NSNumber])?.map { $0.intValue } ?? []
        let gaps = (cfg["grad_gap"] as? [String: NSNumber]) ?? [:]
        let withGrad = Set((cfg["with_grad"] as? [String]) ?? [])
        let m = try build(cfg)
        m.train(train)
        let x = try Self.input(batch: shape[0], size: shape[2])
        let y = try Self.targets(batch: shape[0], size: shape[2], classes: m.classes)
        let logits = try m.forward(x, T: steps, atol: atol)
        let loss = try crossEntropy(logits, y, ignoreIndex: Self.ignore)
        try loss.backward()

        XCTAssertEqual(m.stepsRun, (cfg["steps_run"] as? NSNumber)?.intValue, "\(c) steps run")
        XCTAssertEqual(try m.T.item(), Float(m.stepsRun), "\(c) T counts the steps")
        // ModelTolerance: values within 1e-4, gradients within the kink allowance (2e-2): a ReLU input
        // within rounding of 0 flips with the BLAS kernel's summation order (issue #12: dl_train_T3's
        // gradients moved by up to 2.7e-3 on OpenBLAS's Cooperlake and Sandybridge kernels).
        var worstValue = 0.0
        var worstGrad = ("", 0.0, ModelTolerance.gradient())
        let vt = ModelTolerance.value()
        if let whole = tensors["\(c)/logits"] {
            worstValue = max(worstValue, checkRel(logits, whole, vt, "\(c) logits"))
        }
        worstValue = max(
            worstValue,
            checkRel(try sampled(logits, count: 1024), tensors["\(c)/logits_sample"]!, vt, "\(c) logits sample"))
        worstValue = max(worstValue, checkRel(loss, tensors["\(c)/loss"]!, vt, "\(c) loss"))
        worstValue = max(
            worstValue, checkRel(try sampled(m.errorHead.Q), tensors["\(c)/Q"]!, vt, "\(c) Q after forward"))

        for (name, p) in m.namedParameters() {
            guard withGrad.contains(name) else {
                XCTAssertNil(p.grad, "\(c): \(name) has no gradient in PyTorch")
                continue
            }
            guard let g = p.grad else {
                XCTFail("\(c): no gradient for \(name)")
                continue
            }
            let tol = ModelTolerance.gradient(gap32: gaps[name]?.doubleValue ?? 0)
            let rn = checkRel(
                Tensor.scalar(relNormOf(g)), tensors["\(c)/gradnorm/\(name)"]!, tol, "\(c) |grad \(name)|")
            let rs = checkRel(try sampled(g), tensors["\(c)/grad/\(name)"]!, tol, "\(c) grad \(name)")
            if Swift.max(rn, rs) / tol > worstGrad.1 / worstGrad.2 { worstGrad = (name, Swift.max(rn, rs), tol) }
        }
        XCTAssertEqual(
            Set(m.namedParameters().filter { $0.1.grad != nil }.map { $0.0 }), withGrad, "\(c) params with grad")
        if train {
            for (name, b) in m.namedBuffers() {
                if name.hasSuffix("num_batches_tracked") {
                    XCTAssertEqual(b.i[0], tensors["\(c)/nbt/\(name)"]!.i[0], "\(c) \(name)")
                } else if let e = tensors["\(c)/bn/\(name)"] {
                    worstValue = max(worstValue, checkRel(try sampled(b), e, vt, "\(c) \(name)"))
                } else {
                    XCTFail("\(c): no fixture for buffer \(name)")
                }
            }
        }
        print(
            "ModelDeepLabTests \(c): worst value \(ModelTolerance.fmt(worstValue)) (allowed \(ModelTolerance.fmt(vt))), "
                + "worst gradient \(worstGrad.0) \(ModelTolerance.fmt(worstGrad.1)) (allowed \(ModelTolerance.fmt(worstGrad.2)))"
        )
    }

    func relNormOf(_ t: Tensor) -> Double { t.toArray().reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }

    func testParityEval() throws {
        try checkCase("dl_eval_T1")
        try checkCase("dl_eval_T3")
    }

    func testParityTrain() throws {
        try checkCase("dl_train_T1")
        try checkCase("dl_train_T3")
    }

    func testParityFeedforwardAndEarlyStop() throws {
        try checkCase("ff_train")
        try checkCase("ff_eval")
        try checkCase("dl_early")
    }

    func testStateDictKeys() throws {
        let meta = try load().meta
        for fb in [2, 0] {
            guard let s = meta["keys/deeplab/fb\(fb)"],
                let rows = try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [[Any]]
            else {
                XCTFail("no key list for fb\(fb)")
                continue
            }
            let m = try DeepLabV3Plus(fbFilters: fb, classes: 8, shape: [64, 64])
            let mine = m.stateDict().map { "\($0.0) \($0.1.shape) \($0.1.dtype)" }
            let torch = rows.map { r in "\(r[0]) \((r[1] as? [NSNumber])?.map { $0.intValue } ?? []) \(r[2])" }
            XCTAssertEqual(mine, torch, "fb\(fb): state_dict keys, shapes, dtypes and order")
        }
    }

    func testErrors() throws {
        let m = try DeepLabV3Plus(fbFilters: 2, classFilters: 8, classes: 3, shape: [32, 32], layers: [1, 1, 1, 1])
        assertThrowsDFM(try m.forward(try Tensor.zeros([2, 3, 40, 32]), T: 1), "got 40x32", kind: .shapeMismatch)
        assertThrowsDFM(try m.forward(try Tensor.zeros([2, 3, 32, 24]), T: 1), "divisible by 16", kind: .shapeMismatch)
        assertThrowsDFM(
            try m.forward(try Tensor.zeros([1, 3, 32, 32]), T: 1), "batch size 1 is not supported in training")
        assertThrowsDFM(
            try m.forward(try Tensor.zeros([2, 1, 32, 32]), T: 1), "1 channels but the model expects in_filters=3")
        assertThrowsDFM(try m.forward(try Tensor.zeros([2, 3, 32, 32]), T: -1), "T must be non-negative")
        assertThrowsDFM(try DeepLabV3Plus(shape: [50, 64]), "multiples of 16")
        assertThrowsDFM(try DeepLabV3Plus(fbFilters: -1), "non-negative")
        // Batch 1 is fine in eval, and unbatched input gives unbatched logits.
        m.eval()
        let one = try m.forward(try Tensor.zeros([1, 3, 32, 32]), T: 2)
        XCTAssertEqual(one.shape, [1, 3, 32, 32])
        XCTAssertEqual(try m.forward(try Tensor.zeros([3, 32, 32]), T: 1).shape, [3, 32, 32])
        // T = 0 predicts from the initial state without running a step.
        _ = try m.forward(try Tensor.zeros([1, 3, 32, 32]), T: 0)
        XCTAssertEqual(m.stepsRun, 0)
    }

    /// A small DFM and its feedforward counterpart both fit 8 scenes: the loss falls over 20 Adam steps.
    func testTrainsOnScenes() throws {
        let (x, y) = try SegmentationTests.syntheticScenes(count: 8, canvas: 32)
        for fb in [2, 0] {
            manualSeed(7)
            let m = try DeepLabV3Plus(
                inFilters: 1, fbFilters: fb, classFilters: 16, classes: 4, shape: [32, 32],
                layers: [1, 1, 1, 1], asppDropout: 0.1, stateInitStd: 1e-3)
            let opt = try Adam(m.parameters().filter { $0.requiresGrad }, lr: 1e-3)
            let steps = fb > 0 ? 2 : 1
            var losses: [Float] = []
            for _ in 0..<20 {
                m.zeroGrad()
                let loss = try crossEntropy(try m.forward(x, T: steps), y, ignoreIndex: -100)
                try loss.backward()
                try opt.step()
                losses.append(try loss.item())
            }
            let first = losses.prefix(3).reduce(0, +) / 3
            let last = losses.suffix(3).reduce(0, +) / 3
            XCTAssertTrue(losses.allSatisfy { $0.isFinite }, "fb\(fb): losses \(losses)")
            XCTAssertLessThan(last, 0.7 * first, "fb\(fb): loss did not fall: \(losses)")
        }
    }
}
