import XCTest

@testable import DFM

/// gather / scatter with 0-dim tensors, which torch treats as one-element vectors.
final class ScalarIndexTests: XCTestCase {
    func testZeroDimIndexAndSource() throws {
        let label = try Tensor(int64: [3], shape: [])
        let oneHot = try scatter(try Tensor.zeros([5]), dim: 0, index: label, src: Tensor.scalar(1))
        XCTAssertEqual(oneHot.shape, [5])
        XCTAssertEqual(oneHot.toArray(), [0, 0, 0, 1, 0])
        let x = try Tensor.arange(0, 5).requiresGrad()
        let y = try gather(x, dim: 0, index: try Tensor(int64: [2], shape: []))
        XCTAssertEqual(y.shape, [])
        try y.backward()
        XCTAssertEqual(x.grad?.toArray(), [0, 0, 1, 0, 0])
        let added = try scatterAdd(
            Tensor.scalar(1), dim: 0, index: try Tensor(int64: [0], shape: []), src: Tensor.scalar(2))
        XCTAssertEqual(added.shape, [])
        XCTAssertEqual(try added.item(), 3)
        assertThrowsDFM(
            try scatter(try Tensor.zeros([2, 3]), dim: 0, index: label, src: Tensor.scalar(1)),
            "same number of dimensions")
    }
}
