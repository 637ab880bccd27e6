import Foundation
import XCTest

@testable import DFM

/// The losses of LossExtra.swift / LossMargin.swift against torch.nn.functional, float32 and
/// float64 (fixtures: tools/fixtures/loss_extra.py), plus finite-difference checks.
final class LossExtraTests: XCTestCase {
    private func run(_ fn: String, _ kw: [String: Any], _ x: [String: Tensor]) throws -> Tensor {
        func d(_ k: String, _ def: Double) -> Double { (kw[k] as? NSNumber)?.doubleValue ?? def }
        func b(_ k: String, _ def: Bool = false) -> Bool { (kw[k] as? NSNumber)?.boolValue ?? def }
        let red = kw["reduction"] as? String ?? "mean"
        let r = red == "batchmean" ? Reduction.mean : try Reduction(red)
        let input = x["input"]
        let target = x["target"]
        let weight = x["weight"]
        switch fn {
        case "l1_loss": return try l1Loss(input!, target!, reduction: r)
        case "smooth_l1_loss": return try smoothL1Loss(input!, target!, reduction: r, beta: d("beta", 1))
        case "huber_loss": return try huberLoss(input!, target!, reduction: r, delta: d("delta", 1))
        case "soft_margin_loss": return try softMarginLoss(input!, target!, reduction: r)
        case "binary_cross_entropy": return try binaryCrossEntropy(input!, target!, weight: weight, reduction: r)
        case "kl_div": return try klDiv(input!, target!, reduction: red, logTarget: b("log_target"))
        case "poisson_nll_loss":
            return try poissonNLLLoss(
                input!, target!, logInput: b("log_input", true), full: b("full"), eps: d("eps", 1e-8), reduction: r)
        case "gaussian_nll_loss":
            return try gaussianNLLLoss(input!, target!, x["var"]!, full: b("full"), eps: d("eps", 1e-6), reduction: r)
        case "hinge_embedding_loss":
            return try hingeEmbeddingLoss(input!, target!, margin: d("margin", 1), reduction: r)
        case "multilabel_soft_margin_loss":
            return try multilabelSoftMarginLoss(input!, target!, weight: weight, reduction: r)
        case "multilabel_margin_loss": return try multilabelMarginLoss(input!, target!, reduction: r)
        case "multi_margin_loss":
            return try multiMarginLoss(
                input!, target!, p: (kw["p"] as? NSNumber)?.intValue ?? 1, margin: d("margin", 1), weight: weight,
                reduction: r)
        case "cosine_embedding_loss":
            return try cosineEmbeddingLoss(x["input1"]!, x["input2"]!, target!, margin: d("margin", 0), reduction: r)
        case "margin_ranking_loss":
            return try marginRankingLoss(x["input1"]!, x["input2"]!, target!, margin: d("margin", 0), reduction: r)
        case "triplet_margin_loss":
            return try tripletMarginLoss(
                x["anchor"]!, x["positive"]!, x["negative"]!, margin: d("margin", 1), p: d("p", 2),
                eps: d("eps", 1e-6), swap: b("swap"), reduction: r)
        case "ctc_loss":
            let ints = { (k: String) in (kw[k] as! [NSNumber]).map(\.intValue) }
            return try ctcLoss(
                x["log_probs"]!, target ?? x["targets"]!, inputLengths: ints("input_lengths"),
                targetLengths: ints("target_lengths"), blank: (kw["blank"] as? NSNumber)?.intValue ?? 0,
                reduction: r, zeroInfinity: b("zero_infinity"))
        case "cross_entropy":
            return try crossEntropy(
                input!, target!, weight: weight, reduction: r, labelSmoothing: d("label_smoothing", 0))
        default: throw DFMError.invalid("test", "unknown loss \(fn)")
        }
    }

    func testParityWithPyTorch() throws {
        let fx = try Fixture("loss_extra")
        var fns = Set<String>()
        var f64 = 0
        for c in fx.cases {
            let fn = fx.string(c, "fn")!
            let double = fx.string(c, "dtype") == "float64"
            let kw = fx.params(c)["kwargs"] as? [String: Any] ?? [:]
            var inputs: [String: Tensor] = [:]
            for key in fx.tensors.keys where key.hasPrefix("\(c)/in/") {
                let name = String(key.dropFirst("\(c)/in/".count))
                let t = try fx.tensors[key]!.clone()
                if t.dtype.isFloat && name != "weight" { try t.requiresGrad() }
                inputs[name] = t
            }
            let out = try run(fn, kw, inputs)
            // float64: the same formulas, to 1e-10. float32: within 4× PyTorch's own float32 error
            // on this case (its float32 result against float64, recorded by the fixture script)
            // plus 4 ulps, so dfm is as close to the exact value as PyTorch is.
            let spreadOut = fx.float(c, "spread_out") ?? 0
            let spreadGrad = fx.float(c, "spread_grad") ?? 0
            let rtol = double ? 1e-10 : 4.8e-7
            assertCloseD(out, fx.output(c), rtol: rtol, atol: double ? 1e-12 : 4 * spreadOut, "\(c) output")
            try sum(try mul(out, fx.gout(c)!)).backward()
            for (name, t) in inputs {
                guard let want = fx.grad(c, name) else { continue }
                guard let got = t.grad else {
                    XCTFail("\(c): no gradient for \(name)")
                    continue
                }
                assertCloseD(got, want, rtol: rtol, atol: double ? 1e-12 : 4 * spreadGrad, "\(c) grad \(name)")
            }
            fns.insert(fn)
            if double { f64 += 1 }
        }
        XCTAssertEqual(fns.count, 17)
        XCTAssertEqual(f64, 44)
    }

