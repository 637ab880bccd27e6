import FuzzDriver
import DFM
import Foundation

/// Any bytes: decode either returns tensors that match the header or throws; it never traps.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Data(bytes: data!, count: size)
    if let (tensors, _) = try? SafeTensors.decode(bytes) {
        // What was read must round-trip through the writer.
        if let again = try? SafeTensors.decode(try SafeTensors.encode(tensors)) {
            precondition(again.tensors.count == tensors.count, "round trip lost tensors")
        } else {
            // encode refuses only names the reader also refuses
            preconditionFailure("a file the reader accepts cannot be written back")
        }
    }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzSafeTensors($0, $1) })
