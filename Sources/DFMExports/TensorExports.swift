import CDFM
import DFM

// Tensor creation, references, properties, data access, autograd flags.

/// Checks that a caller buffer of `nbytes` holds exactly `shape`'s elements of `dtype`.
private func checkBuffer(_ data: UnsafeRawPointer?, _ nbytes: Int, _ shape: [Int], _ dtype: DType) throws {
    let n = try Arg.bytes(nbytes, "nbytes")
    let need = Arg.count(shape) * dtype.byteSize
    guard n == need else {
        throw ABIError(.shapeMismatch, "nbytes is \(n) but shape \(shape) of \(dtype) needs \(need) bytes")
    }
    guard data != nil || need == 0 else { throw ABIError(.invalidArgument, "'data' is NULL") }
}

@c @implementation public func dfm_tensor_from_data(
    _ data: UnsafeRawPointer?, _ nbytes: Int, _ shape: UnsafePointer<Int64>?, _ ndim: Int64,
    _ dtype: dfm_dtype, _ out: UnsafeMutablePointer<dfm_tensor?>?
) -> dfm_status {
    produceTensor("dfm_tensor_from_data", out) {
        let s = try Arg.shape(shape, ndim)
        let dt = try Arg.dtype(dtype)
        try checkBuffer(data, nbytes, s, dt)
        let t = try Tensor.zeros(s, dtype: dt)
        if let data, nbytes > 0 { t.rawPointer.copyMemory(from: data, byteCount: nbytes) }
        return dt == .bool ? try toDType(try toDType(t, .int64), .bool) : t  // bool bytes become 0 or 1
    }
}

@c @implementation public func dfm_tensor_from_blob(
    _ data: UnsafeMutableRawPointer?, _ nbytes: Int, _ shape: UnsafePointer<Int64>?, _ ndim: Int64,
    _ dtype: dfm_dtype, _ release: dfm_release_fn?, _ user_data: UnsafeMutableRawPointer?,
    _ out: UnsafeMutablePointer<dfm_tensor?>?
) -> dfm_status {
    produceTensor("dfm_tensor_from_blob", out) {
        let s = try Arg.shape(shape, ndim)
        let dt = try Arg.dtype(dtype)
        guard let data else { throw ABIError(.invalidArgument, "'data' is NULL") }
        try checkBuffer(data, nbytes, s, dt)
        guard UInt(bitPattern: data) % UInt(dt.byteSize) == 0 else {
            throw ABIError(.invalidArgument, "'data' (\(data)) is not aligned to \(dt.byteSize) bytes for \(dt)")
        }
        return try Tensor.borrowing(data, shape: s, dtype: dt) { p in release?(p, user_data) }
    }
}

@c @implementation public func dfm_tensor_zeros(
    _ shape: UnsafePointer<Int64>?, _ ndim: Int64, _ dtype: dfm_dtype, _ out: UnsafeMutablePointer<dfm_tensor?>?
) -> dfm_status {
    produceTensor("dfm_tensor_zeros", out) { try Tensor.zeros(try Arg.shape(shape, ndim), dtype: try Arg.dtype(dtype)) }
}

@c @implementation public func dfm_tensor_ones(
    _ shape: UnsafePointer<Int64>?, _ ndim: Int64, _ dtype: dfm_dtype, _ out: UnsafeMutablePointer<dfm_tensor?>?
) -> dfm_status {
    produceTensor("dfm_tensor_ones", out) { try filled(try Arg.shape(shape, ndim), 1, try Arg.dtype(dtype)) }
}

@c @implementation public func dfm_tensor_full(
    _ shape: UnsafePointer<Int64>?, _ ndim: Int64, _ value: Double, _ dtype: dfm_dtype,
    _ out: UnsafeMutablePointer<dfm_tensor?>?
) -> dfm_status {
    produceTensor("dfm_tensor_full", out) { try filled(try Arg.shape(shape, ndim), value, try Arg.dtype(dtype)) }
}

/// A new tensor filled with `value`; int64 values must be exact integers, bool is value != 0.
private func filled(_ shape: [Int], _ value: Double, _ dtype: DType) throws -> Tensor {
    if dtype == .float32 { return try Tensor.full(shape, Double(Float(value))) }
    if dtype == .float64 { return try Tensor.full(shape, value, dtype: .float64) }
    if dtype == .bool {
        let t = try Tensor.zeros(shape, dtype: .bool)
        t.fill_(value != 0 ? 1 : 0)
        return t
    }
    let v = try exactInt64(value)
    if dtype == .uint8 {  // an integer wraps modulo 256, as torch's conversion does
        let t = try Tensor.zeros(shape, dtype: .uint8)
        t.rawPointer.bindMemory(to: UInt8.self, capacity: t.count).update(
            repeating: UInt8(truncatingIfNeeded: v), count: t.count)
        return t
    }
    let t = try Tensor.zeros(shape, dtype: .int64)
    t.rawPointer.bindMemory(to: Int64.self, capacity: t.count).update(repeating: v, count: t.count)
    return t
}

