import COpenBLAS
import Dispatch
import Foundation
import Synchronization

/// Work splitting over cores. Results never depend on how work is split: every
/// parallel loop writes disjoint outputs, and reductions keep a fixed order, so
/// the same seed and thread count give bitwise-identical results.
public enum Parallel {
    // Atomic: set_num_threads may run while kernels read the count on other threads.
    static let initialThreads = max(1, ProcessInfo.processInfo.activeProcessorCount)
    private static let count: Atomic<Int> = {
        _ = BLASSetup.ready  // OpenBLAS's kernels chosen and its thread count set before first use
        return Atomic(initialThreads)
    }()

    /// Threads used by dfm's kernels and by OpenBLAS.
    public static var threads: Int { count.load(ordering: .relaxed) }

    /// torch.set_num_threads.
    public static func setThreads(_ n: Int) throws {
        guard n >= 1, n <= 1024 else {
            throw DFMError.invalid("set_num_threads", "thread count must be in 1...1024, got \(n)")
        }
        _ = BLASSetup.ready
        count.store(n, ordering: .relaxed)
        if !BLASSetup.splitGemm { openblas_set_num_threads(Int32(n)) }
    }

    /// Calls `body` on disjoint sub-ranges covering 0..<n, in parallel when `n`
    /// times `costPerItem` is worth it.
    @inline(__always)
    static func chunks(_ n: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let t = threads
        // Below ~256K units of work a fork/join (waking a worker, ~10-30 µs, more on a loaded
        // machine) costs about what the second core saves (measured on the W3 workload).
        if t <= 1 || n < 2 || n &* costPerItem < 262_144 {
            if n > 0 { body(0..<n) }
            return
        }
        let parts = min(t, n)
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let lo = n * p / parts
            let hi = n * (p + 1) / parts
            if lo < hi { body(lo..<hi) }
        }
    }
}
