// swift-tools-version:6.0
import PackageDescription

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
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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
        .target(
            name: "DFM",
            dependencies: ["COpenBLAS", "CZlib"],
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
                // soname carries the ABI major (see bindings/c/Makefile for the libdfm.so.2 link).
                .unsafeFlags(["-Xlinker", "-soname=libdfm.so.2"]),
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
