import Foundation

/// Which fan kaiming init scales by (torch's mode='fan_in' / 'fan_out').
public enum FanMode: Sendable {
    case fanIn, fanOut

    /// From torch's strings "fan_in" / "fan_out" (case-insensitive, like torch).
    public init(_ name: String) throws {
        switch name.lowercased() {
        case "fan_in": self = .fanIn
        case "fan_out": self = .fanOut
        default:
            throw DFMError.invalid(
                "kaiming", "Mode \(name.lowercased()) not supported, please use one of ['fan_in', 'fan_out']")
        }
    }
}

/// torch.nn.init: in-place initialisers. All run outside autograd and return the tensor.
/// The random ones draw from `generator` (the global generator when nil).
public enum Init {
    /// torch.nn.init._calculate_fan_in_and_fan_out: fan_in = size(1)·receptive field,
    /// fan_out = size(0)·receptive field, receptive field = product of dims 2...
    public static func calculateFanInAndFanOut(_ t: Tensor) throws -> (fanIn: Int, fanOut: Int) {
        guard t.ndim >= 2 else {
            throw DFMError.invalid(
                "init",
                "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions (got shape \(t.shape))")
        }
        let receptive = t.shape.dropFirst(2).reduce(1, *)
        return (t.shape[1] * receptive, t.shape[0] * receptive)
    }

    /// torch.nn.init.calculate_gain. `param` is leaky_relu's negative slope (0.01 when nil).
    public static func calculateGain(_ nonlinearity: String, param: Float? = nil) throws -> Float {
        switch nonlinearity {
        case "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
            "sigmoid":
            return 1
        case "tanh":
            return 5.0 / 3
        case "relu":
            return Float(2.0.squareRoot())
        case "leaky_relu":
            let slope = Double(param ?? 0.01)
            guard slope.isFinite else {
                throw DFMError.invalid("calculate_gain", "negative_slope \(slope) not a valid number")
            }
            return Float((2.0 / (1 + slope * slope)).squareRoot())
        case "selu":
            return 3.0 / 4
        default:
            throw DFMError.invalid("calculate_gain", "Unsupported nonlinearity \(nonlinearity)")
        }
    }

    private static func checkFloat(_ t: Tensor, _ op: String) throws {
        guard t.dtype.isFloat else { throw DFMError.type(op, "expected a floating point tensor, got \(t.dtype)") }
    }

    @discardableResult
    public static func constant_(_ t: Tensor, _ value: Double) throws -> Tensor {
        try checkFloat(t, "constant_")
        t.fill_(value)
        return t
    }

    @discardableResult
    public static func zeros_(_ t: Tensor) throws -> Tensor { try constant_(t, 0) }

    @discardableResult
    public static func ones_(_ t: Tensor) throws -> Tensor { try constant_(t, 1) }

    @discardableResult
    public static func normal_(_ t: Tensor, mean: Float = 0, std: Float = 1, generator: Generator? = nil) throws
        -> Tensor
    {
        try DFM.normal_(t, mean: mean, std: std, generator: generator)
        return t
    }

    @discardableResult
    public static func uniform_(_ t: Tensor, a: Float = 0, b: Float = 1, generator: Generator? = nil) throws -> Tensor {
        try DFM.uniform_(t, low: a, high: b, generator: generator)
        return t
    }

    /// std = gain / sqrt(fan) with gain = calculateGain(nonlinearity, a). Empty tensors are left alone.
    private static func kaimingStd(_ t: Tensor, a: Float, mode: FanMode, nonlinearity: String, op: String) throws
        -> Float?
    {
        try checkFloat(t, op)
        let fans = try calculateFanInAndFanOut(t)
        let gain = try calculateGain(nonlinearity, param: a)
        if t.count == 0 { return nil }  // torch warns "Initializing zero-element tensors is a no-op"
        let fan = mode == .fanIn ? fans.fanIn : fans.fanOut
        return Float(Double(gain) / Double(fan).squareRoot())
    }

    /// torch.nn.init.kaiming_normal_: N(0, std²), std = gain / sqrt(fan).
    @discardableResult
    public static func kaimingNormal_(
        _ t: Tensor, a: Float = 0, mode: FanMode = .fanIn, nonlinearity: String = "leaky_relu",
        generator: Generator? = nil
    ) throws -> Tensor {
        guard let std = try kaimingStd(t, a: a, mode: mode, nonlinearity: nonlinearity, op: "kaiming_normal_") else {
            return t
        }
        try DFM.normal_(t, mean: 0, std: std, generator: generator)
        return t
    }

