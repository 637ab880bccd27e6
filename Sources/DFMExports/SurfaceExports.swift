import CDFM
import DFM
import Foundation
import Synchronization

// torch functions and layers of the "surface" section of dfm.h: flip, roll, triu, tril,
// diag, prod, einsum, pad modes, pixel shuffle, conv1d, alpha dropout.

@c @implementation public func dfm_flip(_ x: dfm_tensor?, _ dims: Dims, _ ndims: Int64, _ out: TensorOut) -> dfm_status
{
    produceTensor("dfm_flip", out) {
        try flip(try Arg.tensor(x, "x"), dims: try Arg.ints(dims, ndims, "dims", countName: "ndims"))
    }
}

@c @implementation public func dfm_roll(
    _ x: dfm_tensor?, _ shifts: Dims, _ nshifts: Int64, _ dims: Dims, _ ndims: Int64,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_roll", out) {
        try roll(
            try Arg.tensor(x, "x"), shifts: try Arg.ints(shifts, nshifts, "shifts", countName: "nshifts"),
            dims: try Arg.ints(dims, ndims, "dims", countName: "ndims"))
    }
}

@c @implementation public func dfm_triu(_ x: dfm_tensor?, _ diagonal: Int64, _ out: TensorOut) -> dfm_status {
    produceTensor("dfm_triu", out) {
        try triu(try Arg.tensor(x, "x"), diagonal: try Arg.geometry(diagonal, "diagonal"))
    }
}

@c @implementation public func dfm_tril(_ x: dfm_tensor?, _ diagonal: Int64, _ out: TensorOut) -> dfm_status {
    produceTensor("dfm_tril", out) {
        try tril(try Arg.tensor(x, "x"), diagonal: try Arg.geometry(diagonal, "diagonal"))
    }
}

@c @implementation public func dfm_diag(_ x: dfm_tensor?, _ diagonal: Int64, _ out: TensorOut) -> dfm_status {
    produceTensor("dfm_diag", out) {
        try diag(try Arg.tensor(x, "x"), diagonal: try Arg.geometry(diagonal, "diagonal"))
    }
}

@c @implementation public func dfm_prod(_ x: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    produceTensor("dfm_prod", out) { try prod(try Arg.tensor(x, "x")) }
}

@c @implementation public func dfm_prod_dim(_ x: dfm_tensor?, _ dim: Int64, _ keepdim: Bool, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_prod_dim", out) {
        try prod(try Arg.tensor(x, "x"), dim: try Arg.geometry(dim, "dim"), keepdim: keepdim)
    }
}

@c @implementation public func dfm_einsum(
    _ equation: UnsafePointer<CChar>?, _ operands: UnsafePointer<dfm_tensor?>?, _ n: Int64,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_einsum", out) {
        try einsum(try Arg.string(equation, "equation"), try Arg.tensors(operands, n, "operands"))
    }
}

@c @implementation public func dfm_pad(
    _ x: dfm_tensor?, _ pad: Dims, _ npad: Int64, _ mode: UnsafePointer<CChar>?, _ value: Double,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_pad", out) {
        let p = try Arg.ints(pad, npad, "pad", countName: "npad", limit: 2 * Arg.maxRank).map {
            try Arg.geometry(Int64($0), "pad")
        }
        return try DFM.pad(try Arg.tensor(x, "x"), p, mode: try Arg.string(mode, "mode"), value: value)
    }
}

@c @implementation public func dfm_pixel_shuffle(_ x: dfm_tensor?, _ upscale_factor: Int64, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_pixel_shuffle", out) {
        try pixelShuffle(try Arg.tensor(x, "x"), upscaleFactor: try Arg.geometry(upscale_factor, "upscale_factor"))
    }
}

@c @implementation public func dfm_pixel_unshuffle(_ x: dfm_tensor?, _ downscale_factor: Int64, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_pixel_unshuffle", out) {
        try pixelUnshuffle(
            try Arg.tensor(x, "x"), downscaleFactor: try Arg.geometry(downscale_factor, "downscale_factor"))
    }
}

