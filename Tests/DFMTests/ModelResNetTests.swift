import Foundation
import XCTest

@testable import DFM

/// DFM-ResNet18/34/50 against the PyTorch reference (tools/fixtures/models_resnet.py,
/// tools/reference/dfm_torch.py), the published-defect decisions R1–R4, and training on
/// Fashion-MNIST. The float32 parity cases are smoke/regression tests whose gradient checks allow
/// ReLU kink flips (ModelTolerance, issue #12), not a proof of parity.
final class ModelResNetTests: XCTestCase {
    // MARK: fixtures

    struct ModelFixture {
        let tensors: [String: Tensor]
        let meta: [String: String]

        init(_ name: String) throws {
            guard let url = Bundle.module.url(forResource: "Fixtures/models/\(name)", withExtension: "safetensors")
            else {
                throw DFMError(.notFound, "fixture models/\(name) missing: run tools/fixtures/models_resnet.py")
            }
            (tensors, meta) = try SafeTensors.read(url.path)
        }

        var cases: [String] { meta.keys.filter { !$0.hasPrefix("keys/") }.sorted() }

        func config(_ c: String) throws -> [String: Any] {
            guard let s = meta[c], let d = s.data(using: .utf8),
                let o = try JSONSerialization.jsonObject(with: d) as? [String: Any]
            else {
                throw DFMError(.notFound, "fixture case \(c) has no metadata")
            }
            return o
        }

        func tensor(_ key: String) throws -> Tensor {
            guard let t = tensors[key] else { throw DFMError(.notFound, "fixture tensor \(key) missing") }
            return t
        }
    }

    static func build(
        _ model: String, fb: Int, inChannels: Int = 3, nClasses: Int = 10, shape: [Int] = [32, 32],
        tau: Double = 1.0, stateInitStd: Float = 0
    ) throws -> DFMResNet {
        switch model {
        case "resnet18":
            return try DFMResNet.resnet18(
                fbFilters: fb, nClasses: nClasses, shape: shape, tau: tau,
                inChannels: inChannels, stateInitStd: stateInitStd)
        case "resnet34":
            return try DFMResNet.resnet34(
                fbFilters: fb, nClasses: nClasses, shape: shape, tau: tau,
                inChannels: inChannels, stateInitStd: stateInitStd)
        case "resnet50":
            return try DFMResNet.resnet50(
                fbFilters: fb, nClasses: nClasses, shape: shape, tau: tau,
                inChannels: inChannels, stateInitStd: stateInitStd)
        default: throw DFMError.invalid("test", "unknown model \(model)")
        }
    }

    /// The fixture script's conditioning adjustment (tools/fixtures/models_resnet.py `adjust`,
    /// whose docstring says why): the weight of the last BN of every residual branch (bn2 in
    /// BasicBlock, bn3 in Bottleneck) times `residual_bn_scale` (0.25: exact in float32).
    static func adjust(_ m: DFMResNet, _ adj: [String: Any]) throws {
        guard let scale = (adj["residual_bn_scale"] as? NSNumber)?.floatValue else { return }
        let last = m.block == .bottleneck ? "bn3" : "bn2"
        var scaled = 0
        for (name, p) in m.namedParameters() {
            let parts = name.split(separator: ".")
            guard parts.count == 4, parts[0].hasPrefix("layer"), parts[2] == last, parts[3] == "weight" else {
                continue
            }
            for k in 0..<p.count { p.f[k] *= scale }
            scaled += 1
        }
        if scaled == 0 { throw DFMError.state("ModelResNetTests", "no residual-branch BN found to scale") }
    }

    /// The fixture's sampling: whole when n <= 128, else flat indices ((2j+1)·n) / 64, j < 32.
    static func sampled(_ t: Tensor) -> [Float] {
        let n = t.count
        if n <= 128 { return t.toArray() }
        return (0..<32).map { j in t.f[((2 * j + 1) * n) / 64] }
    }

