import Foundation
import XCTest

@testable import DFM

/// Adadelta, Adagrad, Adamax, NAdam, RAdam, ASGD (and SGD's dampening/nesterov) against
/// torch's single-tensor updates, float32 and float64 (fixtures: tools/fixtures/optim_extra.py).
final class OptimExtraTests: XCTestCase {
    private func d(_ o: [String: Any], _ k: String, _ def: Double) -> Double { (o[k] as? NSNumber)?.doubleValue ?? def }
    private func b(_ o: [String: Any], _ k: String) -> Bool { (o[k] as? NSNumber)?.boolValue ?? false }

    private func make(_ name: String, _ kw: [String: Any], _ ps: [Tensor]) throws -> Optimizer {
        let betas = (kw["betas"] as? [NSNumber]).map { ($0[0].doubleValue, $0[1].doubleValue) } ?? (0.9, 0.999)
        let wd = d(kw, "weight_decay", 0)
        let mx = b(kw, "maximize")
        switch name {
        case "Adadelta":
            return try Adadelta(
                ps, lr: d(kw, "lr", 1), rho: d(kw, "rho", 0.9), eps: d(kw, "eps", 1e-6), weightDecay: wd, maximize: mx)
        case "Adagrad":
            return try Adagrad(
                ps, lr: d(kw, "lr", 1e-2), lrDecay: d(kw, "lr_decay", 0), weightDecay: wd,
                initialAccumulatorValue: d(kw, "initial_accumulator_value", 0), eps: d(kw, "eps", 1e-10), maximize: mx)
        case "Adamax":
            return try Adamax(
                ps, lr: d(kw, "lr", 2e-3), betas: betas, eps: d(kw, "eps", 1e-8), weightDecay: wd, maximize: mx)
        case "NAdam":
            return try NAdam(
                ps, lr: d(kw, "lr", 2e-3), betas: betas, eps: d(kw, "eps", 1e-8), weightDecay: wd,
                momentumDecay: d(kw, "momentum_decay", 4e-3), decoupledWeightDecay: b(kw, "decoupled_weight_decay"),
                maximize: mx)
        case "RAdam":
            return try RAdam(
                ps, lr: d(kw, "lr", 1e-3), betas: betas, eps: d(kw, "eps", 1e-8), weightDecay: wd,
                decoupledWeightDecay: b(kw, "decoupled_weight_decay"), maximize: mx)
        case "ASGD":
            return try ASGD(
                ps, lr: d(kw, "lr", 1e-2), lambd: d(kw, "lambd", 1e-4), alpha: d(kw, "alpha", 0.75),
                t0: d(kw, "t0", 1e6), weightDecay: wd, maximize: mx)
        case "SGD":
            return try SGD(
                ps, lr: d(kw, "lr", 1e-3), momentum: d(kw, "momentum", 0), dampening: d(kw, "dampening", 0),
                weightDecay: wd, nesterov: b(kw, "nesterov"), maximize: mx)
        default:
            throw DFMError.invalid("test", "unknown optimizer \(name)")
        }
    }

    func testParityWithPyTorch() throws {
        let fx = try Fixture("optim_extra")
        var checked = Set<String>()
        var f64 = 0
        for c in fx.cases where fx.params(c)["optimizer"] != nil {
            let n = fx.int(c, "nparams")!
            let steps = fx.int(c, "steps")!
            let name = fx.string(c, "optimizer")!
            let double = fx.string(c, "dtype") == "float64"
            let params = try (0..<n).map { i in try fx.tensors["\(c)/p\(i)/init"]!.clone().requiresGrad() }
            let opt = try make(name, fx.params(c)["kwargs"] as? [String: Any] ?? [:], params)
            for s in 0..<steps {
                opt.zeroGrad()
                for (i, p) in params.enumerated() { p.grad = try fx.tensors["\(c)/grad/\(s)/\(i)"]?.clone() }
                try opt.step()
                for (i, p) in params.enumerated() {
                    // float32: the same operations in the same order as torch, so within an ulp or two;
                    // float64: the same, to 1e-12.
                    let tol = double ? 1e-12 : 1e-6
                    assertCloseD(
                        p, fx.tensors["\(c)/after/\(s)/\(i)"]!, rtol: tol, atol: tol, "\(c) step \(s) param \(i)")
                }
            }
            checked.insert(name)
            if double { f64 += 1 }
        }
        XCTAssertEqual(checked, ["Adadelta", "Adagrad", "Adamax", "NAdam", "RAdam", "ASGD", "SGD"])
        XCTAssertEqual(f64, 18)
    }

