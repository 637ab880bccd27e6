import XCTest

@testable import DFM

/// The transformer pieces against PyTorch (tools/fixtures/ops_attention.py): gelu tanh,
/// scaled_dot_product_attention, nn.MultiheadAttention, nn.TransformerEncoderLayer and
/// nn.TransformerEncoder (outputs and every input and parameter gradient), plus the
/// derivative rules by finite differences in float64, masks, errors and determinism.
final class AttentionTests: XCTestCase {
    func testGeluTanhParity() throws {
        let f = try Fixture("attention")
        let x = try f.leaves("gelu_tanh", ["x"])[0]
        try f.check("gelu_tanh", outputs: [try geluTanh(x)], inputs: ["x": x])
        let m = try GELU(approximate: "tanh")
        let x2 = try f.leaves("gelu_tanh", ["x"])[0]
        try f.check("gelu_tanh", outputs: [try m(x2)], inputs: ["x": x2])
        XCTAssertThrowsError(try gelu(x, approximate: "fast"))
    }

    func testSDPAParity() throws {
        let f = try Fixture("attention")
        for c in ["sdpa_plain", "sdpa_float_mask", "sdpa_bool_mask", "sdpa_causal", "sdpa_scale_3d"] {
            let ins = try f.leaves(c, ["q", "k", "v"])
            var mask: Tensor? = nil
            var named = ["q": ins[0], "k": ins[1], "v": ins[2]]
            if f.tensors["\(c)/in/m"] != nil {
                let m = try f.leaves(c, ["m"])[0]
                mask = m
                named["m"] = m
            }
            let out = try scaledDotProductAttention(
                ins[0], ins[1], ins[2], attnMask: mask, isCausal: f.bool(c, "causal") ?? false,
                scale: f.float(c, "scale"))
            try f.check(c, outputs: [out], inputs: named, rtol: 1e-5, atol: 1e-5)
        }
    }

    /// Loads a module case's parameters (the fixture's inputs named as the state_dict) into `m`.
    func load(_ f: Fixture, _ c: String, _ m: Module) throws -> [String: Tensor] {
        var named: [String: Tensor] = [:]
        for (name, p) in m.namedParameters() {
            try p.copy_(f.input(c, name))
            named[name] = p
        }
        return named
    }

    func testMultiheadAttentionParity() throws {
        let f = try Fixture("attention")
        for c in [
            "mha_self", "mha_self_batch_first_masks", "mha_cross_bool3d", "mha_unbatched_nobias", "mha_no_weights",
        ] {
            let m = try MultiheadAttention(
                embedDim: f.int(c, "embed_dim")!, numHeads: f.int(c, "num_heads")!,
                bias: f.bool(c, "bias")!, batchFirst: f.bool(c, "batch_first")!)
            var named = try load(f, c, m)
            let cross = f.bool(c, "cross")!
            let args = try f.leaves(c, cross ? ["arg0", "arg1", "arg2"] : ["arg0"])
            for (k, a) in args.enumerated() { named["arg\(k)"] = a }
            let q = args[0]
            let k = cross ? args[1] : q
            let v = cross ? args[2] : q
            let needWeights = f.bool(c, "need_weights")!
            let (out, w) = try m.forward(
                query: q, key: k, value: v, keyPaddingMask: f.tensors["\(c)/in/kpm"], needWeights: needWeights,
                attnMask: f.tensors["\(c)/in/am"], averageAttnWeights: f.bool(c, "average")!)
            XCTAssertEqual(w == nil, !needWeights, c)
            try f.check(
                c, outputs: w.map { [out, $0] } ?? [out], inputs: named, rtol: 1e-5, atol: 1e-5, gradRtol: 3e-5)
        }
    }

