import Foundation

// Row-wise losses with their own kernels: multi_margin, multilabel_margin,
// cosine_embedding, triplet_margin; and cross_entropy with class-probability targets.

/// Input (N, C) or (C): returns (N, C, batched).
private func rows(_ input: Tensor, _ op: String) throws -> (n: Int, c: Int, batched: Bool) {
    try EW.checkFloat(input, op)
    switch input.ndim {
    case 1: return (1, input.shape[0], false)
    case 2: return (input.shape[0], input.shape[1], true)
    default: throw DFMError.shape(op, "expected a 1-D or 2-D input, got shape \(input.shape)")
    }
}

/// Reduces per-row losses `l` (shaped `shape`): none keeps them, mean divides the sum by the row count.
private func reduceRows(_ l: Tensor, _ reduction: Reduction, rowCount: Int) -> Tensor {
    reduceLoss(l, reduction, denominator: Double(rowCount))
}

// MARK: multi_margin_loss

/// torch.nn.functional.multi_margin_loss: per sample with target y,
/// Σ_{i≠y} w[y]·max(0, margin - x[y] + x[i])^p / C, p ∈ {1, 2}.
public func multiMarginLoss(
    _ input: Tensor, _ target: Tensor, p: Int = 1, margin: Double = 1, weight: Tensor? = nil,
    reduction: Reduction = .mean
) throws -> Tensor {
    let op = "multi_margin_loss"
    let (n, c, _) = try rows(input, op)
    guard p == 1 || p == 2 else { throw DFMError.invalid(op, "only p == 1 and p == 2 supported, got \(p)") }
    guard margin.isFinite else { throw DFMError.invalid(op, "margin must be finite, got \(margin)") }
    guard target.dtype == .int64 else {
        throw DFMError.type(op, "expected target of dtype int64 (class indices), got \(target.dtype)")
    }
    guard target.ndim <= 1, target.count == n, c > 0 else {
        throw DFMError.shape(op, "inconsistent target size: \(target.shape) for input of size: \(input.shape)")
    }
    if let weight {
        guard weight.dtype == input.dtype, weight.shape == [c] else {
            throw DFMError.shape(
                op, "weight must be a \(input.dtype) tensor of shape [\(c)], got \(weight.shape) (\(weight.dtype))")
        }
    }
    for k in 0..<n where target.i[k] < 0 || target.i[k] >= Int64(c) {
        throw DFMError.index(op, "target \(target.i[k]) is out of bounds for \(c) classes")
    }
    let outShape = reduction == .none && target.ndim > 0 ? [n] : []
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let l = try Tensor.uninitialized(reduction == .none ? outShape : [n], dtype: S.dtype, op: op)
        let xp = input.p(S.self)
        let tp = target.i
        let wp = weight?.p(S.self)
        let lp = l.p(S.self)
        let m = S(margin)
        let cS = S(c)
        Parallel.chunks(n, costPerItem: 4 * c) { r in
            for i in r {
                let row = xp + i * c
                let y = Int(tp[i])
                let w = wp?[y] ?? 1
                var s: S = 0
                for d in 0..<c where d != y {
                    let z = m - row[y] + row[d]
                    if z > 0 { s += (p == 1 ? z : z * z) * w }
                }
                lp[i] = s / cS
            }
        }
        return record(op, reduceRows(l, reduction, rowCount: n), [input]) { g in
            let xp = input.p(S.self)
            let tp = target.i
            let wp = weight?.p(S.self)
            let (gp, scalar) = upstream(g, reduction, denominator: Double(n), S.self)
            let gx = try Tensor.zeros(input.shape, dtype: S.dtype)
            let dp = gx.p(S.self)
            Parallel.chunks(n, costPerItem: 4 * c) { r in
                for i in r {
                    let row = xp + i * c
                    let drow = dp + i * c
                    let y = Int(tp[i])
                    let up = (scalar ?? gp[i]) * (wp?[y] ?? 1) / cS
                    for d in 0..<c where d != y {
                        let z = m - row[y] + row[d]
                        if z > 0 {
                            let h = p == 1 ? up : 2 * z * up
                            drow[d] = h
                            drow[y] -= h
                        }
                    }
                }
            }
            return [gx]
        }
    }
    return try input.dtype == .float64 ? run(Double.self) : run(Float.self)
}

// MARK: multilabel_margin_loss