    /// A state dict round trip mid-run continues bit for bit.
    func testStateDictRoundTrip() throws {
        var r = SplitMix(seed: 11)
        let grads = (0..<6).map { _ in [r.tensor([3, 4]), r.tensor([5])] }
        let makers: [(String, ([Tensor]) throws -> Optimizer)] = [
            ("adadelta", { try Adadelta($0, weightDecay: 0.1) }), ("adagrad", { try Adagrad($0, lrDecay: 0.1) }),
            ("adamax", { try Adamax($0) }), ("nadam", { try NAdam($0, weightDecay: 0.1) }),
            ("radam", { try RAdam($0) }),
            ("asgd", { try ASGD($0, t0: 2) }),
        ]
        for (name, mk) in makers {
            let init0 = [r.tensor([3, 4]), r.tensor([5])]
            let pa = try init0.map { try $0.clone().requiresGrad() }
            let a = try mk(pa)
            func run(_ opt: Optimizer, _ ps: [Tensor], _ steps: Range<Int>) throws {
                for s in steps {
                    for (p, g) in zip(ps, grads[s]) { p.grad = try g.clone() }
                    try opt.step()
                }
            }
            try run(a, pa, 0..<3)
            let pb = try pa.map { try $0.detach().clone().requiresGrad() }
            let bOpt = try mk(pb)
            try bOpt.loadStateDict(try a.stateDict())
            try run(a, pa, 3..<6)
            try run(bOpt, pb, 3..<6)
            for (x, y) in zip(pa, pb) { XCTAssertEqual(x.toArray(), y.toArray(), name) }
        }
    }

    func testErrors() throws {
        let p = try Tensor.zeros([2]).requiresGrad()
        assertThrowsDFM(try Adadelta([p], rho: 1.5), "Invalid rho value")
        assertThrowsDFM(try Adadelta([p], eps: -1), "Invalid epsilon value")
        assertThrowsDFM(try Adadelta([p], lr: -1), "Invalid learning rate")
        assertThrowsDFM(try Adagrad([p], lrDecay: -1), "Invalid lr_decay value")
        assertThrowsDFM(try Adagrad([p], initialAccumulatorValue: -1), "Invalid initial_accumulator_value")
        assertThrowsDFM(try Adamax([p], betas: (1, 0.9)), "Invalid beta parameter at index 0")
        assertThrowsDFM(try NAdam([p], momentumDecay: -1), "Invalid momentum_decay value")
        assertThrowsDFM(try RAdam([p], betas: (0.9, .nan)), "Invalid beta parameter at index 1")
        assertThrowsDFM(try ASGD([p], lambd: .infinity), "Invalid lambd value")
        // NAdam's mu_product is a float32 scalar: a mis-shaped one is refused and nothing changes.
        let q = try Tensor.zeros([3]).requiresGrad()
        let nadam = try NAdam([q])
        q.grad = try Tensor.ones([3])
        try nadam.step()
        var s = try nadam.stateDict()
        s.tensors["state.0.mu_product"] = try Tensor.zeros([3])
        let other = try NAdam([try Tensor.zeros([3]).requiresGrad()])
        assertThrowsDFM(try other.loadStateDict(s), "mu_product")
        XCTAssertNil(other.state(for: other.params[0]))
        s.tensors["state.0.mu_product"] = nil
        s.metadata["hyper.momentum_decay"] = "-3"
        assertThrowsDFM(try other.loadStateDict(s), "momentum_decay")
    }

