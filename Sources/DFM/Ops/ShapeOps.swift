// Shape ops. dfm tensors are always contiguous, so reshape is a view (shared
// memory) and the others copy.

/// torch.reshape / view: one dimension may be -1.
public func reshape(_ x: Tensor, _ shape: [Int]) throws -> Tensor {
    let target = try inferShape(shape, count: x.count, from: x.shape, op: "reshape")
    if target == x.shape { return x }
    let out = x.viewAs(target)
    return record("reshape", out, [x]) { g in [g.viewAs(x.shape)] }
}

func inferShape(_ shape: [Int], count: Int, from: [Int], op: String) throws -> [Int] {
    var s = shape
    let unknown = s.indices.filter { s[$0] == -1 }
    guard unknown.count <= 1 else { throw DFMError.invalid(op, "only one dimension can be inferred in \(shape)") }
    for d in s where d < -1 { throw DFMError.invalid(op, "invalid shape dimension \(d) in \(shape)") }
    let known = try Shape.count(s.filter { $0 != -1 }, op: op)
    if let u = unknown.first {
        guard known != 0, count % known == 0 else {
            throw DFMError.shape(op, "shape \(shape) is invalid for input of size \(count) (shape \(from))")
        }
        s[u] = count / known
    }
    guard try Shape.count(s, op: op) == count else {
        throw DFMError.shape(op, "shape \(shape) is invalid for input of size \(count) (shape \(from))")
    }
    return s
}

// MARK: permute / transpose

/// torch.permute: a copy with axes reordered (out.shape[k] = x.shape[dims[k]]).
public func permute(_ x: Tensor, _ dims: [Int]) throws -> Tensor {
    guard dims.count == x.ndim else {
        throw DFMError.shape(
            "permute",
            "number of dimensions in the tensor input does not match the length of the desired ordering of dimensions i.e. input.dim() = \(x.ndim) is not equal to len(dims) = \(dims.count)"
        )
    }
    var seen = [Bool](repeating: false, count: x.ndim)
    let p = try dims.map { d -> Int in
        let w = try Shape.dim(d, x.ndim, op: "permute")
        guard !seen[w] else { throw DFMError.invalid("permute", "duplicate dims are not allowed (dims \(dims))") }
        seen[w] = true
        return w
    }
    return try permuteCopy(x, p, op: "permute")
}

/// torch.transpose: swaps two axes (a copy).
public func transpose(_ x: Tensor, _ d0: Int, _ d1: Int) throws -> Tensor {
    let a = try Shape.dim(d0, x.ndim, op: "transpose")
    let b = try Shape.dim(d1, x.ndim, op: "transpose")
    var p = Array(0..<x.ndim)
    if x.ndim > 0 { p.swapAt(a, b) }
    return try permuteCopy(x, p, op: "transpose")
}

/// `p` is a validated permutation of 0..<x.ndim.
private func permuteCopy(_ x: Tensor, _ p: [Int], op: String) throws -> Tensor {
    if p == Array(0..<x.ndim) { return x }
    let shape = p.map { x.shape[$0] }
    let xs = Shape.strides(x.shape)
    let out = try Tensor.uninitialized(shape, dtype: x.dtype, op: op)
    CopyKernels.strided(shape, src: x, srcStrides: p.map { xs[$0] }, dst: out, dstStrides: Shape.strides(shape))
    var inverse = p
    for (k, d) in p.enumerated() { inverse[d] = k }
    return record(op, out, [x]) { g in [try permuteCopy(g, inverse, op: op + "_backward")] }
}

// MARK: narrow / slice / select

