import XCTest

@testable import DFM

final class IDXTests: XCTestCase {
    let root = IDXDataset.fashionMNISTRoot

    func testReadsFashionMNIST() throws {
        let test = try IDXDataset(root: root, train: false)
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual([test.height, test.width], [28, 28])
        let (x, y) = try test.batch([0, 1, 9_999])
        XCTAssertEqual(x.shape, [3, 1, 28, 28])
        XCTAssertEqual(y.toInt64Array(), [9, 2, 5])  // Fashion-MNIST t10k labels: ankle boot, pullover, ..., sandal
        let v = x.toArray()
        XCTAssertGreaterThanOrEqual(v.min()!, 0)
        XCTAssertLessThanOrEqual(v.max()!, 1)
        XCTAssertGreaterThan(v.max()!, 0.9)
    }

    func testBadFiles() throws {
        let dir = NSTemporaryDirectory() + "dfm-idx-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        assertThrowsDFM(try IDXDataset(root: dir, train: true), "no 'train-images-idx3-ubyte", kind: .notFound)
        // Truncated: header says 2 images of 2×2, only 3 bytes follow.
        let img = Data([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3])
        let lab = Data([0, 0, 8, 1, 0, 0, 0, 2, 4, 5])
        FileManager.default.createFile(atPath: dir + "/i", contents: img)
        FileManager.default.createFile(atPath: dir + "/l", contents: lab)
        assertThrowsDFM(try IDXDataset(images: dir + "/i", labels: dir + "/l"), "truncated", kind: .ioError)
        FileManager.default.createFile(atPath: dir + "/bad", contents: Data([1, 2, 3, 4, 5, 6, 7, 8]))
        assertThrowsDFM(try IDXDataset(images: dir + "/bad", labels: dir + "/l"), "not an unsigned-byte IDX")
        // A gzip header followed by garbage.
        FileManager.default.createFile(
            atPath: dir + "/g", contents: Data([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff]))
        assertThrowsDFM(try IDXDataset(images: dir + "/g", labels: dir + "/l"), "gzip")
        let ok = Data([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 255])
        FileManager.default.createFile(atPath: dir + "/ok", contents: ok)
        let one = Data([0, 0, 8, 1, 0, 0, 0, 1, 7])
        FileManager.default.createFile(atPath: dir + "/one", contents: one)
        let ds = try IDXDataset(images: dir + "/ok", labels: dir + "/one")
        assertThrowsDFM(try ds.batch([1]), "out of range", kind: .indexError)
        assertThrowsDFM(try IDXDataset(images: dir + "/ok", labels: dir + "/l"), "holds 1 images but")
    }

    /// Found by fuzz/ (fuzz-idx): reads are bounded by the file and by the header it declares.
    func testReadsAreBounded() throws {
        let dir = NSTemporaryDirectory() + "dfm-idx-bounded-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lab = Data([0, 0, 8, 1, 0, 0, 0, 1, 7])
        FileManager.default.createFile(atPath: dir + "/l", contents: lab)
        // /dev/zero used to be read until memory ran out; a folder was "cannot read"
        assertThrowsDFM(try IDXDataset(images: "/dev/zero", labels: dir + "/l"), "not a regular file", kind: .ioError)
        assertThrowsDFM(try IDXDataset(images: dir, labels: dir + "/l"), "it is a directory", kind: .ioError)
        // An empty file (Foundation's reader leaked a buffer for each)
        FileManager.default.createFile(atPath: dir + "/empty", contents: Data())
        assertThrowsDFM(try IDXDataset(images: dir + "/empty", labels: dir + "/l"), "truncated", kind: .ioError)
        // A gzip stream of one 1×1 image followed by 64 MiB of zeros (65 KiB compressed) stops at
        // the declared size instead of inflating everything first.
        var raw = Data([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9])
        raw.append(Data(count: 64 << 20))
        FileManager.default.createFile(atPath: dir + "/bomb.gz", contents: try gzip(raw))
        assertThrowsDFM(
            try IDXDataset(images: dir + "/bomb.gz", labels: dir + "/l"), "holds more than the 1 bytes of data",
            kind: .ioError)
    }

    /// Found by fuzz-idx: an empty dataset may declare any image size (no data bounds it);
    /// a batch with an out-of-range index used to allocate the images (here 256 GB) first.
    func testEmptyDatasetWithHugeImages() throws {
        let dir = NSTemporaryDirectory() + "dfm-idx-huge-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(
            atPath: dir + "/i", contents: Data([0, 0, 8, 3, 0, 0, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0]))
        FileManager.default.createFile(atPath: dir + "/l", contents: Data([0, 0, 8, 1, 0, 0, 0, 0]))
        let ds = try IDXDataset(images: dir + "/i", labels: dir + "/l")
        XCTAssertEqual([ds.count, ds.height, ds.width], [0, 1 << 18, 1 << 18])
        assertThrowsDFM(try ds.batch([0]), "out of range", kind: .indexError)
        assertThrowsDFM(try ds.batch([-1]), "out of range", kind: .indexError)
        XCTAssertEqual(try ds.batch([]).images.shape, [0, 1, 1 << 18, 1 << 18])
        // 0 images of (2^32 - 1)² pixels: H × W overflows; batch([]) used to trap on it
        FileManager.default.createFile(
            atPath: dir + "/o", contents: Data([0, 0, 8, 3, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255]))
        assertThrowsDFM(try IDXDataset(images: dir + "/o", labels: dir + "/l"), "too large", kind: .outOfMemory)
    }

    /// A gzip stream of `data` (zlib's deflate with a gzip wrapper).
    private func gzip(_ data: Data) throws -> Data {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-c"]
        let inPipe = Pipe()
        let outPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        try p.run()
        DispatchQueue.global().async {
            inPipe.fileHandleForWriting.write(data)
            try? inPipe.fileHandleForWriting.close()
        }
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return out
    }
}
