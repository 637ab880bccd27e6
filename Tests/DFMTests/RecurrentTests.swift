import Foundation
import XCTest

@testable import DFM

/// nn.RNN / LSTM / GRU and the cells against PyTorch (tools/fixtures/recurrent.py), finite
/// differences of the fused kernels, and bad input.
final class RecurrentTests: XCTestCase {
    private func module(_ cls: String, _ kw: [String: Any]) throws -> Module {
        let i = (kw["input_size"] as? NSNumber)!.intValue
        let h = (kw["hidden_size"] as? NSNumber)!.intValue
        let layers = (kw["num_layers"] as? NSNumber)?.intValue ?? 1
        let bias = (kw["bias"] as? NSNumber)?.boolValue ?? true
        let bf = (kw["batch_first"] as? NSNumber)?.boolValue ?? false
        let dropout = (kw["dropout"] as? NSNumber)?.doubleValue ?? 0
        let bi = (kw["bidirectional"] as? NSNumber)?.boolValue ?? false
        let nl = kw["nonlinearity"] as? String ?? "tanh"
        switch cls {
        case "LSTM":
            return try LSTM(i, h, numLayers: layers, bias: bias, batchFirst: bf, dropout: dropout, bidirectional: bi)
        case "GRU":
            return try GRU(i, h, numLayers: layers, bias: bias, batchFirst: bf, dropout: dropout, bidirectional: bi)
        case "RNN":
            return try RNN(
                i, h, numLayers: layers, nonlinearity: nl, bias: bias, batchFirst: bf, dropout: dropout,
                bidirectional: bi)
        case "RNNCell": return try RNNCell(i, h, bias: bias, nonlinearity: nl)
        case "LSTMCell": return try LSTMCell(i, h, bias: bias)
        case "GRUCell": return try GRUCell(i, h, bias: bias)
        default: throw DFMError.invalid("test", "unknown class \(cls)")
        }
    }

    /// max |a - e| <= tol elementwise (NaN fails), shapes equal.
    private func assertWithin(
        _ a: Tensor, _ e: Tensor, _ tol: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(a.shape, e.shape, "\(what): shape", file: file, line: line)
        XCTAssertEqual(a.dtype, e.dtype, "\(what): dtype", file: file, line: line)
        guard a.shape == e.shape else { return }
        let av = a.toDoubleArray()
        let ev = e.toDoubleArray()
        var worst = 0.0
        var at = 0
        for k in av.indices {
            let d = Swift.abs(av[k] - ev[k])
            if !(d <= worst) {
                worst = d.isNaN ? .infinity : d
                at = k
            }
        }
        XCTAssert(
            worst <= tol, "\(what): element \(at) is \(av[at]), expected \(ev[at]) (|diff| \(worst) > \(tol))",
            file: file, line: line)
    }

