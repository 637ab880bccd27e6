import Dispatch
import COpenBLAS

/// Work splitting over cores. Results never depend on how work is split: every
/// parallel loop writes disjoint outputs, and reductions keep a fixed order, so
/// the same seed and thread count give bitwise-identical results.
public enum Parallel {
    nonisolated(unsafe) private static var _threads: Int = {
        let n = ProcessInfo.processInfo.activeProcessorCount
        openblas_set_num_threads(Int32(max(1, n)))
        return max(1, n)
    }()

    /// Threads used by dfm's kernels and by OpenBLAS.
    public static var threads: Int { _threads }

    /// torch.set_num_threads.
    public static func setThreads(_ n: Int) throws {
        guard n >= 1, n <= 1024 else { throw DFMError.invalid("set_num_threads", "thread count must be in 1...1024, got \(n)") }
        _threads = n
        openblas_set_num_threads(Int32(n))
    }

    /// Calls `body` on disjoint sub-ranges covering 0..<n, in parallel when `n`
    /// times `costPerItem` is worth it.
    @inline(__always)
    static func chunks(_ n: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void) {
        let t = _threads
        if t <= 1 || n < 2 || n &* costPerItem < 32_768 {
            if n > 0 { body(0..<n) }
            return
        }
        let parts = min(t, n)
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let lo = n * p / parts, hi = n * (p + 1) / parts
            if lo < hi { body(lo..<hi) }
        }
    }
}

import Foundation
