/// torch.utils.data.distributed.DistributedSampler: the indices of a dataset this rank
/// reads in one epoch. Every rank gets `numSamples` indices; together they cover the
/// dataset once (padded by repeating the first indices, or cut with `dropLast`). With
/// `shuffle` the order is a permutation seeded by seed + epoch, the same on every rank
/// (dfm's generator, so the permutation itself differs from torch's).
public struct DistributedSampler: Sendable {
    public let datasetLength: Int
    public let numReplicas: Int
    public let rank: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let dropLast: Bool
    /// torch's set_epoch: change it before each epoch for a new order.
    public var epoch: Int = 0

    public init(
        datasetLength: Int, numReplicas: Int, rank: Int, shuffle: Bool = true, seed: UInt64 = 0, dropLast: Bool = false
    ) throws {
        guard datasetLength >= 0 else {
            throw DFMError.invalid("DistributedSampler", "dataset length must be non-negative, got \(datasetLength)")
        }
        guard numReplicas >= 1 else {
            throw DFMError.invalid("DistributedSampler", "num_replicas must be at least 1, got \(numReplicas)")
        }
        guard rank >= 0, rank < numReplicas else {
            throw DFMError.invalid(
                "DistributedSampler", "Invalid rank \(rank), rank should be in the interval [0, \(numReplicas - 1)]")
        }
        self.datasetLength = datasetLength
        self.numReplicas = numReplicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.dropLast = dropLast
    }

    /// Indices per rank per epoch (torch's num_samples).
    public var numSamples: Int {
        if dropLast && datasetLength % numReplicas != 0 {
            return (datasetLength - numReplicas + numReplicas - 1) / numReplicas  // ceil((n - r) / r)
        }
        return (datasetLength + numReplicas - 1) / numReplicas
    }

    public var totalSize: Int { numSamples * numReplicas }

    /// This rank's indices for `epoch`.
    public func indices() throws -> [Int] {
        var all: [Int]
        if shuffle {
            let g = Generator(seed: seed &+ UInt64(bitPattern: Int64(epoch)))
            let perm = try randperm(datasetLength, generator: g)
            all = (0..<datasetLength).map { Int(perm.i[$0]) }
        } else {
            all = Array(0..<datasetLength)
        }
        let total = totalSize
        if !dropLast {
            // Pad by repeating from the start (several times when the dataset is tiny).
            let pad = total - all.count
            if pad > 0 && !all.isEmpty {
                var extra: [Int] = []
                while extra.count < pad { extra += all }
                all += extra[0..<pad]
            }
        } else {
            all = Array(all[0..<total])
        }
        guard all.count == total else { return [] }
        return Array(stride(from: rank, to: total, by: numReplicas).map { all[$0] })
    }
}
