import Foundation
import XCTest

@testable import DFM

/// The model-level parity proof: DFM-ResNet18/34/50 and DFM-DeepLabV3+ in float64 against
/// PyTorch in float64 (tools/fixtures/models_float64.py, whose docstring says why float64):
/// logits, loss, every gradient (norm, a whole-tensor projection and 32 samples), BN running
/// statistics, Q and one Adam step, train and eval, T = 1 and T = 3 with feedback.
///
/// In float64 no ReLU or max-pool input lies within rounding of its switching point (the
/// fixture script checks this with a 1e-13 input probe), so the only differences left are
/// summation order: ~1e-14 relative. The tolerance, 1e-9, holds on any CPU and any BLAS
/// kernel set, and is still a million times tighter than a single wrong term would give.
final class ModelFloat64Tests: XCTestCase {
    static let tol = 1e-9

    static let fixture: Result<Fixture, Error> = Result { try Fixture("float64", folder: "models") }

    /// The fixture's sampling: whole when n <= 128 (for count 32), else flat indices ((2j+1)·n) / (2·count).
    static func sampled(_ t: Tensor, count: Int = 32) -> [Double] {
        let v = t.toDoubleArray()
        let n = v.count
        if n <= 128 && count == 32 { return v }
        return (0..<count).map { v[((2 * $0 + 1) * n) / (2 * count)] }
    }