    private func buildScheduler(_ name: String, _ o: Optimizer) throws -> LRScheduler {
        switch name {
        case "lambda_pow": return try LambdaLR(o) { Foundation.pow(0.95, Double($0)) }
        case "multiplicative": return try LambdaLR(o, multiplicative: true) { $0 < 4 ? 0.9 : 1.1 }
        case "constant": return try ConstantLR(o, factor: 0.5, totalIters: 3)
        case "linear": return try LinearLR(o, startFactor: 0.25, endFactor: 0.75, totalIters: 4)
        case "polynomial": return try PolynomialLR(o, totalIters: 4, power: 2)
        case "warm_restarts": return try CosineAnnealingWarmRestarts(o, t0: 3, tMult: 2, etaMin: 0.01)
        case "warm_restarts_fractional": return try CosineAnnealingWarmRestarts(o, t0: 2, tMult: 3)
        case "cyclic_triangular2":
            var c = CyclicLR.Config(baseLr: 0.01, maxLr: 0.1)
            (c.stepSizeUp, c.stepSizeDown, c.mode) = (3, 2, .triangular2)
            return try CyclicLR(o, c)
        case "cyclic_exp_range_adam":
            var c = CyclicLR.Config(baseLr: 0.001, maxLr: 0.01)
            (c.stepSizeUp, c.mode, c.gamma, c.baseMomentum, c.maxMomentum) = (2, .expRange, 0.9, 0.7, 0.95)
            return try CyclicLR(o, c)
        case "cyclic_no_momentum":
            var c = CyclicLR.Config(baseLr: 0.05, maxLr: 0.2)
            (c.stepSizeUp, c.cycleMomentum) = (4, false)
            return try CyclicLR(o, c)
        case "sequential":
            return try SequentialLR(
                o, schedulers: [try ConstantLR(o, factor: 0.1, totalIters: 2), try ExponentialLR(o, gamma: 0.9)],
                milestones: [3])
        case "sequential_three":
            return try SequentialLR(
                o,
                schedulers: [
                    try LinearLR(o, startFactor: 0.5, totalIters: 2),
                    try CosineAnnealingLR(o, tMax: 4, etaMin: 0.01),
                    try StepLR(o, stepSize: 2, gamma: 0.5),
                ], milestones: [2, 6])
        case "chained":
            return try ChainedScheduler([
                try ConstantLR(o, factor: 0.1, totalIters: 3), try ExponentialLR(o, gamma: 0.9),
            ])
        default: throw DFMError.invalid("test", "unknown scheduler case \(name)")
        }
    }

    private func momentum(_ o: Optimizer) -> Double {
        (o as? SGD)?.momentum ?? (o as? Adam)?.beta1 ?? 0
    }

    func testSchedulerParityWithPyTorch() throws {
        let fx = try Fixture("optim_extra")
        var checked = 0
        for c in fx.cases where fx.params(c)["scheduler"] != nil {
            let p = fx.params(c)
            let lr = (p["lr"] as! NSNumber).doubleValue
            let okw = p["opt_kwargs"] as? [String: Any] ?? [:]
            let params = [try Tensor.zeros([2]).requiresGrad()]
            let o: Optimizer
            switch p["opt"] as? String {
            case "Adam": o = try Adam(params, lr: lr)
            case "Adagrad": o = try Adagrad(params, lr: lr)
            default: o = try SGD(params, lr: lr, momentum: (okw["momentum"] as? NSNumber)?.doubleValue ?? 0)
            }
            let sched = try buildScheduler(c, o)
            let lrs = (p["lrs"] as! [NSNumber]).map(\.doubleValue)
            let moms = (p["momenta"] as! [NSNumber]).map(\.doubleValue)
            let epochs = (p["epochs"] as? [NSNumber])?.map(\.doubleValue)
            for k in 0..<lrs.count {
                if k > 0 {
                    try o.step()
                    if let epochs {
                        (sched as! CosineAnnealingWarmRestarts).step(epoch: epochs[k - 1])
                    } else {
                        sched.step()
                    }
                }
                XCTAssertEqual(o.lr, lrs[k], accuracy: 1e-15 + 1e-12 * Swift.abs(lrs[k]), "\(c) lr at step \(k)")
                XCTAssertEqual(momentum(o), moms[k], accuracy: 1e-12, "\(c) momentum at step \(k)")
                XCTAssertEqual(sched.lastLr, [o.lr], "\(c) last lr at step \(k)")
            }
            // The state dict restores a fresh scheduler to the same point.
            let o2: Optimizer = try SGD([try Tensor.zeros([2]).requiresGrad()], lr: lr, momentum: 0.5)
            if !(sched is LambdaLR), !(sched is CyclicLR && (o is Adam || o is Adagrad)) {
                let copy = try buildScheduler(c, o2)
                try copy.loadStateDict(sched.stateDict())
                XCTAssertEqual(copy.stateDict(), sched.stateDict(), c)
            }
            checked += 1
        }
        XCTAssertEqual(checked, 13)
    }

