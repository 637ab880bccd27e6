import Foundation
import XCTest

@testable import DFM

/// The same three training steps through Swift, the C ABI (bindings/c/tests/parity_train.c,
/// compiled here against the libdfm.so built with this test) and the Python binding
/// (tools/parity/three_steps.py) must give bitwise-identical losses, for DFM-ResNet18 and DFM-ViT.
final class CrossLanguageParityTests: XCTestCase {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    var products: URL {
        let b = Bundle(for: CrossLanguageParityTests.self).bundleURL
        return FileManager.default.fileExists(atPath: b.appendingPathComponent("libdfm.so").path)
            ? b : b.deletingLastPathComponent()
    }

    /// The Swift side, written exactly as the comment in parity_train.c.
    func swiftBits() throws -> [UInt32] {
        let threads = Parallel.threads
        defer { try? Parallel.setThreads(threads) }
        manualSeed(0)
        try Parallel.setThreads(1)
        let m = try DFMResNet.resnet18(fbFilters: 2, nClasses: 10, shape: [28, 28], inChannels: 1)
        let x = try randn([8, 1, 28, 28])
        let y = try randint(low: 0, high: 10, shape: [8])
        let opt = try Adam(m.parameters(), lr: 1e-3)
        var bits: [UInt32] = []
        for _ in 0..<3 {
            opt.zeroGrad()
            let loss = try crossEntropy(try m.forward(x, T: 3, atol: 1e-2), y)
            try loss.backward()
            try opt.step()
            bits.append(try loss.item().bitPattern)
        }
        // The DFM-ViT of issue #15, reseeded.
        manualSeed(0)
        let v = try DFMViT(
            imageSize: [28, 28], patchSize: 4, inChannels: 1, dim: 64, depth: 2, heads: 4, mlpDim: 128,
            fbFilters: 8, nClasses: 10)
        let vx = try randn([8, 1, 28, 28])
        let vy = try randint(low: 0, high: 10, shape: [8])
        let vopt = try Adam(v.parameters(), lr: 1e-3)
        for _ in 0..<3 {
            vopt.zeroGrad()
            let loss = try crossEntropy(try v.forward(vx, T: 3, atol: 1e-2), vy)
            try loss.backward()
            try vopt.step()
            bits.append(try loss.item().bitPattern)
        }
        return bits
    }

    func run(_ exe: String, _ args: [String], env: [String: String] = [:]) throws -> String {
        let r = try runProcess(URL(fileURLWithPath: exe), args, env: env)
        guard r.status == 0 else { throw DFMError(.internal, "\(exe) \(args.joined(separator: " ")) failed: \(r.err)") }
        return r.out
    }

    /// "step N loss V bits B" lines → [B].
    func parseBits(_ s: String) -> [UInt32] {
        s.split(separator: "\n").compactMap { line in line.split(separator: " ").last.flatMap { UInt32($0) } }
    }

    func testSwiftCAndPythonLossesAreBitwiseIdentical() throws {
        let lib = products.appendingPathComponent("libdfm.so").path
        guard FileManager.default.fileExists(atPath: lib) else {
            throw DFMError(.notFound, "libdfm.so not built at \(lib); run `swift build --build-tests` first")
        }
        let swift = try swiftBits()
        XCTAssertEqual(swift.count, 6)  // ResNet18, then ViT

        // The library's soname is libdfm.so.<ABI major> (DFM_ABI_VERSION in dfm.h): give the loader that name.
        let header = try String(contentsOf: root.appendingPathComponent("Include/dfm.h"), encoding: .utf8)
        let dfmABIVersion =
            header.split(separator: "\n").first { $0.hasPrefix("#define DFM_ABI_VERSION ") }?
            .split(separator: " ").last ?? "?"
        let dir = NSTemporaryDirectory() + "dfm-parity-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createSymbolicLink(
            atPath: dir + "/libdfm.so.\(dfmABIVersion)", withDestinationPath: lib)
        try FileManager.default.createSymbolicLink(atPath: dir + "/libdfm.so", withDestinationPath: lib)
        let exe = dir + "/parity_train"
        _ = try run(
            "/usr/bin/cc",
            [
                "-std=c99", "-O2", "-I", root.appendingPathComponent("Include").path,
                root.appendingPathComponent("bindings/c/tests/parity_train.c").path,
                "-L", dir, "-ldfm", "-Wl,-rpath," + dir, "-o", exe,
            ])
        let c = parseBits(try run(exe, []))
        XCTAssertEqual(c, swift, "C and Swift losses differ")

        let py = parseBits(
            try run(
                "/usr/bin/python3", [root.appendingPathComponent("tools/parity/three_steps.py").path],
                env: ["DFM_LIBRARY": lib, "PYTHONPATH": root.appendingPathComponent("bindings/python").path]))
        XCTAssertEqual(py, swift, "Python and Swift losses differ")
    }
}
