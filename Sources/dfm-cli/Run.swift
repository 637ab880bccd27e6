import DFM
import Foundation

/// Everything that defines a training run; stored in checkpoints so `--resume` and
/// `eval` rebuild the same model.
struct RunConfig: Codable, Equatable {
    var model = "resnet18"
    var dataRoot = IDXDataset.fashionMNISTRoot
    var T = 3
    var fbFilters = 8
    var tau: Float = 1
    var epochs = 1
    var batchSize = 64
    var optimizer = "adam"
    var lr = 1e-3
    var trainSubset = 0  // 0: all
    var samplesPerClass = 0  // 0: not used
    var testSubset = 0  // 0: all
    var trainNoise: Float = 0
    var seed: UInt64 = 0
    var threads = 0  // 0: all cores
    var classFilters = 64  // deeplabv3plus only
    var schedule = "cosine"  // learning rate per step: "cosine" (to 0 over the run) or "constant"
    var vit: ViTConfig? = nil  // vit only (ViT.swift)
    /// Per-step BatchNorm statistics, T sets (issue 19); nil = off (shared statistics, as
    /// upstream), so checkpoints written before the option keep their config.
    var bnPerStep: Bool? = nil
    /// Linear learning-rate warmup in epochs before the schedule; nil = none (older checkpoints).
    var warmup: Double? = nil
}

/// The defaults of the options that depend on the model (nil options in RunOptions).
struct ModelDefaults {
    var epochs = 1
    var batchSize = 64
    var lr = 1e-3
    var warmup = 0.0

    static let standard = ModelDefaults()
    /// DFM-ViT on Fashion-MNIST: five epochs reach 85.59% in about six minutes on 2 cores (README);
    /// a pure ViT learns this data more slowly per epoch than the ResNets (one epoch: 79-81%).
    static let vit = ModelDefaults(epochs: 5, batchSize: 64, lr: 1e-3, warmup: 0)
}

/// A classifier under training: the model plus how to call it.
struct Classifier {
    let module: Module
    let forward: (Tensor, Int) throws -> Tensor  // (input, T) → logits
    let stepsRun: () -> Int
    /// Eval with per-step BatchNorm statistics (true) or the shared ones; a no-op without the option.
    var useStepStatistics: (Bool) -> Void = { _ in }

    static func make(_ c: RunConfig, _ data: DataSplit) throws -> Classifier {
        guard c.T >= 1, c.T <= 100 else { throw DFMError(.invalidArgument, "T must be in 1...100, got \(c.T)") }
        guard c.fbFilters >= 0, c.fbFilters <= 4096 else {
            throw DFMError(.invalidArgument, "fb-filters must be in 0...4096, got \(c.fbFilters)")
        }
        if c.model == "deeplabv3plus" {
            guard c.classFilters >= 1, c.classFilters <= 4096 else {
                throw DFMError(.invalidArgument, "class-filters must be in 1...4096, got \(c.classFilters)")
            }
            let m = try DeepLabV3Plus(
                inFilters: data.inChannels, fbFilters: c.fbFilters, classFilters: c.classFilters,
                classes: data.classes, tau: Double(c.tau), shape: data.imageSize)
            if c.bnPerStep == true { try m.enableBNPerStep(c.T) }
            return Classifier(
                module: m, forward: { x, T in try m.forward(x, T: T) }, stepsRun: { m.stepsRun },
                useStepStatistics: { m.bnUseStepStatistics = $0 })
        }
        if c.model == "vit" { return try makeViT(c, data) }
        let make: (String, Int, Int, Int, [Int], Double, Int, Float) throws -> DFMResNet
        switch c.model {
        case "resnet18": make = DFMResNet.resnet18
        case "resnet34": make = DFMResNet.resnet34
        case "resnet50": make = DFMResNet.resnet50
        default:
            throw DFMError(
                .invalidArgument,
                "unknown model '\(c.model)' (expected resnet18, resnet34, resnet50, vit or deeplabv3plus)")
        }
        let m = try make("resnet", c.fbFilters, 0, data.classes, data.imageSize, Double(c.tau), data.inChannels, 1e-3)
        // One set per trained step; eval beyond T uses the last (BatchNorm2d.statisticSet).
        if c.bnPerStep == true { try m.enableBNPerStep(c.T) }
        return Classifier(
            module: m, forward: { x, T in try m.forward(x, T: T) }, stepsRun: { m.stepsRun },
            useStepStatistics: { m.bnUseStepStatistics = $0 })
    }
}

