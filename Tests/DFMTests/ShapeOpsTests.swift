import XCTest

@testable import DFM

final class ShapeOpsTests: XCTestCase {
    /// Every case in shape.safetensors (tools/fixtures/ops_shape.py), dispatched on its name
    /// without the trailing case number.
    func testParityWithPyTorch() throws {
        let fx = try Fixture("shape")
        let comparisons: [String: (Tensor, Tensor) throws -> Tensor] = [
            "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge,
        ]
        let scalarComparisons: [String: (Tensor, Double) throws -> Tensor] = [
            "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge,
        ]
        var checked = 0
        for c in fx.cases {
            let kind = String(c.reversed().drop(while: \.isNumber).reversed())
            let dim = fx.int(c, "dim")
            let keep = fx.bool(c, "keepdim") ?? false
            if kind == "cat" || kind == "stack" {
                let xs = try fx.leaves(c, (0..<fx.int(c, "n")!).map { "x\($0)" })
                let y = kind == "cat" ? try cat(xs, dim: dim!) : try stack(xs, dim: dim!)
                try fx.check(
                    c, outputs: [y],
                    inputs: Dictionary(uniqueKeysWithValues: xs.enumerated().map { ("x\($0.offset)", $0.element) }))
            } else if kind.hasPrefix("cmp_") {
                let ab = try fx.leaves(c, ["a", "b"])
                let y = try comparisons[String(kind.dropFirst(4))]!(ab[0], ab[1])
                XCTAssertEqual(y.dtype, .bool, c)
                try fx.check(c, outputs: [y], inputs: [:], rtol: 0, atol: 0)
            } else if kind.hasPrefix("cmps_") {
                let a = try fx.leaves(c, ["a"])[0]
                try fx.check(
                    c, outputs: [try scalarComparisons[String(kind.dropFirst(5))]!(a, fx.float(c, "s")!)], inputs: [:],
                    rtol: 0, atol: 0)
            } else if kind == "where" {
                let t = try fx.leaves(c, ["cond", "a", "b"])
                try fx.check(c, outputs: [try whereMask(t[0].detach(), t[1], t[2])], inputs: ["a": t[1], "b": t[2]])
            } else {
                let x = try fx.leaves(c, ["x"])[0]
                let outs: [Tensor]
                switch kind {
                case "permute": outs = [try permute(x, fx.ints(c, "dims")!)]
                case "transpose": outs = [try transpose(x, fx.int(c, "d0")!, fx.int(c, "d1")!)]
                case "narrow":
                    outs = [try narrow(x, dim: dim!, start: fx.int(c, "start")!, length: fx.int(c, "length")!)]
                case "slice":
                    outs = [
                        try slice(
                            x, dim: dim!, start: fx.int(c, "start"), end: fx.int(c, "end"), step: fx.int(c, "step")!)
                    ]
                case "select": outs = [try select(x, dim: dim!, index: fx.int(c, "index")!)]
                case "squeeze": outs = [try squeeze(x, dim: dim)]
                case "unsqueeze": outs = [try unsqueeze(x, dim!)]
                case "flatten": outs = [try flatten(x, startDim: fx.int(c, "start")!, endDim: fx.int(c, "end")!)]
                case "maxall", "maxallnan": outs = [try max(x)]
                case "minall": outs = [try min(x)]
                case "maxdim", "maxdimnan":
                    let r = try max(x, dim: dim!, keepdim: keep)
                    XCTAssertEqual(r.indices.dtype, .int64)
                    outs = [r.values, r.indices]
                case "mindim", "mindimnan":
                    let r = try min(x, dim: dim!, keepdim: keep)
                    outs = [r.values, r.indices]
                case "argmax", "argmaxall", "argmaxnan": outs = [try argmax(x, dim: dim, keepdim: keep)]
                case "argmin", "argminall": outs = [try argmin(x, dim: dim, keepdim: keep)]
                default:
                    XCTFail("unhandled fixture case \(c)")
                    continue
                }
                try fx.check(c, outputs: outs, inputs: ["x": x])
            }
            checked += 1
        }
        XCTAssertEqual(checked, 106)
    }

