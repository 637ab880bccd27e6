import Foundation

/// Whether ops record the autograd graph. Thread-local, as in PyTorch: a `no_grad`
/// block on one thread does not affect another.
public enum GradMode {
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    // Stored as a tagged pointer: nil means "enabled" (the default on a fresh thread).
    private static let disabledTag = UnsafeMutableRawPointer(bitPattern: 1)

    public static var isEnabled: Bool {
        get { pthread_getspecific(key) == nil }
        set { pthread_setspecific(key, newValue ? nil : disabledTag) }
    }

    /// Runs `body` with graph recording off, restoring the previous mode afterwards.
    public static func noGrad<R>(_ body: () throws -> R) rethrows -> R {
        let prev = isEnabled
        isEnabled = false
        defer { isEnabled = prev }
        return try body()
    }
}