/// torch.nn.functional.multilabel_margin_loss: `target` (int64, input's shape) lists each
/// sample's classes, ended by the first -1; per sample
/// Σ_{j listed} Σ_{i not listed} max(0, 1 - (x[j] - x[i])) / C.
public func multilabelMarginLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
    let op = "multilabel_margin_loss"
    let (n, c, batched) = try rows(input, op)
    guard target.dtype == .int64 else { throw DFMError.type(op, "expected target of dtype int64, got \(target.dtype)") }
    guard target.shape == input.shape else {
        throw DFMError.shape(op, "inconsistent target size: \(target.shape) for input of size: \(input.shape)")
    }
    for k in 0..<target.count where target.i[k] < -1 || target.i[k] >= Int64(c) {
        throw DFMError.index(op, "target \(target.i[k]) is out of range: expected -1 or a class in [0, \(c))")
    }
    // Per row: the listed classes and a mask of them (fixed before the kernels run).
    var listed = [[Int]](repeating: [], count: n)
    var isTarget = [Bool](repeating: false, count: n * c)
    for i in 0..<n {
        for k in 0..<c {
            let t = Int(target.i[i * c + k])
            if t < 0 { break }
            listed[i].append(t)
            isTarget[i * c + t] = true
        }
    }
    let outShape = reduction == .none && batched ? [n] : []
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let l = try Tensor.uninitialized(reduction == .none ? outShape : [n], dtype: S.dtype, op: op)
        let xp = input.p(S.self)
        let lp = l.p(S.self)
        let cS = S(c)
        Parallel.chunks(n, costPerItem: 4 * c) { r in
            for i in r {
                let row = xp + i * c
                var s: S = 0
                for j in listed[i] {
                    for d in 0..<c where !isTarget[i * c + d] {
                        let z = 1 - row[j] + row[d]
                        if z > 0 { s += z }
                    }
                }
                lp[i] = s / cS
            }
        }
        return record(op, reduceRows(l, reduction, rowCount: n), [input]) { g in
            let xp = input.p(S.self)
            let (gp, scalar) = upstream(g, reduction, denominator: Double(n), S.self)
            let gx = try Tensor.zeros(input.shape, dtype: S.dtype)
            let dp = gx.p(S.self)
            Parallel.chunks(n, costPerItem: 4 * c) { r in
                for i in r {
                    let row = xp + i * c
                    let drow = dp + i * c
                    let up = (scalar ?? gp[i]) / cS
                    for j in listed[i] {
                        for d in 0..<c where !isTarget[i * c + d] && 1 - row[j] + row[d] > 0 {
                            drow[j] -= up
                            drow[d] += up
                        }
                    }
                }
            }
            return [gx]
        }
    }
    return try input.dtype == .float64 ? run(Double.self) : run(Float.self)
}

// MARK: cosine_embedding_loss

/// torch.nn.functional.cosine_embedding_loss: cos = Σx1·x2 / sqrt((Σx1² + ε)(Σx2² + ε)),
/// ε = 1e-12; loss = 1 - cos where y = 1, max(0, cos - margin) where y = -1, 0 elsewhere.
public func cosineEmbeddingLoss(
    _ input1: Tensor, _ input2: Tensor, _ target: Tensor, margin: Double = 0,
    reduction: Reduction = .mean
) throws -> Tensor {
    let op = "cosine_embedding_loss"
    try EW.sameFloat(input1, input2, op)
    guard input1.shape == input2.shape else {
        throw DFMError.shape(op, "input1 \(input1.shape) and input2 \(input2.shape) must have the same shape")
    }
    let (n, dim, batched) = try rows(input1, op)
    guard target.shape == (batched ? [n] : []) else {
        throw DFMError.shape(
            op, "target must have shape \(batched ? [n] : []) for inputs of shape \(input1.shape), got \(target.shape)")
    }
    guard target.dtype == input1.dtype || target.dtype == .int64 else {
        throw DFMError.type(op, "target must be \(input1.dtype) or int64, got \(target.dtype)")
    }
    guard margin.isFinite else { throw DFMError.invalid(op, "margin must be finite, got \(margin)") }
    let y: [Double] = target.toDoubleArray()
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let cosines = try Tensor.uninitialized([n], dtype: S.dtype, op: op)
        let l = try Tensor.uninitialized(batched ? [n] : [], dtype: S.dtype, op: op)
        let ap = input1.p(S.self)
        let bp = input2.p(S.self)
        let cp = cosines.p(S.self)
        let lp = l.p(S.self)
        let m = S(margin)
        Parallel.chunks(n, costPerItem: 6 * dim) { r in
            for i in r {
                let a = ap + i * dim
                let b = bp + i * dim
                var s: S = 0
                var m1: S = 0
                var m2: S = 0
                for k in 0..<dim {
                    s += a[k] * b[k]
                    m1 += a[k] * a[k]
                    m2 += b[k] * b[k]
                }
                let cosv = s / ((m1 + 1e-12) * (m2 + 1e-12)).squareRoot()
                cp[i] = cosv
                lp[i] = y[i] == 1 ? 1 - cosv : (y[i] == -1 ? Swift.max(cosv - m, 0) : 0)
            }
        }
        return record(op, reduceRows(l, reduction, rowCount: n), [input1, input2]) { g in
            let ap = input1.p(S.self)
            let bp = input2.p(S.self)
            let cp = cosines.p(S.self)
            let (gp, scalar) = upstream(g, reduction, denominator: Double(n), S.self)
            let ga = try Tensor.zeros(input1.shape, dtype: S.dtype)
            let gb = try Tensor.zeros(input1.shape, dtype: S.dtype)
            let gap = ga.p(S.self)
            let gbp = gb.p(S.self)
            Parallel.chunks(n, costPerItem: 6 * dim) { r in
                for i in r {
                    let cosv = cp[i]
                    // dloss/dcos: -1 for y = 1; +1 for y = -1 while the clamp passes (cos - margin >= 0).
                    let dl: S = y[i] == 1 ? -1 : (y[i] == -1 && cosv - m >= 0 ? 1 : 0)
                    if dl == 0 { continue }
                    let a = ap + i * dim
                    let b = bp + i * dim
                    var m1: S = 1e-12
                    var m2: S = 1e-12
                    for k in 0..<dim {
                        m1 += a[k] * a[k]
                        m2 += b[k] * b[k]
                    }
                    let den = (m1 * m2).squareRoot()
                    let up = dl * (scalar ?? gp[i])
                    // dcos/da = b/den - cos·a/m1, dcos/db = a/den - cos·b/m2.
                    for k in 0..<dim {
                        gap[i * dim + k] = up * (b[k] / den - cosv * a[k] / m1)
                        gbp[i * dim + k] = up * (a[k] / den - cosv * b[k] / m2)
                    }
                }
            }
            return [ga, gb]
        }
    }
    return try input1.dtype == .float64 ? run(Double.self) : run(Float.self)
}

