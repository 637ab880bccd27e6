import ArgumentParser
import DFM
import Foundation

/// The papers' two claims, each tested with one command: the DFM against its
/// feedforward counterpart (fb_filters 0, T 1) under the same budget, over several seeds.
struct Experiment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare a DFM with its feedforward counterpart.",
        subcommands: [Noise.self, LowData.self])

    /// Options of both experiments (issue 19).
    struct Study: ParsableArguments {
        @Option(
            parsing: .unconditional,
            help: "Seeds --seed, --seed+1, ...: tables give mean ± standard deviation, plots error bars; 1...100")
        var seeds = 1
        @Option(
            parsing: .unconditional,
            help:
                "Training budget in epochs of the full training set (0.2 = 12,000 images, 3 = three full epochs; 0 = use --epochs and --train-subset). low-data: the same number of images seen at every size"
        )
        var budget = 0.0
        @Option(
            name: .customLong("eval-T"), parsing: .unconditional,
            help: "Also evaluate the DFM with this many steps, 1...100 (0 = only the training T)")
        var evalT = 0
    }

    struct Noise: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Test accuracy versus corruption of the test images (Gaussian noise, salt and pepper, blur).")
        @OptionGroup var opts: RunOptions
        @OptionGroup var study: Study
        @Option(help: "Comma-separated Gaussian noise σ levels (empty: none)") var sigmas = "0,0.1,0.2,0.3,0.4,0.5"
        @Option(help: "Comma-separated salt-and-pepper fractions (empty: none)") var saltPepper = ""
        @Option(help: "Comma-separated Gaussian blur σ levels in pixels (empty: none)") var blur = ""
        @Option(help: "Output prefix: writes PREFIX.md and PREFIX[-kind].png with a .csv beside each") var out =
            "runs/noise"

        func run() throws {
            try runReportingErrors {
                var kinds: [(String, String, [Double], (Float) -> Corruption)] = []
                for (name, axis, text, make) in [
                    ("gaussian", "Gaussian noise σ", sigmas, { Corruption.gaussian(sigma: $0) }),
                    ("salt-pepper", "salt-and-pepper fraction", saltPepper, { Corruption.saltPepper(fraction: $0) }),
                    ("blur", "blur σ (pixels)", blur, { Corruption.blur(sigma: $0) }),
                ] as [(String, String, String, (Float) -> Corruption)] {
                    let option = "--" + (name == "gaussian" ? "sigmas" : name)
                    let levels = try parseLevels(text, option)
                    for s in levels where !(s >= 0 && s.isFinite) {
                        throw DFMError(
                            .invalidArgument,
                            "\(option): \(name == "gaussian" ? "noise σ" : axis) must be finite and >= 0, got \(s)")
                    }
                    let probe = try Tensor.zeros([1, 1, 4, 4])
                    for s in levels where s > 0 { _ = try make(s).apply(probe, generator: Generator(seed: 0)) }
                    // The level as written ("0.3", not the float's 0.30000001192092896) for tables, plots and CSV.
                    if !levels.isEmpty {
                        kinds.append((name, axis, levels.map { Double("\($0)") ?? Double($0) }, make))
                    }
                }
                guard !kinds.isEmpty else {
                    throw DFMError(.invalidArgument, "give at least one level in --sigmas, --salt-pepper or --blur")
                }
                let base = try study.apply(opts.config, lowDataImages: nil)
                let variants = try study.variants(base)
                try World.join()
                try prepareReport(out, pngs: kinds.count == 1 ? [""] : kinds.map { "-" + $0.0 })
                // results[kind][variant][level] = accuracy per seed
                var results = kinds.map { k in variants.map { _ in k.2.map { _ in [Double]() } } }
                let t0 = Date()
                for seed in study.seedList(base) {
                    for (name, c) in try pair(base, seed: seed) {
                        print("== training \(name), seed \(seed)")
                        let (m, _) = try train(c, checkpoint: nil, resume: false, plot: nil, evalEveryEpoch: false)
                        let data = try DataSplit(c)
                        for (vi, v) in variants.enumerated() where v.dfm == (c.fbFilters > 0) {
                            m.useStepStatistics(v.perStep)
                            for (ki, k) in kinds.enumerated() {
                                for (li, s) in k.2.enumerated() {
                                    let r = try evaluate(
                                        m, data, data.testIndices, T: v.T, batchSize: 256,
                                        corruption: s == 0 ? .clean : k.3(Float(s)), seed: c.seed)
                                    print(
                                        String(
                                            format: "%@, %@ %g: %@ %.2f%%", v.name, k.1, s, data.metric, 100 * r.score))
                                    results[ki][vi][li].append(r.score)
                                }
                            }
                        }
                    }
                }
                let seconds = Date().timeIntervalSince(t0)
                var md = header(title: "Test accuracy vs corruption of the test images", base: base, seconds: seconds)
                for (ki, k) in kinds.enumerated() {
                    md +=
                        "\n## \(k.1)\n\n" + table(xName: k.1, xs: k.2, names: variants.map(\.name), cells: results[ki])
                    try plot(
                        out + (kinds.count == 1 ? "" : "-" + k.0), title: "Test accuracy vs \(k.1)", xName: k.1,
                        xs: k.2,
                        names: variants.map(\.name), cells: results[ki])
                }
                try finish(out, md)
            }
        }
    }

    struct LowData: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "low-data", abstract: "Test accuracy versus training samples per class.")
        @OptionGroup var opts: RunOptions
        @OptionGroup var study: Study
        @Option(help: "Comma-separated samples per class") var perClass = "10,30,100,300"
        @Option(help: "Output prefix: writes PREFIX.md and PREFIX.png with PREFIX.csv beside it") var out =
            "runs/low-data"

        func run() throws {
            try runReportingErrors {
                let ks = try parseCounts(perClass, "--per-class", 1...100_000)
                let base0 = try study.apply(opts.config, lowDataImages: nil)
                let variants = try study.variants(base0)
                try World.join()
                try prepareReport(out, pngs: [""])
                var results = variants.map { _ in ks.map { _ in [Double]() } }
                let t0 = Date()
                for seed in study.seedList(base0) {
                    for (ki, k) in ks.enumerated() {
                        // 10 classes: the budget's images are seen whatever the set's size.
                        let base = try study.apply(opts.config, lowDataImages: 10 * k)
                        for (name, pc) in try pair(base, seed: seed) {
                            var c = pc
                            c.samplesPerClass = k
                            print("== training \(name) on \(k) images per class, \(c.epochs) epoch(s), seed \(seed)")
                            let (m, _) = try train(c, checkpoint: nil, resume: false, plot: nil, evalEveryEpoch: false)
                            let data = try DataSplit(c)
                            for (vi, v) in variants.enumerated() where v.dfm == (c.fbFilters > 0) {
                                m.useStepStatistics(v.perStep)
                                let r = try evaluate(m, data, data.testIndices, T: v.T, batchSize: 256)
                                print(
                                    String(format: "%@, %d per class: %@ %.2f%%", v.name, k, data.metric, 100 * r.score)
                                )
                                results[vi][ki].append(r.score)
                            }
                        }
                    }
                }
                let seconds = Date().timeIntervalSince(t0)
                // The budget's subset and epochs are for full-set runs; each size's epochs are listed below.
                var shown = base0
                shown.trainSubset = 0
                var md = header(
                    title: "Test accuracy vs training images per class", base: shown, seconds: seconds,
                    epochs: study.budget > 0 ? "epochs per size below" : nil)
                if study.budget > 0 {
                    md +=
                        "Epochs per size (the budget's \(Int((study.budget * 60000).rounded())) images): "
                        + (try ks.map { "\($0): \(try study.apply(opts.config, lowDataImages: 10 * $0).epochs)" })
                        .joined(separator: ", ") + ".\n"
                }
                md +=
                    "\n"
                    + table(
                        xName: "images per class", xs: ks.map(Double.init), names: variants.map(\.name), cells: results)
                try plot(
                    out, title: "Test accuracy vs training images per class", xName: "images per class",
                    xs: ks.map(Double.init),
                    names: variants.map(\.name), cells: results, logX: true)
                try finish(out, md)
            }
        }
    }
}