    func testParityWithPyTorch() throws {
        let fx = try Fixture("recurrent")
        XCTAssertEqual(fx.cases.count, 17)
        for c in fx.cases {
            let p = fx.params(c)
            let cls = p["class"] as! String
            let kw = p["kwargs"] as! [String: Any]
            let call = p["call"] as! [String: Any]
            let tol32 = p["tol32"] as! [String: NSNumber]
            let cell = (call["cell"] as! NSNumber).boolValue
            for prec in ["f32", "f64"] {
                let pre = "\(c)/\(prec)"
                let m = try module(cls, kw)
                m.eval()
                if prec == "f64" { try m.to(.float64) }
                var state: [(String, Tensor)] = []
                for (k, v) in fx.tensors where k.hasPrefix("\(pre)/param/") {
                    state.append((String(k.dropFirst("\(pre)/param/".count)), v))
                }
                try m.loadStateDict(state)
                XCTAssertEqual(
                    Set(m.namedParameters().map { $0.0 }), Set(state.map { $0.0 }), "\(pre): parameter names")
                m.zeroGrad()
                func leaf(_ n: String) throws -> Tensor? {
                    guard let t = fx.tensors["\(pre)/in/\(n)"] else { return nil }
                    return try t.clone().requiresGrad()
                }
                let x = try leaf("x")!
                let h0 = try leaf("h0")
                let c0 = try leaf("c0")
                var outs: [Tensor]
                if cell {
                    let r = try (m as! RNNCellBase).forward(x, hx: h0, cx: c0)
                    outs = [r.h] + (r.c.map { [$0] } ?? [])
                } else {
                    let r = try (m as! RNNBase).forward(x, hx: h0, cx: c0)
                    outs = [r.output, r.h] + (r.c.map { [$0] } ?? [])
                }
                var total: Tensor? = nil
                for (k, o) in outs.enumerated() {
                    let term = try sum(try mul(o, fx.tensors["\(pre)/gout/\(k)"]!))
                    total = try total.map { try add($0, term) } ?? term
                }
                try total!.backward()
                func tol(_ key: String, _ e: Tensor) -> Double {
                    if prec == "f32" { return tol32[key]!.doubleValue }
                    return 1e-10 * Swift.max(1, e.toDoubleArray().map { Swift.abs($0) }.max() ?? 0)
                }
                for (k, o) in outs.enumerated() {
                    let e = fx.tensors["\(pre)/out/\(k)"]!
                    assertWithin(o, e, tol("out/\(k)", e), "\(pre) out \(k)")
                }
                var got: [String: Tensor?] = ["x": x.grad, "h0": h0?.grad, "c0": c0?.grad]
                for (n, t) in m.namedParameters() { got[n] = t.grad }
                for (k, e) in fx.tensors where k.hasPrefix("\(pre)/grad/") {
                    let n = String(k.dropFirst("\(pre)/grad/".count))
                    guard let g = got[n] ?? nil else {
                        XCTFail("\(pre): no gradient for \(n)")
                        continue
                    }
                    assertWithin(g, e, tol("grad/\(n)", e), "\(pre) grad \(n)")
                }
            }
        }
    }

    /// Output, h and c of one layer flattened into one tensor, for finite differences.
    private func flatLayer(_ r: (output: Tensor, h: Tensor, c: Tensor?)) throws -> Tensor {
        try cat(
            [try reshape(r.output, [-1]), try reshape(r.h, [-1])] + (try r.c.map { [try reshape($0, [-1])] } ?? []))
    }

    func testLayerGradCheck() throws {
        var rng = SplitMix(seed: 3)
        let T = 4
        let B = 3
        let I = 5
        let H = 4
        for mode in [RecurrentMode.lstm, .gru, .rnnTanh] {
            for reverse in [false, true] {
                let G = mode.gates
                var ins = [
                    rng.tensor([T, B, I]), rng.tensor([B, H], -0.5, 0.5), rng.tensor([G * H, I], -0.5, 0.5),
                    rng.tensor([G * H, H], -0.5, 0.5), rng.tensor([G * H], -0.5, 0.5), rng.tensor([G * H], -0.5, 0.5),
                ]
                if mode == .lstm { ins.append(rng.tensor([B, H], -0.5, 0.5)) }
                try gradCheck(ins, eps: 1e-2, tol: 2e-2, samples: 10) { t in
                    try self.flatLayer(
                        try recurrentLayer(
                            t[0], h0: t[1], c0: mode == .lstm ? t[6] : nil, wIH: t[2], wHH: t[3],
                            bIH: t[4], bHH: t[5], mode: mode, reverse: reverse))
                }
            }
        }
    }

    func testReluLayerGradCheckFloat64() throws {
        // ReLU has kinks: only float64 differences (eps 1e-6) are clear of them.
        var rng = SplitMix(seed: 5)
        let ins = try [
            rng.tensor([5, 2, 3]), rng.tensor([2, 4]), rng.tensor([4, 3]), rng.tensor([4, 4], -0.5, 0.5),
            rng.tensor([4]),
        ]
        .map { try toDType($0, .float64) }
        for reverse in [false, true] {
            try gradCheck64(ins, samples: 12) { t in
                try self.flatLayer(
                    try recurrentLayer(
                        t[0], h0: t[1], c0: nil, wIH: t[2], wHH: t[3], bIH: nil, bHH: t[4],
                        mode: .rnnRelu, reverse: reverse))
            }
        }
    }

