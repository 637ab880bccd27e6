import Foundation

/// torch.nn.functional.dropout: in training, zeroes each element with probability `p`
/// and scales the survivors by 1/(1-p); in eval (or p = 0) returns `x` unchanged.
/// The mask comes from `generator` (the global one when nil), so a seed fixes it.
public func dropout(_ x: Tensor, p: Float = 0.5, training: Bool = true, generator: Generator? = nil) throws -> Tensor {
    let op = "dropout"
    guard p >= 0, p <= 1 else {
        throw DFMError.invalid(op, "dropout probability has to be between 0 and 1, but got \(p)")
    }
    try EW.checkFloat(x, op)
    if !training || p == 0 { return x }
    // mask[k] is 0 or 1/(1-p); p = 1 drops everything (torch returns zeros, not NaN).
    let mask = try dropoutMask(x.shape, like: x, p: p, generator: generator, op: op)
    let out = try EW.zip(x, mask, op: op, FloatOps.Mul())
    return record(op, out, [x]) { g in [try EW.zip(g, mask, op: "dropout_backward", FloatOps.Mul())] }
}

/// torch's feature dropout (_VF.feature_dropout, behind F.dropout1d/2d/3d): zeroes whole
/// feature maps x[n, c, ...] with probability `p` and scales the rest by 1/(1-p). `x` is
/// (N, C, *); the mask has shape (N, C, 1, ...) and broadcasts.
public func featureDropout(_ x: Tensor, p: Float = 0.5, training: Bool = true, generator: Generator? = nil) throws
    -> Tensor
{
    let op = "feature_dropout"
    guard p >= 0, p <= 1 else {
        throw DFMError.invalid(op, "dropout probability has to be between 0 and 1, but got \(p)")
    }
    try EW.checkFloat(x, op)
    guard x.ndim >= 2 else {
        throw DFMError.shape(op, "expected an input of at least 2 dimensions (N, C, *), got shape \(x.shape)")
    }
    if !training || p == 0 { return x }
    let maskShape = [x.shape[0], x.shape[1]] + [Int](repeating: 1, count: x.ndim - 2)
    return try mul(x, try dropoutMask(maskShape, like: x, p: p, generator: generator, op: op))
}

/// A tensor of `shape` and x's dtype holding 0 (probability p) or 1/(1-p). Its draws are
/// float32 in either precision (same seed, same mask).
private func dropoutMask(_ shape: [Int], like x: Tensor, p: Float, generator: Generator?, op: String) throws -> Tensor {
    let mask = try Tensor.uninitialized(shape, dtype: x.dtype, op: op)
    func fill<S: Real>(_ mp: UnsafeMutablePointer<S>) {
        let scale = 1 / (1 - S(p))
        // Keep when u < 1 - p, with u uniform on the 2^24 grid of [0, 1).
        let keep = 1 - p
        (generator ?? .default).fillBlocks(mask.count, costPerItem: 2) { s, r in
            for k in r { mp[k] = s.uniformFloat() < keep ? scale : 0 }
        }
    }
    if p == 1 {
        mask.fill_(0)
    } else if x.dtype == .float64 {
        fill(mask.d)
    } else {
        fill(mask.f)
    }
    return mask
}
