import Foundation

// Elementwise ops with broadcasting. Each op: forward through an EW kernel, then its
// derivative rule, written once, in `record`. Gradients of broadcast inputs are
// summed back to the input's shape by `sumTo`. int64 operands go through IntArith
// (Kernels/IntKernels.swift): int64 ∘ int64 stays int64, mixed computes in float32.

public func add(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    if !a.dtype.isFloat || !b.dtype.isFloat { return try IntArith.binary(a, b, .add, op: "add", float: add) }
    let (a, b) = try promoteFloats(a, b)
    let out = try EW.broadcast(a, b, op: "add", FloatOps.Add())
    return record("add", out, [a, b]) { g in [try sumTo(g, a.shape), try sumTo(g, b.shape)] }
}

public func sub(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    if !a.dtype.isFloat || !b.dtype.isFloat { return try IntArith.binary(a, b, .sub, op: "sub", float: sub) }
    let (a, b) = try promoteFloats(a, b)
    let out = try EW.broadcast(a, b, op: "sub", FloatOps.Sub())
    return record("sub", out, [a, b]) { g in [try sumTo(g, a.shape), try sumTo(try neg(g), b.shape)] }
}

public func mul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    if !a.dtype.isFloat || !b.dtype.isFloat { return try IntArith.binary(a, b, .mul, op: "mul", float: mul) }
    let (a, b) = try promoteFloats(a, b)
    let out = try EW.broadcast(a, b, op: "mul", FloatOps.Mul())
    return record("mul", out, [a, b]) { g in
        [
            a.requiresGrad ? try sumTo(try mul(g, b), a.shape) : nil,
            b.requiresGrad ? try sumTo(try mul(g, a), b.shape) : nil,
        ]
    }
}

public func div(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    if !a.dtype.isFloat || !b.dtype.isFloat { return try IntArith.binary(a, b, nil, op: "div", float: div) }
    let (a, b) = try promoteFloats(a, b)
    let out = try EW.broadcast(a, b, op: "div", FloatOps.Div())
    return record("div", out, [a, b]) { g in
        [
            a.requiresGrad ? try sumTo(try div(g, b), a.shape) : nil,
            // d(a/b)/db = -a/b² = -out/b
            b.requiresGrad
                ? try sumTo(try EW.broadcast(try mul(g, out), b, op: "div_backward") { -$0 / $1 }, b.shape) : nil,
        ]
    }
}

public func add(_ a: Tensor, _ s: Double) throws -> Tensor {
    if !a.dtype.isFloat { return try IntArith.scalar(a, s, .add, op: "add", float: add) }
    let out = try EW.map(a, op: "add", FloatOps.AddScalar(s: s))
    return record("add_scalar", out, [a]) { g in [g] }
}

public func sub(_ a: Tensor, _ s: Double) throws -> Tensor {
    if a.dtype == .bool { throw IntArith.boolSubtraction("sub") }
    return try add(a, -s)
}

/// s - a
public func rsub(_ s: Double, _ a: Tensor) throws -> Tensor {
    if !a.dtype.isFloat {
        return try IntArith.scalar(a, s, .sub, reversed: true, op: "rsub", float: { try rsub($1, $0) })
    }
    let out = try EW.map(a, op: "rsub") { s - $0 }
    return record("rsub_scalar", out, [a]) { g in [try neg(g)] }
}

public func mul(_ a: Tensor, _ s: Double) throws -> Tensor {
    if !a.dtype.isFloat { return try IntArith.scalar(a, s, .mul, op: "mul", float: mul) }
    let out = try EW.map(a, op: "mul", FloatOps.MulScalar(s: s))
    return record("mul_scalar", out, [a]) { g in [try mul(g, s)] }
}

public func div(_ a: Tensor, _ s: Double) throws -> Tensor {
    if !a.dtype.isFloat { return try IntArith.scalar(a, s, nil, op: "div", float: div) }
    let out = try EW.map(a, op: "div") { $0 / s }
    return record("div_scalar", out, [a]) { g in [try div(g, s)] }
}

