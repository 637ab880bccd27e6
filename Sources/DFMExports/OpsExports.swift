import CDFM
import DFM

// Every op of the core. Each export is one line: look the handles up, call the op.

public typealias TensorOut = UnsafeMutablePointer<dfm_tensor?>?
public typealias Dims = UnsafePointer<Int64>?

@inline(__always)
private func unary(_ fn: StaticString, _ a: dfm_tensor?, _ out: TensorOut, _ op: (Tensor) throws -> Tensor)
    -> dfm_status
{
    produceTensor(fn, out) { try op(try Arg.tensor(a, "a")) }
}

@inline(__always)
private func binary(
    _ fn: StaticString, _ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut,
    _ op: (Tensor, Tensor) throws -> Tensor
) -> dfm_status {
    produceTensor(fn, out) { try op(try Arg.tensor(a, "a"), try Arg.tensor(b, "b")) }
}

@inline(__always)
private func withScalar(
    _ fn: StaticString, _ a: dfm_tensor?, _ s: Double, _ out: TensorOut,
    _ op: (Tensor, Double) throws -> Tensor
) -> dfm_status {
    produceTensor(fn, out) { try op(try Arg.tensor(a, "a"), s) }
}

/// An export producing two new tensors; both outs are NULL unless the call succeeds.
@inline(__always)
private func produceTwo(
    _ fn: StaticString, _ out1: TensorOut, _ n1: String, _ out2: TensorOut, _ n2: String,
    _ body: () throws -> (Tensor, Tensor)
) -> dfm_status {
    guarded(fn) {
        // Both outputs are NULL on failure, also when the other pointer is the bad argument.
        out1?.pointee = nil
        out2?.pointee = nil
        let o1 = try Arg.out(out1, n1)
        let o2 = try Arg.out(out2, n2)
        let (a, b) = try body()
        o1.pointee = Handles.make(a, .tensor)
        o2.pointee = Handles.make(b, .tensor)
    }
}

// MARK: elementwise

@c @implementation public func dfm_add(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_add", a, b, out) { try add($0, $1) }
}
@c @implementation public func dfm_sub(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_sub", a, b, out) { try sub($0, $1) }
}
@c @implementation public func dfm_mul(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_mul", a, b, out) { try mul($0, $1) }
}
@c @implementation public func dfm_div(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_div", a, b, out) { try div($0, $1) }
}
@c @implementation public func dfm_pow(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_pow", a, b, out) { try pow($0, $1) }
}

@c @implementation public func dfm_add_scalar(_ a: dfm_tensor?, _ s: Double, _ out: TensorOut) -> dfm_status {
    withScalar("dfm_add_scalar", a, s, out) { try add($0, $1) }
}
@c @implementation public func dfm_sub_scalar(_ a: dfm_tensor?, _ s: Double, _ out: TensorOut) -> dfm_status {
    withScalar("dfm_sub_scalar", a, s, out) { try sub($0, $1) }
}
@c @implementation public func dfm_mul_scalar(_ a: dfm_tensor?, _ s: Double, _ out: TensorOut) -> dfm_status {
    withScalar("dfm_mul_scalar", a, s, out) { try mul($0, $1) }
}
@c @implementation public func dfm_div_scalar(_ a: dfm_tensor?, _ s: Double, _ out: TensorOut) -> dfm_status {
    withScalar("dfm_div_scalar", a, s, out) { try div($0, $1) }
}
@c @implementation public func dfm_pow_scalar(_ a: dfm_tensor?, _ s: Double, _ out: TensorOut) -> dfm_status {
    withScalar("dfm_pow_scalar", a, s, out) { try pow($0, $1) }
}
@c @implementation public func dfm_floor_divide(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_floor_divide", a, b, out) { try floorDivide($0, $1) }
}
@c @implementation public func dfm_remainder(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_remainder", a, b, out) { try remainder($0, $1) }
}
@c @implementation public func dfm_floor_divide_scalar(_ a: dfm_tensor?, _ s: Double, _ out: TensorOut) -> dfm_status {
    withScalar("dfm_floor_divide_scalar", a, s, out) { try floorDivide($0, $1) }
}
@c @implementation public func dfm_remainder_scalar(_ a: dfm_tensor?, _ s: Double, _ out: TensorOut) -> dfm_status {
    withScalar("dfm_remainder_scalar", a, s, out) { try remainder($0, $1) }
}
@c @implementation public func dfm_rsub_scalar(_ s: Double, _ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    withScalar("dfm_rsub_scalar", a, s, out) { try rsub($1, $0) }
}
@c @implementation public func dfm_rdiv_scalar(_ s: Double, _ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    withScalar("dfm_rdiv_scalar", a, s, out) { try rdiv($1, $0) }
}

