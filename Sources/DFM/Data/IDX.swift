import CZlib
import Foundation

/// An image-classification dataset in the IDX layout of MNIST and Fashion-MNIST
/// (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-*` for test).
/// Images are held as uint8 and converted to float32 in [0, 1] per batch, as
/// torchvision's ToTensor does.
public final class IDXDataset {
    public let count: Int
    public let height: Int
    public let width: Int
    private let pixels: [UInt8]
    private let labelBytes: [UInt8]

    /// Debian's dataset-fashion-mnist location.
    public static let fashionMNISTRoot = "/usr/share/datasets/fashion-mnist"

    public init(images: String, labels: String) throws {
        let img = try IDXDataset.readIDX(images, expectDims: 3)
        let lab = try IDXDataset.readIDX(labels, expectDims: 1)
        guard img.dims[0] == lab.dims[0] else {
            throw DFMError.io(
                "idx", "'\(images)' holds \(img.dims[0]) images but '\(labels)' holds \(lab.dims[0]) labels")
        }
        count = img.dims[0]
        height = img.dims[1]
        width = img.dims[2]
        pixels = img.bytes
        labelBytes = lab.bytes
    }

    /// Opens the train or test split from a folder in the MNIST layout (gzip or raw files).
    public convenience init(root: String, train: Bool) throws {
        let prefix = train ? "train" : "t10k"
        func find(_ stem: String) throws -> String {
            for name in [stem, stem + ".gz"] {
                let p = (root as NSString).appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: p) { return p }
            }
            throw DFMError(
                .notFound,
                "idx: no '\(stem)[.gz]' in '\(root)'; put the MNIST-layout IDX files there (on Debian: apt-get install dataset-fashion-mnist)"
            )
        }
        try self.init(images: try find("\(prefix)-images-idx3-ubyte"), labels: try find("\(prefix)-labels-idx1-ubyte"))
    }

    public func label(_ index: Int) -> Int { Int(labelBytes[index]) }

    /// Images (B, 1, H, W) scaled to [0, 1] and labels (B) int64 for `indices`.
    public func batch(_ indices: [Int]) throws -> (images: Tensor, labels: Tensor) {
        // Indices first: an empty dataset may declare any image size, which is not allocated for nothing.
        if let k = indices.first(where: { $0 < 0 || $0 >= count }) {
            throw DFMError.index("idx.batch", "index \(k) is out of range for a dataset of \(count) items")
        }
        let hw = height * width
        let x = try Tensor.uninitialized([indices.count, 1, height, width], op: "idx.batch")
        let y = try Tensor.uninitialized([indices.count], dtype: .int64, op: "idx.batch")
        for (b, k) in indices.enumerated() {
            let dst = x.f + b * hw
            pixels.withUnsafeBufferPointer { src in
                for p in 0..<hw { dst[p] = Float(src[k * hw + p]) / 255 }
            }
            y.i[b] = Int64(labelBytes[k])
        }
        return (x, y)
    }

    // MARK: file format

    /// Reads an unsigned-byte IDX file: magic 0x0000_08_NN, NN big-endian u32 dims, then data.
    static func readIDX(_ path: String, expectDims: Int) throws -> (dims: [Int], bytes: [UInt8]) {
        let raw = try readMaybeGzip(path, expectDims: expectDims)
        guard let (dims, n) = try declaredSize(raw, expectDims: expectDims, path: path) else {
            throw DFMError.io("idx", "'\(path)' is truncated: \(raw.count) bytes")
        }
        let header = 4 + 4 * expectDims
        guard raw.count - header == n else {
            throw DFMError.io(
                "idx",
                "'\(path)' is truncated or corrupt: dimensions \(dims) need \(n) bytes of data, file has \(raw.count - header)"
            )
        }
        return (dims, Array(raw[header...]))
    }

    /// The dimensions and data length an IDX header declares, or nil while `raw` is shorter
    /// than the header. Throws for a wrong magic or a size that overflows.
    static func declaredSize(_ raw: [UInt8], expectDims: Int, path: String) throws -> (dims: [Int], count: Int)? {
        guard raw.count >= 4 else { return nil }
        guard raw[0] == 0, raw[1] == 0, raw[2] == 0x08, Int(raw[3]) == expectDims else {
            throw DFMError.io("idx", "'\(path)' is not an unsigned-byte IDX file with \(expectDims) dimensions")
        }
        guard raw.count >= 4 + 4 * expectDims else { return nil }
        var dims: [Int] = []
        for d in 0..<expectDims {
            let o = 4 + 4 * d
            dims.append(Int(raw[o]) << 24 | Int(raw[o + 1]) << 16 | Int(raw[o + 2]) << 8 | Int(raw[o + 3]))
        }
        // The image size on its own too: with 0 images the product is 0 whatever H × W is.
        _ = try Shape.count(Array(dims.dropFirst()), op: "idx")
        return (dims, try Shape.count(dims, op: "idx"))
    }

    /// File contents, gunzipped when the file starts with the gzip magic. Only regular files
    /// (a device such as /dev/zero would never end), and a gzip stream is inflated no further
    /// than the IDX header it holds declares (a small file cannot expand without bound).
    static func readMaybeGzip(_ path: String, expectDims: Int) throws -> [UInt8] {
        let bytes = try readRegularFile(path)
        guard bytes.count >= 2, bytes[0] == 0x1f, bytes[1] == 0x8b else { return bytes }
        var out = [UInt8]()
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DFMError.io("idx", "zlib init failed for '\(path)'")
        }
        defer { inflateEnd(&stream) }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var status: Int32 = Z_OK
        try bytes.withUnsafeBufferPointer { src in
            stream.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
            stream.avail_in = uInt(src.count)
            repeat {
                status = chunk.withUnsafeMutableBufferPointer { dst in
                    stream.next_out = dst.baseAddress
                    stream.avail_out = uInt(dst.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                guard status == Z_OK || status == Z_STREAM_END else {
                    throw DFMError.io("idx", "'\(path)' is a corrupt gzip stream (zlib status \(status))")
                }
                out.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                if let (dims, n) = try declaredSize(out, expectDims: expectDims, path: path),
                    out.count > 4 + 4 * expectDims + n
                {
                    throw DFMError.io(
                        "idx",
                        "'\(path)' is corrupt: its gzip stream holds more than the \(n) bytes of data its dimensions \(dims) declare"
                    )
                }
                if status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0 {
                    throw DFMError.io("idx", "'\(path)' is a truncated gzip stream")
                }
            } while status != Z_STREAM_END
        }
        return out
    }

    /// The bytes of a regular file, read with the size fstat reports (never past it).
    static func readRegularFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            throw DFMError(
                e == ENOENT ? .notFound : .ioError, "idx: cannot read '\(path)': \(String(cString: strerror(e)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw DFMError.io("idx", "cannot read '\(path)': \(String(cString: strerror(errno)))")
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw DFMError.io("idx", "cannot read '\(path)': it is a directory")
        default: throw DFMError.io("idx", "cannot read '\(path)': not a regular file")
        }
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < out.count {
            let r = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if r < 0 && errno == EINTR { continue }
            if r < 0 { throw DFMError.io("idx", "cannot read '\(path)': \(String(cString: strerror(errno)))") }
            if r == 0 { throw DFMError.io("idx", "'\(path)' is truncated: it shrank while being read") }
            done += r
        }
        return out
    }
}
