// int64 and bool kernels, and torch's type promotion for the arithmetic ops.
//
// torch semantics: int64 ∘ int64 stays int64 for add/sub/mul/pow/neg/abs/clamp/sum,
// wrapping on overflow (two's complement, like torch's CPU kernels); a mix of int64 and
// float32 (or a fractional scalar) computes in float32; division is true division, so it
// always gives float32. A scalar arrives as a Float (the C ABI's type): an integral value
// acts as torch's Python int. int64 tensors never require grad, so none of the int64
// paths records a graph node. A bool operand counts as int64 (True is 1), except that
// bool + bool and bool * bool stay bool (logical or / and) and bool - bool is refused.

enum IntKernels {
    enum Op {
        case add, sub, mul, pow, floorDiv, mod
        @inline(__always) func apply(_ a: Int64, _ b: Int64) -> Int64 {
            switch self {
            case .add: return a &+ b
            case .sub: return a &- b
            case .mul: return a &* b
            case .pow: return IntKernels.power(a, b)
            // b != 0 is checked before the kernel runs; Int64.min / -1 wraps like torch.
            case .floorDiv:
                let q = a.dividedReportingOverflow(by: b).partialValue
                let r = a.remainderReportingOverflow(dividingBy: b).partialValue
                return r != 0 && (r < 0) != (b < 0) ? q &- 1 : q
            case .mod:
                let r = a.remainderReportingOverflow(dividingBy: b).partialValue
                return r != 0 && (r < 0) != (b < 0) ? r &+ b : r
            }
        }
        var divides: Bool { self == .floorDiv || self == .mod }
    }

    /// a ** b with wrapping multiplication. A negative exponent gives what torch's integer
    /// kernel gives: 1 for a == 1, ±1 for a == -1, 0 otherwise.
    @inline(__always)
    static func power(_ a: Int64, _ b: Int64) -> Int64 {
        if b < 0 { return a == 1 ? 1 : a == -1 ? (b & 1 == 0 ? 1 : -1) : 0 }
        var result: Int64 = 1
        var base = a
        var e = b
        while e > 0 {
            if e & 1 == 1 { result = result &* base }
            base = base &* base
            e >>= 1
        }
        return result
    }

    /// torch.clamp for int64 with integer bounds (max wins when min > max, as in torch).
    static func clamp(_ x: Tensor, min lo: Int64?, max hi: Int64?, op: String) throws -> Tensor {
        let l = lo ?? .min
        let h = hi ?? .max
        return try map(x, op: op) { Swift.min(Swift.max($0, l), h) }
    }

    /// a ∘ b for two int64 tensors with NumPy broadcasting.
    static func binary(_ a: Tensor, _ b: Tensor, _ f: Op, op: String) throws -> Tensor {
        let shape = a.shape == b.shape ? a.shape : try Shape.broadcast(a.shape, b.shape, op: op)
        let out = try Tensor.uninitialized(shape, dtype: .int64, op: op)
        let ap = a.i
        let bp = b.i
        let o = out.i
        if a.shape == b.shape {
            Parallel.chunks(out.count) { r in for k in r { o[k] = f.apply(ap[k], bp[k]) } }
            return out
        }
        let sa = Shape.broadcastStrides(a.shape, to: shape)
        let sb = Shape.broadcastStrides(b.shape, to: shape)
        let ia = sa.last ?? 0
        let ib = sb.last ?? 0
        EW.rows(shape) { row, inner, idx in
            var oa = 0
            var ob = 0
            for d in 0..<idx.count {
                oa += idx[d] * sa[d]
                ob += idx[d] * sb[d]
            }
            let orow = o + row * inner
            for q in 0..<inner { orow[q] = f.apply(ap[oa + q * ia], bp[ob + q * ib]) }
        }
        return out
    }

