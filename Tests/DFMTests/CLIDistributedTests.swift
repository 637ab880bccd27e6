import Foundation
import XCTest

@testable import DFM

/// `mpirun -np 2 dfm-cli train`: data-parallel training with rank-0 checkpoints, exact resume,
/// sharded evaluation equal to a single process's, and a killed rank ending the job in bounded
/// time with the last checkpoint intact. Skipped only where mpirun is absent (tools/setup.sh
/// installs Open MPI).
final class CLIDistributedTests: XCTestCase {
    static let mpirun: URL? = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].map { URL(fileURLWithPath: $0) }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    lazy var dir: String = {
        let d = NSTemporaryDirectory() + "dfm-mpi-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()
    let tiny = [
        "--train-subset", "64", "--test-subset", "40", "--batch-size", "32", "--fb-filters", "4", "--threads", "1",
        "--T", "2", "--schedule", "constant",
    ]

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func mpiArgs(_ np: Int, _ args: [String]) -> [String] {
        ["--allow-run-as-root", "--oversubscribe", "-np", String(np), CLITests.cliURL.path] + args
    }

    @discardableResult
    func mpi(_ args: [String], np: Int = 2, file: StaticString = #filePath, line: UInt = #line) throws -> (
        out: String, err: String
    ) {
        guard let mpirun = Self.mpirun else {
            throw XCTSkip("mpirun not installed (tools/setup.sh installs openmpi-bin): MPI tests skipped")
        }
        let r = try runProcess(mpirun, mpiArgs(np, args))
        XCTAssertEqual(
            r.status, 0, "mpirun dfm-cli \(args.joined(separator: " "))\n\(r.out)\n\(r.err)", file: file, line: line)
        return (r.out, r.err)
    }

    func withoutSeconds(_ path: String) throws -> String {
        try XCTUnwrap(try SafeTensors.read(path).metadata["history"])
            .replacingOccurrences(of: "\"seconds\":[0-9.e+-]+", with: "", options: .regularExpression)
    }

    /// Two epochs under mpirun equal one epoch, stop, resume (both under mpirun); only rank 0
    /// prints; the sharded test accuracy equals a single process's evaluation of the checkpoint.
    func testTrainResumeAndShardedEval() throws {
        let a = dir + "/a.safetensors"
        let b = dir + "/b.safetensors"
        let (out, _) = try mpi(["train"] + tiny + ["--epochs", "2", "--checkpoint", a, "--plot", dir + "/a.png"])
        XCTAssert(out.contains("2 MPI ranks"), out)
        XCTAssertEqual(out.components(separatedBy: "dfm train:").count, 2, "only rank 0 prints:\n\(out)")
        try mpi(["train"] + tiny + ["--epochs", "1", "--checkpoint", b, "--plot", dir + "/b.png"])
        let (resumed, _) = try mpi(
            ["train"] + tiny + ["--epochs", "2", "--checkpoint", b, "--plot", dir + "/b.png", "--resume"])
        XCTAssert(resumed.contains("resumed from"), resumed)
        XCTAssertEqual(try withoutSeconds(a), try withoutSeconds(b))
        let ta = try SafeTensors.read(a).tensors
        let tb = try SafeTensors.read(b).tensors
        XCTAssertEqual(ta.keys.sorted(), tb.keys.sorted())
        for (k, t) in ta { XCTAssertEqual(t.toArray(), tb[k]?.toArray(), "tensor \(k) differs after resume") }

        // Sharded evaluation (20 test images per rank, counts summed) = one process on all 40.
        let history = try XCTUnwrap(try SafeTensors.read(a).metadata["history"])
        let epochs = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(history.utf8)) as? [[String: Any]])
        let score = try XCTUnwrap(epochs.last?["testScore"] as? Double)
        let (table, _) = try CLITests.runCLI(["eval", "--checkpoint", a, "--test-subset", "40"])
        let clean = try XCTUnwrap(table.split(separator: "\n").first { $0.hasPrefix("| clean |") })
        XCTAssert(clean.contains(String(format: "| %.2f%% |", 100 * score)), "\(clean) vs sharded \(score)")
    }

    /// SIGKILL of rank 1 mid-training: mpirun ends the job with an error within a bound, and
    /// the checkpoint rank 0 wrote last still loads.
    func testKilledRankEndsJobAndCheckpointLoads() throws {
        guard let mpirun = Self.mpirun else {
            throw XCTSkip("mpirun not installed (tools/setup.sh installs openmpi-bin): MPI tests skipped")
        }
        let ck = dir + "/k.safetensors"
        let p = Process()
        p.executableURL = mpirun
        p.arguments = mpiArgs(2, ["train"] + tiny + ["--epochs", "1000", "--checkpoint", ck, "--plot", dir + "/k.png"])
        p.standardOutput = FileHandle.nullDevice
        let errPath = dir + "/stderr"
        FileManager.default.createFile(atPath: errPath, contents: nil)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        try p.run()
        defer { if p.isRunning { p.terminate() } }
        // Wait for the first checkpoint, then kill rank 1 (a child of mpirun with OMPI_COMM_WORLD_RANK=1).
        var deadline = Date().addingTimeInterval(180)
        while !FileManager.default.fileExists(atPath: ck) {
            XCTAssert(
                p.isRunning, "training ended early: \((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")")
            guard p.isRunning, Date() < deadline else { return XCTFail("no checkpoint written") }
            usleep(100_000)
        }
        let rank1 = try XCTUnwrap(
            childProcesses(of: p.processIdentifier).first { pid in
                ((try? String(contentsOfFile: "/proc/\(pid)/environ", encoding: .isoLatin1)) ?? "")
                    .split(separator: "\0").contains("OMPI_COMM_WORLD_RANK=1")
            }, "rank 1 not found among mpirun's children")
        XCTAssertEqual(kill(rank1, SIGKILL), 0)
        let killed = Date()
        deadline = killed.addingTimeInterval(60)
        while p.isRunning && Date() < deadline { usleep(100_000) }
        XCTAssertFalse(p.isRunning, "the job did not end within 60 s of the kill")
        if p.isRunning { return }
        XCTAssertNotEqual(p.terminationStatus, 0)
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        XCTAssert(err.contains("signal 9") || err.contains("Killed"), err)
        let (tensors, meta) = try SafeTensors.read(ck)
        XCTAssertEqual(meta["format"], "dfm-checkpoint-1")
        XCTAssertGreaterThanOrEqual(Int(meta["epoch"] ?? "") ?? 0, 1)
        XCTAssert(tensors.keys.contains { $0.hasPrefix("model.") })
        try CLITests.runCLI(["eval", "--checkpoint", ck, "--test-subset", "40"])
    }

    /// Processes whose parent is `pid` (from /proc).
    func childProcesses(of pid: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { child in
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid
        }
    }
}
