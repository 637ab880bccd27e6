import CDFM
import DFM
import Foundation

// Tensor dicts and string lists: how named tensors and key lists cross the ABI.

/// An ordered name -> tensor map with string metadata. Hands out C strings it owns, valid
/// while it lives (keys never change once inserted).
final class TensorDict {
    private(set) var keys: [String] = []
    private(set) var values: [Tensor] = []
    private var cKeys: [UnsafeMutablePointer<CChar>] = []
    private var position: [String: Int] = [:]
    private(set) var metadata: [String: String] = [:]
    private var cMetadata: [String: UnsafeMutablePointer<CChar>] = [:]

    init() {}

    init(_ entries: [(String, Tensor)], metadata: [String: String] = [:]) {
        for (k, v) in entries { set(k, v) }
        for (k, v) in metadata { setMetadata(k, v) }
    }

    func set(_ key: String, _ t: Tensor) {
        if let i = position[key] {
            values[i] = t
        } else {
            position[key] = keys.count
            keys.append(key)
            values.append(t)
            cKeys.append(strdup(key))
        }
    }

    func get(_ key: String) -> Tensor? { position[key].map { values[$0] } }

    func cKey(_ i: Int) -> UnsafePointer<CChar> { UnsafePointer(cKeys[i]) }

    func setMetadata(_ key: String, _ value: String) {
        free(cMetadata[key])
        metadata[key] = value
        cMetadata[key] = strdup(value)
    }

    func cMetadata(_ key: String) -> UnsafePointer<CChar>? { cMetadata[key].map { UnsafePointer($0) } }

    var entries: [(String, Tensor)] { Array(zip(keys, values)) }

    /// A valid index, or an IndexError naming the size.
    func checkIndex(_ i: Int64) throws -> Int {
        guard i >= 0, i < Int64(keys.count) else {
            throw ABIError(.indexError, "index \(i) is out of range for a dict of \(keys.count) entries")
        }
        return Int(i)
    }

    deinit {
        for p in cKeys { free(p) }
        for p in cMetadata.values { free(p) }
    }
}

/// An immutable list of strings with C copies.
final class StringList {
    let items: [String]
    private let cItems: [UnsafeMutablePointer<CChar>]

    init(_ items: [String]) {
        self.items = items
        cItems = items.map { strdup($0) }
    }

    func cItem(_ i: Int64) throws -> UnsafePointer<CChar> {
        guard i >= 0, i < Int64(items.count) else {
            throw ABIError(.indexError, "index \(i) is out of range for a list of \(items.count) strings")
        }
        return UnsafePointer(cItems[Int(i)])
    }

    deinit { for p in cItems { free(p) } }
}

extension Arg {
    static func dict(_ h: dfm_tensor_dict?, _ name: String) throws -> TensorDict { try object(h, .tensorDict, name) }
    static func stringList(_ h: dfm_string_list?, _ name: String) throws -> StringList {
        try object(h, .stringList, name)
    }
}

/// Stores a new string list in `*out` when the caller asked for it (out may be NULL).
func optionalList(_ out: UnsafeMutablePointer<dfm_string_list?>?, _ items: [String]) {
    out?.pointee = Handles.make(StringList(items), .stringList)
}

// MARK: tensor dict

@c @implementation public func dfm_tensor_dict_new(_ out: UnsafeMutablePointer<dfm_tensor_dict?>?) -> dfm_status {
    produce("dfm_tensor_dict_new", out, .tensorDict) { TensorDict() }
}

@c @implementation public func dfm_tensor_dict_release(_ d: dfm_tensor_dict?) -> dfm_status {
    guarded("dfm_tensor_dict_release") { try Handles.release(d, .tensorDict, "d") }
}

@c @implementation public func dfm_tensor_dict_size(_ d: dfm_tensor_dict?, _ out: UnsafeMutablePointer<Int64>?)
    -> dfm_status
{
    produceValue("dfm_tensor_dict_size", out) { Int64(try Arg.dict(d, "d").keys.count) }
}