// MARK: triplet_margin_loss

/// torch.nn.functional.triplet_margin_loss: max(margin + d(a, p) - d(a, n), 0) per row,
/// d(x, y) = ‖x - y + eps‖_p over the last dimension; with `swap`, d(a, n) is replaced by
/// d(p, n) where that is smaller (ties split the gradient, as torch's minimum does).
public func tripletMarginLoss(
    _ anchor: Tensor, _ positive: Tensor, _ negative: Tensor, margin: Double = 1, p: Double = 2,
    eps: Double = 1e-6, swap: Bool = false, reduction: Reduction = .mean
) throws -> Tensor {
    let op = "triplet_margin_loss"
    try EW.sameFloat(anchor, positive, op)
    try EW.sameFloat(anchor, negative, op)
    guard anchor.shape == positive.shape, anchor.shape == negative.shape else {
        throw DFMError.shape(
            op,
            "anchor \(anchor.shape), positive \(positive.shape) and negative \(negative.shape) must have the same shape"
        )
    }
    guard margin > 0, margin.isFinite else {
        throw DFMError.invalid(op, "margin must be greater than 0, got \(margin)")
    }
    guard p > 0, p.isFinite, eps.isFinite else {
        throw DFMError.invalid(op, "p must be finite and > 0 and eps finite, got p \(p), eps \(eps)")
    }
    let (n, dim, batched) = try rows(anchor, op)
    func run<S: Real>(_: S.Type) throws -> Tensor {
        let pS = S(p)
        let e = S(eps)
        let m = S(margin)
        @inline(__always) func dist(_ x: UnsafeMutablePointer<S>, _ y: UnsafeMutablePointer<S>) -> S {
            var s: S = 0
            if p == 2 {
                for k in 0..<dim {
                    let v = x[k] - y[k] + e
                    s += v * v
                }
                return s.squareRoot()
            }
            if p == 1 {
                for k in 0..<dim { s += Swift.abs(x[k] - y[k] + e) }
                return s
            }
            for k in 0..<dim { s += S.pow(Swift.abs(x[k] - y[k] + e), pS) }
            return S.pow(s, 1 / pS)
        }
        /// Adds c·∂‖x - y + eps‖/∂x to gx and subtracts it from gy (torch's norm backward: 0 where the norm is 0).
        @inline(__always) func addGrad(
            _ c: S, _ x: UnsafeMutablePointer<S>, _ y: UnsafeMutablePointer<S>, _ d: S,
            _ gx: UnsafeMutablePointer<S>, _ gy: UnsafeMutablePointer<S>
        ) {
            guard d != 0 || p == 1 else { return }
            for k in 0..<dim {
                let v = x[k] - y[k] + e
                let dv: S =
                    p == 1
                    ? (v > 0 ? 1 : (v < 0 ? -1 : 0))
                    : (p == 2 ? v / d : v * S.pow(Swift.abs(v), pS - 2) / S.pow(d, pS - 1))
                gx[k] += c * dv
                gy[k] -= c * dv
            }
        }
        let l = try Tensor.uninitialized(batched ? [n] : [], dtype: S.dtype, op: op)
        let ap = anchor.p(S.self)
        let pp = positive.p(S.self)
        let np = negative.p(S.self)
        let lp = l.p(S.self)
        Parallel.chunks(n, costPerItem: 8 * dim) { r in
            for i in r {
                let o = i * dim
                let dap = dist(ap + o, pp + o)
                var dan = dist(ap + o, np + o)
                if swap { dan = Swift.min(dan, dist(pp + o, np + o)) }
                lp[i] = Swift.max(m + dap - dan, 0)
            }
        }
        return record(op, reduceRows(l, reduction, rowCount: n), [anchor, positive, negative]) { g in
            let ap = anchor.p(S.self)
            let pp = positive.p(S.self)
            let np = negative.p(S.self)
            let (gp, scalar) = upstream(g, reduction, denominator: Double(n), S.self)
            let ga = try Tensor.zeros(anchor.shape, dtype: S.dtype)
            let gpos = try Tensor.zeros(anchor.shape, dtype: S.dtype)
            let gn = try Tensor.zeros(anchor.shape, dtype: S.dtype)
            let gap = ga.p(S.self)
            let gpp = gpos.p(S.self)
            let gnp = gn.p(S.self)
            Parallel.chunks(n, costPerItem: 12 * dim) { r in
                for i in r {
                    let o = i * dim
                    let dap = dist(ap + o, pp + o)
                    let dan = dist(ap + o, np + o)
                    let dsw = swap ? dist(pp + o, np + o) : dan
                    let neg = swap ? Swift.min(dan, dsw) : dan
                    guard m + dap - neg >= 0 else { continue }  // clamp_min passes the gradient at 0
                    let up = scalar ?? gp[i]
                    addGrad(up, ap + o, pp + o, dap, gap + o, gpp + o)
                    // -d(neg): from d(a, n), d(p, n), or half of each on a tie.
                    let wA: S = !swap || dan < dsw ? 1 : (dan == dsw ? 0.5 : 0)
                    if wA != 0 { addGrad(-up * wA, ap + o, np + o, dan, gap + o, gnp + o) }
                    if 1 - wA != 0 { addGrad(-up * (1 - wA), pp + o, np + o, dsw, gpp + o, gnp + o) }
                }
            }
            return [ga, gpos, gn]
        }
    }
    return try anchor.dtype == .float64 ? run(Double.self) : run(Float.self)
}

