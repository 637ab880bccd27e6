import Foundation

/// Runs an executable to completion and returns its exit status, stdout and stderr.
/// stderr goes through a temporary file, so neither stream can fill a pipe and stall.
func runProcess(_ exe: URL, _ args: [String], env: [String: String] = [:]) throws -> (
    status: Int32, out: String, err: String
) {
    let errPath = NSTemporaryDirectory() + "dfm-stderr-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    FileManager.default.createFile(atPath: errPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errPath) }
    let p = Process()
    p.executableURL = exe
    p.arguments = args
    p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let e = FileManager.default.contents(atPath: errPath) ?? Data()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}
