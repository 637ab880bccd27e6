import Foundation
import XCTest

@testable import DFM

/// Drives the `dfm-cli` executable (built next to the test bundle) end to end on a
/// tiny Fashion-MNIST budget: resume exactness, eval corruptions, and bad input.
final class CLITests: XCTestCase {
    /// The executable sits in the products folder with the test bundle (SwiftPM builds both);
    /// DFM_CLI overrides it, e.g. to try another build.
    static var cliURL: URL {
        if let p = ProcessInfo.processInfo.environment["DFM_CLI"] { return URL(fileURLWithPath: p) }
        let b = Bundle(for: CLITests.self).bundleURL
        let candidates = [
            b.appendingPathComponent("dfm-cli"), b.deletingLastPathComponent().appendingPathComponent("dfm-cli"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[1]
    }
    var cli: URL { Self.cliURL }
    lazy var dir: String = {
        let d = NSTemporaryDirectory() + "dfm-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()
    let budget = [
        "--train-subset", "96", "--test-subset", "48", "--batch-size", "32", "--fb-filters", "4", "--threads", "2",
    ]
    var tiny: [String] { budget + ["--T", "2"] }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Runs dfm-cli with `args` and asserts its exit code; returns stdout and stderr.
    @discardableResult
    static func runCLI(_ args: [String], expectCode: Int32 = 0, file: StaticString = #filePath, line: UInt = #line)
        throws -> (out: String, err: String)
    {
        guard FileManager.default.isExecutableFile(atPath: cliURL.path) else {
            throw DFMError(.notFound, "dfm-cli not built at \(cliURL.path); run `swift build --build-tests` first")
        }
        let r = try runProcess(cliURL, args)
        XCTAssertEqual(
            r.status, expectCode, "dfm-cli \(args.joined(separator: " "))\n\(r.out)\n\(r.err)", file: file, line: line)
        return (r.out, r.err)
    }

    @discardableResult
    func run(_ args: [String], expectCode: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> (
        out: String, err: String
    ) {
        try Self.runCLI(args, expectCode: expectCode, file: file, line: line)
    }

    func history(_ path: String) throws -> String {
        try XCTUnwrap(try SafeTensors.read(path).metadata["history"])
    }

    /// Two epochs in one go equal one epoch, stop, resume for the second: identical losses and weights.
    /// (A constant rate: the default cosine schedule spans the configured epochs, so growing them
    /// on resume is refused there.)
    func testResumeIsExact() throws {
        let a = dir + "/a.safetensors"
        let b = dir + "/b.safetensors"
        let constant = tiny + ["--schedule", "constant"]
        try run(["train"] + constant + ["--epochs", "2", "--checkpoint", a, "--plot", dir + "/a.png"])
        try run(["train"] + constant + ["--epochs", "1", "--checkpoint", b, "--plot", dir + "/b.png"])
        let (_, refused) = try run(
            ["train"] + tiny + ["--epochs", "2", "--checkpoint", b, "--plot", dir + "/b.png", "--resume"], expectCode: 1
        )
        XCTAssert(refused.contains("different configuration"), refused)
        let (out, _) = try run(
            ["train"] + constant + ["--epochs", "2", "--checkpoint", b, "--plot", dir + "/b.png", "--resume"])
        XCTAssert(out.contains("resumed from"), out)
        XCTAssertEqual(
            try history(a).replacingOccurrences(of: "\"seconds\":[0-9.e+-]+", with: "", options: .regularExpression),
            try history(b).replacingOccurrences(of: "\"seconds\":[0-9.e+-]+", with: "", options: .regularExpression))
        let ta = try SafeTensors.read(a).tensors
        let tb = try SafeTensors.read(b).tensors
        XCTAssertEqual(ta.keys.sorted(), tb.keys.sorted())
        for (k, t) in ta { XCTAssertEqual(t.toArray(), tb[k]?.toArray(), "tensor \(k) differs after resume") }
        XCTAssert(FileManager.default.fileExists(atPath: dir + "/a.png"))
    }

    func testEvalCorruptionsTable() throws {
        let ck = dir + "/e.safetensors"
        try run(["train"] + tiny + ["--checkpoint", ck, "--plot", dir + "/e.png"])
        let (out, _) = try run([
            "eval", "--checkpoint", ck, "--test-subset", "32", "--gaussian", "0.2", "--salt-pepper", "0.1", "--blur",
            "1",
        ])
        for row in ["| clean |", "| gaussian σ=0.2 |", "| salt-pepper p=0.1 |", "| blur σ=1.0 |"] {
            XCTAssert(out.contains(row), out)
        }
    }

    func testSegmentationTrainAndEval() throws {
        let ck = dir + "/seg.safetensors"
        let (out, _) = try run([
            "train", "--model", "deeplabv3plus", "--train-subset", "16", "--test-subset", "8", "--batch-size", "8",
            "--T", "2", "--fb-filters", "2", "--class-filters", "8", "--threads", "2", "--checkpoint", ck, "--plot",
            dir + "/seg.png",
        ])
        XCTAssert(out.contains("final test mIoU:"), out)
        let (table, _) = try run([
            "eval", "--checkpoint", ck, "--test-subset", "8", "--gaussian", "0.2", "--salt-pepper", "0.1", "--blur",
            "1",
        ])
        XCTAssert(table.contains("| corruption | test mIoU | test loss |") && table.contains("| blur σ=1.0 |"), table)
        let (_, e) = try run(["train", "--model", "deeplabv3plus", "--samples-per-class", "3"], expectCode: 1)
        XCTAssert(e.contains("--samples-per-class applies to classification"), e)
    }

    func testBadInputIsOneLineAndNothingOverwritten() throws {
        let (_, e1) = try run(["train", "--data", dir + "/nowhere"] + tiny, expectCode: 1)
        XCTAssert(e1.hasPrefix("dfm: error: idx: no 'train-images-idx3-ubyte"), e1)
        XCTAssertEqual(e1.split(separator: "\n").count, 1, e1)
        let (_, e2) = try run(["train", "--model", "vgg"] + tiny, expectCode: 1)
        XCTAssert(e2.contains("unknown model 'vgg'"), e2)
        let (_, e3) = try run(["train", "--T", "0"] + budget, expectCode: 1)
        XCTAssert(e3.contains("T must be"), e3)
        // A corrupted checkpoint: eval and resume fail cleanly and leave the file as it was.
        let ck = dir + "/bad.safetensors"
        let junk = Data([7, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7b, 0x7b, 1, 2, 3])
        XCTAssertTrue(FileManager.default.createFile(atPath: ck, contents: junk))
        let (_, e4) = try run(["eval", "--checkpoint", ck], expectCode: 1)
        XCTAssert(e4.hasPrefix("dfm: error: safetensors:"), e4)
        try run(["train"] + tiny + ["--checkpoint", ck, "--plot", dir + "/x.png", "--resume"], expectCode: 1)
        XCTAssertEqual(FileManager.default.contents(atPath: ck), junk)
        try run(["eval", "--checkpoint", dir + "/missing.safetensors"], expectCode: 1)
    }

    /// Killing training mid-run leaves the last complete checkpoint loadable: the killed run
    /// resumes a one-epoch checkpoint for many short epochs, each ending in a checkpoint write.
    func testKillLeavesCheckpointIntact() throws {
        let ck = dir + "/k.safetensors"
        let constant = tiny + ["--schedule", "constant", "--checkpoint", ck, "--plot", dir + "/k.png"]
        try run(["train"] + constant)
        for delay: useconds_t in [1_200_000, 2_300_000] {
            let p = Process()
            p.executableURL = cli
            p.arguments = ["train"] + constant + ["--epochs", "200", "--resume"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(delay)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationReason, .uncaughtSignal, "the run ended before it was killed")
            // The file under the checkpoint's name is always a whole checkpoint (old or new).
            let (_, meta) = try SafeTensors.read(ck)
            XCTAssertGreaterThanOrEqual(Int(meta["epoch"] ?? "") ?? 0, 1)
        }
        try run([
            "eval", "--checkpoint", ck, "--test-subset", "16", "--gaussian", "0.1", "--salt-pepper", "0.1", "--blur",
            "1",
        ])
    }
}
