import Foundation

// Segmentation metrics from a confusion matrix: per-class IoU = TP / (TP + FP + FN),
// Dice = 2·TP / (2·TP + FP + FN), pixel accuracy. A class that appears in neither the
// targets nor the predictions has no score (NaN) and is left out of the means, as
// torchmetrics and mmseg do. Pixels whose target is `ignoreIndex` are not counted.

/// Class labels per pixel from `prediction`: int64 labels of the target's shape, or
/// float32 scores (N, C, ...) reduced by argmax over dim 1 (C must equal `numClasses`).
private func predictedLabels(_ prediction: Tensor, target: Tensor, numClasses: Int, op: String) throws -> Tensor {
    if prediction.dtype == .bool {
        throw DFMError.type(op, "prediction must be int64 labels or float32 scores, got bool")
    }
    if prediction.dtype == .int64 {
        guard prediction.shape == target.shape else {
            throw DFMError.shape(
                op, "prediction labels have shape \(prediction.shape) but target has shape \(target.shape)")
        }
        return prediction
    }
    guard prediction.ndim >= 2, prediction.shape[1] == numClasses else {
        throw DFMError.shape(
            op,
            "prediction scores must be (N, \(numClasses), ...) for num_classes=\(numClasses), got shape \(prediction.shape)"
        )
    }
    let expected = [prediction.shape[0]] + Array(prediction.shape.dropFirst(2))
    guard target.shape == expected else {
        throw DFMError.shape(
            op,
            "target shape \(target.shape) does not match prediction scores \(prediction.shape) (expected \(expected))")
    }
    return try GradMode.noGrad { try argmax(prediction, dim: 1) }
}

/// The confusion matrix (numClasses, numClasses) int64: entry [t, p] counts pixels with
/// target class t predicted as p. `prediction` is int64 labels shaped like `target`, or
/// float32 scores (N, C, ...) (argmax over C). Targets equal to `ignoreIndex` are skipped;
/// any other target or predicted label outside [0, numClasses) is an IndexError.
public func confusionMatrix(_ prediction: Tensor, _ target: Tensor, numClasses: Int, ignoreIndex: Int = -100) throws
    -> Tensor
{
    let op = "confusion_matrix"
    guard numClasses > 0 else { throw DFMError.invalid(op, "num_classes must be positive, got \(numClasses)") }
    guard target.dtype == .int64 else {
        throw DFMError.type(op, "target must be int64 class indices, got \(target.dtype)")
    }
    let labels = try predictedLabels(prediction, target: target, numClasses: numClasses, op: op)
    let cm = try Tensor.zeros([numClasses, numClasses], dtype: .int64)
    let tp = target.i
    let pp = labels.i
    let out = cm.i
    let ignore = Int64(ignoreIndex)
    let c = Int64(numClasses)
    for k in 0..<target.count {
        let t = tp[k]
        if t == ignore { continue }
        guard t >= 0, t < c else {
            throw DFMError.index(op, "Target \(t) is out of bounds (number of classes \(numClasses))")
        }
        let p = pp[k]
        guard p >= 0, p < c else {
            throw DFMError.index(op, "Predicted label \(p) is out of bounds (number of classes \(numClasses))")
        }
        out[Int(t * c + p)] += 1
    }
    return cm
}

/// Accumulates a confusion matrix over batches and reports IoU, Dice and accuracy.
public struct SegmentationMetrics {
    public let numClasses: Int
    public let ignoreIndex: Int
    /// Row-major (target, prediction) counts.
    public private(set) var confusion: [Int64]

    public init(numClasses: Int, ignoreIndex: Int = -100) throws {
        guard numClasses > 0 else {
            throw DFMError.invalid("SegmentationMetrics", "num_classes must be positive, got \(numClasses)")
        }
        self.numClasses = numClasses
        self.ignoreIndex = ignoreIndex
        confusion = [Int64](repeating: 0, count: numClasses * numClasses)
    }

