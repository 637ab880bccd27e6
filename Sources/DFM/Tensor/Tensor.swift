import Foundation

public enum DType: Int32, Sendable, CustomStringConvertible {
    case float32 = 0
    case int64 = 1
    /// One byte per element; kernels read any nonzero byte as true and write 0 or 1.
    case bool = 2
    case float64 = 3
    /// Bytes 0...255 (images). Arithmetic on two uint8 operands wraps modulo 256, as in torch;
    /// with a wider operand it computes in that operand's dtype.
    case uint8 = 4

    public var byteSize: Int {
        switch self {
        case .float32: return 4
        case .int64, .float64: return 8
        case .bool, .uint8: return 1
        }
    }
    public var description: String {
        switch self {
        case .float32: return "float32"
        case .int64: return "int64"
        case .bool: return "bool"
        case .float64: return "float64"
        case .uint8: return "uint8"
        }
    }
    /// float32 or float64: the dtypes that compute gradients.
    public var isFloat: Bool { self == .float32 || self == .float64 }
}

/// A dense, contiguous, row-major (NCHW) tensor of float32, float64, int64 or bool.
///
/// Every tensor is contiguous; a view (reshape, detach, narrow along the leading
/// dimension) shares its Storage at an element offset. Kernels work on raw pointers.
public final class Tensor {
    public let shape: [Int]
    /// Changes only through `convert_` (torch's `module.double()` converts parameters in place).
    public private(set) var dtype: DType
    public let count: Int
    private(set) var storage: Storage
    private(set) var offset: Int  // in elements

    /// Leaves: set by the user. Results of ops: true when a graph node was recorded.
    public private(set) var requiresGrad: Bool = false
    /// Accumulated gradient (leaves only), like torch's `.grad`.
    public var grad: Tensor?
    /// The autograd node that produced this tensor (nil for leaves).
    var node: Node?

    init(shape: [Int], dtype: DType, storage: Storage, offset: Int = 0) {
        self.shape = shape
        self.dtype = dtype
        var n = 1
        for d in shape { n &*= d }
        self.count = n
        self.storage = storage
        self.offset = offset
    }

    /// Uninitialised tensor (kernels fill it).
    static func uninitialized(_ shape: [Int], dtype: DType = .float32, op: String = "empty") throws -> Tensor {
        let n = try Shape.count(shape, op: op)
        return Tensor(shape: shape, dtype: dtype, storage: try Storage(byteCount: n * dtype.byteSize, op: op))
    }

    public var ndim: Int { shape.count }
    public var isLeaf: Bool { node == nil }

    /// Raw float32 pointer (valid while this tensor lives). Callers check dtype.
    var f: UnsafeMutablePointer<Float> {
        storage.base.assumingMemoryBound(to: Float.self) + offset
    }
    /// Raw float64 pointer.
    var d: UnsafeMutablePointer<Double> {
        storage.base.assumingMemoryBound(to: Double.self) + offset
    }
    /// Raw pointer to the elements as `S` (the caller checked that `S.dtype == dtype`).
    @inline(__always)
    func p<S: Real>(_: S.Type = S.self) -> UnsafeMutablePointer<S> {
        storage.base.assumingMemoryBound(to: S.self) + offset
    }
    /// Raw int64 pointer.
    var i: UnsafeMutablePointer<Int64> {
        storage.base.assumingMemoryBound(to: Int64.self) + offset
    }
    /// Raw uint8 pointer.
    var u: UnsafeMutablePointer<UInt8> {
        storage.base.assumingMemoryBound(to: UInt8.self) + offset
    }
    /// Raw bool pointer (one byte per element, nonzero is true).
    var b: UnsafeMutablePointer<UInt8> {
        storage.base.assumingMemoryBound(to: UInt8.self) + offset
    }
    /// Byte address of the first element (for the C ABI).
    public var rawPointer: UnsafeMutableRawPointer { storage.base + offset * dtype.byteSize }
    public var byteCount: Int { count * dtype.byteSize }

    // MARK: autograd flags

    /// torch's `requires_grad_`: only leaves can change it, and only float tensors require grad.
    @discardableResult
    public func requiresGrad(_ flag: Bool = true) throws -> Tensor {
        guard isLeaf else {
            throw DFMError.state("requires_grad_", "you can only change requires_grad flags of leaf tensors")
        }
        if flag && !dtype.isFloat {
            throw DFMError.type("requires_grad_", "only floating point tensors can require gradients, got \(dtype)")
        }
        requiresGrad = flag
        return self
    }

    func markRecorded(_ n: Node) {
        node = n
        requiresGrad = true
    }

    /// A tensor sharing this one's memory, cut from the graph.
    public func detach() -> Tensor {
        Tensor(shape: shape, dtype: dtype, storage: storage, offset: offset)
    }