    static func rel(_ a: [Float], _ e: [Float]) -> Double {
        var d = 0.0
        var n = 0.0
        for k in 0..<min(a.count, e.count) {
            d += Double(a[k] - e[k]) * Double(a[k] - e[k])
            n += Double(e[k]) * Double(e[k])
        }
        return (d / max(n, 1e-60)).squareRoot()
    }

    static func norm(_ t: Tensor) -> Double {
        var s = 0.0
        for k in 0..<t.count { s += Double(t.f[k]) * Double(t.f[k]) }
        return s.squareRoot()
    }

    /// Runs one fixture case and compares everything it recorded. Returns a one-line summary.
    @discardableResult
    func checkCase(_ fx: ModelFixture, _ c: String) throws -> String {
        let cfg = try fx.config(c)
        let gaps = cfg["gap32"] as? [String: Double] ?? [:]
        // ModelTolerance: values (logits, loss, Q, BN statistics) within 1e-4, gradients within a
        // kink allowance (2e-2) because a ReLU input within rounding of 0 flips with the BLAS kernel's
        // summation order and moves gradients by up to ~1e-2. Both widen to 4·gap32 where PyTorch's
        // own float32 was further from float64 (the script refuses such cases, so they do not).
        func tol(_ name: String) -> Double {
            name.hasPrefix("grad/")
                ? ModelTolerance.gradient(gap32: gaps[name] ?? 0) : ModelTolerance.value(gap32: gaps[name] ?? 0)
        }
        let model = cfg["model"] as? String ?? ""
        let fb = (cfg["fb_filters"] as? NSNumber)?.intValue ?? 0
        let inCh = (cfg["in_channels"] as? NSNumber)?.intValue ?? 3
        let nClasses = (cfg["n_classes"] as? NSNumber)?.intValue ?? 10
        let shape = (cfg["shape"] as? [NSNumber])?.map { $0.intValue } ?? [32, 32]
        let tau = (cfg["tau"] as? NSNumber)?.doubleValue ?? 1
        let inputShape = (cfg["input"] as? [NSNumber])?.map { $0.intValue } ?? []
        let labels = (cfg["labels"] as? [NSNumber])?.map { $0.int64Value } ?? []
        let train = (cfg["train"] as? NSNumber)?.boolValue ?? false
        let steps = (cfg["T"] as? NSNumber)?.intValue ?? 0
        let atol = (cfg["atol"] as? NSNumber)?.floatValue ?? 1e-2
        let stepsRun = (cfg["steps_run"] as? NSNumber)?.intValue ?? -1
        let withGrad = Set((cfg["with_grad"] as? [String]) ?? [])
        let lr = (cfg["lr"] as? NSNumber)?.doubleValue ?? 1e-3

        let t0 = Date()
        let m = try Self.build(model, fb: fb, inChannels: inCh, nClasses: nClasses, shape: shape, tau: tau)
        try DeterministicWeights.apply(m)
        let tWeights = Date().timeIntervalSince(t0)
        try Self.adjust(m, cfg["adjust"] as? [String: Any] ?? [:])
        m.train(train)
        // The input variant the fixture script chose (tools/fixtures/models_resnet.py: "Why input variants").
        let key = cfg["input_key"] as? String ?? "input/" + inputShape.map(String.init).joined(separator: "x")
        let x = try DeterministicWeights.uniformTensor(key, inputShape)
        let y = try Tensor(int64: labels, shape: [labels.count])
        let logits = try m.forward(x, T: steps, atol: atol)
        let loss = try crossEntropy(logits, y)
        try loss.backward()
        let tRun = Date().timeIntervalSince(t0) - tWeights

        XCTAssertEqual(m.stepsRun, stepsRun, "\(c): steps run")
        XCTAssertEqual(m.T.f[0], Float(stepsRun), "\(c): T holds the steps run")
        // The worst value and the worst gradient difference, each against its tolerance, for the summary.
        var worst: (String, Double, Double) = ("", 0, 1)
        var worstGrad: (String, Double, Double) = ("", 0, 1)
        func note(_ name: String, _ r: Double, _ t: Double) {
            if name.hasPrefix("grad") {
                if r / t > worstGrad.1 / worstGrad.2 { worstGrad = (name, r, t) }
            } else if r / t > worst.1 / worst.2 {
                worst = (name, r, t)
            }
        }
        func expect(_ name: String, _ got: [Float]) throws {
            let e = try fx.tensor("\(c)/\(name)").toArray()
            let r = Self.rel(got, e)
            let t = tol(name)
            note(name, r, t)
            XCTAssertLessThanOrEqual(r, t, "\(c): \(name) differs from PyTorch by \(r) (relative, by norm)")
        }
        try expect("logits", logits.toArray())
        try expect("loss", loss.toArray())

        // Gradients: which parameters have one, and their values (kink allowance, relative by norm).
        let params = m.namedParameters()
        let gotWithGrad = Set(params.filter { $0.1.grad != nil }.map { $0.0 })
        XCTAssertEqual(gotWithGrad, withGrad, "\(c): parameters with a gradient")
        var gradSamples: [String: [Float]] = [:]
        var gradNorms: [String: Double] = [:]
        var before: [String: [Float]] = [:]
        for (name, p) in params {
            guard let g = p.grad, withGrad.contains(name) else { continue }
            let gs = Self.sampled(g)
            let t = tol("grad/\(name)")
            gradSamples[name] = gs
            before[name] = Self.sampled(p)
            let eNorm = Double(try fx.tensor("\(c)/gradnorm/\(name)").item())
            let gNorm = Self.norm(g)
            gradNorms[name] = eNorm
            note("gradnorm/\(name)", Swift.abs(gNorm - eNorm) / eNorm, t)
            XCTAssertLessThanOrEqual(Swift.abs(gNorm - eNorm), t * eNorm, "\(c): |grad \(name)| \(gNorm) vs \(eNorm)")
            let e = try fx.tensor("\(c)/grad/\(name)").toArray()
            if g.count <= 128 {
                try expect("grad/\(name)", gs)
            } else {
                // A sample of 32 carries about sqrt(32/n) of the whole error's norm.
                var d = 0.0
                for k in 0..<gs.count { d += Double(gs[k] - e[k]) * Double(gs[k] - e[k]) }
                let scale = eNorm * (32.0 / Double(g.count)).squareRoot()
                note("grad/\(name) (sampled, by the sample's expected norm)", d.squareRoot() / scale, 3 * t)
                XCTAssertLessThanOrEqual(d.squareRoot(), 3 * t * scale + 1e-12, "\(c): sampled grad of \(name)")
            }
        }
        try expect("Q", Self.sampled(m.errorHead.Q))
        if train {
            for (name, b) in m.namedBuffers() {
                if name.hasSuffix("running_mean") || name.hasSuffix("running_var") {
                    try expect("bn/\(name)", Self.sampled(b))
                } else if name.hasSuffix("num_batches_tracked") {
                    XCTAssertEqual(b.i[0], try fx.tensor("\(c)/nbt/\(name)").i[0], "\(c): \(name)")
                }
            }
        }
        // One Adam step (eps 1e-8): an element moves by lr·g/(|g| + eps), so where |g| is near
        // eps (or near zero) the step inherits the gradient's own float32 difference; allow
        // exactly that, computed from our gradient and PyTorch's. A kink flip that moved a gradient
        // element (even across 0) is thereby allowed for, and the step's arithmetic is still exact.
        let opt = try Adam(m.parameters(), lr: lr)
        try opt.step()
        func unit(_ g: Float) -> Double { Double(g) / (Double(Swift.abs(g)) + 1e-8) }
        for (name, p) in params where withGrad.contains(name) {
            let got = Self.sampled(p)
            let e = try fx.tensor("\(c)/after/\(name)").toArray()
            let eg = try fx.tensor("\(c)/grad/\(name)").toArray()
            var bad = 0
            var detail = ""
            let gs = gradSamples[name] ?? []
            let b0 = before[name] ?? []
            for k in 0..<got.count {
                let allowed = 1e-3 * lr + 1.01 * lr * Swift.abs(unit(gs[k]) - unit(eg[k]))
                if Double(Swift.abs(got[k] - e[k])) > allowed + 1e-6 * Double(Swift.abs(e[k])) + 1e-7 {
                    bad += 1
                    detail = "sample \(k): \(got[k]) vs \(e[k]) (before \(b0[k]), grad \(gs[k]) vs \(eg[k]))"
                }
            }
            XCTAssertEqual(
                bad, 0, "\(c): \(bad) sampled values of \(name) after one Adam step differ from PyTorch; \(detail)")
        }
        return "\(c): worst value \(worst.0) \(ModelTolerance.fmt(worst.1)) (allowed \(ModelTolerance.fmt(worst.2))), "
            + "worst gradient \(worstGrad.0) \(ModelTolerance.fmt(worstGrad.1)) (allowed \(ModelTolerance.fmt(worstGrad.2))); build+weights \(String(format: "%.1f", tWeights)) s, "
            + "forward+backward \(String(format: "%.1f", tRun)) s"
    }

