import Foundation

/// torch.distributed.ReduceOp (the values are the C ABI's dfm_reduce_op).
public enum ReduceOp: Int32, Sendable {
    case sum = 0
    case product = 1
    case min = 2
    case max = 3
    /// Sum divided by the world size; float tensors only (as torch's ReduceOp.AVG).
    case avg = 4
}

/// torch.distributed over MPI: one process group, the world, created by `initProcessGroup()`
/// in every process of an `mpirun` / `srun` job. Collectives work in place on contiguous
/// tensors (every dfm tensor is) and must be called by every rank in the same order with
/// the same shapes and dtypes, as in torch.
public enum Distributed {
    private struct State {
        var initialized = false
        /// MPI cannot be initialised twice in one process (an MPI rule), so a destroyed group stays gone.
        var finalized = false
        /// MPI was already initialised by someone else (mpi4py): leave finalising to them.
        var external = false
        var rank = 0
        var size = 1
    }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var state = State()

    /// torch.distributed.is_available / is_mpi_available: Open MPI can be loaded.
    public static var isAvailable: Bool { MPILibrary.isLoadable }

    public static var isInitialized: Bool { lock.withLock { state.initialized } }

    /// torch.distributed.init_process_group(backend="mpi"). Rank and world size come from
    /// the launcher (mpirun, srun); a process started without one is a group of size 1.
    public static func initProcessGroup(backend: String = "mpi") throws {
        guard backend == "mpi" else {
            throw DFMError.invalid(
                "init_process_group",
                "backend \"\(backend)\" is not available in dfm; use backend=\"mpi\" (run under mpirun or srun)")
        }
        let mpi = try MPILibrary.get()
        try lock.withLock {
            guard !state.initialized else {
                throw DFMError.state("init_process_group", "trying to initialize the default process group twice")
            }
            guard !state.finalized else {
                throw DFMError.state(
                    "init_process_group",
                    "the default process group was destroyed; MPI cannot be initialized again in the same process")
            }
            var already: Int32 = 0
            _ = mpi.initialized(&already)
            if already == 0 {
                var provided: Int32 = 0
                try mpi.check(mpi.initThread(nil, nil, MPILibrary.threadSerialized, &provided), "init_process_group")
            }
            // Errors come back as codes (thrown as DFMError) instead of aborting the process.
            _ = mpi.setErrhandler(mpi.commWorld, mpi.errorsReturn)
            var r: Int32 = 0
            var n: Int32 = 0
            try mpi.check(mpi.commRank(mpi.commWorld, &r), "init_process_group")
            try mpi.check(mpi.commSize(mpi.commWorld, &n), "init_process_group")
            state = State(initialized: true, finalized: false, external: already != 0, rank: Int(r), size: Int(n))
        }
    }

    /// torch.distributed.destroy_process_group(): finalises MPI (after a barrier-free
    /// MPI_Finalize, which itself synchronises the ranks).
    public static func destroyProcessGroup() throws {
        // The group check first: without a group, MPI is not needed (nor loaded).
        let (mpi, _, _) = try group("destroy_process_group")
        try lock.withLock {
            guard state.initialized else { throw notInitialized("destroy_process_group") }
            if !state.external { try mpi.check(mpi.finalize(), "destroy_process_group") }
            state = State(initialized: false, finalized: !state.external, external: false, rank: 0, size: 1)
        }
    }

    private static func notInitialized(_ op: String) -> DFMError {
        DFMError.state(
            op, "Default process group has not been initialized, please make sure to call init_process_group.")
    }

    /// The library and the group, or a clear error when no group exists.
    static func group(_ op: String) throws -> (MPILibrary, rank: Int, size: Int) {
        let s = lock.withLock { state }
        guard s.initialized else { throw notInitialized(op) }
        return (try MPILibrary.get(), s.rank, s.size)
    }

    public static func rank() throws -> Int { try group("get_rank").rank }
    public static func worldSize() throws -> Int { try group("get_world_size").size }

    static func mpiType(_ mpi: MPILibrary, _ dtype: DType, _ op: String) -> MPILibrary.Handle {
        switch dtype {
        case .float32: return mpi.float32
        case .float64: return mpi.float64
        case .int64: return mpi.int64
        case .uint8, .bool: return mpi.uint8
        }
    }

