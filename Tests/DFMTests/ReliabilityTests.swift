import Foundation
import XCTest

@testable import DFM

// Issue #14: reliability of files and constructors.

/// Items 5 and 7: the safetensors reader refuses what the format forbids and bounds its reads.
final class SafeTensorsStrictTests: XCTestCase {
    lazy var dir: String = {
        let d = NSTemporaryDirectory() + "dfm-strict-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A safetensors image: the 8-byte length, `header` verbatim, then `body` bytes.
    func image(_ header: String, body: Int) -> Data {
        var d = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { d.append(contentsOf: $0) }
        d.append(Data(header.utf8))
        d.append(Data((0..<body).map { UInt8($0 % 251) }))
        return d
    }

    /// Both entry points (memory and file) refuse the image with a message containing `part`.
    func assertRefused(_ header: String, body: Int, _ part: String, file: StaticString = #filePath, line: UInt = #line)
    {
        let data = image(header, body: body)
        assertThrowsDFM(try SafeTensors.decode(data), part, kind: .ioError, file: file, line: line)
        let path = dir + "/t-\(UInt32.random(in: 0...UInt32.max)).safetensors"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: data), file: file, line: line)
        assertThrowsDFM(try SafeTensors.read(path), part, kind: .ioError, file: file, line: line)
    }

    func entry(_ name: String, _ shape: String, _ b: Int, _ e: Int, dtype: String = "F32") -> String {
        "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(b),\(e)]}"
    }