    func testFiniteDifferences() throws {
        var r = SplitMix(seed: 3)
        let x = r.tensor([2, 3, 4])
        let y = r.tensor([2, 5, 4])
        let z = r.tensor([2, 3, 4])
        try gradCheck([x]) { try permute($0[0], [2, 0, 1]) }
        try gradCheck([x]) { try transpose($0[0], 0, -1) }
        try gradCheck([x]) { try narrow($0[0], dim: 1, start: 1, length: 2) }
        try gradCheck([x]) { try narrow($0[0], dim: 0, start: 1, length: 1) }  // the view path
        try gradCheck([x]) { try slice($0[0], dim: 2, start: -3, end: nil, step: 2) }
        try gradCheck([x]) { try select($0[0], dim: 1, index: -1) }
        try gradCheck([x, y]) { try cat([$0[0], $0[1]], dim: 1) }
        try gradCheck([x, z]) { try stack([$0[0], $0[1]], dim: 2) }
        try gradCheck([r.tensor([1, 3, 1])]) { try squeeze($0[0]) }
        try gradCheck([x]) { try unsqueeze($0[0], -2) }
        try gradCheck([x]) { try flatten($0[0], startDim: 1) }
        // max/min are checked on distinct values spaced well beyond the finite-difference step.
        let distinct = try spread([3, 4, 2], seed: 5)
        try gradCheck([distinct]) { try reshape(try max($0[0]), [1]) }
        try gradCheck([distinct]) { try reshape(try min($0[0]), [1]) }
        try gradCheck([distinct]) { try max($0[0], dim: 1).values }
        try gradCheck([distinct]) { try min($0[0], dim: -1, keepdim: true).values }
        let cond = try Tensor([1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0], shape: [3, 4])
        try gradCheck([r.tensor([3, 4]), r.tensor([4])]) { try whereMask(cond, $0[0], $0[1]) }
    }

    func testMaxTiesShareGradientAndDimGradientGoesToFirstIndex() throws {
        let x = try Tensor([1, 3, 3, 2, 3, 0], shape: [2, 3]).requiresGrad()
        try max(x).backward()
        XCTAssertEqual(x.grad?.toArray(), [0, 1.0 / 3, 1.0 / 3, 0, 1.0 / 3, 0])
        let y = try Tensor([1, 3, 3, 2, 3, 0], shape: [2, 3]).requiresGrad()
        let r = try max(y, dim: 1)
        XCTAssertEqual(r.indices.toInt64Array(), [1, 1])
        try sum(r.values).backward()
        XCTAssertEqual(y.grad?.toArray(), [0, 1, 0, 0, 1, 0])
        XCTAssertEqual(try argmin(y).item(), 5)
        XCTAssertEqual(try argmax(y, dim: 0, keepdim: true).shape, [1, 3])
    }

    func testInt64Support() throws {
        let v: [Int64] = [5, -2, 7, 7, 1, 9_007_199_254_740_993, 0, 3]
        let t = try Tensor(int64: v, shape: [2, 4])
        XCTAssertEqual(try permute(t, [1, 0]).toInt64Array(), [5, 1, -2, 9_007_199_254_740_993, 7, 0, 7, 3])
        XCTAssertEqual(try narrow(t, dim: 1, start: 1, length: 2).toInt64Array(), [-2, 7, 9_007_199_254_740_993, 0])
        XCTAssertEqual(try select(t, dim: 0, index: -1).toInt64Array(), [1, 9_007_199_254_740_993, 0, 3])
        XCTAssertEqual(try slice(t, dim: 1, start: nil, end: nil, step: 3).toInt64Array(), [5, 7, 1, 3])
        let c = try cat([t, t], dim: 1)
        XCTAssertEqual(c.dtype, .int64)
        XCTAssertEqual(c.shape, [2, 8])
        XCTAssertEqual(try stack([t, t], dim: 0).toInt64Array(), v + v)
        XCTAssertEqual(try flatten(try unsqueeze(t, 0)).toInt64Array(), v)
        let m = try max(t, dim: 1)
        XCTAssertEqual(m.values.toInt64Array(), [7, 9_007_199_254_740_993])
        XCTAssertEqual(m.indices.toInt64Array(), [2, 1])
        XCTAssertEqual(try max(t).toInt64Array(), [9_007_199_254_740_993])
        XCTAssertEqual(try argmin(t).toInt64Array(), [1])
        // int64 vs int64 compares exactly (these differ only beyond float32 precision).
        let big = try Tensor(int64: [9_007_199_254_740_992], shape: [1])
        XCTAssertEqual(try gt(t, big).toArray(), [0, 0, 0, 0, 0, 1, 0, 0])
        XCTAssertEqual(try eq(t, 7).toArray(), [0, 0, 1, 1, 0, 0, 0, 0])
        let labels = try Tensor(int64: [1, 0], shape: [2])
        XCTAssertEqual(
            try whereMask(labels, try Tensor([1, 2], shape: [2]), try Tensor([3, 4], shape: [2])).toArray(), [1, 4])
    }

