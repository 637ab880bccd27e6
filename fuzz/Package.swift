// swift-tools-version:6.0
// libFuzzer targets for dfm's parsers and C ABI (#14 item 10). Not part of the main build:
// they need the sanitizer flags, so tools/fuzz.sh builds them with
//   swift build --package-path fuzz -c debug -Xswiftc -sanitize=fuzzer,address --product fuzz-NAME
import Foundation
import PackageDescription

/// A path dependency's identity is its directory's name (the checkout may be called anything).
let dfm = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "dfm-fuzz",
    dependencies: [.package(path: "..")],
    targets: [
        // SafeTensors.decode on arbitrary bytes (the in-memory reader; fuzz-checkpoint covers the file reader).
        .executableTarget(name: "fuzz-safetensors", dependencies: ["FuzzDriver", .product(name: "DFM", package: dfm)]),
        // IDXDataset on an images file and a labels file (raw or gzip) cut from one input, then batch().
        .executableTarget(name: "fuzz-idx", dependencies: ["FuzzDriver", .product(name: "DFM", package: dfm)]),
        // The checkpoint loaders through the C ABI: dfm_module_load, dfm_optimizer_load, dfm_scheduler_load.
        .executableTarget(name: "fuzz-checkpoint", dependencies: ["FuzzDriver", "FuzzC", .product(name: "dfm", package: dfm)]),
        // Sequences of dfm_* calls with live, released, garbage and NULL handles, odd sizes, dtypes, shapes.
        .executableTarget(name: "fuzz-abi", dependencies: ["FuzzDriver", "FuzzC", .product(name: "dfm", package: dfm)]),
        // libFuzzer's driver entry (LLVMFuzzerRunDriver), called by each target's main.swift.
        .target(name: "FuzzDriver"),
        // The C halves of fuzz-checkpoint and fuzz-abi (they call only the public C ABI, Include/dfm.h).
        .target(name: "FuzzC"),
    ],
    swiftLanguageModes: [.v5]
)