    // MARK: construction

    /// Copies `data` into a new float32 tensor of `shape`.
    public convenience init(_ data: [Float], shape: [Int]) throws {
        try self.init(copying: data, shape: shape, dtype: .float32)
    }

    /// Copies `data` into a new float64 tensor of `shape`.
    public convenience init(double data: [Double], shape: [Int]) throws {
        try self.init(copying: data, shape: shape, dtype: .float64)
    }

    /// Copies `data` into a new int64 tensor of `shape`.
    public convenience init(int64 data: [Int64], shape: [Int]) throws {
        try self.init(copying: data, shape: shape, dtype: .int64)
    }

    /// Copies `data` into a new uint8 tensor of `shape`.
    public convenience init(uint8 data: [UInt8], shape: [Int]) throws {
        try self.init(copying: data, shape: shape, dtype: .uint8)
    }

    /// Copies `data` into a new bool tensor of `shape` (Swift stores a Bool as one byte, 0 or 1).
    public convenience init(bool data: [Bool], shape: [Int]) throws {
        try self.init(copying: data, shape: shape, dtype: .bool)
    }

    private convenience init<T>(copying data: [T], shape: [Int], dtype: DType) throws {
        let n = try Shape.count(shape, op: "tensor")
        guard n == data.count else {
            throw DFMError.shape("tensor", "shape \(shape) holds \(n) elements but \(data.count) were given")
        }
        self.init(shape: shape, dtype: dtype, storage: try Storage(byteCount: n * dtype.byteSize, op: "tensor"))
        data.withUnsafeBytes { src in
            if let b = src.baseAddress { rawPointer.copyMemory(from: b, byteCount: src.count) }
        }
    }

    /// Wraps caller memory without copying; `release` is called when the last view goes.
    public static func borrowing(
        _ ptr: UnsafeMutableRawPointer, shape: [Int], dtype: DType,
        release: @escaping (UnsafeMutableRawPointer) -> Void
    ) throws -> Tensor {
        let n = try Shape.count(shape, op: "from_blob")
        return Tensor(
            shape: shape, dtype: dtype,
            storage: Storage(borrowing: ptr, byteCount: n * dtype.byteSize, release: release))
    }

