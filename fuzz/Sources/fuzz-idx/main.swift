import FuzzDriver
import DFM
import Foundation

/// $DFM_FUZZ_DIR (tools/fuzz.sh sets it and removes it afterwards), else one per process.
let dir: String = {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let d = ProcessInfo.processInfo.environment["DFM_FUZZ_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "\(base)/dfm-fuzz-idx-\(getpid())"
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}()

/// One input holds both files: a 2-byte little-endian length L, L bytes of labels file,
/// then the images file (either may be gzip). Valid datasets are batched, in and out of range.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard size >= 2 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data!, count: size)
    let l = min(Int(bytes[0]) | Int(bytes[1]) << 8, size - 2)
    let labels = Data(bytes[2..<(2 + l)]), images = Data(bytes[(2 + l)...])
    let (ip, lp) = ("\(dir)/images", "\(dir)/labels")
    guard FileManager.default.createFile(atPath: ip, contents: images),
          FileManager.default.createFile(atPath: lp, contents: labels) else { fatalError("cannot write \(dir)") }
    guard let ds = try? IDXDataset(images: ip, labels: lp) else { return 0 }
    precondition(ds.count >= 0 && ds.height >= 0 && ds.width >= 0)
    for idx in [[], [0], [ds.count - 1], [ds.count], [-1], [0, ds.count - 1, 0]] {
        if let (x, y) = try? ds.batch(idx) {
            precondition(x.shape == [idx.count, 1, ds.height, ds.width] && y.shape == [idx.count])
        } else {
            precondition(idx.contains { $0 < 0 || $0 >= ds.count }, "batch of valid indices \(idx) failed")
        }
    }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzIDX($0, $1) })
