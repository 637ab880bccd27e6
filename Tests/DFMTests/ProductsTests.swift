import XCTest

@testable import DFM

/// torch.mm / mv / dot / outer / addmm / baddbmm against PyTorch (tools/fixtures/ops_products.py),
/// in float32 (sgemm: relative 1e-5) and float64 (dgemm: 1e-12).
final class ProductsTests: XCTestCase {
    func testParityWithPyTorch() throws {
        let fx = try Fixture("products")
        XCTAssertEqual(fx.cases.count, 18)
        for c in fx.cases {
            let f64 = c.contains("_f64")
            let tol = f64 ? 1e-12 : 1e-5
            let beta = fx.float(c, "beta") ?? 1
            let alpha = fx.float(c, "alpha") ?? 1
            let y: Tensor
            let ins: [String: Tensor]
            switch fx.string(c, "op") {
            case "mm":
                let x = try fx.leaves(c, ["input", "mat2"])
                ins = ["input": x[0], "mat2": x[1]]
                y = try mm(x[0], x[1])
            case "mv":
                let x = try fx.leaves(c, ["input", "vec"])
                ins = ["input": x[0], "vec": x[1]]
                y = try mv(x[0], x[1])
            case "dot":
                let x = try fx.leaves(c, ["input", "tensor"])
                ins = ["input": x[0], "tensor": x[1]]
                y = try dot(x[0], x[1])
            case "outer":
                let x = try fx.leaves(c, ["input", "vec2"])
                ins = ["input": x[0], "vec2": x[1]]
                y = try outer(x[0], x[1])
            case "addmm":
                let x = try fx.leaves(c, ["input", "mat1", "mat2"])
                ins = ["input": x[0], "mat1": x[1], "mat2": x[2]]
                y = try addmm(x[0], x[1], x[2], beta: beta, alpha: alpha)
            case "baddbmm":
                let x = try fx.leaves(c, ["input", "batch1", "batch2"])
                ins = ["input": x[0], "batch1": x[1], "batch2": x[2]]
                y = try baddbmm(x[0], x[1], x[2], beta: beta, alpha: alpha)
            default:
                XCTFail("unknown case \(c)")
                continue
            }
            XCTAssertEqual(y.dtype, f64 ? .float64 : .float32, c)
            try fx.check(c, outputs: [y], inputs: ins, rtol: Float(tol), atol: Float(tol))
        }
    }

    func testShapeAndDtypeErrors() throws {
        let m = try Tensor.ones([2, 3])
        let v = try Tensor.ones([3])
        assertThrowsDFM(try mm(m, v), "mat2 must be a 2D tensor", kind: .shapeMismatch)
        assertThrowsDFM(try mv(m, m), "vec must be a 1D tensor", kind: .shapeMismatch)
        assertThrowsDFM(try dot(v, try Tensor.ones([4])), "same number of elements", kind: .shapeMismatch)
        assertThrowsDFM(try outer(m, v), "self must be a 1D tensor", kind: .shapeMismatch)
        assertThrowsDFM(try mm(m, try toDType(try Tensor.ones([3, 2]), .float64)), "same dtype", kind: .typeError)
        assertThrowsDFM(
            try addmm(try Tensor.ones([4, 4]), m, try Tensor.ones([3, 2])), "cannot be broadcast", kind: .shapeMismatch)
        // beta = 0 ignores NaN in input, as torch.
        let nan = try Tensor.full([2, 2], .nan)
        XCTAssertEqual(try addmm(nan, m, try Tensor.ones([3, 2]), beta: 0).toArray(), [3, 3, 3, 3])
    }
}