/// Elements start, start+step, … (`len` of them) along `dim`: with `view`, shared memory when
/// they are one contiguous block (step 1 and every earlier dimension of size 1), else a copy.
/// Not recorded. Backward passes ask for copies so gradients never alias each other.
private func take(_ x: Tensor, dim: Int, start: Int, step: Int, len: Int, view: Bool = true, op: String) throws
    -> Tensor
{
    var shape = x.shape
    shape[dim] = len
    let xs = Shape.strides(x.shape)
    if view && step == 1 && x.shape[..<dim].allSatisfy({ $0 == 1 }) {
        return Tensor(
            shape: shape, dtype: x.dtype, storage: x.storage, offset: x.offset + (len == 0 ? 0 : start * xs[dim]))
    }
    var ss = xs
    ss[dim] *= step
    let out = try Tensor.uninitialized(shape, dtype: x.dtype, op: op)
    CopyKernels.strided(
        shape, src: x, srcOffset: start * xs[dim], srcStrides: ss, dst: out, dstStrides: Shape.strides(shape))
    return out
}

/// The backward of `take`: zeros of `shape` with `g` written at the taken positions.
private func put(_ g: Tensor, into shape: [Int], dim: Int, start: Int, step: Int, op: String) throws -> Tensor {
    let out = try Tensor.zeros(shape, dtype: g.dtype)
    let os = Shape.strides(shape)
    var ds = os
    ds[dim] *= step
    CopyKernels.strided(
        g.shape, src: g, srcStrides: Shape.strides(g.shape), dst: out, dstOffset: start * os[dim], dstStrides: ds)
    return out
}

/// The backward of a `take` of one contiguous block (step 1, every dim before `dim` of size 1),
/// for rules recorded with `recordAccumulating`: `g` added into that block of the running sum
/// when there is one (several selects or narrows of one tensor, such as attention's q, k and v
/// split from one projection, then share one gradient buffer instead of one zeroed copy each).
private func putAccumulating(
    _ g: Tensor, into shape: [Int], dim: Int, start: Int, sum: Tensor?, op: String
) throws -> Tensor {
    guard let sum else { return try put(g, into: shape, dim: dim, start: start, step: 1, op: op) }
    let block = Tensor(
        shape: g.shape, dtype: sum.dtype, storage: sum.storage, offset: sum.offset + start * Shape.strides(shape)[dim])
    EW.addInPlace(block, g)
    return sum
}

/// torch.narrow: `length` elements from `start` (negative counts from the end) along `dim`.
public func narrow(_ x: Tensor, dim: Int, start: Int, length: Int) throws -> Tensor {
    guard x.ndim > 0 else { throw DFMError.index("narrow", "narrow() cannot be applied to a 0-dim tensor") }
    let d = try Shape.dim(dim, x.ndim, op: "narrow")
    let size = x.shape[d]
    guard start >= -size, start <= size else {
        throw DFMError.index(
            "narrow", "start out of range (expected to be in range of [\(-size), \(size)], but got \(start))")
    }
    guard length >= 0 else { throw DFMError.invalid("narrow", "length must be non-negative, got \(length)") }
    let s = start < 0 ? start + size : start
    guard length <= size - s else {
        throw DFMError.index("narrow", "start (\(s)) + length (\(length)) exceeds dimension size (\(size))")
    }
    if length == size { return x }
    let out = try take(x, dim: d, start: s, step: 1, len: length, op: "narrow")
    if x.shape[..<d].allSatisfy({ $0 == 1 }) {
        return recordAccumulating("narrow", out, [x]) { g, sums in
            [try putAccumulating(g, into: x.shape, dim: d, start: s, sum: sums[0], op: "narrow_backward")]
        }
    }
    return record("narrow", out, [x]) { g in
        [try put(g, into: x.shape, dim: d, start: s, step: 1, op: "narrow_backward")]
    }
}

/// Python slicing `x[..., start:end:step]` along `dim`: nil bounds mean the ends, negative
/// bounds count from the end, out-of-range bounds are clamped; step >= 1.
public func slice(_ x: Tensor, dim: Int, start: Int? = nil, end: Int? = nil, step: Int = 1) throws -> Tensor {
    guard x.ndim > 0 else { throw DFMError.index("slice", "slice() cannot be applied to a 0-dim tensor") }
    let d = try Shape.dim(dim, x.ndim, op: "slice")
    guard step >= 1 else { throw DFMError.invalid("slice", "slice step must be positive, got \(step)") }
    let size = x.shape[d]
    func bound(_ v: Int?, _ absent: Int) -> Int {
        guard let v else { return absent }
        return Swift.min(Swift.max(v < 0 ? v + size : v, 0), size)
    }
    let lo = bound(start, 0)
    let hi = bound(end, size)
    let len = hi > lo ? (hi - lo - 1) / step + 1 : 0
    if len == size { return x }
    let out = try take(x, dim: d, start: lo, step: step, len: len, op: "slice")
    return record("slice", out, [x]) { g in
        [try put(g, into: x.shape, dim: d, start: lo, step: step, op: "slice_backward")]
    }
}

