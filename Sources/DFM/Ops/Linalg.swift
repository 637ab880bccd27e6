import COpenBLAS

// Linear algebra: matmul (torch.matmul semantics), bmm, linear and QR. Every product
// runs on sgemm. Batched products fold the batch into one big sgemm when the memory
// layout allows it (x(B,T,K)·W(K,N) and its gradients), else loop sgemm per matrix.

/// Row-major GEMM over broadcast batch dims: for every index i of `batch`,
/// C[ci] = Σ op(A[ai])·op(B[bi]) where ai, bi, ci are i seen through `aBatch`, `bBatch`,
/// `cBatch` (each padded to batch's rank; a 1 broadcasts). A C matrix reached from
/// several i accumulates them in increasing i (deterministic). op(A) is m×k, op(B) k×n.
private func batchedGemm<S: Real>(
    batch: [Int], count nb: Int, aBatch: [Int], bBatch: [Int], cBatch: [Int],
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    a: UnsafePointer<S>, b: UnsafePointer<S>, c: UnsafeMutablePointer<S>
) {
    let cMats = cBatch.reduce(1, *)
    let lda = transA ? m : k
    let ldb = transB ? k : n
    if nb == 0 || m == 0 || n == 0 {
        c.update(repeating: 0, count: cMats * m * n)
        return
    }
    let unbatched = { (s: [Int]) in s.allSatisfy { $0 == 1 } }
    if nb == 1 {
        gemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: n)
        return
    }
    if !transA && aBatch == batch && cBatch == batch && unbatched(bBatch) {
        // The A matrices stacked are one (nb·m)×k matrix, and so are the C matrices.
        gemm(transA: false, transB: transB, m: nb * m, n: n, k: k, a: a, lda: k, b: b, ldb: ldb, c: c, ldc: n)
        return
    }
    if transA && !transB && aBatch == batch && bBatch == batch && unbatched(cBatch) {
        // Σ A_iᵀ B_i = [A_1; …; A_nb]ᵀ [B_1; …; B_nb]: one sgemm with inner size nb·k.
        gemm(transA: true, transB: false, m: m, n: n, k: nb * k, a: a, lda: m, b: b, ldb: n, c: c, ldc: n)
        return
    }
    let sa = Shape.broadcastStrides(aBatch, to: batch)
    let sb = Shape.broadcastStrides(bBatch, to: batch)
    let sc = Shape.broadcastStrides(cBatch, to: batch)
    var visited = [Bool](repeating: false, count: cMats)
    var idx = [Int](repeating: 0, count: batch.count)
    for _ in 0..<nb {
        var ia = 0
        var ib = 0
        var ic = 0
        for d in 0..<batch.count {
            ia += idx[d] * sa[d]
            ib += idx[d] * sb[d]
            ic += idx[d] * sc[d]
        }
        let beta: S = visited[ic] ? 1 : 0
        visited[ic] = true
        gemm(
            transA: transA, transB: transB, m: m, n: n, k: k, a: a + ia * m * k, lda: lda,
            b: b + ib * k * n, ldb: ldb, beta: beta, c: c + ic * m * n, ldc: n)
        var d = batch.count - 1
        while d >= 0 {
            idx[d] += 1
            if idx[d] < batch[d] { break }
            idx[d] = 0
            d -= 1
        }
    }
}

/// torch.matmul: dot for 1-D·1-D, matrix product for 2-D, a 1-D operand promoted to a
/// row (left) or column (right) matrix and the added dim removed, and batched products
/// with broadcasting of the batch dims.
public func matmul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try matmulImpl(a, b, op: "matmul")
}

/// torch.bmm: (B, n, m) · (B, m, p) → (B, n, p), no broadcasting.
public func bmm(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try EW.checkFloat(a, "bmm")
    try EW.checkFloat(b, "bmm")
    guard a.ndim == 3 else { throw DFMError.shape("bmm", "batch1 must be a 3D tensor, got shape \(a.shape)") }
    guard b.ndim == 3 else { throw DFMError.shape("bmm", "batch2 must be a 3D tensor, got shape \(b.shape)") }
    guard b.shape[0] == a.shape[0], b.shape[1] == a.shape[2] else {
        throw DFMError.shape(
            "bmm",
            "expected size for first two dimensions of batch2 tensor to be: [\(a.shape[0]), \(a.shape[2])] but got: [\(b.shape[0]), \(b.shape[1])]"
        )
    }
    return try matmulImpl(a, b, op: "bmm")
}

