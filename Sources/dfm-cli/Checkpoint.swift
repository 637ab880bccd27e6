import DFM
import Foundation

/// A training checkpoint: one safetensors file holding the model's state_dict under
/// `model.`, the optimizer's state under `optim.`, and the run's config, epoch and
/// history as metadata. Written atomically, so a kill never leaves a half file.
struct Checkpoint {
    var config: RunConfig
    var epoch: Int  // completed epochs
    var history: [EpochRecord]

    /// Sorted keys: the same run writes byte-identical metadata.
    static let json: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func save(
        _ path: String, model: Module, optimizer: Optimizer, config: RunConfig, epoch: Int, history: [EpochRecord]
    ) throws {
        var tensors: [String: Tensor] = [:]
        for (k, t) in model.stateDict() { tensors["model." + k] = t }
        let os = try optimizer.stateDict()
        for (k, t) in os.tensors { tensors["optim." + k] = t }
        var meta: [String: String] = ["format": "dfm-checkpoint-1", "epoch": String(epoch)]
        // Which BatchNorm statistics the model holds (issue 19): "shared" or "per-step".
        meta["bn_statistics"] = config.bnPerStep == true ? "per-step" : "shared"
        meta["config"] = String(decoding: try Checkpoint.json.encode(config), as: UTF8.self)
        meta["history"] = String(decoding: try Checkpoint.json.encode(history), as: UTF8.self)
        for (k, v) in os.metadata { meta["optim." + k] = v }
        try SafeTensors.write(tensors, to: path, metadata: meta)
    }

    /// Reads the header part; `restore` loads tensors into a model and optimizer.
    static func load(_ path: String) throws -> (Checkpoint, [String: Tensor], [String: String]) {
        let (tensors, meta) = try SafeTensors.read(path)
        guard meta["format"] == "dfm-checkpoint-1", let e = meta["epoch"].flatMap(Int.init), e >= 0,
            let c = meta["config"]?.data(using: .utf8), let h = meta["history"]?.data(using: .utf8),
            let config = try? JSONDecoder().decode(RunConfig.self, from: c),
            let history = try? JSONDecoder().decode([EpochRecord].self, from: h)
        else {
            throw DFMError(.ioError, "checkpoint: '\(path)' is not a dfm training checkpoint")
        }
        return (Checkpoint(config: config, epoch: e, history: history), tensors, meta)
    }

    static func restore(model: Module, optimizer: Optimizer?, tensors: [String: Tensor], meta: [String: String]) throws
    {
        var ms: [String: Tensor] = [:]
        var os: [String: Tensor] = [:]
        var om: [String: String] = [:]
        for (k, t) in tensors {
            if k.hasPrefix("model.") {
                ms[String(k.dropFirst(6))] = t
            } else if k.hasPrefix("optim.") {
                os[String(k.dropFirst(6))] = t
            }
        }
        for (k, v) in meta where k.hasPrefix("optim.") { om[String(k.dropFirst(6))] = v }
        _ = try model.loadStateDict(ms, strict: true)
        if let optimizer { try optimizer.loadStateDict(OptimizerState(tensors: os, metadata: om)) }
    }
}

struct EpochRecord: Codable {
    var epoch: Int
    var trainLoss: Double
    var testLoss: Double
    var testScore: Double  // accuracy, or mIoU for segmentation
    var metric: String
    var seconds: Double
    var stepLosses: [Double]
}