@c @implementation public func dfm_neg(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_neg", a, out) { try neg($0) }
}
@c @implementation public func dfm_exp(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_exp", a, out) { try DFM.exp($0) }
}
@c @implementation public func dfm_log(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_log", a, out) { try DFM.log($0) }
}
@c @implementation public func dfm_abs(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_abs", a, out) { try DFM.abs($0) }
}
@c @implementation public func dfm_sqrt(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_sqrt", a, out) { try DFM.sqrt($0) }
}
@c @implementation public func dfm_relu(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_relu", a, out) { try relu($0) }
}
@c @implementation public func dfm_gelu(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_gelu", a, out) { try gelu($0) }
}
@c @implementation public func dfm_sin(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_sin", a, out) { try sin($0) }
}
@c @implementation public func dfm_cos(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_cos", a, out) { try cos($0) }
}
@c @implementation public func dfm_log1p(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_log1p", a, out) { try log1p($0) }
}
@c @implementation public func dfm_expm1(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_expm1", a, out) { try expm1($0) }
}
@c @implementation public func dfm_leaky_relu(_ a: dfm_tensor?, _ negative_slope: Double, _ out: TensorOut)
    -> dfm_status
{
    withScalar("dfm_leaky_relu", a, negative_slope, out) { try leakyRelu($0, negativeSlope: $1) }
}
@c @implementation public func dfm_floor(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_floor", a, out) { try rounded($0, .floor) }
}
@c @implementation public func dfm_ceil(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_ceil", a, out) { try rounded($0, .ceil) }
}
@c @implementation public func dfm_round(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_round", a, out) { try rounded($0, .round) }
}
@c @implementation public func dfm_trunc(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_trunc", a, out) { try rounded($0, .trunc) }
}
@c @implementation public func dfm_sign(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_sign", a, out) { try rounded($0, .sign) }
}
@c @implementation public func dfm_isnan(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_isnan", a, out) { try isNaN($0) }
}
@c @implementation public func dfm_isinf(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_isinf", a, out) { try isInf($0) }
}
@c @implementation public func dfm_isfinite(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_isfinite", a, out) { try isFinite($0) }
}
@c @implementation public func dfm_sigmoid(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_sigmoid", a, out) { try sigmoid($0) }
}
@c @implementation public func dfm_tanh(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_tanh", a, out) { try DFM.tanh($0) }
}

@c @implementation public func dfm_clamp(
    _ a: dfm_tensor?, _ has_min: Bool, _ min: Double, _ has_max: Bool, _ max: Double,
    _ out: TensorOut
) -> dfm_status {
    unary("dfm_clamp", a, out) { try clamp($0, min: has_min ? min : nil, max: has_max ? max : nil) }
}

// MARK: reductions

@c @implementation public func dfm_sum(
    _ x: dfm_tensor?, _ dims: Dims, _ ndims: Int64, _ keepdim: Bool, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_sum", out) {
        try sum(try Arg.tensor(x, "x"), dims: try Arg.ints(dims, ndims, "dims", countName: "ndims"), keepdim: keepdim)
    }
}

@c @implementation public func dfm_mean(
    _ x: dfm_tensor?, _ dims: Dims, _ ndims: Int64, _ keepdim: Bool, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_mean", out) {
        try mean(try Arg.tensor(x, "x"), dims: try Arg.ints(dims, ndims, "dims", countName: "ndims"), keepdim: keepdim)
    }
}

// MARK: shape ops