    func testMultiLayerBidirectionalGradCheck() throws {
        var rng = SplitMix(seed: 11)
        for mode in [RecurrentMode.lstm, .gru] {
            let m: RNNBase =
                mode == .lstm
                ? try LSTM(3, 2, numLayers: 2, batchFirst: true, bidirectional: true)
                : try GRU(3, 2, numLayers: 2, batchFirst: true, bidirectional: true)
            let x = rng.tensor([2, 4, 3])
            let h0 = rng.tensor([4, 2, 2], -0.5, 0.5)
            let c0 = rng.tensor([4, 2, 2], -0.5, 0.5)
            let lstm = mode == .lstm
            try gradCheck([x, h0] + (lstm ? [c0] : []) + m.flatWeights, samples: 6) { t in
                let r = try recurrent(
                    t[0], hx: t[1], cx: lstm ? t[2] : nil, params: Array(t[(lstm ? 3 : 2)...]), hasBiases: true,
                    mode: mode, numLayers: 2, bidirectional: true, batchFirst: true)
                return try self.flatLayer(r)
            }
        }
    }

    func testCellsMatchOneStepOfTheNetwork() throws {
        manualSeed(1)
        let cell = try GRUCell(3, 4)
        let net = try GRU(3, 4)
        for (a, b) in zip(net.flatWeights, cell.parameters()) { try a.copy_(b) }
        var rng = SplitMix(seed: 2)
        let x = rng.tensor([2, 3])
        let h = rng.tensor([2, 4])
        let c = try cell.forward(x, hx: h).h
        let n = try net.forward(try unsqueeze(x, 0), hx: try unsqueeze(h, 0))
        XCTAssertEqual(c.toArray(), n.h.toArray())
        XCTAssertEqual(c.toArray(), n.output.toArray())
        // Unbatched input is a batch of one without the batch dim.
        let u = try cell.forward(try select(x, dim: 0, index: 1), hx: try select(h, dim: 0, index: 1)).h
        XCTAssertEqual(u.shape, [4])
        XCTAssertEqual(u.toArray(), Array(c.toArray()[4...]))
    }

    func testParametersInitAndRepr() throws {
        manualSeed(0)
        let m = try LSTM(3, 5, numLayers: 2, bias: true, batchFirst: true, bidirectional: true)
        XCTAssertEqual(
            m.namedParameters().map { $0.0 },
            [
                "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
                "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
                "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse",
            ])
        XCTAssertEqual(
            m.namedParameters().map { $0.1.shape },
            [
                [20, 3], [20, 5], [20], [20], [20, 3], [20, 5], [20], [20],
                [20, 10], [20, 5], [20], [20], [20, 10], [20, 5], [20], [20],
            ])
        let bound = Float(1 / 5.0.squareRoot())
        for p in m.parameters() { XCTAssert(p.toArray().allSatisfy { Swift.abs($0) <= bound }) }
        XCTAssertGreaterThan(m.parameters()[0].toArray().map { Swift.abs($0) }.max()!, bound * 0.8)
        XCTAssertEqual(m.description, "LSTM(3, 5, num_layers=2, batch_first=True, bidirectional=True)")
        XCTAssertEqual(try GRU(2, 3, bias: false).namedParameters().map { $0.0 }, ["weight_ih_l0", "weight_hh_l0"])
        XCTAssertEqual(
            try RNNCell(2, 3, bias: false, nonlinearity: "relu").description,
            "RNNCell(2, 3, bias=False, nonlinearity=relu)")
        XCTAssertEqual(try LSTMCell(2, 3).namedParameters().map { $0.1.shape }, [[12, 2], [12, 3], [12], [12]])
    }

