import XCTest

@testable import DFM

/// R4 and the published MNIST example's test loop: single unbatched images in training mode.
final class ModelUnbatchedTests: XCTestCase {
    func testSingleImageInTrainingModeUsesRunningStats() throws {
        manualSeed(5)
        let m = try DFMResNet.resnet18(fbFilters: 10, nClasses: 10, shape: [28, 28], inChannels: 1, stateInitStd: 0)
        let x = try rand([1, 28, 28])
        let before = m.stateDict().map { ($0.0, $0.1.toArray()) }
        let y = try m.forward(x, T: 3)
        XCTAssertEqual(y.shape, [10])
        XCTAssertTrue(m.training, "mode is restored")
        for ((k, v), (_, t)) in zip(before, m.stateDict()) where k != "T" {
            XCTAssertEqual(v, t.toArray(), "\(k) changed by a single-image forward")
        }
        m.train(false)
        let e = try m.forward(x, T: 3)
        XCTAssertEqual(y.toArray(), e.toArray())
        m.train(true)
        // A batch of one is still PyTorch's error, and larger single images still train normally.
        assertThrowsDFM(try m.forward(try unsqueeze(x, 0), T: 1), "more than 1 value per channel")
        let big = try m.forward(try rand([1, 64, 64]), T: 1)
        XCTAssertEqual(big.shape, [10])
    }
}