    /// x ∘ s, or s ∘ x when `reversed`, for an int64 tensor and an integer scalar.
    static func scalar(_ x: Tensor, _ s: Int64, _ f: Op, reversed: Bool = false, op: String) throws -> Tensor {
        let out = try Tensor.uninitialized(x.shape, dtype: .int64, op: op)
        let xp = x.i
        let o = out.i
        if reversed {
            Parallel.chunks(x.count) { r in for k in r { o[k] = f.apply(s, xp[k]) } }
        } else {
            Parallel.chunks(x.count) { r in for k in r { o[k] = f.apply(xp[k], s) } }
        }
        return out
    }

    /// out[k] = f(x[k]) for an int64 tensor.
    static func map(_ x: Tensor, op: String, _ f: (Int64) -> Int64) throws -> Tensor {
        let out = try Tensor.uninitialized(x.shape, dtype: .int64, op: op)
        let xp = x.i
        let o = out.i
        Parallel.chunks(x.count) { r in for k in r { o[k] = f(xp[k]) } }
        return out
    }

    /// Sums an int64 tensor into a tensor of shape `keep` (same rank, 1 on reduced dims).
    /// Wrapping addition is associative, so the order (and thread count) cannot change the result.
    static func sum(_ x: Tensor, keep: [Int], op: String) throws -> Tensor {
        let out = try Tensor.zeros(keep, dtype: .int64)
        let xp = x.i
        let o = out.i
        let n = x.count
        if n == 0 { return out }
        if out.count == 1 {
            let nb = Swift.min(Parallel.threads, Swift.max(1, n / 32_768))
            var partial = [Int64](repeating: 0, count: nb)
            partial.withUnsafeMutableBufferPointer { pp in
                let p = pp.baseAddress!  // nb >= 1
                Parallel.chunks(nb, costPerItem: n / nb) { r in
                    for b in r {
                        var s: Int64 = 0
                        for k in (n * b / nb)..<(n * (b + 1) / nb) { s &+= xp[k] }
                        p[b] = s
                    }
                }
            }
            o[0] = partial.reduce(0, &+)
            return out
        }
        // One walk over the input in row-major order; each element adds into its output cell,
        // found by the output strides (0 on reduced dims). Label tensors are small: one thread.
        let nd = x.ndim
        let os = Shape.strides(keep).enumerated().map { keep[$0.offset] == 1 ? 0 : $0.element }
        var idx = [Int](repeating: 0, count: nd)
        var off = 0
        for k in 0..<n {
            o[off] &+= xp[k]
            var d = nd - 1
            while d >= 0 {
                idx[d] += 1
                off += os[d]
                if idx[d] < x.shape[d] { break }
                off -= os[d] * x.shape[d]
                idx[d] = 0
                d -= 1
            }
        }
        return out
    }

    /// Materialises int64 or bool `x` broadcast to `shape` (shape already validated).
    static func expand(_ x: Tensor, to shape: [Int]) throws -> Tensor {
        let out = try Tensor.uninitialized(shape, dtype: x.dtype, op: "expand")
        CopyKernels.strided(
            shape, src: x, srcStrides: Shape.broadcastStrides(x.shape, to: shape),
            dst: out, dstStrides: Shape.strides(shape))
        return out
    }

    /// int64 → float32 or float64, rounding to nearest like torch (exact for |v| <= 2^24 or 2^53).
    static func toFloat(_ x: Tensor, op: String, _ dtype: DType = .float32) throws -> Tensor {
        let out = try Tensor.uninitialized(x.shape, dtype: dtype, op: op)
        if dtype == .float64 {
            let xp = x.i
            let o = out.d
            Parallel.chunks(x.count) { r in for k in r { o[k] = Double(xp[k]) } }
        } else {
            let xp = x.i
            let o = out.f
            Parallel.chunks(x.count) { r in for k in r { o[k] = Float(xp[k]) } }
        }
        return out
    }

    /// float → int64, truncating toward zero like torch; NaN, ±inf and values outside the
    /// int64 range throw (torch leaves them undefined), naming the first offending value.
    static func toInt(_ x: Tensor, op: String) throws -> Tensor {
        x.dtype == .float64 ? try toInt(x, x.d, op: op) : try toInt(x, x.f, op: op)
    }

