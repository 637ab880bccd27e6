import Foundation

// torch.flip, roll, triu, tril, diag, prod and einsum. The copies are strided copies
// (CopyKernels.strided with negative or diagonal strides); einsum is a composition of
// recorded ops, so its derivative falls out of theirs.

// MARK: flip / roll

/// torch.flip: reverses the order of elements along each of `dims` (a copy).
public func flip(_ x: Tensor, dims: [Int]) throws -> Tensor {
    let op = "flip"
    var seen = Set<Int>()
    let ds = try dims.map { d -> Int in
        let w = try Shape.dim(d, x.ndim, op: op)
        guard seen.insert(w).inserted else {
            throw DFMError.invalid(op, "dims has duplicates, original flip dims size=\(dims.count)")
        }
        return w
    }
    if x.ndim == 0 || ds.isEmpty { return try x.clone() }
    let out = try flipRaw(x, Set(ds))
    return record(op, out, [x]) { g in [try flipRaw(g, Set(ds))] }
}

private func flipRaw(_ x: Tensor, _ dims: Set<Int>) throws -> Tensor {
    let out = try Tensor.uninitialized(x.shape, dtype: x.dtype, op: "flip")
    var ss = Shape.strides(x.shape)
    var off = 0
    for d in dims where x.shape[d] > 0 {
        off += (x.shape[d] - 1) * ss[d]
        ss[d] = -ss[d]
    }
    CopyKernels.strided(x.shape, src: x, srcOffset: off, srcStrides: ss, dst: out, dstStrides: Shape.strides(x.shape))
    return out
}

/// torch.roll: shifts elements along `dims` by `shifts` (wrapping around). With `dims`
/// empty the tensor is rolled as if flattened, by the single shift given.
public func roll(_ x: Tensor, shifts: [Int], dims: [Int] = []) throws -> Tensor {
    let op = "roll"
    if dims.isEmpty {
        guard shifts.count == 1 else {
            throw DFMError.invalid(op, "`shifts` required, and with no dims exactly one shift (got \(shifts.count))")
        }
        let n = x.count
        let s = wrapShift(shifts[0], n)
        let out = try rollRaw(x.viewAs([n]), [(0, s)]).viewAs(x.shape)
        return record(op, out, [x]) { g in [try rollRaw(g.viewAs([n]), [(0, wrapShift(n - s, n))]).viewAs(x.shape)] }
    }
    guard shifts.count == dims.count else {
        throw DFMError.invalid(op, "shifts and dimensions must align. shifts: \(shifts.count), dims: \(dims.count)")
    }
    guard x.ndim > 0 else {
        throw DFMError.index(op, "dimension out of range: a 0-dim tensor has no dimension to roll")
    }
    let pairs = try zip(dims, shifts).map { d, s in
        let w = try Shape.dim(d, x.ndim, op: op)
        return (w, wrapShift(s, x.shape[w]))
    }
    let out = try rollRaw(x, pairs)
    return record(op, out, [x]) { g in
        [try rollRaw(g, pairs.map { ($0.0, wrapShift(x.shape[$0.0] - $0.1, x.shape[$0.0])) })]
    }
}

/// `shift` modulo n in 0..<n (0 for n = 0); any Int, Int.min included, without overflow.
private func wrapShift(_ shift: Int, _ n: Int) -> Int {
    guard n > 0 else { return 0 }
    let r = shift % n  // in -(n-1)...(n-1)
    return r < 0 ? r + n : r
}