/// torch.select: the slice at `index` (negative counts from the end), with `dim` removed.
public func select(_ x: Tensor, dim: Int, index: Int) throws -> Tensor {
    guard x.ndim > 0 else { throw DFMError.index("select", "select() cannot be applied to a 0-dim tensor") }
    let d = try Shape.dim(dim, x.ndim, op: "select")
    let size = x.shape[d]
    guard index >= -size, index < size else {
        throw DFMError.index("select", "index \(index) out of range for tensor of size \(x.shape) at dimension \(d)")
    }
    let i = index < 0 ? index + size : index
    var kept = x.shape
    kept[d] = 1
    var shape = x.shape
    shape.remove(at: d)
    let out = try take(x, dim: d, start: i, step: 1, len: 1, op: "select").viewAs(shape)
    if x.shape[..<d].allSatisfy({ $0 == 1 }) {
        return recordAccumulating("select", out, [x]) { g, sums in
            [try putAccumulating(g.viewAs(kept), into: x.shape, dim: d, start: i, sum: sums[0], op: "select_backward")]
        }
    }
    return record("select", out, [x]) { g in
        [try put(g.viewAs(kept), into: x.shape, dim: d, start: i, step: 1, op: "select_backward")]
    }
}

// MARK: cat / stack

/// torch.cat along `dim`. As in torch, 1-D empty tensors (shape [0]) are skipped.
public func cat(_ xs: [Tensor], dim: Int = 0) throws -> Tensor {
    guard !xs.isEmpty else { throw DFMError.invalid("cat", "expected a non-empty list of Tensors") }
    for (k, t) in xs.enumerated() where t.ndim == 0 {
        throw DFMError.invalid("cat", "zero-dimensional tensor (at position \(k)) cannot be concatenated")
    }
    let used = xs.indices.filter { xs[$0].shape != [0] }
    guard let r = used.first else { return try Tensor.zeros([0], dtype: xs[0].dtype) }
    let ref = xs[r]
    let d = try Shape.dim(dim, ref.ndim, op: "cat")
    var total = 0
    for k in used {
        let t = xs[k]
        guard t.dtype == ref.dtype else {
            throw DFMError.type(
                "cat",
                "expected all tensors to have dtype \(ref.dtype), but got \(t.dtype) for tensor number \(k) in the list"
            )
        }
        guard t.ndim == ref.ndim else {
            throw DFMError.shape("cat", "Tensors must have same number of dimensions: got \(ref.ndim) and \(t.ndim)")
        }
        for j in 0..<ref.ndim where j != d && t.shape[j] != ref.shape[j] {
            throw DFMError.shape(
                "cat",
                "Sizes of tensors must match except in dimension \(d). Expected size \(ref.shape[j]) but got size \(t.shape[j]) for tensor number \(k) in the list"
            )
        }
        let (s, o) = total.addingReportingOverflow(t.shape[d])
        guard !o else { throw DFMError(.outOfMemory, "cat: concatenated size along dimension \(d) overflows") }
        total = s
    }
    var shape = ref.shape
    shape[d] = total
    let parts = used.map { xs[$0] }
    let out = try catKernel(parts, dim: d, shape: shape, op: "cat")
    return record("cat", out, xs) { g in
        var grads: [Tensor?] = Array(repeating: nil, count: xs.count)
        var off = 0
        for k in used {
            let t = xs[k]
            if t.requiresGrad {
                grads[k] = try take(g, dim: d, start: off, step: 1, len: t.shape[d], view: false, op: "cat_backward")
            }
            off += t.shape[d]
        }
        for k in xs.indices where !used.contains(k) && xs[k].requiresGrad {
            grads[k] = try Tensor.zeros([0], dtype: xs[k].dtype)
        }
        return grads
    }
}