    private static func toInt<S: Real>(_ x: Tensor, _ xp: UnsafeMutablePointer<S>, op: String) throws -> Tensor {
        let out = try Tensor.uninitialized(x.shape, dtype: .int64, op: op)
        let o = out.i
        let n = x.count
        // -2^63 is representable; 2^63 is the first value past Int64.max.
        let lo: S = -0x1p63
        let hi: S = 0x1p63
        // Fixed blocks, each noting its first bad element, so the error names the first one overall.
        let block = 8192
        let nb = (n + block - 1) / block
        var firstBad = [Int](repeating: n, count: nb)
        firstBad.withUnsafeMutableBufferPointer { fb in
            Parallel.chunks(nb, costPerItem: block) { r in
                for b in r {
                    for k in (b * block)..<Swift.min(n, (b + 1) * block) {
                        let v = xp[k]
                        guard v >= lo, v < hi else {
                            fb[b] = k
                            break
                        }  // false for NaN too
                        o[k] = Int64(v)
                    }
                }
            }
        }
        if let bad = firstBad.first(where: { $0 < n }) {
            let v = xp[bad]
            throw DFMError.invalid(
                op,
                "cannot convert \(v) (element \(bad)) to int64: "
                    + (v.isNaN
                        ? "the value is NaN" : v.isInfinite ? "the value is infinite" : "it is outside the int64 range")
            )
        }
        return out
    }

    /// An integral scalar, when `s` holds one that fits int64 (the binding passes Python ints
    /// as floats; a non-integral scalar promotes the int64 operand to float32 instead).
    static func integral(_ s: Double) -> Int64? {
        guard s.rounded(.towardZero) == s, s >= -0x1p63, s < 0x1p63 else { return nil }
        return Int64(s)
    }
}

/// bool conversions and the logical ops. Inputs of any dtype read as "nonzero is true"
/// (NaN is true, as in torch); outputs hold 0 or 1.
enum BoolKernels {
    enum Op {
        case and, or, xor
        @inline(__always) func apply(_ a: Bool, _ b: Bool) -> Bool {
            switch self {
            case .and: return a && b
            case .or: return a || b
            case .xor: return a != b
            }
        }
    }

    /// `x != 0` as a bool tensor (`x` itself when it is bool already).
    static func truth(_ x: Tensor, op: String) throws -> Tensor {
        if x.dtype == .bool { return x }
        let out = try Tensor.uninitialized(x.shape, dtype: .bool, op: op)
        let o = out.b
        if x.dtype == .float32 {
            let p = x.f
            Parallel.chunks(x.count) { r in for k in r { o[k] = p[k] != 0 ? 1 : 0 } }
        } else if x.dtype == .float64 {
            let p = x.d
            Parallel.chunks(x.count) { r in for k in r { o[k] = p[k] != 0 ? 1 : 0 } }
        } else if x.dtype == .uint8 {
            let p = x.u
            Parallel.chunks(x.count) { r in for k in r { o[k] = p[k] != 0 ? 1 : 0 } }
        } else {
            let p = x.i
            Parallel.chunks(x.count) { r in for k in r { o[k] = p[k] != 0 ? 1 : 0 } }
        }
        return out
    }

    /// bool (0/1) and uint8 (0...255) → int64; other dtypes pass through. The integer kernels
    /// compute in int64 only.
    static func toInt(_ x: Tensor, op: String) throws -> Tensor {
        guard x.dtype == .bool || x.dtype == .uint8 else { return x }
        let out = try Tensor.uninitialized(x.shape, dtype: .int64, op: op)
        let p = x.b
        let o = out.i
        if x.dtype == .bool {
            Parallel.chunks(x.count) { r in for k in r { o[k] = p[k] != 0 ? 1 : 0 } }
        } else {
            Parallel.chunks(x.count) { r in for k in r { o[k] = Int64(p[k]) } }
        }
        return out
    }

