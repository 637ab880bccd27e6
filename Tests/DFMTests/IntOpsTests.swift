import XCTest

@testable import DFM

/// int64 arithmetic, dtype conversion and index_select against PyTorch (tools/fixtures/ops_int.py).
final class IntOpsTests: XCTestCase {
    func testParityWithPyTorch() throws {
        let fx = try Fixture("int_ops")
        let binary: [String: (Tensor, Tensor) throws -> Tensor] = [
            "add": add, "sub": sub, "mul": mul, "div": div, "pow": pow,
        ]
        var checked = 0
        for c in fx.cases {
            let op = String(c.prefix(while: { $0 != "_" }))
            if c.contains("_ii") {
                let ab = try fx.leaves(c, ["a", "b"])
                try fx.checkTyped(c, [try binary[op]!(ab[0], ab[1])], inputs: [:])
            } else if c.contains("_fi") {  // x ∘ n
                let xn = try fx.leaves(c, ["x", "n"])
                try fx.checkTyped(c, [try binary[op]!(xn[0], xn[1])], inputs: ["x": xn[0]])
            } else if c.contains("_if") {  // n ∘ x
                let xn = try fx.leaves(c, ["x", "n"])
                try fx.checkTyped(c, [try binary[op]!(xn[1], xn[0])], inputs: ["x": xn[0]])
            } else if (c.contains("_is") || c.hasSuffix("_fs")) && op != "clamp" {
                let n = fx.input(c, "n")
                let s = fx.float(c, "s")!
                let y: Tensor
                switch op {
                case "add": y = try add(n, s)
                case "sub": y = try sub(n, s)
                case "mul": y = try mul(n, s)
                case "div": y = try div(n, s)
                case "rsub": y = try rsub(s, n)
                case "rdiv": y = try rdiv(s, n)
                case "pow": y = try pow(n, s)
                default:
                    XCTFail("unhandled case \(c)")
                    continue
                }
                try fx.checkTyped(c, [y], inputs: [:])
            } else if op == "neg" || op == "abs" {
                let n = fx.input(c, "n")
                try fx.checkTyped(c, [op == "neg" ? try neg(n) : try abs(n)], inputs: [:])
            } else if op == "clamp" {
                try fx.checkTyped(
                    c, [try clamp(fx.input(c, "n"), min: fx.float(c, "min"), max: fx.float(c, "max"))], inputs: [:])
            } else if op == "sum" {
                try fx.checkTyped(
                    c,
                    [
                        try sum(
                            fx.input(c, "n"), dims: fx.ints(c, "dims") ?? [], keepdim: fx.bool(c, "keepdim") ?? false)
                    ], inputs: [:])
            } else if op == "expand" {
                try fx.checkTyped(c, [try expand(fx.input(c, "n"), to: fx.ints(c, "shape")!)], inputs: [:])
            } else if c == "to_float" {
                try fx.checkTyped(c, [try toDType(fx.input(c, "n"), .float32)], inputs: [:])
            } else if c == "to_long" {
                let x = try fx.leaves(c, ["x"])[0]
                let y = try toDType(x, .int64)
                try fx.checkTyped(c, [y], inputs: [:])
            } else if op == "isel" {
                let xi = try fx.leaves(c, ["x", "i"])
                try fx.checkTyped(
                    c, [try indexSelect(xi[0], dim: fx.int(c, "dim")!, index: xi[1])], inputs: ["x": xi[0]])
            } else {
                XCTFail("unhandled fixture case \(c)")
                continue
            }
            checked += 1
        }
        XCTAssertEqual(checked, 73)
    }

    func testLargeSumsAndBroadcastsAreExactAndThreadIndependent() throws {
        // Large enough for the parallel split (and the strided path of expand).
        var r = SplitMix(seed: 3)
        let n = 100_003
        let vals = (0..<n).map { _ in Int64(bitPattern: r.next()) >> 20 }
        let x = try Tensor(int64: vals, shape: [n])
        let want = vals.reduce(0, &+)
        XCTAssertEqual(try sum(x).toInt64Array(), [want])
        let m = try reshape(x, [1, n])
        let col = try Tensor(int64: [1, -2, 3], shape: [3, 1])
        let prod = try mul(m, col)  // (3, n)
        XCTAssertEqual(prod.dtype, .int64)
        XCTAssertEqual(try sum(prod, dims: [1]).toInt64Array(), [want, 0 &- 2 &* want, 3 &* want])
        let e = try expand(col, to: [3, 70_000])
        XCTAssertEqual(e.dtype, .int64)
        XCTAssertEqual(try sum(e, dims: [1]).toInt64Array(), [70_000, -140_000, 210_000])
        let saved = Parallel.threads
        try Parallel.setThreads(1)
        defer { try? Parallel.setThreads(saved) }
        XCTAssertEqual(try sum(x).toInt64Array(), [want])
        XCTAssertEqual(try mul(m, col).toInt64Array(), prod.toInt64Array())
    }