    /// torch.nn.init.kaiming_uniform_: U(-bound, bound), bound = sqrt(3)·gain / sqrt(fan).
    @discardableResult
    public static func kaimingUniform_(
        _ t: Tensor, a: Float = 0, mode: FanMode = .fanIn, nonlinearity: String = "leaky_relu",
        generator: Generator? = nil
    ) throws -> Tensor {
        guard let std = try kaimingStd(t, a: a, mode: mode, nonlinearity: nonlinearity, op: "kaiming_uniform_") else {
            return t
        }
        let bound = Float(3.0.squareRoot()) * std
        try DFM.uniform_(t, low: -bound, high: bound, generator: generator)
        return t
    }

    private static func xavierStd(_ t: Tensor, gain: Float, op: String) throws -> Float {
        try checkFloat(t, op)
        let fans = try calculateFanInAndFanOut(t)
        return Float(Double(gain) * (2.0 / Double(fans.fanIn + fans.fanOut)).squareRoot())
    }

    /// torch.nn.init.xavier_uniform_: U(-a, a), a = gain·sqrt(6 / (fan_in + fan_out)).
    @discardableResult
    public static func xavierUniform_(_ t: Tensor, gain: Float = 1, generator: Generator? = nil) throws -> Tensor {
        let std = try xavierStd(t, gain: gain, op: "xavier_uniform_")
        if t.count == 0 { return t }
        let a = Float(3.0.squareRoot()) * std
        try DFM.uniform_(t, low: -a, high: a, generator: generator)
        return t
    }

    /// torch.nn.init.xavier_normal_: N(0, std²), std = gain·sqrt(2 / (fan_in + fan_out)).
    @discardableResult
    public static func xavierNormal_(_ t: Tensor, gain: Float = 1, generator: Generator? = nil) throws -> Tensor {
        let std = try xavierStd(t, gain: gain, op: "xavier_normal_")
        if t.count == 0 { return t }
        try DFM.normal_(t, mean: 0, std: std, generator: generator)
        return t
    }

    /// torch.nn.init.orthogonal_: the tensor, flattened to rows × (count/rows), gets
    /// orthonormal rows or columns (whichever is fewer) times `gain`. As in torch: QR of
    /// a standard normal matrix (transposed when rows < cols), Q's columns multiplied by
    /// sign(diag(R)) so Q is Haar-distributed.
    @discardableResult
    public static func orthogonal_(_ t: Tensor, gain: Float = 1, generator: Generator? = nil) throws -> Tensor {
        try checkFloat(t, "orthogonal_")
        guard t.ndim >= 2 else {
            throw DFMError.invalid(
                "orthogonal_", "Only tensors with 2 or more dimensions are supported (got shape \(t.shape))")
        }
        if t.count == 0 { return t }
        if t.dtype == .float64 {  // drawn in float32 like the other random inits, then converted
            let tmp = try Tensor.zeros(t.shape)
            try orthogonal_(tmp, gain: gain, generator: generator)
            try t.copy_(tmp)
            return t
        }
        let rows = t.shape[0]
        let cols = t.count / rows
        let flat = try randn([rows, cols], generator: generator)
        let transpose = rows < cols
        // m × n with m >= n: the matrix QR factorises.
        let m = transpose ? cols : rows
        let n = transpose ? rows : cols
        var a = [Float](repeating: 0, count: m * n)
        for r in 0..<rows {
            for c in 0..<cols {
                if transpose { a[c * n + r] = flat.f[r * cols + c] } else { a[r * n + c] = flat.f[r * cols + c] }
            }
        }
        let (q, rr, k) = try a.withUnsafeBufferPointer { buf -> ([Float], [Float], Int) in
            guard let base = buf.baseAddress else { throw DFMError(.internal, "orthogonal_: empty work matrix") }
            return try lapackQR(base, m: m, n: n, complete: false)
        }
        // q is m × k (k = n); torch.sign(0) = 0, so a zero pivot zeroes its column.
        var sign = [Float](repeating: 0, count: k)
        for j in 0..<k {
            let d = rr[j * n + j]
            sign[j] = d > 0 ? 1 : (d < 0 ? -1 : 0)
        }
        let o = t.f
        for i in 0..<m {
            for j in 0..<k {
                let v = q[i * k + j] * sign[j] * gain
                // Q is m × n; transposed back it is rows × cols.
                if transpose { o[j * cols + i] = v } else { o[i * cols + j] = v }
            }
        }
        return t
    }
}
