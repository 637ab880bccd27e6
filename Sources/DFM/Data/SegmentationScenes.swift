import Foundation

/// A segmentation task built from an image-classification dataset in the IDX layout
/// (Fashion-MNIST): each scene is a square grey canvas with 2–4 garments pasted at
/// random positions. A garment pixel (value > `threshold`) takes the garment's value
/// and the label `class + 1`; every other pixel is background, label 0. Later garments
/// cover earlier ones. Scene `i` depends only on (`seed`, `i`), so scenes can be read
/// in any order, and a train/test split follows the source split it is built from
/// (`fashionMNIST(train:)` uses Fashion-MNIST's own train and t10k files).
public final class SegmentationScenes {
    public let source: IDXDataset
    public let count: Int
    public let seed: UInt64
    public let canvas: Int
    public let minObjects: Int
    public let maxObjects: Int
    public let threshold: Float
    /// Classes of the source (10 for Fashion-MNIST); scene labels go up to this value.
    public let sourceClasses: Int

    /// Background plus one label per source class.
    public var numClasses: Int { sourceClasses + 1 }

    /// - Parameters:
    ///   - source: the garments (their labels must be in 0..<sourceClasses).
    ///   - count: number of scenes.
    ///   - canvas: side of the square scene; must hold one source image.
    public init(
        source: IDXDataset, count: Int, seed: UInt64, canvas: Int = 64, minObjects: Int = 2,
        maxObjects: Int = 4, threshold: Float = 0.2, sourceClasses: Int = 10
    ) throws {
        let op = "SegmentationScenes"
        guard count >= 0, count <= 1 << 31 else {
            throw DFMError.invalid(op, "count must be in 0...2^31, got \(count)")
        }
        guard canvas <= 4096 else { throw DFMError.invalid(op, "canvas must be at most 4096, got \(canvas)") }
        guard source.count > 0 else { throw DFMError.invalid(op, "the source dataset is empty") }
        guard canvas >= source.height, canvas >= source.width else {
            throw DFMError.invalid(
                op, "canvas \(canvas) is smaller than the source images (\(source.height)x\(source.width))")
        }
        guard minObjects >= 1, maxObjects >= minObjects, maxObjects <= 64 else {
            throw DFMError.invalid(
                op, "need 1 <= min_objects <= max_objects <= 64, got \(minObjects) and \(maxObjects)")
        }
        guard threshold >= 0, threshold < 1 else {
            throw DFMError.invalid(op, "threshold must be in [0, 1), got \(threshold)")
        }
        guard sourceClasses > 0 else {
            throw DFMError.invalid(op, "source_classes must be positive, got \(sourceClasses)")
        }
        self.source = source
        self.count = count
        self.seed = seed
        self.canvas = canvas
        self.minObjects = minObjects
        self.maxObjects = maxObjects
        self.threshold = threshold
        self.sourceClasses = sourceClasses
    }

    /// Scenes from Fashion-MNIST's train (`train`) or test split in `root`.
    public static func fashionMNIST(
        root: String = IDXDataset.fashionMNISTRoot, train: Bool, count: Int, seed: UInt64,
        canvas: Int = 64
    ) throws -> SegmentationScenes {
        try SegmentationScenes(
            source: try IDXDataset(root: root, train: train), count: count, seed: seed, canvas: canvas)
    }

    /// What scene `index` is made of: (source image index, row, column) per garment, in paste order.
    public func layout(_ index: Int) throws -> [(image: Int, row: Int, col: Int)] {
        guard index >= 0, index < count else {
            throw DFMError.index("SegmentationScenes", "scene \(index) is out of range for \(count) scenes")
        }
        // One generator per scene, keyed by (seed, index) through SplitMix64's finaliser.
        var z = seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        let g = Generator(seed: z ^ (z >> 31))
        let n = minObjects + Int(g.integer(below: UInt64(maxObjects - minObjects + 1)))
        return (0..<n).map { _ in
            let img = Int(g.integer(below: UInt64(source.count)))
            let r = Int(g.integer(below: UInt64(canvas - source.height + 1)))
            let c = Int(g.integer(below: UInt64(canvas - source.width + 1)))
            return (img, r, c)
        }
    }

    /// Images (B, 1, canvas, canvas) in [0, 1] and labels (B, canvas, canvas) int64 for `indices`.
    public func batch(_ indices: [Int]) throws -> (images: Tensor, labels: Tensor) {
        let hw = canvas * canvas
        let x = try Tensor.zeros([indices.count, 1, canvas, canvas])
        let y = try Tensor.zeros([indices.count, canvas, canvas], dtype: .int64)
        for (b, index) in indices.enumerated() {
            let objects = try layout(index)
            let (garments, classes) = try source.batch(objects.map { $0.image })
            let xp = x.f + b * hw
            let yp = y.i + b * hw
            let sh = source.height
            let sw = source.width
            for (k, o) in objects.enumerated() {
                let cls = classes.i[k]
                guard cls >= 0, cls < Int64(sourceClasses) else {
                    throw DFMError.invalid(
                        "SegmentationScenes", "source image \(o.image) has label \(cls), outside 0..<\(sourceClasses)")
                }
                let gp = garments.f + k * sh * sw
                for r in 0..<sh {
                    for c in 0..<sw {
                        let v = gp[r * sw + c]
                        guard v > threshold else { continue }
                        let dst = (o.row + r) * canvas + o.col + c
                        xp[dst] = v
                        yp[dst] = cls + 1
                    }
                }
            }
        }
        return (x, y)
    }
}
