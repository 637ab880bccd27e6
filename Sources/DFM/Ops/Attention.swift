import Foundation

// Transformer ops: GELU's tanh form, scaled dot-product attention as one fused op, and
// torch's multi-head attention forward built on it.

/// torch.nn.functional.gelu(x, approximate="tanh"): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
/// Its own derivative (torch's GeluBackward for "tanh"), not the chain through tanh and pow.
public func geluTanh(_ a: Tensor) throws -> Tensor {
    let beta = (2.0 / Double.pi).squareRoot()
    let kappa = 0.044715
    let out = try EW.map(a, op: "gelu_tanh") { x in 0.5 * x * (1 + Foundation.tanh(beta * (x + kappa * x * x * x))) }
    return record("gelu_tanh", out, [a]) { g in
        [
            try EW.zip(g, a, op: "gelu_tanh_backward") { g, x in
                let t = Foundation.tanh(beta * (x + kappa * x * x * x))
                return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * beta * (1 + 3 * kappa * x * x))
            }
        ]
    }
}

/// torch.nn.functional.gelu(x, approximate=...): "none" (exact erf form) or "tanh".
public func gelu(_ a: Tensor, approximate: String) throws -> Tensor {
    switch approximate {
    case "none": return try gelu(a)
    case "tanh": return try geluTanh(a)
    default: throw DFMError.invalid("gelu", "approximate argument must be either none or tanh, got '\(approximate)'")
    }
}

// MARK: scaled dot-product attention

/// torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale).
///
/// q (*, L, E), k (*, S, E), v (*, S, Ev) with the same leading (batch, head) dims; returns
/// (*, L, Ev) = dropout(softmax(q·kᵀ·scale + mask))·v, scale defaulting to 1/√E. `attnMask`
/// broadcasts to (*, L, S): bool means True = attend (False → -inf), a float mask is added
/// (and gets a gradient when it requires one). `isCausal` masks keys after the query's
/// position (top-left aligned, torch's tril). A query row with every key masked gives zeros
/// (torch's safe softmax in SDPA), not NaN. Dropout (p > 0) applies as in torch's SDPA,
/// whatever the module mode: callers pass 0 in eval.
public func scaledDotProductAttention(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, attnMask: Tensor? = nil, dropoutP: Float = 0,
    isCausal: Bool = false, scale: Double? = nil, generator: Generator? = nil
) throws -> Tensor {
    try attention(
        q, k, v, attnMask: attnMask, dropoutP: dropoutP, isCausal: isCausal, scale: scale,
        generator: generator, needWeights: false, op: "scaled_dot_product_attention"
    ).out
}

/// Validates q (*, L, E), k (*, S, E), v (*, S, Ev) and the mask, then runs the fused kernel
/// (`attentionKernel`) on the three tensors as contiguous (batch, head) matrices.
func attention(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, attnMask: Tensor?, dropoutP: Float, isCausal: Bool, scale: Double?,
    generator: Generator?, needWeights: Bool, op: String
) throws -> (out: Tensor, weights: Tensor?) {
    let dtype = try commonFloat([q, k, v], op)
    guard q.ndim >= 2, k.ndim == q.ndim, v.ndim == q.ndim else {
        throw DFMError.shape(
            op,
            "expected query (*, L, E), key (*, S, E) and value (*, S, Ev) of one rank >= 2, got shapes \(q.shape), \(k.shape) and \(v.shape)"
        )
    }
    let batch = Array(q.shape.dropLast(2))
    guard Array(k.shape.dropLast(2)) == batch, Array(v.shape.dropLast(2)) == batch else {
        throw DFMError.shape(
            op, "query, key and value must have the same batch dims, got shapes \(q.shape), \(k.shape) and \(v.shape)")
    }
    let L = q.shape[q.ndim - 2]
    let E = q.shape[q.ndim - 1]
    let S = k.shape[k.ndim - 2]
    let Ev = v.shape[v.ndim - 1]
    guard k.shape[k.ndim - 1] == E else {
        throw DFMError.shape(op, "query and key must have the same embedding size, got \(E) and \(k.shape[k.ndim - 1])")
    }
    guard v.shape[v.ndim - 2] == S else {
        throw DFMError.shape(
            op, "key and value must have the same sequence length, got \(S) and \(v.shape[v.ndim - 2])")
    }
    let dims = AttentionDims(nb: try Shape.count(batch, op: op), L: L, S: S, E: E, Ev: Ev)
    func contiguous(_ rows: Int, _ cols: Int) -> HeadLayout { HeadLayout(sampleStride: rows * cols, ld: cols) }
    return try attentionKernel(
        inputs: [q, k, v], q: (0, contiguous(L, E)), k: (1, contiguous(S, E)), v: (2, contiguous(S, Ev)),
        out: (batch + [L, Ev], contiguous(L, Ev)), dims: dims, full: batch + [L, S], dtype: dtype, attnMask: attnMask,
        dropoutP: dropoutP, isCausal: isCausal, scale: scale ?? 1 / Double(E).squareRoot(), generator: generator,
        needWeights: needWeights, op: op)
}