@c @implementation public func dfm_reshape(_ x: dfm_tensor?, _ shape: Dims, _ ndim: Int64, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_reshape", out) {
        try reshape(try Arg.tensor(x, "x"), try Arg.shape(shape, ndim, allowInfer: true))
    }
}

@c @implementation public func dfm_expand(_ x: dfm_tensor?, _ shape: Dims, _ ndim: Int64, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_expand", out) {
        let t = try Arg.tensor(x, "x")
        var s = try Arg.shape(shape, ndim, allowInfer: true)
        // torch: -1 keeps the tensor's own size (only over its trailing dims).
        let lead = s.count - t.ndim
        for k in s.indices where s[k] == -1 {
            guard k >= lead else {
                throw ABIError(
                    .invalidArgument,
                    "the expanded size -1 is not allowed in a leading, non-existing dimension (\(k)) of \(s)")
            }
            s[k] = t.shape[k - lead]
        }
        return try expand(t, to: s)
    }
}

@c @implementation public func dfm_permute(_ x: dfm_tensor?, _ dims: Dims, _ ndims: Int64, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_permute", out) {
        try permute(try Arg.tensor(x, "x"), try Arg.ints(dims, ndims, "dims", countName: "ndims"))
    }
}

@c @implementation public func dfm_transpose(_ x: dfm_tensor?, _ dim0: Int64, _ dim1: Int64, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_transpose", out) { try transpose(try Arg.tensor(x, "x"), Int(dim0), Int(dim1)) }
}

@c @implementation public func dfm_narrow(
    _ x: dfm_tensor?, _ dim: Int64, _ start: Int64, _ length: Int64, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_narrow", out) {
        try narrow(try Arg.tensor(x, "x"), dim: Int(dim), start: Int(start), length: Int(length))
    }
}

@c @implementation public func dfm_slice(
    _ x: dfm_tensor?, _ dim: Int64, _ has_start: Bool, _ start: Int64, _ has_end: Bool,
    _ end: Int64, _ step: Int64, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_slice", out) {
        try slice(
            try Arg.tensor(x, "x"), dim: Int(dim), start: has_start ? Int(start) : nil, end: has_end ? Int(end) : nil,
            step: Int(step))
    }
}

@c @implementation public func dfm_select(_ x: dfm_tensor?, _ dim: Int64, _ index: Int64, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_select", out) { try select(try Arg.tensor(x, "x"), dim: Int(dim), index: Int(index)) }
}

@c @implementation public func dfm_index_select(_ x: dfm_tensor?, _ dim: Int64, _ index: dfm_tensor?, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_index_select", out) {
        try indexSelect(try Arg.tensor(x, "x"), dim: Int(dim), index: try Arg.tensor(index, "index"))
    }
}

@c @implementation public func dfm_gather(_ x: dfm_tensor?, _ dim: Int64, _ index: dfm_tensor?, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_gather", out) {
        try gather(try Arg.tensor(x, "x"), dim: Int(dim), index: try Arg.tensor(index, "index"))
    }
}

@c @implementation public func dfm_scatter(
    _ x: dfm_tensor?, _ dim: Int64, _ index: dfm_tensor?, _ src: dfm_tensor?, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_scatter", out) {
        try scatter(
            try Arg.tensor(x, "x"), dim: Int(dim), index: try Arg.tensor(index, "index"),
            src: try Arg.tensor(src, "src"))
    }
}

@c @implementation public func dfm_scatter_add(
    _ x: dfm_tensor?, _ dim: Int64, _ index: dfm_tensor?, _ src: dfm_tensor?, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_scatter_add", out) {
        try scatterAdd(
            try Arg.tensor(x, "x"), dim: Int(dim), index: try Arg.tensor(index, "index"),
            src: try Arg.tensor(src, "src"))
    }
}

@c @implementation public func dfm_cumsum(_ x: dfm_tensor?, _ dim: Int64, _ out: TensorOut) -> dfm_status {
    produceTensor("dfm_cumsum", out) { try cumsum(try Arg.tensor(x, "x"), dim: Int(dim)) }
}

@c @implementation public func dfm_nonzero(_ x: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    produceTensor("dfm_nonzero", out) { try nonzero(try Arg.tensor(x, "x")) }
}

