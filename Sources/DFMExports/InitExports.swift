import CDFM
import DFM

// torch.nn.init, in place on a tensor.

@inline(__always)
private func initialize(_ fn: StaticString, _ t: dfm_tensor?, _ body: (Tensor) throws -> Tensor) -> dfm_status {
    guarded(fn) { _ = try body(try Arg.tensor(t, "t")) }
}

@c @implementation public func dfm_init_kaiming_normal_(
    _ t: dfm_tensor?, _ a: Double, _ mode: UnsafePointer<CChar>?,
    _ nonlinearity: UnsafePointer<CChar>?
) -> dfm_status {
    initialize("dfm_init_kaiming_normal_", t) {
        try Init.kaimingNormal_(
            $0, a: Float(a), mode: try FanMode(try Arg.string(mode, "mode")),
            nonlinearity: try Arg.string(nonlinearity, "nonlinearity"))
    }
}

@c @implementation public func dfm_init_kaiming_uniform_(
    _ t: dfm_tensor?, _ a: Double, _ mode: UnsafePointer<CChar>?,
    _ nonlinearity: UnsafePointer<CChar>?
) -> dfm_status {
    initialize("dfm_init_kaiming_uniform_", t) {
        try Init.kaimingUniform_(
            $0, a: Float(a), mode: try FanMode(try Arg.string(mode, "mode")),
            nonlinearity: try Arg.string(nonlinearity, "nonlinearity"))
    }
}

@c @implementation public func dfm_init_xavier_uniform_(_ t: dfm_tensor?, _ gain: Double) -> dfm_status {
    initialize("dfm_init_xavier_uniform_", t) { try Init.xavierUniform_($0, gain: Float(gain)) }
}

@c @implementation public func dfm_init_xavier_normal_(_ t: dfm_tensor?, _ gain: Double) -> dfm_status {
    initialize("dfm_init_xavier_normal_", t) { try Init.xavierNormal_($0, gain: Float(gain)) }
}

@c @implementation public func dfm_init_orthogonal_(_ t: dfm_tensor?, _ gain: Double) -> dfm_status {
    initialize("dfm_init_orthogonal_", t) { try Init.orthogonal_($0, gain: Float(gain)) }
}

@c @implementation public func dfm_init_normal_(_ t: dfm_tensor?, _ mean: Double, _ std: Double) -> dfm_status {
    initialize("dfm_init_normal_", t) { try Init.normal_($0, mean: Float(mean), std: Float(std)) }
}

@c @implementation public func dfm_init_uniform_(_ t: dfm_tensor?, _ a: Double, _ b: Double) -> dfm_status {
    initialize("dfm_init_uniform_", t) { try Init.uniform_($0, a: Float(a), b: Float(b)) }
}

@c @implementation public func dfm_init_constant_(_ t: dfm_tensor?, _ value: Double) -> dfm_status {
    initialize("dfm_init_constant_", t) { try Init.constant_($0, value) }
}