/// s / a
public func rdiv(_ s: Double, _ a: Tensor) throws -> Tensor {
    if !a.dtype.isFloat { return try IntArith.scalar(a, s, nil, op: "rdiv", float: { try rdiv($1, $0) }) }
    let out = try EW.map(a, op: "rdiv") { s / $0 }
    return record("rdiv_scalar", out, [a]) { g in
        [try EW.zip(g, try mul(out, out), op: "rdiv_backward") { -$0 * $1 / s }]
    }
}

/// torch.floor_divide (Python's //): floor(a / b). Not differentiable, as in torch.
public func floorDivide(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    if !a.dtype.isFloat || !b.dtype.isFloat {
        return try IntArith.binary(a, b, .floorDiv, op: "floor_divide", float: floorDivide)
    }
    let (a, b) = try promoteFloats(a, b)
    return try EW.broadcast(a, b, op: "floor_divide", FloatOps.FloorDiv())
}

public func floorDivide(_ a: Tensor, _ s: Double) throws -> Tensor {
    if !a.dtype.isFloat { return try IntArith.scalar(a, s, .floorDiv, op: "floor_divide", float: floorDivide) }
    return try EW.map(a, op: "floor_divide", Bind2(f: FloatOps.FloorDiv(), s: s))
}

/// torch.remainder (Python's %): a - floor(a / b)·b, with the sign of b.
public func remainder(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    if !a.dtype.isFloat || !b.dtype.isFloat {
        return try IntArith.binary(a, b, .mod, op: "remainder", float: remainder)
    }
    let (a, b) = try promoteFloats(a, b)
    let out = try EW.broadcast(a, b, op: "remainder", FloatOps.Remainder())
    return record("remainder", out, [a, b]) { g in
        [
            a.requiresGrad ? try sumTo(g, a.shape) : nil,
            b.requiresGrad ? try sumTo(try mul(g, try neg(try floorDivide(a, b))), b.shape) : nil,
        ]
    }
}

public func remainder(_ a: Tensor, _ s: Double) throws -> Tensor {
    if !a.dtype.isFloat { return try IntArith.scalar(a, s, .mod, op: "remainder", float: remainder) }
    let out = try EW.map(a, op: "remainder", Bind2(f: FloatOps.Remainder(), s: s))
    return record("remainder_scalar", out, [a]) { g in [g] }
}