    func testSchedulerErrors() throws {
        let o = try SGD([try Tensor.zeros([2]).requiresGrad()], lr: 0.1)
        assertThrowsDFM(try ConstantLR(o, factor: 2), "between 0 and 1")
        assertThrowsDFM(try LinearLR(o, startFactor: 0), "Starting multiplicative factor")
        assertThrowsDFM(try LinearLR(o, endFactor: 1.5), "Ending multiplicative factor")
        assertThrowsDFM(try PolynomialLR(o, totalIters: 0), "total_iters")
        assertThrowsDFM(try CosineAnnealingWarmRestarts(o, t0: 0), "T_0")
        assertThrowsDFM(try CosineAnnealingWarmRestarts(o, t0: 2, tMult: 0), "T_mult")
        assertThrowsDFM(
            try CyclicLR(try Adagrad([try Tensor.zeros([2]).requiresGrad()]), CyclicLR.Config(baseLr: 0.1, maxLr: 1)),
            "momentum or beta1")
        assertThrowsDFM(try SequentialLR(o, schedulers: [try StepLR(o, stepSize: 2)], milestones: [1]), "one more")
        assertThrowsDFM(try SequentialLR(o, schedulers: [], milestones: []), "at least one")
        assertThrowsDFM(try ChainedScheduler([try ReduceLROnPlateau(o)]), "ReduceLROnPlateau")
        let other = try SGD([try Tensor.zeros([2]).requiresGrad()], lr: 0.1)
        assertThrowsDFM(
            try ChainedScheduler([try StepLR(o, stepSize: 2), try StepLR(other, stepSize: 2)]), "same optimizer")
        // A failing lambda: the constructor throws; a later failure is reported and the lr kept.
        struct Boom: Error {}
        assertThrowsDFM(try LambdaLR(o) { _ in throw DFMError.invalid("lambda", "boom") }, "boom")
        let l = try LambdaLR(o) { e in
            if e == 2 { throw DFMError.invalid("lambda", "boom at 2") }
            return 0.5
        }
        l.step()
        XCTAssertNil(l.takeFailure())
        l.step()
        XCTAssertNotNil(l.takeFailure())
        XCTAssertEqual(o.lr, 0.05)
        let inf = try LambdaLR(o) { e in e == 0 ? 1 : .infinity }
        inf.step()
        XCTAssertNotNil(inf.takeFailure())
    }

    /// f(a, b) = Σ(1 - a)² + 10·Σ(b - a²)², the fixtures' objective, as an LBFGS closure.
    private func rosenbrock(_ opt: Optimizer, _ a: Tensor, _ b: Tensor) -> () throws -> Double {
        {
            opt.zeroGrad()
            let l = try add(
                try sum(try pow(try rsub(1, a), 2)), try mul(try sum(try pow(try sub(b, try mul(a, a)), 2)), 10))
            try l.backward()
            return l.toDoubleArray()[0]
        }
    }