/// One evaluated column: the feedforward model, or the DFM at a number of steps with shared or
/// per-step BatchNorm statistics (the same trained weights: the statistics only act in eval).
struct Variant {
    let name: String
    let dfm: Bool
    let T: Int
    let perStep: Bool
}

extension Experiment.Study {
    func check() throws {
        try Limits.check(seeds, 1...100, "seeds")
        guard budget.isFinite, budget >= 0, budget <= 1000 else {
            throw DFMError(
                .invalidArgument,
                "--budget must be in 0...1000 epochs (0 = use --epochs and --train-subset), got \(budget)")
        }
        guard evalT == 0 || Limits.T.contains(evalT) else {
            throw DFMError(.invalidArgument, "--eval-T must be in 0...100 (0 = the training T), got \(evalT)")
        }
    }

    func seedList(_ c: RunConfig) -> [UInt64] { (0..<seeds).map { c.seed &+ UInt64($0) } }

    /// The config with the budget applied. Full-set runs: ceil(budget) epochs of budget·60000 /
    /// epochs images each. Low-data runs (`lowDataImages` images): budget·60000 images seen.
    func apply(_ c0: RunConfig, lowDataImages: Int?) throws -> RunConfig {
        try check()
        try c0.validate()
        var c = c0
        guard budget > 0 else { return c }
        let images = budget * 60000
        if let n = lowDataImages {
            c.epochs = max(1, Int((images / Double(n)).rounded()))
        } else {
            c.epochs = max(1, Int(budget.rounded(.up)))
            let subset = Int((images / Double(c.epochs)).rounded())
            c.trainSubset = subset >= 60000 ? 0 : subset
        }
        try Limits.check(c.epochs, Limits.epochs, "epochs", " (from --budget)")
        return c
    }

