import Foundation
import XCTest

@testable import DFM

final class OptimTests: XCTestCase {
    private func kwargs(_ fx: Fixture, _ c: String) -> [String: Any] { fx.params(c)["kwargs"] as? [String: Any] ?? [:] }

    private func d(_ o: [String: Any], _ k: String, _ def: Double) -> Double { (o[k] as? NSNumber)?.doubleValue ?? def }
    private func b(_ o: [String: Any], _ k: String) -> Bool { (o[k] as? NSNumber)?.boolValue ?? false }

    /// Builds the optimizer a fixture case describes, over `params`.
    private func makeOptimizer(_ fx: Fixture, _ c: String, _ params: [Tensor]) throws -> Optimizer {
        let kw = kwargs(fx, c)
        let name = fx.string(c, "optimizer")!
        let groups = fx.params(c)["groups"] as? [[String: Any]]
        let first = groups == nil ? params : [params[0]]
        let betas = (kw["betas"] as? [NSNumber]).map { ($0[0].doubleValue, $0[1].doubleValue) } ?? (0.9, 0.999)
        let opt: Optimizer
        switch name {
        case "SGD":
            opt = try SGD(
                first, lr: d(kw, "lr", 1e-3), momentum: d(kw, "momentum", 0), dampening: d(kw, "dampening", 0),
                weightDecay: d(kw, "weight_decay", 0), nesterov: b(kw, "nesterov"), maximize: b(kw, "maximize"))
        case "Adam":
            opt = try Adam(
                first, lr: d(kw, "lr", 1e-3), betas: betas, eps: d(kw, "eps", 1e-8),
                weightDecay: d(kw, "weight_decay", 0), amsgrad: b(kw, "amsgrad"), maximize: b(kw, "maximize"))
        case "AdamW":
            opt = try AdamW(
                first, lr: d(kw, "lr", 1e-3), betas: betas, eps: d(kw, "eps", 1e-8),
                weightDecay: d(kw, "weight_decay", 1e-2), amsgrad: b(kw, "amsgrad"), maximize: b(kw, "maximize"))
        case "RMSprop":
            opt = try RMSprop(
                first, lr: d(kw, "lr", 1e-2), alpha: d(kw, "alpha", 0.99), eps: d(kw, "eps", 1e-8),
                weightDecay: d(kw, "weight_decay", 0), momentum: d(kw, "momentum", 0),
                centered: b(kw, "centered"), maximize: b(kw, "maximize"))
        default:
            throw DFMError.invalid("test", "unknown optimizer \(name)")
        }
        if let groups {
            for (p, g) in zip(params.dropFirst(), groups.dropFirst()) {
                try opt.addParamGroup(
                    [p], lr: (g["lr"] as? NSNumber)?.doubleValue,
                    weightDecay: (g["weight_decay"] as? NSNumber)?.doubleValue)
            }
        }
        return opt
    }

    func testOptimizerParityWithPyTorch() throws {
        let fx = try Fixture("nn_optim")
        var checked = 0
        for c in fx.cases where fx.params(c)["optimizer"] != nil {
            let n = fx.int(c, "nparams")!
            let steps = fx.int(c, "steps")!
            let params = try (0..<n).map { i in try fx.tensors["\(c)/p\(i)/init"]!.clone().requiresGrad() }
            let opt = try makeOptimizer(fx, c, params)
            for s in 0..<steps {
                opt.zeroGrad()
                for (i, p) in params.enumerated() { p.grad = try fx.tensors["\(c)/grad/\(s)/\(i)"]?.clone() }
                try opt.step()
                for (i, p) in params.enumerated() {
                    assertClose(
                        p, fx.tensors["\(c)/after/\(s)/\(i)"]!, rtol: 1e-6, atol: 1e-6, "\(c) step \(s) param \(i)")
                }
            }
            checked += 1
        }
        XCTAssertEqual(checked, 16)
    }

