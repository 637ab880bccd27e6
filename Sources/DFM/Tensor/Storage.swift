import Foundation

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

    deinit {
        if let release { release(base) } else { free(base) }
    }
}