private func exactInt64(_ value: Double) throws -> Int64 {
    guard let v = Int64(exactly: value) else {
        throw ABIError(.invalidArgument, "value \(value) is not representable as int64")
    }
    return v
}

@c @implementation public func dfm_tensor_arange(
    _ start: Double, _ end: Double, _ step: Double, _ dtype: dfm_dtype, _ out: UnsafeMutablePointer<dfm_tensor?>?
) -> dfm_status {
    produceTensor("dfm_tensor_arange", out) {
        let dt = try Arg.dtype(dtype)
        guard start.isFinite, end.isFinite, step.isFinite, step != 0 else {
            throw ABIError(
                .invalidArgument, "step must be nonzero and bounds finite (start \(start), end \(end), step \(step))")
        }
        // The core converts the count and the values to integers: keep both in range.
        let n = ((end - start) / step).rounded(.up)
        guard n.isFinite, n <= Double(Arg.maxElements) else {
            throw ABIError(
                .outOfMemory, "arange(\(start), \(end), \(step)) would have \(n) elements (limit \(Arg.maxElements))")
        }
        if dt == .int64 {
            guard Swift.abs(start) < 9.2e18, Swift.abs(end) < 9.2e18 else {
                throw ABIError(.invalidArgument, "int64 arange bounds \(start), \(end) are out of range")
            }
        }
        return try Tensor.arange(start, end, step, dtype: dt)
    }
}

@c @implementation public func dfm_tensor_randn(
    _ shape: UnsafePointer<Int64>?, _ ndim: Int64, _ out: UnsafeMutablePointer<dfm_tensor?>?
) -> dfm_status {
    produceTensor("dfm_tensor_randn", out) { try randn(try Arg.shape(shape, ndim)) }
}

@c @implementation public func dfm_tensor_rand(
    _ shape: UnsafePointer<Int64>?, _ ndim: Int64, _ out: UnsafeMutablePointer<dfm_tensor?>?
) -> dfm_status {
    produceTensor("dfm_tensor_rand", out) { try rand(try Arg.shape(shape, ndim)) }
}

@c @implementation public func dfm_tensor_randint(
    _ low: Int64, _ high: Int64, _ shape: UnsafePointer<Int64>?, _ ndim: Int64,
    _ out: UnsafeMutablePointer<dfm_tensor?>?
) -> dfm_status {
    produceTensor("dfm_tensor_randint", out) { try randint(low: low, high: high, shape: try Arg.shape(shape, ndim)) }
}

@c @implementation public func dfm_tensor_randperm(_ n: Int64, _ out: UnsafeMutablePointer<dfm_tensor?>?) -> dfm_status
{
    produceTensor("dfm_tensor_randperm", out) {
        guard n >= 0, n <= Int64(Arg.maxElements) else {
            throw ABIError(n < 0 ? .invalidArgument : .outOfMemory, "n must be in 0...\(Arg.maxElements), got \(n)")
        }
        return try randperm(Int(n))
    }
}

// MARK: references and properties

@c @implementation public func dfm_tensor_retain(_ t: dfm_tensor?) -> dfm_status {
    guarded("dfm_tensor_retain") { try Handles.retain(t, .tensor, "t") }
}

@c @implementation public func dfm_tensor_release(_ t: dfm_tensor?) -> dfm_status {
    guarded("dfm_tensor_release") { try Handles.release(t, .tensor, "t") }
}

@c @implementation public func dfm_tensor_ndim(_ t: dfm_tensor?, _ out: UnsafeMutablePointer<Int64>?) -> dfm_status {
    produceValue("dfm_tensor_ndim", out) { Int64(try Arg.tensor(t, "t").ndim) }
}

/// Copies `values` into a caller array of `capacity` entries.
private func writeDims(_ values: [Int], _ dst: UnsafeMutablePointer<Int64>?, _ capacity: Int64, _ name: String) throws {
    guard capacity >= Int64(values.count) else {
        throw ABIError(.invalidArgument, "capacity \(capacity) is smaller than ndim \(values.count)")
    }
    guard let dst else {
        if values.isEmpty { return }
        throw ABIError(.invalidArgument, "'\(name)' is NULL")
    }
    for (k, v) in values.enumerated() { dst[k] = Int64(v) }
}

