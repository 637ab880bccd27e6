import ArgumentParser
import DFM
import Foundation

struct DFMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dfm",
        abstract: "Train, evaluate and study Deep Feedback Models on MNIST-layout datasets.",
        subcommands: [Train.self, Eval.self, Experiment.self])
}

/// Options shared by `train` and the experiments.
struct RunOptions: ParsableArguments {
    // Numeric options parse their value unconditionally, so `--epochs -1` reaches the range
    // check (and its message) instead of being taken for an option name.
    @Option(help: "resnet18, resnet34, resnet50, vit or deeplabv3plus (segmentation of Fashion-MNIST scenes)")
    var model = "resnet18"
    @Option(help: "Folder with MNIST-layout IDX files (default: Debian's Fashion-MNIST)") var data = IDXDataset
        .fashionMNISTRoot
    @Option(
        name: .customLong("T"), parsing: .unconditional,
        help: "Feedback steps, 1...100 (1 = feedforward when fb-filters is 0)") var T = 3
    @Option(parsing: .unconditional, help: "Feedback channels, 0...4096 (0 = feedforward baseline)") var fbFilters = 8
    @Option(parsing: .unconditional, help: "Decay time constant of the stabiliser, > 0 and <= 1e6") var tau: Float = 1
    // epochs, batch size, lr and warmup default per model (ModelDefaults): nil = the model's default.
    @Option(parsing: .unconditional, help: "Epochs, 1...100000 (default 1; vit: \(ModelDefaults.vit.epochs))")
    var epochs: Int?
    @Option(parsing: .unconditional, help: "Batch size, 1...65536 (default 64; vit: \(ModelDefaults.vit.batchSize))")
    var batchSize: Int?
    @Option(help: "adam, adamw or sgd") var optimizer = "adam"
    @Option(parsing: .unconditional, help: "Learning rate, > 0 and <= 1e6 (default 1e-3; vit: \(ModelDefaults.vit.lr))")
    var lr: Double?
    @Option(
        parsing: .unconditional,
        help:
            "Linear learning-rate warmup, in epochs, 0...epochs, before the schedule (default 0; vit: \(ModelDefaults.vit.warmup))"
    ) var warmup: Double?
    @Option(help: "Learning rate per step: cosine (decays to 0 over the run) or constant") var schedule = "cosine"
    @Option(
        parsing: .unconditional,
        help:
            "Train on the first N images of a seeded permutation, 0...training set size (0 = all; deeplabv3plus: N scenes, 0...100000, 0 = 2000)"
    ) var trainSubset = 0
    @Option(parsing: .unconditional, help: "Train on K images per class, 0...smallest class size (0 = not used)")
    var samplesPerClass = 0
    @Option(
        parsing: .unconditional,
        help:
            "Evaluate on the first N test images, 0...test set size (0 = all; deeplabv3plus: N scenes, 0...100000, 0 = 500)"
    ) var testSubset = 0
    @Option(parsing: .unconditional, help: "Gaussian noise σ added to training images, 0...100") var trainNoise: Float =
        0
    @Option(parsing: .unconditional) var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Threads, 0...1024 (0 = all cores)") var threads = 0
    @Option(parsing: .unconditional, help: "deeplabv3plus: decoder channels of the state's class part, 1...4096")
    var classFilters = 64
    // ViT defaults: on Fashion-MNIST, 7×7 patches (16 tokens) of width 128 learn far faster per
    // second than 4×4 patches of width 64 (72.6% vs 50.4% after 12000 images, at 1.7× the speed).
    @Option(parsing: .unconditional, help: "vit: token width") var dim = 128
    @Option(parsing: .unconditional, help: "vit: encoder layers") var depth = 2
    @Option(parsing: .unconditional, help: "vit: attention heads (must divide --dim)") var heads = 4
    @Option(parsing: .unconditional, help: "vit: patch size (must divide the image size)") var patch = 7
    @Option(parsing: .unconditional, help: "vit: feed-forward width (0 = 2·dim)") var mlpDim = 0
    @Flag(
        help:
            "Per-step BatchNorm running statistics (one set per feedback step; eval beyond T uses the last); off: shared, as upstream"
    ) var bnPerStep = false

    var config: RunConfig {
        let d = model == "vit" ? ModelDefaults.vit : ModelDefaults.standard
        let w = warmup ?? d.warmup
        return RunConfig(
            model: model, dataRoot: data, T: T, fbFilters: fbFilters, tau: tau, epochs: epochs ?? d.epochs,
            batchSize: batchSize ?? d.batchSize, optimizer: optimizer, lr: lr ?? d.lr, trainSubset: trainSubset,
            samplesPerClass: samplesPerClass, testSubset: testSubset,
            trainNoise: trainNoise, seed: seed, threads: threads, classFilters: classFilters, schedule: schedule,
            vit: model == "vit"
                ? ViTConfig(dim: dim, depth: depth, heads: heads, patch: patch, mlpDim: mlpDim == 0 ? 2 * dim : mlpDim)
                : nil,
            bnPerStep: bnPerStep ? true : nil, warmup: w == 0 ? nil : w)
    }
}

