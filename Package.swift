// swift-tools-version:6.0
import Foundation
import PackageDescription

/// The ABI major, read from Include/dfm.h (DFM_ABI_VERSION, the one source of the version):
/// it is part of libdfm's soname.
let abiMajor: String = {
    let header = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Include/dfm.h")
    let text = (try? String(contentsOf: header, encoding: .utf8)) ?? ""
    for line in text.split(separator: "\n") where line.hasPrefix("#define DFM_ABI_VERSION ") {
        return String(line.dropFirst("#define DFM_ABI_VERSION ".count)).trimmingCharacters(in: .whitespaces)
    }
    fatalError("Package.swift: DFM_ABI_VERSION not found in Include/dfm.h")
}()

let package = Package(
    name: "dfm",
    products: [
        // The command-line tool: `dfm-cli train|eval|experiment` (also reachable as `make train`).
        .executable(name: "dfm-cli", targets: ["dfm-cli"]),
        // The Swift library: `import DFM`.
        .library(name: "DFM", targets: ["DFM"]),
        // The C ABI (Include/dfm.h) as libdfm.so, for C programs and the Python binding.
        .library(name: "dfm", type: .dynamic, targets: ["DFMExports"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            path: "Sources/CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // Float32 loops compiled per x86-64 ISA level, picked at load time (include/dfm_kernels.h).
        .target(name: "CKernels", path: "Sources/CKernels"),
        .target(
            name: "DFM",
            dependencies: ["COpenBLAS", "CZlib", "CKernels"],
            path: "Sources/DFM"
        ),
        // Include/dfm.h as a Clang module, so `@c @implementation` checks every export against it.
        .systemLibrary(
            name: "CDFM",
            path: "Sources/CDFM"
        ),
        .target(
            name: "DFMExports",
            dependencies: ["DFM", "CDFM"],
            path: "Sources/DFMExports",
            linkerSettings: [
                // soname carries the ABI major (see bindings/c/Makefile for the libdfm.so.N link).
                .unsafeFlags(["-Xlinker", "-soname=libdfm.so.\(abiMajor)"])
            ]
        ),
        // Release-mode benchmark: sgemm and conv2d GFLOP/s (bench/run_conv.sh).
        .executableTarget(name: "dfm-bench", dependencies: ["DFM"], path: "bench/DFMBench"),
        .executableTarget(
            name: "dfm-cli",
            dependencies: ["DFM", "CZlib", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/dfm-cli"
        ),
        .testTarget(
            name: "DFMTests",
            dependencies: ["DFM"],
            path: "Tests/DFMTests",
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