    func testGradients() throws {
        var r = SplitMix(seed: 4)
        let x = r.tensor([3, 4])
        let n = try Tensor(int64: [2, -1, 3, 0], shape: [4])
        // Mixed int64/float32 ops differentiate with respect to the float operand.
        try gradCheck([x]) { try mul($0[0], n) }
        try gradCheck([x]) { try sub(n, $0[0]) }
        try gradCheck([r.tensor([3, 4], 0.5, 1.5)]) { try div(try Tensor(int64: [1, 2, 3, 4], shape: [4]), $0[0]) }
        // index_select scatters (and accumulates repeated indices) back.
        let idx = try Tensor(int64: [3, 0, 3, 3], shape: [4])
        try gradCheck([x]) { try indexSelect($0[0], dim: 1, index: idx) }
        try gradCheck([r.tensor([2, 3, 5])]) {
            try indexSelect($0[0], dim: -2, index: try Tensor(int64: [2, 2, 0], shape: [3]))
        }
        // Conversions: same dtype keeps the graph; to int64 cuts it.
        let leaf = try x.clone().requiresGrad()
        XCTAssertTrue(try toDType(leaf, .float32) === leaf)
        XCTAssertFalse(try toDType(leaf, .int64).requiresGrad)
        let back = try toDType(try toDType(leaf, .int64), .float32)
        XCTAssertFalse(back.requiresGrad)
        // Through index_select the grad of a repeated row is the sum of its uses.
        let w = try Tensor([1, 2, 3, 4, 5, 6], shape: [3, 2]).requiresGrad()
        try sum(try indexSelect(w, dim: 0, index: try Tensor(int64: [2, 2, 0], shape: [3]))).backward()
        XCTAssertEqual(w.grad?.toArray(), [1, 1, 0, 0, 2, 2])
        // No graph node is recorded for int64 arithmetic.
        let ints = try Tensor(int64: [1, 2], shape: [2])
        XCTAssertTrue(try add(ints, ints).isLeaf)
        XCTAssertTrue(try sum(ints).isLeaf)
    }

    func testErrors() throws {
        let ints = try Tensor(int64: [1, 2, 3], shape: [3])
        let ints4 = try Tensor(int64: [1, 2, 3, 4], shape: [4])
        let x = try Tensor.zeros([2, 3])
        for op in [add, sub, mul, div] as [(Tensor, Tensor) throws -> Tensor] {
            assertThrowsDFM(try op(ints, ints4), "cannot be broadcast", kind: .shapeMismatch)
            assertThrowsDFM(try op(ints4, x), "cannot be broadcast", kind: .shapeMismatch)
        }
        assertThrowsDFM(try sum(ints, dims: [1]), "dimension out of range", kind: .indexError)
        assertThrowsDFM(
            try expand(try Tensor(int64: [1, 2], shape: [2]), to: [3]), "expanded size", kind: .shapeMismatch)
        assertThrowsDFM(try mean(ints), "float32", kind: .typeError)
        assertThrowsDFM(
            try pow(ints, -1), "negative integer powers are not allowed (exponent -1)", kind: .invalidArgument)
        assertThrowsDFM(try clamp(ints), "at least one of 'min' or 'max'", kind: .invalidArgument)
        assertThrowsDFM(try requireGradOnInt(), "only floating point", kind: .typeError)

        assertThrowsDFM(
            try toDType(try Tensor([1, .nan], shape: [2]), .int64), "cannot convert nan (element 1) to int64",
            kind: .invalidArgument)
        assertThrowsDFM(try toDType(try Tensor([-.infinity], shape: [1]), .int64), "-inf", kind: .invalidArgument)
        assertThrowsDFM(
            try toDType(try Tensor([1e19], shape: [1]), .int64), "outside the int64 range", kind: .invalidArgument)
        assertThrowsDFM(try toDType(try Tensor([0x1p63], shape: [1]), .int64), "outside the int64 range")
        XCTAssertEqual(try toDType(try Tensor([-0x1p63], shape: [1]), .int64).toInt64Array(), [Int64.min])
        // Large tensors convert in parallel blocks; the error still names the first bad element.
        var big = (0..<20_000).map { Float($0) - 0.5 }
        XCTAssertEqual(
            try toDType(try Tensor(big, shape: [20_000]), .int64).toInt64Array(),
            (0..<20_000).map { $0 == 0 ? 0 : Int64($0 - 1) })
        big[19_000] = .nan
        big[17_000] = .infinity
        assertThrowsDFM(try toDType(try Tensor(big, shape: [20_000]), .int64), "cannot convert inf (element 17000)")

        let idx = try Tensor(int64: [0, 2], shape: [2])
        assertThrowsDFM(
            try indexSelect(x, dim: 1, index: try Tensor(int64: [0, -1], shape: [2])),
            "index -1 is out of range for dimension 1 with size 3", kind: .indexError)
        assertThrowsDFM(
            try indexSelect(x, dim: 0, index: idx), "index 2 is out of range for dimension 0 with size 2",
            kind: .indexError)
        assertThrowsDFM(try indexSelect(x, dim: 2, index: idx), "dimension out of range", kind: .indexError)
        assertThrowsDFM(try indexSelect(x, dim: -3, index: idx), "dimension out of range", kind: .indexError)
        assertThrowsDFM(try indexSelect(x, dim: 0, index: try Tensor([0], shape: [1])), "int64 index", kind: .typeError)
        assertThrowsDFM(
            try indexSelect(x, dim: 0, index: try Tensor(int64: [0], shape: [1, 1])), "vector", kind: .indexError)
        assertThrowsDFM(try indexSelect(Tensor.scalar(1), dim: 0, index: idx), "only 1 value", kind: .indexError)
        assertThrowsDFM(
            try indexSelect(Tensor.scalar(1), dim: 0, index: try Tensor(int64: [1], shape: [1])),
            "index 1 is out of range", kind: .indexError)
    }

    private func requireGradOnInt() throws -> Tensor { try Tensor(int64: [1], shape: [1]).requiresGrad() }
}
