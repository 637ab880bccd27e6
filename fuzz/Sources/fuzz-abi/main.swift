import FuzzC
import FuzzDriver
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzABI(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { dfm_fuzz_abi(data, size) }

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzABI($0, $1) })
