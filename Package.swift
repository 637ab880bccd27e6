// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "dfm",
    products: [
        // The Swift library: `import DFM`.
        .library(name: "DFM", targets: ["DFM"]),
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
        .testTarget(
            name: "DFMTests",
            dependencies: ["DFM"],
            path: "Tests/DFMTests",
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
