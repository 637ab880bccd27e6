import Foundation
import XCTest

@testable import DFM

/// Issue #14 items 1 and 6: every option of `dfm-cli` is bounded and checked before any
/// data is read or any epoch trained; a bad value is one `dfm: error:` line and exit code 1,
/// never a trap, and nothing is written.
final class CLIReliabilityTests: XCTestCase {
    lazy var dir: String = {
        let d = NSTemporaryDirectory() + "dfm-cli-rel-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()
    let tiny = [
        "--train-subset", "96", "--test-subset", "48", "--batch-size", "32", "--fb-filters", "4", "--threads", "2",
        "--T", "2",
    ]

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    @discardableResult
    func run(_ args: [String], expectCode: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> (
        out: String, err: String
    ) {
        try CLITests.runCLI(args, expectCode: expectCode, file: file, line: line)
    }

    /// `args` (after `train` and the tiny budget, which they override) fail with one error line
    /// containing `part`, before training, and write no checkpoint.
    func assertRefused(
        _ args: [String], _ part: String, command: [String] = ["train"], file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let ck = dir + "/never.safetensors"
        let (out, err) = try run(
            command + tiny + args + ["--checkpoint", ck, "--plot", dir + "/never.png"], expectCode: 1, file: file,
            line: line)
        XCTAssert(err.hasPrefix("dfm: error: ") && err.contains(part), "\(args): \(err)", file: file, line: line)
        XCTAssertEqual(err.split(separator: "\n").count, 1, err, file: file, line: line)
        XCTAssertFalse(out.contains("epoch 1"), "trained before refusing \(args): \(out)", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: ck), file: file, line: line)
    }

    /// Item 1: these used to die with SIGILL (arithmetic overflow in Run.swift).
    func testHugeEpochsAndBatchSizeAreRefused() throws {
        // (batch size 1: 96 steps, so epochs × steps overflows as it did with the full dataset)
        try assertRefused(
            ["--epochs", "3000000000000000000", "--batch-size", "1"],
            "--epochs must be in 1...100000, got 3000000000000000000")
        try assertRefused(["--epochs", "9223372036854775807"], "--epochs must be in 1...100000")
        try assertRefused(["--batch-size", "9223372036854775807"], "--batch-size must be in 1...65536")
        try assertRefused(["--T", "9223372036854775807"], "--T must be in 1...100")
        try assertRefused(["--fb-filters", "-9223372036854775808"], "--fb-filters must be in 0...4096")
        try assertRefused(["--class-filters", "9223372036854775807"], "--class-filters must be in 1...4096")
    }

    /// Item 6: negative, NaN and oversized values used to be read as "default" or "all".
    func testNegativeAndOversizedOptionsAreRefused() throws {
        try assertRefused(["--threads", "-1"], "--threads must be in 0...1024")
        try assertRefused(["--threads", "5000"], "--threads must be in 0...1024")
        try assertRefused(["--train-subset", "-10"], "--train-subset must be >= 0")
        try assertRefused(["--samples-per-class", "-1"], "--samples-per-class must be >= 0")
        try assertRefused(["--train-noise", "-1"], "--train-noise must be in 0.0...100.0")
        try assertRefused(["--train-noise", "nan"], "--train-noise must be in")
        try assertRefused(["--test-subset", "-1"], "--test-subset must be >= 0")
        try assertRefused(["--lr", "nan"], "--lr must be > 0")
        try assertRefused(["--tau", "-1"], "--tau must be > 0")
        // --epochs -1 used to get ArgumentParser's misleading "Missing value"
        try assertRefused(["--epochs", "-1"], "--epochs must be in 1...100000, got -1")
        // larger than the dataset: an error, not "all" (Fashion-MNIST: 60000 train, 10000 test, 6000 per class)
        try assertRefused(["--train-subset", "1000000000000"], "--train-subset must be in 0...60000")
        try assertRefused(["--test-subset", "1000000000000"], "--test-subset must be in 0...10000")
        try assertRefused(
            ["--train-subset", "0", "--samples-per-class", "6001"], "--samples-per-class must be in 0...6000")
        try assertRefused(
            ["--model", "deeplabv3plus", "--train-subset", "1000000000000"], "--train-subset must be in 0...100000")
    }

    /// Item 6: a checkpoint (or plot) that cannot be written fails before the first epoch,
    /// not after it.
    func testUnwritableOutputsFailBeforeTraining() throws {
        let sub = dir + "/a-directory"
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        let blocker = dir + "/a-file"
        XCTAssertTrue(FileManager.default.createFile(atPath: blocker, contents: Data("x".utf8)))
        // A special file: a FIFO of our own (never a system file such as /dev/null: a CLI without
        // this check, run as root, renames its checkpoint over it).
        let fifo = dir + "/a-fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        for (args, part) in [
            (["--checkpoint", sub], "--checkpoint '\(sub)' is a directory"),
            (["--checkpoint", blocker + "/ck.safetensors"], "--checkpoint '\(blocker)/ck.safetensors'"),
            (["--plot", sub], "--plot '\(sub)' is a directory"),
            (["--checkpoint", fifo], "--checkpoint '\(fifo)' is not a regular file"),
        ] {
            var full = ["train"] + tiny + ["--checkpoint", dir + "/ok.safetensors", "--plot", dir + "/ok.png"]
            full += args  // the later value wins
            let (out, err) = try run(full, expectCode: 1)
            XCTAssert(err.hasPrefix("dfm: error: ") && err.contains(part), "\(args): \(err)")
            XCTAssertFalse(out.contains("epoch 1"), "trained before refusing \(args): \(out)")
        }
        XCTAssertEqual(FileManager.default.contents(atPath: blocker), Data("x".utf8))
        var st = stat()
        XCTAssertEqual(stat(fifo, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ok.safetensors"))
    }

    /// Resuming a checkpoint that holds more epochs than asked used to trap (an inverted range).
    func testResumeWithFewerEpochsIsRefused() throws {
        let ck = dir + "/two.safetensors"
        let constant = tiny + ["--schedule", "constant", "--checkpoint", ck, "--plot", dir + "/two.png"]
        try run(["train"] + constant + ["--epochs", "2"])
        let before = FileManager.default.contents(atPath: ck)
        let (_, err) = try run(["train"] + constant + ["--epochs", "1", "--resume"], expectCode: 1)
        XCTAssert(err.contains("holds 2 epochs, more than --epochs 1"), err)
        XCTAssertEqual(FileManager.default.contents(atPath: ck), before)
        // eval checks its test subset like train does
        let (_, e2) = try run(["eval", "--checkpoint", ck, "--test-subset", "-1"], expectCode: 1)
        XCTAssert(e2.contains("--test-subset must be >= 0"), e2)
        let (_, e3) = try run(["eval", "--checkpoint", ck, "--test-subset", "20000"], expectCode: 1)
        XCTAssert(e3.contains("--test-subset must be in 0...10000"), e3)
    }

    /// Experiments and eval check their own lists before any training or evaluation.
    func testExperimentAndEvalListsAreChecked() throws {
        // --per-class 1e30 used to trap converting the float to Int
        let (_, e1) = try run(
            ["experiment", "low-data"] + tiny + ["--per-class", "1e30", "--out", dir + "/ld"], expectCode: 1)
        XCTAssert(e1.contains("--per-class: '1e30' is not a whole number"), e1)
        let (_, e2) = try run(
            ["experiment", "noise"] + tiny + ["--sigmas", "0,-1", "--out", dir + "/nz"], expectCode: 1)
        XCTAssert(e2.contains("noise σ must be finite and >= 0"), e2)
        let sub = dir + "/report.md"
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
        let (o3, e3) = try run(["experiment", "noise"] + tiny + ["--out", dir + "/report"], expectCode: 1)
        XCTAssert(e3.contains("is a directory"), e3)
        XCTAssertFalse(o3.contains("== training"), o3)
        let (_, e4) = try run(["eval", "--checkpoint", dir + "/none.safetensors", "--blur", "100"], expectCode: 1)
        XCTAssert(e4.contains("blur") && e4.contains("sigma must be in (0, 64]"), e4)
    }
}