    func testTransformerEncoderLayerParity() throws {
        let f = try Fixture("attention")
        for c in ["encoder_layer_post_relu", "encoder_layer_pre_gelu_kpm", "encoder_2_norm"] {
            let layer = try TransformerEncoderLayer(
                dModel: f.int(c, "d_model")!, nhead: f.int(c, "nhead")!,
                dimFeedforward: f.int(c, "dim_feedforward")!, dropout: 0,
                activation: f.string(c, "activation")!, batchFirst: f.bool(c, "batch_first")!,
                normFirst: f.bool(c, "norm_first")!)
            let x = try f.leaves(c, ["arg0"])[0]
            let out: Tensor
            let named: [String: Tensor]
            if let n = f.int(c, "num_layers") {
                let enc = try TransformerEncoder(layer, numLayers: n, norm: try LayerNorm(f.int(c, "d_model")!))
                XCTAssertEqual(
                    Set(enc.namedParameters().map { $0.0 }),
                    Set(
                        f.tensors.keys.filter { $0.hasPrefix("\(c)/in/") && !$0.hasSuffix("/arg0") }.map {
                            String($0.dropFirst("\(c)/in/".count))
                        }))
                named = try load(f, c, enc)
                out = try enc.forward(x, mask: nil, srcKeyPaddingMask: f.tensors["\(c)/in/kpm"])
            } else {
                named = try load(f, c, layer)
                out = try layer.forward(x, srcMask: nil, srcKeyPaddingMask: f.tensors["\(c)/in/kpm"])
            }
            try f.check(
                c, outputs: [out], inputs: named.merging(["arg0": x]) { a, _ in a }, rtol: 1e-5, atol: 2e-5,
                gradRtol: 5e-5)
        }
    }

    /// Every derivative rule (q, k, v, a float mask; dropout; causal) by central differences in float64.
    func testAttentionGradCheck() throws {
        manualSeed(3)
        let q = try randn([2, 3, 4])
        let k = try randn([2, 5, 4])
        let v = try randn([2, 5, 3])
        let m = try randn([3, 5])
        try gradCheck64([q, k, v, m].map { try toDType($0, .float64) }) { xs in
            try scaledDotProductAttention(xs[0], xs[1], xs[2], attnMask: xs[3], scale: 0.7)
        }
        let k3 = try randn([2, 3, 4])
        let v3 = try randn([2, 3, 3])
        try gradCheck64([q, k3, v3].map { try toDType($0, .float64) }) { xs in
            try scaledDotProductAttention(xs[0], xs[1], xs[2], isCausal: true)
        }
        // Dropout: the same generator state each evaluation, so the mask is fixed.
        let gen = Generator(seed: 9)
        let state = gen.getState()
        try gradCheck64([q, k, v].map { try toDType($0, .float64) }) { xs in
            try gen.setState(state)
            return try scaledDotProductAttention(xs[0], xs[1], xs[2], dropoutP: 0.3, generator: gen)
        }
        try gradCheck64([try toDType(try mul(try randn([30]), 3), .float64)]) { xs in try geluTanh(xs[0]) }
        // Self-attention read in place from a packed projection (N, L, 3·E), 2 heads of 2, with a
        // float mask over (N, H, L, L) and dropout.
        let qkv = try randn([2, 3, 12])
        let pm = try randn([2, 2, 3, 3])
        try gradCheck64([qkv, pm].map { try toDType($0, .float64) }) { xs in
            try gen.setState(state)
            return try packedSelfAttention(
                xs[0], heads: 2, attnMask: xs[1], dropoutP: 0.2, generator: gen, op: "attention")
        }
        // The weights output (its own node on the saved P), with a float mask and dropout.
        let v64 = try toDType(v, .float64)  // the weights do not depend on v
        try gradCheck64([q, k, m].map { try toDType($0, .float64) }) { xs in
            try gen.setState(state)
            return try attention(
                xs[0], xs[1], v64, attnMask: xs[2], dropoutP: 0.2, isCausal: false, scale: nil,
                generator: gen, needWeights: true, op: "attention"
            ).weights!
        }
    }