/// Each (dim, shift in 0..<size) in turn: two strided block copies per dimension.
private func rollRaw(_ x: Tensor, _ pairs: [(Int, Int)]) throws -> Tensor {
    var cur = x
    for (d, s) in pairs {
        let n = cur.shape[d]
        let out = try Tensor.uninitialized(cur.shape, dtype: cur.dtype, op: "roll")
        guard n > 0 else {
            cur = out
            continue
        }
        let st = Shape.strides(cur.shape)
        var head = cur.shape
        var tail = cur.shape
        head[d] = n - s  // x[0 ..< n-s] goes to out[s ..< n]
        tail[d] = s  // x[n-s ..< n] goes to out[0 ..< s]
        CopyKernels.strided(head, src: cur, srcStrides: st, dst: out, dstOffset: s * st[d], dstStrides: st)
        CopyKernels.strided(tail, src: cur, srcOffset: (n - s) * st[d], srcStrides: st, dst: out, dstStrides: st)
        cur = out
    }
    return pairs.isEmpty ? try x.clone() : cur
}

// MARK: triu / tril

/// torch.triu: the upper triangle of the last two dimensions (elements with
/// col - row >= diagonal), the rest zero.
public func triu(_ x: Tensor, diagonal: Int = 0) throws -> Tensor { try triangle(x, diagonal, upper: true) }

/// torch.tril: the lower triangle (col - row <= diagonal), the rest zero.
public func tril(_ x: Tensor, diagonal: Int = 0) throws -> Tensor { try triangle(x, diagonal, upper: false) }

private func triangle(_ x: Tensor, _ k: Int, upper: Bool) throws -> Tensor {
    let op = upper ? "triu" : "tril"
    guard x.ndim >= 2 else {
        throw DFMError.shape(op, "input tensor must have at least 2 dimensions, got shape \(x.shape)")
    }
    guard Swift.abs(k) <= 1 << 40 else { throw DFMError.invalid(op, "diagonal \(k) is out of range") }
    let out = try triangleRaw(x, k, upper: upper)
    return record(op, out, [x]) { g in [try triangleRaw(g, k, upper: upper)] }
}

/// A copy of x with the other triangle zeroed, byte-wise (any dtype).
private func triangleRaw(_ x: Tensor, _ k: Int, upper: Bool) throws -> Tensor {
    let out = try x.clone()
    let r = x.shape[x.ndim - 2]
    let c = x.shape[x.ndim - 1]
    let mats = r * c == 0 ? 0 : x.count / (r * c)
    let bs = x.dtype.byteSize
    let base = out.rawPointer
    Parallel.chunks(mats * r, costPerItem: c) { range in
        for row in range {
            let i = row % r
            // Zero columns [lo, hi) of this row.
            let lo = upper ? 0 : Swift.min(c, Swift.max(0, i + k + 1))
            let hi = upper ? Swift.min(c, Swift.max(0, i + k)) : c
            if hi > lo { memset(base + (row * c + lo) * bs, 0, (hi - lo) * bs) }
        }
    }
    return out
}

// MARK: diag

/// torch.diag: a 1-D x becomes the square matrix with x on its `diagonal`-th diagonal;
/// a 2-D x gives its `diagonal`-th diagonal as a vector.
public func diag(_ x: Tensor, diagonal k: Int = 0) throws -> Tensor {
    let op = "diag"
    guard Swift.abs(k) <= 1 << 40 else { throw DFMError.invalid(op, "diagonal \(k) is out of range") }
    switch x.ndim {
    case 1:
        let n = x.shape[0] + Swift.abs(k)
        let out = try diagPut(x, rows: n, cols: n, k: k)
        return record("diag_embed", out, [x]) { g in [try diagTake(g, k: k)] }
    case 2:
        let out = try diagTake(x, k: k)
        let (r, c) = (x.shape[0], x.shape[1])
        return record("diagonal", out, [x]) { g in [try diagPut(g, rows: r, cols: c, k: k)] }
    default:
        throw DFMError.shape(op, "matrix or a vector expected, got a tensor of shape \(x.shape)")
    }
}

/// Offset of element (0, k) or (-k, 0) and the length of the k-th diagonal of an r×c matrix.
private func diagSpan(_ r: Int, _ c: Int, _ k: Int) -> (start: Int, len: Int) {
    let len = k >= 0 ? Swift.max(0, Swift.min(r, c - k)) : Swift.max(0, Swift.min(r + k, c))
    // An empty diagonal starts nowhere (and -k·c could overflow for a far-off k).
    return len == 0 ? (0, 0) : (k >= 0 ? k : -k * c, len)
}

