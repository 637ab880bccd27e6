import XCTest

@testable import DFM

/// sin/cos/log1p/expm1, leaky_relu, rounding, isnan & co., sort and topk against PyTorch
/// (tools/fixtures/ops_extra.py), plus the two schedulers added with them.
final class ExtraOpsTests: XCTestCase {
    func testParityWithPyTorch() throws {
        let fx = try Fixture("extra_ops")
        let unary: [String: (Tensor) throws -> Tensor] = [
            "sin": sin, "cos": cos, "log1p": log1p, "expm1": expm1, "isnan": isNaN, "isinf": isInf,
            "isfinite": isFinite,
            "floor": { try rounded($0, .floor) }, "ceil": { try rounded($0, .ceil) },
            "round": { try rounded($0, .round) },
            "trunc": { try rounded($0, .trunc) }, "sign": { try rounded($0, .sign) },
        ]
        var checked = 0
        for c in fx.cases {
            // tested below
            if ["nll", "gather", "cumsum", "convT", "scatter"].contains(where: { c.hasPrefix($0) }) { continue }
            let x = try fx.leaves(c, ["x"])[0]
            let name = String(c.prefix { $0.isLetter || $0 == "1" || $0 == "_" }.split(separator: "_").first ?? "")
            var outs: [Tensor]
            if c.hasPrefix("leaky_relu") {
                outs = [try leakyRelu(x, negativeSlope: fx.float(c, "slope")!)]
            } else if c.hasPrefix("sort") {
                let r = try sort(x, dim: fx.int(c, "dim")!, descending: fx.bool(c, "descending")!)
                outs = [r.values, r.indices]
            } else if c.hasPrefix("topk") {
                let r = try topk(x, fx.int(c, "k")!, dim: fx.int(c, "dim")!, largest: fx.bool(c, "largest")!)
                outs = [r.values, r.indices]
            } else if let f = unary[name] {
                outs = [try f(x)]
            } else {
                XCTFail("unhandled fixture case \(c)")
                continue
            }
            // Values bitwise where torch's result is exact (rounding, sort); 1e-6 for the transcendental ones.
            let exact = ["floor", "ceil", "round", "trunc", "sign", "sort", "topk"].contains { c.hasPrefix($0) }
            try fx.checkTyped(c, outs, inputs: ["x": x], rtol: exact ? 0 : 1e-6, atol: exact ? 0 : 1e-6)
            checked += 1
        }
        XCTAssertEqual(checked, 39)
    }

    func testNLLLossGatherAndCumsum() throws {
        let fx = try Fixture("extra_ops")
        var checked = 0
        for c in fx.cases where c.hasPrefix("nll") || c.hasPrefix("gather") || c.hasPrefix("cumsum") {
            let x = try fx.leaves(c, ["x"])[0]
            let y: Tensor
            if c.hasPrefix("nll") {
                let w = fx.tensors["\(c)/extra/w"]
                y = try nllLoss(
                    x, fx.input(c, "t"), weight: w, ignoreIndex: fx.int(c, "ignore_index") ?? -100,
                    reduction: try Reduction(fx.string(c, "reduction")!))
            } else if c.hasPrefix("cumsum") {
                y = try cumsum(x, dim: fx.int(c, "dim")!)
            } else {
                y = try gather(x, dim: fx.int(c, "dim")!, index: fx.input(c, "i"))
            }
            XCTAssertEqual(y.dtype, fx.output(c).dtype, c)
            if y.dtype == .int64 { XCTAssertEqual(y.toInt64Array(), fx.output(c).toInt64Array(), c) }
            try fx.check(c, outputs: [y], inputs: ["x": x], rtol: 1e-6, atol: 1e-6)
            checked += 1
        }
        XCTAssertEqual(checked, 14)
        let x = try Tensor([1, 2, 3, 4], shape: [2, 2])
        XCTAssertThrowsError(try gather(x, dim: 1, index: try Tensor(int64: [2], shape: [1, 1]))) {
            XCTAssertTrue("\($0)".contains("out of bounds"), "\($0)")
        }
        XCTAssertThrowsError(try gather(x, dim: 1, index: try Tensor(int64: [0, 0, 0], shape: [3, 1]))) {
            XCTAssertTrue("\($0)".contains("no larger"), "\($0)")
        }
        XCTAssertThrowsError(try gather(x, dim: 1, index: try Tensor(int64: [0], shape: [1])))
        XCTAssertThrowsError(try nllLoss(x, try Tensor(int64: [0, 2], shape: [2]))) {
            XCTAssertTrue("\($0)".contains("out of bounds"), "\($0)")
        }
    }