    /// MPI counts are C ints: large tensors go in pieces of this many elements.
    static let chunk = 1 << 30

    /// torch.distributed.all_reduce(tensor, op): every rank ends with the reduction of all
    /// ranks' tensors, in place.
    public static func allReduce(_ t: Tensor, op: ReduceOp = .sum) throws {
        let (mpi, _, size) = try group("all_reduce")
        if t.dtype == .bool {
            throw DFMError.type(
                "all_reduce", "bool tensors are not supported by all_reduce (convert to uint8 or int64)")
        }
        if op == .avg && !t.dtype.isFloat {
            throw DFMError.type("all_reduce", "ReduceOp.AVG needs a floating point tensor, got \(t.dtype)")
        }
        let mop: MPILibrary.Handle
        switch op {
        case .sum, .avg: mop = mpi.opSum
        case .product: mop = mpi.opProd
        case .min: mop = mpi.opMin
        case .max: mop = mpi.opMax
        }
        try allReduceRaw(mpi, t.rawPointer, count: t.count, dtype: t.dtype, op: mop, "all_reduce")
        if op == .avg { divide(t, by: size) }
    }

    static func allReduceRaw(
        _ mpi: MPILibrary, _ p: UnsafeMutableRawPointer, count: Int, dtype: DType,
        op: MPILibrary.Handle, _ name: String
    ) throws {
        let dt = mpiType(mpi, dtype, name)
        var start = 0
        while start < count {
            let n = Swift.min(chunk, count - start)
            try mpi.check(
                mpi.allreduce(MPILibrary.inPlace, p + start * dtype.byteSize, Int32(n), dt, op, mpi.commWorld), name)
            start += n
        }
    }

    static func divide(_ t: Tensor, by n: Int) {
        switch t.dtype {
        case .float32:
            let p = t.f
            let s = Float(n)
            for k in 0..<t.count { p[k] /= s }
        case .float64:
            let p = t.d
            let s = Double(n)
            for k in 0..<t.count { p[k] /= s }
        default: break
        }
    }

    /// torch.distributed.broadcast(tensor, src): every rank ends with rank `src`'s values.
    public static func broadcast(_ t: Tensor, src: Int) throws {
        let (mpi, _, size) = try group("broadcast")
        guard src >= 0, src < size else {
            throw DFMError.invalid("broadcast", "src rank \(src) is out of range for a world of size \(size)")
        }
        try broadcastRaw(mpi, t.rawPointer, bytes: t.byteCount, src: src, "broadcast")
    }

    static func broadcastRaw(_ mpi: MPILibrary, _ p: UnsafeMutableRawPointer, bytes: Int, src: Int, _ name: String)
        throws
    {
        var start = 0
        while start < bytes {
            let n = Swift.min(chunk, bytes - start)
            try mpi.check(mpi.bcast(p + start, Int32(n), mpi.uint8, Int32(src), mpi.commWorld), name)
            start += n
        }
    }

    /// torch.distributed.barrier().
    public static func barrier() throws {
        let (mpi, _, _) = try group("barrier")
        try mpi.check(mpi.barrier(mpi.commWorld), "barrier")
    }

    /// torch.distributed.all_gather as one tensor: shape [world_size] + t.shape, row r is
    /// rank r's tensor (the Python/C layers split it into torch's list).
    public static func allGather(_ t: Tensor) throws -> Tensor {
        let (mpi, _, size) = try group("all_gather")
        let out = try Tensor.uninitialized([size] + t.shape, dtype: t.dtype, op: "all_gather")
        guard t.byteCount > 0 else { return out }
        guard t.byteCount <= Int(Int32.max) else {
            throw DFMError.invalid(
                "all_gather", "tensor of \(t.byteCount) bytes is larger than MPI_Allgather's 2 GiB limit")
        }
        try mpi.check(
            mpi.allgather(
                t.rawPointer, Int32(t.byteCount), mpi.uint8, out.rawPointer, Int32(t.byteCount),
                mpi.uint8, mpi.commWorld), "all_gather")
        return out
    }

    /// Ends every rank of the job (MPI_Abort) after an unrecoverable error on this one:
    /// the others would otherwise wait for it in their next collective.
    public static func abort(code: Int32 = 1) {
        guard isInitialized, let mpi = try? MPILibrary.get() else { return }
        _ = mpi.abort(mpi.commWorld, code)
    }
}