    func testMasksDropoutAndErrors() throws {
        manualSeed(4)
        let q = try randn([1, 3, 4])
        let k = try randn([1, 3, 4])
        let v = try randn([1, 3, 2])
        // A fully masked query row gives zeros (torch's safe softmax), not NaN.
        let mask = try Tensor(bool: [false, false, false, true, true, true, true, false, true], shape: [3, 3])
        let out = try scaledDotProductAttention(q, k, v, attnMask: mask)
        XCTAssertEqual(Array(out.toArray()[0..<2]), [0, 0])
        XCTAssertTrue(out.toArray().allSatisfy { $0.isFinite })
        // Dropout 1 drops every weight.
        XCTAssertTrue(try scaledDotProductAttention(q, k, v, dropoutP: 1).toArray().allSatisfy { $0 == 0 })
        // Same seed, same dropout mask, same output.
        manualSeed(7)
        let a = try scaledDotProductAttention(q, k, v, dropoutP: 0.5).toArray()
        manualSeed(7)
        let b = try scaledDotProductAttention(q, k, v, dropoutP: 0.5).toArray()
        XCTAssertEqual(a, b)
        XCTAssertThrowsError(try scaledDotProductAttention(q, k, try randn([1, 4, 2])))
        XCTAssertThrowsError(try scaledDotProductAttention(q, try randn([2, 3, 4]), v))
        XCTAssertThrowsError(try scaledDotProductAttention(q, k, v, attnMask: try randn([4, 3])))
        XCTAssertThrowsError(try scaledDotProductAttention(q, k, v, attnMask: mask, isCausal: true))
        XCTAssertThrowsError(try scaledDotProductAttention(q, k, v, dropoutP: 1.5))
        XCTAssertThrowsError(
            try scaledDotProductAttention(q, k, v, attnMask: try Tensor(int64: [0, 1, 0], shape: [3])))
        XCTAssertThrowsError(try MultiheadAttention(embedDim: 6, numHeads: 4))
        XCTAssertThrowsError(try TransformerEncoderLayer(dModel: 8, nhead: 2, activation: "swish"))
        let mha = try MultiheadAttention(embedDim: 4, numHeads: 2)
        XCTAssertThrowsError(
            try mha.forward(query: try randn([3, 2, 4]), key: try randn([3, 2, 5]), value: try randn([3, 2, 5])))
        XCTAssertThrowsError(
            try mha.forward(
                query: try randn([3, 2, 4]), key: try randn([3, 2, 4]), value: try randn([3, 2, 4]),
                attnMask: try randn([3, 4])))
        XCTAssertEqual(
            mha.namedParameters().map { $0.0 }, ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"])
        XCTAssertTrue(mha.inProjBias!.toArray().allSatisfy { $0 == 0 })
    }

    /// Heads large enough to run one at a time (threaded gemm) give the same values as the small-head path computes.
    func testLargeHeadsAndThreadIndependence() throws {
        manualSeed(5)
        let q = try randn([2, 80, 48])
        let k = try randn([2, 80, 48])
        let v = try randn([2, 80, 48])  // 80·80·48 > 262144
        let big = try scaledDotProductAttention(q, k, v)
        let perHead = try cat(
            [
                try scaledDotProductAttention(
                    try narrow(q, dim: 0, start: 0, length: 1), try narrow(k, dim: 0, start: 0, length: 1),
                    try narrow(v, dim: 0, start: 0, length: 1)),
                try scaledDotProductAttention(
                    try narrow(q, dim: 0, start: 1, length: 1), try narrow(k, dim: 0, start: 1, length: 1),
                    try narrow(v, dim: 0, start: 1, length: 1)),
            ], dim: 0)
        XCTAssertEqual(big.toArray(), perHead.toArray())
        let small = (try randn([16, 7, 8]), try randn([16, 7, 8]), try randn([16, 7, 8]))
        let before = Parallel.threads
        defer { try? Parallel.setThreads(before) }
        try Parallel.setThreads(1)
        let one = try scaledDotProductAttention(small.0, small.1, small.2).toArray()
        try Parallel.setThreads(2)
        XCTAssertEqual(try scaledDotProductAttention(small.0, small.1, small.2).toArray(), one)
    }

    func testTruncNormal() throws {
        manualSeed(6)
        let t = try Tensor.zeros([20000])
        try Init.truncNormal_(t, std: 0.02)
        let v = t.toArray()
        let mean = v.reduce(0, +) / Float(v.count)
        let sd = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(v.count)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 1e-3)
        XCTAssertEqual(sd, 0.02, accuracy: 1e-3)
        let c = try Tensor.zeros([20000], dtype: .float64)
        try Init.truncNormal_(c, mean: 0, std: 1, a: -0.5, b: 1)
        let cv = c.toDoubleArray()
        XCTAssertTrue(cv.allSatisfy { $0 >= -0.5 && $0 <= 1 })
        XCTAssertLessThan(cv.filter { $0 < 0 }.count, cv.filter { $0 > 0 }.count)  // more mass on [0, 1] than [-0.5, 0]
        XCTAssertThrowsError(try Init.truncNormal_(t, a: 1, b: 0))
        XCTAssertEqual(Init.erfinv(0.5), 0.4769362762044699, accuracy: 1e-12)
    }
}
