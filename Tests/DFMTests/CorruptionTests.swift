import XCTest

@testable import DFM

final class CorruptionTests: XCTestCase {
    func testCorruptions() throws {
        let x = try Tensor.full([2, 1, 8, 8], 0.5)
        let g1 = try Corruption.gaussian(sigma: 0.2).apply(x, generator: Generator(seed: 3))
        let g2 = try Corruption.gaussian(sigma: 0.2).apply(x, generator: Generator(seed: 3))
        XCTAssertEqual(g1.toArray(), g2.toArray(), "same seed, same noise")
        let v = g1.toArray().map { Double($0) - 0.5 }
        let std = (v.map { $0 * $0 }.reduce(0, +) / Double(v.count)).squareRoot()
        XCTAssert(std > 0.15 && std < 0.25, "noise std \(std)")
        XCTAssert(g1.toArray().allSatisfy { $0 >= 0 && $0 <= 1 })

        let sp = try Corruption.saltPepper(fraction: 0.5).apply(x, generator: Generator(seed: 1)).toArray()
        let changed = sp.filter { $0 != 0.5 }
        XCTAssert(changed.allSatisfy { $0 == 0 || $0 == 1 })
        XCTAssert(changed.count > 40 && changed.count < 90, "\(changed.count) of 128 changed")

        // Blur keeps constants, preserves mass of an impulse away from edges, and spreads it.
        XCTAssertEqual(
            try Corruption.blur(sigma: 1).apply(x).toArray().map { ($0 * 1e4).rounded() },
            x.toArray().map { ($0 * 1e4).rounded() })
        let imp = try Tensor.zeros([1, 9, 9])
        imp.f[40] = 1
        let b = try Corruption.blur(sigma: 1).apply(imp).toArray()
        XCTAssertEqual(b.reduce(0, +), 1, accuracy: 1e-5)
        XCTAssert(b[40] < 0.5 && b[39] > 0 && b[31] > 0)

        assertThrowsDFM(try Corruption.gaussian(sigma: -1).apply(x), "sigma")
        assertThrowsDFM(try Corruption.saltPepper(fraction: 2).apply(x), "fraction")
        assertThrowsDFM(try Corruption.blur(sigma: 0).apply(x), "sigma")
        assertThrowsDFM(try Corruption.clean.apply(try Tensor.zeros([3])), "expected (..., H, W)")
    }
}