private func matmulImpl(_ a: Tensor, _ b: Tensor, op: String) throws -> Tensor {
    _ = try commonFloat([a, b], op)
    guard a.ndim >= 1, b.ndim >= 1 else {
        throw DFMError.shape(
            op, "both arguments to matmul need to be at least 1D, but they are \(a.ndim)D and \(b.ndim)D")
    }
    let m = a.ndim == 1 ? 1 : a.shape[a.ndim - 2]
    let k = a.shape[a.ndim - 1]
    let kb = b.ndim == 1 ? b.shape[0] : b.shape[b.ndim - 2]
    let n = b.ndim == 1 ? 1 : b.shape[b.ndim - 1]
    guard k == kb else {
        if a.ndim == 1 && b.ndim == 1 {
            throw DFMError.shape(
                op,
                "inconsistent tensor size, expected tensor [\(k)] and src [\(kb)] to have the same number of elements, but got \(k) and \(kb) elements respectively"
            )
        }
        throw DFMError.shape(
            op,
            "mat1 and mat2 shapes cannot be multiplied (\(m)x\(k) and \(kb)x\(n)); input shapes \(a.shape) and \(b.shape)"
        )
    }
    let batchA = a.ndim > 2 ? Array(a.shape.dropLast(2)) : []
    let batchB = b.ndim > 2 ? Array(b.shape.dropLast(2)) : []
    let batch = try Shape.broadcast(batchA, batchB, op: op)
    let nb = try Shape.count(batch, op: op)
    let pa = [Int](repeating: 1, count: batch.count - batchA.count) + batchA
    let pb = [Int](repeating: 1, count: batch.count - batchB.count) + batchB
    var outShape = batch
    if a.ndim > 1 { outShape.append(m) }
    if b.ndim > 1 { outShape.append(n) }
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let out = try Tensor.uninitialized(outShape, dtype: S.dtype, op: op)
        batchedGemm(
            batch: batch, count: nb, aBatch: pa, bBatch: pb, cBatch: batch, transA: false, transB: false,
            m: m, n: n, k: k, a: a.p(S.self), b: b.p(S.self), c: out.p(S.self))
        return record(op, out, [a, b]) { g in
            var ga: Tensor? = nil
            var gb: Tensor? = nil
            if a.requiresGrad {
                // dA = dC·Bᵀ, summed over the batch dims A was broadcast along.
                let t = try Tensor.uninitialized(a.shape, dtype: S.dtype, op: "\(op)_backward")
                batchedGemm(
                    batch: batch, count: nb, aBatch: batch, bBatch: pb, cBatch: pa, transA: false, transB: true,
                    m: m, n: k, k: n, a: g.p(S.self), b: b.p(S.self), c: t.p(S.self))
                ga = t
            }
            if b.requiresGrad {
                // dB = Aᵀ·dC, summed over the batch dims B was broadcast along.
                let t = try Tensor.uninitialized(b.shape, dtype: S.dtype, op: "\(op)_backward")
                batchedGemm(
                    batch: batch, count: nb, aBatch: pa, bBatch: batch, cBatch: pb, transA: true, transB: false,
                    m: k, n: n, k: m, a: a.p(S.self), b: g.p(S.self), c: t.p(S.self))
                gb = t
            }
            return [ga, gb]
        }
    }
    return try a.dtype == .float64 ? run(Double.self) : run(Float.self)
}