private func diagTake(_ m: Tensor, k: Int) throws -> Tensor {
    let (r, c) = (m.shape[0], m.shape[1])
    let (start, len) = diagSpan(r, c, k)
    let out = try Tensor.uninitialized([len], dtype: m.dtype, op: "diag")
    CopyKernels.strided([len], src: m, srcOffset: start, srcStrides: [c + 1], dst: out, dstStrides: [1])
    return out
}

private func diagPut(_ v: Tensor, rows: Int, cols: Int, k: Int) throws -> Tensor {
    let out = try Tensor.zeros([rows, cols], dtype: v.dtype)
    let (start, len) = diagSpan(rows, cols, k)
    CopyKernels.strided([len], src: v, srcStrides: [1], dst: out, dstOffset: start, dstStrides: [cols + 1])
    return out
}

// MARK: prod

/// torch.prod over all elements, or along `dim` (keepdim as torch). int64/bool/uint8 give
/// int64 (wrapping, no gradient). The gradient of each element is the product of the others
/// in its lane (prefix × suffix products), so zeros are handled exactly.
public func prod(_ x: Tensor, dim: Int? = nil, keepdim: Bool = false) throws -> Tensor {
    let op = "prod"
    let (outer, n, inner, outShape): (Int, Int, Int, [Int])
    if let dim {
        let d = try Shape.dim(dim, x.ndim, op: op)
        if x.ndim == 0 {
            (outer, n, inner, outShape) = (1, 1, 1, [])
        } else {
            var s = x.shape
            if keepdim { s[d] = 1 } else { s.remove(at: d) }
            (outer, n, inner, outShape) = (x.shape[..<d].reduce(1, *), x.shape[d], x.shape[(d + 1)...].reduce(1, *), s)
        }
    } else {
        (outer, n, inner, outShape) = (1, x.count, 1, [])
    }
    if !x.dtype.isFloat {
        let xi = try BoolKernels.toInt(x, op: op)
        let out = try Tensor.uninitialized(outShape, dtype: .int64, op: op)
        let src = xi.i
        let dst = out.i
        withExtendedLifetime(xi) {
            for lane in 0..<(outer * inner) {
                let base = (lane / inner) * n * inner + lane % inner
                var p: Int64 = 1
                for j in 0..<n { p = p &* src[base + j * inner] }
                dst[lane] = p
            }
        }
        return out
    }
    let out = try Tensor.uninitialized(outShape, dtype: x.dtype, op: op)
    if x.dtype == .float64 {
        prodLanes(x.d, out.d, outer: outer, n: n, inner: inner)
    } else {
        prodLanes(x.f, out.f, outer: outer, n: n, inner: inner)
    }
    return record(op, out, [x]) { g in
        let gx = try Tensor.uninitialized(x.shape, dtype: x.dtype, op: "prod_backward")
        if x.dtype == .float64 {
            prodGrad(x.d, g.d, gx.d, outer: outer, n: n, inner: inner)
        } else {
            prodGrad(x.f, g.f, gx.f, outer: outer, n: n, inner: inner)
        }
        return [gx]
    }
}

private func prodLanes<S: Real>(
    _ x: UnsafeMutablePointer<S>, _ y: UnsafeMutablePointer<S>, outer: Int, n: Int, inner: Int
) {
    Parallel.chunks(outer * inner, costPerItem: n) { r in
        for lane in r {
            let base = (lane / inner) * n * inner + lane % inner
            var p: S = 1
            for j in 0..<n { p *= x[base + j * inner] }
            y[lane] = p
        }
    }
}

