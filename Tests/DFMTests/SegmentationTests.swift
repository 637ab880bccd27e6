import Foundation
import XCTest

@testable import DFM

final class SegmentationTests: XCTestCase {
    // MARK: a tiny synthetic source in the IDX layout

    /// Six 28×28 "garments": image k is a filled rectangle of value 200 + 5k at rows
    /// 4+k..<20+k, cols 6..<22, plus one faint pixel (value 30, under the 0.2 threshold)
    /// at (0, 0); label k % 3.
    static func syntheticSource() throws -> IDXDataset {
        let dir = NSTemporaryDirectory() + "dfm-seg-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let n = 6
        var img: [UInt8] = [0, 0, 8, 3, 0, 0, 0, UInt8(n), 0, 0, 0, 28, 0, 0, 0, 28]
        for k in 0..<n {
            for r in 0..<28 {
                for c in 0..<28 {
                    img.append(
                        (r >= 4 + k && r < 20 + k && c >= 6 && c < 22)
                            ? UInt8(200 + 5 * k) : (r == 0 && c == 0 ? 30 : 0))
                }
            }
        }
        let lab: [UInt8] = [0, 0, 8, 1, 0, 0, 0, UInt8(n)] + (0..<n).map { UInt8($0 % 3) }
        FileManager.default.createFile(atPath: dir + "/img", contents: Data(img))
        FileManager.default.createFile(atPath: dir + "/lab", contents: Data(lab))
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try IDXDataset(images: dir + "/img", labels: dir + "/lab")
    }

    /// `count` scenes from the synthetic source: images (count, 1, canvas, canvas), labels 0...3.
    static func syntheticScenes(count: Int, canvas: Int, seed: UInt64 = 11) throws -> (Tensor, Tensor) {
        let s = try SegmentationScenes(
            source: try syntheticSource(), count: count, seed: seed, canvas: canvas, sourceClasses: 3)
        return try s.batch(Array(0..<count))
    }

    // MARK: scenes

    func testScenesAreDeterministic() throws {
        let src = try Self.syntheticSource()
        let a = try SegmentationScenes(source: src, count: 10, seed: 5, canvas: 40, sourceClasses: 3)
        let b = try SegmentationScenes(source: src, count: 10, seed: 5, canvas: 40, sourceClasses: 3)
        let c = try SegmentationScenes(source: src, count: 10, seed: 6, canvas: 40, sourceClasses: 3)
        let (xa, ya) = try a.batch(Array(0..<10))
        let (xb, yb) = try b.batch(Array(0..<10))
        XCTAssertEqual(xa.toArray(), xb.toArray())
        XCTAssertEqual(ya.toInt64Array(), yb.toInt64Array())
        XCTAssertNotEqual(ya.toInt64Array(), try c.batch(Array(0..<10)).labels.toInt64Array())
        // A scene does not depend on which batch reads it.
        let (x7, y7) = try a.batch([7])
        let hw = 40 * 40
        XCTAssertEqual(x7.toArray(), Array(xa.toArray()[(7 * hw)..<(8 * hw)]))
        XCTAssertEqual(y7.toInt64Array(), Array(ya.toInt64Array()[(7 * hw)..<(8 * hw)]))
        assertThrowsDFM(try a.batch([10]), "scene 10 is out of range", kind: .indexError)
        assertThrowsDFM(
            try SegmentationScenes(source: src, count: 1, seed: 0, canvas: 20), "smaller than the source images")
        assertThrowsDFM(
            try SegmentationScenes(source: src, count: 1, seed: 0, minObjects: 3, maxObjects: 2), "min_objects")
    }

    func testSceneLabelsMatchTheGarments() throws {
        let src = try Self.syntheticSource()
        let s = try SegmentationScenes(source: src, count: 12, seed: 3, canvas: 40, sourceClasses: 3)
        XCTAssertEqual(s.numClasses, 4)
        let (x, y) = try s.batch(Array(0..<12))
        let hw = 40 * 40
        var counts = Set<Int>()
        for i in 0..<12 {
            let layout = try s.layout(i)
            counts.insert(layout.count)
            XCTAssertTrue((2...4).contains(layout.count))
            // Paint by hand: rectangle of image k at (row + 4 + k, col + 6), 16×16, later on top.
            var ex = [Float](repeating: 0, count: hw)
            var ey = [Int64](repeating: 0, count: hw)
            for o in layout {
                let k = o.image
                for r in 0..<16 {
                    for c in 0..<16 {
                        let p = (o.row + 4 + k + r) * 40 + o.col + 6 + c
                        ex[p] = Float(200 + 5 * k) / 255
                        ey[p] = Int64(k % 3 + 1)
                    }
                }
            }
            XCTAssertEqual(Array(y.toInt64Array()[(i * hw)..<((i + 1) * hw)]), ey, "scene \(i) labels")
            XCTAssertEqual(Array(x.toArray()[(i * hw)..<((i + 1) * hw)]), ex, "scene \(i) image")
        }
        XCTAssertGreaterThan(counts.count, 1, "the number of garments varies")
    }