/// Self-attention straight on the packed in-projection qkv (N, L, 3·E), read in place (head h
/// of sample n: q at n·L·3E + h·hd, k E further, v 2E further, rows 3E apart); the output is
/// (N, L, E) with head h in columns h·hd..<(h+1)·hd, and the gradient is qkv's. Saves the
/// (N, H, L, hd) copies of q, k, v and of the output, and in backward the three qkv-sized
/// zero-filled gradients of select and their sum. `attnMask` broadcasts to (N, H, L, L).
func packedSelfAttention(
    _ qkv: Tensor, heads: Int, attnMask: Tensor?, dropoutP: Float, generator: Generator?, op: String
) throws -> Tensor {
    let dtype = try commonFloat([qkv], op)
    guard qkv.ndim == 3, heads > 0, qkv.shape[2] % (3 * heads) == 0 else {
        throw DFMError.shape(
            op, "expected a packed projection (N, L, 3·E) with E divisible by \(heads), got \(qkv.shape)")
    }
    let (n, L, E) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
    let hd = E / heads
    func part(_ i: Int) -> HeadLayout {
        HeadLayout(heads: heads, sampleStride: L * 3 * E, headStride: hd, offset: i * E, ld: 3 * E)
    }
    return try attentionKernel(
        inputs: [qkv], q: (0, part(0)), k: (0, part(1)), v: (0, part(2)),
        out: ([n, L, E], HeadLayout(heads: heads, sampleStride: L * E, headStride: hd, ld: E)),
        dims: AttentionDims(nb: n * heads, L: L, S: L, E: hd, Ev: hd), full: [n, heads, L, L], dtype: dtype,
        attnMask: attnMask, dropoutP: dropoutP, isCausal: false, scale: 1 / Double(hd).squareRoot(),
        generator: generator, needWeights: false, op: op
    ).out
}

/// The sizes of one attention: nb (batch, head) matrices, L queries, S keys, E = q's and k's
/// width, Ev = v's.
struct AttentionDims {
    let nb, L, S, E, Ev: Int
}

/// Where the (batch, head) matrices of an attention operand live: row i of matrix b starts at
/// base(b) + i·ld, with b = sample·heads + head.
struct HeadLayout {
    var heads = 1
    var sampleStride: Int
    var headStride = 0
    var offset = 0
    var ld: Int
    @inline(__always) func base(_ b: Int) -> Int { offset + (b / heads) * sampleStride + (b % heads) * headStride }
}