    /// Every derivative rule against central differences (float32, then float64), away from kinks.
    func testGradCheck() throws {
        var r = SplitMix(seed: 21)
        let x = r.tensor([3, 4], -2, 2)
        // |x - t| spread over (0.1, 2.6) in both signs: away from 0 and from beta = 1 ± eps.
        var off = r.tensor([3, 4], 0.1, 2.6)
        off = try Tensor(
            off.toArray().enumerated().map { $0.offset % 2 == 0 ? $0.element : -$0.element }
                .map { Swift.abs(Swift.abs($0) - 1) < 0.05 ? $0 * 1.2 : $0 }, shape: [3, 4])
        let t = try sub(x, off)
        let pm = try Tensor((0..<12).map { $0 % 3 == 0 ? -1 : 1 }, shape: [3, 4])
        try gradCheck([x, t], eps: 1e-3) { try l1Loss($0[0], $0[1]) }
        try gradCheck([x, t], eps: 1e-3) { try smoothL1Loss($0[0], $0[1], reduction: .sum) }
        try gradCheck([x, t], eps: 1e-3) { try huberLoss($0[0], $0[1], reduction: .none, delta: 1.0) }
        try gradCheck([x]) { try softMarginLoss($0[0], like(pm, $0[0])) }
        let prob = r.tensor([3, 4], 0.1, 0.9)
        let soft = r.tensor([3, 4], 0, 1)
        let w4 = r.tensor([4], 0.5, 1)
        let w5 = r.tensor([5], 0.5, 1)
        try gradCheck([prob, soft], eps: 1e-3) { try binaryCrossEntropy($0[0], $0[1], weight: like(w4, $0[0])) }
        try gradCheck([x, soft]) { try klDiv($0[0], try add($0[1], 0.1), reduction: "batchmean") }
        try gradCheck([x, soft]) { try klDiv($0[0], $0[1], reduction: "sum", logTarget: true) }
        try gradCheck([x, try mul(soft, 3)]) { try poissonNLLLoss(try mul($0[0], 0.5), $0[1]) }
        try gradCheck([prob, try mul(soft, 3)]) {
            try poissonNLLLoss($0[0], try add($0[1], 0.5), logInput: false, full: true, reduction: .sum)
        }
        try gradCheck([x, t, try add(soft, 0.2)], eps: 1e-3) { try gaussianNLLLoss($0[0], $0[1], $0[2], full: true) }
        try gradCheck([x, t, r.tensor([3], 0.2, 1)], eps: 1e-3) {
            try gaussianNLLLoss($0[0], $0[1], $0[2], reduction: .sum)
        }
        let hx = try Tensor(x.toArray().map { Swift.abs($0 - 1) < 0.05 ? $0 + 0.2 : $0 }, shape: [3, 4])
        try gradCheck([hx]) { try hingeEmbeddingLoss($0[0], like(pm, $0[0]), reduction: .sum) }
        try gradCheck([x, soft]) { try multilabelSoftMarginLoss($0[0], $0[1], weight: like(w4, $0[0])) }
        let spaced = try Tensor(
            [0.1, 1.58, 0.47, 1.21, 0.84, 0.84, 0.1, 1.58, 1.21, 0.47, 1.21, 0.47, 0.84, 0.1, 1.58], shape: [3, 5])
        let labels = try Tensor(int64: [3, 0, -1, 1, 2, 1, 2, 4, 0, -1, 4, -1, 0, 0, 0], shape: [3, 5])
        try gradCheck([spaced], eps: 1e-3) { try multilabelMarginLoss($0[0], labels) }
        let cls = try Tensor(int64: [1, 0, 4], shape: [3])
        try gradCheck([spaced], eps: 1e-3) {
            try multiMarginLoss($0[0], cls, p: 2, margin: 0.7, weight: like(w5, $0[0]))
        }
        try gradCheck([spaced], eps: 1e-3) { try multiMarginLoss($0[0], cls, reduction: .none) }
        let a = r.tensor([3, 4])
        let b = r.tensor([3, 4])
        let y = try Tensor([1, -1, -1], shape: [3])
        try gradCheck([a, b]) { try cosineEmbeddingLoss($0[0], $0[1], like(y, $0[0]), margin: -0.5) }
        try gradCheck([x, t, pm], eps: 1e-3) { try marginRankingLoss($0[0], $0[1], $0[2], margin: 0.05) }
        let n = r.tensor([3, 4], -3, 3)
        for (p, swap) in [(2.0, false), (1.0, true), (3.0, false)] {
            try gradCheck([a, b, n], eps: 1e-3) {
                try tripletMarginLoss($0[0], $0[1], $0[2], margin: 4, p: p, swap: swap, reduction: .sum)
            }
        }
        try gradCheck([x, try softmax(b, dim: 1)]) { try crossEntropy($0[0], $0[1], labelSmoothing: 0.2) }
        let logits = r.tensor([5, 2, 4], -2, 2)
        let labels2 = try Tensor(int64: [1, 3, 2, 2, 0, 0], shape: [2, 3])
        try gradCheck([logits]) {
            try ctcLoss(try logSoftmax($0[0], dim: 2), labels2, inputLengths: [5, 4], targetLengths: [3, 1], blank: 0)
        }
    }