public func neg(_ a: Tensor) throws -> Tensor {
    if a.dtype == .bool {
        throw DFMError.type(
            "neg",
            "Negation, the `-` operator, on a bool tensor is not supported. "
                + "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    }
    if a.dtype == .int64 { return try IntKernels.map(a, op: "neg") { 0 &- $0 } }  // wraps like torch
    let out = try EW.map(a, op: "neg", FloatOps.Neg())
    return record("neg", out, [a]) { g in [try neg(g)] }
}

public func exp(_ a: Tensor) throws -> Tensor {
    let out = try EW.map(a, op: "exp") { Foundation.exp($0) }
    return record("exp", out, [a]) { g in [try EW.zip(g, out, op: "exp_backward", FloatOps.Mul())] }
}

public func log(_ a: Tensor) throws -> Tensor {
    let out = try EW.map(a, op: "log") { Foundation.log($0) }
    return record("log", out, [a]) { g in [try EW.zip(g, a, op: "log_backward", FloatOps.Div())] }
}

public func abs(_ a: Tensor) throws -> Tensor {
    if a.dtype == .bool { throw DFMError.type("abs", "abs is not implemented for bool tensors") }
    // abs(Int64.min) wraps like torch
    if a.dtype == .int64 { return try IntKernels.map(a, op: "abs") { $0 < 0 ? 0 &- $0 : $0 } }
    let out = try EW.map(a, op: "abs") { Swift.abs($0) }
    return record("abs", out, [a]) { g in
        [try EW.zip(g, a, op: "abs_backward") { g, x in x > 0 ? g : (x < 0 ? -g : 0) }]
    }
}

public func sqrt(_ a: Tensor) throws -> Tensor {
    let out = try EW.map(a, op: "sqrt") { $0.squareRoot() }
    return record("sqrt", out, [a]) { g in [try EW.zip(g, out, op: "sqrt_backward") { $0 / (2 * $1) }] }
}

/// a ** p for a scalar exponent.
public func pow(_ a: Tensor, _ p: Double) throws -> Tensor {
    if !a.dtype.isFloat { return try IntArith.pow(a, p, float: pow) }
    let out = try EW.map(a, op: "pow", FloatOps.PowScalar(p: p))
    return record("pow_scalar", out, [a]) { g in
        [
            p == 0
                ? try Tensor.zeros(a.shape, dtype: a.dtype)
                : try EW.zip(g, a, op: "pow_backward", FloatOps.PowScalarBackward(p: p))
        ]
    }
}

/// a ** b elementwise with broadcasting.
public func pow(_ a: Tensor, _ b: Tensor) throws -> Tensor {
    if !a.dtype.isFloat || !b.dtype.isFloat { return try IntArith.binary(a, b, .pow, op: "pow", float: pow) }
    let (a, b) = try promoteFloats(a, b)
    let out = try EW.broadcast(a, b, op: "pow") { Foundation.pow($0, $1) }
    return record("pow", out, [a, b]) { g in
        [
            a.requiresGrad
                ? try sumTo(
                    try mul(
                        g,
                        try EW.broadcast(a, b, op: "pow_backward") { x, p in p == 0 ? 0 : p * Foundation.pow(x, p - 1) }
                    ), a.shape) : nil,
            b.requiresGrad
                ? try sumTo(
                    try mul(
                        g, try EW.broadcast(out, a, op: "pow_backward") { o, x in x > 0 ? o * Foundation.log(x) : 0 }),
                    b.shape) : nil,
        ]
    }
}

/// torch.clamp(a, min, max); either bound may be nil. Gradient passes where min <= a <= max.
public func clamp(_ a: Tensor, min lo: Double? = nil, max hi: Double? = nil) throws -> Tensor {
    guard lo != nil || hi != nil else {
        throw DFMError.invalid("clamp", "at least one of 'min' or 'max' must not be None")
    }
    if !a.dtype.isFloat { return try IntArith.clamp(a, min: lo, max: hi) { try clamp($0, min: $1, max: $2) } }
    let l = lo ?? -.infinity
    let h = hi ?? .infinity
    // torch: max bound wins when min > max; NaN propagates.
    let out = try EW.map(a, op: "clamp") { x in x.isNaN ? x : Swift.min(Swift.max(x, l), h) }
    return record("clamp", out, [a]) { g in
        [try EW.zip(g, a, op: "clamp_backward") { g, x in (x >= l && x <= h) ? g : 0 }]
    }
}

public func relu(_ a: Tensor) throws -> Tensor {
    let out = try EW.map(a, op: "relu", FloatOps.Relu())
    return record("relu", out, [a]) { g in [try EW.zip(g, out, op: "relu_backward", FloatOps.ReluBackward())] }
}

/// GELU, exact erf form: x·Φ(x).
public func gelu(_ a: Tensor) throws -> Tensor {
    let out = try EW.map(a, op: "gelu", FloatOps.Gelu())
    return record("gelu", out, [a]) { g in [try EW.zip(g, a, op: "gelu_backward", FloatOps.GeluBackward())] }
}

public func sigmoid(_ a: Tensor) throws -> Tensor {
    let out = try EW.map(a, op: "sigmoid") { 1 / (1 + Foundation.exp(-$0)) }
    return record("sigmoid", out, [a]) { g in [try EW.zip(g, out, op: "sigmoid_backward") { $0 * $1 * (1 - $1) }] }
}

public func tanh(_ a: Tensor) throws -> Tensor {
    let out = try EW.map(a, op: "tanh") { Foundation.tanh($0) }
    return record("tanh", out, [a]) { g in [try EW.zip(g, out, op: "tanh_backward") { $0 * (1 - $1 * $1) }] }
}

/// torch.nn.functional.leaky_relu: x for x > 0, else slope·x.
public func leakyRelu(_ a: Tensor, negativeSlope s: Double = 0.01) throws -> Tensor {
    let out = try EW.map(a, op: "leaky_relu") { $0 > 0 ? $0 : $0 * s }
    return record("leaky_relu", out, [a]) { g in
        [try EW.zip(g, a, op: "leaky_relu_backward") { g, x in x > 0 ? g : g * s }]
    }
}

public func sin(_ a: Tensor) throws -> Tensor {
    let out = try EW.map(a, op: "sin") { Foundation.sin($0) }
    return record("sin", out, [a]) { g in [try EW.zip(g, a, op: "sin_backward") { $0 * Foundation.cos($1) }] }
}

public func cos(_ a: Tensor) throws -> Tensor {
    let out = try EW.map(a, op: "cos") { Foundation.cos($0) }
    return record("cos", out, [a]) { g in [try EW.zip(g, a, op: "cos_backward") { -$0 * Foundation.sin($1) }] }
}

/// log(1 + x), accurate near 0.
public func log1p(_ a: Tensor) throws -> Tensor {
    let out = try EW.map(a, op: "log1p") { Foundation.log1p($0) }
    return record("log1p", out, [a]) { g in [try EW.zip(g, a, op: "log1p_backward") { $0 / (1 + $1) }] }
}

/// exp(x) - 1, accurate near 0.
public func expm1(_ a: Tensor) throws -> Tensor {
    let out = try EW.map(a, op: "expm1") { Foundation.expm1($0) }
    return record("expm1", out, [a]) { g in [try EW.zip(g, out, op: "expm1_backward") { $0 * ($1 + 1) }] }
}

/// Rounding and sign: piecewise constant, so the gradient is zero (as in torch). int64
/// inputs are already integral: floor/ceil/round/trunc return a copy, sign stays int64.
public enum Rounding: Sendable {
    case floor, ceil, round, trunc, sign

    var name: String {
        switch self {
        case .floor: return "floor"
        case .ceil: return "ceil"
        case .round: return "round"
        case .trunc: return "trunc"
        case .sign: return "sign"
        }
    }
}

public func rounded(_ a: Tensor, _ mode: Rounding) throws -> Tensor {
    let op = mode.name
    if !a.dtype.isFloat {
        guard mode == .sign else { return try a.clone() }
        let s = try IntKernels.map(try BoolKernels.toInt(a, op: op), op: op) { $0.signum() }
        return a.dtype == .int64 ? s : try toDType(s, a.dtype)
    }
    let out: Tensor
    switch mode {
    case .floor: out = try EW.map(a, op: op) { $0.rounded(.down) }
    case .ceil: out = try EW.map(a, op: op) { $0.rounded(.up) }
    case .round: out = try EW.map(a, op: op) { $0.rounded(.toNearestOrEven) }  // torch rounds half to even
    case .trunc: out = try EW.map(a, op: op) { $0.rounded(.towardZero) }
    case .sign: out = try EW.map(a, op: op) { $0 > 0 ? 1 : $0 < 0 ? -1 : 0 }  // 0 for ±0 and NaN, as torch
    }
    return record(op, out, [a]) { _ in [try Tensor.zeros(a.shape, dtype: a.dtype)] }
}

// Operators, so Swift code reads like the math.
public func + (a: Tensor, b: Tensor) throws -> Tensor { try add(a, b) }
public func - (a: Tensor, b: Tensor) throws -> Tensor { try sub(a, b) }
public func * (a: Tensor, b: Tensor) throws -> Tensor { try mul(a, b) }
public func / (a: Tensor, b: Tensor) throws -> Tensor { try div(a, b) }
public func + (a: Tensor, s: Double) throws -> Tensor { try add(a, s) }
public func - (a: Tensor, s: Double) throws -> Tensor { try sub(a, s) }
public func * (a: Tensor, s: Double) throws -> Tensor { try mul(a, s) }
public func / (a: Tensor, s: Double) throws -> Tensor { try div(a, s) }
public prefix func - (a: Tensor) throws -> Tensor { try neg(a) }

/// torch's promotion between float dtypes: a float32 operand of a float64 op is converted
/// (with its gradient flowing back as float32).
func promoteFloats(_ a: Tensor, _ b: Tensor) throws -> (Tensor, Tensor) {
    guard a.dtype.isFloat, b.dtype.isFloat, a.dtype != b.dtype else { return (a, b) }
    return a.dtype == .float64 ? (a, try toDType(b, .float64)) : (try toDType(a, .float64), b)
}