    func testSchedulerParityWithPyTorch() throws {
        let fx = try Fixture("nn_optim")
        var checked = 0
        for c in fx.cases where fx.params(c)["scheduler"] != nil {
            let p = fx.params(c)
            let kw = p["kwargs"] as! [String: Any]
            let expected = (p["lrs"] as! [NSNumber]).map { $0.doubleValue }
            let opt = try SGD([try Tensor.zeros([2]).requiresGrad()], lr: (p["lr"] as! NSNumber).doubleValue)
            let sched: LRScheduler
            switch p["scheduler"] as? String {
            case "StepLR":
                sched = try StepLR(opt, stepSize: (kw["step_size"] as! NSNumber).intValue, gamma: d(kw, "gamma", 0.1))
            case "MultiStepLR":
                sched = try MultiStepLR(
                    opt, milestones: (kw["milestones"] as! [NSNumber]).map(\.intValue), gamma: d(kw, "gamma", 0.1))
            case "ExponentialLR": sched = try ExponentialLR(opt, gamma: d(kw, "gamma", 0.1))
            default:
                sched = try CosineAnnealingLR(
                    opt, tMax: (kw["T_max"] as! NSNumber).intValue, etaMin: d(kw, "eta_min", 0))
            }
            var got = [opt.lr]
            for _ in 1..<expected.count {
                try opt.step()
                sched.step()
                got.append(opt.lr)
            }
            XCTAssertEqual(sched.lastLr, [got.last!])
            for (k, (g, e)) in zip(got, expected).enumerated() {
                XCTAssertEqual(g, e, accuracy: 1e-15 + 1e-12 * Swift.abs(e), "\(c) epoch \(k)")
            }
            checked += 1
        }
        XCTAssertEqual(checked, 6)
    }

    func testOneCycleLRParityWithPyTorch() throws {
        let fx = try Fixture("nn_optim")
        var checked = 0
        for c in fx.cases where fx.params(c)["one_cycle"] != nil {
            let p = fx.params(c)
            let kw = p["kwargs"] as! [String: Any]
            let okw = p["opt_kwargs"] as! [String: Any]
            let params = [try Tensor.zeros([2]).requiresGrad()]
            let opt: Optimizer =
                p["optimizer_class"] as? String == "Adam"
                ? try Adam(params, lr: d(okw, "lr", 1e-3))
                : try SGD(params, lr: d(okw, "lr", 1e-3), momentum: d(okw, "momentum", 0))
            let total =
                (kw["total_steps"] as? NSNumber)?.intValue
                ?? (kw["epochs"] as! NSNumber).intValue * (kw["steps_per_epoch"] as! NSNumber).intValue
            var cfg = OneCycleLR.Config(maxLr: d(kw, "max_lr", 0), totalSteps: total)
            cfg.pctStart = d(kw, "pct_start", 0.3)
            cfg.linear = kw["anneal_strategy"] as? String == "linear"
            cfg.cycleMomentum = (kw["cycle_momentum"] as? NSNumber)?.boolValue ?? true
            cfg.divFactor = d(kw, "div_factor", 25)
            cfg.finalDivFactor = d(kw, "final_div_factor", 1e4)
            cfg.threePhase = b(kw, "three_phase")
            let sched = try OneCycleLR(opt, cfg)
            let lrs = (p["lrs"] as! [NSNumber]).map(\.doubleValue)
            let moms = (p["momenta"] as! [NSNumber]).map(\.doubleValue)
            for k in 0..<lrs.count {
                let m = (opt as? Adam)?.beta1 ?? (opt as! SGD).momentum
                XCTAssertEqual(opt.lr, lrs[k], accuracy: 1e-15 + 1e-12 * lrs[k], "\(c) lr at step \(k)")
                XCTAssertEqual(m, moms[k], accuracy: 1e-12, "\(c) momentum at step \(k)")
                if k < lrs.count - 1 { sched.step() }
            }
            XCTAssertTrue(sched.isFinished)
            let copy = try OneCycleLR(
                try SGD([try Tensor.zeros([1]).requiresGrad()], lr: 0.1), OneCycleLR.Config(maxLr: 1, totalSteps: 5))
            try copy.loadStateDict(sched.stateDict())
            XCTAssertEqual(copy.config, sched.config)
            checked += 1
        }
        XCTAssertEqual(checked, 3)
        let opt = try SGD([try Tensor.zeros([1]).requiresGrad()], lr: 0.1)
        XCTAssertThrowsError(try OneCycleLR(opt, OneCycleLR.Config(maxLr: 1, totalSteps: 0)))
        var zeroPhase = OneCycleLR.Config(maxLr: 1, totalSteps: 10)
        zeroPhase.pctStart = 0.1  // the first phase ends at step 0: torch divides by zero there
        XCTAssertThrowsError(try OneCycleLR(opt, zeroPhase))
    }

