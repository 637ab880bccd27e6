import DFM
import Foundation

/// The MPI job this process belongs to (`mpirun -np N dfm-cli train ...`, or srun): joined
/// when a launcher's environment is present, else a world of one process. Training splits
/// each global batch over the ranks (DistributedDataParallel averages the gradients), only
/// rank 0 prints and writes files, and evaluation is sharded with its counts summed.
enum World {
    nonisolated(unsafe) private(set) static var rank = 0
    nonisolated(unsafe) private(set) static var size = 1

    /// Environment variables set by Open MPI's mpirun, PMI/PMIx launchers and Slurm's srun.
    static var launched: Bool {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"].contains { env[$0] != nil }
    }

    /// Joins the job when started by a launcher (once); a no-op otherwise.
    static func join() throws {
        guard launched, !Distributed.isInitialized else { return }
        try Distributed.initProcessGroup(backend: "mpi")
        rank = try Distributed.rank()
        size = try Distributed.worldSize()
        // Only rank 0 prints (errors still reach stderr from every rank).
        if rank != 0 { _ = freopen("/dev/null", "w", stdout) }
        // --threads 0 means all cores: shared among the ranks on this machine.
        if let local = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init), local > 1 {
            try Parallel.setThreads(max(1, ProcessInfo.processInfo.activeProcessorCount / local))
        }
    }

    static func leave() {
        if Distributed.isInitialized { try? Distributed.destroyProcessGroup() }
    }

    /// This rank's contiguous part of `n` items (sizes differ by at most one).
    static func share(_ n: Int) -> Range<Int> { (rank * n / size)..<((rank + 1) * n / size) }

    /// Element-wise sums over the ranks (identity in a world of one).
    static func sum(_ values: [Double]) throws -> [Double] {
        guard size > 1 else { return values }
        let t = try Tensor(double: values, shape: [values.count])
        try Distributed.allReduce(t, op: .sum)
        return t.toDoubleArray()
    }

    static func sum(_ values: [Int64]) throws -> [Int64] {
        guard size > 1, !values.isEmpty else { return values }
        let t = try Tensor(int64: values, shape: [values.count])
        try Distributed.allReduce(t, op: .sum)
        return t.toInt64Array()
    }
}