    func checkFile(_ name: String, only: ((String) -> Bool)? = nil) throws {
        let fx = try ModelFixture(name)
        XCTAssertFalse(fx.cases.isEmpty)
        for c in fx.cases where only?(c) ?? true {
            let start = Date()
            let summary = try checkCase(fx, c)
            print("ModelResNetTests \(summary) [\(String(format: "%.1f", Date().timeIntervalSince(start))) s]")
        }
    }

    // MARK: parity

    func testResNet18ParityWithPyTorch() throws { try checkFile("resnet18") }
    func testResNet34ParityWithPyTorch() throws { try checkFile("resnet34") }
    func testResNet50ParityWithPyTorch() throws { try checkFile("resnet50") }

    func testStateDictKeysMatchPyTorch() throws {
        for file in ["resnet18", "resnet34", "resnet50"] {
            let fx = try ModelFixture(file)
            for (k, v) in fx.meta where k.hasPrefix("keys/") {
                let parts = k.split(separator: "/")
                let model = String(parts[1])
                let fb = Int(parts[2].dropFirst(2)) ?? -1
                let inCh = Int(parts[3].dropFirst(2)) ?? -1
                guard let d = v.data(using: .utf8), let list = try JSONSerialization.jsonObject(with: d) as? [[Any]]
                else {
                    XCTFail("bad key list \(k)")
                    continue
                }
                let expected = list.map { e -> String in
                    let shape = (e[1] as? [NSNumber])?.map { $0.intValue } ?? []
                    return "\(e[0]) \(shape) \(e[2])"
                }
                let m = try Self.build(model, fb: fb, inChannels: inCh)
                let got = m.stateDict().map { "\($0.0) \($0.1.shape) \($0.1.dtype == .int64 ? "int64" : "float32")" }
                XCTAssertEqual(got, expected, "\(k): state_dict keys, shapes, dtypes and order")
            }
        }
    }