/// One split's items: classification images (IDX) or segmentation scenes built from them.
struct Split {
    let count: Int
    let batch: ([Int]) throws -> (images: Tensor, labels: Tensor)
}

/// Training and evaluation data chosen by a config: the train subset is deterministic
/// in the seed (first N of a seeded permutation, or the first K per class of it).
struct DataSplit {
    let train: Split
    let test: Split
    let trainIndices: [Int]
    let testIndices: [Int]
    let imageSize: [Int]
    let inChannels = 1
    let classes: Int
    /// Segmentation scores mIoU over pixels; classification scores accuracy.
    let segmentation: Bool
    var metric: String { segmentation ? "mIoU" : "accuracy" }

    init(_ c: RunConfig) throws {
        let trainSet = try IDXDataset(root: c.dataRoot, train: true)
        let testSet = try IDXDataset(root: c.dataRoot, train: false)
        segmentation = c.model == "deeplabv3plus"
        if segmentation {
            // Scenes: garments pasted on a 64×64 canvas (train scenes from the train split).
            guard c.samplesPerClass == 0 else {
                throw DFMError(
                    .invalidArgument, "--samples-per-class applies to classification models, not deeplabv3plus")
            }
            try Limits.check(c.trainSubset, Limits.scenes, "train-subset", " scenes for deeplabv3plus (0 = 2000)")
            try Limits.check(c.testSubset, Limits.scenes, "test-subset", " scenes for deeplabv3plus (0 = 500)")
            let tr = try SegmentationScenes(
                source: trainSet, count: c.trainSubset > 0 ? c.trainSubset : 2000, seed: c.seed)
            let te = try SegmentationScenes(
                source: testSet, count: c.testSubset > 0 ? c.testSubset : 500, seed: c.seed &+ 1)
            train = Split(count: tr.count, batch: tr.batch)
            test = Split(count: te.count, batch: te.batch)
            trainIndices = Array(0..<tr.count)
            testIndices = Array(0..<te.count)
            imageSize = [tr.canvas, tr.canvas]
            classes = tr.numClasses
            return
        }
        // A subset larger than its split is an error, not "all" (0 asks for all).
        try Limits.check(c.trainSubset, 0...trainSet.count, "train-subset", " (the training set's size; 0 = all)")
        try Limits.check(c.testSubset, 0...testSet.count, "test-subset", " (the test set's size; 0 = all)")
        train = Split(count: trainSet.count, batch: trainSet.batch)
        test = Split(count: testSet.count, batch: testSet.batch)
        imageSize = [trainSet.height, trainSet.width]
        classes = 10
        let perm = try randperm(trainSet.count, generator: Generator(seed: c.seed ^ 0x5EED)).toInt64Array().map {
            Int($0)
        }
        if c.samplesPerClass > 0 {
            var taken = [Int: Int]()
            var pick: [Int] = []
            for k in perm where taken[trainSet.label(k), default: 0] < c.samplesPerClass {
                taken[trainSet.label(k), default: 0] += 1
                pick.append(k)
            }
            var perClass = [Int: Int]()
            for k in 0..<trainSet.count { perClass[trainSet.label(k), default: 0] += 1 }
            if let (label, n) = perClass.min(by: { ($0.value, $0.key) < ($1.value, $1.key) }), n < c.samplesPerClass {
                throw DFMError(
                    .invalidArgument,
                    "--samples-per-class must be in 0...\(n) (class \(label) has \(n) training images), got \(c.samplesPerClass)"
                )
            }
            trainIndices = pick
        } else if c.trainSubset > 0 {
            trainIndices = Array(perm.prefix(c.trainSubset))
        } else {
            trainIndices = perm
        }
        testIndices = Array(0..<(c.testSubset > 0 ? c.testSubset : testSet.count))
    }
}