/// The fused attention kernel. Forward, per (batch, head) matrix: P = softmax(scale·q·kᵀ + mask)
/// is materialised once (gemm, then an in-place row softmax), W = P ⊙ dropout mask, out = W·v.
/// Backward reuses P (and the dropout mask): dW = g·vᵀ, dv = Wᵀ·g, dP = dW ⊙ mask,
/// dS = P ⊙ (dP - Σ_j dP·P), dq = scale·dS·k, dk = scale·dSᵀ·q, dmask = dS.
/// q, k and v are (input index, layout) in `inputs`; each input's gradient is written through the
/// same layouts (every element of it by exactly one head). Returns the output and, when
/// `needWeights`, W (the weights after dropout, as torch's MHA returns them), differentiable
/// through a second node that reuses the same saved P.
private func attentionKernel(
    inputs: [Tensor], q qo: (Int, HeadLayout), k ko: (Int, HeadLayout), v vo: (Int, HeadLayout),
    out oo: ([Int], HeadLayout), dims: AttentionDims, full: [Int], dtype: DType, attnMask: Tensor?,
    dropoutP: Float, isCausal: Bool, scale sc: Double, generator: Generator?, needWeights: Bool, op: String
) throws -> (out: Tensor, weights: Tensor?) {
    let (nb, L, S, E, Ev) = (dims.nb, dims.L, dims.S, dims.E, dims.Ev)
    let (qL, kL, vL, oL) = (qo.1, ko.1, vo.1, oo.1)
    guard dropoutP >= 0, dropoutP <= 1 else {
        throw DFMError.invalid(op, "dropout_p must be in [0, 1], got \(dropoutP)")
    }
    if isCausal && attnMask != nil {
        throw DFMError.invalid(op, "explicit attn_mask should not be set when is_causal=True")
    }
    guard sc.isFinite else { throw DFMError.invalid(op, "scale must be finite, got \(sc)") }
    _ = try Shape.count(full, op: op)

    // The mask as an additive float tensor of the full (*, L, S) shape (bool: True keeps).
    var additive: Tensor? = nil
    var maskForGrad: Tensor? = nil
    if let m = attnMask {
        let b = try Shape.broadcast(m.shape, full, op: op)
        guard b == full else {
            throw DFMError.shape(op, "attn_mask of shape \(m.shape) does not broadcast to the attention shape \(full)")
        }
        if m.dtype == .bool {
            additive = try GradMode.noGrad {
                let f = try whereMask(m, Tensor.scalar(0, dtype: dtype), Tensor.scalar(-.infinity, dtype: dtype))
                return f.shape == full ? f : try EW.expand(f, to: full)
            }
        } else if m.dtype.isFloat {
            guard m.dtype == dtype else {
                throw DFMError.type(op, "a float attn_mask must be \(dtype) like the query, got \(m.dtype)")
            }
            additive = m.shape == full ? m : try EW.expand(m, to: full)
            if m.requiresGrad { maskForGrad = m }
        } else {
            throw DFMError.type(op, "attn_mask must be bool or a float tensor, got \(m.dtype)")
        }
    }

    // Heads run in parallel when each gemm is small enough that OpenBLAS runs it single-threaded
    // in the calling thread (m·n·k <= 4·65536); larger heads go one at a time, each gemm threaded.
    let headCost = L * S * Swift.max(E, Ev)
    let parallelHeads = headCost <= 262_144
    func overHeads(_ body: (Range<Int>) -> Void) {
        if parallelHeads { Parallel.chunks(nb, costPerItem: 4 * headCost, body) } else if nb > 0 { body(0..<nb) }
    }

    func run<R: Real>(_: R.Type) throws -> (Tensor, Tensor?) {
        let out = try Tensor.uninitialized(oo.0, dtype: R.dtype, op: op)
        let probs = try Tensor.uninitialized(full, dtype: R.dtype, op: op)
        // Dropout: each weight kept with probability 1 - p and scaled by 1/(1 - p) (as Ops/Dropout).
        let drop: Tensor? = dropoutP > 0 ? try Tensor.uninitialized(full, dtype: R.dtype, op: op) : nil
        let weights: Tensor = drop == nil ? probs : try Tensor.uninitialized(full, dtype: R.dtype, op: op)
        if let drop {
            let dp = drop.p(R.self)
            if dropoutP == 1 {
                dp.update(repeating: 0, count: drop.count)
            } else {
                let keep = 1 - dropoutP
                let inv = 1 / (1 - R(dropoutP))
                (generator ?? .default).fillBlocks(drop.count, costPerItem: 2) { s, r in
                    for i in r { dp[i] = s.uniformFloat() < keep ? inv : 0 }
                }
            }
        }
        let qp = inputs[qo.0].p(R.self)
        let kp = inputs[ko.0].p(R.self)
        let vp = inputs[vo.0].p(R.self)
        let op_ = out.p(R.self)
        let pp = probs.p(R.self)
        let wp = weights.p(R.self)
        let dp = drop?.p(R.self)
        let mp = additive?.p(R.self)
        let s = R(sc)
        overHeads { heads in
            for b in heads {
                let pb = pp + b * L * S
                gemm(
                    transA: false, transB: true, m: L, n: S, k: E, alpha: s, a: qp + qL.base(b), lda: qL.ld,
                    b: kp + kL.base(b), ldb: kL.ld, c: pb, ldc: S)
                if let mp {
                    let mb = mp + b * L * S
                    for j in 0..<(L * S) { pb[j] += mb[j] }
                }
                if isCausal {
                    for i in 0..<L where i + 1 < S {
                        (pb + i * S + i + 1).update(repeating: -.infinity, count: S - i - 1)
                    }
                }
                // Rows of all -inf (every key masked) give zeros, torch's safe softmax in SDPA.
                R.softmaxRows(pb, rows: L, n: S)
                if let dp {
                    let wb = wp + b * L * S
                    let db = dp + b * L * S
                    for j in 0..<(L * S) { wb[j] = pb[j] * db[j] }
                }
                gemm(
                    transA: false, transB: false, m: L, n: Ev, k: S, a: wp + b * L * S, lda: S,
                    b: vp + vL.base(b), ldb: vL.ld, c: op_ + oL.base(b), ldc: oL.ld)
            }
        }
        /// The gradient buffers of the inputs that need one (written in full by the heads).
        func gradBuffers(_ which: [Int]) throws -> [Tensor?] {
            try inputs.indices.map { i in
                which.contains(i) && inputs[i].requiresGrad
                    ? try Tensor.uninitialized(inputs[i].shape, dtype: R.dtype, op: op + "_backward") : nil
            }
        }
        /// dq, dk and the float mask's gradient from the gradient of the weights W, which
        /// `fill(b, buffer)` writes for head b (then ⊙ dropout mask gives dP); `perHead(b)` runs first.
        func scoreGrads(
            _ grads: [Tensor?], _ fill: (Int, UnsafeMutablePointer<R>) -> Void, perHead: (Int) -> Void
        ) throws -> Tensor? {
            // Pointers from the captured tensors, which the closures keep alive.
            let qp = inputs[qo.0].p(R.self)
            let kp = inputs[ko.0].p(R.self)
            let pp = probs.p(R.self)
            let dp = drop?.p(R.self)
            let gm = maskForGrad != nil ? try Tensor.uninitialized(full, dtype: R.dtype, op: op + "_backward") : nil
            let gqp = grads[qo.0]?.p(R.self)
            let gkp = grads[ko.0]?.p(R.self)
            let gmp = gm?.p(R.self)
            overHeads { heads in
                let ds = UnsafeMutablePointer<R>.allocate(capacity: Swift.max(L * S, 1))
                defer { ds.deallocate() }
                for b in heads {
                    perHead(b)
                    guard gqp != nil || gkp != nil || gmp != nil else { continue }
                    fill(b, ds)
                    if let dp {
                        let db = dp + b * L * S
                        for j in 0..<(L * S) { ds[j] *= db[j] }
                    }
                    R.softmaxGradRows(ds, pp + b * L * S, rows: L, n: S)
                    if let gmp { (gmp + b * L * S).update(from: ds, count: L * S) }
                    if let gqp {
                        gemm(
                            transA: false, transB: false, m: L, n: E, k: S, alpha: s, a: ds, lda: S,
                            b: kp + kL.base(b), ldb: kL.ld, c: gqp + qL.base(b), ldc: qL.ld)
                    }
                    if let gkp {
                        gemm(
                            transA: true, transB: false, m: S, n: E, k: L, alpha: s, a: ds, lda: S,
                            b: qp + qL.base(b), ldb: qL.ld, c: gkp + kL.base(b), ldc: kL.ld)
                    }
                }
            }
            return try maskForGrad.map { m in try gm.map { try sumTo($0, m.shape) } } ?? nil
        }
        let maskInput = maskForGrad.map { [$0] } ?? []
        let result = record(op, out, inputs + maskInput) { g in
            let gp = g.p(R.self)
            let vp = inputs[vo.0].p(R.self)
            let wp = weights.p(R.self)
            let grads = try gradBuffers([qo.0, ko.0, vo.0])
            let gvp = grads[vo.0]?.p(R.self)
            let gm = try scoreGrads(
                grads,
                { b, ds in
                    // dW = g·vᵀ
                    gemm(
                        transA: false, transB: true, m: L, n: S, k: Ev, a: gp + oL.base(b), lda: oL.ld,
                        b: vp + vL.base(b), ldb: vL.ld, c: ds, ldc: S)
                },
                perHead: { b in
                    // dv = Wᵀ·g
                    if let gvp {
                        gemm(
                            transA: true, transB: false, m: S, n: Ev, k: L, a: wp + b * L * S, lda: S,
                            b: gp + oL.base(b), ldb: oL.ld, c: gvp + vL.base(b), ldc: vL.ld)
                    }
                })
            return maskForGrad == nil ? grads : grads + [gm]
        }
        guard needWeights else { return (result, nil) }
        // The weights as a second output: their own node on the same saved P and dropout mask,
        // over q and k (separate inputs: v's part of a packed input would need zeros).
        guard vo.0 != qo.0 && vo.0 != ko.0 else { throw DFMError(.internal, "\(op): weights need separate q, k and v") }
        let w = record(op + "_weights", try weights.clone(), [inputs[qo.0], inputs[ko.0]] + maskInput) { g in
            let gp = g.p(R.self)
            let grads = try gradBuffers([qo.0, ko.0])
            let gm = try scoreGrads(
                grads, { b, ds in ds.update(from: gp + b * L * S, count: L * S) }, perHead: { _ in })
            let qk = [grads[qo.0], grads[ko.0]]
            return maskForGrad == nil ? qk : qk + [gm]
        }
        return (result, w)
    }
    return try dtype == .float64 ? run(Double.self) : run(Float.self)
}