    // MARK: R1–R4 and the loop

    /// R1: the state is sized from layer4's real output, so 28×28 (where the published
    /// frontend_H // 8 gives 0) and 40×40 (where it gives 1, but layer4 outputs 2) work.
    func testR1StateSizedFromLayer4() throws {
        let m = try Self.build("resnet18", fb: 2, inChannels: 1, shape: [28, 28])
        m.eval()
        for (size, s4) in [(28, 1), (40, 2), (64, 2), (33, 2)] {
            let out = try m.forward(try DeterministicWeights.uniformTensor("r1", [2, 1, size, size]), T: 2)
            XCTAssertEqual(out.shape, [2, 10])
            XCTAssertEqual(m.state?.shape, [2, 514, s4, s4], "state for \(size)×\(size)")
            XCTAssertTrue(out.toArray().allSatisfy { $0.isFinite })
        }
    }

    /// R2: gcd(8, C) groups, so the published MNIST example's fb_filters=10 (522 and 10 channels) builds and runs.
    func testR2GroupNormGroups() throws {
        let m = try DFMResNet.resnet18(fbFilters: 10, nClasses: 10, shape: [28, 28], tau: 1, inChannels: 1)
        XCTAssertEqual(m.layernormError.numGroups, 2)
        XCTAssertEqual(m.layernormError.numChannels, 522)
        XCTAssertEqual(m.layernormInput.numGroups, 2)
        XCTAssertEqual(m.layernormInput.numChannels, 10)
        let m50 = try DFMResNet.resnet50(fbFilters: 2, nClasses: 10)
        XCTAssertEqual(m50.layernormError.numGroups, 8)  // 2056 channels: as published
        XCTAssertEqual(m50.layernormInput.numGroups, 8)  // 8 channels
        let out = try m.forward(try DeterministicWeights.uniformTensor("r2", [2, 1, 28, 28]), T: 3)
        XCTAssertEqual(out.shape, [2, 10])
    }