@c @implementation public func dfm_masked_select(_ x: dfm_tensor?, _ mask: dfm_tensor?, _ out: TensorOut) -> dfm_status
{
    produceTensor("dfm_masked_select", out) { try maskedSelect(try Arg.tensor(x, "x"), try Arg.tensor(mask, "mask")) }
}

@c @implementation public func dfm_cat(
    _ tensors: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ dim: Int64, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_cat", out) { try cat(try Arg.tensors(tensors, n, "tensors"), dim: Int(dim)) }
}

@c @implementation public func dfm_stack(
    _ tensors: UnsafePointer<dfm_tensor?>?, _ n: Int64, _ dim: Int64, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_stack", out) { try stack(try Arg.tensors(tensors, n, "tensors"), dim: Int(dim)) }
}

@c @implementation public func dfm_squeeze(_ x: dfm_tensor?, _ has_dim: Bool, _ dim: Int64, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_squeeze", out) { try squeeze(try Arg.tensor(x, "x"), dim: has_dim ? Int(dim) : nil) }
}

@c @implementation public func dfm_unsqueeze(_ x: dfm_tensor?, _ dim: Int64, _ out: TensorOut) -> dfm_status {
    produceTensor("dfm_unsqueeze", out) { try unsqueeze(try Arg.tensor(x, "x"), Int(dim)) }
}

@c @implementation public func dfm_flatten(_ x: dfm_tensor?, _ start_dim: Int64, _ end_dim: Int64, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_flatten", out) {
        try flatten(try Arg.tensor(x, "x"), startDim: Int(start_dim), endDim: Int(end_dim))
    }
}

// MARK: comparisons

@c @implementation public func dfm_eq(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_eq", a, b, out) { try eq($0, $1) }
}
@c @implementation public func dfm_ne(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_ne", a, b, out) { try ne($0, $1) }
}
@c @implementation public func dfm_lt(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_lt", a, b, out) { try lt($0, $1) }
}
@c @implementation public func dfm_le(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_le", a, b, out) { try le($0, $1) }
}
@c @implementation public func dfm_gt(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_gt", a, b, out) { try gt($0, $1) }
}
@c @implementation public func dfm_ge(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_ge", a, b, out) { try ge($0, $1) }
}
@c @implementation public func dfm_eq_scalar(_ a: dfm_tensor?, _ s: Double, _ out: TensorOut) -> dfm_status {
    withScalar("dfm_eq_scalar", a, s, out) { try eq($0, $1) }
}
@c @implementation public func dfm_ne_scalar(_ a: dfm_tensor?, _ s: Double, _ out: TensorOut) -> dfm_status {
    withScalar("dfm_ne_scalar", a, s, out) { try ne($0, $1) }
}
@c @implementation public func dfm_lt_scalar(_ a: dfm_tensor?, _ s: Double, _ out: TensorOut) -> dfm_status {
    withScalar("dfm_lt_scalar", a, s, out) { try lt($0, $1) }
}
@c @implementation public func dfm_le_scalar(_ a: dfm_tensor?, _ s: Double, _ out: TensorOut) -> dfm_status {
    withScalar("dfm_le_scalar", a, s, out) { try le($0, $1) }
}
@c @implementation public func dfm_gt_scalar(_ a: dfm_tensor?, _ s: Double, _ out: TensorOut) -> dfm_status {
    withScalar("dfm_gt_scalar", a, s, out) { try gt($0, $1) }
}
@c @implementation public func dfm_ge_scalar(_ a: dfm_tensor?, _ s: Double, _ out: TensorOut) -> dfm_status {
    withScalar("dfm_ge_scalar", a, s, out) { try ge($0, $1) }
}

@c @implementation public func dfm_where(_ cond: dfm_tensor?, _ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_where", out) {
        try whereMask(try Arg.tensor(cond, "cond"), try Arg.tensor(a, "a"), try Arg.tensor(b, "b"))
    }
}

