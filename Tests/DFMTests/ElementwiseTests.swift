import XCTest

@testable import DFM

final class ElementwiseTests: XCTestCase {
    func testParityWithPyTorch() throws {
        let fx = try Fixture("elementwise")
        let binary: [String: (Tensor, Tensor) throws -> Tensor] = [
            "add": add, "sub": sub, "mul": mul, "div": div, "powt": pow,
        ]
        let unary: [String: (Tensor) throws -> Tensor] = [
            "neg": neg, "exp": exp, "log": log, "abs": abs, "sqrt": sqrt, "relu": relu, "gelu": gelu,
            "sigmoid": sigmoid, "tanh": tanh,
        ]
        var checked = 0
        for c in fx.cases {
            let p = fx.params(c)
            if let op = binary.first(where: { c.hasPrefix($0.key) && c.dropFirst($0.key.count).allSatisfy(\.isNumber) }
            )?.value {
                let ab = try fx.leaves(c, ["a", "b"])
                try fx.check(
                    c, outputs: [try op(ab[0], ab[1])], inputs: ["a": ab[0], "b": ab[1]], rtol: 1e-5, atol: 1e-6)
            } else if let op = unary[c] {
                let x = try fx.leaves(c, ["x"])[0]
                try fx.check(c, outputs: [try op(x)], inputs: ["x": x], rtol: 1e-5, atol: 1e-6)
            } else {
                let x = try fx.leaves(c, ["x"])[0]
                let s = fx.float(c, "s") ?? 0
                let y: Tensor
                switch c {
                case "add_scalar": y = try add(x, s)
                case "mul_scalar": y = try mul(x, s)
                case "div_scalar": y = try div(x, s)
                case "rsub_scalar": y = try rsub(s, x)
                case "rdiv_scalar": y = try rdiv(s, x)
                case "pow", "pow_frac": y = try pow(x, fx.float(c, "p")!)
                case "clamp", "clamp_min": y = try clamp(x, min: fx.float(c, "min"), max: fx.float(c, "max"))
                default:
                    XCTFail("unhandled fixture case \(c) \(p)")
                    continue
                }
                try fx.check(c, outputs: [y], inputs: ["x": x], rtol: 1e-5, atol: 1e-6)
            }
            checked += 1
        }
        XCTAssertEqual(checked, 38)
    }

    func testFiniteDifferences() throws {
        var r = SplitMix(seed: 1)
        let a = r.tensor([2, 3, 4])
        let b = r.tensor([3, 1])
        let pos = r.tensor([2, 3, 4], 0.5, 2)
        let bpos = r.tensor([3, 1], 0.5, 2)
        try gradCheck([a, b]) { try add($0[0], $0[1]) }
        try gradCheck([a, b]) { try sub($0[0], $0[1]) }
        try gradCheck([a, b]) { try mul($0[0], $0[1]) }
        try gradCheck([a, bpos]) { try div($0[0], $0[1]) }
        try gradCheck([pos, b]) { try pow($0[0], $0[1]) }
        try gradCheck([a]) { try add($0[0], 2) }
        try gradCheck([a]) { try mul($0[0], 3) }
        try gradCheck([a]) { try div($0[0], 3) }
        try gradCheck([a]) { try rsub(1, $0[0]) }
        try gradCheck([pos]) { try rdiv(1, $0[0]) }
        try gradCheck([a]) { try neg($0[0]) }
        try gradCheck([a]) { try exp($0[0]) }
        try gradCheck([pos]) { try log($0[0]) }
        try gradCheck([pos]) { try sqrt($0[0]) }
        try gradCheck([pos]) { try pow($0[0], 2.5) }
        // Kinks (abs, relu, clamp) are checked away from the kink.
        let away = r.tensor([2, 3, 4], 0.2, 1)
        try gradCheck([try mul(away, try Tensor([1, -1], shape: [2, 1, 1]))]) { try abs($0[0]) }
        try gradCheck([try mul(away, try Tensor([1, -1], shape: [2, 1, 1]))]) { try relu($0[0]) }
        try gradCheck([try mul(away, try Tensor([1, -1], shape: [2, 1, 1]))]) { try clamp($0[0], min: -0.1, max: 0.1) }
        try gradCheck([a]) { try gelu($0[0]) }
        try gradCheck([a]) { try sigmoid($0[0]) }
        try gradCheck([a]) { try tanh($0[0]) }
        try gradCheck([b]) { try expand($0[0], to: [2, 3, 4]) }
    }