    /// Shapes large enough for the tiled transpose and multi-threaded paths, against index arithmetic.
    func testLargeCopiesMatchReference() throws {
        var r = SplitMix(seed: 9)
        let shape = [8, 40, 50]
        let x = r.tensor(shape)
        let xs = x.toArray()
        let p = try permute(x, [2, 0, 1]).toArray()
        var k = 0
        for c in 0..<50 {
            for a in 0..<8 {
                for b in 0..<40 {
                    if p[k] != xs[(a * 40 + b) * 50 + c] {
                        XCTFail("permute mismatch at \(k)")
                        return
                    }
                    k += 1
                }
            }
        }
        let t = try transpose(x, 1, 2).toArray()
        k = 0
        for a in 0..<8 {
            for c in 0..<50 {
                for b in 0..<40 {
                    if t[k] != xs[(a * 40 + b) * 50 + c] {
                        XCTFail("transpose mismatch at \(k)")
                        return
                    }
                    k += 1
                }
            }
        }
        let y = r.tensor([8, 13, 50])
        let cc = try cat([x, y], dim: 1)
        XCTAssertEqual(try narrow(cc, dim: 1, start: 40, length: 13).toArray(), y.toArray())
        XCTAssertEqual(try narrow(cc, dim: 1, start: 0, length: 40).toArray(), xs)
        let s = try slice(x, dim: 2, start: 1, end: nil, step: 7).toArray()
        k = 0
        for a in 0..<8 {
            for b in 0..<40 {
                for c in stride(from: 1, to: 50, by: 7) {
                    if s[k] != xs[(a * 40 + b) * 50 + c] {
                        XCTFail("slice mismatch at \(k)")
                        return
                    }
                    k += 1
                }
            }
        }
        let m = try max(x, dim: 0)
        let mv = m.values.toArray()
        let mi = m.indices.toInt64Array()
        for q in 0..<(40 * 50) {
            let col = (0..<8).map { xs[$0 * 2000 + q] }
            XCTAssertEqual(mv[q], col.max()!)
            XCTAssertEqual(Int(mi[q]), col.firstIndex(of: col.max()!)!)
        }
        XCTAssertEqual(Int(try argmax(x).toInt64Array()[0]), xs.firstIndex(of: xs.max()!)!)
    }

    func testNarrowAlongLeadingDimIsAView() throws {
        let x = try Tensor([0, 1, 2, 3, 4, 5], shape: [3, 2])
        let v = try narrow(x, dim: 0, start: 1, length: 2)
        v.fill_(9)
        XCTAssertEqual(x.toArray(), [0, 1, 9, 9, 9, 9])
    }

    func testErrors() throws {
        let x = try Tensor.zeros([2, 3])
        let s = Tensor.scalar(1)
        assertThrowsDFM(try permute(x, [0]), "input.dim() = 2 is not equal to len(dims) = 1", kind: .shapeMismatch)
        assertThrowsDFM(try permute(x, [0, 0]), "duplicate dims", kind: .invalidArgument)
        assertThrowsDFM(try permute(x, [0, 2]), "dimension out of range", kind: .indexError)
        assertThrowsDFM(try transpose(x, 0, 2), "but got 2", kind: .indexError)
        assertThrowsDFM(
            try narrow(x, dim: 1, start: 2, length: 2), "start (2) + length (2) exceeds dimension size (3)",
            kind: .indexError)
        assertThrowsDFM(try narrow(x, dim: 1, start: 4, length: 0), "start out of range", kind: .indexError)
        assertThrowsDFM(try narrow(x, dim: 1, start: 0, length: -1), "non-negative")
        assertThrowsDFM(try narrow(x, dim: 2, start: 0, length: 1), "dimension out of range")
        assertThrowsDFM(try narrow(s, dim: 0, start: 0, length: 1), "0-dim")
        assertThrowsDFM(try slice(x, dim: 0, start: nil, end: nil, step: 0), "step must be positive")
        assertThrowsDFM(try slice(x, dim: -3, start: 0, end: 1), "dimension out of range")
        assertThrowsDFM(
            try select(x, dim: 1, index: 3), "index 3 out of range for tensor of size [2, 3] at dimension 1",
            kind: .indexError)
        assertThrowsDFM(try select(x, dim: 1, index: -4), "index -4 out of range")
        assertThrowsDFM(try select(s, dim: 0, index: 0), "0-dim")
        assertThrowsDFM(try cat([]), "non-empty list")
        assertThrowsDFM(
            try cat([x, try Tensor.zeros([3, 3])], dim: 1), "Expected size 2 but got size 3 for tensor number 1",
            kind: .shapeMismatch)
        assertThrowsDFM(try cat([x, try Tensor.zeros([3])]), "same number of dimensions: got 2 and 1")
        assertThrowsDFM(try cat([x, try Tensor.zeros([2, 3], dtype: .int64)]), "dtype float32", kind: .typeError)
        assertThrowsDFM(try cat([s]), "zero-dimensional tensor (at position 0)")
        assertThrowsDFM(try cat([x, x], dim: 2), "dimension out of range")
        assertThrowsDFM(try stack([]), "non-empty TensorList")
        assertThrowsDFM(
            try stack([x, try Tensor.zeros([2, 4])]), "but got [2, 3] at entry 0 and [2, 4] at entry 1",
            kind: .shapeMismatch)
        assertThrowsDFM(try stack([x, x], dim: 3), "[-3, 2], but got 3")
        assertThrowsDFM(try squeeze(x, dim: 2), "dimension out of range")
        assertThrowsDFM(try unsqueeze(x, 3), "[-3, 2], but got 3")
        assertThrowsDFM(try flatten(x, startDim: 1, endDim: 0), "start_dim (1) cannot come after end_dim (0)")
        assertThrowsDFM(try flatten(x, startDim: 2), "dimension out of range")
        let empty = try Tensor.zeros([2, 0])
        assertThrowsDFM(try max(empty), "numel() == 0")
        assertThrowsDFM(try min(empty), "numel() == 0")
        assertThrowsDFM(try max(empty, dim: 1), "reduction dim 1 to have non-zero size", kind: .indexError)
        assertThrowsDFM(try min(x, dim: 2), "dimension out of range")
        assertThrowsDFM(try argmax(empty), "numel() == 0")
        assertThrowsDFM(try argmin(empty, dim: -1), "non-zero size")
        assertThrowsDFM(try argmax(x, dim: -3), "dimension out of range")
        for op in [eq, ne, lt, le, gt, ge] as [(Tensor, Tensor) throws -> Tensor] {
            assertThrowsDFM(try op(x, try Tensor.zeros([4])), "cannot be broadcast", kind: .shapeMismatch)
        }
        assertThrowsDFM(try whereMask(x, x, try Tensor.zeros([4])), "cannot be broadcast", kind: .shapeMismatch)
        assertThrowsDFM(try whereMask(x, try Tensor.zeros([2, 3], dtype: .int64), x), "float32", kind: .typeError)
    }