// MARK: cross_entropy with class probabilities

/// torch's cross_entropy for a float `target` of the input's shape (class probabilities):
/// -Σ_c w[c]·t'[c]·log_softmax(x)[c], t' = t·(1 - ε) + ε/C; the mean divides by the number
/// of samples (numel / C), not by the weights. A composition of differentiable ops.
func crossEntropyProbabilities(
    _ input: Tensor, _ target: Tensor, weight: Tensor?, ignoreIndex: Int, reduction: Reduction,
    labelSmoothing: Double
) throws -> Tensor {
    let op = "cross_entropy"
    try EW.sameFloat(input, target, op)
    guard input.ndim >= 1 else {
        throw DFMError.shape(op, "input must have at least 1 dimension (C), got a 0-d tensor")
    }
    guard target.shape == input.shape else {
        throw DFMError.shape(op, "probability target shape \(target.shape) must match input shape \(input.shape)")
    }
    guard ignoreIndex < 0 else { throw DFMError.invalid(op, "ignore_index is not supported for floating point target") }
    let classDim = input.ndim == 1 ? 0 : 1
    let c = input.shape[classDim]
    var t = target
    if labelSmoothing > 0 { t = try add(try mul(target, 1 - labelSmoothing), labelSmoothing / Double(c)) }
    var prod = try mul(try logSoftmax(input, dim: classDim), t)
    if let weight {
        guard weight.dtype == input.dtype, weight.shape == [c] else {
            throw DFMError.shape(
                op,
                "weight tensor should be defined either for all \(c) classes or no classes but got weight tensor of shape: \(weight.shape)"
            )
        }
        var wShape = [Int](repeating: 1, count: input.ndim)
        wShape[classDim] = c
        prod = try mul(prod, try reshape(weight, wShape))
    }
    switch reduction {
    case .none: return try neg(try sum(prod, dims: [classDim]))
    case .sum: return try neg(try sum(prod))
    case .mean: return try div(try neg(try sum(prod)), Double(input.count / Swift.max(c, 1)))
    }
}