    /// R3: the feedback is resized to the frontend's real output, not to shape // 4.
    func testR3FeedbackFollowsInputSize() throws {
        let m = try Self.build("resnet18", fb: 2, shape: [32, 32])
        m.eval()
        for size in [32, 48, 64] {
            let out = try m.forward(try DeterministicWeights.uniformTensor("r3", [1, 3, size, size]), T: 3)
            XCTAssertEqual(out.shape, [1, 10], "\(size)×\(size)")
            XCTAssertEqual(m.stepsRun, 3)
        }
    }

    /// R4: unbatched (C, H, W) input runs as a batch of one and returns unbatched logits.
    func testR4UnbatchedInput() throws {
        let m = try Self.build("resnet18", fb: 2, inChannels: 1, shape: [28, 28])
        try DeterministicWeights.apply(m)
        m.eval()
        let x = try DeterministicWeights.uniformTensor("r4", [1, 28, 28])
        let single = try m.forward(x, T: 3)
        XCTAssertEqual(single.shape, [10])
        let batched = try m.forward(try reshape(x, [1, 1, 28, 28]), T: 3)
        XCTAssertEqual(batched.shape, [1, 10])
        assertClose(single, try reshape(batched, [10]), rtol: 0.0, atol: 0.0, "unbatched vs batch of one")
        // The published MNIST example's test loop: an unbatched image and an int label.
        let loss = try crossEntropy(single, try Tensor(int64: [3], shape: []))
        XCTAssertTrue(try loss.item().isFinite)
    }

    func testLoopStepsAndErrors() throws {
        let m = try Self.build("resnet18", fb: 2)
        m.eval()
        let x = try DeterministicWeights.uniformTensor("loop", [1, 3, 32, 32])
        let p0 = try m.forward(x, T: 0)
        XCTAssertEqual(m.stepsRun, 0)
        XCTAssertEqual(p0.shape, [1, 10])
        _ = try m.forward(x, T: 4, atol: 0)
        XCTAssertEqual(m.stepsRun, 4)
        _ = try m.forward(x, T: 6, atol: 1e9)  // stops after the 2nd step, then one more
        XCTAssertEqual(m.stepsRun, 3)
        m.defaultT = 2
        _ = try m(x)
        XCTAssertEqual(m.stepsRun, 2)
        assertThrowsDFM(try m.forward(x, T: -1), "T must be non-negative")
        assertThrowsDFM(
            try m.forward(try Tensor.zeros([1, 4, 32, 32]), T: 1), "input has 4 channels", kind: .shapeMismatch)
        assertThrowsDFM(try m.forward(try Tensor.zeros([3, 32]), T: 1), "expected input", kind: .shapeMismatch)
        assertThrowsDFM(try DFMResNet.resnet18(frontend: "vit"), "frontend must be 'resnet'")
        assertThrowsDFM(try DFMResNet.resnet18(fbFilters: -1), "fb_filters")
        assertThrowsDFM(try DFMResNet.resnet18(stateInitStd: -1), "state_init_std")
        assertThrowsDFM(
            try StateExpDecay(channels: 4).forward(try Tensor.zeros([1, 3, 2, 2]), t: 0), "expected input (B, 4")
    }