    func testEdgeSemantics() throws {
        let x = try Tensor((0..<6).map(Float.init), shape: [2, 3])
        XCTAssertEqual(try slice(x, dim: 1, start: 5, end: 2).shape, [2, 0])
        XCTAssertEqual(try slice(x, dim: 1, start: -100, end: 100).toArray(), x.toArray())
        XCTAssertEqual(try cat([try Tensor.zeros([0]), x, try Tensor.zeros([0])]).shape, [2, 3])  // legacy empty skip
        XCTAssertEqual(try squeeze(x, dim: 0).shape, [2, 3])
        XCTAssertEqual(try flatten(Tensor.scalar(2)).shape, [1])
        XCTAssertEqual(try unsqueeze(Tensor.scalar(2), -1).shape, [1])
        let r = try max(Tensor.scalar(4), dim: 0)
        XCTAssertEqual(r.values.shape, [])
        XCTAssertEqual(r.indices.toInt64Array(), [0])
        XCTAssertEqual(try max(try Tensor.zeros([0, 3]), dim: 1).values.shape, [0])
        let nan = try Tensor([1, .nan, 2], shape: [3])
        XCTAssertTrue(try min(nan).item().isNaN)
        XCTAssertEqual(try argmin(nan).toInt64Array(), [1])
        XCTAssertEqual(try ne(nan, nan).toArray(), [0, 1, 0])
        XCTAssertEqual(try eq(nan, nan).toArray(), [1, 0, 1])
        // Comparisons and int64 outputs never join the graph.
        let g = try Tensor([1, 2], shape: [2]).requiresGrad()
        XCTAssertFalse(try lt(g, 1.5).requiresGrad)
        XCTAssertFalse(try max(g, dim: 0).indices.requiresGrad)
    }

    /// Selects and narrows of one tensor add their gradients into one running sum (blocks of
    /// rows), on top of a gradient already there; a select along a later dim takes the copy path.
    func testSelectAndNarrowGradientsShareOneSum() throws {
        let x = try Tensor.zeros([3, 4]).requiresGrad()
        x.grad = try Tensor.ones([3, 4])
        let parts = [
            try mul(try select(x, dim: 0, index: 0), 1), try mul(try select(x, dim: 0, index: 1), 2),
            try mul(try select(x, dim: 0, index: 0), 3), try sum(try narrow(x, dim: 0, start: 1, length: 2), dims: [0]),
            try mul(try select(x, dim: 1, index: 3), 10),
        ]
        var total = try sum(parts[0])
        for p in parts.dropFirst() { total = try add(total, try sum(p)) }
        try total.backward()
        XCTAssertEqual(x.grad!.toArray(), [5, 5, 5, 15, 4, 4, 4, 14, 2, 2, 2, 12])
    }
}