@c @implementation public func dfm_logical_and(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_logical_and", a, b, out) { try logicalAnd($0, $1) }
}
@c @implementation public func dfm_logical_or(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_logical_or", a, b, out) { try logicalOr($0, $1) }
}
@c @implementation public func dfm_logical_xor(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_logical_xor", a, b, out) { try logicalXor($0, $1) }
}
@c @implementation public func dfm_logical_not(_ a: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    unary("dfm_logical_not", a, out) { try logicalNot($0) }
}

// MARK: max / min

@c @implementation public func dfm_max(_ x: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    produceTensor("dfm_max", out) { try DFM.max(try Arg.tensor(x, "x")) }
}

@c @implementation public func dfm_min(_ x: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    produceTensor("dfm_min", out) { try DFM.min(try Arg.tensor(x, "x")) }
}

@c @implementation public func dfm_max_dim(
    _ x: dfm_tensor?, _ dim: Int64, _ keepdim: Bool, _ values: TensorOut, _ indices: TensorOut
) -> dfm_status {
    produceTwo("dfm_max_dim", values, "values", indices, "indices") {
        try DFM.max(try Arg.tensor(x, "x"), dim: Int(dim), keepdim: keepdim)
    }
}

@c @implementation public func dfm_min_dim(
    _ x: dfm_tensor?, _ dim: Int64, _ keepdim: Bool, _ values: TensorOut, _ indices: TensorOut
) -> dfm_status {
    produceTwo("dfm_min_dim", values, "values", indices, "indices") {
        try DFM.min(try Arg.tensor(x, "x"), dim: Int(dim), keepdim: keepdim)
    }
}

@c @implementation public func dfm_sort(
    _ x: dfm_tensor?, _ dim: Int64, _ descending: Bool, _ values: TensorOut, _ indices: TensorOut
) -> dfm_status {
    produceTwo("dfm_sort", values, "values", indices, "indices") {
        try sort(try Arg.tensor(x, "x"), dim: Int(dim), descending: descending)
    }
}

@c @implementation public func dfm_topk(
    _ x: dfm_tensor?, _ k: Int64, _ dim: Int64, _ largest: Bool, _ values: TensorOut,
    _ indices: TensorOut
) -> dfm_status {
    produceTwo("dfm_topk", values, "values", indices, "indices") {
        try topk(try Arg.tensor(x, "x"), Int(k), dim: Int(dim), largest: largest)
    }
}

@c @implementation public func dfm_argmax(
    _ x: dfm_tensor?, _ has_dim: Bool, _ dim: Int64, _ keepdim: Bool, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_argmax", out) {
        try argmax(try Arg.tensor(x, "x"), dim: has_dim ? Int(dim) : nil, keepdim: keepdim)
    }
}

@c @implementation public func dfm_argmin(
    _ x: dfm_tensor?, _ has_dim: Bool, _ dim: Int64, _ keepdim: Bool, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_argmin", out) {
        try argmin(try Arg.tensor(x, "x"), dim: has_dim ? Int(dim) : nil, keepdim: keepdim)
    }
}

// MARK: softmax, linear algebra

@c @implementation public func dfm_softmax(_ x: dfm_tensor?, _ dim: Int64, _ out: TensorOut) -> dfm_status {
    produceTensor("dfm_softmax", out) { try softmax(try Arg.tensor(x, "x"), dim: Int(dim)) }
}

@c @implementation public func dfm_log_softmax(_ x: dfm_tensor?, _ dim: Int64, _ out: TensorOut) -> dfm_status {
    produceTensor("dfm_log_softmax", out) { try logSoftmax(try Arg.tensor(x, "x"), dim: Int(dim)) }
}

