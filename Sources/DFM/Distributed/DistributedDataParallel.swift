import Foundation

/// The gradient side of torch's DistributedDataParallel, for any set of parameters (a Swift
/// Module's, or a Python model's tensors): rank 0's parameters and buffers are broadcast at
/// creation; after each backward every gradient is the average over ranks.
///
/// Gradients go into flat buckets (about `bucketCapBytes` each, parameters in reverse order
/// as torch, since backward produces the last layers' gradients first). A bucket's
/// MPI_Iallreduce starts as soon as backward has finished every gradient in it, while
/// backward computes the rest; buckets start in index order on every rank (MPI needs the
/// same collective order everywhere). At the end of backward the reducer waits for all of
/// them and writes the averages back as the parameters' `.grad`. As torch, each gradient is
/// multiplied by 1/world_size while copied into its bucket, then summed.
public final class GradReducer: GradObserver {
    private struct Bucket {
        var members: [Int]  // indices into params
        var offsets: [Int]  // element offset of each member in flat
        var flat: Tensor
        var ready = 0
    }
    private let params: [Tensor]
    private let buffers: [Tensor]
    private var buckets: [Bucket] = []
    private var bucketOf: [ObjectIdentifier: Int] = [:]
    private var readyParams = Set<ObjectIdentifier>()
    private var requests: [MPILibrary.Handle?] = []
    private var nextBucket = 0
    private var armed = false
    private var failure: DFMError?
    public let broadcastBuffers: Bool
    public let worldSize: Int
    public let rank: Int
    /// Seconds spent in communication outside backward's own compute: copies into buckets,
    /// starting reductions, and waiting for them after backward (the all-reduce's share of a step).
    public private(set) var commSeconds: Double = 0
    /// Backward passes whose gradients were reduced.
    public private(set) var reductions = 0

    /// `parameters`: those requiring grad are reduced; all are broadcast from rank 0.
    public init(parameters: [Tensor], buffers: [Tensor], bucketCapBytes: Int = 25 << 20, broadcastBuffers: Bool = true)
        throws
    {
        let (mpi, rank, size) = try Distributed.group("DistributedDataParallel")
        guard bucketCapBytes > 0 else {
            throw DFMError.invalid(
                "DistributedDataParallel", "bucket_cap_mb must be positive, got \(bucketCapBytes) bytes")
        }
        var seen = Set<ObjectIdentifier>()
        params = parameters.filter { seen.insert(ObjectIdentifier($0)).inserted }
        self.buffers = buffers.filter { seen.insert(ObjectIdentifier($0)).inserted }
        self.broadcastBuffers = broadcastBuffers
        self.worldSize = size
        self.rank = rank
        for t in params + self.buffers where !t.isLeaf {
            throw DFMError.invalid("DistributedDataParallel", "parameters and buffers must be leaf tensors")
        }
        // Rank 0's state everywhere, whatever each rank's seed was.
        for t in params + self.buffers where t.byteCount > 0 {
            try Distributed.broadcastRaw(mpi, t.rawPointer, bytes: t.byteCount, src: 0, "DistributedDataParallel")
        }
        // Buckets: reverse parameter order, one dtype per bucket, at most bucketCapBytes (a
        // larger tensor gets a bucket of its own).
        var current: [Int] = []
        var bytes = 0
        func close() throws {
            guard !current.isEmpty else { return }
            var offsets: [Int] = []
            var n = 0
            for k in current {
                offsets.append(n)
                n += params[k].count
            }
            let flat = try Tensor.zeros([n], dtype: params[current[0]].dtype)
            for k in current { bucketOf[ObjectIdentifier(params[k])] = buckets.count }
            buckets.append(Bucket(members: current, offsets: offsets, flat: flat))
            current = []
            bytes = 0
        }
        for k in stride(from: params.count - 1, through: 0, by: -1) where params[k].requiresGrad {
            let p = params[k]
            if let first = current.first, params[first].dtype != p.dtype || bytes + p.byteCount > bucketCapBytes {
                try close()
            }
            current.append(k)
            bytes += p.byteCount
        }
        try close()
        GradObservers.watch(params.filter { $0.requiresGrad }, by: self)
    }