    /// The initial state is N(0, std²) with the default std 1e-3, zeros with 0.
    func testStateInitStd() throws {
        let m = try DFMResNet.resnet18(fbFilters: 2, nClasses: 10)
        m.eval()
        let x = try DeterministicWeights.uniformTensor("init", [2, 3, 32, 32])
        _ = try m.forward(x, T: 0)
        let s = m.state!.toArray()
        let rms = (s.map { Double($0) * Double($0) }.reduce(0, +) / Double(s.count)).squareRoot()
        XCTAssertEqual(rms, 1e-3, accuracy: 3e-4)
        m.stateInitStd = 0
        _ = try m.forward(x, T: 0)
        XCTAssertTrue(m.state!.toArray().allSatisfy { $0 == 0 })
    }

    /// StateExpDecay: gradient to its input is grad·exp(t·Δ) through Q, none to S/T/α/τ,
    /// and QR re-orthogonalisation of Q happens only in training at t = 0.
    func testStateExpDecay() throws {
        let d = try StateExpDecay(channels: 3, tau: 2)
        try d.Q.copy_(try Tensor([1, 0.2, 0, -0.1, 1, 0.3, 0.2, 0, 1], shape: [3, 3]))
        try d.S.copy_(try Tensor([1, 0.5, 2], shape: [3]))
        d.eval()
        let x = try DeterministicWeights.uniformTensor("decay", [2, 3, 2, 2])
        let w = try DeterministicWeights.uniformTensor("decay/w", [2, 3, 2, 2])
        // Reference with differentiable ops: T = α = 1, so forward and backward factors agree.
        let xr = try x.clone().requiresGrad()
        let qr0 = try d.Q.clone().requiresGrad()
        let f = try Tensor([-2.0 / 2, -1.0 / 2, -4.0 / 2].map { Float(Foundation.exp($0)) }, shape: [3])
        let z = try matmul(try permute(xr, [0, 2, 3, 1]), try transpose(qr0, 0, 1))
        let ref = try permute(try matmul(try mul(z, f), qr0), [0, 3, 1, 2])
        try sum(try mul(ref, w)).backward()
        let xm = try x.clone().requiresGrad()
        let got = try d.forward(xm, t: 2)
        try sum(try mul(got, w)).backward()
        assertClose(got, ref.detach(), rtol: 1e-5, atol: 1e-6, "decay forward")
        assertClose(xm.grad!, xr.grad!, rtol: 1e-5, atol: 1e-6, "decay input grad")
        assertClose(d.Q.grad!, qr0.grad!, rtol: 1e-5, atol: 1e-6, "decay Q grad")
        d.zeroGrad()
        // Autograd through the module itself: S, T, alpha, tau get nothing; Q and x do.
        let xl = try x.clone().requiresGrad()
        let q0 = d.Q.toArray()
        try sum(try d.forward(xl, t: 1)).backward()
        XCTAssertNotNil(xl.grad)
        XCTAssertNotNil(d.Q.grad)
        XCTAssertNil(d.S.grad)
        XCTAssertNil(d.T.grad)
        XCTAssertEqual(d.Q.toArray(), q0, "eval: Q untouched")
        d.train()
        _ = try d.forward(x, t: 1)
        XCTAssertEqual(d.Q.toArray(), q0, "training, t = 1: Q untouched")
        _ = try d.forward(x, t: 0)
        let q = try d.Q.clone()
        let qtq = try matmul(try transpose(q, 0, 1), q)
        assertClose(qtq, try Tensor([1, 0, 0, 0, 1, 0, 0, 0, 1], shape: [3, 3]), rtol: 0, atol: 1e-5, "QᵀQ after QR")
        // LAPACK's convention: R's diagonal has the sign opposite to the pivot, so a
        // diagonally dominant Q with positive diagonal comes back with negated columns.
        XCTAssertLessThan(q.f[0], 0)
    }