    func testFashionMNISTScenes() throws {
        let root = IDXDataset.fashionMNISTRoot
        guard
            FileManager.default.fileExists(atPath: root + "/t10k-images-idx3-ubyte.gz")
                || FileManager.default.fileExists(atPath: root + "/t10k-images-idx3-ubyte")
        else {
            throw XCTSkip("Fashion-MNIST not installed at \(root)")
        }
        let test = try SegmentationScenes.fashionMNIST(root: root, train: false, count: 4, seed: 1)
        XCTAssertEqual(test.numClasses, 11)
        XCTAssertEqual(test.source.count, 10_000, "test scenes come from the t10k split")
        let (x, y) = try test.batch([0, 1, 2, 3])
        XCTAssertEqual(x.shape, [4, 1, 64, 64])
        XCTAssertEqual(y.shape, [4, 64, 64])
        let xv = x.toArray()
        let yv = y.toInt64Array()
        for k in 0..<xv.count {
            XCTAssertTrue((0...10).contains(yv[k]))
            XCTAssertEqual(yv[k] == 0, xv[k] == 0, "background exactly where the image is 0 (pixel \(k))")
            if yv[k] > 0 { XCTAssertGreaterThan(xv[k], 0.2) }
        }
        // The garment on top keeps its label on all of its pixels above the threshold.
        let top = try test.layout(0).last!
        let (g, cls) = try test.source.batch([top.image])
        for r in 0..<28 {
            for c in 0..<28 where g.f[r * 28 + c] > 0.2 {
                XCTAssertEqual(yv[(top.row + r) * 64 + top.col + c], cls.i[0] + 1)
            }
        }
    }

    // MARK: metrics

    func testMetricsHandComputed() throws {
        // (target, prediction) pixels: (0,0) (1,1) (2,1) (2,2) (ignored) (0,0); class 3 absent.
        let pred = try Tensor(int64: [0, 1, 1, 2, 2, 0], shape: [1, 2, 3])
        let target = try Tensor(int64: [0, 1, 2, 2, 255, 0], shape: [1, 2, 3])
        let cm = try confusionMatrix(pred, target, numClasses: 4, ignoreIndex: 255)
        XCTAssertEqual(
            cm.toInt64Array(),
            [
                2, 0, 0, 0,
                0, 1, 0, 0,
                0, 1, 1, 0,
                0, 0, 0, 0,
            ])
        let iou = try iouPerClass(pred, target, numClasses: 4, ignoreIndex: 255).toArray()
        XCTAssertEqual(Array(iou.prefix(3)), [1, 0.5, 0.5])
        XCTAssertTrue(iou[3].isNaN)
        let dice = try dicePerClass(pred, target, numClasses: 4, ignoreIndex: 255).toArray()
        XCTAssertEqual(dice[0], 1)
        XCTAssertEqual(dice[1], 2.0 / 3, accuracy: 1e-6)
        XCTAssertEqual(dice[2], 2.0 / 3, accuracy: 1e-6)
        XCTAssertTrue(dice[3].isNaN)
        XCTAssertEqual(try meanIoU(pred, target, numClasses: 4, ignoreIndex: 255), 2.0 / 3, accuracy: 1e-6)

        // The same from scores (argmax over dim 1), accumulated over two batches.
        var logits = [Float](repeating: 0, count: 4 * 6)
        for (k, p) in [0, 1, 1, 2, 2, 0].enumerated() { logits[p * 6 + k] = 1 }
        var m = try SegmentationMetrics(numClasses: 4, ignoreIndex: 255)
        try m.update(try Tensor(logits, shape: [1, 4, 2, 3]), target)
        try m.update(pred, target)
        XCTAssertEqual(m.confusion, cm.toInt64Array().map { $0 * 2 })
        XCTAssertEqual(m.meanIoU, 2.0 / 3, accuracy: 1e-6)
        XCTAssertEqual(m.meanDice, 7.0 / 9, accuracy: 1e-6)
        XCTAssertEqual(m.pixelAccuracy, 0.8, accuracy: 1e-6)
        m.reset()
        XCTAssertTrue(m.meanIoU.isNaN)
        XCTAssertTrue(m.pixelAccuracy.isNaN)

        // A class predicted but never in the targets has IoU 0, not NaN.
        let onlyFP = try iouPerClass(
            try Tensor(int64: [1, 1], shape: [2]), try Tensor(int64: [0, 1], shape: [2]), numClasses: 2)
        XCTAssertEqual(onlyFP.toArray(), [0, 0.5])
    }

    func testMetricsErrors() throws {
        let t = try Tensor(int64: [0, 1, 5], shape: [3])
        assertThrowsDFM(
            try confusionMatrix(try Tensor(int64: [0, 1, 1], shape: [3]), t, numClasses: 3),
            "Target 5 is out of bounds", kind: .indexError)
        assertThrowsDFM(
            try confusionMatrix(
                try Tensor(int64: [0, 1, 7], shape: [3]), try Tensor(int64: [0, 1, 1], shape: [3]), numClasses: 3),
            "Predicted label 7", kind: .indexError)
        assertThrowsDFM(
            try confusionMatrix(try Tensor(int64: [0, 1], shape: [2]), t, numClasses: 3),
            "prediction labels have shape [2]")
        assertThrowsDFM(try confusionMatrix(try Tensor.zeros([1, 2, 3]), t, numClasses: 3), "must be (N, 3, ...)")
        assertThrowsDFM(
            try confusionMatrix(try Tensor.zeros([3]), try Tensor.zeros([3]), numClasses: 3), "int64", kind: .typeError)
        assertThrowsDFM(try SegmentationMetrics(numClasses: 0), "positive")
    }
}
