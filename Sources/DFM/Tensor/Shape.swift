/// Shape arithmetic, all overflow-checked: a user-supplied shape never traps.
enum Shape {
    /// Number of elements, or a thrown error for negative or overflowing dimensions. The
    /// nonzero dims are bounded also when a 0 makes the count 0 (a (0, 2^62, 4) tensor made
    /// fan-in and outer/inner size products overflow; found by fuzz-abi): every partial product
    /// of a tensor's dims then stays within the limit.
    static func count(_ shape: [Int], op: String) throws -> Int {
        var nonzero = 1
        var empty = false
        for d in shape {
            guard d >= 0 else { throw DFMError.invalid(op, "negative dimension \(d) in shape \(shape)") }
            if d == 0 {
                empty = true
                continue
            }
            let (m, o) = nonzero.multipliedReportingOverflow(by: d)
            guard !o, m <= (1 << 38) else { throw DFMError(.outOfMemory, "\(op): shape \(shape) is too large") }
            nonzero = m
        }
        return empty ? 0 : nonzero
    }

    /// Row-major strides in elements.
    static func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc &*= shape[i]
        }
        return s
    }

    /// Wraps a possibly negative dim into 0..<ndim.
    static func dim(_ d: Int, _ ndim: Int, op: String) throws -> Int {
        let n = max(ndim, 1)
        let w = d < 0 ? d + n : d
        guard w >= 0, w < n else {
            throw DFMError.index(
                op, "dimension out of range (expected to be in range of [\(-n), \(n - 1)], but got \(d))")
        }
        return w
    }

    /// NumPy/PyTorch broadcasting of two shapes.
    static func broadcast(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
        let n = max(a.count, b.count)
        var out = [Int](repeating: 1, count: n)
        for i in 0..<n {
            let da = i < n - a.count ? 1 : a[i - (n - a.count)]
            let db = i < n - b.count ? 1 : b[i - (n - b.count)]
            if da == db || db == 1 {
                out[i] = da
            } else if da == 1 {
                out[i] = db
            } else {
                throw DFMError.shape(op, "shapes \(a) and \(b) cannot be broadcast (dimension \(i): \(da) vs \(db))")
            }
        }
        return out
    }

    /// Strides of `shape` (row-major) seen from the broadcast shape `to`: 0 where broadcast.
    static func broadcastStrides(_ shape: [Int], to: [Int]) -> [Int] {
        let s = strides(shape)
        let lead = to.count - shape.count
        var out = [Int](repeating: 0, count: to.count)
        for i in 0..<shape.count where shape[i] != 1 || to[lead + i] == 1 {
            out[lead + i] = shape[i] == 1 ? 0 : s[i]
        }
        return out
    }
}