    func testFractionalAndNonIntegerShapesAreRefused() {
        // [2.5] used to load as [2]
        assertRefused("{\(entry("w", "[2.5]", 0, 8))}", body: 8, "bad shape")
        assertRefused("{\(entry("w", "[2e0]", 0, 8))}", body: 8, "bad shape")
        assertRefused("{\(entry("w", "[true]", 0, 4))}", body: 4, "bad shape")
        assertRefused("{\(entry("w", "[\"2\"]", 0, 8))}", body: 8, "bad shape")
        assertRefused("{\(entry("w", "[-0]", 0, 0))}", body: 0, "bad shape")
        assertRefused("{\(entry("w", "[99999999999999999999]", 0, 8))}", body: 8, "bad shape")
        assertRefused("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.0,8]}}", body: 8, "data_offsets")
    }

    func testDuplicateKeysAreRefused() {
        // the last one used to win
        assertRefused("{\(entry("w", "[1]", 0, 4)),\(entry("w", "[1]", 0, 4))}", body: 4, "duplicate key 'w'")
        assertRefused("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", body: 0, "duplicate key 'a'")
        assertRefused(
            "{\(entry("w", "[1]", 0, 4).replacingOccurrences(of: "\"shape\"", with: "\"shape\":[1],\"shape\""))}",
            body: 4,
            "duplicate key 'shape'")
    }

    func testOverlappingHoleyAndTrailingRangesAreRefused() {
        assertRefused("{\(entry("a", "[2]", 0, 8)),\(entry("b", "[2]", 4, 12))}", body: 12, "overlap")
        assertRefused("{\(entry("a", "[2]", 0, 8)),\(entry("b", "[2]", 0, 8))}", body: 8, "overlap")
        assertRefused("{\(entry("a", "[1]", 4, 8))}", body: 8, "belong to no entry")  // a hole before
        assertRefused("{\(entry("a", "[1]", 0, 4)),\(entry("b", "[1]", 8, 12))}", body: 12, "belong to no entry")
        assertRefused("{\(entry("a", "[1]", 0, 4))}", body: 12, "after the last entry")  // trailing bytes
    }

    func testEmptyNamesAreRefusedByReaderAndWriter() throws {
        assertRefused("{\(entry("", "[1]", 0, 4))}", body: 4, "empty name")
        let t = try Tensor([1], shape: [1])
        assertThrowsDFM(try SafeTensors.write(["": t], to: dir + "/e.safetensors"), "empty", kind: .invalidArgument)
        assertThrowsDFM(try SafeTensors.encode(["__metadata__": t]), "reserved", kind: .invalidArgument)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/e.safetensors"))
    }

    func testNonStringMetadataIsRefused() {
        // used to be dropped silently
        assertRefused("{\"__metadata__\":{\"epoch\":1}}", body: 0, "'epoch' is a number")
        assertRefused("{\"__metadata__\":{\"a\":\"x\",\"b\":null}}", body: 0, "'b' is null")
        assertRefused("{\"__metadata__\":[\"a\"]}", body: 0, "must be an object")
        assertRefused("{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}", body: 0, "'a' is an object")
    }

    func testMalformedJSONIsRefused() {
        assertRefused("{\(entry("w", "[1]", 0, 4))", body: 4, "corrupt JSON header")
        assertRefused("{\(entry("w", "[1]", 0, 4))} x", body: 4, "corrupt JSON header")
        assertRefused("[1]", body: 0, "expected an object")
        assertRefused("{\"a\":\"\\ud800\"}", body: 0, "surrogate")
        assertRefused(String(repeating: "[", count: 100_000), body: 0, "nested deeper")
    }

    func testValidFilesStillLoad() throws {
        // an empty file ({} and nothing else), spaces after the header, escapes, empty tensors anywhere
        XCTAssertTrue(try SafeTensors.decode(image("{}", body: 0)).tensors.isEmpty)
        let h =
            "{\"__metadata__\":{\"n\\u00e9\":\"a\\\"b\\ud83d\\ude00\"},\(entry("z", "[0]", 0, 0)),\(entry("a", "[2]", 0, 8)),\(entry("i", "[1,1]", 8, 16, dtype: "I64")),\(entry("q", "[0,3]", 16, 16))}   "
        let (t, meta) = try SafeTensors.decode(image(h, body: 16))
        XCTAssertEqual(meta, ["né": "a\"b😀"])
        XCTAssertEqual(t.keys.sorted(), ["a", "i", "q", "z"])
        XCTAssertEqual(t["a"]?.shape, [2])
        XCTAssertEqual(t["q"]?.shape, [0, 3])
        XCTAssertEqual(t["i"]?.dtype, .int64)
        // and what dfm writes reads back, from a file
        let path = dir + "/rt.safetensors"
        try SafeTensors.write(
            ["w": try Tensor([1, 2, 3, 4], shape: [2, 2]), "e": try Tensor([], shape: [0])],
            to: path, metadata: ["k": "v"])
        let (r, m) = try SafeTensors.read(path)
        XCTAssertEqual(r["w"]?.toArray(), [1, 2, 3, 4])
        XCTAssertEqual(r["e"]?.shape, [0])
        XCTAssertEqual(m, ["k": "v"])
    }

    /// Item 7: reads are bounded by the file's real size and the header's declared lengths.
    func testReadsAreBoundedByTheFile() throws {
        // /dev/zero used to be read until the address space ran out
        assertThrowsDFM(try SafeTensors.read("/dev/zero"), "not a regular file", kind: .ioError)
        assertThrowsDFM(try SafeTensors.read(dir), "is a directory", kind: .ioError)
        assertThrowsDFM(try SafeTensors.read(dir + "/missing"), "no such file", kind: .notFound)
        // A 64 GiB sparse file with a tiny valid header: refused from the header and the size,
        // without reading (or allocating) the data it does not index.
        let path = dir + "/sparse.safetensors"
        let header = image("{\(entry("a", "[1]", 0, 4))}", body: 4)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: header))
        XCTAssertEqual(truncate(path, 64 << 30), 0)
        let t0 = Date()
        assertThrowsDFM(try SafeTensors.read(path), "after the last entry", kind: .ioError)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 5)
        // A header length beyond the file: refused before reading it.
        var lying = image("{}", body: 0)
        lying[0] = 0xFF
        lying[1] = 0xFF
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: lying))
        assertThrowsDFM(try SafeTensors.read(path), "header claims 65535 bytes", kind: .ioError)
    }
}