@c @implementation public func dfm_tensor_dict_key(
    _ d: dfm_tensor_dict?, _ index: Int64,
    _ out: UnsafeMutablePointer<UnsafePointer<CChar>?>?
) -> dfm_status {
    produceValue("dfm_tensor_dict_key", out) {
        let dict = try Arg.dict(d, "d")
        return dict.cKey(try dict.checkIndex(index))
    }
}

@c @implementation public func dfm_tensor_dict_value(_ d: dfm_tensor_dict?, _ index: Int64, _ out: TensorOut)
    -> dfm_status
{
    produceTensor("dfm_tensor_dict_value", out) {
        let dict = try Arg.dict(d, "d")
        return dict.values[try dict.checkIndex(index)]
    }
}

@c @implementation public func dfm_tensor_dict_get(
    _ d: dfm_tensor_dict?, _ key: UnsafePointer<CChar>?, _ out: TensorOut
) -> dfm_status {
    produceTensor("dfm_tensor_dict_get", out) {
        let dict = try Arg.dict(d, "d")
        let k = try Arg.string(key, "key")
        guard let t = dict.get(k) else {
            throw ABIError(.notFound, "no tensor named '\(k)' (the dict has \(dict.keys.count) entries)")
        }
        return t
    }
}

@c @implementation public func dfm_tensor_dict_set(
    _ d: dfm_tensor_dict?, _ key: UnsafePointer<CChar>?, _ t: dfm_tensor?
) -> dfm_status {
    guarded("dfm_tensor_dict_set") {
        let dict = try Arg.dict(d, "d")
        let k = try Arg.string(key, "key")
        let x = try Arg.tensor(t, "t")
        guard !k.isEmpty else { throw ABIError(.invalidArgument, "key is empty") }
        dict.set(k, x)
    }
}

@c @implementation public func dfm_tensor_dict_set_metadata(
    _ d: dfm_tensor_dict?, _ key: UnsafePointer<CChar>?,
    _ value: UnsafePointer<CChar>?
) -> dfm_status {
    guarded("dfm_tensor_dict_set_metadata") {
        try Arg.dict(d, "d").setMetadata(try Arg.string(key, "key"), try Arg.string(value, "value"))
    }
}

@c @implementation public func dfm_tensor_dict_get_metadata(
    _ d: dfm_tensor_dict?, _ key: UnsafePointer<CChar>?,
    _ out: UnsafeMutablePointer<UnsafePointer<CChar>?>?
) -> dfm_status {
    produceValue("dfm_tensor_dict_get_metadata", out) {
        let dict = try Arg.dict(d, "d")
        let k = try Arg.string(key, "key")
        guard let v = dict.cMetadata(k) else { throw ABIError(.notFound, "no metadata key '\(k)'") }
        return v
    }
}

@c @implementation public func dfm_tensor_dict_metadata_keys(
    _ d: dfm_tensor_dict?, _ out: UnsafeMutablePointer<dfm_string_list?>?
) -> dfm_status {
    produce("dfm_tensor_dict_metadata_keys", out, .stringList) {
        StringList(try Arg.dict(d, "d").metadata.keys.sorted())
    }
}

// MARK: string list

@c @implementation public func dfm_string_list_release(_ l: dfm_string_list?) -> dfm_status {
    guarded("dfm_string_list_release") { try Handles.release(l, .stringList, "l") }
}

@c @implementation public func dfm_string_list_size(_ l: dfm_string_list?, _ out: UnsafeMutablePointer<Int64>?)
    -> dfm_status
{
    produceValue("dfm_string_list_size", out) { Int64(try Arg.stringList(l, "l").items.count) }
}

@c @implementation public func dfm_string_list_get(
    _ l: dfm_string_list?, _ index: Int64,
    _ out: UnsafeMutablePointer<UnsafePointer<CChar>?>?
) -> dfm_status {
    produceValue("dfm_string_list_get", out) { try Arg.stringList(l, "l").cItem(index) }
}
