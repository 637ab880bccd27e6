import Foundation
import XCTest

@testable import DFM

/// DFM-ViT (docs/MODELS.md §7) against the PyTorch reference (tools/reference/dfm_vit_torch.py,
/// fixtures by tools/fixtures/models_vit.py): float64 model parity at 1e-9 (logits, loss, every
/// gradient by norm, projection and samples, Q, one Adam step; train and eval, T = 1 and T = 3
/// with feedback, the feedforward baseline, an early stop, the 28×28 Fashion-MNIST model), float32
/// smoke checks at max(spec, 4·PyTorch's own float32 gap), the checkpoint round trip, and the
/// model's contract (keys, errors, unbatched input, steps run, checkpointed steps, determinism).
final class ModelViTTests: XCTestCase {
    static func build(_ cfg: [String: Any], stateInitStd: Float = 0) throws -> DFMViT {
        func int(_ k: String) -> Int { (cfg[k] as? NSNumber)?.intValue ?? -1 }
        return try DFMViT(
            imageSize: (cfg["image_size"] as? [NSNumber])?.map { $0.intValue } ?? [], patchSize: int("patch_size"),
            inChannels: int("in_channels"), dim: int("dim"), depth: int("depth"), heads: int("heads"),
            mlpDim: int("mlp_dim"), fbFilters: int("fb_filters"), nClasses: int("n_classes"),
            tau: (cfg["tau"] as? NSNumber)?.doubleValue ?? .nan, stateInitStd: stateInitStd)
    }

    static let small: [String: Any] = [
        "image_size": [8, 8], "patch_size": 2, "in_channels": 3, "dim": 16, "depth": 2, "heads": 4,
        "mlp_dim": 32, "fb_filters": 4, "n_classes": 10, "tau": 2.0,
    ]

    /// |got - e| / |e| by norm.
    static func rel(_ got: [Double], _ e: [Double]) -> Double {
        var d = 0.0
        for k in 0..<min(got.count, e.count) { d += (got[k] - e[k]) * (got[k] - e[k]) }
        return d.squareRoot() / max(ModelFloat64Tests.norm(e), 1e-300)
    }