/// torch.nn.functional.linear: y = x·Wᵀ + b for x (..., in), W (out, in), b (out).
/// All leading dims of x form the rows of a single sgemm.
public func linear(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil) throws -> Tensor {
    let op = "linear"
    _ = try commonFloat([x, weight, bias], op)
    guard x.ndim >= 1 else { throw DFMError.shape(op, "input must have at least 1 dimension, got a 0-D tensor") }
    guard weight.ndim == 2 else {
        throw DFMError.shape(op, "weight must be 2-D (out_features, in_features), got shape \(weight.shape)")
    }
    let inF = x.shape[x.ndim - 1]
    let outF = weight.shape[0]
    let lead = Array(x.shape.dropLast())
    let rows = try Shape.count(lead, op: op)
    guard weight.shape[1] == inF else {
        throw DFMError.shape(
            op,
            "mat1 and mat2 shapes cannot be multiplied (\(rows)x\(inF) and \(weight.shape[1])x\(outF)); input shape \(x.shape), weight shape \(weight.shape)"
        )
    }
    if let bias, bias.shape != [outF] {
        throw DFMError.shape(
            op, "bias has shape \(bias.shape) but weight has \(outF) output features (expected [\(outF)])")
    }
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let out = try Tensor.uninitialized(lead + [outF], dtype: S.dtype, op: op)
        let o = out.p(S.self)
        if let bias {
            // Start from the bias and let sgemm accumulate onto it (beta = 1): no extra pass.
            let bp = bias.p(S.self)
            Parallel.chunks(rows, costPerItem: outF) { r in
                for row in r { (o + row * outF).update(from: bp, count: outF) }
            }
        }
        gemm(
            transA: false, transB: true, m: rows, n: outF, k: inF, a: x.p(S.self), lda: inF, b: weight.p(S.self),
            ldb: inF,
            beta: bias == nil ? 0 : 1, c: o, ldc: outF)
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        return recordAccumulating(op, out, inputs) { g, sums in
            var grads: [Tensor?] = [nil, nil]
            if x.requiresGrad {
                // dX = dY·W
                let t = try Tensor.uninitialized(x.shape, dtype: S.dtype, op: "linear_backward")
                gemm(
                    transA: false, transB: false, m: rows, n: inF, k: outF, a: g.p(S.self), lda: outF,
                    b: weight.p(S.self), ldb: inF,
                    c: t.p(S.self), ldc: inF)
                grads[0] = t
            }
            if weight.requiresGrad {
                // dW = dYᵀ·X over all rows at once, added into the running sum when there is one.
                let sum = sums.count > 1 ? sums[1] : nil
                let t = try sum ?? Tensor.uninitialized(weight.shape, dtype: S.dtype, op: "linear_backward")
                gemm(
                    transA: true, transB: false, m: outF, n: inF, k: rows, a: g.p(S.self), lda: outF, b: x.p(S.self),
                    ldb: inF,
                    beta: sum == nil ? 0 : 1, c: t.p(S.self), ldc: inF)
                grads[1] = t
            }
            if let bias {
                // A 1-D input's g is already bias-shaped: a copy, as this rule returns only its own tensors.
                let db = bias.requiresGrad ? try sumTo(g, [outF]) : nil
                grads.append(db === g ? try g.clone() : db)
            }
            return grads
        }
    }
    return try x.dtype == .float64 ? run(Double.self) : run(Float.self)
}

// MARK: QR