/// gx[j] = g · Π_{i<j} x[i] · Π_{i>j} x[i] for every lane.
private func prodGrad<S: Real>(
    _ x: UnsafeMutablePointer<S>, _ g: UnsafeMutablePointer<S>, _ gx: UnsafeMutablePointer<S>,
    outer: Int, n: Int, inner: Int
) {
    Parallel.chunks(outer * inner, costPerItem: 2 * n) { r in
        for lane in r {
            let base = (lane / inner) * n * inner + lane % inner
            var p: S = g[lane]
            for j in 0..<n {
                gx[base + j * inner] = p
                p *= x[base + j * inner]
            }
            var s: S = 1
            for j in stride(from: n - 1, through: 0, by: -1) {
                gx[base + j * inner] *= s
                s *= x[base + j * inner]
            }
        }
    }
}

// MARK: einsum

/// torch.einsum: letters a-z and A-Z label dimensions, `...` stands for broadcast
/// dimensions, `->` names the output (without it: the ellipsis dims, then the labels seen
/// once, in alphabetical order with upper case first). A label repeated within one operand
/// takes its diagonal. Operands are contracted left to right through bmm; dimensions of
/// size 1 broadcast against the same label's size elsewhere.
public func einsum(_ equation: String, _ operands: [Tensor]) throws -> Tensor {
    let op = "einsum"
    guard !operands.isEmpty else { throw DFMError.invalid(op, "must provide at least one operand") }
    guard equation.utf8.count <= 4096 else {
        throw DFMError.invalid(op, "equation is too long (\(equation.utf8.count) bytes)")
    }
    _ = try commonFloat(operands, op)
    let eq = equation.filter { $0 != " " }
    let sides = eq.components(separatedBy: "->")
    guard sides.count <= 2 else { throw DFMError.invalid(op, "more than one '->' in the equation \"\(equation)\"") }
    let terms = sides[0].components(separatedBy: ",")
    guard terms.count == operands.count else {
        throw DFMError.invalid(
            op,
            "more operands were provided than specified in the equation: \(terms.count) subscripts for \(operands.count) operands"
        )
    }
    // Letters are labels 0..<52 (A-Z then a-z, torch's order); ellipsis dims are 52, 53, ...
    func letter(_ ch: Character) throws -> Int {
        guard let a = ch.asciiValue else { throw DFMError.invalid(op, "invalid subscript '\(ch)' in \"\(equation)\"") }
        switch a {
        case 65...90: return Int(a) - 65
        case 97...122: return Int(a) - 97 + 26
        default: throw DFMError.invalid(op, "invalid subscript given at index \(a): subscripts must be in [a-zA-Z]")
        }
    }
    /// The letters before and after the ellipsis (nil when the term has none).
    func parse(_ term: String) throws -> (pre: [Int], post: [Int]?) {
        let parts = term.components(separatedBy: "...")
        guard parts.count <= 2 else { throw DFMError.invalid(op, "found more than one ellipsis in \"\(term)\"") }
        guard !parts.contains(where: { $0.contains(".") }) else {
            throw DFMError.invalid(op, "found '.' that is not part of an ellipsis in \"\(term)\"")
        }
        return (try parts[0].map(letter), parts.count == 2 ? try parts[1].map(letter) : nil)
    }
    let parsed = try terms.map(parse)
    var ellipsisDims = 0
    for (t, x) in zip(parsed, operands) {
        let named = t.pre.count + (t.post?.count ?? 0)
        if t.post == nil {
            guard named == x.ndim else {
                throw DFMError.shape(
                    op,
                    "the number of subscripts in the equation (\(named)) does not match the number of dimensions (\(x.ndim)) for operand of shape \(x.shape)"
                )
            }
        } else {
            guard named <= x.ndim else {
                throw DFMError.shape(
                    op,
                    "the number of subscripts in the equation (\(named)) is more than the number of dimensions (\(x.ndim)) for operand of shape \(x.shape)"
                )
            }
            ellipsisDims = Swift.max(ellipsisDims, x.ndim - named)
        }
    }
    // Per operand: the label of each dimension (ellipsis dims aligned to the right).
    let labelsOf: [[Int]] = zip(parsed, operands).map { t, x in
        guard let post = t.post else { return t.pre }
        let e = x.ndim - t.pre.count - post.count
        return t.pre + (0..<e).map { 52 + ellipsisDims - e + $0 } + post
    }
    var size = [Int: Int]()
    for (ls, x) in zip(labelsOf, operands) {
        for (k, l) in ls.enumerated() {
            let s = x.shape[k]
            if let j = ls.firstIndex(of: l), j < k, x.shape[j] != s {
                throw DFMError.shape(
                    op,
                    "subscript \(labelName(l)) is repeated for operand of shape \(x.shape) but the sizes don't match, \(s) != \(x.shape[j])"
                )
            }
            if let have = size[l], have != s, have != 1, s != 1 {
                throw DFMError.shape(
                    op,
                    "operands do not broadcast with remapped shapes: subscript \(labelName(l)) has sizes \(have) and \(s)"
                )
            }
            if size[l] == nil || size[l] == 1 { size[l] = s }
        }
    }
    let output: [Int]
    if sides.count == 2 {
        let t = try parse(sides[1])
        output = t.pre + (t.post == nil ? [] : (0..<ellipsisDims).map { 52 + $0 } + t.post!)
        var seen = Set<Int>()
        for l in output {
            guard l >= 52 || size[l] != nil else {
                throw DFMError.invalid(
                    op, "output subscript \(labelName(l)) does not appear in the equation for any input operand")
            }
            guard seen.insert(l).inserted else {
                throw DFMError.invalid(op, "output subscript \(labelName(l)) appears more than once in the output")
            }
        }
    } else {
        var count = [Int: Int]()
        for ls in labelsOf { for l in ls where l < 52 { count[l, default: 0] += 1 } }
        output = (0..<ellipsisDims).map { 52 + $0 } + count.keys.filter { count[$0] == 1 }.sorted()
    }

    // 1. Diagonals of repeated labels; 2. sum labels used nowhere else.
    var items: [(t: Tensor, labels: [Int])] = []
    for (k, (x, ls)) in zip(operands, labelsOf).enumerated() {
        var (t, l) = try einsumDiagonal(x, ls)
        let elsewhere = Set(output).union(labelsOf.enumerated().filter { $0.offset != k }.flatMap { $0.element })
        let drop = l.indices.filter { !elsewhere.contains(l[$0]) }
        if !drop.isEmpty {
            t = try sum(t, dims: drop)
            l = l.indices.filter { elsewhere.contains(l[$0]) }.map { l[$0] }
        }
        items.append((t, l))
    }
    // 3. Contract left to right.
    var (acc, accLabels) = items[0]
    for k in 1..<items.count {
        let later = Set(output).union(items[(k + 1)...].flatMap { $0.labels })
        (acc, accLabels) = try einsumPair(acc, accLabels, items[k].t, items[k].labels, keep: later, size: size)
    }
    // 4. Labels still present but not in the output (one operand only), then the output order.
    let extra = accLabels.indices.filter { !output.contains(accLabels[$0]) }
    if !extra.isEmpty {
        acc = try sum(acc, dims: extra)
        accLabels = accLabels.filter { output.contains($0) }
    }
    let target = output.map { size[$0] ?? 1 }
    let perm = output.compactMap { accLabels.firstIndex(of: $0) }
    // Output labels absent from acc (an ellipsis of rank 0 in some term) cannot occur: every
    // output label is in some operand and only unused labels are dropped.
    if perm != Array(0..<acc.ndim) { acc = try permute(acc, perm) }
    if acc.shape != target { acc = try expand(acc, to: target) }
    return acc
}