    func testErrors() throws {
        let a = try Tensor.zeros([2, 3])
        let b = try Tensor.zeros([4])
        let ints = try Tensor(int64: [1, 2], shape: [2])
        for op in [add, sub, mul, div, pow] as [(Tensor, Tensor) throws -> Tensor] {
            assertThrowsDFM(try op(a, b), "cannot be broadcast", kind: .shapeMismatch)
        }
        // neg/abs/add/sum of int64 are int64 ops (IntOpsTests); the float-only ops reject int64.
        for op in [exp, log, sqrt, relu, gelu, sigmoid, tanh] as [(Tensor) throws -> Tensor] {
            assertThrowsDFM(try op(ints), "float32", kind: .typeError)
        }
        XCTAssertEqual(try add(ints, 1).dtype, .int64)  // int64 arithmetic: IntOpsTests
        assertThrowsDFM(try clamp(a), "min")
        assertThrowsDFM(try expand(b, to: [2, 3]), "expanded size")
        assertThrowsDFM(try Tensor([1, 2, 3], shape: [2, 2]), "holds 4 elements")
        assertThrowsDFM(try Tensor.zeros([-1, 3]), "negative dimension")
        assertThrowsDFM(try Tensor.zeros([1 << 40, 1 << 40]), "too large", kind: .outOfMemory)
    }
}

final class ReduceTests: XCTestCase {
    func testParityWithPyTorch() throws {
        let fx = try Fixture("reduce")
        for c in fx.cases {
            let x = try fx.leaves(c, ["x"])[0]
            let dims = fx.ints(c, "dims") ?? []
            let keep = fx.bool(c, "keepdim") ?? false
            let y: Tensor
            if c.hasPrefix("sum") {
                y = try sum(x, dims: dims, keepdim: keep)
            } else if c.hasPrefix("mean") {
                y = try mean(x, dims: dims, keepdim: keep)
            } else {
                y = try expand(x, to: fx.ints(c, "shape")!)
            }
            try fx.check(c, outputs: [y], inputs: ["x": x], rtol: 1e-5, atol: 1e-5)
        }
    }

    func testFiniteDifferences() throws {
        var r = SplitMix(seed: 2)
        let x = r.tensor([3, 4, 5])
        try gradCheck([x]) { try reshape(try sum($0[0]), [1]) }
        try gradCheck([x]) { try sum($0[0], dims: [0, 2], keepdim: true) }
        try gradCheck([x]) { try mean($0[0], dims: [1]) }
        try gradCheck([x]) { try reshape(try mean($0[0]), [1]) }
    }

    func testErrors() throws {
        let x = try Tensor.zeros([2, 3])
        assertThrowsDFM(try sum(x, dims: [2]), "dimension out of range", kind: .indexError)
        assertThrowsDFM(try mean(x, dims: [-3]), "dimension out of range")
        assertThrowsDFM(try sum(x, dims: [1, -1]), "multiple times")
        assertThrowsDFM(try mean(try Tensor(int64: [1], shape: [1])), "float32")
    }
}

final class AutogradTests: XCTestCase {
    func testAccumulationRetainAndNoGrad() throws {
        let x = try Tensor([1, 2, 3], shape: [3]).requiresGrad()
        let y = try sum(try mul(x, x))
        try y.backward(retainGraph: true)
        XCTAssertEqual(x.grad?.toArray(), [2, 4, 6])
        try y.backward()
        XCTAssertEqual(x.grad?.toArray(), [4, 8, 12])
        assertThrowsDFM(try y.backward(), "second time", kind: .stateError)
        let z = try GradMode.noGrad { try mul(x, 2) }
        XCTAssertFalse(z.requiresGrad)
        assertThrowsDFM(try z.backward(), "does not require grad")
        let v = try mul(x, 2)
        assertThrowsDFM(try v.backward(), "scalar outputs")
        try v.backward(try Tensor([1, 0, 1], shape: [3]))
        XCTAssertEqual(x.grad?.toArray(), [6, 8, 14])
        XCTAssertFalse(x.detach().requiresGrad)
        assertThrowsDFM(try v.requiresGrad(false), "leaf")
    }

    func testNoGradIsThreadLocal() throws {
        let x = try Tensor([1], shape: [1]).requiresGrad()
        final class Box: @unchecked Sendable { var value = false }
        try GradMode.noGrad {
            let other = Box()
            let t = Thread { other.value = GradMode.isEnabled }
            t.start()
            while !t.isFinished { usleep(1000) }
            XCTAssertTrue(other.value)
            XCTAssertFalse(try mul(x, 2).requiresGrad)
        }
        XCTAssertTrue(GradMode.isEnabled)
    }

    func testDeepGraphIsIterative() throws {
        // 200k chained ops would overflow the stack of a recursive walk.
        let x = try Tensor([1], shape: [1]).requiresGrad()
        var y = x
        for _ in 0..<200_000 { y = try add(y, 1e-6) }
        try sum(y).backward()
        XCTAssertEqual(x.grad?.toArray(), [1])
    }
}

final class GraphMemoryTests: XCTestCase {
    /// A graph dropped without backward must free itself, including ops whose rule uses their output.
    func testDroppedGraphIsFreed() throws {
        weak var weakOut: Tensor?
        weak var weakMid: Tensor?
        let x = try Tensor([1, 2, 3], shape: [3]).requiresGrad()
        do {
            let mid = try exp(x)
            let out = try sigmoid(try relu(try tanh(mid)))
            weakOut = out
            weakMid = mid
            XCTAssertNotNil(weakOut)
        }
        XCTAssertNil(weakOut, "output of a dropped graph is still alive")
        XCTAssertNil(weakMid, "intermediate of a dropped graph is still alive")
    }
}