    /// Runs case c (float64 or float32 per its prefix) and checks it; returns the worst relative difference.
    @discardableResult
    func checkCase(_ fx: Fixture, _ c: String) throws -> Double {
        let cfg = try fx.config(c)
        let f64 = c.hasPrefix("f64_")
        let train = (cfg["train"] as? NSNumber)?.boolValue ?? false
        let T = (cfg["T"] as? NSNumber)?.intValue ?? -1
        let atol = Float((cfg["atol"] as? NSNumber)?.doubleValue ?? .nan)
        let gaps = cfg["gap32"] as? [String: NSNumber] ?? [:]
        func tol(_ what: String) -> Double {
            f64 ? 1e-9 : max(what.hasPrefix("grad/") ? 1e-3 : 1e-4, 4 * (gaps[what]?.doubleValue ?? 0))
        }
        let m = try Self.build(cfg["config"] as? [String: Any] ?? [:])
        try DeterministicWeights.apply(m)
        if f64 { try m.to(.float64) }
        m.train(train)
        var x = try DeterministicWeights.uniformTensor(
            cfg["input_key"] as? String ?? "", (cfg["input"] as? [NSNumber])?.map { $0.intValue } ?? [])
        if f64 { x = try toDType(x, .float64) }
        let labels = (cfg["labels"] as? [NSNumber])?.map { $0.int64Value } ?? []
        let logits = try m.forward(x, T: T, atol: atol)
        let loss = try crossEntropy(logits, try Tensor(int64: labels, shape: [labels.count]))
        try loss.backward()
        XCTAssertEqual(m.stepsRun, (cfg["steps_run"] as? NSNumber)?.intValue, "\(c): steps run")
        XCTAssertEqual(m.T.toDoubleArray(), [Double(m.stepsRun)], "\(c): T holds the steps run")

        var worst = 0.0
        func expect(_ got: [Double], _ key: String, _ what: String) throws {
            let r = Self.rel(got, try fx.values("\(c)/\(key)"))
            XCTAssertLessThanOrEqual(r, tol(what), "\(c): \(key) differs from PyTorch by \(r)")
            worst = max(worst, r)
        }
        try expect(ModelFloat64Tests.sampled(logits), "logits", "logits")
        try expect([ModelFloat64Tests.norm(logits.toDoubleArray())], "logits_norm", "logits")
        try expect(loss.toDoubleArray(), "loss", "loss")
        try expect(ModelFloat64Tests.sampled(m.errorHead.Q), "Q", "Q")

        let withGrad = Set((cfg["with_grad"] as? [String]) ?? [])
        let params = m.namedParameters()
        XCTAssertEqual(
            Set(params.filter { $0.1.grad != nil }.map { $0.0 }), withGrad, "\(c): parameters with a gradient")
        var gradSamples: [String: [Double]] = [:]
        for (name, p) in params where withGrad.contains(name) {
            guard let g = p.grad else { continue }
            let eNorm = try fx.values("\(c)/gradnorm/\(name)")[0]
            try expect([ModelFloat64Tests.norm(g.toDoubleArray())], "gradnorm/\(name)", "grad/\(name)")
            if f64 {
                let (proj, wn) = ModelFloat64Tests.projection(g)
                let pr = Swift.abs(proj - (try fx.values("\(c)/gradproj/\(name)")[0])) / max(eNorm * wn, 1e-300)
                XCTAssertLessThanOrEqual(pr, 1e-9, "\(c): projection of grad \(name)")
                worst = max(worst, pr)
            }
            let gs = ModelFloat64Tests.sampled(g)
            let es = try fx.values("\(c)/grad/\(name)")
            gradSamples[name] = gs
            let sd = zip(gs, es).map { Swift.abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(sd, tol("grad/\(name)") * max(eNorm, 1e-300), "\(c): sampled grad \(name)")
            worst = max(worst, sd / max(eNorm, 1e-300))
        }
        // One Adam step: an element moves by lr·g/(|g| + eps); allow what the gradient difference explains.
        let lr = (cfg["lr"] as? NSNumber)?.doubleValue ?? .nan
        try Adam(m.parameters(), lr: lr).step()
        func unit(_ g: Double) -> Double { g / (Swift.abs(g) + 1e-8) }
        for (name, p) in params where withGrad.contains(name) {
            let got = ModelFloat64Tests.sampled(p)
            let e = try fx.values("\(c)/after/\(name)")
            let eg = try fx.values("\(c)/grad/\(name)")
            let gs = gradSamples[name] ?? []
            let slack = f64 ? 1e-12 : 1e-6
            for k in 0..<min(got.count, e.count, gs.count) {
                let allowed =
                    1.01 * lr * Swift.abs(unit(gs[k]) - unit(eg[k])) + slack * max(Swift.abs(e[k]), lr)
                    + (f64 ? 0 : lr * 2 * tol("grad/\(name)"))
                XCTAssertLessThanOrEqual(
                    Swift.abs(got[k] - e[k]), allowed, "\(c): \(name) after one Adam step, sample \(k)")
            }
        }
        return worst
    }

    func checkAll(_ prefix: String) throws {
        let fx = try Fixture("vit", folder: "models")
        let cases = fx.meta.keys.filter { $0.hasPrefix(prefix) }.sorted()
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let t0 = Date()
            let w = try checkCase(fx, c)
            print(
                "ViT parity \(c): worst relative difference \(String(format: "%.1e", w)) (\(String(format: "%.1f", Date().timeIntervalSince(t0))) s)"
            )
        }
    }

    func testFloat64ParityWithPyTorch() throws { try checkAll("f64_") }
    func testFloat32ParityWithPyTorch() throws { try checkAll("f32_") }