    func testLBFGSParityWithPyTorch() throws {
        let fx = try Fixture("optim_extra")
        var checked = 0
        for c in fx.cases where fx.params(c)["lbfgs"] != nil {
            let p = fx.params(c)
            let kw = p["kwargs"] as? [String: Any] ?? [:]
            let double = fx.string(c, "dtype") == "float64"
            let a = try fx.tensors["\(c)/p0/init"]!.clone().requiresGrad()
            let b = try fx.tensors["\(c)/p1/init"]!.clone().requiresGrad()
            let opt = try LBFGS(
                [a, b], lr: d(kw, "lr", 1), maxIter: (kw["max_iter"] as? NSNumber)?.intValue ?? 20,
                historySize: (kw["history_size"] as? NSNumber)?.intValue ?? 100,
                strongWolfe: kw["line_search_fn"] as? String == "strong_wolfe")
            let losses = (p["losses"] as! [NSNumber]).map(\.doubleValue)
            // float64: the same operations as torch, to 1e-9 after dozens of iterations. float32: torch's
            // float32 dot products (BLAS) sum in another order than these (double, rounded once), and
            // the ~1e-7 differences grow over the iterations of a nonconvex valley: 1e-3 relative.
            let tol = double ? 1e-9 : 1e-3
            for s in 0..<losses.count {
                let loss = try opt.step(closure: rosenbrock(opt, a, b))
                XCTAssertEqual(
                    loss, losses[s], accuracy: tol * Swift.max(1, Swift.abs(losses[s])), "\(c) loss at step \(s)")
                assertCloseD(a, fx.tensors["\(c)/after/\(s)/0"]!, rtol: tol, atol: tol, "\(c) a after step \(s)")
                assertCloseD(b, fx.tensors["\(c)/after/\(s)/1"]!, rtol: tol, atol: tol, "\(c) b after step \(s)")
            }
            if double {
                XCTAssertEqual(opt.funcEvals, fx.int(c, "func_evals"), c)
                XCTAssertEqual(opt.nIter, fx.int(c, "n_iter"), c)
            }
            checked += 1
        }
        XCTAssertEqual(checked, 6)
    }

    func testLBFGSStateAndErrors() throws {
        var r = SplitMix(seed: 5)
        let a = try r.tensor([4]).requiresGrad()
        let b = try r.tensor([4]).requiresGrad()
        let opt = try LBFGS([a, b], maxIter: 4, historySize: 3)
        try opt.step(closure: rosenbrock(opt, a, b))
        let a2 = try a.detach().clone().requiresGrad()
        let b2 = try b.detach().clone().requiresGrad()
        let copy = try LBFGS([a2, b2], maxIter: 4, historySize: 3)
        try copy.loadStateDict(try opt.stateDict())
        try opt.step(closure: rosenbrock(opt, a, b))
        try copy.step(closure: rosenbrock(copy, a2, b2))
        XCTAssertEqual(a.toArray(), a2.toArray())
        XCTAssertEqual(b.toArray(), b2.toArray())
        XCTAssertEqual(opt.nIter, copy.nIter)

        assertThrowsDFM(try opt.step(), "needs a closure", kind: .stateError)
        assertThrowsDFM(try opt.addParamGroup([try Tensor.zeros([2]).requiresGrad()]), "parameter groups")
        assertThrowsDFM(try LBFGS([a], maxIter: 0), "max_iter")
        assertThrowsDFM(try LBFGS([a], historySize: 0), "history_size")
        assertThrowsDFM(try LBFGS([a], toleranceGrad: .nan), "tolerance")
        assertThrowsDFM(try LBFGS([a, try Tensor.zeros([2], dtype: .float64).requiresGrad()]), "one dtype")
        struct Boom: Error {}
        XCTAssertThrowsError(try opt.step(closure: { throw Boom() }))
        var s = try opt.stateDict()
        s.tensors["lbfgs.d"] = try Tensor.zeros([3])
        assertThrowsDFM(try copy.loadStateDict(s), "lbfgs.d")
    }
}