@c @implementation public func dfm_conv1d(
    _ x: dfm_tensor?, _ weight: dfm_tensor?, _ bias: dfm_tensor?, _ stride: Int64, _ padding: Int64,
    _ dilation: Int64, _ groups: Int64, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_conv1d", out) {
        try conv1d(
            try Arg.tensor(x, "x"), try Arg.tensor(weight, "weight"), try Arg.optionalTensor(bias, "bias"),
            stride: try Arg.geometry(stride, "stride"), padding: try Arg.geometry(padding, "padding"),
            dilation: try Arg.geometry(dilation, "dilation"), groups: try Arg.geometry(groups, "groups"))
    }
}

@c @implementation public func dfm_conv1d_padding_mode(
    _ x: dfm_tensor?, _ weight: dfm_tensor?, _ bias: dfm_tensor?, _ stride: Int64,
    _ padding: UnsafePointer<CChar>?, _ dilation: Int64, _ groups: Int64,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_conv1d_padding_mode", out) {
        try conv1d(
            try Arg.tensor(x, "x"), try Arg.tensor(weight, "weight"), try Arg.optionalTensor(bias, "bias"),
            stride: try Arg.geometry(stride, "stride"), padding: try Arg.string(padding, "padding"),
            dilation: try Arg.geometry(dilation, "dilation"), groups: try Arg.geometry(groups, "groups"))
    }
}

@c @implementation public func dfm_alpha_dropout(_ x: dfm_tensor?, _ p: Double, _ training: Bool, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_alpha_dropout", out) {
        guard p >= 0, p <= 1 else {
            throw ABIError(.invalidArgument, "dropout probability has to be between 0 and 1, but got \(p)")
        }
        return try alphaDropout(try Arg.tensor(x, "x"), p: Float(p), training: training)
    }
}

// MARK: grad_fn names and inputs

/// C copies of node names, made once per distinct name and never freed (a few hundred
/// at most), so dfm_tensor_grad_fn_name can hand out borrowed pointers.
private let internedNames = Mutex([String: UnsafeMutablePointer<CChar>]())

private func interned(_ s: String) -> UnsafePointer<CChar> {
    internedNames.withLock { table in
        if let p = table[s] { return UnsafePointer(p) }
        let p = strdup(s)!
        table[s] = p
        return UnsafePointer(p)
    }
}

@c @implementation public func dfm_tensor_grad_fn_name(
    _ t: dfm_tensor?, _ out: UnsafeMutablePointer<UnsafePointer<CChar>?>?
) -> dfm_status {
    guarded("dfm_tensor_grad_fn_name") {
        let o = try Arg.out(out)
        o.pointee = nil
        o.pointee = try Arg.tensor(t, "t").gradFnName.map(interned)
    }
}

@c @implementation public func dfm_tensor_grad_fn_input_count(_ t: dfm_tensor?, _ out: UnsafeMutablePointer<Int64>?)
    -> dfm_status
{
    produceValue("dfm_tensor_grad_fn_input_count", out) { Int64(try Arg.tensor(t, "t").gradFnInputs.count) }
}

@c @implementation public func dfm_tensor_grad_fn_input(_ t: dfm_tensor?, _ index: Int64, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_tensor_grad_fn_input", out) {
        let ins = try Arg.tensor(t, "t").gradFnInputs
        guard index >= 0, index < Int64(ins.count) else {
            throw ABIError(.indexError, "index \(index) is out of range for a node with \(ins.count) inputs")
        }
        return ins[Int(index)]
    }
}

// MARK: the default generator's seed

@c @implementation public func dfm_initial_seed(_ out: UnsafeMutablePointer<UInt64>?) -> dfm_status {
    produceValue("dfm_initial_seed", out) { Generator.default.initialSeed }
}

@c @implementation public func dfm_seed(_ out: UnsafeMutablePointer<UInt64>?) -> dfm_status {
    produceValue("dfm_seed", out) { Generator.default.reseed() }
}