/// Items 8 and 9: checkpoint writes (every safetensors, module and optimizer save goes
/// through AtomicFile.write).
final class AtomicFileTests: XCTestCase {
    lazy var dir: String = {
        let d = NSTemporaryDirectory() + "dfm-atomic-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func names() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }

    /// A process id that no longer exists (a child that has exited and been reaped).
    func deadPid() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    func testStaleTemporariesOfDeadWritersAreRemoved() throws {
        let dead = try deadPid()
        let target = dir + "/ck.safetensors"
        let stale = ["ck.safetensors.tmp-\(dead)-12345", "ck.safetensors.tmp-\(dead)-0"]
        let kept = [
            "ck.safetensors.tmp-\(getpid())-1",  // a live writer (this process)
            "other.safetensors.tmp-\(dead)-1",  // another target
            "ck.safetensors.tmp-\(dead)-1-2", "ck.safetensors.tmp-x\(dead)-1", "ck.safetensors.tmp-0-1",
            "ck.safetensors.tmp-\(dead)-",
        ]
        for n in stale + kept {
            XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/" + n, contents: Data(count: 100)))
        }
        try FileManager.default.createDirectory(
            atPath: dir + "/ck.safetensors.tmp-\(dead)-5", withIntermediateDirectories: false)
        try SafeTensors.write(["w": try Tensor([1, 2], shape: [2])], to: target)
        XCTAssertEqual(names(), (kept + ["ck.safetensors", "ck.safetensors.tmp-\(dead)-5"]).sorted())
        XCTAssertEqual(try SafeTensors.read(target).tensors["w"]?.toArray(), [1, 2])
    }

    func testModeIs0644MinusUmask() throws {
        let old = umask(0o022)
        defer { umask(old) }
        let a = dir + "/a.safetensors"
        try SafeTensors.write([:], to: a)
        var st = stat()
        XCTAssertEqual(stat(a, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o644)
        umask(0o077)
        try SafeTensors.write([:], to: a)  // a new file replaces the old one
        XCTAssertEqual(stat(a, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
    }

    func testErrorsNameTheTargetAndSayWhatIsWrong() throws {
        let sub = dir + "/sub.safetensors"
        try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: false)
        // writing to a directory said "No such file or directory" (a stale errno)
        assertThrowsDFM(try SafeTensors.write([:], to: sub), "cannot write '\(sub)': it is a directory", kind: .ioError)
        assertThrowsDFM(try AtomicFile.write(Data([1]), to: sub, op: "test"), "it is a directory", kind: .ioError)
        // a failing write names the target, not the temporary file
        do {
            try AtomicFile.write(Data([1]), to: "/proc/self/x", op: "test")
            XCTFail("wrote into /proc")
        } catch let e as DFMError {
            XCTAssert(e.message.contains("cannot write '/proc/self/x'") && !e.message.contains(".tmp-"), e.message)
        }
        // a special file is not replaced by a regular one (a FIFO here; as root that was even /dev/null)
        let fifo = dir + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        assertThrowsDFM(
            try SafeTensors.write([:], to: fifo), "cannot write '\(fifo)': not a regular file", kind: .ioError)
        var st = stat()
        XCTAssertEqual(stat(fifo, &st), 0)
        XCTAssertEqual(st.st_mode & S_IFMT, S_IFIFO)
        XCTAssertEqual(names(), ["fifo", "sub.safetensors"])  // nothing left behind
    }
}

/// Item 6: constructor arguments are checked alike (the ResNet refused tau = NaN, the
/// DeepLabV3+ accepted alpha = NaN).
final class ModelArgumentTests: XCTestCase {
    func testDeepLabRefusesNonFiniteAlpha() throws {
        for alpha in [Double.nan, .infinity, -.infinity] {
            assertThrowsDFM(
                try DeepLabV3Plus(
                    fbFilters: 2, classFilters: 8, classes: 3, alpha: alpha, shape: [32, 32], layers: [1, 1, 1, 1]),
                "alpha must be finite", kind: .invalidArgument)
        }
        XCTAssertEqual(
            try DeepLabV3Plus(
                fbFilters: 2, classFilters: 8, classes: 3, alpha: 0.5, shape: [32, 32], layers: [1, 1, 1, 1]
            ).alpha, 0.5)
    }
}
