import CZlib
import Foundation

/// PNG writing (8-bit grey, RGB or RGBA; zlib via CZlib), for images and plots. Files are
/// written atomically (temporary file, fsync, rename).
public enum PNG {
    /// Encodes `pixels` (height · width · channels bytes, row-major, channels 1, 3 or 4).
    public static func encode(_ pixels: [UInt8], width: Int, height: Int, channels: Int) throws -> Data {
        let op = "png"
        guard [1, 3, 4].contains(channels) else {
            throw DFMError.invalid(op, "a PNG has 1, 3 or 4 channels, got \(channels)")
        }
        guard width > 0, height > 0, width < 1 << 24, height < 1 << 24 else {
            throw DFMError.invalid(op, "image size \(width)x\(height) is not in 1...2^24 on each side")
        }
        let row = width * channels
        guard pixels.count == row * height else {
            throw DFMError(.internal, "png: \(pixels.count) bytes for a \(width)x\(height)x\(channels) image")
        }
        var raw = [UInt8]()
        raw.reserveCapacity((row + 1) * height)
        for y in 0..<height {
            raw.append(0)  // filter: none
            raw.append(contentsOf: pixels[(y * row)..<((y + 1) * row)])
        }
        var destLen = compressBound(uLong(raw.count))
        var z = [UInt8](repeating: 0, count: Int(destLen))
        guard compress2(&z, &destLen, raw, uLong(raw.count), 6) == Z_OK else {
            throw DFMError(.internal, "png: compression failed")
        }
        z.removeSubrange(Int(destLen)...)
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        func be32(_ v: UInt32) -> [UInt8] {
            [UInt8(v >> 24), UInt8((v >> 16) & 255), UInt8((v >> 8) & 255), UInt8(v & 255)]
        }
        func chunk(_ type: String, _ data: [UInt8]) {
            let t = Array(type.utf8)
            png += be32(UInt32(data.count)) + t + data
            let crc = (t + data).withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
            png += be32(UInt32(crc))
        }
        let colorType: UInt8 = channels == 1 ? 0 : channels == 3 ? 2 : 6
        chunk("IHDR", be32(UInt32(width)) + be32(UInt32(height)) + [8, colorType, 0, 0, 0])
        chunk("IDAT", z)
        chunk("IEND", [])
        return Data(png)
    }

    public static func write(_ pixels: [UInt8], width: Int, height: Int, channels: Int, to path: String) throws {
        try AtomicFile.write(try encode(pixels, width: width, height: height, channels: channels), to: path, op: "png")
    }

    /// Writes an image tensor: (C, H, W) with C = 1, 3 or 4, or (H, W). A float tensor holds
    /// values in [0, 1] and becomes bytes as torchvision's save_image makes them:
    /// clamp(x·255 + 0.5, 0, 255) truncated; a uint8 or int64 tensor holds bytes 0...255 already.
    public static func write(image: Tensor, to path: String) throws {
        let op = "save_png"
        guard image.ndim == 2 || image.ndim == 3 else {
            throw DFMError.shape(op, "expected an image (C, H, W) or (H, W), got shape \(image.shape)")
        }
        let c = image.ndim == 3 ? image.shape[0] : 1
        let h = image.shape[image.ndim - 2]
        let w = image.shape[image.ndim - 1]
        guard [1, 3, 4].contains(c) else {
            throw DFMError.shape(op, "a PNG image has 1, 3 or 4 channels, got \(c) (shape \(image.shape))")
        }
        guard h > 0, w > 0 else { throw DFMError.shape(op, "the image is empty (shape \(image.shape))") }
        var bytes = [UInt8](repeating: 0, count: c * h * w)
        let plane = h * w
        for ch in 0..<c {
            for k in 0..<plane {
                let v: Double
                switch image.dtype {
                case .float32, .float64:
                    let x = image.double(at: ch * plane + k) * 255 + 0.5
                    v = x.isNaN ? 0 : Swift.min(Swift.max(x, 0), 255)
                case .int64:
                    let x = image.i[ch * plane + k]
                    guard x >= 0, x <= 255 else {
                        throw DFMError.invalid(op, "an int64 image holds bytes 0...255, found \(x)")
                    }
                    v = Double(x)
                case .bool:
                    v = image.b[ch * plane + k] != 0 ? 255 : 0
                case .uint8:
                    v = Double(image.u[ch * plane + k])
                }
                bytes[k * c + ch] = UInt8(v)  // channels interleaved, as PNG stores them
            }
        }
        try write(bytes, width: w, height: h, channels: c, to: path)
    }
}
