import Benchmark
import Foundation
import Pipeline
import Synth

// The main job's targets: a cohort of 144 files x 50,000 events (float32, ~280 MB) into a
// fresh store <= 1.5 s wall on this 2-core machine; a rerun with nothing new <= 0.2 s.

let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("cytoingest-bench-ingest")

func prepare() async throws -> PipelineConfiguration {
    let cohort = root.appendingPathComponent("cohort")
    if !FileManager.default.fileExists(atPath: cohort.appendingPathComponent("truth.json").path) {
        var o = SynthOptions()
        o.patients = 24
        o.months = 6
        o.events = 50_000
        try await CohortSynthesizer(options: o).write(to: cohort)
    }
    let config = """
        {"version": 1, "inputs": {"fcs": ["cohort/fcs"], "labs": ["cohort/labs/hivrna-export.xml"]},
         "identity": {"patientKeyword": "$SRC"}, "registry": "cohort/registry.csv",
         "gating": {"strategy": "cohort/panel.xml", "gates": {"beads": "Beads", "lymphocytes": "Lymphocytes", "cd3": "CD3", "cd4": "CD4T", "cd8": "CD8T", "cd8Hladr": "CD8_HLADR", "cd4Cd25": "CD4_CD25"}},
         "labs": {"patientIdentifierSystem": "urn:x-synthetic:study-subject"}}
        """
    let path = root.appendingPathComponent("pipeline.json")
    try Data(config.utf8).write(to: path)
    return try PipelineConfiguration.load(path: path.path)
}

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(metrics: [.wallClock, .peakMemoryResident], timeUnits: .milliseconds, warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(30), maxIterations: 5)

    Benchmark("ingest 144 files x 50,000 events into a fresh store", configuration: configuration) { benchmark in
        let config = try await prepare()
        for _ in benchmark.scaledIterations {
            let db = root.appendingPathComponent("fresh.sqlite").path
            for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: db + suffix) }
            benchmark.startMeasurement()
            let summary = try await IngestPipeline(config: config, databasePath: db).run()
            benchmark.stopMeasurement()
            precondition(summary.newFiles == 144)
        }
    }

    Benchmark("rerun with nothing new (144 files)", configuration: configuration) { benchmark in
        let config = try await prepare()
        let db = root.appendingPathComponent("rerun.sqlite").path
        _ = try await IngestPipeline(config: config, databasePath: db).run()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let summary = try await IngestPipeline(config: config, databasePath: db).run()
            precondition(summary.unchangedFiles == 144)
        }
    }
}