    deinit { GradObservers.unwatch(params.map { ObjectIdentifier($0) }) }

    public var bucketCount: Int { buckets.count }

    /// Before each forward that will be differentiated: BatchNorm statistics (every buffer)
    /// from rank 0 (torch's broadcast_buffers=True), and arm the reducer for the next backward.
    public func prepareForward() throws {
        guard GradMode.isEnabled else { return }
        if broadcastBuffers { try syncBuffers() }
        armed = true
    }

    /// Every buffer from rank 0 now. After training, each rank's BatchNorm statistics hold its
    /// own last batch; syncing before an evaluation makes every rank use rank 0's (the ones
    /// its checkpoint saves).
    public func syncBuffers() throws {
        guard worldSize > 1 else { return }
        let (mpi, _, _) = try Distributed.group("DistributedDataParallel")
        let t0 = DispatchTime.now().uptimeNanoseconds
        for b in buffers where b.byteCount > 0 {
            try Distributed.broadcastRaw(mpi, b.rawPointer, bytes: b.byteCount, src: 0, "DistributedDataParallel")
        }
        commSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
    }

    // MARK: GradObserver

    func gradReady(_ leaf: Tensor) {
        guard armed, failure == nil, let b = bucketOf[ObjectIdentifier(leaf)],
            readyParams.insert(ObjectIdentifier(leaf)).inserted
        else { return }
        buckets[b].ready += 1
        do { try launchReady(all: false) } catch { fail(error) }
    }

    func backwardFinished() throws {
        guard armed else { return }
        armed = false
        defer {
            readyParams.removeAll()
            nextBucket = 0
            requests.removeAll()
            for b in buckets.indices { buckets[b].ready = 0 }
        }
        if let f = failure {
            failure = nil
            throw f
        }
        try launchReady(all: true)
        let t0 = DispatchTime.now().uptimeNanoseconds
        if worldSize > 1 && !requests.isEmpty {
            let mpi = try MPILibrary.get()
            let n = Int32(requests.count)
            let rc = requests.withUnsafeMutableBufferPointer { mpi.waitall(n, $0.baseAddress!, nil) }
            try mpi.check(rc, "DistributedDataParallel: gradient all_reduce")
        }
        // New grad tensors (a rule may have handed the same gradient object to several leaves).
        for bucket in buckets {
            for (k, off) in zip(bucket.members, bucket.offsets) {
                let p = params[k]
                let g = try Tensor.uninitialized(p.shape, dtype: p.dtype, op: "DistributedDataParallel")
                g.rawPointer.copyMemory(from: bucket.flat.rawPointer + off * p.dtype.byteSize, byteCount: p.byteCount)
                p.grad = g
            }
        }
        commSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        reductions += 1
    }

    func backwardAbandoned() {
        // Let started reductions finish so the buckets' memory is not written later.
        if worldSize > 1, !requests.isEmpty, let mpi = try? MPILibrary.get() {
            let n = Int32(requests.count)
            _ = requests.withUnsafeMutableBufferPointer { mpi.waitall(n, $0.baseAddress!, nil) }
        }
        armed = false
        failure = nil
        readyParams.removeAll()
        nextBucket = 0
        requests.removeAll()
        for b in buckets.indices { buckets[b].ready = 0 }
    }

    private func fail(_ error: Error) {
        failure = (error as? DFMError) ?? DFMError(.internal, "DistributedDataParallel: \(error)")
    }

