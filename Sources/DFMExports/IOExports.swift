import CDFM
import DFM

// safetensors and PNG files.

@c @implementation public func dfm_safetensors_read(
    _ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<dfm_tensor_dict?>?
) -> dfm_status {
    produce("dfm_safetensors_read", out, .tensorDict) {
        let (tensors, metadata) = try SafeTensors.read(try Arg.string(path, "path"))
        return TensorDict(tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, metadata: metadata)
    }
}

@c @implementation public func dfm_safetensors_write(_ path: UnsafePointer<CChar>?, _ d: dfm_tensor_dict?) -> dfm_status
{
    guarded("dfm_safetensors_write") {
        let p = try Arg.string(path, "path")
        let dict = try Arg.dict(d, "d")
        var tensors: [String: Tensor] = [:]
        for (k, v) in dict.entries { tensors[k] = v }
        try SafeTensors.write(tensors, to: p, metadata: dict.metadata)
    }
}

@c @implementation public func dfm_save_png(_ image: dfm_tensor?, _ path: UnsafePointer<CChar>?) -> dfm_status {
    guarded("dfm_save_png") { try PNG.write(image: try Arg.tensor(image, "image"), to: try Arg.string(path, "path")) }
}