@c @implementation public func dfm_matmul(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_matmul", a, b, out) { try matmul($0, $1) }
}
@c @implementation public func dfm_bmm(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_bmm", a, b, out) { try bmm($0, $1) }
}
@c @implementation public func dfm_mm(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_mm", a, b, out) { try mm($0, $1) }
}
@c @implementation public func dfm_mv(_ a: dfm_tensor?, _ v: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_mv", a, v, out) { try mv($0, $1) }
}
@c @implementation public func dfm_dot(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_dot", a, b, out) { try dot($0, $1) }
}
@c @implementation public func dfm_outer(_ a: dfm_tensor?, _ b: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    binary("dfm_outer", a, b, out) { try outer($0, $1) }
}
@c @implementation public func dfm_addmm(
    _ input: dfm_tensor?, _ a: dfm_tensor?, _ b: dfm_tensor?, _ beta: Double, _ alpha: Double,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_addmm", out) {
        try addmm(
            try Arg.tensor(input, "input"), try Arg.tensor(a, "a"), try Arg.tensor(b, "b"), beta: beta, alpha: alpha)
    }
}
@c @implementation public func dfm_baddbmm(
    _ input: dfm_tensor?, _ a: dfm_tensor?, _ b: dfm_tensor?, _ beta: Double, _ alpha: Double,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_baddbmm", out) {
        try baddbmm(
            try Arg.tensor(input, "input"), try Arg.tensor(a, "a"), try Arg.tensor(b, "b"), beta: beta, alpha: alpha)
    }
}

@c @implementation public func dfm_linear(
    _ x: dfm_tensor?, _ weight: dfm_tensor?, _ bias: dfm_tensor?, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_linear", out) {
        try linear(try Arg.tensor(x, "x"), try Arg.tensor(weight, "weight"), try Arg.optionalTensor(bias, "bias"))
    }
}

@c @implementation public func dfm_qr(_ a: dfm_tensor?, _ mode: UnsafePointer<CChar>?, _ q: TensorOut, _ r: TensorOut)
    -> dfm_status
{
    produceTwo("dfm_qr", q, "q", r, "r") { try qr(try Arg.tensor(a, "a"), mode: try Arg.string(mode, "mode")) }
}

// MARK: convolution, pooling, interpolation

@c @implementation public func dfm_conv2d(
    _ x: dfm_tensor?, _ weight: dfm_tensor?, _ bias: dfm_tensor?, _ stride: Dims,
    _ padding: Dims, _ dilation: Dims, _ groups: Int64, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_conv2d", out) {
        try conv2d(
            try Arg.tensor(x, "x"), try Arg.tensor(weight, "weight"), try Arg.optionalTensor(bias, "bias"),
            stride: try Arg.pair(stride, "stride"), padding: try Arg.pair(padding, "padding"),
            dilation: try Arg.pair(dilation, "dilation"), groups: try Arg.geometry(groups, "groups"))
    }
}

@c @implementation public func dfm_conv_transpose2d(
    _ x: dfm_tensor?, _ weight: dfm_tensor?, _ bias: dfm_tensor?, _ stride: Dims,
    _ padding: Dims, _ output_padding: Dims, _ dilation: Dims, _ groups: Int64,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_conv_transpose2d", out) {
        try convTranspose2d(
            try Arg.tensor(x, "x"), try Arg.tensor(weight, "weight"), try Arg.optionalTensor(bias, "bias"),
            stride: try Arg.pair(stride, "stride"), padding: try Arg.pair(padding, "padding"),
            outputPadding: try Arg.pair(output_padding, "output_padding"),
            dilation: try Arg.pair(dilation, "dilation"), groups: try Arg.geometry(groups, "groups"))
    }
}

@c @implementation public func dfm_conv2d_padding_mode(
    _ x: dfm_tensor?, _ weight: dfm_tensor?, _ bias: dfm_tensor?, _ stride: Dims,
    _ padding: UnsafePointer<CChar>?, _ dilation: Dims, _ groups: Int64,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_conv2d_padding_mode", out) {
        try conv2d(
            try Arg.tensor(x, "x"), try Arg.tensor(weight, "weight"), try Arg.optionalTensor(bias, "bias"),
            stride: try Arg.pair(stride, "stride"), padding: try Arg.string(padding, "padding"),
            dilation: try Arg.pair(dilation, "dilation"), groups: try Arg.geometry(groups, "groups"))
    }
}

