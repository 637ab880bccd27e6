import CDFM
import DFM

/// Validation of C arguments, before anything reaches the core. Every helper throws an
/// ABIError naming the argument and the offending value.
enum Arg {
    /// Largest rank accepted for a shape or dims list.
    static let maxRank = 32
    /// Largest element count dfm will allocate (matches the core's limit, 2^38).
    static let maxElements = 1 << 38

    static func out<T>(_ p: UnsafeMutablePointer<T>?, _ name: String = "out") throws -> UnsafeMutablePointer<T> {
        guard let p else { throw ABIError(.invalidArgument, "output pointer '\(name)' is NULL") }
        return p
    }

    static func object<T: AnyObject>(_ h: OpaquePointer?, _ kind: HandleKind, _ name: String) throws -> T {
        try Handles.get(h, kind, name, as: T.self)
    }

    static func tensor(_ h: dfm_tensor?, _ name: String) throws -> Tensor {
        try Handles.get(h, .tensor, name, as: Tensor.self)
    }

    /// A tensor or nil for a NULL handle (optional arguments).
    static func optionalTensor(_ h: dfm_tensor?, _ name: String) throws -> Tensor? {
        h == nil ? nil : try tensor(h, name)
    }

    static func dtype(_ d: dfm_dtype) throws -> DType {
        guard let t = DType(rawValue: Int32(bitPattern: d.rawValue)) else {
            throw ABIError(
                .invalidArgument,
                "unknown dtype \(d.rawValue) (expected DFM_FLOAT32 = 0, DFM_INT64 = 1, DFM_BOOL = 2, DFM_FLOAT64 = 3 or DFM_UINT8 = 4)"
            )
        }
        return t
    }

    /// `n` int64 values from `p` (p may be NULL only when n == 0), n in 0...limit.
    static func ints(_ p: UnsafePointer<Int64>?, _ n: Int64, _ name: String, countName: String, limit: Int = maxRank)
        throws -> [Int]
    {
        guard n >= 0, n <= Int64(limit) else {
            throw ABIError(.invalidArgument, "'\(countName)' must be in 0...\(limit), got \(n)")
        }
        if n == 0 { return [] }
        guard let p else { throw ABIError(.invalidArgument, "'\(name)' is NULL but '\(countName)' is \(n)") }
        return (0..<Int(n)).map { Int(p[$0]) }
    }

    /// A shape: rank in 0...32, every dim >= 0 (or -1 where `allowInfer`), product within the
    /// allocation limit (overflow-checked).
    static func shape(_ p: UnsafePointer<Int64>?, _ ndim: Int64, _ name: String = "shape", allowInfer: Bool = false)
        throws -> [Int]
    {
        let dims = try ints(p, ndim, name, countName: "ndim")
        var n = 1
        for d in dims {
            if allowInfer && d == -1 { continue }
            guard d >= 0 else { throw ABIError(.invalidArgument, "negative dimension \(d) in \(name) \(dims)") }
            let (m, o) = n.multipliedReportingOverflow(by: d)
            guard !o, m <= maxElements else {
                throw ABIError(.outOfMemory, "\(name) \(dims) has too many elements (limit \(maxElements))")
            }
            n = m
        }
        return dims
    }

    /// Element count of `shape` (already validated by `shape`).
    static func count(_ shape: [Int]) -> Int { shape.reduce(1, &*) }

    /// A size_t byte count (Swift's Int; a value above Int.max arrives negative).
    static func bytes(_ n: Int, _ name: String) throws -> Int {
        guard n >= 0 else { throw ABIError(.invalidArgument, "'\(name)' = \(UInt(bitPattern: n)) is too large") }
        return n
    }

    static func string(_ p: UnsafePointer<CChar>?, _ name: String) throws -> String {
        guard let p else { throw ABIError(.invalidArgument, "'\(name)' is NULL") }
        return String(cString: p)
    }

    /// Bound on geometry values (kernel sizes, strides, paddings, dilations, groups, output
    /// sizes). Far above any real network, and small enough that the core's size arithmetic
    /// (products of these with tensor dims, which are < 2^38) cannot overflow.
    static let maxGeometry: Int64 = 1 << 24

    /// A geometry value within ±maxGeometry (the core checks the sign and the rest).
    static func geometry(_ v: Int64, _ name: String) throws -> Int {
        guard v >= -maxGeometry, v <= maxGeometry else {
            throw ABIError(.invalidArgument, "'\(name)' = \(v) is out of range (|value| <= \(maxGeometry))")
        }
        return Int(v)
    }

    /// Exactly two geometry values (a 2-D kernel size, stride, padding, ...); NULL rejected.
    static func pair(_ p: UnsafePointer<Int64>?, _ name: String) throws -> [Int] {
        guard let p else { throw ABIError(.invalidArgument, "'\(name)' is NULL (expected 2 values)") }
        return [try geometry(p[0], "\(name)[0]"), try geometry(p[1], "\(name)[1]")]
    }

    /// Two int64 values, or nil for NULL (the op's default).
    static func optionalPair(_ p: UnsafePointer<Int64>?, _ name: String) throws -> [Int]? {
        p == nil ? nil : try pair(p, name)
    }

    /// `n` tensor handles from a C array (1...65536 of them unless `allowEmpty`).
    static func tensors(_ p: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ name: String, allowEmpty: Bool = false) throws
        -> [Tensor]
    {
        guard n >= (allowEmpty ? 0 : 1), n <= 65_536 else {
            throw ABIError(
                .invalidArgument, "number of tensors in '\(name)' must be in \(allowEmpty ? 0 : 1)...65536, got \(n)")
        }
        if n == 0 { return [] }
        guard let p else { throw ABIError(.invalidArgument, "'\(name)' is NULL but its count is \(n)") }
        return try (0..<Int(n)).map { try tensor(p[$0], "\(name)[\($0)]") }
    }
}