private func labelName(_ l: Int) -> String {
    l < 26 ? String(UnicodeScalar(UInt8(65 + l))) : l < 52 ? String(UnicodeScalar(UInt8(97 + l - 26))) : "..."
}

/// Takes the diagonal over every label that occurs more than once in `labels`: the result
/// has each label once (first occurrence order); its stride is the sum of the occurrences'.
private func einsumDiagonal(_ x: Tensor, _ labels: [Int]) throws -> (Tensor, [Int]) {
    var unique: [Int] = []
    for l in labels where !unique.contains(l) { unique.append(l) }
    if unique.count == labels.count { return (x, labels) }
    let xs = Shape.strides(x.shape)
    var shape = [Int]()
    var strides = [Int]()
    for l in unique {
        let dims = labels.indices.filter { labels[$0] == l }
        let n = x.shape[dims[0]]
        for d in dims where x.shape[d] != n {
            throw DFMError.shape(
                "einsum",
                "subscript \(labelName(l)) is repeated for operand of shape \(x.shape) but the sizes don't match, \(x.shape[d]) != \(n)"
            )
        }
        shape.append(n)
        strides.append(dims.reduce(0) { $0 + xs[$1] })
    }
    let out = try Tensor.uninitialized(shape, dtype: x.dtype, op: "einsum")
    CopyKernels.strided(shape, src: x, srcStrides: strides, dst: out, dstStrides: Shape.strides(shape))
    let diag = record("einsum_diagonal", out, [x]) { g in
        let gx = try Tensor.zeros(x.shape, dtype: x.dtype)
        CopyKernels.strided(shape, src: g, srcStrides: Shape.strides(shape), dst: gx, dstStrides: strides)
        return [gx]
    }
    return (diag, unique)
}

