import ArgumentParser
import DFM
import Foundation

/// The papers' two claims, each tested with one command: the DFM against its
/// feedforward counterpart (fb_filters 0, T 1) under the same budget and seed.
struct Experiment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare a DFM with its feedforward counterpart.",
        subcommands: [Noise.self, LowData.self])

    struct Noise: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Test accuracy versus Gaussian noise σ on test images.")
        @OptionGroup var opts: RunOptions
        @Option(help: "Comma-separated σ levels") var sigmas = "0,0.1,0.2,0.3,0.4,0.5"
        @Option(help: "Output prefix: writes PREFIX.md and PREFIX.png") var out = "runs/noise"

        func run() throws {
            try runReportingErrors {
                let levels = try parseLevels(sigmas, "--sigmas")
                for s in levels where !(s >= 0 && s.isFinite) {
                    throw DFMError(.invalidArgument, "--sigmas: noise σ must be finite and >= 0, got \(s)")
                }
                let models = try pair(opts.config)
                try World.join()
                try prepareReport(out)
                var table: [[Double]] = []
                for (name, c) in models {
                    print("== training \(name)")
                    let (m, _) = try train(c, checkpoint: nil, resume: false, plot: nil, evalEveryEpoch: false)
                    let data = try DataSplit(c)
                    var accs: [Double] = []
                    for s in levels {
                        let r = try evaluate(m, data, data.testIndices, T: c.T, batchSize: 256,
                                             corruption: s == 0 ? .clean : .gaussian(sigma: s), seed: c.seed)
                        print(String(format: "%@ σ=%.2f: %@ %.2f%%", name, s, data.metric, 100 * r.score))
                        accs.append(r.score)
                    }
                    table.append(accs)
                }
                try report(out: out, title: "Test accuracy vs Gaussian noise", xName: "noise σ", xs: levels.map(Double.init),
                           names: models.map(\.0), table: table, base: opts.config)
            }
        }
    }

    struct LowData: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "low-data", abstract: "Test accuracy versus training samples per class.")
        @OptionGroup var opts: RunOptions
        @Option(help: "Comma-separated samples per class") var perClass = "10,30,100,300"
        @Option(help: "Output prefix: writes PREFIX.md and PREFIX.png") var out = "runs/low-data"

        func run() throws {
            try runReportingErrors {
                let ks = try parseCounts(perClass, "--per-class", 1...100_000)
                let models = try pair(opts.config)
                try World.join()
                try prepareReport(out)
                var table: [[Double]] = []
                for (name, base) in models {
                    var accs: [Double] = []
                    for k in ks {
                        var c = base
                        c.samplesPerClass = k
                        print("== training \(name) on \(k) images per class")
                        let (_, h) = try train(c, checkpoint: nil, resume: false, plot: nil, evalEveryEpoch: false)
                        accs.append(h.last?.testScore ?? .nan)
                    }
                    table.append(accs)
                }
                try report(out: out, title: "Test accuracy vs training images per class", xName: "images per class",
                           xs: ks.map(Double.init), names: models.map(\.0), table: table, base: opts.config)
            }
        }
    }
}

/// Creates the report's folder and checks PREFIX.md and PREFIX.png can be written, before training.
func prepareReport(_ out: String) throws {
    let dir = (out as NSString).deletingLastPathComponent
    if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    try checkWritable(out + ".md", option: "out")
    try checkWritable(out + ".png", option: "out")
}

/// The DFM as configured, and its feedforward counterpart.
func pair(_ c: RunConfig) throws -> [(String, RunConfig)] {
    try c.validate()
    guard c.fbFilters > 0 else { throw DFMError(.invalidArgument, "experiments compare a DFM with its feedforward baseline: --fb-filters must be > 0") }
    var ff = c
    ff.fbFilters = 0
    ff.T = 1
    return [("DFM (fb \(c.fbFilters), T \(c.T))", c), ("feedforward", ff)]
}

/// Writes PREFIX.md (a markdown table plus the exact command) and PREFIX.png.
func report(out: String, title: String, xName: String, xs: [Double], names: [String], table: [[Double]], base: RunConfig) throws {
    guard World.rank == 0 else { return }  // an MPI job's files come from rank 0
    let dir = (out as NSString).deletingLastPathComponent
    if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    var md = "# \(title)\n\nCommand: `\(CommandLine.arguments.joined(separator: " "))`\n\n"
    md += "Model \(base.model), tau \(base.tau), \(base.epochs) epoch(s), batch \(base.batchSize), \(base.optimizer) lr \(base.lr) (\(base.schedule)), T \(base.T), fb_filters \(base.fbFilters), seed \(base.seed)"
    md += base.trainSubset > 0 ? ", \(base.trainSubset) training images" : ""
    md += base.testSubset > 0 ? ", \(base.testSubset) test images" : ", full test set"
    md += ".\n\n| \(xName) | " + names.joined(separator: " | ") + " |\n|---|" + names.map { _ in "---|" }.joined() + "\n"
    for (i, x) in xs.enumerated() {
        md += "| \(String(format: "%g", x)) | " + table.map { String(format: "%.2f%%", 100 * $0[i]) }.joined(separator: " | ") + " |\n"
    }
    print(md)
    try AtomicFile.write(Data(md.utf8), to: out + ".md", op: "report")
    var p = LinePlot(title: title, xLabel: xName, yLabel: "test accuracy")
    for (n, row) in zip(names, table) { p.add(n, xs: xs, ys: row) }
    try p.write(out + ".png")
    print("wrote \(out).md and \(out).png")
}
