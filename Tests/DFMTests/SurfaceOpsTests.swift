import XCTest

@testable import DFM

/// flip, roll, triu, tril, diag, prod, einsum, pad modes, pixel (un)shuffle and conv1d against
/// PyTorch (tools/fixtures/ops_surface.py) in float32 and float64; gradChecks; bad input.
final class SurfaceOpsTests: XCTestCase {
    func testParityWithPyTorch() throws {
        let fx = try Fixture("surface")
        XCTAssertEqual(fx.cases.count, 98)
        for c in fx.cases {
            let f64 = c.hasSuffix("_f64")
            // Copies are exact; products, sums and convolutions round like torch's float32 to ~1e-6.
            let tol: Float = f64 ? 1e-12 : 1e-5
            let op = fx.string(c, "op") ?? ""
            var names = ["input"]
            if op == "einsum" { names = (0..<(fx.int(c, "n") ?? 0)).map { "x\($0)" } }
            if op == "conv1d" {
                names = fx.grad(c, "bias") != nil ? ["input", "weight", "bias"] : ["input", "weight"]
            }
            let x = try fx.leaves(c, names)
            let y: Tensor
            switch op {
            case "flip": y = try flip(x[0], dims: fx.ints(c, "dims")!)
            case "roll": y = try roll(x[0], shifts: fx.ints(c, "shifts")!, dims: fx.ints(c, "dims")!)
            case "triu": y = try triu(x[0], diagonal: fx.int(c, "diagonal")!)
            case "tril": y = try tril(x[0], diagonal: fx.int(c, "diagonal")!)
            case "diag": y = try diag(x[0], diagonal: fx.int(c, "diagonal")!)
            case "prod":
                if let d = fx.int(c, "dim") {
                    y = try prod(x[0], dim: d, keepdim: fx.bool(c, "keepdim")!)
                } else {
                    y = try prod(x[0])
                }
            case "einsum": y = try einsum(fx.string(c, "equation")!, x)
            case "pad": y = try pad(x[0], fx.ints(c, "pad")!, mode: fx.string(c, "mode")!, value: fx.float(c, "value")!)
            case "pixel_shuffle": y = try pixelShuffle(x[0], upscaleFactor: fx.int(c, "r")!)
            case "pixel_unshuffle": y = try pixelUnshuffle(x[0], downscaleFactor: fx.int(c, "r")!)
            case "conv1d":
                let b = x.count > 2 ? x[2] : nil
                if let p = fx.string(c, "padding") {
                    y = try conv1d(x[0], x[1], b, padding: p, dilation: fx.int(c, "dilation")!)
                } else {
                    y = try conv1d(
                        x[0], x[1], b, stride: fx.int(c, "stride")!, padding: fx.int(c, "padding")!,
                        dilation: fx.int(c, "dilation")!, groups: fx.int(c, "groups")!)
                }
            default:
                XCTFail("unknown case \(c)")
                continue
            }
            XCTAssertEqual(y.dtype, f64 ? .float64 : .float32, c)
            try fx.check(c, outputs: [y], inputs: Dictionary(uniqueKeysWithValues: zip(names, x)), rtol: tol, atol: tol)
        }
    }

    func testGradCheck() throws {
        var rng = SplitMix(seed: 3)
        func r(_ s: [Int]) throws -> Tensor {
            try toDType(
                try Tensor(double: (0..<s.reduce(1, *)).map { _ in Double(rng.nextFloat()) * 2 - 1 }, shape: s),
                .float32)
        }
        try gradCheck([try r([2, 3, 4])]) { try flip($0[0], dims: [1, -1]) }
        try gradCheck([try r([3, 4])]) { try roll($0[0], shifts: [-5], dims: []) }
        try gradCheck([try r([2, 3, 3])]) { try triu($0[0], diagonal: -1) }
        try gradCheck([try r([4, 3])]) { try tril($0[0], diagonal: 1) }
        try gradCheck([try r([3])]) { try diag($0[0], diagonal: -2) }
        try gradCheck([try r([3, 4])]) { try diag($0[0], diagonal: 1) }
        try gradCheck([try add(try r([2, 3]), 2)]) { try prod($0[0], dim: 0) }
        try gradCheck([try r([2, 3, 4]), try r([2, 4, 3])]) { try einsum("bij,bjk->bki", $0) }
        try gradCheck([try r([3, 3, 2])]) { try einsum("iij->j", $0) }
        try gradCheck([try r([1, 2, 3, 4])]) { try pad($0[0], [2, 1, 1, 2], mode: "reflect") }
        try gradCheck([try r([2, 3, 3])]) { try pad($0[0], [2, 3], mode: "replicate") }
        try gradCheck([try r([2, 3, 3])]) { try pad($0[0], [3, 2], mode: "circular") }
        try gradCheck([try r([1, 8, 2, 3])]) { try pixelShuffle($0[0], upscaleFactor: 2) }
        try gradCheck([try r([2, 5, 7]), try r([4, 5, 2])]) { try conv1d($0[0], $0[1], stride: 2, padding: 1) }
    }