// MARK: multi-head attention

/// torch.nn.functional.multi_head_attention_forward for the packed in-projection (kdim = vdim
/// = embed_dim, no bias_kv, no zero_attn), on the fused attention kernel. Layout: (L, N, E),
/// or (N, L, E) with `batchFirst`, or unbatched (L, E). Masks as torch: `attnMask` (L, S) or
/// (N·heads, L, S) and `keyPaddingMask` (N, S) (unbatched: (S)); bool means True = ignore,
/// float is added. `isCausal` is torch's hint that `attnMask` is causal: it needs the mask.
/// Returns the output in the input's layout and, with `needWeights`, the attention weights
/// (N, L, S) averaged over heads (or (N, heads, L, S)), differentiable as in torch.
public func multiHeadAttentionForward(
    query: Tensor, key: Tensor, value: Tensor, numHeads: Int, inProjWeight: Tensor,
    inProjBias: Tensor?, outProjWeight: Tensor, outProjBias: Tensor?, dropoutP: Float = 0,
    training: Bool = true, keyPaddingMask: Tensor? = nil, needWeights: Bool = true,
    attnMask: Tensor? = nil, averageAttnWeights: Bool = true, isCausal: Bool = false,
    batchFirst: Bool = false, generator: Generator? = nil
) throws -> (output: Tensor, weights: Tensor?) {
    let op = "multi_head_attention_forward"
    let dtype = try commonFloat([query, key, value, inProjWeight, inProjBias, outProjWeight, outProjBias], op)
    guard query.ndim == 2 || query.ndim == 3, key.ndim == query.ndim, value.ndim == query.ndim else {
        throw DFMError.shape(
            op,
            "expected query, key and value of rank 3 (batched) or 2 (unbatched), got shapes \(query.shape), \(key.shape) and \(value.shape)"
        )
    }
    guard numHeads > 0 else { throw DFMError.invalid(op, "num_heads must be positive, got \(numHeads)") }
    let E = query.shape[query.ndim - 1]
    guard E % numHeads == 0 else { throw DFMError.invalid(op, "embed_dim \(E) not divisible by num_heads \(numHeads)") }
    guard inProjWeight.shape == [3 * E, E] else {
        throw DFMError.shape(
            op, "in_proj_weight must be (3·embed_dim, embed_dim) = [\(3 * E), \(E)], got \(inProjWeight.shape)")
    }
    if let b = inProjBias, b.shape != [3 * E] {
        throw DFMError.shape(op, "in_proj_bias must be [\(3 * E)], got \(b.shape)")
    }
    guard outProjWeight.shape == [E, E] else {
        throw DFMError.shape(op, "out_proj.weight must be [\(E), \(E)], got \(outProjWeight.shape)")
    }
    if let b = outProjBias, b.shape != [E] { throw DFMError.shape(op, "out_proj.bias must be [\(E)], got \(b.shape)") }
    if isCausal && attnMask == nil { throw DFMError.invalid(op, "Need attn_mask if specifying the is_causal hint") }

    // To batch-first (N, L, E).
    let unbatched = query.ndim == 2
    func toNLE(_ t: Tensor) throws -> Tensor {
        unbatched ? try unsqueeze(t, 0) : batchFirst ? t : try transpose(t, 0, 1)
    }
    let qx = try toNLE(query)
    let kx = key === query ? qx : try toNLE(key)
    let vx = value === key ? kx : try toNLE(value)
    let N = qx.shape[0]
    let L = qx.shape[1]
    let S = kx.shape[1]
    let H = numHeads
    let hd = E / numHeads
    guard kx.shape == [N, S, E], vx.shape == [N, S, E] else {
        throw DFMError.shape(
            op,
            "key and value must be (batch, source length, \(E)) alike and match the query's batch; got shapes \(key.shape) and \(value.shape) for query \(query.shape)"
        )
    }

    // Masks merged into one additive (N or 1, H or 1, L, S) mask, as torch's _canonical_mask.
    func additive(_ m: Tensor, _ name: String) throws -> Tensor {
        if m.dtype.isFloat {
            guard m.dtype == dtype else {
                throw DFMError.type(op, "a float \(name) must be \(dtype) like the query, got \(m.dtype)")
            }
            return m
        }
        guard m.dtype == .bool else {
            throw DFMError.type(op, "only bool and floating types of \(name) are supported, got \(m.dtype)")
        }
        return try whereMask(m, Tensor.scalar(-.infinity, dtype: dtype), Tensor.scalar(0, dtype: dtype))
    }
    var mask: Tensor? = nil
    if let am = attnMask {
        let a = try additive(am, "attn_mask")
        if a.ndim == 2 {
            guard a.shape == [L, S] else {
                throw DFMError.shape(op, "The shape of the 2D attn_mask is \(a.shape), but should be [\(L), \(S)].")
            }
            mask = try reshape(a, [1, 1, L, S])
        } else if a.ndim == 3 {
            guard a.shape == [N * H, L, S] else {
                throw DFMError.shape(
                    op, "The shape of the 3D attn_mask is \(a.shape), but should be [\(N * H), \(L), \(S)].")
            }
            mask = try reshape(a, [N, H, L, S])
        } else {
            throw DFMError.shape(op, "attn_mask's dimension \(a.ndim) is not supported (2 or 3)")
        }
    }
    if let kpm = keyPaddingMask {
        let a = try additive(kpm, "key_padding_mask")
        let expected = unbatched ? [S] : [N, S]
        guard a.shape == expected else {
            throw DFMError.shape(op, "expected key_padding_mask of shape \(expected), got \(a.shape)")
        }
        let r = try reshape(a, [N, 1, 1, S])
        mask = try mask.map { try add($0, r) } ?? r
    }

    // Projections: one gemm for self-attention (query, key and value the same tensor).
    let q: Tensor
    let k: Tensor
    let v: Tensor
    func heads(_ t: Tensor, _ len: Int) throws -> Tensor {
        try permute(try reshape(t, [N, len, H, hd]), [0, 2, 1, 3])
    }
    let packed = query === key && key === value
    if packed && !needWeights {
        // Self-attention without weights (TransformerEncoderLayer's): attention reads the packed
        // projection in place and writes (N, L, E) for out_proj directly.
        let o = try packedSelfAttention(
            try linear(qx, inProjWeight, inProjBias), heads: H, attnMask: mask, dropoutP: training ? dropoutP : 0,
            generator: generator, op: op)
        let out = try linear(o, outProjWeight, outProjBias)
        return (unbatched ? try squeeze(out, dim: 0) : batchFirst ? out : try transpose(out, 0, 1), nil)
    }
    if packed {
        let qkv = try permute(
            try reshape(try linear(qx, inProjWeight, inProjBias), [N, L, 3, H, hd]), [2, 0, 3, 1, 4])
        (q, k, v) = (
            try select(qkv, dim: 0, index: 0), try select(qkv, dim: 0, index: 1), try select(qkv, dim: 0, index: 2)
        )
    } else {
        func part(_ i: Int) throws -> (Tensor, Tensor?) {
            (
                try narrow(inProjWeight, dim: 0, start: i * E, length: E),
                try inProjBias.map { try narrow($0, dim: 0, start: i * E, length: E) }
            )
        }
        let (wq, bq) = try part(0)
        let (wk, bk) = try part(1)
        let (wv, bv) = try part(2)
        q = try heads(try linear(qx, wq, bq), L)
        k = try heads(try linear(kx, wk, bk), S)
        v = try heads(try linear(vx, wv, bv), S)
    }

    let (o, w) = try attention(
        q, k, v, attnMask: mask, dropoutP: training ? dropoutP : 0, isCausal: false, scale: nil,
        generator: generator, needWeights: needWeights, op: op)
    var out = try linear(try reshape(try permute(o, [0, 2, 1, 3]), [N, L, E]), outProjWeight, outProjBias)
    out = unbatched ? try squeeze(out, dim: 0) : batchFirst ? out : try transpose(out, 0, 1)
    guard var weights = w else { return (out, nil) }
    if averageAttnWeights { weights = try mean(weights, dims: [1]) }
    if unbatched { weights = try squeeze(weights, dim: 0) }
    return (out, weights)
}
