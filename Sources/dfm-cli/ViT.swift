import DFM

/// `--model vit` options (docs/MODELS.md §7); stored in the run config (nil for other models, so
/// checkpoints of other models keep their config).
struct ViTConfig: Codable, Equatable {
    var dim = 128
    var depth = 2
    var heads = 4
    var patch = 7
    var mlpDim = 256
}

extension ViTConfig {
    /// The options' ranges (checked before any data is read, with the other options).
    func validate() throws {
        for (name, value, limit) in [
            ("dim", dim, 4096), ("depth", depth, 64), ("heads", heads, 256), ("patch", patch, 1024),
            ("mlp-dim", mlpDim, 16384),
        ] {
            guard value >= 1, value <= limit else {
                throw DFMError(.invalidArgument, "\(name) must be in 1...\(limit), got \(value)")
            }
        }
    }
}

extension Classifier {
    /// DFM-ViT for the dataset's image size, with the run's fb-filters, tau and the ViT options.
    static func makeViT(_ c: RunConfig, _ data: DataSplit) throws -> Classifier {
        let v = c.vit ?? ViTConfig()
        try v.validate()
        let m = try DFMViT(
            imageSize: data.imageSize, patchSize: v.patch, inChannels: data.inChannels, dim: v.dim, depth: v.depth,
            heads: v.heads, mlpDim: v.mlpDim, fbFilters: c.fbFilters, nClasses: data.classes, tau: Double(c.tau))
        return Classifier(module: m, forward: { x, T in try m.forward(x, T: T) }, stepsRun: { m.stepsRun })
    }
}
