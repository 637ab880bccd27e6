import Foundation
import XCTest

@testable import DFM

/// Issue 19: `experiment` with --seeds, --budget, --eval-T and --bn-per-step; plots with a CSV
/// beside each PNG; `train --bn-per-step` checkpoints that say which statistics they hold.
final class CLIExperimentTests: XCTestCase {
    lazy var dir: String = {
        let d = NSTemporaryDirectory() + "dfm-cli-exp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()
    let tiny = ["--test-subset", "48", "--batch-size", "32", "--fb-filters", "4", "--threads", "2", "--T", "2"]

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    @discardableResult
    func run(_ args: [String], expectCode: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> (
        out: String, err: String
    ) {
        try CLITests.runCLI(args, expectCode: expectCode, file: file, line: line)
    }

    func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    func testNoiseWithSeedsBudgetEvalTAndPerStepStatistics() throws {
        let out = dir + "/noise"
        let (o, _) = try run(
            ["experiment", "noise"] + tiny + [
                "--seeds", "2", "--budget", "0.002", "--eval-T", "3", "--bn-per-step",
                "--sigmas", "0,0.2", "--salt-pepper", "0.1", "--blur", "1", "--out", out,
            ])
        // 0.002 epochs = 120 images, one epoch; two seeds, two models each.
        XCTAssertEqual(o.components(separatedBy: "== training").count - 1, 4, o)
        let md = try read(out + ".md")
        for part in [
            "## Gaussian noise σ", "## salt-and-pepper fraction", "## blur σ (pixels)", "over 2 seed(s)",
            "120 training images",
            "DFM (fb 4, T 2), shared BN", "DFM (fb 4, T 2), per-step BN", "DFM (fb 4, T 3 in eval), per-step BN", " ± ",
        ] {
            XCTAssert(md.contains(part), "missing '\(part)' in\n\(md)")
        }
        for kind in ["gaussian", "salt-pepper", "blur"] {
            XCTAssert(FileManager.default.fileExists(atPath: "\(out)-\(kind).png"), kind)
            let csv = try read("\(out)-\(kind).csv").split(separator: "\n")
            XCTAssert(csv[0].hasPrefix("series,") && csv[0].hasSuffix(",error (± standard deviation)"), String(csv[0]))
            // 5 columns (feedforward, 2 × shared/per-step) × levels
            XCTAssertEqual(csv.count - 1, 5 * (kind == "gaussian" ? 2 : 1), csv.joined(separator: "\n"))
        }
    }

    func testLowDataBudgetIsImagesSeen() throws {
        let out = dir + "/ld"
        let (o, _) = try run(
            ["experiment", "low-data"] + tiny + [
                "--seeds", "2", "--budget", "0.0005", "--per-class", "1,2", "--out", out,
            ])
        // 30 images seen: 3 epochs of 10 images, 2 epochs (1.5 rounded) of 20.
        XCTAssert(o.contains("on 1 images per class, 3 epoch(s), seed 1"), o)
        XCTAssert(o.contains("on 2 images per class, 2 epoch(s), seed 0"), o)
        let md = try read(out + ".md")
        XCTAssert(md.contains("Epochs per size (the budget's 30 images): 1: 3, 2: 2"), md)
        XCTAssert(md.contains("epochs per size below") && !md.contains("training images,"), md)
        XCTAssert(md.contains("over 2 seed(s)"), md)
        XCTAssertEqual(try read(out + ".csv").split(separator: "\n").count, 1 + 2 * 2)
        XCTAssert(FileManager.default.fileExists(atPath: out + ".png"))
    }

    func testOptionsAreChecked() throws {
        for (args, part) in [
            (["--seeds", "0"], "--seeds must be in 1...100"), (["--budget", "-1"], "--budget must be in 0...1000"),
            (["--eval-T", "101"], "--eval-T must be in 0...100"),
            (["--sigmas", "", "--blur", ""], "give at least one level"),
            (["--blur", "1,-1"], "--blur: blur σ (pixels) must be finite and >= 0"),
        ] {
            let (o, e) = try run(["experiment", "noise"] + tiny + args + ["--out", dir + "/x"], expectCode: 1)
            XCTAssert(e.contains(part), "\(args): \(e)")
            XCTAssertFalse(o.contains("== training"))
        }
        let (_, e) = try run(
            ["train", "--model", "vit", "--bn-per-step", "--checkpoint", dir + "/v.safetensors"], expectCode: 1)
        XCTAssert(e.contains("vit has no BatchNorm"), e)
        let (_, w) = try run(
            ["train", "--warmup", "2", "--epochs", "1", "--checkpoint", dir + "/w.safetensors"], expectCode: 1)
        XCTAssert(w.contains("--warmup must be in 0...1 epochs"), w)
    }

    /// --warmup: the learning rate rises linearly over the warmup steps, then follows the schedule
    /// (seen in the loss: a warmed-up first step moves the weights less, so the runs differ).
    func testWarmupChangesTheRun() throws {
        let base = ["train", "--train-subset", "64"] + tiny + ["--schedule", "constant", "--plot", dir + "/w.png"]
        try run(base + ["--checkpoint", dir + "/a.safetensors"])
        let (o, _) = try run(base + ["--warmup", "1", "--checkpoint", dir + "/b.safetensors"])
        XCTAssert(o.contains("(constant, warmup 1.0 epoch(s))"), o)
        let a = try XCTUnwrap(SafeTensors.read(dir + "/a.safetensors").metadata["history"])
        let b = try XCTUnwrap(SafeTensors.read(dir + "/b.safetensors").metadata["history"])
        XCTAssertNotEqual(
            a.replacingOccurrences(of: "\"seconds\":[0-9.e+-]+", with: "", options: .regularExpression),
            b.replacingOccurrences(of: "\"seconds\":[0-9.e+-]+", with: "", options: .regularExpression))
    }

    /// A --bn-per-step checkpoint says so, evaluates, and refuses a resume without the flag.
    func testTrainCheckpointSaysWhichStatistics() throws {
        let ck = dir + "/s.safetensors"
        let train = ["train", "--train-subset", "64"] + tiny + ["--checkpoint", ck, "--plot", dir + "/s.png"]
        try run(train + ["--bn-per-step"])
        let meta = try SafeTensors.read(ck).metadata
        XCTAssertEqual(meta["bn_statistics"], "per-step")
        XCTAssert(try SafeTensors.read(ck).tensors.keys.contains("model.layer1.0.bn1.running_mean_per_step"))
        let csv = try read(dir + "/s.csv")
        XCTAssert(csv.hasPrefix("series,Epoch,Loss / test error\n"), csv)
        let (o, _) = try run([
            "eval", "--checkpoint", ck, "--test-subset", "32", "--gaussian", "0.1", "--salt-pepper", "", "--blur", "",
        ])
        XCTAssert(o.contains("| clean |"), o)
        let (_, e) = try run(train + ["--resume", "--epochs", "1"], expectCode: 1)
        XCTAssert(e.contains("holds per-step BatchNorm statistics; resume with --bn-per-step"), e)
    }
}