    /// Feedforward; the DFM at its T (shared, and per-step when --bn-per-step); again at --eval-T.
    func variants(_ c: RunConfig) throws -> [Variant] {
        let perStep = c.bnPerStep == true
        var out = [Variant(name: "feedforward", dfm: false, T: 1, perStep: false)]
        for t in evalT > 0 && evalT != c.T ? [c.T, evalT] : [c.T] {
            let steps = t == c.T ? "T \(t)" : "T \(t) in eval"
            if c.model == "vit" {
                out.append(Variant(name: "DFM (fb \(c.fbFilters), \(steps))", dfm: true, T: t, perStep: false))
            } else {
                out.append(
                    Variant(name: "DFM (fb \(c.fbFilters), \(steps)), shared BN", dfm: true, T: t, perStep: false))
                if perStep {
                    out.append(
                        Variant(name: "DFM (fb \(c.fbFilters), \(steps)), per-step BN", dfm: true, T: t, perStep: true))
                }
            }
        }
        return out
    }
}

/// Creates the report's folder and checks PREFIX.md, PREFIX{suffix}.png and .csv can be written, before training.
func prepareReport(_ out: String, pngs: [String]) throws {
    guard World.rank == 0 else { return }  // an MPI job's files come from rank 0
    let dir = (out as NSString).deletingLastPathComponent
    if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    try checkWritable(out + ".md", option: "out")
    for p in pngs {
        try checkWritable(out + p + ".png", option: "out")
        try checkWritable(out + p + ".csv", option: "out")
    }
}