/// Turns library errors into one line on stderr and exit code 1, without a stack trace.
/// In an MPI job the error ends every rank (MPI_Abort), since the others would wait for this one.
func runReportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let e as DFMError {
        let who = World.size > 1 ? " (rank \(World.rank) of \(World.size))" : ""
        FileHandle.standardError.write(Data("dfm: error\(who): \(e.message)\n".utf8))
        if World.size > 1 { Distributed.abort(code: 1) }
        throw ExitCode(1)
    }
    World.leave()
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model; evaluates on the test set after each epoch.")
    @OptionGroup var opts: RunOptions
    @Option(help: "Checkpoint file (safetensors), written atomically after each epoch") var checkpoint =
        "runs/dfm.safetensors"
    @Flag(help: "Continue from --checkpoint if it exists") var resume = false
    @Option(help: "PNG plot of loss and accuracy curves") var plot = "runs/dfm.png"

    func run() throws {
        try runReportingErrors {
            let c = opts.config
            try c.validate()
            try World.join()
            for p in [checkpoint, plot] {
                let dir = (p as NSString).deletingLastPathComponent
                if !dir.isEmpty {
                    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                }
            }
            let arch =
                c.vit.map { " dim=\($0.dim) depth=\($0.depth) heads=\($0.heads) patch=\($0.patch) mlp=\($0.mlpDim)" }
                ?? ""
            if World.rank != 0 {
                _ = try train(c, checkpoint: checkpoint, resume: resume, plot: plot)
                return
            }
            let ranks =
                World.size > 1 ? ", \(World.size) MPI ranks of \(Parallel.threads) threads (global batch split)" : ""
            print(
                "dfm train: \(c.model)\(arch)\(c.bnPerStep == true ? " bn-per-step" : "") T=\(c.T) fb_filters=\(c.fbFilters) tau=\(c.tau), \(c.optimizer) lr=\(c.lr) (\(c.schedule)\(c.warmup.map { ", warmup \($0) epoch(s)" } ?? "")), batch \(c.batchSize), \(c.epochs) epoch(s), seed \(c.seed), \(c.threads > 0 ? c.threads : Parallel.threads) threads\(ranks)"
            )
            let t0 = Date()
            let (_, h) = try train(c, checkpoint: checkpoint, resume: resume, plot: plot)
            if let last = h.last {
                print(
                    String(
                        format: "final test %@: %.2f%% (%.0f s in this run)", last.metric, 100 * last.testScore,
                        Date().timeIntervalSince(t0)))
            }
            print("checkpoint: \(checkpoint)")
            print("plot: \(plot)")
        }
    }
}

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint on the test set, clean and under corruptions.")
    @Option(help: "Checkpoint written by `dfm train`") var checkpoint: String
    @Option(help: "Comma-separated Gaussian noise σ levels") var gaussian = "0.1,0.2,0.3"
    @Option(help: "Comma-separated salt-and-pepper fractions") var saltPepper = "0.05,0.1"
    @Option(help: "Comma-separated Gaussian blur σ levels") var blur = "1"
    @Option(parsing: .unconditional, help: "Evaluate on the first N test images, 0...test set size (0 = all)")
    var testSubset = 0
    @Option(parsing: .unconditional) var seed: UInt64 = 0

    func run() throws {
        try runReportingErrors {
            let levels = try corruptions(gaussian: gaussian, saltPepper: saltPepper, blur: blur)
            let (ck, tensors, meta) = try Checkpoint.load(checkpoint)
            var c = ck.config
            c.testSubset = testSubset
            try c.validate()
            if c.threads > 0 { try Parallel.setThreads(c.threads) }
            let data = try DataSplit(c)
            let model = try Classifier.make(c, data)
            try Checkpoint.restore(model: model.module, optimizer: nil, tensors: tensors, meta: meta)
            let idx = data.testIndices
            var rows: [(String, EvalResult)] = []
            for corr in levels {
                rows.append(
                    (
                        corr.description,
                        try evaluate(
                            model, data, idx, T: c.T, batchSize: data.segmentation ? 16 : 256,
                            corruption: corr, seed: seed)
                    ))
            }
            print("| corruption | test \(data.metric) | test loss |\n|---|---|---|")
            for (name, r) in rows { print(String(format: "| %@ | %.2f%% | %.4f |", name, 100 * r.score, r.loss)) }
        }
    }
}

func parseLevels(_ s: String, _ what: String) throws -> [Float] {
    try s.split(separator: ",").map { part in
        guard let v = Float(part.trimmingCharacters(in: .whitespaces)) else {
            throw DFMError(.invalidArgument, "\(what): '\(part)' is not a number")
        }
        return v
    }
}

/// The corruptions to evaluate, each level checked now (not after the clean evaluation).
func corruptions(gaussian: String, saltPepper: String, blur: String) throws -> [Corruption] {
    let list: [Corruption] =
        [.clean] + (try parseLevels(gaussian, "--gaussian")).map { .gaussian(sigma: $0) }
        + (try parseLevels(saltPepper, "--salt-pepper")).map { .saltPepper(fraction: $0) }
        + (try parseLevels(blur, "--blur")).map { .blur(sigma: $0) }
    let probe = try Tensor.zeros([1, 1, 4, 4])
    for c in list { _ = try c.apply(probe, generator: Generator(seed: 0)) }
    return list
}

setvbuf(stdout, nil, _IOLBF, 0)  // keep stdout lines in order with the stderr progress bar
DFMCommand.main()