    /// Adds counts gathered elsewhere (another rank's shard of a distributed evaluation).
    public mutating func merge(confusion other: [Int64]) throws {
        guard other.count == confusion.count else {
            throw DFMError.shape(
                "SegmentationMetrics", "confusion matrix of \(other.count) counts, expected \(confusion.count)")
        }
        for k in confusion.indices { confusion[k] &+= other[k] }
    }

    /// Adds a batch: int64 labels shaped like `target`, or float32 scores (N, C, ...).
    public mutating func update(_ prediction: Tensor, _ target: Tensor) throws {
        let cm = try confusionMatrix(prediction, target, numClasses: numClasses, ignoreIndex: ignoreIndex)
        for k in 0..<confusion.count { confusion[k] += cm.i[k] }
    }

    public mutating func reset() { confusion = [Int64](repeating: 0, count: numClasses * numClasses) }

    private func stats(_ c: Int) -> (tp: Double, fp: Double, fn: Double) {
        var row: Int64 = 0
        var col: Int64 = 0
        for k in 0..<numClasses {
            row += confusion[c * numClasses + k]
            col += confusion[k * numClasses + c]
        }
        let tp = confusion[c * numClasses + c]
        return (Double(tp), Double(col - tp), Double(row - tp))
    }

    /// IoU of each class; NaN for a class absent from both targets and predictions.
    public var iou: [Float] {
        (0..<numClasses).map { c in
            let s = stats(c)
            let union = s.tp + s.fp + s.fn
            return union > 0 ? Float(s.tp / union) : .nan
        }
    }

    /// Dice (F1) of each class; NaN for a class absent from both targets and predictions.
    public var dice: [Float] {
        (0..<numClasses).map { c in
            let s = stats(c)
            let denom = 2 * s.tp + s.fp + s.fn
            return denom > 0 ? Float(2 * s.tp / denom) : .nan
        }
    }

    /// Mean over the classes that have a score (NaN when none has).
    public var meanIoU: Float { SegmentationMetrics.nanMean(iou) }
    public var meanDice: Float { SegmentationMetrics.nanMean(dice) }

    /// Correct pixels / counted pixels (NaN when nothing was counted).
    public var pixelAccuracy: Float {
        var correct: Int64 = 0
        var total: Int64 = 0
        for t in 0..<numClasses {
            for p in 0..<numClasses {
                total += confusion[t * numClasses + p]
                if t == p { correct += confusion[t * numClasses + p] }
            }
        }
        return total > 0 ? Float(Double(correct) / Double(total)) : .nan
    }

    static func nanMean(_ v: [Float]) -> Float {
        let ok = v.filter { !$0.isNaN }
        guard !ok.isEmpty else { return .nan }
        return Float(ok.reduce(0.0) { $0 + Double($1) } / Double(ok.count))
    }
}

/// Per-class IoU (float32, numClasses) of one set of predictions; NaN for absent classes.
public func iouPerClass(_ prediction: Tensor, _ target: Tensor, numClasses: Int, ignoreIndex: Int = -100) throws
    -> Tensor
{
    var m = try SegmentationMetrics(numClasses: numClasses, ignoreIndex: ignoreIndex)
    try m.update(prediction, target)
    return try Tensor(m.iou, shape: [numClasses])
}

/// Per-class Dice (float32, numClasses); NaN for absent classes.
public func dicePerClass(_ prediction: Tensor, _ target: Tensor, numClasses: Int, ignoreIndex: Int = -100) throws
    -> Tensor
{
    var m = try SegmentationMetrics(numClasses: numClasses, ignoreIndex: ignoreIndex)
    try m.update(prediction, target)
    return try Tensor(m.dice, shape: [numClasses])
}

/// Mean IoU over the classes present in targets or predictions.
public func meanIoU(_ prediction: Tensor, _ target: Tensor, numClasses: Int, ignoreIndex: Int = -100) throws -> Float {
    var m = try SegmentationMetrics(numClasses: numClasses, ignoreIndex: ignoreIndex)
    try m.update(prediction, target)
    return m.meanIoU
}
