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