    func testReduceLROnPlateauParityWithPyTorch() throws {
        let fx = try Fixture("nn_optim")
        var checked = 0
        for c in fx.cases where fx.params(c)["plateau"] != nil {
            let p = fx.params(c)
            let kw = p["kwargs"] as! [String: Any]
            let opt = try SGD([try Tensor.zeros([2]).requiresGrad()], lr: (p["lr"] as! NSNumber).doubleValue)
            let sched = try ReduceLROnPlateau(
                opt, maximize: kw["mode"] as? String == "max", factor: d(kw, "factor", 0.1),
                patience: (kw["patience"] as? NSNumber)?.intValue ?? 10, threshold: d(kw, "threshold", 1e-4),
                relativeThreshold: kw["threshold_mode"] as? String != "abs",
                cooldown: (kw["cooldown"] as? NSNumber)?.intValue ?? 0,
                minLr: d(kw, "min_lr", 0), eps: d(kw, "eps", 1e-8))
            let metrics = (p["metrics"] as! [NSNumber]).map(\.doubleValue)
            let expected = (p["lrs"] as! [NSNumber]).map(\.doubleValue)
            for (k, (m, e)) in zip(metrics, expected).enumerated() {
                sched.step(metric: m)
                XCTAssertEqual(opt.lr, e, accuracy: 1e-15, "\(c) epoch \(k)")
            }
            // The counters survive a state dict round trip.
            let copy = try ReduceLROnPlateau(try SGD([try Tensor.zeros([2]).requiresGrad()], lr: 0.1))
            try copy.loadStateDict(sched.stateDict())
            XCTAssertEqual(copy.stateDict(), sched.stateDict())
            checked += 1
        }
        XCTAssertEqual(checked, 4)
        let opt = try SGD([try Tensor.zeros([1]).requiresGrad()], lr: 0.1)
        XCTAssertThrowsError(try ReduceLROnPlateau(opt, factor: 1))
        XCTAssertThrowsError(try ReduceLROnPlateau(opt, patience: -1))
    }

