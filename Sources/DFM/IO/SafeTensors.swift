import Foundation

/// The safetensors format: an 8-byte little-endian header length, a JSON header
/// naming each tensor's dtype, shape and byte range, then the raw data. dfm writes
/// F32, I64 and BOOL and reads those plus F16, BF16 and F64 (converted to float32).
public enum SafeTensors {
    /// Largest JSON header accepted (the reference implementation's limit).
    static let maxHeaderBytes = 100_000_000

    /// Reads every tensor of a file, plus the `__metadata__` string map. Only regular files:
    /// every read is bounded by the file's size and by the lengths its header declares.
    public static func read(_ path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let op = "safetensors"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            throw DFMError(
                e == ENOENT ? .notFound : .ioError,
                "safetensors: cannot open '\(path)'\(e == ENOENT ? ": no such file" : ": \(String(cString: strerror(e)))")"
            )
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw DFMError.io(op, "cannot read '\(path)': \(String(cString: strerror(errno)))")
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw DFMError.io(op, "cannot read '\(path)': it is a directory")
        default: throw DFMError.io(op, "cannot read '\(path)': not a regular file")
        }
        let size = Int(st.st_size)
        guard size >= 8 else { throw DFMError.io(op, "'\(path)' is truncated: \(size) bytes, need at least 8") }
        let n = try headerLength(try readExactly(fd, at: 0, count: 8, path: path), available: size - 8, name: path)
        let header = try parseHeader(
            try readExactly(fd, at: 8, count: n, path: path), bodyCount: size - 8 - n, name: path)
        // The data section is exactly what the header indexes (parseHeader checked it fits).
        let body = try readExactly(fd, at: 8 + n, count: header.bodyBytes, path: path)
        return (try materialize(header, body, name: path), header.metadata)
    }

    /// Parses a safetensors image held in memory.
    public static func decode(_ data: Data, name: String = "<memory>") throws -> (
        tensors: [String: Tensor], metadata: [String: String]
    ) {
        let op = "safetensors"
        guard data.count >= 8 else {
            throw DFMError.io(op, "'\(name)' is truncated: \(data.count) bytes, need at least 8")
        }
        let n = try headerLength(Array(data.prefix(8)), available: data.count - 8, name: name)
        let start = data.startIndex + 8
        let header = try parseHeader(Array(data[start..<(start + n)]), bodyCount: data.count - 8 - n, name: name)
        let body = data.subdata(in: (start + n)..<(start + n + header.bodyBytes))
        return (try materialize(header, body, name: name), header.metadata)
    }

    /// `count` bytes at `offset`, or a "truncated" error if the file ends first.
    static func readExactly(_ fd: Int32, at offset: Int, count: Int, path: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let r = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if r < 0 {
                if errno == EINTR { continue }
                throw DFMError.io("safetensors", "cannot read '\(path)': \(String(cString: strerror(errno)))")
            }
            if r == 0 {
                throw DFMError.io(
                    "safetensors", "'\(path)' is truncated: it ended while reading \(count) bytes at offset \(offset)")
            }
            done += r
        }
        return out
    }

    /// The 8-byte little-endian header length, within the bytes that follow it and the limit.
    static func headerLength(_ b: [UInt8], available: Int, name: String) throws -> Int {
        var n: UInt64 = 0
        for k in 0..<8 { n |= UInt64(b[k]) << (8 * UInt64(k)) }
        guard n <= UInt64(available), n <= UInt64(maxHeaderBytes) else {
            throw DFMError.io(
                "safetensors",
                "'\(name)' is truncated or corrupt: header claims \(n) bytes, file has \(available) after the length")
        }
        return Int(n)
    }

    struct Entry {
        let name: String
        let dtype: String
        let shape: [Int]
        let begin: Int, end: Int
    }

    struct Header {
        var entries: [Entry] = []
        var metadata: [String: String] = [:]
        /// Bytes of the data section the entries index (from 0, without holes).
        var bodyBytes = 0
    }

    /// Checks the JSON header against the format: a JSON object of entries with a string
    /// dtype, a shape of non-negative integers and two integer data_offsets whose ranges fill
    /// the data section exactly (no overlap, no hole, nothing after), plus an optional
    /// `__metadata__` object of strings. Duplicate and empty keys are refused.
    static func parseHeader(_ bytes: [UInt8], bodyCount: Int, name: String) throws -> Header {
        let op = "safetensors"
        let json: StrictJSON.Value
        do { json = try StrictJSON.parse(bytes) } catch let e as StrictJSON.SyntaxError {
            throw DFMError.io(op, "'\(name)' has a corrupt JSON header: \(e.message) (header byte \(e.offset))")
        }
        guard case .object(let items) = json else {
            throw DFMError.io(op, "'\(name)' has a corrupt JSON header: expected an object, got \(json.kind)")
        }
        var h = Header()
        for (key, value) in items {
            if key == "__metadata__" {
                guard case .object(let pairs) = value else {
                    throw DFMError.io(op, "'\(name)': '__metadata__' must be an object of strings, got \(value.kind)")
                }
                for (k, v) in pairs {
                    guard case .string(let s) = v else {
                        throw DFMError.io(
                            op, "'\(name)': '__metadata__' values must be strings, but '\(k)' is \(v.kind)")
                    }
                    h.metadata[k] = s
                }
                continue
            }
            guard !key.isEmpty else { throw DFMError.io(op, "'\(name)' has an entry with an empty name") }
            guard case .object(let fields) = value else {
                throw DFMError.io(op, "'\(name)': entry '\(key)' is malformed (\(value.kind), not an object)")
            }
            func field(_ f: String) -> StrictJSON.Value? { fields.first { $0.key == f }?.value }
            guard case .string(let dt)? = field("dtype"), case .array(let shapeAny)? = field("shape"),
                case .array(let offs)? = field("data_offsets"), offs.count == 2
            else {
                throw DFMError.io(
                    op,
                    "'\(name)': entry '\(key)' is malformed (needs a string dtype, a shape array and two data_offsets)")
            }
            let shape = try shapeAny.map { v -> Int in
                guard let d = v.nonNegativeInt else {
                    throw DFMError.io(
                        op, "'\(name)': entry '\(key)' has a bad shape: dimensions must be non-negative integers")
                }
                return d
            }
            guard let b = offs[0].nonNegativeInt, let e = offs[1].nonNegativeInt else {
                throw DFMError.io(
                    op, "'\(name)': entry '\(key)' has bad data_offsets: they must be non-negative integers")
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
            guard e >= b, e <= bodyCount, e - b == count * elem else {
                throw DFMError.io(
                    op,
                    "'\(name)' is truncated or corrupt: entry '\(key)' (\(dt) \(shape)) has byte range [\(b), \(e)) but the data section holds \(bodyCount) bytes"
                )
            }
            h.entries.append(Entry(name: key, dtype: dt, shape: shape, begin: b, end: e))
        }
        // The ranges must tile the data section: in offset order each starts where the last ended.
        var at = 0
        var previous: Entry?
        for e in h.entries.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            if e.begin < at, let p = previous {
                throw DFMError.io(
                    op,
                    "'\(name)' is corrupt: entries '\(p.name)' [\(p.begin), \(p.end)) and '\(e.name)' [\(e.begin), \(e.end)) overlap"
                )
            }
            guard e.begin == at else {
                throw DFMError.io(
                    op,
                    "'\(name)' is corrupt: bytes [\(at), \(e.begin)) of the data section belong to no entry (the format forbids holes)"
                )
            }
            at = e.end
            previous = e
        }
        guard at == bodyCount else {
            throw DFMError.io(
                op, "'\(name)' is corrupt: \(bodyCount - at) bytes after the last entry's data belong to no entry")
        }
        h.bodyBytes = at
        return h
    }

    /// The tensors of a checked header, converted from the data section `body`.
    static func materialize(_ h: Header, _ body: some ContiguousBytes, name: String) throws -> [String: Tensor] {
        let op = "safetensors"
        var tensors: [String: Tensor] = [:]
        for entry in h.entries {
            let (dt, count, b, e) = (entry.dtype, try Shape.count(entry.shape, op: op), entry.begin, entry.end)
            let t = try Tensor.uninitialized(
                entry.shape,
                dtype: dt == "I64"
                    ? .int64 : dt == "BOOL" ? .bool : dt == "F64" ? .float64 : dt == "U8" ? .uint8 : .float32, op: op)
            body.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                guard let base = raw.baseAddress else { return }  // an empty data section: only empty tensors
                let src = base + b
                switch dt {
                case "F32", "I64", "F64", "U8":
                    t.rawPointer.copyMemory(from: src, byteCount: e - b)
                case "BOOL":
                    for k in 0..<count { t.b[k] = src.load(fromByteOffset: k, as: UInt8.self) != 0 ? 1 : 0 }
                case "F16":
                    for k in 0..<count {
                        t.f[k] = Float(halfBits: src.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self))
                    }
                default:  // BF16: the top half of a float32
                    for k in 0..<count {
                        t.f[k] = Float(
                            bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)) << 16)
                    }
                }
            }
            tensors[entry.name] = t
        }
        return tensors
    }

    /// Serialises tensors (sorted by name) and metadata into a safetensors image.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let names = tensors.keys.sorted()
        if let bad = names.first(where: { $0.isEmpty || $0 == "__metadata__" }) {
            throw DFMError.invalid(
                "safetensors",
                bad.isEmpty ? "a tensor name is empty" : "'__metadata__' is reserved and cannot name a tensor")
        }
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
            header[name] =
                [
                    "dtype": code, "shape": t.shape,
                    "data_offsets": [offset, offset + t.byteCount],
                ] as [String: Any]
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
    /// Writes `data` to `path` through a temporary file in the same folder (fsync, then
    /// rename), so a crash or kill never leaves a half-written file under `path`. The file
    /// gets mode 0644 minus the umask (every checkpoint writer uses this mode). Errors name
    /// `path`, not the temporary file.
    public static func write(_ data: Data, to path: String, op: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw DFMError(.notFound, "\(op): directory '\(dir)' does not exist")
        }
        var st = stat()
        if stat(path, &st) == 0 {
            // rename() would replace a device or FIFO (as root, even /dev/null) with a regular file
            if st.st_mode & S_IFMT == S_IFDIR { throw DFMError.io(op, "cannot write '\(path)': it is a directory") }
            if st.st_mode & S_IFMT != S_IFREG { throw DFMError.io(op, "cannot write '\(path)': not a regular file") }
        }
        removeStaleTemporaries(of: path)
        let tmp = "\(path)\(tmpInfix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DFMError.io(op, "cannot write '\(path)': \(String(cString: strerror(errno)))") }
        var failure: Int32 = 0  // the errno of the first failing step
        data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let w = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if w < 0 && errno == EINTR { continue }
                if w <= 0 {
                    failure = w < 0 ? errno : EIO
                    return
                }
                done += w
            }
        }
        if failure == 0, fsync(fd) != 0 { failure = errno }
        if close(fd) != 0, failure == 0 { failure = errno }
        if failure == 0, rename(tmp, path) != 0 { failure = errno }
        guard failure == 0 else {
            unlink(tmp)
            throw DFMError.io(
                op,
                "cannot write '\(path)': \(failure == EISDIR ? "it is a directory" : String(cString: strerror(failure)))"
            )
        }
        let dfd = open(dir, O_RDONLY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }

    /// Temporary files are named `NAME.tmp-PID-RANDOM`.
    static let tmpInfix = ".tmp-"

    /// Removes the temporaries of `path` left by writers that were killed mid-write: those
    /// whose process no longer exists (a live process may still be writing its own).
    static func removeStaleTemporaries(of path: String) {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let prefix = url.lastPathComponent + tmpInfix
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count).split(separator: "-", omittingEmptySubsequences: false)
            guard rest.count == 2, let pid = Int32(rest[0]), pid > 0, UInt32(rest[1]) != nil,
                rest.allSatisfy({ $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } })
            else { continue }
            guard kill(pid, 0) != 0, errno == ESRCH else { continue }
            let file = dir + "/" + name
            var st = stat()
            if lstat(file, &st) == 0, st.st_mode & S_IFMT == S_IFREG { unlink(file) }
        }
    }
}

extension Float {
    /// IEEE half-precision bits to float32.
    init(halfBits h: UInt16) {
        let sign = UInt32(h >> 15) << 31
        let exp = Int((h >> 10) & 0x1f)
        let man = UInt32(h & 0x3ff)
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
