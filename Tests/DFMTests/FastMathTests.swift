import Foundation
import XCTest

@testable import DFM

/// The branch-free float32 exp and normal CDF (Kernels/FastMath.swift) against libm in
/// double precision, over their whole range, and on the values that need care.
final class FastMathTests: XCTestCase {
    func testExpWithinTwoUlp() {
        var worst = 0.0
        var x: Float = -87.3
        while x < 88.72 {
            let ref = Foundation.exp(Double(x))
            worst = Swift.max(worst, Swift.abs(Double(FastMath.exp(x)) - ref) / ref)
            x += 0.000_37
        }
        XCTAssertLessThan(worst, 2 * 5.97e-8)  // 2 ulp of 1 (relative)
        XCTAssertEqual(FastMath.exp(0), 1)
        XCTAssertEqual(FastMath.exp(89), .infinity)
        XCTAssertEqual(FastMath.exp(.infinity), .infinity)
        XCTAssertEqual(FastMath.exp(-88), 0)
        XCTAssertEqual(FastMath.exp(-.infinity), 0)
        XCTAssertTrue(FastMath.exp(.nan).isNaN)
    }

    func testNormalCDFRelativeErrorIncludingTheLeftTail() {
        var worst = 0.0
        var x: Float = -12.5  // Φ(-12.5) ≈ 4e-36: still a normal float
        while x < 9 {
            let ref = 0.5 * Foundation.erfc(-Double(x) / 2.0.squareRoot())
            worst = Swift.max(worst, Swift.abs(Double(FastMath.normalCDF(x)) - ref) / ref)
            x += 0.000_71
        }
        // The conditioning of Φ at x = -12.5 alone amplifies x's rounding 6e-8 by x² ≈ 160.
        XCTAssertLessThan(worst, 2e-5)
        XCTAssertEqual(FastMath.normalCDF(0), 0.5)
        XCTAssertEqual(FastMath.normalCDF(.infinity), 1)
        XCTAssertEqual(FastMath.normalCDF(-.infinity), 0)
        XCTAssertEqual(FastMath.normalCDF(-40), 0)
        XCTAssertTrue(FastMath.normalCDF(.nan).isNaN)
    }

    /// float32 GELU and its gradient through the fast path against the float64 op (libm).
    func testGeluFloat32MatchesFloat64() throws {
        let xs = (0..<4001).map { Double($0) * 0.005 - 10 }
        let x64 = try Tensor(double: xs, shape: [xs.count]).requiresGrad(true)
        let x32 = try Tensor(xs.map { Float($0) }, shape: [xs.count]).requiresGrad(true)
        let y64 = try gelu(x64)
        let y32 = try gelu(x32)
        try sum(y64).backward()
        try sum(y32).backward()
        for (name, a, b) in [("gelu", y32, y64), ("gelu grad", x32.grad!, x64.grad!)] {
            let a = a.toArray()
            let b = b.toDoubleArray()
            for i in 0..<xs.count {
                XCTAssertEqual(Double(a[i]), b[i], accuracy: 2e-7 + 2e-6 * Swift.abs(b[i]), "\(name) at x = \(xs[i])")
            }
        }
    }
}
