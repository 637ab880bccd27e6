// Comparisons, logical ops and where. Comparisons return bool tensors and carry no
// gradient. Two float32 or two integer (int64, bool) tensors compare exactly; a mixed
// pair compares in float32, as torch promotes int64 to float. NaN compares unequal to
// everything (ne is true, the rest false).

/// Comparison predicates, generic so the same loop serves float32 and int64.
enum CompareOp {
    case eq, ne, lt, le, gt, ge

    @inline(__always)
    func callAsFunction<T: Comparable>(_ a: T, _ b: T) -> Bool {
        switch self {
        case .eq: return a == b
        case .ne: return a != b
        case .lt: return a < b
        case .le: return a <= b
        case .gt: return a > b
        case .ge: return a >= b
        }
    }

    var name: String {
        switch self {
        case .eq: return "eq"
        case .ne: return "ne"
        case .lt: return "lt"
        case .le: return "le"
        case .gt: return "gt"
        case .ge: return "ge"
        }
    }
}

/// a == b elementwise with broadcasting, as a bool tensor.
public func eq(_ a: Tensor, _ b: Tensor) throws -> Tensor { try compare(a, b, .eq) }
/// a != b elementwise with broadcasting, as a bool tensor.
public func ne(_ a: Tensor, _ b: Tensor) throws -> Tensor { try compare(a, b, .ne) }
/// a < b elementwise with broadcasting, as a bool tensor.
public func lt(_ a: Tensor, _ b: Tensor) throws -> Tensor { try compare(a, b, .lt) }
/// a <= b elementwise with broadcasting, as a bool tensor.
public func le(_ a: Tensor, _ b: Tensor) throws -> Tensor { try compare(a, b, .le) }
/// a > b elementwise with broadcasting, as a bool tensor.
public func gt(_ a: Tensor, _ b: Tensor) throws -> Tensor { try compare(a, b, .gt) }
/// a >= b elementwise with broadcasting, as a bool tensor.
public func ge(_ a: Tensor, _ b: Tensor) throws -> Tensor { try compare(a, b, .ge) }

/// a == s as a bool tensor (int64 tensors compare exactly up to 2^53).
public func eq(_ a: Tensor, _ s: Double) throws -> Tensor { try compare(a, s, .eq) }
public func ne(_ a: Tensor, _ s: Double) throws -> Tensor { try compare(a, s, .ne) }
public func lt(_ a: Tensor, _ s: Double) throws -> Tensor { try compare(a, s, .lt) }
public func le(_ a: Tensor, _ s: Double) throws -> Tensor { try compare(a, s, .le) }
public func gt(_ a: Tensor, _ s: Double) throws -> Tensor { try compare(a, s, .gt) }
public func ge(_ a: Tensor, _ s: Double) throws -> Tensor { try compare(a, s, .ge) }

/// torch.logical_and(a, b): both nonzero, with broadcasting, as bool (any input dtype).
public func logicalAnd(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try BoolKernels.binary(a, b, .and, op: "logical_and")
}
/// torch.logical_or(a, b) as bool.
public func logicalOr(_ a: Tensor, _ b: Tensor) throws -> Tensor { try BoolKernels.binary(a, b, .or, op: "logical_or") }
/// torch.logical_xor(a, b) as bool.
public func logicalXor(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    try BoolKernels.binary(a, b, .xor, op: "logical_xor")
}
/// torch.logical_not(a): `a == 0` as bool.
public func logicalNot(_ a: Tensor) throws -> Tensor { try BoolKernels.not(a, op: "logical_not") }

/// torch.where(cond, a, b) with `cond` bool (or any dtype: nonzero means true):
/// `a` where cond holds, else `b`, all three broadcast together. The gradient goes to `a`
/// where cond holds and to `b` elsewhere.
public func whereMask(_ cond: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
    let (a, b) = try promoteFloats(a, b)
    try EW.sameFloat(a, b, "where")
    let c = try BoolKernels.truth(cond, op: "where")
    let shape = try Shape.broadcast(try Shape.broadcast(c.shape, a.shape, op: "where"), b.shape, op: "where")
    let out = try select3(c, a, b, shape, op: "where")
    return record("where", out, [a, b]) { g in
        let zero = Tensor.scalar(0, dtype: g.dtype)
        return [
            a.requiresGrad ? try sumTo(try select3(c, g, zero, shape, op: "where_backward"), a.shape) : nil,
            b.requiresGrad ? try sumTo(try select3(c, zero, g, shape, op: "where_backward"), b.shape) : nil,
        ]
    }
}

/// torch.isnan / isinf / isfinite as bool (int64 and bool inputs are finite numbers).
public func isNaN(_ a: Tensor) throws -> Tensor { try classify(a, "isnan") { $0.isNaN } }
public func isInf(_ a: Tensor) throws -> Tensor { try classify(a, "isinf") { $0.isInfinite } }
public func isFinite(_ a: Tensor) throws -> Tensor { try classify(a, "isfinite", integers: true) { $0.isFinite } }

