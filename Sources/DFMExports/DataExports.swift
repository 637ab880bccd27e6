import CDFM
import DFM

// Image-classification datasets in the MNIST IDX layout.

public typealias DatasetOut = UnsafeMutablePointer<dfm_dataset?>?

/// What a dataset handle can name: indexed (image, label) items fetched in batches.
protocol BatchDataset: AnyObject {
    var count: Int { get }
    var imageSize: (height: Int, width: Int) { get }
    func batch(_ indices: [Int]) throws -> (images: Tensor, labels: Tensor)
}

extension IDXDataset: BatchDataset {
    var imageSize: (height: Int, width: Int) { (height, width) }
}

extension SegmentationScenes: BatchDataset {
    var imageSize: (height: Int, width: Int) { (canvas, canvas) }
}

extension Arg {
    static func dataset(_ h: dfm_dataset?, _ name: String) throws -> BatchDataset {
        let object: AnyObject = try self.object(h, .dataset, name)
        guard let d = object as? BatchDataset else {
            throw ABIError(.internal, "argument '\(name)' holds a \(type(of: object)), not a dataset")
        }
        return d
    }
}

/// Batches of `indices` into the two tensor outs (both NULL unless the call succeeds).
private func batchOut(
    _ fn: StaticString, _ images: TensorOut, _ labels: TensorOut,
    _ body: () throws -> (images: Tensor, labels: Tensor)
) -> dfm_status {
    guarded(fn) {
        // Both outputs are NULL on failure, also when the other pointer is the bad argument.
        images?.pointee = nil
        labels?.pointee = nil
        let oi = try Arg.out(images, "images")
        let ol = try Arg.out(labels, "labels")
        let (x, y) = try body()
        oi.pointee = Handles.make(x, .tensor)
        ol.pointee = Handles.make(y, .tensor)
    }
}

@c @implementation public func dfm_dataset_idx_open(
    _ images_path: UnsafePointer<CChar>?, _ labels_path: UnsafePointer<CChar>?,
    _ out: DatasetOut
) -> dfm_status {
    produce("dfm_dataset_idx_open", out, .dataset) {
        try IDXDataset(
            images: try Arg.string(images_path, "images_path"), labels: try Arg.string(labels_path, "labels_path"))
    }
}

@c @implementation public func dfm_dataset_idx_open_root(
    _ root: UnsafePointer<CChar>?, _ train: Bool, _ out: DatasetOut
) -> dfm_status {
    produce("dfm_dataset_idx_open_root", out, .dataset) {
        try IDXDataset(root: try Arg.string(root, "root"), train: train)
    }
}

@c @implementation public func dfm_dataset_release(_ d: dfm_dataset?) -> dfm_status {
    guarded("dfm_dataset_release") { try Handles.release(d, .dataset, "d") }
}

@c @implementation public func dfm_dataset_len(_ d: dfm_dataset?, _ out: UnsafeMutablePointer<Int64>?) -> dfm_status {
    produceValue("dfm_dataset_len", out) { Int64(try Arg.dataset(d, "d").count) }
}

@c @implementation public func dfm_dataset_image_size(
    _ d: dfm_dataset?, _ height: UnsafeMutablePointer<Int64>?,
    _ width: UnsafeMutablePointer<Int64>?
) -> dfm_status {
    guarded("dfm_dataset_image_size") {
        let size = try Arg.dataset(d, "d").imageSize
        let h = try Arg.out(height, "height")
        let w = try Arg.out(width, "width")
        h.pointee = Int64(size.height)
        w.pointee = Int64(size.width)
    }
}

@c @implementation public func dfm_dataset_batch(
    _ d: dfm_dataset?, _ indices: Dims, _ n: Int64, _ images: TensorOut,
    _ labels: TensorOut
) -> dfm_status {
    batchOut("dfm_dataset_batch", images, labels) {
        let ds = try Arg.dataset(d, "d")
        let idx = try Arg.ints(indices, n, "indices", countName: "n", limit: 1 << 24)
        return try ds.batch(idx)
    }
}

@c @implementation public func dfm_dataset_batch_range(
    _ d: dfm_dataset?, _ start: Int64, _ count: Int64, _ shuffle: Bool, _ seed: UInt64,
    _ images: TensorOut, _ labels: TensorOut
) -> dfm_status {
    batchOut("dfm_dataset_batch_range", images, labels) {
        let ds = try Arg.dataset(d, "d")
        let n = Int64(ds.count)
        guard start >= 0, start < n else {
            throw ABIError(.indexError, "start \(start) is out of range for a dataset of \(n) items")
        }
        guard count >= 1 else { throw ABIError(.invalidArgument, "count must be positive, got \(count)") }
        let end = Int(start + Swift.min(count, n - start))
        let order: [Int]
        if shuffle {
            let perm = try randperm(ds.count, generator: Generator(seed: seed))
            order = perm.toInt64Array()[Int(start)..<end].map { Int($0) }
        } else {
            order = Array(Int(start)..<end)
        }
        return try ds.batch(order)
    }
}

@c @implementation public func dfm_dataset_segmentation_scenes(
    _ source: dfm_dataset?, _ count: Int64, _ seed: UInt64, _ canvas: Int64, _ min_objects: Int64, _ max_objects: Int64,
    _ threshold: Double, _ source_classes: Int64, _ out: DatasetOut
) -> dfm_status {
    produce("dfm_dataset_segmentation_scenes", out, .dataset) {
        let src: AnyObject = try Arg.object(source, .dataset, "source")
        guard let idx = src as? IDXDataset else {
            throw ABIError(
                .typeError,
                "argument 'source' must be an IDX dataset (from dfm_dataset_idx_open*), got \(type(of: src))")
        }
        return try SegmentationScenes(
            source: idx, count: try Arg.size(count, "count"), seed: seed,
            canvas: try Arg.size(canvas, "canvas"), minObjects: try Arg.size(min_objects, "min_objects"),
            maxObjects: try Arg.size(max_objects, "max_objects"), threshold: Float(threshold),
            sourceClasses: try Arg.size(source_classes, "source_classes"))
    }
}