@c @implementation public func dfm_tensor_shape(
    _ t: dfm_tensor?, _ dims: UnsafeMutablePointer<Int64>?, _ capacity: Int64
) -> dfm_status {
    guarded("dfm_tensor_shape") { try writeDims(try Arg.tensor(t, "t").shape, dims, capacity, "dims") }
}

@c @implementation public func dfm_tensor_strides(
    _ t: dfm_tensor?, _ byte_strides: UnsafeMutablePointer<Int64>?, _ capacity: Int64
) -> dfm_status {
    guarded("dfm_tensor_strides") {
        let x = try Arg.tensor(t, "t")
        var strides = [Int](repeating: x.dtype.byteSize, count: x.ndim)
        for k in stride(from: x.ndim - 2, through: 0, by: -1) { strides[k] = strides[k + 1] &* x.shape[k + 1] }
        try writeDims(strides, byte_strides, capacity, "byte_strides")
    }
}

@c @implementation public func dfm_tensor_dtype(_ t: dfm_tensor?, _ out: UnsafeMutablePointer<dfm_dtype>?) -> dfm_status
{
    produceValue("dfm_tensor_dtype", out) { dfm_dtype(rawValue: UInt32(try Arg.tensor(t, "t").dtype.rawValue)) }
}

@c @implementation public func dfm_tensor_numel(_ t: dfm_tensor?, _ out: UnsafeMutablePointer<Int64>?) -> dfm_status {
    produceValue("dfm_tensor_numel", out) { Int64(try Arg.tensor(t, "t").count) }
}

@c @implementation public func dfm_tensor_nbytes(_ t: dfm_tensor?, _ out: UnsafeMutablePointer<Int>?) -> dfm_status {
    produceValue("dfm_tensor_nbytes", out) { try Arg.tensor(t, "t").byteCount }
}

