// swift-tools-version:6.2
// Benchmarks for CytoIngest, kept out of the main package so library users never build
// package-benchmark. Run from this folder: `swift package benchmark`.
import PackageDescription

let package = Package(
    name: "CytoIngestBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "CytoIngest", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "FCSParserBenchmarks",
            dependencies: [
                .product(name: "FCSParser", package: "CytoIngest"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/FCSParserBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "GatingBenchmarks",
            dependencies: [
                .product(name: "FCSParser", package: "CytoIngest"),
                .product(name: "Gating", package: "CytoIngest"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/GatingBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "LabBenchmarks",
            dependencies: [
                .product(name: "Pipeline", package: "CytoIngest"),
                .product(name: "Labs", package: "CytoIngest"),
                .product(name: "CytoModel", package: "CytoIngest"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/LabBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "IngestBenchmarks",
            dependencies: [
                .product(name: "FCSParser", package: "CytoIngest"),
                .product(name: "Gating", package: "CytoIngest"),
                .product(name: "Pipeline", package: "CytoIngest"),
                .product(name: "Analysis", package: "CytoIngest"),
                .product(name: "Synth", package: "CytoIngest"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/IngestBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "SynthBenchmarks",
            dependencies: [
                .product(name: "Synth", package: "CytoIngest"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/SynthBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