    func testDropoutBetweenLayersAndDeterminism() throws {
        manualSeed(4)
        let m = try LSTM(3, 8, numLayers: 2, dropout: 0.5)
        var rng = SplitMix(seed: 9)
        let x = rng.tensor([5, 2, 3])
        m.eval()
        let a = try m.forward(x, hx: nil).output
        let b = try m.forward(x, hx: nil).output
        XCTAssertEqual(a.toArray(), b.toArray(), "eval: no dropout, same result")
        m.train()
        manualSeed(10)
        let t1 = try m.forward(x, hx: nil).output
        manualSeed(10)
        let t2 = try m.forward(x, hx: nil).output
        XCTAssertEqual(t1.toArray(), t2.toArray(), "same seed: bitwise the same")
        XCTAssertNotEqual(t1.toArray(), a.toArray(), "training applies dropout between the layers")
    }

    func testBadInput() throws {
        let m = try LSTM(3, 4)
        assertThrowsDFM(
            try m.forward(try Tensor.zeros([2, 2, 5]), hx: nil),
            "input.size(-1) must be equal to input_size. Expected 3, got 5")
        assertThrowsDFM(try m.forward(try Tensor.zeros([0, 2, 3]), hx: nil), "sequence length")
        assertThrowsDFM(try m.forward(try Tensor.zeros([2, 2, 2, 3]), hx: nil), "Expected input to be 2D or 3D")
        assertThrowsDFM(
            try m.forward(try Tensor.zeros([2, 2, 3]), hx: try Tensor.zeros([1, 3, 4])), "Expected hx[0] size")
        assertThrowsDFM(
            try m.forward(try Tensor.zeros([2, 3]), hx: try Tensor.zeros([1, 1, 4])), "should also be 2-D")
        assertThrowsDFM(
            try m.forward(try Tensor.zeros([2, 2, 3], dtype: .float64), hx: nil), "same dtype", kind: .typeError)
        assertThrowsDFM(try m.forward(try Tensor.zeros([2, 2, 3], dtype: .int64), hx: nil), kind: .typeError)
        assertThrowsDFM(
            try GRU(3, 4).forward(try Tensor.zeros([2, 2, 3]), hx: nil, cx: try Tensor.zeros([1, 2, 4])), "cell state")
        assertThrowsDFM(try LSTM(3, 0), "hidden_size must be greater than zero")
        assertThrowsDFM(try LSTM(3, 4, numLayers: 0), "num_layers")
        assertThrowsDFM(try GRU(3, 4, dropout: 1.5), "dropout should be a number in range [0, 1]")
        assertThrowsDFM(try RNN(3, 4, nonlinearity: "sigmoid"), "Unknown nonlinearity")
        assertThrowsDFM(
            try LSTMCell(3, 4).forward(try Tensor.zeros([2, 2, 3]), hx: nil), "Expected input to be 1D or 2D")
        assertThrowsDFM(
            try RNNCell(3, 4).forward(try Tensor.zeros([2, 3]), hx: try Tensor.zeros([3, 4])), "Expected hidden size")
        let w = try Tensor.zeros([8, 3])
        let u = try Tensor.zeros([8, 2])
        assertThrowsDFM(
            try recurrentLayer(
                try Tensor.zeros([2, 1, 3]), h0: try Tensor.zeros([1, 2]), c0: nil, wIH: w, wHH: u,
                bIH: nil, bHH: nil, mode: .lstm), "needs an initial cell state")
        assertThrowsDFM(
            try recurrentLayer(
                try Tensor.zeros([2, 1, 3]), h0: try Tensor.zeros([1, 2]), c0: nil, wIH: w, wHH: u,
                bIH: try Tensor.zeros([5]), bHH: nil, mode: .gru), "weight_hh must have shape")
        assertThrowsDFM(
            try recurrent(
                try Tensor.zeros([2, 1, 3]), hx: nil, params: [w], hasBiases: false, mode: .gru, numLayers: 1),
            "expected 2 weight tensors")
        assertThrowsDFM(try RecurrentMode(name: "LSTMX"), "unknown mode")
    }
}
