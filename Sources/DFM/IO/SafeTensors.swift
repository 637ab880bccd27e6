import Foundation

/// The safetensors format: an 8-byte little-endian header length, a JSON header
/// naming each tensor's dtype, shape and byte range, then the raw data. dfm writes
/// F32, I64 and BOOL and reads those plus F16, BF16 and F64 (converted to float32).
public enum SafeTensors {
    /// Reads every tensor of a file, plus the `__metadata__` string map.
    public static func read(_ path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        guard let fh = FileHandle(forReadingAtPath: path) else {
            throw DFMError(FileManager.default.fileExists(atPath: path) ? .ioError : .notFound,
                           "safetensors: cannot open '\(path)'\(FileManager.default.fileExists(atPath: path) ? "" : ": no such file")")
        }
        defer { try? fh.close() }
        let data: Data
        do { data = try fh.readToEnd() ?? Data() } catch {
            throw DFMError.io("safetensors", "cannot read '\(path)': \(error.localizedDescription)")
        }
        return try decode(data, name: path)
    }

    /// Parses a safetensors image held in memory.
    public static func decode(_ data: Data, name: String = "<memory>") throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let op = "safetensors"
        guard data.count >= 8 else { throw DFMError.io(op, "'\(name)' is truncated: \(data.count) bytes, need at least 8") }
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(data[data.startIndex + k]) << (8 * UInt64(k)) }
        guard n <= UInt64(data.count - 8), n <= 100_000_000 else {
            throw DFMError.io(op, "'\(name)' is truncated or corrupt: header claims \(n) bytes, file has \(data.count - 8) after the length")
        }
        let hlen = Int(n)
        let headerBytes = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + 8 + hlen))
        guard let json = try? JSONSerialization.jsonObject(with: headerBytes), let header = json as? [String: Any] else {
            throw DFMError.io(op, "'\(name)' has a corrupt JSON header")
        }
        let body = data.startIndex + 8 + hlen
        let bodyCount = data.count - 8 - hlen
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        for (key, value) in header {
            if key == "__metadata__" {
                if let m = value as? [String: String] { metadata = m }
                continue
            }
            guard let info = value as? [String: Any], let dt = info["dtype"] as? String,
                  let shapeAny = info["shape"] as? [Any], let offs = info["data_offsets"] as? [Any], offs.count == 2,
                  let b = (offs[0] as? NSNumber)?.intValue, let e = (offs[1] as? NSNumber)?.intValue else {
                throw DFMError.io(op, "'\(name)': entry '\(key)' is malformed")
            }
            let shape = try shapeAny.map { v -> Int in
                guard let d = (v as? NSNumber)?.intValue, d >= 0 else { throw DFMError.io(op, "'\(name)': entry '\(key)' has a bad shape") }
                return d
            }
            let elem: Int
            switch dt {
            case "BOOL", "U8": elem = 1
            case "F32": elem = 4
            case "I64", "F64": elem = 8
            case "F16", "BF16": elem = 2
            default: throw DFMError.io(op, "'\(name)': entry '\(key)' has unsupported dtype \(dt)")
            }
            let count = try Shape.count(shape, op: op)
            guard b >= 0, e >= b, e <= bodyCount, e - b == count * elem else {
                throw DFMError.io(op, "'\(name)' is truncated or corrupt: entry '\(key)' (\(dt) \(shape)) has byte range [\(b), \(e)) but the data section holds \(bodyCount) bytes")
            }
            let t = try Tensor.uninitialized(shape, dtype: dt == "I64" ? .int64 : dt == "BOOL" ? .bool : dt == "F64" ? .float64 : dt == "U8" ? .uint8 : .float32, op: op)
            data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                let src = raw.baseAddress! + (body - data.startIndex) + b
                switch dt {
                case "F32", "I64", "F64", "U8":
                    t.rawPointer.copyMemory(from: src, byteCount: e - b)
                case "BOOL":
                    for k in 0..<count { t.b[k] = src.load(fromByteOffset: k, as: UInt8.self) != 0 ? 1 : 0 }
                case "F16":
                    for k in 0..<count { t.f[k] = Float(halfBits: src.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)) }
                default: // BF16: the top half of a float32
                    for k in 0..<count {
                        t.f[k] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)) << 16)
                    }
                }
            }
            tensors[key] = t
        }
        return (tensors, metadata)
    }

    /// Serialises tensors (sorted by name) and metadata into a safetensors image.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            let code: String
            switch t.dtype {
            case .float32: code = "F32"
            case .float64: code = "F64"
            case .int64: code = "I64"
            case .bool: code = "BOOL"
            case .uint8: code = "U8"
            }
            header[name] = ["dtype": code, "shape": t.shape,
                            "data_offsets": [offset, offset + t.byteCount]] as [String: Any]
            offset += t.byteCount
        }
        var hdata = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while hdata.count % 8 != 0 { hdata.append(0x20) }
        var out = Data(capacity: 8 + hdata.count + offset)
        var n = UInt64(hdata.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(hdata)
        for name in names {
            let t = tensors[name]!
            out.append(Data(bytes: t.rawPointer, count: t.byteCount))
        }
        return out
    }

    /// Writes atomically: a temporary file in the same folder, fsync, then rename, so a
    /// crash or kill never leaves a half-written file under `path`.
    public static func write(_ tensors: [String: Tensor], to path: String, metadata: [String: String] = [:]) throws {
        try AtomicFile.write(try encode(tensors, metadata: metadata), to: path, op: "safetensors")
    }
}

public enum AtomicFile {
    public static func write(_ data: Data, to path: String, op: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw DFMError(.notFound, "\(op): directory '\(dir)' does not exist")
        }
        let tmp = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw DFMError.io(op, "cannot create '\(tmp)': \(String(cString: strerror(errno)))") }
        var ok = data.withUnsafeBytes { raw -> Bool in
            var done = 0
            while done < raw.count {
                let w = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if w <= 0 { if errno == EINTR { continue }; return false }
                done += w
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        let err = String(cString: strerror(errno))
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            unlink(tmp)
            throw DFMError.io(op, "cannot write '\(path)': \(err)")
        }
        let dfd = open(dir, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}

extension Float {
    /// IEEE half-precision bits to float32.
    init(halfBits h: UInt16) {
        let sign = UInt32(h >> 15) << 31
        let exp = Int((h >> 10) & 0x1f), man = UInt32(h & 0x3ff)
        if exp == 0 {
            let v = Float(man) * Float(sign: .plus, exponent: -24, significand: 1)
            self = sign != 0 ? -v : v
        } else if exp == 31 {
            self = Float(bitPattern: sign | 0x7f80_0000 | (man << 13))
        } else {
            self = Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (man << 13))
        }
    }
}
