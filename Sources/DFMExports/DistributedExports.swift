import CDFM
import DFM

// Distributed data parallel over MPI: the process group, collectives, DistributedDataParallel
// and DistributedSampler.

@c @implementation public func dfm_dist_is_available() -> Bool { Distributed.isAvailable }

@c @implementation public func dfm_dist_init(_ backend: UnsafePointer<CChar>?) -> dfm_status {
    guarded("dfm_dist_init") {
        try Distributed.initProcessGroup(backend: backend == nil ? "mpi" : try Arg.string(backend, "backend"))
    }
}

@c @implementation public func dfm_dist_is_initialized() -> Bool { Distributed.isInitialized }

@c @implementation public func dfm_dist_destroy() -> dfm_status {
    guarded("dfm_dist_destroy") { try Distributed.destroyProcessGroup() }
}

@c @implementation public func dfm_dist_rank(_ out: UnsafeMutablePointer<Int64>?) -> dfm_status {
    produceValue("dfm_dist_rank", out) { Int64(try Distributed.rank()) }
}

@c @implementation public func dfm_dist_world_size(_ out: UnsafeMutablePointer<Int64>?) -> dfm_status {
    produceValue("dfm_dist_world_size", out) { Int64(try Distributed.worldSize()) }
}

@c @implementation public func dfm_dist_all_reduce(_ t: dfm_tensor?, _ op: dfm_reduce_op) -> dfm_status {
    guarded("dfm_dist_all_reduce") {
        let tensor = try Arg.tensor(t, "t")
        guard let o = ReduceOp(rawValue: Int32(bitPattern: op.rawValue)) else {
            throw ABIError(
                .invalidArgument,
                "unknown reduce op \(op.rawValue) (expected DFM_REDUCE_SUM = 0 ... DFM_REDUCE_AVG = 4)")
        }
        try Distributed.allReduce(tensor, op: o)
    }
}

@c @implementation public func dfm_dist_broadcast(_ t: dfm_tensor?, _ src: Int64) -> dfm_status {
    guarded("dfm_dist_broadcast") {
        let tensor = try Arg.tensor(t, "t")
        guard src >= 0, src <= Int64(Int32.max) else {
            throw ABIError(.invalidArgument, "src rank must be non-negative, got \(src)")
        }
        try Distributed.broadcast(tensor, src: Int(src))
    }
}

@c @implementation public func dfm_dist_barrier() -> dfm_status {
    guarded("dfm_dist_barrier") { try Distributed.barrier() }
}

@c @implementation public func dfm_dist_all_gather(_ t: dfm_tensor?, _ out: TensorOut) -> dfm_status {
    produceTensor("dfm_dist_all_gather", out) { try Distributed.allGather(try Arg.tensor(t, "t")) }
}

private func ddpArg(_ m: dfm_module?) throws -> DistributedDataParallel {
    guard let d = try Arg.module(m, "ddp") as? DistributedDataParallel else {
        throw ABIError(.typeError, "argument 'ddp' is not a DistributedDataParallel")
    }
    return d
}

@c @implementation public func dfm_dist_ddp(
    _ module: dfm_module?, _ bucket_cap_mb: Double, _ broadcast_buffers: Bool,
    _ out: ModuleOut
) -> dfm_status {
    produce("dfm_dist_ddp", out, .module) {
        try DistributedDataParallel(
            try Arg.module(module, "module"), bucketCapMB: bucket_cap_mb, broadcastBuffers: broadcast_buffers)
    }
}

@c @implementation public func dfm_dist_ddp_tensors(
    _ params: UnsafePointer<dfm_tensor?>?, _ n_params: Int64,
    _ buffers: UnsafePointer<dfm_tensor?>?, _ n_buffers: Int64,
    _ bucket_cap_mb: Double, _ broadcast_buffers: Bool,
    _ out: ModuleOut
) -> dfm_status {
    produce("dfm_dist_ddp_tensors", out, .module) {
        let ps = try Arg.tensors(params, n_params, "params", allowEmpty: true)
        let bs = try Arg.tensors(buffers, n_buffers, "buffers", allowEmpty: true)
        for (k, p) in ps.enumerated() where !p.dtype.isFloat || !p.isLeaf {
            throw ABIError(.invalidArgument, "params[\(k)] must be a float32 or float64 leaf tensor (a parameter)")
        }
        for (k, b) in bs.enumerated() where !b.isLeaf {
            throw ABIError(.invalidArgument, "buffers[\(k)] must be a leaf tensor (not part of an autograd graph)")
        }
        return try DistributedDataParallel(
            parameters: ps, buffers: bs, bucketCapMB: bucket_cap_mb, broadcastBuffers: broadcast_buffers)
    }
}

@c @implementation public func dfm_dist_ddp_prepare_forward(_ ddp: dfm_module?) -> dfm_status {
    guarded("dfm_dist_ddp_prepare_forward") { try ddpArg(ddp).prepareForward() }
}

@c @implementation public func dfm_dist_ddp_module(_ ddp: dfm_module?, _ out: ModuleOut) -> dfm_status {
    produce("dfm_dist_ddp_module", out, .module) { try ddpArg(ddp).module }
}

@c @implementation public func dfm_dist_ddp_stats(
    _ ddp: dfm_module?, _ comm_seconds: UnsafeMutablePointer<Double>?,
    _ reductions: UnsafeMutablePointer<Int64>?
) -> dfm_status {
    guarded("dfm_dist_ddp_stats") {
        let s = try Arg.out(comm_seconds, "comm_seconds")
        let r = try Arg.out(reductions, "reductions")
        let d = try ddpArg(ddp)
        s.pointee = d.reducer.commSeconds
        r.pointee = Int64(d.reducer.reductions)
    }
}

@c @implementation public func dfm_dist_sampler_indices(
    _ dataset_len: Int64, _ num_replicas: Int64, _ rank: Int64, _ shuffle: Bool,
    _ seed: UInt64, _ epoch: Int64, _ drop_last: Bool,
    _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_dist_sampler_indices", out) {
        guard dataset_len >= 0, dataset_len <= Int64(Arg.maxElements) else {
            throw ABIError(.invalidArgument, "dataset_len must be in 0...\(Arg.maxElements), got \(dataset_len)")
        }
        guard num_replicas >= 1, num_replicas <= 1 << 24 else {
            throw ABIError(.invalidArgument, "num_replicas must be in 1...\(1 << 24), got \(num_replicas)")
        }
        guard epoch >= 0 else { throw ABIError(.invalidArgument, "epoch must be non-negative, got \(epoch)") }
        guard rank >= 0, rank < num_replicas else {
            throw ABIError(
                .invalidArgument, "Invalid rank \(rank), rank should be in the interval [0, \(num_replicas - 1)]")
        }
        var s = try DistributedSampler(
            datasetLength: Int(dataset_len), numReplicas: Int(num_replicas), rank: Int(rank),
            shuffle: shuffle, seed: seed, dropLast: drop_last)
        s.epoch = Int(epoch)
        let idx = try s.indices()
        return try Tensor(int64: idx.map { Int64($0) }, shape: [idx.count])
    }
}