    func testErrors() throws {
        let x = try Tensor.zeros([2, 3])
        let t = try Tensor.zeros([2, 3])
        assertThrowsDFM(try l1Loss(x, try Tensor.zeros([4])), kind: .shapeMismatch)
        assertThrowsDFM(try l1Loss(x, try Tensor.zeros([2, 3], dtype: .float64)), "same dtype")
        assertThrowsDFM(try huberLoss(x, t, delta: 0), "delta")
        assertThrowsDFM(try smoothL1Loss(x, t, beta: -1), "beta")
        assertThrowsDFM(try binaryCrossEntropy(try Tensor.full([2, 3], 1.5), t), "between 0 and 1")
        assertThrowsDFM(try binaryCrossEntropy(x, try Tensor.zeros([3])), "target size")
        assertThrowsDFM(try klDiv(x, t, reduction: "avg"), "not a valid value")
        assertThrowsDFM(try gaussianNLLLoss(x, t, try Tensor.full([2, 3], -1)), "negative")
        assertThrowsDFM(try gaussianNLLLoss(x, t, try Tensor.ones([3, 3])), "incorrect size")
        assertThrowsDFM(
            try multiMarginLoss(x, try Tensor(int64: [0, 3], shape: [2])), "out of bounds", kind: .indexError)
        assertThrowsDFM(try multiMarginLoss(x, try Tensor(int64: [0, 1], shape: [2]), p: 3), "p == 1")
        assertThrowsDFM(try multiMarginLoss(x, try Tensor(int64: [0], shape: [1])), "inconsistent target size")
        assertThrowsDFM(
            try multilabelMarginLoss(x, try Tensor(int64: [0, 1, 5, 0, 1, 2], shape: [2, 3])), "out of range")
        assertThrowsDFM(
            try multilabelMarginLoss(try Tensor.zeros([2, 3, 1]), try Tensor.zeros([2, 3, 1], dtype: .int64)),
            "1-D or 2-D")
        assertThrowsDFM(try cosineEmbeddingLoss(x, x, try Tensor.zeros([3])), "target must have shape")
        assertThrowsDFM(try marginRankingLoss(x, x, try Tensor.zeros([3])), "same dimension")
        assertThrowsDFM(try tripletMarginLoss(x, x, x, margin: 0), "margin must be greater than 0")
        assertThrowsDFM(try tripletMarginLoss(x, x, try Tensor.zeros([2, 4])), "same shape")
        assertThrowsDFM(try crossEntropy(x, t, ignoreIndex: 0), "ignore_index is not supported")
        let lp = try Tensor.zeros([4, 2, 3])
        let lab = try Tensor(int64: [1, 2, 1, 1], shape: [2, 2])
        assertThrowsDFM(try ctcLoss(lp, lab, inputLengths: [4, 5], targetLengths: [2, 2]), "input_lengths")
        assertThrowsDFM(try ctcLoss(lp, lab, inputLengths: [4], targetLengths: [2]), "one entry per batch element")
        assertThrowsDFM(try ctcLoss(lp, lab, inputLengths: [4, 4], targetLengths: [2, 3]), "size at least 3")
        assertThrowsDFM(
            try ctcLoss(lp, lab, inputLengths: [4, 4], targetLengths: [2, 2], blank: 1), "not the blank",
            kind: .indexError)
        assertThrowsDFM(
            try ctcLoss(lp, lab, inputLengths: [4, 4], targetLengths: [2, 2], blank: 3), "blank must be in label range")
        assertThrowsDFM(
            try ctcLoss(lp, try Tensor(int64: [1, 2], shape: [2]), inputLengths: [4, 4], targetLengths: [2, 1]),
            "sum to 3")
        assertThrowsDFM(try crossEntropy(x, try Tensor.zeros([2, 4])), "int64", kind: .typeError)
    }
}