struct EvalResult {
    var loss: Double
    var score: Double
}

/// Mean loss and the split's score (accuracy, or mIoU for segmentation) on `indices`, under an
/// optional corruption, in eval mode without grad.
func evaluate(
    _ m: Classifier, _ data: DataSplit, _ indices: [Int], T: Int, batchSize: Int,
    corruption: Corruption = .clean, seed: UInt64 = 0
) throws -> EvalResult {
    m.module.eval()
    defer { m.module.train() }
    let gen = Generator(seed: seed ^ 0xE7A1)
    var lossSum = 0.0
    var correct = 0
    var pixels = 0
    var seg = try SegmentationMetrics(numClasses: data.classes)
    // In an MPI job each rank evaluates its contiguous shard; the counts are summed below.
    let mine = Array(indices[World.share(indices.count)])
    try GradMode.noGrad {
        for start in stride(from: 0, to: mine.count, by: batchSize) {
            var (x, y) = try data.test.batch(Array(mine[start..<min(mine.count, start + batchSize)]))
            if corruption != .clean { x = try corruption.apply(x, generator: gen) }
            let logits = try m.forward(x, T)
            lossSum += Double(try crossEntropy(logits, y, reduction: .sum).item())
            pixels += y.count
            if data.segmentation {
                try seg.update(logits, y)
            } else {
                let pred = try argmax(logits, dim: 1).toInt64Array()
                correct += zip(pred, y.toInt64Array()).filter { $0 == $1 }.count
            }
        }
    }
    if World.size > 1 {
        let s = try World.sum([lossSum, Double(correct), Double(pixels)])
        (lossSum, correct, pixels) = (s[0], Int(s[1]), Int(s[2]))
        if data.segmentation {
            let own = seg.confusion
            try seg.merge(confusion: try World.sum(own).enumerated().map { $0.element &- own[$0.offset] })
        }
    }
    let score = data.segmentation ? Double(seg.meanIoU) : Double(correct) / Double(max(indices.count, 1))
    return EvalResult(loss: lossSum / Double(max(pixels, 1)), score: score)
}

func makeOptimizer(_ c: RunConfig, _ params: [Tensor]) throws -> Optimizer {
    guard c.lr > 0, c.lr.isFinite else { throw DFMError(.invalidArgument, "learning rate must be > 0, got \(c.lr)") }
    switch c.optimizer {
    case "adam": return try Adam(params, lr: c.lr)
    case "adamw": return try AdamW(params, lr: c.lr)
    case "sgd": return try SGD(params, lr: c.lr, momentum: 0.9)
    default: throw DFMError(.invalidArgument, "unknown optimizer '\(c.optimizer)' (expected adam, adamw or sgd)")
    }
}