    func testProdOfIntegersAndZeros() throws {
        let i = try Tensor(int64: [2, 3, 4, -1], shape: [2, 2])
        let p = try prod(i)
        XCTAssertEqual(p.dtype, .int64)
        XCTAssertEqual(p.toInt64Array(), [-24])
        XCTAssertEqual(try prod(i, dim: 1).toInt64Array(), [6, -4])
        // Two zeros in a lane: every gradient of that lane is zero.
        let z = try Tensor(double: [0, 2, 0, 3], shape: [4]).requiresGrad()
        try prod(z).backward()
        XCTAssertEqual(z.grad!.toArray(), [0, 0, 0, 0])
    }

    func testAlphaDropoutKeepsMoments() throws {
        Generator.default.manualSeed(5)
        let x = try toDType(try randn([20000]), .float64)
        let y = try alphaDropout(x, p: 0.3)
        let m = try mean(y).toDoubleArray()[0]
        let v = try mean(try mul(y, y)).toDoubleArray()[0] - m * m
        XCTAssertEqual(m, 0, accuracy: 0.03)
        XCTAssertEqual(v, 1, accuracy: 0.05)
        XCTAssertTrue(try alphaDropout(x, p: 0.3, training: false) === x)
        Generator.default.manualSeed(5)
        _ = try randn([20000])
        XCTAssertEqual(try alphaDropout(x, p: 0.3).toDoubleArray(), y.toDoubleArray())
    }

    func testBadInput() throws {
        let m = try Tensor.ones([2, 3])
        let v = try Tensor.ones([3])
        assertThrowsDFM(try flip(m, dims: [0, -2]), "duplicates", kind: .invalidArgument)
        assertThrowsDFM(try flip(m, dims: [2]), "out of range", kind: .indexError)
        assertThrowsDFM(try roll(m, shifts: [1, 2], dims: [0]), "align", kind: .invalidArgument)
        assertThrowsDFM(try roll(m, shifts: [1, 2]), "exactly one shift", kind: .invalidArgument)
        assertThrowsDFM(try triu(v), "at least 2 dimensions", kind: .shapeMismatch)
        assertThrowsDFM(try diag(try Tensor.ones([2, 2, 2])), "matrix or a vector", kind: .shapeMismatch)
        assertThrowsDFM(try prod(m, dim: 2), "out of range", kind: .indexError)
        assertThrowsDFM(try einsum("ij,jk", [m]), "operands", kind: .invalidArgument)
        assertThrowsDFM(try einsum("ij,jk->ik", [m, m]), "broadcast", kind: .shapeMismatch)
        assertThrowsDFM(try einsum("ijk", [m]), "number of subscripts", kind: .shapeMismatch)
        assertThrowsDFM(try einsum("i1", [m]), "subscripts must be", kind: .invalidArgument)
        assertThrowsDFM(try einsum("ij->ik", [m]), "does not appear", kind: .invalidArgument)
        assertThrowsDFM(try einsum("ij->ii", [m]), "more than once", kind: .invalidArgument)
        assertThrowsDFM(try einsum("ii->i", [m]), "sizes don't match", kind: .shapeMismatch)
        assertThrowsDFM(try einsum("i", [try Tensor(int64: [1], shape: [1])]), "floating point", kind: .typeError)
        assertThrowsDFM(try pad(m, [1], mode: "reflect"), "divisible by 2", kind: .invalidArgument)
        assertThrowsDFM(try pad(m, [3, 0], mode: "reflect"), "less than the corresponding", kind: .invalidArgument)
        assertThrowsDFM(try pad(m, [4, 0], mode: "circular"), "more than once", kind: .invalidArgument)
        assertThrowsDFM(try pad(m, [1, 1], mode: "wrap"), "Unrecognised padding mode", kind: .invalidArgument)
        assertThrowsDFM(
            try pad(m, [1, 1, 1, 1], mode: "replicate"), "expects a 3D or 4D input", kind: .invalidArgument)
        assertThrowsDFM(try pad(v, [1, 1, 1, 1]), "two times the input dimension", kind: .invalidArgument)
        assertThrowsDFM(try pad(m, [-4, 0]), "padded size", kind: .invalidArgument)
        assertThrowsDFM(
            try pixelShuffle(try Tensor.ones([1, 3, 2, 2]), upscaleFactor: 2), "divisible by the square",
            kind: .shapeMismatch)
        assertThrowsDFM(
            try pixelUnshuffle(try Tensor.ones([1, 3, 3, 2]), downscaleFactor: 2), "divisible by downscale_factor",
            kind: .shapeMismatch)
        assertThrowsDFM(try pixelShuffle(m, upscaleFactor: 0), "at least 3 dimensions", kind: .shapeMismatch)
        assertThrowsDFM(
            try conv1d(try Tensor.ones([1, 2, 3, 4]), try Tensor.ones([1, 2, 1])), "Expected 2D (unbatched) or 3D",
            kind: .shapeMismatch)
        assertThrowsDFM(try conv1d(m, try Tensor.ones([1, 2, 1, 1])), "3-dimensional", kind: .shapeMismatch)
        assertThrowsDFM(try alphaDropout(m, p: 1.5), "between 0 and 1", kind: .invalidArgument)
        // A diagonal far outside the matrix is empty, as in torch.
        XCTAssertEqual(try diag(m, diagonal: -(1 << 40)).shape, [0])
        XCTAssertEqual(try diag(m, diagonal: 7).shape, [0])
        // The input is intact after each refusal.
        XCTAssertEqual(m.toArray(), [1, 1, 1, 1, 1, 1])
    }
}
