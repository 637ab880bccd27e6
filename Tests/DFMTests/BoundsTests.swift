import XCTest

@testable import DFM

/// Sizes that would overflow arithmetic inside the core are rejected up front.
final class BoundsTests: XCTestCase {
    func testHugeCountsThrowInsteadOfTrapping() throws {
        let w = try Tensor.zeros([2]).requiresGrad()
        let opt = try SGD([w], lr: 0.1)
        assertThrowsDFM(try CosineAnnealingLR(opt, tMax: Int.max), "T_max")
        let cos = try CosineAnnealingLR(opt, tMax: 10)
        var d = cos.stateDict()
        d["last_epoch"] = String(Int.max - 1)
        assertThrowsDFM(try cos.loadStateDict(d), "beyond 2^40")
        let src = try IDXDataset(root: IDXDataset.fashionMNISTRoot, train: false)
        assertThrowsDFM(try SegmentationScenes(source: src, count: 4, seed: 0, maxObjects: Int.max), "max_objects")
        assertThrowsDFM(try SegmentationScenes(source: src, count: Int.max, seed: 0), "count")
        assertThrowsDFM(try Parallel.setThreads(0), "thread count")
        let x = try Tensor.zeros([1, 1, 4, 4])
        let k = try Tensor.zeros([1, 1, 3, 3])
        assertThrowsDFM(try conv2d(x, k, padding: [Int.max, 0]), "out of range")
        assertThrowsDFM(try conv2d(x, k, dilation: [1 << 40]), "out of range")
        assertThrowsDFM(try maxPool2d(x, kernelSize: [2], stride: [Int.max]), "out of range")
        assertThrowsDFM(try avgPool2d(x, kernelSize: [Int.max]), "out of range")
    }

    /// Found by fuzz-abi: a tensor with a 0 dim could have any other dims, and products of
    /// those (xavier_uniform_'s fan-in here) overflowed and trapped.
    func testEmptyTensorsHaveBoundedDims() throws {
        assertThrowsDFM(try Tensor.zeros([0, 1 << 62, 4]), "too large", kind: .outOfMemory)
        assertThrowsDFM(try Tensor.zeros([4, 0, 1 << 39]), "too large", kind: .outOfMemory)
        XCTAssertEqual(try Tensor.zeros([0, 1 << 20, 1 << 18]).shape, [0, 1 << 20, 1 << 18])
        let w = try Tensor.zeros([0, 1 << 19, 1 << 19])
        let (fanIn, fanOut) = try Init.calculateFanInAndFanOut(w)
        XCTAssertEqual([fanIn, fanOut], [1 << 38, 0])
    }
}