    /// int64 → uint8, wrapping modulo 256 as torch's conversion does.
    static func toUInt8(_ x: Tensor, op: String) throws -> Tensor {
        let xi = try toInt(x, op: op)
        let out = try Tensor.uninitialized(x.shape, dtype: .uint8, op: op)
        let p = xi.i
        let o = out.u
        withExtendedLifetime(xi) {
            Parallel.chunks(x.count) { r in for k in r { o[k] = UInt8(truncatingIfNeeded: p[k]) } }
        }
        return out
    }

    /// bool → float32 (or float64) 0/1.
    static func toFloat(_ x: Tensor, op: String, _ dtype: DType = .float32) throws -> Tensor {
        let out = try Tensor.uninitialized(x.shape, dtype: dtype, op: op)
        let p = x.b
        if dtype == .float64 {
            let o = out.d
            Parallel.chunks(x.count) { r in for k in r { o[k] = p[k] != 0 ? 1 : 0 } }
        } else {
            let o = out.f
            Parallel.chunks(x.count) { r in for k in r { o[k] = p[k] != 0 ? 1 : 0 } }
        }
        return out
    }

    /// a ∘ b with NumPy broadcasting, as bool.
    static func binary(_ a: Tensor, _ b: Tensor, _ f: Op, op: String) throws -> Tensor {
        let ta = try truth(a, op: op)
        let tb = try truth(b, op: op)
        let shape = try Shape.broadcast(a.shape, b.shape, op: op)
        let out = try Tensor.uninitialized(shape, dtype: .bool, op: op)
        let sa = Shape.broadcastStrides(a.shape, to: shape)
        let sb = Shape.broadcastStrides(b.shape, to: shape)
        let ap = ta.b
        let bp = tb.b
        let o = out.b
        let ia = sa.last ?? 0
        let ib = sb.last ?? 0
        // ta and tb may be temporaries: keep them alive while their pointers are read.
        withExtendedLifetime((ta, tb)) {
            EW.rows(shape) { row, inner, idx in
                var oa = 0
                var ob = 0
                for d in 0..<idx.count {
                    oa += idx[d] * sa[d]
                    ob += idx[d] * sb[d]
                }
                let orow = o + row * inner
                for q in 0..<inner { orow[q] = f.apply(ap[oa + q * ia] != 0, bp[ob + q * ib] != 0) ? 1 : 0 }
            }
        }
        return out
    }

    /// logical not: `x == 0` as bool.
    static func not(_ x: Tensor, op: String) throws -> Tensor {
        let t = try truth(x, op: op)
        let out = try Tensor.uninitialized(x.shape, dtype: .bool, op: op)
        let p = t.b
        let o = out.b
        withExtendedLifetime(t) { Parallel.chunks(x.count) { r in for k in r { o[k] = p[k] != 0 ? 0 : 1 } } }
        return out
    }
}

/// Dtype dispatch for the arithmetic ops: each float32 op calls in here first when an
/// operand is int64 or bool (a one-line hook at the top of the op).
enum IntArith {
    /// Tensor-tensor add/sub/mul/div/pow with at least one int64 or bool operand.
    static func binary(
        _ a: Tensor, _ b: Tensor, _ f: IntKernels.Op?, op: String,
        float: (Tensor, Tensor) throws -> Tensor
    ) throws -> Tensor {
        if f == .sub && (a.dtype == .bool || b.dtype == .bool) { throw boolSubtraction(op) }
        if a.dtype == .bool && b.dtype == .bool {
            if f == .add { return try BoolKernels.binary(a, b, .or, op: op) }
            if f == .mul { return try BoolKernels.binary(a, b, .and, op: op) }
        }
        // uint8 ∘ uint8 (or with bool) stays uint8, wrapping (torch); with int64 it is int64.
        let bytes =
            (a.dtype == .uint8 || b.dtype == .uint8) && !a.dtype.isFloat && !b.dtype.isFloat
            && a.dtype != .int64 && b.dtype != .int64
        let a = try BoolKernels.toInt(a, op: op)
        let b = try BoolKernels.toInt(b, op: op)
        if let f, a.dtype == .int64, b.dtype == .int64 {
            if f.divides, UnsafeBufferPointer(start: b.i, count: b.count).contains(0) {
                throw DFMError.invalid(op, "ZeroDivisionError: integer division by zero")
            }
            let r = try IntKernels.binary(a, b, f, op: op)
            return bytes ? try BoolKernels.toUInt8(r, op: op) : r
        }
        // Mixed, or division: compute in the float operand's dtype (float32 when neither is
        // float). The float operand is passed through unchanged, so its gradient flows; the
        // converted int64 operand never requires grad.
        let target: DType = a.dtype == .float64 || b.dtype == .float64 ? .float64 : .float32
        return try float(try promoted(a, target, op: op), try promoted(b, target, op: op))
    }