    static func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }

    /// Σ g_k·w_k with the fixture's fixed weights w_k = ((k·2654435761) mod 2^32) / 2^32 - 0.5.
    static func projection(_ t: Tensor) -> (value: Double, weightNorm: Double) {
        let v = t.toDoubleArray()
        var s = 0.0
        var w2 = 0.0
        for k in 0..<v.count {
            let w = Double((UInt64(k) &* 2_654_435_761) % (1 << 32)) / Double(1 << 32) - 0.5
            s += v[k] * w
            w2 += w * w
        }
        return (s, w2.squareRoot())
    }

    /// |a - e| / |e| by norm must be at most `tol`.
    func expectClose(_ got: [Double], _ e: [Double], _ what: String, tol: Double = ModelFloat64Tests.tol) -> Double {
        XCTAssertEqual(got.count, e.count, "\(what): element count")
        var d = 0.0
        for k in 0..<min(got.count, e.count) { d += (got[k] - e[k]) * (got[k] - e[k]) }
        let r = d.squareRoot() / max(Self.norm(e), 1e-300)
        XCTAssertLessThanOrEqual(r, tol, "\(what): relative difference \(r) from PyTorch float64")
        return r
    }

    /// Runs case `c` in float64 and compares everything the fixture recorded; returns the worst relative difference.
    @discardableResult
    func checkCase(_ fx: Fixture, _ c: String) throws -> Double {
        let cfg = try fx.config(c)
        func int(_ k: String) -> Int { (cfg[k] as? NSNumber)?.intValue ?? -1 }
        func dbl(_ k: String) -> Double { (cfg[k] as? NSNumber)?.doubleValue ?? .nan }
        let train = (cfg["train"] as? NSNumber)?.boolValue ?? false
        let shape = (cfg["shape"] as? [NSNumber])?.map { $0.intValue } ?? []
        let input = (cfg["input"] as? [NSNumber])?.map { $0.intValue } ?? []
        let T = int("T")
        let atol = Float(dbl("atol"))

        let model: Module
        let logits: Tensor
        let loss: Tensor
        let stepsRun: () -> Int
        let q: () -> Tensor
        if cfg["model"] as? String == "deeplabv3plus" {
            let m = try DeepLabV3Plus(
                inFilters: int("in_filters"), fbFilters: int("fb_filters"), classFilters: int("class_filters"),
                classes: int("classes"), tau: dbl("tau"), shape: shape,
                asppDropout: Float(dbl("aspp_dropout")), stateInitStd: 0)
            try DeterministicWeights.apply(m)
            try ModelDeepLabTests.adjust(m, cfg["adjust"] as? [String: Any] ?? [:])
            try m.to(.float64)
            m.train(train)
            let x = try toDType(try ModelDeepLabTests.input(batch: input[0], size: input[2]), .float64)
            let y = try ModelDeepLabTests.targets(batch: input[0], size: input[2], classes: int("classes"))
            logits = try m.forward(x, T: T, atol: atol)
            loss = try crossEntropy(logits, y, ignoreIndex: int("ignore_index"))
            (model, stepsRun, q) = (m, { m.stepsRun }, { m.errorHead.Q })
        } else {
            let m = try ModelResNetTests.build(
                cfg["model"] as? String ?? "", fb: int("fb_filters"), inChannels: int("in_channels"),
                nClasses: int("n_classes"), shape: shape, tau: dbl("tau"))
            try DeterministicWeights.apply(m)
            try m.to(.float64)
            m.train(train)
            let x = try toDType(
                try DeterministicWeights.uniformTensor(cfg["input_key"] as? String ?? "", input), .float64)
            let labels = (cfg["labels"] as? [NSNumber])?.map { $0.int64Value } ?? []
            logits = try m.forward(x, T: T, atol: atol)
            loss = try crossEntropy(logits, try Tensor(int64: labels, shape: [labels.count]))
            (model, stepsRun, q) = (m, { m.stepsRun }, { m.errorHead.Q })
        }
        XCTAssertEqual(logits.dtype, .float64, "\(c): logits dtype")
        try loss.backward()
        XCTAssertEqual(stepsRun(), int("steps_run"), "\(c): steps run")

        var worst = 0.0
        let eLogits = try fx.values("\(c)/logits", dtype: .float64)
        let gotLogits =
            eLogits.count == logits.count ? logits.toDoubleArray() : Self.sampled(logits, count: eLogits.count)
        worst = max(worst, expectClose(gotLogits, eLogits, "\(c): logits"))
        worst = max(
            worst,
            expectClose(
                [Self.norm(logits.toDoubleArray())], try fx.values("\(c)/logits_norm", dtype: .float64),
                "\(c): |logits|"))
        worst = max(worst, expectClose(loss.toDoubleArray(), try fx.values("\(c)/loss", dtype: .float64), "\(c): loss"))
        worst = max(worst, expectClose(Self.sampled(q()), try fx.values("\(c)/Q", dtype: .float64), "\(c): Q"))

        let withGrad = Set((cfg["with_grad"] as? [String]) ?? [])
        let params = model.namedParameters()
        XCTAssertEqual(
            Set(params.filter { $0.1.grad != nil }.map { $0.0 }), withGrad, "\(c): parameters with a gradient")
        var gradSamples: [String: [Double]] = [:]
        for (name, p) in params where withGrad.contains(name) {
            guard let g = p.grad else { continue }
            XCTAssertEqual(g.dtype, .float64, "\(c): grad \(name) dtype")
            let eNorm = try fx.values("\(c)/gradnorm/\(name)", dtype: .float64)[0]
            worst = max(worst, expectClose([Self.norm(g.toDoubleArray())], [eNorm], "\(c): |grad \(name)|"))
            // A whole-tensor check: the projection on fixed weights, relative to |g|·|w|.
            let (proj, wn) = Self.projection(g)
            let eProj = try fx.values("\(c)/gradproj/\(name)", dtype: .float64)[0]
            let pr = Swift.abs(proj - eProj) / max(eNorm * wn, 1e-300)
            XCTAssertLessThanOrEqual(pr, Self.tol, "\(c): projection of grad \(name): \(proj) vs \(eProj)")
            worst = max(worst, pr)
            // Samples, each relative to the whole gradient's norm (elements near 0 have no relative precision).
            let gs = Self.sampled(g)
            let es = try fx.values("\(c)/grad/\(name)", dtype: .float64)
            gradSamples[name] = gs
            let sd = zip(gs, es).map { Swift.abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(sd, Self.tol * max(eNorm, 1e-300), "\(c): sampled grad \(name)")
            worst = max(worst, sd / max(eNorm, 1e-300))
        }
        if train {
            for (name, b) in model.namedBuffers() {
                if name.hasSuffix("running_mean") || name.hasSuffix("running_var") {
                    worst = max(
                        worst,
                        expectClose(Self.sampled(b), try fx.values("\(c)/bn/\(name)", dtype: .float64), "\(c): \(name)")
                    )
                } else if name.hasSuffix("num_batches_tracked") {
                    XCTAssertEqual(b.i[0], try fx.tensors["\(c)/nbt/\(name)"]?.i[0] ?? -1, "\(c): \(name)")
                }
            }
        }
        // One Adam step (eps 1e-8): an element moves by lr·g/(|g| + eps), so where |g| is near eps
        // the step inherits the gradient's own (float64-sized) difference; allow exactly that.
        let lr = dbl("lr")
        let opt = try Adam(model.parameters(), lr: lr)
        try opt.step()
        func unit(_ g: Double) -> Double { g / (Swift.abs(g) + 1e-8) }
        for (name, p) in params where withGrad.contains(name) {
            let got = Self.sampled(p)
            let e = try fx.values("\(c)/after/\(name)", dtype: .float64)
            let eg = try fx.values("\(c)/grad/\(name)", dtype: .float64)
            let gs = gradSamples[name] ?? []
            for k in 0..<min(got.count, e.count, gs.count) {
                let allowed = 1.01 * lr * Swift.abs(unit(gs[k]) - unit(eg[k])) + 1e-12 * max(Swift.abs(e[k]), lr)
                XCTAssertLessThanOrEqual(
                    Swift.abs(got[k] - e[k]), allowed, "\(c): \(name) after one Adam step, sample \(k)")
            }
        }
        return worst
    }

    func checkAll(_ only: (String) -> Bool) throws {
        let fx = try Self.fixture.get()
        let cases = fx.meta.keys.filter(only).sorted()
        XCTAssertFalse(cases.isEmpty)
        for c in cases {
            let t0 = Date()
            let w = try checkCase(fx, c)
            print(
                "float64 parity \(c): worst relative difference \(String(format: "%.1e", w)) (\(String(format: "%.1f", Date().timeIntervalSince(t0))) s)"
            )
        }
    }

    func testResNet18() throws { try checkAll { $0.hasPrefix("r18_") } }
    func testResNet34() throws { try checkAll { $0.hasPrefix("r34_") } }
    func testResNet50() throws { try checkAll { $0.hasPrefix("r50_") } }
    func testDeepLabV3Plus() throws { try checkAll { $0.hasPrefix("dl_") || $0.hasPrefix("ff_") } }

    /// Module.to(.float64) converts parameters and buffers in place: an optimizer built before
    /// keeps working on the same tensors, num_batches_tracked stays int64, and mixing a float32
    /// input into the float64 model is refused with a clear error rather than computed wrongly.
    func testModuleToFloat64() throws {
        let m = try DFMResNet.resnet18(fbFilters: 2, nClasses: 10, shape: [32, 32], stateInitStd: 0)
        let opt = try SGD(m.parameters(), lr: 0.1)
        let before = m.parameters().map { ObjectIdentifier($0) }
        try m.to(.float64)
        XCTAssertEqual(m.parameters().map { ObjectIdentifier($0) }, before)
        XCTAssertTrue(m.parameters().allSatisfy { $0.dtype == .float64 })
        XCTAssertTrue(
            m.namedBuffers().allSatisfy {
                $0.0.hasSuffix("num_batches_tracked") ? $0.1.dtype == .int64 : $0.1.dtype == .float64
            })
        XCTAssertThrowsError(try m.forward(try Tensor.zeros([2, 3, 32, 32]), T: 1))
        let x = try DeterministicWeights.uniformTensor("input/2x3x32x32", [2, 3, 32, 32])
        let loss = try crossEntropy(
            try m.forward(try toDType(x, .float64), T: 2), try Tensor(int64: [1, 2], shape: [2]))
        try loss.backward()
        let w0 = try m.conv1.weight.clone()
        try opt.step()
        XCTAssertNotEqual(m.conv1.weight.toDoubleArray(), w0.toDoubleArray())
        try m.to(.float32)
        XCTAssertEqual(m.conv1.weight.dtype, .float32)
    }
}