private func classify(_ a: Tensor, _ op: String, integers: Bool = false, _ f: (Double) -> Bool) throws -> Tensor {
    let out = try Tensor.uninitialized(a.shape, dtype: .bool, op: op)
    let o = out.b
    if a.dtype == .float32 {
        let p = a.f
        Parallel.chunks(a.count) { r in for k in r { o[k] = f(Double(p[k])) ? 1 : 0 } }
    } else if a.dtype == .float64 {
        let p = a.d
        Parallel.chunks(a.count) { r in for k in r { o[k] = f(p[k]) ? 1 : 0 } }
    } else {
        o.update(repeating: integers ? 1 : 0, count: a.count)
    }
    return out
}

// MARK: kernels

private func compare(_ a: Tensor, _ b: Tensor, _ c: CompareOp) throws -> Tensor {
    let shape = try Shape.broadcast(a.shape, b.shape, op: c.name)
    let out = try Tensor.uninitialized(shape, dtype: .bool, op: c.name)
    let sa = Shape.broadcastStrides(a.shape, to: shape)
    let sb = Shape.broadcastStrides(b.shape, to: shape)
    if !a.dtype.isFloat && !b.dtype.isFloat {
        let ai = try BoolKernels.toInt(a, op: c.name)
        let bi = try BoolKernels.toInt(b, op: c.name)
        withExtendedLifetime((ai, bi)) { walk2(shape, ai.i, sa, bi.i, sb, out.b, c) }
    } else if a.dtype == .float64 || b.dtype == .float64 {
        let af = try toDType(a, .float64)
        let bf = try toDType(b, .float64)
        withExtendedLifetime((af, bf)) { walk2(shape, af.d, sa, bf.d, sb, out.b, c) }
    } else {
        let af = try IntArith.promoted(a, op: c.name)
        let bf = try IntArith.promoted(b, op: c.name)
        withExtendedLifetime((af, bf)) { walk2(shape, af.f, sa, bf.f, sb, out.b, c) }
    }
    return out
}

private func compare(_ a: Tensor, _ s: Double, _ c: CompareOp) throws -> Tensor {
    let out = try Tensor.uninitialized(a.shape, dtype: .bool, op: c.name)
    let o = out.b
    if a.dtype == .float32 {
        // torch compares a float32 tensor with the scalar rounded to float32.
        let ap = a.f
        let sf = Float(s)
        Parallel.chunks(a.count) { r in for k in r { o[k] = c(ap[k], sf) ? 1 : 0 } }
    } else if a.dtype == .float64 {
        let ap = a.d
        Parallel.chunks(a.count) { r in for k in r { o[k] = c(ap[k], s) ? 1 : 0 } }
    } else {
        let ai = try BoolKernels.toInt(a, op: c.name)
        let sd = Double(s)
        withExtendedLifetime(ai) {  // ai may be a temporary: keep it alive while its pointer is read
            let ap = ai.i
            Parallel.chunks(a.count) { r in for k in r { o[k] = c(Double(ap[k]), sd) ? 1 : 0 } }
        }
    }
    return out
}

/// o = c(a, b) over `shape`, reading a and b through broadcast strides.
private func walk2<T: Comparable>(
    _ shape: [Int], _ ap: UnsafeMutablePointer<T>, _ sa: [Int],
    _ bp: UnsafeMutablePointer<T>, _ sb: [Int], _ o: UnsafeMutablePointer<UInt8>, _ c: CompareOp
) {
    EW.rows(shape) { row, inner, idx in
        var oa = 0
        var ob = 0
        for d in 0..<idx.count {
            oa += idx[d] * sa[d]
            ob += idx[d] * sb[d]
        }
        let ia = sa.last ?? 0
        let ib = sb.last ?? 0
        let orow = o + row * inner
        for q in 0..<inner { orow[q] = c(ap[oa + q * ia], bp[ob + q * ib]) ? 1 : 0 }
    }
}

/// out = c ? a : b over `shape` (c bool; a, b of one float dtype; all broadcast to `shape`).
private func select3(_ c: Tensor, _ a: Tensor, _ b: Tensor, _ shape: [Int], op: String) throws -> Tensor {
    a.dtype == .float64
        ? try select3(c, a.d, a.shape, b.d, b.shape, shape, op: op)
        : try select3(c, a.f, a.shape, b.f, b.shape, shape, op: op)
}

private func select3<S: Real>(
    _ c: Tensor, _ ap: UnsafeMutablePointer<S>, _ aShape: [Int], _ bp: UnsafeMutablePointer<S>,
    _ bShape: [Int], _ shape: [Int], op: String
) throws -> Tensor {
    let out = try Tensor.uninitialized(shape, dtype: S.dtype, op: op)
    let sc = Shape.broadcastStrides(c.shape, to: shape)
    let sa = Shape.broadcastStrides(aShape, to: shape)
    let sb = Shape.broadcastStrides(bShape, to: shape)
    let cp = c.b
    let o = out.p(S.self)
    EW.rows(shape) { row, inner, idx in
        var oc = 0
        var oa = 0
        var ob = 0
        for d in 0..<idx.count {
            oc += idx[d] * sc[d]
            oa += idx[d] * sa[d]
            ob += idx[d] * sb[d]
        }
        let ic = sc.last ?? 0
        let ia = sa.last ?? 0
        let ib = sb.last ?? 0
        let orow = o + row * inner
        for q in 0..<inner { orow[q] = cp[oc + q * ic] != 0 ? ap[oa + q * ia] : bp[ob + q * ib] }
    }
    return out
}
