// swift-tools-version:6.2
//
// CytoIngest: flow-cytometry ingestion for clinical immunology follow-up.
// Layers point one way: cytoingest -> Pipeline -> Gating -> FCSParser.
import PackageDescription

let package = Package(
    name: "CytoIngest",
    platforms: [.macOS(.v13)],
    // MARK: - Public API
    products: [
        .library(name: "FCSParser", targets: ["FCSParser"]),
        .library(name: "Gating", targets: ["Gating"]),
        .library(name: "Pipeline", targets: ["Pipeline"]),
        .library(name: "Synth", targets: ["Synth"]),
        .executable(name: "cytoingest", targets: ["cytoingest"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // MARK: - Modules
        .target(
            name: "FCSParser",
            dependencies: ["CZlib"],
            swiftSettings: [.strictMemorySafety()]
        ),
        .target(
            name: "Gating",
            dependencies: ["FCSParser", "SafeXML"],
            swiftSettings: [.strictMemorySafety()]
        ),
        .target(
            name: "Pipeline",
            dependencies: [
                "Gating", "FCSParser", "SafeXML",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        /// Synthetic cohorts with known truth (`cytoingest synth`).
        .target(
            name: "Synth",
            dependencies: ["FCSParser", "Gating"]
        ),
        .executableTarget(
            name: "cytoingest",
            dependencies: [
                "Pipeline", "Gating", "FCSParser", "Synth",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Implementation details
        /// Hardened libxml2 streaming reader shared by every XML input.
        .target(
            name: "SafeXML",
            dependencies: ["CLibXML2", "CZlib"],
            swiftSettings: [.strictMemorySafety()]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),

        // MARK: - Tests
        .target(
            name: "TestSupport",
            dependencies: ["FCSParser", "CZlib"],
            path: "Sources/TestSupport"
        ),
        .testTarget(
            name: "FCSParserTests",
            dependencies: ["FCSParser", "TestSupport"]
        ),
        .testTarget(
            name: "GatingTests",
            dependencies: ["Gating", "FCSParser", "SafeXML", "TestSupport"]
        ),
        .testTarget(
            name: "SynthTests",
            dependencies: ["Synth", "Gating", "FCSParser", "TestSupport"]
        ),
        .testTarget(
            name: "PipelineTests",
            dependencies: ["FCSParser", "Pipeline", "SafeXML", "Synth", "TestSupport"]
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["cytoingest", "FCSParser", "Pipeline", "Synth", "TestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}