/// Trains per `c`, resuming from `checkpoint` when asked; returns the history.
/// Each step reseeds the global generator from (seed, epoch, step), so a resumed run
/// draws exactly the numbers an uninterrupted one would.
/// `evalEveryEpoch` false evaluates after the last epoch only (the experiments' budget).
func train(
    _ c: RunConfig, checkpoint: String?, resume: Bool, plot: String?, quiet: Bool = false,
    evalEveryEpoch: Bool = true
) throws -> (Classifier, [EpochRecord]) {
    try c.validate()
    // Before any data is read or any epoch trained: the files written after each epoch.
    if let checkpoint { try checkWritable(checkpoint, option: "checkpoint") }
    if let plot {
        try checkWritable(plot, option: "plot")
        try checkWritable((plot.hasSuffix(".png") ? String(plot.dropLast(4)) : plot) + ".csv", option: "plot")
    }
    if c.threads > 0 { try Parallel.setThreads(c.threads) }
    let data = try DataSplit(c)
    manualSeed(c.seed)
    let model = try Classifier.make(c, data)
    let opt = try makeOptimizer(c, model.module.parameters())
    // Only rank 0 of an MPI job prints and writes files.
    let quiet = quiet || World.rank != 0
    let writeCheckpoint = World.rank == 0 ? checkpoint : nil
    let writePlot = World.rank == 0 ? plot : nil
    var history: [EpochRecord] = []
    var startEpoch = 0
    if resume, let checkpoint, FileManager.default.fileExists(atPath: checkpoint) {
        let (ck, tensors, meta) = try Checkpoint.load(checkpoint)
        if (ck.config.bnPerStep == true) != (c.bnPerStep == true) {
            throw DFMError(
                .invalidArgument,
                "checkpoint '\(checkpoint)' holds \(ck.config.bnPerStep == true ? "per-step" : "shared") BatchNorm statistics; resume \(ck.config.bnPerStep == true ? "with" : "without") --bn-per-step"
            )
        }
        // Epochs may grow under a constant rate; the cosine schedule spans the configured
        // epochs, so there a resumed run must keep them to stay exact.
        guard
            ck.config == c
                || (c.schedule == "constant"
                    && {
                        var a = ck.config
                        a.epochs = c.epochs
                        return a == c
                    }())
        else {
            throw DFMError(
                .invalidArgument,
                "checkpoint '\(checkpoint)' was made with a different configuration; resume needs the same options (with --schedule constant, --epochs may grow)"
            )
        }
        guard ck.epoch <= c.epochs else {
            throw DFMError(
                .invalidArgument, "checkpoint '\(checkpoint)' holds \(ck.epoch) epochs, more than --epochs \(c.epochs)")
        }
        try Checkpoint.restore(model: model.module, optimizer: opt, tensors: tensors, meta: meta)
        startEpoch = ck.epoch
        history = ck.history
        if !quiet { print("resumed from \(checkpoint) after epoch \(startEpoch)") }
    }
    // Data-parallel: every rank starts from rank 0's weights and ends each backward with the
    // gradients averaged over ranks. The global batch (the same sequence for any world size)
    // is split over the ranks, so a resumed run may use another world size without changing
    // the data order.
    let ddp =
        World.size > 1 ? try GradReducer(parameters: model.module.parameters(), buffers: model.module.buffers()) : nil
    let steps = stepsPerEpoch(data.trainIndices.count, c.batchSize)
    // Every step number below (epoch * steps + s) is less than this product.
    let (totalSteps, overflow) = c.epochs.multipliedReportingOverflow(by: steps)
    guard !overflow else { throw DFMError(.invalidArgument, "\(c.epochs) epochs of \(steps) steps are too many") }
    for epoch in startEpoch..<c.epochs {
        let t0 = Date()
        let order = try randperm(
            data.trainIndices.count, generator: Generator(seed: c.seed &+ UInt64(epoch) &* 0x9E37_79B9)
        ).toInt64Array()
        var bar = ProgressBar(total: steps, label: "epoch \(epoch + 1)/\(c.epochs)")
        var losses: [Double] = []
        let noise = Generator(seed: c.seed ^ 0xA0153 &+ UInt64(epoch))
        for s in 0..<steps {
            // Ranks > 0 of an MPI job draw their own streams (dropout); rank 0 draws a single process's.
            manualSeed(c.seed &* 1_000_003 &+ UInt64(epoch * steps + s) &+ UInt64(World.rank) &* 0x9E37_79B9_7F4A_7C15)
            let idx = order[(s * c.batchSize)..<min(order.count, (s + 1) * c.batchSize)].map {
                data.trainIndices[Int($0)]
            }
            var (x, y) = try data.train.batch(idx)
            if c.trainNoise > 0 { x = try Corruption.gaussian(sigma: c.trainNoise).apply(x, generator: noise) }
            // Closed form of the step, not recursive state, so a resumed run sets the same rates.
            let step = epoch * steps + s
            let warm = Int(((c.warmup ?? 0) * Double(steps)).rounded())
            if step < warm {
                try opt.setLr(c.lr * Double(step + 1) / Double(warm), group: 0)
            } else if c.schedule == "cosine" {
                let progress = Double(step - warm) / Double(max(totalSteps - warm, 1))
                try opt.setLr(c.lr * 0.5 * (1 + Foundation.cos(Double.pi * progress)), group: 0)
            } else if warm > 0 {
                try opt.setLr(c.lr, group: 0)
            }
            let l: Double
            if let ddp {
                // This rank's share of the global batch; its summed loss over the global count,
                // so the ranks' averaged gradient is the gradient of the global batch's mean.
                let part = World.share(x.shape[0])
                let total = Double(y.count)
                let empty = part.isEmpty  // fewer images than ranks: a weightless stand-in
                let xr = try narrow(x, dim: 0, start: empty ? 0 : part.lowerBound, length: empty ? 1 : part.count)
                let yr = try narrow(y, dim: 0, start: empty ? 0 : part.lowerBound, length: empty ? 1 : part.count)
                try ddp.prepareForward()
                let lossSum = try crossEntropy(try model.forward(xr, c.T), yr, reduction: .sum)
                let loss = try mul(lossSum, empty ? 0 : Double(World.size) / total)
                opt.zeroGrad()
                try loss.backward()
                try opt.step()
                l = try World.sum([empty ? 0 : Double(try lossSum.item())])[0] / total
            } else {
                let loss = try crossEntropy(try model.forward(x, c.T), y)
                opt.zeroGrad()
                try loss.backward()
                try opt.step()
                l = Double(try loss.item())
            }
            guard l.isFinite else {
                throw DFMError(
                    .stateError, "training diverged at epoch \(epoch + 1) step \(s + 1) (loss \(l)); try a lower --lr")
            }
            losses.append(l)
            if !quiet { bar.update(step: s + 1, loss: Float(l), images: (s + 1) * c.batchSize) }
        }
        try ddp?.syncBuffers()  // rank 0's BatchNorm statistics on every rank: the ones evaluated and saved
        let ev =
            evalEveryEpoch || epoch == c.epochs - 1
            ? try evaluate(model, data, data.testIndices, T: c.T, batchSize: data.segmentation ? 16 : 256)
            : EvalResult(loss: .nan, score: .nan)
        let rec = EpochRecord(
            epoch: epoch + 1, trainLoss: losses.reduce(0, +) / Double(max(losses.count, 1)), testLoss: ev.loss,
            testScore: ev.score, metric: data.metric, seconds: Date().timeIntervalSince(t0), stepLosses: losses)
        history.append(rec)
        if !quiet {
            if rec.testScore.isNaN {
                print(String(format: "epoch %d: train loss %.4f (%.0f s)", rec.epoch, rec.trainLoss, rec.seconds))
            } else {
                print(
                    String(
                        format: "epoch %d: train loss %.4f, test loss %.4f, test %@ %.2f%% (%d test images, %.0f s)",
                        rec.epoch, rec.trainLoss, rec.testLoss, rec.metric, 100 * rec.testScore, data.testIndices.count,
                        rec.seconds))
            }
        }
        if let checkpoint = writeCheckpoint {
            try Checkpoint.save(
                checkpoint, model: model.module, optimizer: opt, config: c, epoch: epoch + 1, history: history)
        }
        if let plot = writePlot {
            try trainingPlot(history, title: "Training \(c.model), T \(c.T), fb_filters \(c.fbFilters)").write(plot)
        }
    }
    return (model, history)
}

/// Loss per step and the test score per epoch on one chart; the score is drawn as an error
/// (1 - accuracy or 1 - mIoU) so both curves fall on the same axis.
func trainingPlot(_ h: [EpochRecord], title: String) -> LinePlot {
    var p = LinePlot(title: title, xLabel: "Epoch", yLabel: "Loss / test error")
    var xs: [Double] = []
    var ys: [Double] = []
    for r in h {
        let n = r.stepLosses.count
        for (k, l) in r.stepLosses.enumerated() {
            xs.append(Double(r.epoch - 1) + Double(k + 1) / Double(n))
            ys.append(l)
        }
    }
    p.add("train loss", xs: xs, ys: ys)
    p.add("test loss", xs: h.map { Double($0.epoch) }, ys: h.map(\.testLoss))
    p.add(
        "test error (1 - \(h.first?.metric ?? "score"))", xs: h.map { Double($0.epoch) }, ys: h.map { 1 - $0.testScore }
    )
    return p
}