@c @implementation public func dfm_tensor_data(
    _ t: dfm_tensor?, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> dfm_status {
    produceValue("dfm_tensor_data", out) { try Arg.tensor(t, "t").rawPointer }
}

/// The tensor and its byte size, after checking the caller's buffer matches it.
private func sized(_ t: dfm_tensor?, _ buffer: UnsafeRawPointer?, _ nbytes: Int, _ name: String) throws -> Tensor {
    let x = try Arg.tensor(t, "t")
    let n = try Arg.bytes(nbytes, "nbytes")
    guard n == x.byteCount else {
        throw ABIError(
            .shapeMismatch, "nbytes is \(n) but the tensor (shape \(x.shape), \(x.dtype)) holds \(x.byteCount) bytes")
    }
    guard buffer != nil || n == 0 else { throw ABIError(.invalidArgument, "'\(name)' is NULL") }
    return x
}

@c @implementation public func dfm_tensor_read(_ t: dfm_tensor?, _ dst: UnsafeMutableRawPointer?, _ nbytes: Int)
    -> dfm_status
{
    guarded("dfm_tensor_read") {
        let x = try sized(t, dst, nbytes, "dst")
        if let dst, nbytes > 0 { dst.copyMemory(from: x.rawPointer, byteCount: nbytes) }
    }
}

@c @implementation public func dfm_tensor_write(_ t: dfm_tensor?, _ src: UnsafeRawPointer?, _ nbytes: Int) -> dfm_status
{
    guarded("dfm_tensor_write") {
        let x = try sized(t, src, nbytes, "src")
        if let src, nbytes > 0 { x.rawPointer.copyMemory(from: src, byteCount: nbytes) }
    }
}

@c @implementation public func dfm_tensor_item(_ t: dfm_tensor?, _ out: UnsafeMutablePointer<Double>?) -> dfm_status {
    produceValue("dfm_tensor_item", out) {
        let x = try Arg.tensor(t, "t")
        let v = try x.item()  // checks the element count
        return x.dtype == .int64 ? Double(x.rawPointer.load(as: Int64.self)) : Double(v)
    }
}

// MARK: autograd flags, copies

@c @implementation public func dfm_tensor_requires_grad(_ t: dfm_tensor?, _ out: UnsafeMutablePointer<Bool>?)
    -> dfm_status
{
    produceValue("dfm_tensor_requires_grad", out) { try Arg.tensor(t, "t").requiresGrad }
}

@c @implementation public func dfm_tensor_set_requires_grad(_ t: dfm_tensor?, _ requires_grad: Bool) -> dfm_status {
    guarded("dfm_tensor_set_requires_grad") { try Arg.tensor(t, "t").requiresGrad(requires_grad) }
}

@c @implementation public func dfm_tensor_is_leaf(_ t: dfm_tensor?, _ out: UnsafeMutablePointer<Bool>?) -> dfm_status {
    produceValue("dfm_tensor_is_leaf", out) { try Arg.tensor(t, "t").isLeaf }
}

@c @implementation public func dfm_tensor_grad(_ t: dfm_tensor?, _ out: UnsafeMutablePointer<dfm_tensor?>?)
    -> dfm_status
{
    produceTensor("dfm_tensor_grad", out) { try Arg.tensor(t, "t").grad }
}

@c @implementation public func dfm_tensor_set_grad(_ t: dfm_tensor?, _ grad: dfm_tensor?) -> dfm_status {
    guarded("dfm_tensor_set_grad") {
        let x = try Arg.tensor(t, "t")
        let g = try Arg.optionalTensor(grad, "grad")
        if let g {
            guard g.shape == x.shape, g.dtype == x.dtype else {
                throw ABIError(
                    .shapeMismatch,
                    "assigned grad has shape \(g.shape) (\(g.dtype)) but the tensor has shape \(x.shape) (\(x.dtype))")
            }
            // torch: "can't assign Variable as its own grad". A loop through grads (a.grad = b,
            // b.grad = a) would also keep every tensor on it alive for good (found by fuzz-abi).
            var next: Tensor? = g
            while let c = next {
                if c === x {
                    throw ABIError(
                        .invalidArgument,
                        c === g
                            ? "can't assign a tensor as its own grad"
                            : "can't assign a tensor as its own grad through the grads of its grad (a loop)")
                }
                next = c.grad
            }
        }
        x.grad = g
    }
}

@c @implementation public func dfm_tensor_copy_(_ dst: dfm_tensor?, _ src: dfm_tensor?) -> dfm_status {
    guarded("dfm_tensor_copy_") { try Arg.tensor(dst, "dst").copy_(try Arg.tensor(src, "src")) }
}

@c @implementation public func dfm_tensor_fill_(_ t: dfm_tensor?, _ value: Double) -> dfm_status {
    guarded("dfm_tensor_fill_") {
        let x = try Arg.tensor(t, "t")
        switch x.dtype {
        case .float32: x.fill_(Double(Float(value)))
        case .float64: x.fill_(value)
        case .bool: x.fill_(value != 0 ? 1 : 0)
        case .int64:
            let v = try exactInt64(value)
            x.rawPointer.bindMemory(to: Int64.self, capacity: x.count).update(repeating: v, count: x.count)
        case .uint8:
            let v = try exactInt64(value)
            x.rawPointer.bindMemory(to: UInt8.self, capacity: x.count).update(
                repeating: UInt8(truncatingIfNeeded: v), count: x.count)
        }
    }
}

@c @implementation public func dfm_tensor_detach(_ t: dfm_tensor?, _ out: UnsafeMutablePointer<dfm_tensor?>?)
    -> dfm_status
{
    produceTensor("dfm_tensor_detach", out) { try Arg.tensor(t, "t").detach() }
}

@c @implementation public func dfm_tensor_clone(_ t: dfm_tensor?, _ out: UnsafeMutablePointer<dfm_tensor?>?)
    -> dfm_status
{
    produceTensor("dfm_tensor_clone", out) { try Arg.tensor(t, "t").clone() }
}

@c @implementation public func dfm_tensor_to_dtype(
    _ t: dfm_tensor?, _ dtype: dfm_dtype, _ out: UnsafeMutablePointer<dfm_tensor?>?
) -> dfm_status {
    produceTensor("dfm_tensor_to_dtype", out) {
        let x = try Arg.tensor(t, "t")
        let dt = try Arg.dtype(dtype)
        // A copy even for the same dtype (toDType would return x itself), as documented.
        return x.dtype == dt ? try x.clone() : try toDType(x, dt)
    }
}

@c @implementation public func dfm_tensor_convert_(_ t: dfm_tensor?, _ dtype: dfm_dtype) -> dfm_status {
    guarded("dfm_tensor_convert_") { try Arg.tensor(t, "t").convert_(try Arg.dtype(dtype)) }
}

@c @implementation public func dfm_tensor_identity(_ t: dfm_tensor?, _ out: UnsafeMutablePointer<UInt64>?) -> dfm_status
{
    produceValue("dfm_tensor_identity", out) { UInt64(UInt(bitPattern: ObjectIdentifier(try Arg.tensor(t, "t")))) }
}