    /// Starts buckets in order while the next one is complete (or all remaining, at the end
    /// of backward: a parameter backward did not reach contributes zeros, as torch's
    /// find_unused_parameters does, so every rank still joins every reduction).
    private func launchReady(all: Bool) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { commSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 }
        while nextBucket < buckets.count, all || buckets[nextBucket].ready == buckets[nextBucket].members.count {
            try launch(nextBucket)
            nextBucket += 1
        }
        // Open MPI progresses non-blocking collectives only inside MPI calls: poke it.
        if worldSize > 1, !requests.isEmpty, !all {
            let mpi = try MPILibrary.get()
            var flag: Int32 = 0
            let n = Int32(requests.count)
            _ = requests.withUnsafeMutableBufferPointer { mpi.testall(n, $0.baseAddress!, &flag, nil) }
        }
    }

    private func launch(_ b: Int) throws {
        let bucket = buckets[b]
        let scale = 1.0 / Double(worldSize)
        for (k, off) in zip(bucket.members, bucket.offsets) {
            let p = params[k]
            // Only a gradient this backward finished counts (an older one would be stale).
            let grad = readyParams.contains(ObjectIdentifier(p)) ? p.grad : nil
            switch p.dtype {
            case .float32:
                let dst = bucket.flat.f + off
                if let g = grad {
                    let s = g.f
                    let c = Float(scale)
                    for i in 0..<p.count { dst[i] = s[i] * c }
                } else {
                    dst.update(repeating: 0, count: p.count)
                }
            case .float64:
                let dst = bucket.flat.d + off
                if let g = grad {
                    let s = g.d
                    for i in 0..<p.count { dst[i] = s[i] * scale }
                } else {
                    dst.update(repeating: 0, count: p.count)
                }
            default:
                throw DFMError(.internal, "DistributedDataParallel: parameter of dtype \(p.dtype)")
            }
        }
        guard worldSize > 1 else { return }
        let mpi = try MPILibrary.get()
        guard bucket.flat.count <= Int(Int32.max) else {
            throw DFMError.invalid(
                "DistributedDataParallel", "a bucket of \(bucket.flat.count) elements exceeds MPI's count limit")
        }
        var req: MPILibrary.Handle? = nil
        try mpi.check(
            mpi.iallreduce(
                MPILibrary.inPlace, bucket.flat.rawPointer, Int32(bucket.flat.count),
                Distributed.mpiType(mpi, bucket.flat.dtype, "DistributedDataParallel"), mpi.opSum,
                mpi.commWorld, &req), "DistributedDataParallel: gradient all_reduce")
        requests.append(req)
    }
}

/// torch.nn.parallel.DistributedDataParallel for a Swift module: `module` is the wrapped
/// model (its state dict keys get the "module." prefix, as torch's); forward broadcasts
/// buffers and arms the reducer, then runs the module. Models with another entry point
/// (a DFM model's `forwardDFM`) call `prepareForward()` before it.
public final class DistributedDataParallel: Module {
    public let module: Module
    public let reducer: GradReducer

    public init(_ module: Module, bucketCapMB: Double = 25, broadcastBuffers: Bool = true) throws {
        guard bucketCapMB.isFinite, bucketCapMB > 0, bucketCapMB < 1_048_576 else {
            throw DFMError.invalid(
                "DistributedDataParallel", "bucket_cap_mb must be positive and finite, got \(bucketCapMB)")
        }
        self.module = module
        reducer = try GradReducer(
            parameters: module.parameters(), buffers: module.buffers(),
            bucketCapBytes: Int(bucketCapMB * 1_048_576), broadcastBuffers: broadcastBuffers)
        super.init()
        try registerModule("module", module)
    }

    public func prepareForward() throws { try reducer.prepareForward() }

    public override func forward(_ x: Tensor) throws -> Tensor {
        try reducer.prepareForward()
        return try module.forward(x)
    }
}

/// The tensors of a model that lives outside the Swift core (a Python module): the
/// `module` of a DistributedDataParallel made from parameter and buffer lists. It has
/// no forward; the caller runs its own model after `prepareForward()`.
final class TensorSet: Module {
    init(parameters: [Tensor], buffers: [Tensor]) throws {
        super.init()
        for (k, p) in parameters.enumerated() { try registerParameter("p\(k)", p, requiresGrad: p.requiresGrad) }
        for (k, b) in buffers.enumerated() { try registerBuffer("b\(k)", b) }
    }
    override var typeName: String { "TensorSet" }
}

extension DistributedDataParallel {
    /// DDP over a parameter list and a buffer list (a model defined outside the core).
    public convenience init(
        parameters: [Tensor], buffers: [Tensor], bucketCapMB: Double = 25, broadcastBuffers: Bool = true
    ) throws {
        try self.init(
            try TensorSet(parameters: parameters, buffers: buffers), bucketCapMB: bucketCapMB,
            broadcastBuffers: broadcastBuffers)
    }
}