@c @implementation public func dfm_max_pool2d(
    _ x: dfm_tensor?, _ kernel_size: Dims, _ stride: Dims, _ padding: Dims,
    _ dilation: Dims, _ ceil_mode: Bool, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_max_pool2d", out) {
        try maxPool2d(
            try Arg.tensor(x, "x"), kernelSize: try Arg.pair(kernel_size, "kernel_size"),
            stride: try Arg.optionalPair(stride, "stride"), padding: try Arg.pair(padding, "padding"),
            dilation: try Arg.pair(dilation, "dilation"), ceilMode: ceil_mode)
    }
}

@c @implementation public func dfm_avg_pool2d(
    _ x: dfm_tensor?, _ kernel_size: Dims, _ stride: Dims, _ padding: Dims,
    _ ceil_mode: Bool, _ count_include_pad: Bool, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_avg_pool2d", out) {
        try avgPool2d(
            try Arg.tensor(x, "x"), kernelSize: try Arg.pair(kernel_size, "kernel_size"),
            stride: try Arg.optionalPair(stride, "stride"), padding: try Arg.pair(padding, "padding"),
            ceilMode: ceil_mode, countIncludePad: count_include_pad)
    }
}

@c @implementation public func dfm_adaptive_avg_pool2d(_ x: dfm_tensor?, _ output_size: Dims, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_adaptive_avg_pool2d", out) {
        try adaptiveAvgPool2d(try Arg.tensor(x, "x"), outputSize: try Arg.pair(output_size, "output_size"))
    }
}

@c @implementation public func dfm_interpolate(
    _ x: dfm_tensor?, _ size: Dims, _ scale_factor: UnsafePointer<Double>?,
    _ mode: UnsafePointer<CChar>?, _ has_align_corners: Bool, _ align_corners: Bool,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_interpolate", out) {
        try interpolate(
            try Arg.tensor(x, "x"), size: try Arg.optionalPair(size, "size"),
            scaleFactor: scale_factor.map { [$0[0], $0[1]] }, mode: try Arg.string(mode, "mode"),
            alignCorners: has_align_corners ? align_corners : nil)
    }
}

// MARK: normalisation

@c @implementation public func dfm_batch_norm(
    _ x: dfm_tensor?, _ running_mean: dfm_tensor?, _ running_var: dfm_tensor?,
    _ weight: dfm_tensor?, _ bias: dfm_tensor?, _ training: Bool, _ momentum: Double,
    _ eps: Double, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_batch_norm", out) {
        try batchNorm(
            try Arg.tensor(x, "x"), runningMean: try Arg.optionalTensor(running_mean, "running_mean"),
            runningVar: try Arg.optionalTensor(running_var, "running_var"),
            weight: try Arg.optionalTensor(weight, "weight"), bias: try Arg.optionalTensor(bias, "bias"),
            training: training, momentum: momentum, eps: eps)
    }
}

@c @implementation public func dfm_group_norm(
    _ x: dfm_tensor?, _ num_groups: Int64, _ weight: dfm_tensor?, _ bias: dfm_tensor?,
    _ eps: Double, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_group_norm", out) {
        try groupNorm(
            try Arg.tensor(x, "x"), groups: try Arg.geometry(num_groups, "num_groups"),
            weight: try Arg.optionalTensor(weight, "weight"),
            bias: try Arg.optionalTensor(bias, "bias"), eps: eps)
    }
}

@c @implementation public func dfm_layer_norm(
    _ x: dfm_tensor?, _ normalized_shape: Dims, _ ndim: Int64, _ weight: dfm_tensor?,
    _ bias: dfm_tensor?, _ eps: Double, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_layer_norm", out) {
        try layerNorm(
            try Arg.tensor(x, "x"), normalizedShape: try Arg.shape(normalized_shape, ndim, "normalized_shape"),
            weight: try Arg.optionalTensor(weight, "weight"), bias: try Arg.optionalTensor(bias, "bias"), eps: eps)
    }
}

// MARK: losses, dropout

private func reduction(_ p: UnsafePointer<CChar>?) throws -> Reduction { try Reduction(try Arg.string(p, "reduction")) }

@c @implementation public func dfm_nll_loss(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ weight: dfm_tensor?,
    _ ignore_index: Int64, _ reduction_: UnsafePointer<CChar>?, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_nll_loss", out) {
        try nllLoss(
            try Arg.tensor(input, "input"), try Arg.tensor(target, "target"),
            weight: try Arg.optionalTensor(weight, "weight"), ignoreIndex: Int(ignore_index),
            reduction: try reduction(reduction_))
    }
}