/// torch.linalg.qr for (*, m, n) float32 input. Modes: "reduced" (Q m×k, R k×n, k = min(m, n)),
/// "complete" (Q m×m, R m×n) and "r" (R only; Q is an empty tensor). LAPACK's Householder
/// convention, no sign normalisation, as in PyTorch. Differentiable except mode "r" and
/// "complete" with m > n, which throw from backward like PyTorch.
public func qr(_ a: Tensor, mode: String = "reduced") throws -> (q: Tensor, r: Tensor) {
    let op = "linalg.qr"
    guard mode == "reduced" || mode == "complete" || mode == "r" else {
        throw DFMError.invalid(
            op, "qr received unrecognized mode '\(mode)' but expected one of 'reduced' (default), 'r', or 'complete'")
    }
    try EW.checkFloat(a, op)
    guard a.ndim >= 2 else {
        throw DFMError.shape(op, "the input tensor A must have at least 2 dimensions, got shape \(a.shape)")
    }
    let m = a.shape[a.ndim - 2]
    let n = a.shape[a.ndim - 1]
    let batchShape = Array(a.shape.dropLast(2))
    let nb = try Shape.count(batchShape, op: op)
    let complete = mode == "complete"
    let kq = complete ? m : min(m, n)
    let qSize = m * kq
    let rSize = kq * n
    let qTotal = try Shape.count([nb, m, kq], op: op)
    let rTotal = try Shape.count([nb, kq, n], op: op)

    func run<S: Real>(_: S.Type) throws -> (q: Tensor, r: Tensor) {
        // Q and R live in one buffer, so one graph node carries the single QR derivative rule;
        // q and r are views of it whose rules only route their gradient into place.
        let packed = try Tensor.uninitialized([qTotal + rTotal], dtype: S.dtype, op: op)
        for bi in 0..<nb {
            let res = try lapackQR(a.p(S.self) + bi * m * n, m: m, n: n, complete: complete)
            res.q.withUnsafeBufferPointer {
                if let p = $0.baseAddress { (packed.p(S.self) + bi * qSize).update(from: p, count: qSize) }
            }
            res.r.withUnsafeBufferPointer {
                if let p = $0.baseAddress { (packed.p(S.self) + qTotal + bi * rSize).update(from: p, count: rSize) }
            }
        }
        let qView = Tensor(shape: batchShape + [m, kq], dtype: S.dtype, storage: packed.storage, offset: packed.offset)
        let rView = Tensor(
            shape: batchShape + [kq, n], dtype: S.dtype, storage: packed.storage, offset: packed.offset + qTotal)

        let node = record("linalg_qr", packed, [a]) { g in
            guard mode != "r" else {
                throw DFMError.state(
                    op,
                    "the derivative of linalg.qr depends on Q, which is not computed when mode='r'; use mode='reduced' to differentiate through linalg.qr"
                )
            }
            guard !(complete && m > n) else {
                throw DFMError.state(
                    op,
                    "the QR decomposition is not differentiable when mode='complete' and nrows > ncols (got \(m)x\(n))")
            }
            let ga = try Tensor.zeros(a.shape, dtype: S.dtype)
            for bi in 0..<nb {
                qrBackward(
                    q: packed.p(S.self) + bi * qSize, r: packed.p(S.self) + qTotal + bi * rSize,
                    gq: g.p(S.self) + bi * qSize, gr: g.p(S.self) + qTotal + bi * rSize,
                    a: a.p(S.self) + bi * m * n, ga: ga.p(S.self) + bi * m * n, m: m, n: n)
            }
            return [ga]
        }
        let r = record("linalg_qr_r", rView, [node]) { g in
            let t = try Tensor.zeros([qTotal + rTotal], dtype: S.dtype)
            (t.p(S.self) + qTotal).update(from: g.p(S.self), count: rTotal)
            return [t]
        }
        if mode == "r" { return (try Tensor.zeros([0], dtype: S.dtype), r) }
        let q = record("linalg_qr_q", qView, [node]) { g in
            let t = try Tensor.zeros([qTotal + rTotal], dtype: S.dtype)
            t.p(S.self).update(from: g.p(S.self), count: qTotal)
            return [t]
        }
        return (q, r)
    }
    return try a.dtype == .float64 ? run(Double.self) : run(Float.self)
}

/// Gradient of A = QR for one row-major m×n matrix (PyTorch's linalg_qr_backward, real case).
/// With p = min(m, n), Q is m×p and R p×n (only the differentiable configurations reach here).
/// Square/tall (m ≥ n):  M = R·gRᵀ − gQᵀ·Q,  gA = (gQ + Q·copyltu(M))·R⁻ᵀ,
/// where copyltu mirrors the lower triangle of M onto the upper one.
/// Wide (m < n): A = [X | Y], R = [U | V] with X = QU, Y = QV, so
/// gY = Q·gV and gX is the square rule with gQ + Y·gVᵀ in place of gQ.
private func qrBackward<S: Real>(
    q: UnsafePointer<S>, r: UnsafePointer<S>, gq: UnsafePointer<S>,
    gr: UnsafePointer<S>, a: UnsafePointer<S>, ga: UnsafeMutablePointer<S>,
    m: Int, n: Int
) {
    let p = min(m, n)
    if p == 0 { return }
    // gQ' (m×p), written into gA's first p columns; the triangular solve then runs in place.
    for i in 0..<m { (ga + i * n).update(from: gq + i * p, count: p) }
    if m < n {
        let w = n - m
        // gQ' += Y·gVᵀ ; gY = Q·gV
        gemm(
            transA: false, transB: true, m: m, n: m, k: w, a: a + m, lda: n, b: gr + m, ldb: n,
            beta: 1, c: ga, ldc: n)
        gemm(transA: false, transB: false, m: m, n: w, k: m, a: q, lda: p, b: gr + m, ldb: n, c: ga + m, ldc: n)
    }
    // M = R·gRᵀ − gQ'ᵀ·Q over the leading p×p blocks (R's row stride is n). gQ' sits in gA.
    var mm = [S](repeating: 0, count: p * p)
    mm.withUnsafeMutableBufferPointer { mb in
        guard let mp = mb.baseAddress else { return }
        gemm(transA: false, transB: true, m: p, n: p, k: p, a: r, lda: n, b: gr, ldb: n, c: mp, ldc: p)
        gemm(
            transA: true, transB: false, m: p, n: p, k: m, alpha: -1, a: ga, lda: n, b: q, ldb: p,
            beta: 1, c: mp, ldc: p)
        for i in 0..<p { for j in (i + 1)..<p { mp[i * p + j] = mp[j * p + i] } }
        // gQ' + Q·copyltu(M), then solve X·Rᵀ = that for X (R's leading p×p block is upper triangular).
        gemm(transA: false, transB: false, m: m, n: p, k: p, a: q, lda: p, b: mp, ldb: p, beta: 1, c: ga, ldc: n)
    }
    S.trsmRightUpperTrans(m: Int32(m), n: Int32(p), a: r, lda: Int32(n), b: ga, ldb: Int32(n))
}