    /// A tensor of `shape` filled with `value` (float32 unless `dtype` says otherwise).
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32) throws -> Tensor {
        let t = try uninitialized(shape, dtype: dtype, op: "full")
        t.fill_(value)
        return t
    }

    public static func zeros(_ shape: [Int], dtype: DType = .float32) throws -> Tensor {
        let t = try uninitialized(shape, dtype: dtype, op: "zeros")
        t.rawPointer.initializeMemory(as: UInt8.self, repeating: 0, count: t.byteCount)
        return t
    }

    public static func ones(_ shape: [Int], dtype: DType = .float32) throws -> Tensor {
        try full(shape, 1, dtype: dtype)
    }

    public static func scalar(_ v: Double, dtype: DType = .float32) -> Tensor {
        // A 0-dim allocation of 8 bytes cannot fail short of a broken allocator.
        let t = Tensor(shape: [], dtype: dtype, storage: (try? Storage(byteCount: 8)) ?? Storage.emergency())
        t.fill_(v)
        return t
    }

    /// torch.arange(start, end, step) as float32, or int64 when `dtype` says so.
    public static func arange(_ start: Double, _ end: Double, _ step: Double = 1, dtype: DType = .float32) throws
        -> Tensor
    {
        guard dtype != .bool, dtype != .uint8 else {
            throw DFMError.type("arange", "arange is not implemented for \(dtype)")
        }
        guard step != 0, step.isFinite, start.isFinite, end.isFinite else {
            throw DFMError.invalid(
                "arange", "step must be nonzero and bounds finite (start \(start), end \(end), step \(step))")
        }
        guard (end - start) / step >= 0 else {
            throw DFMError.invalid("arange", "upper bound and larger bound inconsistent with step sign")
        }
        let n = Int(((end - start) / step).rounded(.up))
        let t = try uninitialized([n], dtype: dtype, op: "arange")
        for k in 0..<n {
            let v = start + Double(k) * step
            switch dtype {
            case .float32: t.f[k] = Float(v)
            case .float64: t.d[k] = v
            default: t.i[k] = Int64(v)
            }
        }
        return t
    }

    // MARK: reading

    /// Element k as a Double (exact for every dtype but int64 beyond 2^53).
    @inline(__always)
    func double(at k: Int) -> Double {
        switch dtype {
        case .float32: return Double(f[k])
        case .float64: return d[k]
        case .int64: return Double(i[k])
        case .bool: return b[k] != 0 ? 1 : 0
        case .uint8: return Double(u[k])
        }
    }

    /// Elements as a Swift array of Float (other dtypes converted; float64 rounds).
    public func toArray() -> [Float] {
        if dtype == .float32 { return Array(UnsafeBufferPointer(start: f, count: count)) }
        return (0..<count).map { Float(double(at: $0)) }
    }

    /// Elements as a Swift array of Double (exact for float32, float64 and bool).
    public func toDoubleArray() -> [Double] {
        if dtype == .float64 { return Array(UnsafeBufferPointer(start: d, count: count)) }
        return (0..<count).map { double(at: $0) }
    }

    public func toInt64Array() -> [Int64] {
        switch dtype {
        case .float32: return (0..<count).map { Int64(f[$0]) }
        case .float64: return (0..<count).map { Int64(d[$0]) }
        case .int64: return Array(UnsafeBufferPointer(start: i, count: count))
        case .bool: return (0..<count).map { b[$0] != 0 ? 1 : 0 }
        case .uint8: return (0..<count).map { Int64(u[$0]) }
        }
    }

    public func toBoolArray() -> [Bool] {
        (0..<count).map { double(at: $0) != 0 }
    }

    /// The value of a one-element tensor.
    public func item() throws -> Float {
        guard count == 1 else {
            throw DFMError.invalid("item", "a Tensor with \(count) elements cannot be converted to a scalar")
        }
        return Float(double(at: 0))
    }

    /// The value of a one-element tensor as a Double (exact for float64).
    public func itemDouble() throws -> Double {
        guard count == 1 else {
            throw DFMError.invalid("item", "a Tensor with \(count) elements cannot be converted to a scalar")
        }
        return double(at: 0)
    }

    /// A contiguous copy in new memory, cut from the graph.
    public func clone() throws -> Tensor {
        let t = try Tensor.uninitialized(shape, dtype: dtype, op: "clone")
        t.rawPointer.copyMemory(from: rawPointer, byteCount: byteCount)
        return t
    }

    /// In-place copy of `src` (same shape) into this tensor's memory, converting the dtype
    /// as `toDType` does. Runs outside autograd, like torch's `with no_grad(): t.copy_(src)`.
    public func copy_(_ src: Tensor) throws {
        guard src.shape == shape else {
            throw DFMError.shape("copy_", "source shape \(src.shape) does not match destination shape \(shape)")
        }
        let s = try toDType(src, dtype)  // converts (and validates) before anything is written
        rawPointer.copyMemory(from: s.rawPointer, byteCount: byteCount)
    }

    /// Converts this tensor's elements to `dtype` in place: new memory, same tensor object,
    /// so modules and optimizers that hold it see the change (torch's `param.data = param.data.to(dtype)`
    /// as done by `module.double()`). Views taken before keep the old memory. Its gradient,
    /// if any, is converted too; a tensor inside a recorded graph cannot be converted.
    public func convert_(_ dtype: DType) throws {
        if dtype == self.dtype { return }
        guard isLeaf else { throw DFMError.state("to", "cannot convert a non-leaf tensor in place; use toDType") }
        if requiresGrad && !dtype.isFloat {
            throw DFMError.type("to", "only floating point tensors can require gradients, got \(dtype)")
        }
        let converted = try GradMode.noGrad { try toDType(detach(), dtype) }
        try grad?.convert_(dtype)
        storage = converted.storage
        offset = converted.offset
        self.dtype = dtype
    }

    /// Fills with a constant in place (outside autograd).
    public func fill_(_ v: Double) {
        switch dtype {
        case .float32: f.update(repeating: Float(v), count: count)
        case .float64: d.update(repeating: v, count: count)
        case .int64: i.update(repeating: Int64(exactly: v.rounded(.towardZero)) ?? (v < 0 ? .min : .max), count: count)
        case .bool: b.update(repeating: v != 0 ? 1 : 0, count: count)
        case .uint8:
            u.update(repeating: UInt8(truncatingIfNeeded: Int64(exactly: v.rounded(.towardZero)) ?? 0), count: count)
        }
    }
}

extension Storage {
    /// Last-resort 64-byte buffer for `Tensor.scalar`; posix_memalign of 64 bytes failing means the
    /// process is already out of memory.
    static func emergency() -> Storage {
        Storage(borrowing: UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64), byteCount: 64) {
            $0.deallocate()
        }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let vals = (0..<Swift.min(count, 8)).map { k -> String in
            switch dtype {
            case .float32, .float64: return String(format: "%.4f", double(at: k))
            case .int64: return String(i[k])
            case .uint8: return String(u[k])
            case .bool: return String(b[k] != 0)
            }
        }
        return "tensor(shape: \(shape), dtype: \(dtype), [\(vals.joined(separator: ", "))\(count > 8 ? ", ..." : "")])"
    }
}
