import DFM
import Foundation

/// The documented range of every numeric option (also shown by `--help`). Checked before
/// any data is read or any file written, so bad input is one `dfm: error:` line, and the
/// training loop's arithmetic (epochs × steps, step × batch size) cannot overflow.
enum Limits {
    static let T = 1...100
    static let fbFilters = 0...4096
    static let classFilters = 1...4096
    static let epochs = 1...100_000
    static let batchSize = 1...65_536
    static let threads = 0...1024
    /// Segmentation scenes generated for --train-subset / --test-subset (defaults 2000 and 500).
    static let scenes = 0...100_000
    static let trainNoise: ClosedRange<Float> = 0...100
    static let maxTau: Float = 1e6
    static let maxLr = 1e6

    static func check<T: Comparable>(_ v: T, _ range: ClosedRange<T>, _ option: String, _ note: String = "") throws {
        guard range.contains(v) else {
            throw DFMError(
                .invalidArgument, "--\(option) must be in \(range.lowerBound)...\(range.upperBound)\(note), got \(v)")
        }
    }

    static func check(_ v: Float, _ range: ClosedRange<Float>, _ option: String) throws {
        guard v.isFinite, range.contains(v) else {
            throw DFMError(
                .invalidArgument, "--\(option) must be in \(range.lowerBound)...\(range.upperBound), got \(v)")
        }
    }

    /// A positive value up to `max` (NaN and infinities refused).
    static func positive<T: BinaryFloatingPoint>(_ v: T, max: T, _ option: String) throws {
        guard v > 0, v <= max else {
            throw DFMError(.invalidArgument, "--\(option) must be > 0 and at most \(max), got \(v)")
        }
    }
}

extension RunConfig {
    /// Every option that does not depend on the dataset (DataSplit checks the subsets against it).
    func validate() throws {
        try Limits.check(T, Limits.T, "T")
        try Limits.check(fbFilters, Limits.fbFilters, "fb-filters")
        try Limits.check(classFilters, Limits.classFilters, "class-filters")
        try Limits.check(epochs, Limits.epochs, "epochs")
        try Limits.check(batchSize, Limits.batchSize, "batch-size")
        try Limits.check(threads, Limits.threads, "threads", " (0 = all cores)")
        try Limits.positive(tau, max: Limits.maxTau, "tau")
        try Limits.positive(lr, max: Limits.maxLr, "lr")
        try Limits.check(trainNoise, Limits.trainNoise, "train-noise")
        guard trainSubset >= 0 else {
            throw DFMError(.invalidArgument, "--train-subset must be >= 0 (0 = all), got \(trainSubset)")
        }
        guard testSubset >= 0 else {
            throw DFMError(.invalidArgument, "--test-subset must be >= 0 (0 = all), got \(testSubset)")
        }
        guard samplesPerClass >= 0 else {
            throw DFMError(.invalidArgument, "--samples-per-class must be >= 0 (0 = not used), got \(samplesPerClass)")
        }
        guard ["resnet18", "resnet34", "resnet50", "vit", "deeplabv3plus"].contains(model) else {
            throw DFMError(
                .invalidArgument,
                "unknown model '\(model)' (expected resnet18, resnet34, resnet50, vit or deeplabv3plus)")
        }
        try vit?.validate()
        if let w = warmup, !(w.isFinite && w >= 0 && w <= Double(epochs)) {
            throw DFMError(.invalidArgument, "--warmup must be in 0...\(epochs) epochs (the run's length), got \(w)")
        }
        if bnPerStep == true && model == "vit" {
            throw DFMError(
                .invalidArgument,
                "--bn-per-step: vit has no BatchNorm (LayerNorm only); the option applies to resnet18/34/50 and deeplabv3plus"
            )
        }
        guard ["adam", "adamw", "sgd"].contains(optimizer) else {
            throw DFMError(.invalidArgument, "unknown optimizer '\(optimizer)' (expected adam, adamw or sgd)")
        }
        guard schedule == "cosine" || schedule == "constant" else {
            throw DFMError(.invalidArgument, "unknown schedule '\(schedule)' (expected cosine or constant)")
        }
    }
}

/// Steps per epoch for `count` items in batches of `batchSize` (no `count + batchSize - 1`).
func stepsPerEpoch(_ count: Int, _ batchSize: Int) -> Int {
    count / batchSize + (count % batchSize == 0 ? 0 : 1)
}

/// Fails now, before any training, if `path` cannot be written at the end of an epoch:
/// it is a directory or another non-regular file, or its folder is missing or not writable
/// (probed by creating and removing a file there, which also catches read-only mounts).
func checkWritable(_ path: String, option: String) throws {
    var st = stat()
    if stat(path, &st) == 0 {
        if st.st_mode & S_IFMT == S_IFDIR { throw DFMError(.invalidArgument, "--\(option) '\(path)' is a directory") }
        if st.st_mode & S_IFMT != S_IFREG {
            throw DFMError(.invalidArgument, "--\(option) '\(path)' is not a regular file")
        }
    }
    let dir = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
        throw DFMError(.notFound, "--\(option) '\(path)': folder '\(dir)' does not exist and could not be created")
    }
    let probe = "\(dir)/.dfm-write-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    guard fd >= 0 else {
        throw DFMError(
            .ioError, "--\(option) '\(path)': cannot write in folder '\(dir)': \(String(cString: strerror(errno)))")
    }
    close(fd)
    unlink(probe)
}

/// A comma-separated list of whole numbers in `range` (--per-class).
func parseCounts(_ s: String, _ option: String, _ range: ClosedRange<Int>) throws -> [Int] {
    try s.split(separator: ",").map { part in
        let t = part.trimmingCharacters(in: .whitespaces)
        guard let v = Int(t), range.contains(v) else {
            throw DFMError(
                .invalidArgument, "\(option): '\(t)' is not a whole number in \(range.lowerBound)...\(range.upperBound)"
            )
        }
        return v
    }
}