@c @implementation public func dfm_cross_entropy(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ weight: dfm_tensor?,
    _ ignore_index: Int64, _ reduction_: UnsafePointer<CChar>?,
    _ label_smoothing: Double, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_cross_entropy", out) {
        try crossEntropy(
            try Arg.tensor(input, "input"), try Arg.tensor(target, "target"),
            weight: try Arg.optionalTensor(weight, "weight"), ignoreIndex: Int(ignore_index),
            reduction: try reduction(reduction_), labelSmoothing: label_smoothing)
    }
}

@c @implementation public func dfm_mse_loss(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ reduction_: UnsafePointer<CChar>?,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_mse_loss", out) {
        try mseLoss(
            try Arg.tensor(input, "input"), try Arg.tensor(target, "target"), reduction: try reduction(reduction_))
    }
}

@c @implementation public func dfm_binary_cross_entropy_with_logits(
    _ input: dfm_tensor?, _ target: dfm_tensor?, _ weight: dfm_tensor?,
    _ pos_weight: dfm_tensor?, _ reduction_: UnsafePointer<CChar>?,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_binary_cross_entropy_with_logits", out) {
        try binaryCrossEntropyWithLogits(
            try Arg.tensor(input, "input"), try Arg.tensor(target, "target"),
            weight: try Arg.optionalTensor(weight, "weight"),
            posWeight: try Arg.optionalTensor(pos_weight, "pos_weight"),
            reduction: try reduction(reduction_))
    }
}

@c @implementation public func dfm_dropout(_ x: dfm_tensor?, _ p: Double, _ training: Bool, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_dropout", out) { try dropout(try Arg.tensor(x, "x"), p: Float(p), training: training) }
}

@c @implementation public func dfm_feature_dropout(_ x: dfm_tensor?, _ p: Double, _ training: Bool, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_feature_dropout", out) {
        try featureDropout(try Arg.tensor(x, "x"), p: Float(p), training: training)
    }
}

// MARK: segmentation metrics

@c @implementation public func dfm_confusion_matrix(
    _ prediction: dfm_tensor?, _ target: dfm_tensor?, _ num_classes: Int64,
    _ ignore_index: Int64, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_confusion_matrix", out) {
        try confusionMatrix(
            try Arg.tensor(prediction, "prediction"), try Arg.tensor(target, "target"),
            numClasses: try Arg.size(num_classes, "num_classes"), ignoreIndex: Int(ignore_index))
    }
}

@c @implementation public func dfm_iou_per_class(
    _ prediction: dfm_tensor?, _ target: dfm_tensor?, _ num_classes: Int64,
    _ ignore_index: Int64, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_iou_per_class", out) {
        try iouPerClass(
            try Arg.tensor(prediction, "prediction"), try Arg.tensor(target, "target"),
            numClasses: try Arg.size(num_classes, "num_classes"), ignoreIndex: Int(ignore_index))
    }
}

@c @implementation public func dfm_dice_per_class(
    _ prediction: dfm_tensor?, _ target: dfm_tensor?, _ num_classes: Int64,
    _ ignore_index: Int64, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_dice_per_class", out) {
        try dicePerClass(
            try Arg.tensor(prediction, "prediction"), try Arg.tensor(target, "target"),
            numClasses: try Arg.size(num_classes, "num_classes"), ignoreIndex: Int(ignore_index))
    }
}

@c @implementation public func dfm_mean_iou(
    _ prediction: dfm_tensor?, _ target: dfm_tensor?, _ num_classes: Int64,
    _ ignore_index: Int64, _ out: UnsafeMutablePointer<Float>?
) -> dfm_status {
    produceValue("dfm_mean_iou", out) {
        try meanIoU(
            try Arg.tensor(prediction, "prediction"), try Arg.tensor(target, "target"),
            numClasses: try Arg.size(num_classes, "num_classes"), ignoreIndex: Int(ignore_index))
    }
}
