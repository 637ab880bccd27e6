import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A manually managed, 64-byte aligned buffer. Tensors share a Storage when one is
/// a view of another; the memory goes when the last tensor referring to it goes.
final class Storage {
    let base: UnsafeMutableRawPointer
    let byteCount: Int
    private let release: ((UnsafeMutableRawPointer) -> Void)?

    /// Largest buffer dfm will try to allocate (guards against absurd user sizes).
    static let maxBytes = 1 << 40

    /// Uninitialised memory; throws instead of trapping when the size is absurd
    /// or the allocation fails.
    init(byteCount: Int, op: String = "alloc") throws {
        _ = Storage.heapTuned
        guard byteCount >= 0, byteCount <= Storage.maxBytes else {
            throw DFMError(.outOfMemory, "\(op): cannot allocate \(byteCount) bytes")
        }
        var p: UnsafeMutableRawPointer? = nil
        let rc = posix_memalign(&p, 64, max(byteCount, 64))
        guard rc == 0, let ptr = p else {
            throw DFMError(.outOfMemory, "\(op): out of memory allocating \(byteCount) bytes")
        }
        base = ptr
        self.byteCount = byteCount
        release = nil
    }

    /// Wraps memory owned by someone else (zero-copy); `release` runs when dfm is done with it.
    init(borrowing ptr: UnsafeMutableRawPointer, byteCount: Int, release: @escaping (UnsafeMutableRawPointer) -> Void) {
        base = ptr
        self.byteCount = byteCount
        self.release = release
    }

    /// glibc returns freed blocks above its (adaptive, at most 32 MB) mmap threshold to the
    /// kernel at once, and trims the heap top above 2x that; a training step then re-faults
    /// every activation page it allocates (12k minor faults per W1 step). Blocks up to 256 MB
    /// come from the heap, and up to 1 GB of free heap top is kept for the next step: faults
    /// per W1 step halve and the kernel's share of CPU time drops from ~5% to ~2%, for ~3%
    /// more peak RSS (measured). Memory already handed back stays free for reuse, so the peak
    /// is still set by what one step holds live. Settings made through glibc's own
    /// environment (MALLOC_*_ / GLIBC_TUNABLES) win.
    private static let heapTuned: Void = {
        #if canImport(Glibc)
            // mallopt is glibc's (malloc.h, not in Swift's Glibc module): looked up, skipped if absent.
            let env = ProcessInfo.processInfo.environment
            if env["MALLOC_MMAP_THRESHOLD_"] == nil && env["MALLOC_TRIM_THRESHOLD_"] == nil
                && env["GLIBC_TUNABLES"] == nil,
                let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt")
            {
                let mallopt = unsafeBitCast(sym, to: (@convention(c) (Int32, Int32) -> Int32).self)
                let mmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD
                let trimThreshold: Int32 = -1  // M_TRIM_THRESHOLD
                _ = mallopt(mmapThreshold, 256 << 20)
                _ = mallopt(trimThreshold, 1 << 30)
            }
        #endif
    }()

    deinit {
        if let release { release(base) } else { free(base) }
    }
}