    /// int64 (or bool) tensor ∘ scalar: integral scalars stay int64, others compute in float32.
    static func scalar(
        _ x: Tensor, _ s: Double, _ f: IntKernels.Op?, reversed: Bool = false, op: String,
        float: (Tensor, Double) throws -> Tensor
    ) throws -> Tensor {
        if f == .sub && x.dtype == .bool { throw boolSubtraction(op) }
        let bytes = x.dtype == .uint8  // uint8 with an int scalar stays uint8 (torch)
        let x = try BoolKernels.toInt(x, op: op)
        if let f, let v = IntKernels.integral(s) {
            if f.divides, reversed ? UnsafeBufferPointer(start: x.i, count: x.count).contains(0) : v == 0 {
                throw DFMError.invalid(op, "ZeroDivisionError: integer division by zero")
            }
            let r = try IntKernels.scalar(x, v, f, reversed: reversed, op: op)
            return bytes ? try BoolKernels.toUInt8(r, op: op) : r
        }
        return try float(try IntKernels.toFloat(x, op: op), s)
    }

    /// int64 ** scalar: an integral exponent stays int64 (negative ones are refused, as torch
    /// does for a scalar exponent); others compute in float32.
    static func pow(_ x: Tensor, _ p: Double, float: (Tensor, Double) throws -> Tensor) throws -> Tensor {
        let x = try BoolKernels.toInt(x, op: "pow")
        guard let v = IntKernels.integral(p) else { return try float(try IntKernels.toFloat(x, op: "pow"), p) }
        guard v >= 0 else {
            throw DFMError.invalid("pow", "integers to negative integer powers are not allowed (exponent \(v))")
        }
        return try IntKernels.scalar(x, v, .pow, op: "pow")
    }

    /// int64 clamp: integral (or absent) bounds keep int64; a fractional bound computes in float32.
    static func clamp(
        _ x: Tensor, min lo: Double?, max hi: Double?,
        float: (Tensor, Double?, Double?) throws -> Tensor
    ) throws -> Tensor {
        let x = try BoolKernels.toInt(x, op: "clamp")
        let l = lo.map(IntKernels.integral)
        let h = hi.map(IntKernels.integral)
        if l.map({ $0 != nil }) ?? true, h.map({ $0 != nil }) ?? true {
            return try IntKernels.clamp(x, min: l ?? nil, max: h ?? nil, op: "clamp")
        }
        return try float(try IntKernels.toFloat(x, op: "clamp"), lo, hi)
    }

    static func boolSubtraction(_ op: String) -> DFMError {
        DFMError.type(
            op,
            "Subtraction, the `-` operator, with a bool tensor is not supported. "
                + "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    }

    /// int64 or bool → `dtype` (float32 or float64); float tensors unchanged.
    static func promoted(_ x: Tensor, _ dtype: DType = .float32, op: String) throws -> Tensor {
        switch x.dtype {
        case .float32, .float64: return x
        case .int64: return try IntKernels.toFloat(x, op: op, dtype)
        case .bool: return try BoolKernels.toFloat(x, op: op, dtype)
        case .uint8: return try IntKernels.toFloat(try BoolKernels.toInt(x, op: op), op: op, dtype)
        }
    }
}