// MARK: the matrix-product family (torch.mm, mv, dot, outer, addmm, baddbmm)
// Each checks torch's shape rules and runs on matmul, whose derivative rule covers them.

private func requireDims(_ t: Tensor, _ n: Int, _ name: String, op: String) throws {
    guard t.ndim == n else { throw DFMError.shape(op, "\(name) must be a \(n)D tensor, got shape \(t.shape)") }
}

/// torch.mm: (n, m) · (m, p), no broadcasting.
public func mm(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try requireDims(a, 2, "self", op: "mm")
    try requireDims(b, 2, "mat2", op: "mm")
    return try matmulChecked(a, b, op: "mm")
}

/// torch.mv: (n, m) · (m) -> (n).
public func mv(_ a: Tensor, _ v: Tensor) throws -> Tensor {
    try requireDims(a, 2, "self", op: "mv")
    try requireDims(v, 1, "vec", op: "mv")
    return try matmulChecked(a, v, op: "mv")
}

/// torch.dot: the inner product of two 1-D tensors of one size (0-dim result).
public func dot(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try requireDims(a, 1, "self", op: "dot")
    try requireDims(b, 1, "tensor", op: "dot")
    guard a.count == b.count else {
        throw DFMError.shape(
            "dot",
            "inconsistent tensor size, expected tensor [\(a.count)] and src [\(b.count)] to have the same number of elements"
        )
    }
    return try matmulChecked(a, b, op: "dot")
}

/// torch.outer: a (n) ⊗ b (m) -> (n, m).
public func outer(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try requireDims(a, 1, "self", op: "outer")
    try requireDims(b, 1, "vec2", op: "outer")
    return try matmulChecked(try unsqueeze(a, 1), try unsqueeze(b, 0), op: "outer")
}

/// torch.addmm: beta·input + alpha·(a · b) with input broadcast to (n, p).
public func addmm(_ input: Tensor, _ a: Tensor, _ b: Tensor, beta: Double = 1, alpha: Double = 1) throws -> Tensor {
    try requireDims(a, 2, "mat1", op: "addmm")
    try requireDims(b, 2, "mat2", op: "addmm")
    return try scaledSum(input, try matmulChecked(a, b, op: "addmm"), beta: beta, alpha: alpha, op: "addmm")
}

/// torch.baddbmm: beta·input + alpha·bmm(a, b) with input broadcast to (B, n, p).
public func baddbmm(_ input: Tensor, _ a: Tensor, _ b: Tensor, beta: Double = 1, alpha: Double = 1) throws -> Tensor {
    return try scaledSum(input, try bmm(a, b), beta: beta, alpha: alpha, op: "baddbmm")
}

/// matmul after torch's dtype rule for products: one float dtype.
private func matmulChecked(_ a: Tensor, _ b: Tensor, op: String) throws -> Tensor {
    _ = try commonFloat([a, b], op)
    return try matmul(a, b)
}

/// beta·input + alpha·product, input broadcast to the product's shape; beta = 0 ignores input
/// (NaN in it included), as torch does.
private func scaledSum(_ input: Tensor, _ product: Tensor, beta: Double, alpha: Double, op: String) throws -> Tensor {
    guard try Shape.broadcast(input.shape, product.shape, op: op) == product.shape else {
        throw DFMError.shape(
            op, "input of shape \(input.shape) cannot be broadcast to the product's shape \(product.shape)")
    }
    let p = alpha == 1 ? product : try mul(product, alpha)
    if beta == 0 {
        // input is not read (NaN in it stays out), but like torch it gets a (zero) gradient.
        let zeros = input.shape
        return record(op, p.detach(), [input, p]) { g in [try Tensor.zeros(zeros, dtype: g.dtype), g] }
    }
    return try add(beta == 1 ? input : try mul(input, beta), p)
}
