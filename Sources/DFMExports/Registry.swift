import Synchronization

/// The kinds of object a C handle can name. The kind is also encoded in the handle's low
/// bits, so a stale handle can still be described ("a released dfm_module").
enum HandleKind: UInt, CaseIterable {
    case tensor = 1
    case module, optimizer, scheduler, dataset, tensorDict, stringList

    var cName: String {
        switch self {
        case .tensor: return "dfm_tensor"
        case .module: return "dfm_module"
        case .optimizer: return "dfm_optimizer"
        case .scheduler: return "dfm_scheduler"
        case .dataset: return "dfm_dataset"
        case .tensorDict: return "dfm_tensor_dict"
        case .stringList: return "dfm_string_list"
        }
    }
}

/// Handle table. A C handle is not a pointer: it is `id << 4 | kind`, a key into this
/// table, where ids count up and are never reused. Looking a handle up therefore never
/// dereferences anything the caller passed: NULL, released, foreign and wrong-kind
/// handles are all recognised and reported. Each entry holds a strong reference to its
/// Swift object plus the C-side reference count (retain/release).
enum Handles {
    private struct Entry {
        let object: AnyObject
        var refs: Int
    }

    private struct Table {
        var entries: [UInt: Entry] = [:]
        var nextID: UInt = 1
    }

    private static let table = Mutex(Table())

    private static let kindBits: UInt = 4
    private static let kindMask: UInt = (1 << kindBits) - 1

    /// Registers `object` and returns a new handle holding one reference (never nil:
    /// the kind bits are nonzero; Optional only because that is the C out-pointer's type).
    static func make(_ object: AnyObject, _ kind: HandleKind) -> OpaquePointer? {
        let key = table.withLock { t -> UInt in
            let key = t.nextID << kindBits | kind.rawValue
            t.nextID += 1
            t.entries[key] = Entry(object: object, refs: 1)
            return key
        }
        return OpaquePointer(bitPattern: key)
    }

    /// The object behind `handle`, or a thrown ABIError naming argument `arg`.
    static func get<T: AnyObject>(_ handle: OpaquePointer?, _ kind: HandleKind, _ arg: String, as: T.Type) throws -> T {
        guard let handle else {
            throw ABIError(.invalidArgument, "argument '\(arg)' is NULL, expected a \(kind.cName)")
        }
        let key = UInt(bitPattern: handle)
        let object = table.withLock { $0.entries[key]?.object }
        guard let object else { throw staleError(key, kind, arg) }
        guard key & kindMask == kind.rawValue, let typed = object as? T else {
            let actual = HandleKind(rawValue: key & kindMask)?.cName ?? "unknown handle"
            throw ABIError(.typeError, "argument '\(arg)' is a \(actual), expected a \(kind.cName)")
        }
        return typed
    }

    static func retain(_ handle: OpaquePointer?, _ kind: HandleKind, _ arg: String) throws {
        guard let handle else {
            throw ABIError(.invalidArgument, "argument '\(arg)' is NULL, expected a \(kind.cName)")
        }
        let key = UInt(bitPattern: handle)
        let found = table.withLock { t -> Bool in
            guard key & kindMask == kind.rawValue, t.entries[key] != nil else { return false }
            t.entries[key]?.refs += 1
            return true
        }
        if !found { try kindCheck(key, kind, arg) }
    }

    /// Drops one reference; NULL is a no-op. The Swift object is released outside the
    /// lock, because its deinit may run user code (a from_blob release callback).
    static func release(_ handle: OpaquePointer?, _ kind: HandleKind, _ arg: String) throws {
        guard let handle else { return }
        let key = UInt(bitPattern: handle)
        let (found, dropped) = table.withLock { t -> (Bool, AnyObject?) in
            guard key & kindMask == kind.rawValue, let e = t.entries[key] else { return (false, nil) }
            if e.refs > 1 {
                t.entries[key]?.refs -= 1
                return (true, nil)
            }
            return (true, t.entries.removeValue(forKey: key)?.object)
        }
        withExtendedLifetime(dropped) {}  // the last Swift reference may go here, outside the lock
        if !found { try kindCheck(key, kind, arg) }
    }

    static var liveCount: Int { table.withLock { $0.entries.count } }

    /// Throws the right error for a handle that was not found under `kind`.
    private static func kindCheck(_ key: UInt, _ kind: HandleKind, _ arg: String) throws {
        let live = table.withLock { $0.entries[key] != nil }
        if live {
            let actual = HandleKind(rawValue: key & kindMask)?.cName ?? "unknown handle"
            throw ABIError(.typeError, "argument '\(arg)' is a \(actual), expected a \(kind.cName)")
        }
        throw staleError(key, kind, arg)
    }

    private static func staleError(_ key: UInt, _ kind: HandleKind, _ arg: String) -> ABIError {
        let id = key >> kindBits
        if let k = HandleKind(rawValue: key & kindMask), id > 0, id < table.withLock({ $0.nextID }) {
            return ABIError(
                .invalidArgument, "argument '\(arg)' is a released \(k.cName) handle (expected a live \(kind.cName))")
        }
        return ABIError(
            .invalidArgument,
            "argument '\(arg)' (0x\(String(key, radix: 16))) is not a \(kind.cName) handle created by dfm")
    }
}
