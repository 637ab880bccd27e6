import XCTest

@testable import DFM

/// The bool dtype, logical ops, nonzero / masked_select and floor_divide / remainder against
/// PyTorch (tools/fixtures/ops_bool.py).
final class BoolOpsTests: XCTestCase {
    func testParityWithPyTorch() throws {
        let fx = try Fixture("bool_ops")
        let compare: [String: (Tensor, Tensor) throws -> Tensor] = [
            "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge,
        ]
        let compareScalar: [String: (Tensor, Double) throws -> Tensor] = [
            "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge,
        ]
        let logical: [String: (Tensor, Tensor) throws -> Tensor] = [
            "and": logicalAnd, "or": logicalOr, "xor": logicalXor,
        ]
        let binary: [String: (Tensor, Tensor) throws -> Tensor] = [
            "add": add, "mul": mul, "div": div, "floordiv": floorDivide, "remainder": remainder,
        ]
        let scalar: [String: (Tensor, Double) throws -> Tensor] = [
            "add": add, "mul": mul, "floordiv": floorDivide, "remainder": remainder,
        ]
        var checked = 0
        for c in fx.cases {
            let parts = c.split(separator: "_").map(String.init)
            let op = parts[0]
            if op == "cmp" {
                let ab = try fx.leaves(c, ["a", "b"])
                try fx.checkTyped(c, [try compare[parts[1]]!(ab[0], ab[1])])
            } else if op == "cmps" {
                try fx.checkTyped(c, [try compareScalar[parts[1]]!(fx.input(c, "a"), fx.float(c, "s")!)])
            } else if op == "logical" {
                if parts[1] == "not" {
                    try fx.checkTyped(c, [try logicalNot(fx.input(c, "a"))])
                } else {
                    try fx.checkTyped(c, [try logical[parts[1]]!(fx.input(c, "a"), fx.input(c, "b"))])
                }
            } else if op == "to" {
                let x = fx.tensors.first { $0.key.hasPrefix("\(c)/in/") }!.value
                let dt: DType = parts[1] == "bool" ? .bool : parts[1] == "float" ? .float32 : .int64
                try fx.checkTyped(c, [try toDType(x, dt)])
            } else if let s = fx.float(c, "s"), let f = scalar[op] {
                let a = try fx.leaves(c, ["a"])[0]
                try fx.checkTyped(c, [try f(a, s)], inputs: ["a": a])
            } else if let f = binary[op] {
                let ab = try fx.leaves(c, ["a", "b"])
                try fx.checkTyped(c, [try f(ab[0], ab[1])], inputs: ["a": ab[0], "b": ab[1]])
            } else if op == "sum" {
                try fx.checkTyped(
                    c,
                    [try sum(fx.input(c, "m"), dims: fx.ints(c, "dims") ?? [], keepdim: fx.bool(c, "keepdim") ?? false)]
                )
            } else if op == "max" || op == "min" {
                let m = fx.input(c, "m")
                if let d = fx.int(c, "dim") {
                    let r = op == "max" ? try max(m, dim: d) : try min(m, dim: d)
                    try fx.checkTyped(c, [r.values, r.indices])
                } else {
                    try fx.checkTyped(c, [op == "max" ? try max(m) : try min(m)])
                }
            } else if op == "permute" {
                try fx.checkTyped(c, [try permute(fx.input(c, "m"), fx.ints(c, "dims")!)])
            } else if op == "expand" {
                try fx.checkTyped(c, [try expand(fx.input(c, "m"), to: fx.ints(c, "shape")!)])
            } else if op == "cat" {
                try fx.checkTyped(c, [try cat([fx.input(c, "a"), fx.input(c, "b")], dim: fx.int(c, "dim")!)])
            } else if op == "where" {
                let t = try fx.leaves(c, ["c", "a", "b"])
                try fx.checkTyped(c, [try whereMask(t[0], t[1], t[2])], inputs: ["a": t[1], "b": t[2]])
            } else if op == "nonzero" {
                let x = fx.tensors.first { $0.key.hasPrefix("\(c)/in/") }!.value
                try fx.checkTyped(c, [try nonzero(x)])
            } else if op == "masked" {
                let x = try fx.leaves(c, ["x"])[0]
                try fx.checkTyped(c, [try maskedSelect(x, fx.input(c, "m"))], inputs: ["x": x])
            } else {
                XCTFail("unhandled fixture case \(c)")
                continue
            }
            checked += 1
        }
        XCTAssertEqual(checked, 111)
    }

    /// What torch refuses, dfm refuses with its message; nothing traps.
    func testRefusedLikeTorch() throws {
        let m = try Tensor(bool: [true, false, true], shape: [3])
        let n = try Tensor(int64: [4, 0, -3], shape: [3])
        func fails(_ what: String, _ needle: String, _ body: () throws -> Tensor) {
            XCTAssertThrowsError(try body(), what) { e in
                XCTAssertTrue("\(e)".contains(needle), "\(what): \(e)")
            }
        }
        fails("bool - bool", "Subtraction") { try sub(m, m) }
        fails("float - bool", "Subtraction") { try sub(try Tensor([1, 2, 3], shape: [3]), m) }
        fails("bool - 1", "Subtraction") { try sub(m, 1) }
        fails("1 - bool", "Subtraction") { try rsub(1, m) }
        fails("-bool", "logical_not") { try neg(m) }
        fails("argmax bool", "does not support bool") { try argmax(m) }
        fails("mean bool", "float32") { try mean(m) }
        fails("int // 0", "ZeroDivisionError") { try floorDivide(n, n) }
        fails("int % 0", "ZeroDivisionError") { try remainder(n, 0) }
        fails("0 // int tensor with a zero", "ZeroDivisionError") {
            try floorDivide(n, try Tensor(int64: [0], shape: [1]))
        }
        fails("masked_select float mask", "bool mask") { try maskedSelect(n, n) }
        fails("bool requires grad", "floating point") { try Tensor(bool: [true], shape: [1]).requiresGrad() }
        XCTAssertThrowsError(try Tensor.arange(0, 3, dtype: .bool))
    }

    /// Python's `%` is differentiable in both operands; `//` has no gradient (torch).
    func testRemainderGradientAndFloorDivideIsNotRecorded() throws {
        var r = SplitMix(seed: 5)
        let a = r.tensor([3, 4], -4, 4)
        let b = r.tensor([4], 2, 4)
        try gradCheck([a, b]) { try remainder($0[0], $0[1]) }
        let x = try r.tensor([3]).requiresGrad()
        XCTAssertFalse(try floorDivide(x, 2).requiresGrad)
    }

    /// bool tensors survive a safetensors round trip as BOOL entries.
    func testSafetensorsRoundTrip() throws {
        let m = try Tensor(bool: [true, false, false, true, true, false], shape: [2, 3])
        let data = try SafeTensors.encode(["mask": m])
        let path = NSTemporaryDirectory() + "dfm-bool-\(getpid()).safetensors"
        try data.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let back = try SafeTensors.read(path).tensors["mask"]!
        XCTAssertEqual(back.dtype, .bool)
        XCTAssertEqual(back.toBoolArray(), m.toBoolArray())
        XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("\"BOOL\""))
    }
}
