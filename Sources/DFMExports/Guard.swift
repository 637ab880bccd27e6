import CDFM
import DFM
import Foundation

/// A problem found by the export layer itself (bad handle, NULL pointer, bad size)
/// before the core runs. Its message does not name the function: `guarded` adds it.
struct ABIError: Error {
    let kind: DFMError.Kind
    let message: String
    init(_ kind: DFMError.Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

/// The calling thread's last error (status + message), for dfm_last_error_*.
enum LastError {
    private struct Slot {
        var status: UInt32
        var message: UnsafeMutablePointer<CChar>?
    }

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k) { raw in
            guard let slot = raw?.assumingMemoryBound(to: Slot.self) else { return }
            free(slot.pointee.message)
            slot.deinitialize(count: 1)
            slot.deallocate()
        }
        return k
    }()

    private static func slot() -> UnsafeMutablePointer<Slot>? {
        if let raw = pthread_getspecific(key) { return raw.assumingMemoryBound(to: Slot.self) }
        let s = UnsafeMutablePointer<Slot>.allocate(capacity: 1)
        s.initialize(to: Slot(status: 0, message: nil))
        guard pthread_setspecific(key, s) == 0 else {
            s.deinitialize(count: 1)
            s.deallocate()
            return nil
        }
        return s
    }

    static func set(_ status: UInt32, _ message: String) {
        guard let s = slot() else { return }
        free(s.pointee.message)
        s.pointee.message = strdup(message)
        s.pointee.status = status
    }

    static var message: UnsafePointer<CChar> {
        if let raw = pthread_getspecific(key), let m = raw.assumingMemoryBound(to: Slot.self).pointee.message {
            return UnsafePointer(m)
        }
        return cString("")
    }

    static var status: UInt32 {
        guard let raw = pthread_getspecific(key) else { return 0 }
        return raw.assumingMemoryBound(to: Slot.self).pointee.status
    }
}

/// A C string in static storage (Swift string literals are NUL-terminated in the binary).
func cString(_ s: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// Records `error` as this thread's last error, prefixed with the export's name, and
/// returns its status: "dfm_fn: message".
func fail(_ fn: StaticString, _ error: Error) -> dfm_status {
    let name = fn.description
    let kind: DFMError.Kind
    let message: String
    switch error {
    case let e as ABIError:
        kind = e.kind
        message = "\(name): \(e.message)"
    case let e as DFMError:
        kind = e.kind
        // Drop the core's op prefix when the export already says it ("item: ..." in dfm_tensor_item).
        let bare = name.hasPrefix("dfm_") ? String(name.dropFirst(4)) : name
        var text = e.message
        if let colon = text.range(of: ": ") {
            let op = String(text[..<colon.lowerBound])
            if !op.contains(" "), bare == op || bare.hasSuffix("_" + op) { text = String(text[colon.upperBound...]) }
        }
        message = "\(name): \(text)"
    default:
        kind = .internal
        message = "\(name): unexpected error \(error)"
    }
    let raw = UInt32(kind.rawValue)
    LastError.set(raw, message)
    return dfm_status(rawValue: raw)
}

/// The one shape of every export: validate and call the core inside `body`; any thrown
/// error becomes a status and this thread's last error message.
@inline(__always)
func guarded(_ fn: StaticString, _ body: () throws -> Void) -> dfm_status {
    do {
        try body()
        return DFM_OK
    } catch {
        return fail(fn, error)
    }
}

/// An export that produces a new handle in `*out`: `*out` is NULL unless the call succeeds.
@inline(__always)
func produce(
    _ fn: StaticString, _ out: UnsafeMutablePointer<OpaquePointer?>?, _ kind: HandleKind,
    _ body: () throws -> AnyObject?
) -> dfm_status {
    guarded(fn) {
        let o = try Arg.out(out)
        o.pointee = nil
        if let object = try body() { o.pointee = Handles.make(object, kind) }
    }
}

/// An export producing a new tensor handle.
@inline(__always)
func produceTensor(
    _ fn: StaticString, _ out: UnsafeMutablePointer<dfm_tensor?>?,
    _ body: () throws -> Tensor?
) -> dfm_status {
    produce(fn, out, .tensor, body)
}

/// An export producing a plain value in `*out`.
@inline(__always)
func produceValue<T>(_ fn: StaticString, _ out: UnsafeMutablePointer<T>?, _ body: () throws -> T) -> dfm_status {
    guarded(fn) {
        let o = try Arg.out(out)
        o.pointee = try body()
    }
}