    /// Saving the optimizer (and scheduler) mid-run and restoring into fresh objects gives
    /// bitwise-identical subsequent steps.
    func testStateSaveRestoreContinuesIdentically() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dfm-optim-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var r = SplitMix(seed: 4)
        let grads = (0..<6).map { _ in [r.tensor([3, 4]), r.tensor([5])] }
        let makers: [(String, ([Tensor]) throws -> Optimizer)] = [
            ("sgd", { try SGD($0, lr: 0.1, momentum: 0.9, nesterov: true) }),
            ("adam", { try Adam($0, lr: 0.01, amsgrad: true) }),
            ("adamw", { try AdamW($0, lr: 0.01, weightDecay: 0.05) }),
        ]
        for (name, make) in makers {
            let init0 = [r.tensor([3, 4]), r.tensor([5])]
            let pa = try init0.map { try $0.clone().requiresGrad() }
            let a = try make(pa)
            let sa = try CosineAnnealingLR(a, tMax: 4, etaMin: 0.001)
            func run(_ opt: Optimizer, _ sched: LRScheduler, _ ps: [Tensor], _ steps: Range<Int>) throws {
                for s in steps {
                    opt.zeroGrad()
                    for (p, g) in zip(ps, grads[s]) { p.grad = try g.clone() }
                    try opt.step()
                    sched.step()
                }
            }
            try run(a, sa, pa, 0..<3)
            let path = dir.appendingPathComponent("\(name).safetensors").path
            try a.save(to: path)
            let schedState = sa.stateDict()

            // Fresh optimizer over copies of the current parameters, different lr on purpose.
            let pb = try pa.map { try $0.detach().clone().requiresGrad() }
            let bOpt = try make(pb)
            bOpt.lr = 123
            let sb = try CosineAnnealingLR(bOpt, tMax: 4, etaMin: 0.001)
            try bOpt.load(from: path)
            try sb.loadStateDict(schedState)
            XCTAssertEqual(bOpt.lr, a.lr, name)
            try run(a, sa, pa, 3..<6)
            try run(bOpt, sb, pb, 3..<6)
            for (x, y) in zip(pa, pb) { XCTAssertEqual(x.toArray(), y.toArray(), name) }
            XCTAssertEqual(sa.lastLr, sb.lastLr, name)
        }
    }

    func testSkipsParamsWithoutGradAndZeroGrad() throws {
        let p = try Tensor.ones([3]).requiresGrad()
        let q = try Tensor.ones([2]).requiresGrad()
        let opt = try Adam([p, q], lr: 0.1)
        p.grad = try Tensor.full([3], 1)
        try opt.step()
        XCTAssertEqual(q.toArray(), [1, 1], "no grad: untouched")
        XCTAssertNil(opt.state(for: q), "no grad: no state")
        XCTAssertEqual(opt.state(for: p)?["step"]?.toArray(), [1])
        // Adam's first step moves each coordinate by lr·sign(g) (up to eps).
        for v in p.toArray() { XCTAssertEqual(v, 0.9, accuracy: 1e-6) }
        opt.zeroGrad()
        XCTAssertNil(p.grad)
        try opt.step()
        for v in p.toArray() { XCTAssertEqual(v, 0.9, accuracy: 1e-6) }
        XCTAssertEqual(opt.state(for: p)?["step"]?.toArray(), [1])
    }

    func testErrors() throws {
        let p = try Tensor.zeros([2]).requiresGrad()
        assertThrowsDFM(try SGD([p], lr: -1), "Invalid learning rate: -1.0")
        assertThrowsDFM(try SGD([p], momentum: -0.1), "Invalid momentum value")
        assertThrowsDFM(
            try SGD([p], momentum: 0, nesterov: true), "Nesterov momentum requires a momentum and zero dampening")
        assertThrowsDFM(try SGD([p], momentum: 0.9, dampening: 0.1, nesterov: true), "Nesterov")
        assertThrowsDFM(try Adam([p], betas: (1.0, 0.9)), "Invalid beta parameter at index 0")
        assertThrowsDFM(try Adam([p], betas: (0.9, -0.1)), "Invalid beta parameter at index 1")
        assertThrowsDFM(try Adam([p], eps: -1), "Invalid epsilon value")
        assertThrowsDFM(try AdamW([p], weightDecay: -1), "Invalid weight_decay value")
        assertThrowsDFM(try Adam([]), "empty parameter list")
        assertThrowsDFM(try Adam([p, p]), "more than once")
        let nonLeaf = try mul(p, 2)
        assertThrowsDFM(try Adam([nonLeaf]), "non-leaf")
        let opt = try SGD([p], lr: 0.1)
        assertThrowsDFM(try opt.addParamGroup([p]), "more than once")
        p.grad = try Tensor.zeros([3])
        assertThrowsDFM(try opt.step(), "has shape [3]", kind: .shapeMismatch)
        XCTAssertEqual(p.toArray(), [0, 0])

        // Loading a state dict that does not fit changes nothing.
        let q = try Tensor.zeros([4]).requiresGrad()
        let adam = try Adam([q], lr: 0.5)
        q.grad = try Tensor.ones([4])
        try adam.step()
        var s = try adam.stateDict()
        let sgd = try SGD([q], lr: 0.1)
        assertThrowsDFM(try sgd.loadStateDict(s), "not SGD")
        let other = try Adam([try Tensor.zeros([3]).requiresGrad()], lr: 0.2)
        assertThrowsDFM(try other.loadStateDict(s), "state.0.exp_avg has shape [4]")
        XCTAssertEqual(other.lr, 0.2)
        XCTAssertNil(other.state(for: other.params[0]))
        let two = try Adam([try Tensor.zeros([4]).requiresGrad(), try Tensor.zeros([4]).requiresGrad()], lr: 0.2)
        assertThrowsDFM(try two.loadStateDict(s), "doesn't match the size")
        s.metadata["param_groups.0.lr"] = "abc"
        let fresh = try Adam([try Tensor.zeros([4]).requiresGrad()], lr: 0.2)
        assertThrowsDFM(try fresh.loadStateDict(s), "param_groups.0.lr")
        XCTAssertEqual(fresh.lr, 0.2)

        assertThrowsDFM(try StepLR(opt, stepSize: 0), "step_size")
        assertThrowsDFM(try CosineAnnealingLR(opt, tMax: 0), "T_max")
        let st = try StepLR(opt, stepSize: 2)
        assertThrowsDFM(try st.loadStateDict(try CosineAnnealingLR(try SGD([q]), tMax: 3).stateDict()), "not StepLR")
    }

    /// A small MLP fits a synthetic regression with each optimizer: the loss falls.
    func testTinyMLPTrainsWithEachOptimizer() throws {
        var r = SplitMix(seed: 17)
        let x = r.tensor([32, 4])
        let wTrue = r.tensor([4, 1])
        let y = try matmul(x, wTrue)
        let makers: [(String, ([Tensor]) throws -> Optimizer)] = [
            ("sgd", { try SGD($0, lr: 0.05, momentum: 0.9) }),
            ("adam", { try Adam($0, lr: 0.02) }),
            ("adamw", { try AdamW($0, lr: 0.02) }),
        ]
        for (name, make) in makers {
            manualSeed(2)
            let net = try Sequential(Linear(4, 16), ReLU(), Linear(16, 1))
            let opt = try make(net.parameters())
            let sched = try StepLR(opt, stepSize: 30, gamma: 0.5)
            var first: Float = 0
            var last: Float = 0
            for i in 0..<60 {
                opt.zeroGrad()
                let loss = try mseLoss(try net(x), y)
                try loss.backward()
                try opt.step()
                sched.step()
                if i == 0 { first = try loss.item() }
                last = try loss.item()
            }
            XCTAssertLessThan(last, 0.1 * first, "\(name): loss \(first) → \(last)")
        }
    }
}