    func testStateDictKeysMatchPyTorch() throws {
        let fx = try Fixture("vit", folder: "models")
        for (name, fb) in [("small", 4), ("small_fb0", 0)] {
            var cfg = Self.small
            cfg["fb_filters"] = fb
            let m = try Self.build(cfg)
            guard let s = fx.meta["keys/\(name)"],
                let keys = try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [[Any]]
            else {
                XCTFail("keys/\(name) missing")
                continue
            }
            let torchKeys = Dictionary(
                uniqueKeysWithValues: keys.map {
                    ($0[0] as? String ?? "", ($0[1] as? [NSNumber])?.map { $0.intValue } ?? [])
                })
            let ours = Dictionary(uniqueKeysWithValues: m.stateDict().map { ($0.0, $0.1.shape) })
            XCTAssertEqual(ours, torchKeys, "\(name): state_dict keys and shapes")
        }
    }

    /// Writes a trained dfm state_dict for `models_vit.py --roundtrip` (which loads it strictly into PyTorch).
    func testExportStateDictForTorch() throws {
        guard let dir = ProcessInfo.processInfo.environment["DFM_EXPORT_DIR"] else {
            throw XCTSkip("set DFM_EXPORT_DIR to export a state_dict for tools/fixtures/models_vit.py --roundtrip")
        }
        manualSeed(1)
        let m = try Self.build(Self.small)
        let x = try DeterministicWeights.uniformTensor("input/2x3x8x8", [2, 3, 8, 8])
        let opt = try Adam(m.parameters(), lr: 1e-3)
        try crossEntropy(try m.forward(x, T: 3), try Tensor(int64: [3, 7], shape: [2])).backward()
        try opt.step()
        m.eval()
        let logits = try GradMode.noGrad { try m.forward(x, T: 3) }
        var dict: [String: Tensor] = ["__logits__": logits, "__input__": x]
        for (k, v) in m.stateDict() { dict[k] = v }
        let data = try JSONSerialization.data(withJSONObject: ["model": Self.small, "T": 3])
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try SafeTensors.write(
            dict, to: (dir as NSString).appendingPathComponent("vit_dfm.safetensors"),
            metadata: ["format": "pt", "config": String(decoding: data, as: UTF8.self)])
    }

    /// The way back: PyTorch's own state_dict of the round-tripped model loads strictly into dfm
    /// and gives the logits PyTorch computed.
    func testLoadTorchStateDict() throws {
        let fx = try Fixture("vit_torch_state", folder: "models")
        let m = try Self.build(Self.small)
        var state = fx.tensors
        let x = try XCTUnwrap(state.removeValue(forKey: "__input__"))
        let want = try XCTUnwrap(state.removeValue(forKey: "__logits__"))
        let (missing, unexpected) = try m.loadStateDict(state, strict: true)
        XCTAssertEqual(missing, [])
        XCTAssertEqual(unexpected, [])
        m.eval()
        let got = try GradMode.noGrad { try m.forward(x, T: 3) }
        assertClose(got, want, rtol: 1e-4, atol: 1e-5, "logits after loading PyTorch's state_dict")
    }

