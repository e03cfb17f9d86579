// swift-tools-version:6.2
//
// CytoIngest: flow-cytometry ingestion for clinical immunology follow-up. Linux only (CI builds
// on Debian; the sources use Glibc).
//
// The flow of one file, bottom to top, and the only allowed dependencies (Scripts/check-imports.sh
// enforces them in CI; docs/architecture.md draws them):
//
//   FCSParser, SafeXML, Deflate            formats and compression (C libraries behind them)
//   Gating        -> FCSParser, SafeXML    generic gating: compensation, transforms, gates, Gating-ML, FlowJo
//   CytoModel                              shared vocabulary: dates, populations, codes, samples, lab results, records
//   Analysis      -> Gating, CytoModel     one file -> channels, template/adaptive gates, derivations, QC
//   Labs          -> SafeXML, CytoModel    HIV RNA XML -> normalised results
//   Records       -> CytoModel             monthly-record rules (pure)
//   Store         -> CytoModel, GRDB       RecordStore protocol, SQLite store
//   Review        -> Analysis, Deflate     validation against manual gates, HTML reports
//   Pipeline      -> all of the above      configuration, discovery, lock, the run
//   cytoingest    -> Pipeline (and below)  the command-line tool
import PackageDescription

let package = Package(
    name: "CytoIngest",
    // MARK: - Public API
    products: [
        .library(name: "FCSParser", targets: ["FCSParser"]),
        .library(name: "Gating", targets: ["Gating"]),
        .library(name: "CytoModel", targets: ["CytoModel"]),
        .library(name: "Analysis", targets: ["Analysis"]),
        .library(name: "Labs", targets: ["Labs"]),
        .library(name: "Records", targets: ["Records"]),
        .library(name: "Store", targets: ["Store"]),
        .library(name: "Review", targets: ["Review"]),
        .library(name: "Pipeline", targets: ["Pipeline"]),
        .library(name: "Synth", targets: ["Synth"]),
        .executable(name: "cytoingest", targets: ["cytoingest"]),
    ],
    // The PostgreSQL store (shared deployments, many workers) is a trait: postgres-nio and SwiftNIO
    // take minutes to build, so the default build and `swift test` stay SQLite-only
    // (`swift build --traits PostgreSQL` builds it; docs/deploy.md).
    traits: [
        .trait(name: "PostgreSQL", description: "The PostgreSQL record store and `run --worker` (postgres-nio)"),
        .default(enabledTraits: []),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // MARK: - Modules (bottom to top)
        .target(name: "FCSParser", dependencies: ["CZlib"]),
        .target(name: "Gating", dependencies: ["FCSParser", "SafeXML"]),
        .target(name: "CytoModel"),
        .target(name: "Analysis", dependencies: ["Gating", "FCSParser", "CytoModel"]),
        .target(name: "Labs", dependencies: ["SafeXML", "CytoModel"]),
        .target(name: "Records", dependencies: ["CytoModel"]),
        .target(
            name: "Store",
            dependencies: [
                "CSQLiteShim", "CytoModel", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio", condition: .when(traits: ["PostgreSQL"])),
            ]
        ),
        .target(name: "Review", dependencies: ["Analysis", "Gating", "FCSParser", "CytoModel", "Deflate"]),
        .target(
            name: "Pipeline",
            dependencies: [
                "Analysis", "Labs", "Records", "Store", "Review", "Gating", "FCSParser", "CytoModel",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        /// Synthetic cohorts with known truth (`cytoingest synth`).
        .target(name: "Synth", dependencies: ["FCSParser", "Gating", "CytoModel", "Deflate"]),
        .executableTarget(
            name: "cytoingest",
            dependencies: [
                "Pipeline", "Review", "Store", "Labs", "Analysis", "Gating", "FCSParser", "CytoModel", "Synth",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Implementation details
        /// Hardened libxml2 streaming reader shared by every XML input.
        .target(name: "SafeXML", dependencies: ["CLibXML2", "CZlib"]),
        /// zlib deflate (gzip members, zlib streams) and CRC-32 for writers (.fcs.gz, PNG).
        .target(name: "Deflate", dependencies: ["CZlib"]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSQLiteShim", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),

        // MARK: - Tests
        .target(name: "TestSupport", dependencies: ["FCSParser", "Deflate"], path: "Sources/TestSupport"),
        .testTarget(name: "FCSParserTests", dependencies: ["FCSParser", "TestSupport"]),
        .testTarget(name: "GatingTests", dependencies: ["Gating", "FCSParser", "SafeXML", "TestSupport"]),
        .testTarget(name: "SynthTests", dependencies: ["Synth", "Gating", "FCSParser", "CytoModel", "TestSupport"]),
        .testTarget(
            name: "PipelineTests",
            dependencies: [
                "FCSParser", "Gating", "CytoModel", "Analysis", "Labs", "Records", "Store", "Review", "Pipeline",
                "SafeXML",
                "Deflate", "Synth", "TestSupport", .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "CLITests",
            dependencies: [
                "cytoingest", "FCSParser", "CytoModel", "Store", "Pipeline", "Synth", "TestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Shared settings: every module builds with strict memory safety (unsafe code is marked and lives
// only in the kernel files the README lists) and explicit existentials.
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    if target.type != .test { settings.append(.strictMemorySafety()) }
    target.swiftSettings = settings
}
