/// Every user-caused failure in dfm is a thrown `DFMError`; nothing reachable from
/// user input traps, because libdfm runs inside other people's processes.
public struct DFMError: Error, CustomStringConvertible, Equatable {
    /// Stable codes: the C ABI's `dfm_status` uses the same numbers.
    public enum Kind: Int32, Sendable {
        case invalidArgument = 1
        case shapeMismatch = 2
        case outOfMemory = 3
        case ioError = 4
        case notFound = 5
        case stateError = 6
        case `internal` = 7
        case indexError = 8
        case typeError = 9
    }

    public let kind: Kind
    /// Names the operation and the offending values, e.g. "conv2d: input has 3 channels but weight expects 4".
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static func invalid(_ op: String, _ msg: String) -> DFMError { DFMError(.invalidArgument, "\(op): \(msg)") }
    static func shape(_ op: String, _ msg: String) -> DFMError { DFMError(.shapeMismatch, "\(op): \(msg)") }
    static func index(_ op: String, _ msg: String) -> DFMError { DFMError(.indexError, "\(op): \(msg)") }
    static func type(_ op: String, _ msg: String) -> DFMError { DFMError(.typeError, "\(op): \(msg)") }
    static func state(_ op: String, _ msg: String) -> DFMError { DFMError(.stateError, "\(op): \(msg)") }
    static func io(_ op: String, _ msg: String) -> DFMError { DFMError(.ioError, "\(op): \(msg)") }
}