    func testConvTranspose2d() throws {
        let fx = try Fixture("extra_ops")
        var checked = 0
        for c in fx.cases where c.hasPrefix("convT") {
            let hasBias = fx.bool(c, "bias")!
            let t = try fx.leaves(c, hasBias ? ["x", "w", "b"] : ["x", "w"])
            let pair = { (k: String, def: Int) in fx.ints(c, k) ?? [def] }
            let y = try convTranspose2d(
                t[0], t[1], hasBias ? t[2] : nil, stride: pair("stride", 1), padding: pair("padding", 0),
                outputPadding: pair("output_padding", 0), dilation: pair("dilation", 1),
                groups: fx.int(c, "groups") ?? 1)
            var inputs = ["x": t[0], "w": t[1]]
            if hasBias { inputs["b"] = t[2] }
            try fx.check(c, outputs: [y], inputs: inputs, rtol: 1e-5, atol: 1e-5)
            checked += 1
        }
        XCTAssertEqual(checked, 5)
        let x = try Tensor.zeros([1, 2, 3, 3])
        let w = try Tensor.zeros([2, 1, 3, 3])
        XCTAssertThrowsError(try convTranspose2d(x, w, stride: [2], outputPadding: [2])) {
            XCTAssertTrue("\($0)".contains("output padding"), "\($0)")
        }
        XCTAssertThrowsError(try convTranspose2d(x, try Tensor.zeros([3, 1, 3, 3])))
        XCTAssertThrowsError(try convTranspose2d(x, w, padding: [3])) {
            XCTAssertTrue("\($0)".contains("too small"), "\($0)")
        }
    }

    func testScatterAndScatterAdd() throws {
        let fx = try Fixture("extra_ops")
        var checked = 0
        for c in fx.cases where c.hasPrefix("scatter") {
            let t = try fx.leaves(c, ["x", "s"])
            let rows = fx.params(c)["index"] as! [[NSNumber]]
            let index = try Tensor(int64: rows.flatMap { $0.map(\.int64Value) }, shape: [rows.count, rows[0].count])
            let f = c.hasPrefix("scatter_add") ? scatterAdd : scatter
            let y = try f(t[0], fx.int(c, "dim")!, index, t[1])
            if y.dtype == .int64 {
                XCTAssertEqual(y.toInt64Array(), fx.output(c).toInt64Array(), c)
            } else {
                try fx.check(c, outputs: [y], inputs: ["x": t[0], "s": t[1]], rtol: 1e-6, atol: 1e-6)
            }
            checked += 1
        }
        XCTAssertEqual(checked, 5)
        let x = try Tensor.zeros([2, 2])
        let idx = try Tensor(int64: [0, 1], shape: [1, 2])
        XCTAssertThrowsError(try scatter(x, dim: 0, index: idx, src: try Tensor.zeros([1, 1]))) {
            XCTAssertTrue("\($0)".contains("no larger than src"), "\($0)")
        }
        XCTAssertThrowsError(try scatter(x, dim: 0, index: idx, src: try Tensor(int64: [1, 2], shape: [1, 2])))
        XCTAssertThrowsError(try scatterAdd(x, dim: 1, index: try Tensor(int64: [0, 2], shape: [1, 2]), src: x))
    }

    func testSortAndTopkRefuseBadArguments() throws {
        let x = try Tensor([3, 1, 2], shape: [3])
        XCTAssertThrowsError(try topk(x, 4)) { XCTAssertTrue("\($0)".contains("out of range"), "\($0)") }
        XCTAssertThrowsError(try topk(x, -1))
        XCTAssertThrowsError(try sort(x, dim: 1))
        let s = try sort(Tensor.scalar(2))  // 0-dim: itself, index 0
        XCTAssertEqual(s.values.toArray(), [2])
        XCTAssertEqual(s.indices.toInt64Array(), [0])
    }

    func testGradientsByFiniteDifferences() throws {
        var r = SplitMix(seed: 11)
        try gradCheck([r.tensor([3, 4])]) { try sin($0[0]) }
        try gradCheck([r.tensor([3, 4])]) { try cos($0[0]) }
        try gradCheck([r.tensor([3, 4], 0, 2)]) { try log1p($0[0]) }
        try gradCheck([r.tensor([3, 4])]) { try expm1($0[0]) }
        try gradCheck([r.tensor([3, 4])]) { try leakyRelu($0[0], negativeSlope: 0.1) }
        try gradCheck([try spread([3, 5], seed: 3)]) { try sort($0[0], dim: 1, descending: true).values }
        try gradCheck([try spread([4, 5], seed: 4)]) { try topk($0[0], 2, dim: 0).values }
    }

    /// Learning rates as torch computes them (torch 2.x, chainable form), epochs 0 through 7.
    func testMultiStepAndExponentialLR() throws {
        let p = try Tensor.zeros([1]).requiresGrad()
        let sgd = try SGD([p], lr: 0.1)
        let ms = try MultiStepLR(sgd, milestones: [5, 2, 5], gamma: 0.5)
        var lrs: [Double] = []
        for _ in 0..<8 {
            lrs.append(ms.lastLrValue)
            ms.step()
        }
        let want = [0.1, 0.1, 0.05, 0.05, 0.05, 0.0125, 0.0125, 0.0125]
        for (a, b) in zip(lrs, want) { XCTAssertEqual(a, b, accuracy: 1e-15) }
        let sgd2 = try SGD([p], lr: 0.2)
        let ex = try ExponentialLR(sgd2, gamma: 0.9)
        for e in 0..<5 {
            XCTAssertEqual(ex.lastLrValue, 0.2 * Foundation.pow(0.9, Double(e)), accuracy: 1e-15)
            ex.step()
        }
        let restored = try ExponentialLR(try SGD([p], lr: 0.2), gamma: 0.5)
        try restored.loadStateDict(ex.stateDict())
        XCTAssertEqual(restored.gamma, 0.9)
        XCTAssertEqual(restored.lastEpoch, ex.lastEpoch)
        XCTAssertThrowsError(try MultiStepLR(sgd, milestones: [-1]))
    }
}
