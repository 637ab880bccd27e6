import CKernels
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
        // Below ~64K units of work a fork/join costs about what the second core saves. With
        // Dispatch's wake-ups (10-30 µs) that point was ~256K; the spinning pool moved it (W1, W3,
        // W7 alternated: 65_536 gave 5-9% per step over 262_144, 32_768 nothing more).
        if t <= 1 || n < 2 || n &* costPerItem < 65_536 {
            if n > 0 { body(0..<n) }
            return
        }
        let parts = min(t, n)
        let part = { (p: Int) in
            let lo = n * p / parts
            let hi = n * (p + 1) / parts
            if lo < hi { body(lo..<hi) }
        }
        if let pool = SpinPool.shared, pool.run(parts: parts, part) { return }
        DispatchQueue.concurrentPerform(iterations: parts, execute: part)
    }
}

/// dfm's own workers for `Parallel.chunks`: after a job they spin (with PAUSE) for about a
/// millisecond before sleeping, so the next parallel loop of a step starts without a futex
/// wake-up. On the small tensors of a feedback step (a 32×64×8×8 ReLU is ~0.1 ms) Dispatch's
/// wake-up cost about what the second core saved; with ~50 µs of spinning the submitter still
/// waited for sleeping workers in 11.6% of W1's samples, with ~1 ms in 3.5%. One job at a time:
/// a nested loop, or a second thread submitting while a job runs, takes Dispatch instead, and so
/// does a child after fork (the workers are not there). Results never depend on which thread
/// runs a part.
final class SpinPool: @unchecked Sendable {
    /// Nil with one thread, or when DFM_SPIN_POOL=0.
    static let shared: SpinPool? = {
        let workers = Parallel.initialThreads - 1
        if workers < 1 || getenv("DFM_SPIN_POOL").map({ String(cString: $0) == "0" }) == true { return nil }
        pthread_atfork(nil, nil, { SpinPool.forked.store(true, ordering: .relaxed) })
        return SpinPool(workers: workers)
    }()
    private static let forked = Atomic<Bool>(false)

    private final class Worker: @unchecked Sendable {
        let sleeping = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
    }
    private let workers: [Worker]
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    /// The current job and its part count: written by the submitter before `generation` moves.
    nonisolated(unsafe) private var job: ((Int) -> Void)?
    nonisolated(unsafe) private var parts = 0

    private init(workers n: Int) {
        workers = (0..<n).map { _ in Worker() }
        for (i, w) in workers.enumerated() {
            let t = Thread { [unowned self] in self.loop(index: i + 1, w) }
            t.stackSize = 1 << 20
            t.name = "dfm-worker-\(i + 1)"
            t.start()
        }
    }

    /// Runs part(p) for p in 0..<parts, part 0 on the calling thread. False (nothing run) when the
    /// pool is busy or has too few workers.
    func run(parts n: Int, _ part: (Int) -> Void) -> Bool {
        guard n - 1 <= workers.count, !SpinPool.forked.load(ordering: .relaxed),
            busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else { return false }
        withoutActuallyEscaping(part) { part in
            job = part
            parts = n
            pending.store(workers.count, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            for w in workers where w.sleeping.exchange(false, ordering: .sequentiallyConsistent) { w.wake.signal() }
            part(0)
            while pending.load(ordering: .acquiring) > 0 { dfmk_spin_pause() }
            job = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    private func loop(index: Int, _ w: Worker) {
        var seen = 0  // the generation the pool started at: a job posted before this thread ran is still new
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < 20_000 {
                    dfmk_spin_pause()
                    continue
                }
                // Sleep until the next job; a job posted meanwhile either finds the flag (and
                // signals) or is seen by the re-check (and the flag is taken back).
                w.sleeping.store(true, ordering: .sequentiallyConsistent)
                if generation.load(ordering: .sequentiallyConsistent) != seen {
                    if !w.sleeping.exchange(false, ordering: .sequentiallyConsistent) { w.wake.wait() }
                } else {
                    w.wake.wait()
                }
                spins = 0
            }
            seen = generation.load(ordering: .acquiring)
            if index < parts, let job { job(index) }
            pending.subtract(1, ordering: .releasing)
        }
    }
}