/// Contracts a (labels la) with b (labels lb): labels in both and in `keep` are batch
/// dimensions, labels in both and not kept are summed by the product, the rest are a's
/// and b's own dimensions. Result labels: batch, a's own, b's own.
private func einsumPair(_ a: Tensor, _ la: [Int], _ b: Tensor, _ lb: [Int], keep: Set<Int>, size: [Int: Int]) throws
    -> (Tensor, [Int])
{
    var a = a
    var la = la
    var b = b
    var lb = lb
    // Labels of one side that nothing later needs and the other side lacks: sum them now.
    func reduceOwn(_ t: inout Tensor, _ l: inout [Int], other: [Int]) throws {
        let drop = l.indices.filter { !keep.contains(l[$0]) && !other.contains(l[$0]) }
        if drop.isEmpty { return }
        t = try sum(t, dims: drop)
        l = l.indices.filter { keep.contains(l[$0]) || other.contains(l[$0]) }.map { l[$0] }
    }
    try reduceOwn(&a, &la, other: lb)
    try reduceOwn(&b, &lb, other: la)
    let batch = la.filter { lb.contains($0) && keep.contains($0) }
    let contracted = la.filter { lb.contains($0) && !keep.contains($0) }
    let aOwn = la.filter { !lb.contains($0) }
    let bOwn = lb.filter { !la.contains($0) }
    func arrange(_ t: Tensor, _ l: [Int], _ order: [Int]) throws -> Tensor {
        var r = try permute(t, order.compactMap { l.firstIndex(of: $0) })
        let full = order.map { size[$0] ?? 1 }
        if r.shape != full { r = try expand(r, to: full) }
        return r
    }
    func sz(_ ls: [Int]) throws -> Int { try Shape.count(ls.map { size[$0] ?? 1 }, op: "einsum") }
    let nb = try sz(batch)
    let m = try sz(aOwn)
    let kk = try sz(contracted)
    let n = try sz(bOwn)
    _ = try Shape.count([nb, m, n], op: "einsum")
    let a3 = try reshape(try arrange(a, la, batch + aOwn + contracted), [nb, m, kk])
    let b3 = try reshape(try arrange(b, lb, batch + contracted + bOwn), [nb, kk, n])
    let labels = batch + aOwn + bOwn
    let y = try reshape(try bmm(a3, b3), labels.map { size[$0] ?? 1 })
    return (y, labels)
}
