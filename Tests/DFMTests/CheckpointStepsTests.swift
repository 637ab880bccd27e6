import XCTest

@testable import DFM

/// checkpointSteps recomputes each feedback step during backward: bitwise the same loss, gradients,
/// running statistics and Q as keeping the activations.
final class CheckpointStepsTests: XCTestCase {
    /// Trains one step of `make()`'s model with and without checkpointing from identical state.
    func compare(
        _ make: () throws -> Module, input: [Int], classes: Int, labelsShape: [Int],
        forward: @escaping (Module, Tensor) throws -> Tensor, setCheckpoint: (Module) -> Void
    ) throws {
        manualSeed(11)
        let a = try make()
        let b = try make()
        _ = try b.loadStateDict(a.stateDict().reduce(into: [:]) { $0[$1.0] = try! $1.1.clone() })
        setCheckpoint(b)
        let x = try rand(input)
        let y = try randint(low: 0, high: Int64(classes), shape: labelsShape)
        var losses: [Float] = []
        for m in [a, b] {
            manualSeed(3)  // same initial state noise and dropout masks for both
            let loss = try crossEntropy(try forward(m, x), y)
            try loss.backward()
            losses.append(try loss.item())
        }
        XCTAssertEqual(losses[0], losses[1])
        let pa = a.namedParameters()
        let pb = b.namedParameters()
        XCTAssertEqual(pa.map(\.0), pb.map(\.0))
        var withGrad = 0
        for ((name, ta), (_, tb)) in zip(pa, pb) {
            XCTAssertEqual(ta.toArray(), tb.toArray(), "\(name) (after the forward's QR)")
            guard let ga = ta.grad else {
                XCTAssertNil(tb.grad, name)
                continue
            }
            guard let gb = tb.grad else {
                XCTFail("\(name): no gradient with checkpointing")
                continue
            }
            XCTAssertEqual(gb.toArray(), ga.toArray(), "\(name) gradient (bitwise)")
            withGrad += 1
        }
        XCTAssertGreaterThan(withGrad, 10)
        for ((name, ta), (_, tb)) in zip(a.namedBuffers(), b.namedBuffers()) {
            XCTAssertEqual(ta.toArray(), tb.toArray(), "buffer \(name) (updated once, not again by the re-run)")
        }
    }

    func testResNetGradientsUnchanged() throws {
        try compare(
            { try DFMResNet.resnet18(fbFilters: 2, nClasses: 3, shape: [16, 16], inChannels: 3) },
            input: [2, 3, 16, 16], classes: 3, labelsShape: [2],
            forward: { m, x in try (m as! DFMResNet).forward(x, T: 3, atol: 0) },
            setCheckpoint: { ($0 as! DFMResNet).checkpointSteps = true })
    }

    func testDeepLabWithDropoutGradientsUnchanged() throws {
        try compare(
            {
                try DeepLabV3Plus(
                    inFilters: 1, fbFilters: 2, classFilters: 8, classes: 3, shape: [32, 32], asppDropout: 0.5)
            },
            input: [2, 1, 32, 32], classes: 3, labelsShape: [2, 32, 32],
            forward: { m, x in try (m as! DeepLabV3Plus).forward(x, T: 2, atol: 0) },
            setCheckpoint: { ($0 as! DeepLabV3Plus).checkpointSteps = true })
    }

    /// The graph of a checkpointed T-step forward holds no per-step activations.
    func testCheckpointedGraphKeepsOnlyStepBoundaries() throws {
        manualSeed(1)
        let m = try DFMResNet.resnet18(fbFilters: 2, nClasses: 3, shape: [16, 16], inChannels: 3)
        m.checkpointSteps = true
        let out = try m.forward(try rand([2, 3, 16, 16]), T: 4, atol: 0)
        var nodes = 0
        var stack = [out]
        var seen = Set<ObjectIdentifier>()
        while let t = stack.popLast() {
            guard let n = t.node, seen.insert(ObjectIdentifier(t)).inserted else { continue }
            nodes += 1
            stack.append(contentsOf: n.inputs)
        }
        // Frontend (~4 nodes) + 4 checkpoint nodes + the head (~5 nodes), not ~4 × 60 per-step ops.
        XCTAssertLessThan(nodes, 30, "\(nodes) graph nodes")
    }
}