/// The DFM as configured, and its feedforward counterpart, for one seed.
func pair(_ c0: RunConfig, seed: UInt64) throws -> [(String, RunConfig)] {
    var c = c0
    c.seed = seed
    try c.validate()
    guard c.fbFilters > 0 else {
        throw DFMError(
            .invalidArgument, "experiments compare a DFM with its feedforward baseline: --fb-filters must be > 0")
    }
    var ff = c
    ff.fbFilters = 0
    ff.T = 1
    ff.bnPerStep = nil
    return [("DFM (fb \(c.fbFilters), T \(c.T))", c), ("feedforward", ff)]
}

/// Mean and sample standard deviation (0 for one value).
func meanSD(_ v: [Double]) -> (mean: Double, sd: Double) {
    let m = v.reduce(0, +) / Double(max(v.count, 1))
    guard v.count > 1 else { return (m, 0) }
    return (m, (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count - 1)).squareRoot())
}

func header(title: String, base: RunConfig, seconds: Double, epochs: String? = nil) -> String {
    var md = "# \(title)\n\nCommand: `\(CommandLine.arguments.joined(separator: " "))`\n\n"
    let arch =
        base.vit.map { " (dim \($0.dim), depth \($0.depth), heads \($0.heads), patch \($0.patch), mlp \($0.mlpDim))" }
        ?? ""
    md +=
        "Model \(base.model)\(arch), tau \(base.tau), \(epochs ?? "\(base.epochs) epoch(s)"), batch \(base.batchSize), \(base.optimizer) lr \(base.lr) (\(base.schedule)\(base.warmup.map { ", warmup \($0) epoch(s)" } ?? "")), T \(base.T), fb_filters \(base.fbFilters)"
    md += base.trainSubset > 0 ? ", \(base.trainSubset) training images" : ""
    md += base.testSubset > 0 ? ", \(base.testSubset) test images" : ", full test set"
    md += base.bnPerStep == true ? ", per-step BatchNorm statistics kept (evaluated both ways)" : ""
    md += String(
        format: ". Wall time %.0f s (%d threads).\n", seconds, base.threads > 0 ? base.threads : Parallel.threads)
    return md
}

/// A markdown table of mean ± sd over seeds (in %), with the seed count.
func table(xName: String, xs: [Double], names: [String], cells: [[[Double]]]) -> String {
    let n = cells.first?.first?.count ?? 0
    var md =
        "Test accuracy, mean ± standard deviation over \(n) seed(s).\n\n| \(xName) | " + names.joined(separator: " | ")
        + " |\n|---|"
        + names.map { _ in "---|" }.joined() + "\n"
    for (i, x) in xs.enumerated() {
        md +=
            "| \(String(format: "%g", x)) | "
            + cells.map { col -> String in
                let (m, sd) = meanSD(col[i])
                return n > 1 ? String(format: "%.2f ± %.2f%%", 100 * m, 100 * sd) : String(format: "%.2f%%", 100 * m)
            }.joined(separator: " | ") + " |\n"
    }
    return md
}

/// PREFIX.png with error bars (± sd) and PREFIX.csv (LinePlot.write).
func plot(
    _ prefix: String, title: String, xName: String, xs: [Double], names: [String], cells: [[[Double]]],
    logX: Bool = false
) throws {
    guard World.rank == 0 else { return }  // an MPI job's files come from rank 0
    var p = LinePlot(title: title, xLabel: xName, yLabel: "Test accuracy (%)")
    p.logX = logX
    for (n, col) in zip(names, cells) {
        let stats = col.map(meanSD)
        p.add(
            n, xs: xs, ys: stats.map { 100 * $0.mean },
            errs: col.first?.count ?? 0 > 1 ? stats.map { 100 * $0.sd } : nil)
    }
    try p.write(prefix + ".png")
    print("wrote \(prefix).png and \(prefix).csv")
}

func finish(_ out: String, _ md: String) throws {
    guard World.rank == 0 else { return }  // an MPI job's files come from rank 0
    print(md)
    try AtomicFile.write(Data(md.utf8), to: out + ".md", op: "report")
    print("wrote \(out).md")
}