    /// The feedforward baseline (fb_filters=0, T=1) has no feedback channels but keeps the keys.
    func testFeedforwardBaseline() throws {
        let m = try Self.build("resnet18", fb: 0)
        XCTAssertEqual(m.channels, 512)
        XCTAssertEqual(m.layernormInput.numChannels, 0)
        XCTAssertTrue(m.stateDict().contains { $0.0 == "layernorm_input.weight" })
        XCTAssertNil(m.layer1.children().first?.child("downsample"), "64 -> 64: no downsample, as torchvision")
        m.eval()
        let out = try m.forward(try DeterministicWeights.uniformTensor("ff", [2, 3, 32, 32]), T: 1)
        XCTAssertEqual(out.shape, [2, 10])
    }

    // MARK: training (the published MNIST example)

    /// ResNet18(fb_filters=10, n_classes=10, shape=(28,28), in_channels=1) trains on a
    /// small Fashion-MNIST subset: the loss falls over a few dozen Adam steps.
    func testSeedExampleTrainsOnFashionMNIST() throws {
        let root = IDXDataset.fashionMNISTRoot
        guard FileManager.default.fileExists(atPath: root) else {
            throw XCTSkip("Fashion-MNIST not installed at \(root)")
        }
        let data = try IDXDataset(root: root, train: true)
        manualSeed(0)
        let m = try DFMResNet.resnet18(fbFilters: 10, nClasses: 10, shape: [28, 28], tau: 1, inChannels: 1)
        m.train()
        let opt = try Adam(m.parameters(), lr: 1e-3)
        let batch = 16
        let subset = 64
        let steps = 24
        var losses: [Float] = []
        for s in 0..<steps {
            let start = (s * batch) % subset
            let (x, y) = try data.batch(Array(start..<(start + batch)))
            opt.zeroGrad()
            let loss = try crossEntropy(try m.forward(x, T: 2), y)
            try loss.backward()
            try opt.step()
            losses.append(try loss.item())
        }
        let first = losses.prefix(4).reduce(0, +) / 4
        let last = losses.suffix(4).reduce(0, +) / 4
        print("ModelResNetTests published MNIST example losses: \(losses)")
        XCTAssertTrue(losses.allSatisfy { $0.isFinite })
        XCTAssertLessThan(last, 0.7 * first, "loss should fall: first \(first), last \(last)")
    }

    // MARK: round trip to PyTorch

    /// With DFM_EXPORT_DIR set, writes a trained dfm ResNet18's state_dict plus its input and
    /// eval logits, for `models_resnet.py --roundtrip DIR` to load into PyTorch (strict=True).
    func testExportStateDictForTorch() throws {
        guard let dir = ProcessInfo.processInfo.environment["DFM_EXPORT_DIR"] else {
            throw XCTSkip("set DFM_EXPORT_DIR to export a state_dict for tools/fixtures/models_resnet.py --roundtrip")
        }
        manualSeed(1)
        let m = try DFMResNet.resnet18(fbFilters: 2, nClasses: 10, shape: [32, 32], tau: 1, stateInitStd: 0)
        let x = try DeterministicWeights.uniformTensor("input/2x3x32x32", [2, 3, 32, 32])
        let opt = try Adam(m.parameters(), lr: 1e-3)
        m.train()
        try crossEntropy(try m.forward(x, T: 3), try Tensor(int64: [3, 7], shape: [2])).backward()
        try opt.step()
        m.eval()
        let logits = try GradMode.noGrad { try m.forward(x, T: 3) }
        var dict: [String: Tensor] = [:]
        for (k, v) in m.stateDict() { dict[k] = v }
        dict["__logits__"] = logits
        dict["__input__"] = x
        let cfg =
            #"{"model": "resnet18", "fb_filters": 2, "n_classes": 10, "shape": [32, 32], "tau": 1.0, "in_channels": 3, "T": 3}"#
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try SafeTensors.write(
            dict, to: (dir as NSString).appendingPathComponent("resnet_dfm.safetensors"),
            metadata: ["format": "pt", "config": cfg])
    }
}