    func testContract() throws {
        manualSeed(2)
        // Image size not a multiple of the patch size: a clear error at construction and in forward.
        XCTAssertThrowsError(try DFMViT(imageSize: [28, 30], patchSize: 4)) { e in
            XCTAssertTrue("\(e)".contains("not a multiple of the patch size 4"), "\(e)")
        }
        let m = try DFMViT(
            imageSize: [8, 8], patchSize: 4, inChannels: 1, dim: 8, depth: 1, heads: 2, mlpDim: 16, fbFilters: 2)
        XCTAssertThrowsError(try m.forward(try randn([1, 1, 10, 10]), T: 1)) { e in
            XCTAssertTrue("\(e)".contains("not a multiple of the patch size"), "\(e)")
        }
        XCTAssertThrowsError(try m.forward(try randn([1, 1, 12, 12]), T: 1))
        XCTAssertThrowsError(try m.forward(try randn([1, 2, 8, 8]), T: 1))
        XCTAssertThrowsError(try m.forward(try randn([8, 8]), T: 1))
        XCTAssertThrowsError(try m.forward(try randn([1, 1, 8, 8]), T: -1))
        XCTAssertThrowsError(try DFMViT(dim: 10, heads: 4))
        XCTAssertThrowsError(try DFMViT(fbFilters: -1))
        // LN_err and LN_in are frozen; Qinv and the rest train.
        let frozen = Set(m.namedParameters().filter { !$0.1.requiresGrad }.map { $0.0 })
        XCTAssertEqual(
            frozen,
            [
                "T", "layernorm_error.weight", "layernorm_error.bias", "layernorm_input.weight",
                "layernorm_input.bias", "error_head.tau", "error_head.T", "error_head.alpha", "error_head.S",
            ])
        // trunc_normal(0.02) init: within ±2 and small; biases zero.
        XCTAssertTrue(m.head.weight.toArray().allSatisfy { Swift.abs($0) < 0.2 })
        XCTAssertTrue(m.head.bias!.toArray().allSatisfy { $0 == 0 })

        // Unbatched input = a batch of one, squeezed; steps run and early stop.
        m.eval()
        m.stateInitStd = 0
        let x = try randn([1, 8, 8])
        let u = try m.forward(x, T: 3)
        XCTAssertEqual(u.shape, [10])
        XCTAssertEqual(m.stepsRun, 3)
        XCTAssertEqual(u.toArray(), try m.forward(try unsqueeze(x, 0), T: 3).toArray())
        _ = try m.forward(x, T: 5, atol: 1e9)
        XCTAssertEqual(m.stepsRun, 3)
        _ = try m.forward(x, T: 0)
        XCTAssertEqual(m.stepsRun, 0)
    }

    /// checkpointSteps gives the same gradients; the same seed gives bitwise the same training.
    func testCheckpointStepsAndDeterminism() throws {
        func run(checkpoint: Bool) throws -> ([Float], [[Float]]) {
            manualSeed(11)
            let m = try DFMViT(
                imageSize: [8, 8], patchSize: 2, inChannels: 1, dim: 8, depth: 2, heads: 2, mlpDim: 16, fbFilters: 2,
                dropout: 0.1)
            m.checkpointSteps = checkpoint
            let opt = try Adam(m.parameters(), lr: 1e-3)
            var losses: [Float] = []
            for _ in 0..<2 {
                let loss = try crossEntropy(
                    try m.forward(try randn([4, 1, 8, 8]), T: 3), try Tensor(int64: [0, 1, 2, 3], shape: [4]))
                opt.zeroGrad()
                try loss.backward()
                try opt.step()
                losses.append(loss.toArray()[0])
            }
            return (losses, m.parameters().map { $0.toArray() })
        }
        let a = try run(checkpoint: false)
        let b = try run(checkpoint: false)
        let c = try run(checkpoint: true)
        XCTAssertEqual(a.0, b.0)
        XCTAssertEqual(a.1, b.1)
        XCTAssertEqual(a.0, c.0)
        for (p, q) in zip(a.1, c.1) {
            for (u, v) in zip(p, q) { XCTAssertEqual(u, v, accuracy: 1e-6 * max(1, Swift.abs(u))) }
        }
    }

    /// The issue's model learns: a few Adam steps on a fixed batch of Fashion-MNIST lower the loss.
    func testTrainsOnFashionMNIST() throws {
        guard let data = try? IDXDataset(root: IDXDataset.fashionMNISTRoot, train: true) else {
            throw XCTSkip("Fashion-MNIST not installed")
        }
        manualSeed(0)
        let m = try DFMViT(
            imageSize: [28, 28], patchSize: 4, inChannels: 1, dim: 64, depth: 2, heads: 4, mlpDim: 128, fbFilters: 8,
            nClasses: 10)
        let opt = try Adam(m.parameters(), lr: 2e-3)
        let (x, y) = try data.batch(Array(0..<32))
        var losses: [Float] = []
        for _ in 0..<8 {
            let loss = try crossEntropy(try m.forward(x, T: 3), y)
            opt.zeroGrad()
            try loss.backward()
            try opt.step()
            losses.append(loss.toArray()[0])
        }
        XCTAssertLessThan(losses.last!, losses.first! - 0.2, "losses \(losses)")
    }
}
