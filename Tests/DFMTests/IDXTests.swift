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
        FileManager.default.createFile(atPath: dir + "/g", contents: Data([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff]))
        assertThrowsDFM(try IDXDataset(images: dir + "/g", labels: dir + "/l"), "gzip")
        let ok = Data([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 255])
        FileManager.default.createFile(atPath: dir + "/ok", contents: ok)
        let one = Data([0, 0, 8, 1, 0, 0, 0, 1, 7])
        FileManager.default.createFile(atPath: dir + "/one", contents: one)
        let ds = try IDXDataset(images: dir + "/ok", labels: dir + "/one")
        assertThrowsDFM(try ds.batch([1]), "out of range", kind: .indexError)
        assertThrowsDFM(try IDXDataset(images: dir + "/ok", labels: dir + "/l"), "holds 1 images but")
    }
}
