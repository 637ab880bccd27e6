import Foundation

// MARK: ctc_loss

/// torch.nn.functional.ctc_loss: the negative log-likelihood of each target sequence under
/// the alignments of `logProbs` (T, N, C) or unbatched (T, C) (log-softmax outputs), by the
/// forward (α) recursion in log space; the backward pass runs the β recursion and returns
/// torch's gradient, exp(lp) - exp(log Σ_{s: l'_s = c} α·β + nll - lp), which is the exact
/// gradient once composed with log_softmax (torch's own convention).
/// `targets` is (N, S) padded or 1-D concatenated (Σ targetLengths); mean divides each loss
/// by its target length (at least 1), then averages over the batch.
public func ctcLoss(
    _ logProbs: Tensor, _ targets: Tensor, inputLengths: [Int], targetLengths: [Int], blank: Int = 0,
    reduction: Reduction = .mean, zeroInfinity: Bool = false
) throws -> Tensor {
    let op = "ctc_loss"
    try EW.checkFloat(logProbs, op)
    guard logProbs.ndim == 3 || logProbs.ndim == 2 else {
        throw DFMError.shape(op, "log_probs must be (T, N, C) or (T, C), got shape \(logProbs.shape)")
    }
    let batched = logProbs.ndim == 3
    let tMax = logProbs.shape[0]
    let n = batched ? logProbs.shape[1] : 1
    let c = logProbs.shape[logProbs.ndim - 1]
    guard targets.dtype == .int64 else { throw DFMError.type(op, "targets must be int64, got \(targets.dtype)") }
    guard inputLengths.count == n, targetLengths.count == n else {
        throw DFMError.shape(
            op,
            "input_lengths (\(inputLengths.count)) and target_lengths (\(targetLengths.count)) must have one entry per batch element (\(n))"
        )
    }
    guard blank >= 0, blank < c else {
        throw DFMError.index(op, "blank must be in label range [0, \(c)), got \(blank)")
    }
    for (i, l) in inputLengths.enumerated() where l < 0 || l > tMax {
        throw DFMError.invalid(
            op,
            "Expected input_lengths to have value at most \(tMax), but got value \(l) (while checking arguments for ctc_loss_cpu) at batch element \(i)"
        )
    }
    // Where each target sequence starts in `targets`.
    var offsets = [Int](repeating: 0, count: n)
    let concatenated = targets.ndim == 1 && batched || (!batched && targets.ndim == 1)
    if batched && targets.ndim == 2 {
        guard targets.shape[0] == n else {
            throw DFMError.shape(op, "targets (N, S) must have N = \(n) rows, got \(targets.shape)")
        }
        for i in 0..<n { offsets[i] = i * targets.shape[1] }
        for (i, l) in targetLengths.enumerated() where l < 0 || l > targets.shape[1] {
            throw DFMError.invalid(
                op,
                "Expected tensor to have size at least \(l) at dimension 1, but got size \(targets.shape[1]) for argument #2 'targets' (batch element \(i))"
            )
        }
    } else if concatenated {
        var off = 0
        for (i, l) in targetLengths.enumerated() {
            guard l >= 0, l <= targets.count else {
                throw DFMError.invalid(
                    op, "target_lengths must be in [0, \(targets.count)], got \(l) at batch element \(i)")
            }
            offsets[i] = off
            off += l
        }
        guard off <= targets.count else {
            throw DFMError.shape(op, "target_lengths sum to \(off) but targets holds \(targets.count) labels")
        }
    } else {
        throw DFMError.shape(op, "targets must be (N, S) or 1-D concatenated, got shape \(targets.shape)")
    }
    for i in 0..<n {
        for k in 0..<targetLengths[i] {
            let v = targets.i[offsets[i] + k]
            guard v >= 0, v < Int64(c), v != Int64(blank) else {
                throw DFMError.index(
                    op, "target label \(v) of batch element \(i) must be in [0, \(c)) and not the blank (\(blank))")
            }
        }
    }
    let maxS = targetLengths.max() ?? 0
    let width = 2 * maxS + 1
    // l'_s: the target with blanks between and around, per batch element.
    func label(_ i: Int, _ s: Int) -> Int { s % 2 == 0 ? blank : Int(targets.i[offsets[i] + s / 2]) }

    func run<S: Real>(_: S.Type) throws -> Tensor {
        let lp = logProbs.p(S.self)
        // lp[t, i, k] for the (T, N, C) layout (N = 1 when unbatched).
        @inline(__always) func at(_ t: Int, _ i: Int, _ k: Int) -> S { lp[(t * n + i) * c + k] }
        @inline(__always) func lse(_ a: S, _ b: S, _ d: S) -> S {
            var m = Swift.max(a, Swift.max(b, d))
            if m == -.infinity { m = 0 }
            return S.log(S.exp(a - m) + S.exp(b - m) + S.exp(d - m)) + m
        }
        let alpha = try Tensor.full([n, tMax, width], -Double.infinity, dtype: S.dtype)
        let nll = try Tensor.uninitialized([n], dtype: S.dtype, op: op)
        let ap = alpha.p(S.self)
        let np = nll.p(S.self)
        Parallel.chunks(n, costPerItem: tMax * width * 8) { r in
            for i in r {
                let len = inputLengths[i]
                let sl = targetLengths[i]
                let w = 2 * sl + 1
                let a = ap + i * tMax * width
                if len == 0 {
                    np[i] = sl == 0 ? 0 : .infinity
                    continue
                }
                a[0] = at(0, i, blank)
                if sl > 0 { a[1] = at(0, i, label(i, 1)) }
                if len > 1 {
                    for t in 1..<len {
                        let prev = a + (t - 1) * width
                        let cur = a + t * width
                        for s in 0..<w {
                            let l = label(i, s)
                            let a1 = prev[s]
                            let a2 = s > 0 ? prev[s - 1] : -S.infinity
                            let a3 = s > 1 && l != blank && label(i, s - 2) != l ? prev[s - 2] : -S.infinity
                            cur[s] = lse(a1, a2, a3) + at(t, i, l)
                        }
                    }
                }
                let last = a + (len - 1) * width
                np[i] = -lse(last[w - 1], w > 1 ? last[w - 2] : -S.infinity, -S.infinity)
            }
        }
        // Per-sample losses, zeroed where infinite with zeroInfinity; then torch's reduction.
        let losses = try Tensor.uninitialized(batched ? [n] : [], dtype: S.dtype, op: op)
        let lo = losses.p(S.self)
        for i in 0..<n { lo[i] = zeroInfinity && np[i] == .infinity ? 0 : np[i] }
        let out: Tensor
        switch reduction {
        case .none: out = losses
        case .sum: out = reduceLoss(losses, .sum, denominator: 1)
        case .mean:
            var s: Double = 0
            for i in 0..<n { s += Double(lo[i] / S(Swift.max(targetLengths[i], 1))) }
            out = Tensor.scalar(s / Double(n), dtype: S.dtype)
        }
        return record(op, out, [logProbs]) { g in
            let lp = logProbs.p(S.self)
            let ap = alpha.p(S.self)
            let np = nll.p(S.self)
            let gp = g.p(S.self)
            let grad = try Tensor.zeros(logProbs.shape, dtype: S.dtype)
            let dp = grad.p(S.self)
            Parallel.chunks(n, costPerItem: tMax * (width + c) * 10) { r in
                var beta = [S](repeating: -.infinity, count: tMax * width)
                var lcab = [S](repeating: -.infinity, count: c)
                for i in r {
                    let len = inputLengths[i]
                    let sl = targetLengths[i]
                    let w = 2 * sl + 1
                    let nl = np[i]
                    // Upstream scale for this sample.
                    let up: S
                    switch reduction {
                    case .none: up = gp[i]
                    case .sum: up = gp[0]
                    case .mean: up = gp[0] / S(Swift.max(sl, 1)) / S(n)
                    }
                    if len == 0 || (zeroInfinity && nl == .infinity) { continue }
                    let a = ap + i * tMax * width
                    for k in 0..<(tMax * width) { beta[k] = -.infinity }
                    let lastT = (len - 1) * width
                    beta[lastT + w - 1] = lp[((len - 1) * n + i) * c + blank]
                    if sl > 0 { beta[lastT + w - 2] = lp[((len - 1) * n + i) * c + label(i, w - 2)] }
                    if len > 1 {
                        for t in stride(from: len - 2, through: 0, by: -1) {
                            for s in 0..<w {
                                let l = label(i, s)
                                let b1 = beta[(t + 1) * width + s]
                                let b2 = s < w - 1 ? beta[(t + 1) * width + s + 1] : -S.infinity
                                let b3 =
                                    s < w - 2 && l != blank && label(i, s + 2) != l
                                    ? beta[(t + 1) * width + s + 2] : -S.infinity
                                beta[t * width + s] = lse(b1, b2, b3) + lp[(t * n + i) * c + l]
                            }
                        }
                    }
                    for t in 0..<len {
                        for k in 0..<c { lcab[k] = -.infinity }
                        for s in 0..<w {
                            let l = label(i, s)
                            let v = a[t * width + s] + beta[t * width + s]
                            let m = Swift.max(lcab[l], v)
                            lcab[l] = m == -.infinity ? -.infinity : S.log(S.exp(lcab[l] - m) + S.exp(v - m)) + m
                        }
                        for k in 0..<c {
                            let x = lp[(t * n + i) * c + k]
                            dp[(t * n + i) * c + k] = (S.exp(x) - S.exp(lcab[k] + nl - x)) * up
                        }
                    }
                }
            }
            return [grad]
        }
    }
    return try logProbs.dtype == .float64 ? run(Double.self) : run(Float.self)
}