/// torch.stack: joins equal-shaped tensors along a new dimension `dim`.
public func stack(_ xs: [Tensor], dim: Int = 0) throws -> Tensor {
    guard let first = xs.first else { throw DFMError.invalid("stack", "stack expects a non-empty TensorList") }
    let d = try Shape.dim(dim, first.ndim + 1, op: "stack")
    for (k, t) in xs.enumerated() {
        guard t.shape == first.shape else {
            throw DFMError.shape(
                "stack",
                "stack expects each tensor to be equal size, but got \(first.shape) at entry 0 and \(t.shape) at entry \(k)"
            )
        }
        guard t.dtype == first.dtype else {
            throw DFMError.type(
                "stack",
                "expected all tensors to have dtype \(first.dtype), but got \(t.dtype) for tensor number \(k) in the list"
            )
        }
    }
    var unit = first.shape
    unit.insert(1, at: d)
    var shape = first.shape
    shape.insert(xs.count, at: d)
    _ = try Shape.count(shape, op: "stack")
    let out = try catKernel(xs.map { $0.viewAs(unit) }, dim: d, shape: shape, op: "stack")
    return record("stack", out, xs) { g in
        try xs.indices.map { k in
            xs[k].requiresGrad
                ? try take(g, dim: d, start: k, step: 1, len: 1, view: false, op: "stack_backward").viewAs(first.shape)
                : nil
        }
    }
}

/// Copies each part into its block of a new tensor of `shape` along `dim`.
private func catKernel(_ parts: [Tensor], dim: Int, shape: [Int], op: String) throws -> Tensor {
    let out = try Tensor.uninitialized(shape, dtype: parts[0].dtype, op: op)
    let os = Shape.strides(shape)
    var off = 0
    for t in parts {
        CopyKernels.strided(
            t.shape, src: t, srcStrides: Shape.strides(t.shape), dst: out, dstOffset: off * os[dim], dstStrides: os)
        off += t.shape[dim]
    }
    return out
}

// MARK: squeeze / unsqueeze / flatten (views through reshape)

/// torch.squeeze: removes every size-1 dimension, or only `dim` if it has size 1.
public func squeeze(_ x: Tensor, dim: Int? = nil) throws -> Tensor {
    var shape = x.shape
    if let dim {
        let d = try Shape.dim(dim, x.ndim, op: "squeeze")
        if x.ndim > 0 && shape[d] == 1 { shape.remove(at: d) }
    } else {
        shape.removeAll { $0 == 1 }
    }
    return try reshape(x, shape)
}

/// torch.unsqueeze: inserts a size-1 dimension at `dim` (in -(ndim+1)...ndim).
public func unsqueeze(_ x: Tensor, _ dim: Int) throws -> Tensor {
    let d = try Shape.dim(dim, x.ndim + 1, op: "unsqueeze")
    var shape = x.shape
    shape.insert(1, at: d)
    return try reshape(x, shape)
}

/// torch.flatten: merges dimensions startDim...endDim into one (a 0-dim tensor becomes shape [1]).
public func flatten(_ x: Tensor, startDim: Int = 0, endDim: Int = -1) throws -> Tensor {
    let s = try Shape.dim(startDim, x.ndim, op: "flatten")
    let e = try Shape.dim(endDim, x.ndim, op: "flatten")
    guard s <= e else {
        throw DFMError.invalid(
            "flatten", "flatten() has invalid args: start_dim (\(startDim)) cannot come after end_dim (\(endDim))")
    }
    if x.ndim == 0 { return try reshape(x, [1]) }
    let shape = Array(x.shape[..<s]) + [x.shape[s...e].reduce(1, *)] + Array(x.shape[(e + 1)...])
    return try reshape(x, shape)
}
