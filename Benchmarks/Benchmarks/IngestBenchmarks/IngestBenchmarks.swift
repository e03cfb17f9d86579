import Analysis
import Benchmark
import FCSParser
import Foundation
import Gating
import Pipeline
import Synth

// The main job's targets: a cohort of 144 files x 50,000 events (float32, ~280 MB) into a
// fresh store <= 1.5 s wall on this 2-core machine; a rerun with nothing new <= 0.2 s.
// Adaptive gating (issue 8): one 50,000-event file <= 5 ms on one core; a 144-file strongly
// drifted cohort well under a second of gating on 2 cores.

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
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .peakMemoryResident, .mallocCountTotal], timeUnits: .milliseconds,
        warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(30), maxIterations: 5)

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

    Benchmark(
        "adaptive gating of one 50,000-event file (strong drift, decoded columns)",
        configuration: .init(
            metrics: [.wallClock, .peakMemoryResident], timeUnits: .microseconds, warmupIterations: 3,
            scalingFactor: .one, maxDuration: .seconds(10), maxIterations: 200)
    ) { benchmark in
        let dir = root.appendingPathComponent("adaptive-one")
        var o = SynthOptions()
        o.patients = 1
        o.months = 1
        o.events = 50_000
        o.drift = .strong
        try await CohortSynthesizer(options: o).write(to: dir)
        let reader = try FCSReader(path: dir.appendingPathComponent("fcs/P001_M00.fcs").path)
        let set = reader.dataSets[0]
        let columns = try reader.readEvents(values: .scaled).columns
        let names = set.parameters.map(\.name)
        func at(_ n: String) -> Int { names.firstIndex(of: n)! }
        let channels = AdaptiveGating.Channels(
            fscA: at("FSC-A"), fscH: at("FSC-H"), ssc: at("SSC-A"), time: at("Time"), cd45: at("CD45"), cd3: at("CD3"),
            cd4: at("CD4"), cd8: at("CD8"),
            hladr: at("HLA-DR"), cd25: at("CD25"))
        let spill = try set.spillover().map { try SpilloverMatrix(fcs: $0) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let r = try AdaptiveGating.run(
                columns: columns, names: names, channels: channels, spillover: spill, template: nil,
                ids: AdaptiveGating.IDs())
            precondition(r.counts["CD4T"]! > 0)
            blackHole(r)
        }
        benchmark.stopMeasurement()
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

    // Every input's time changed, none its content: each file is hashed, nothing analysed.
    Benchmark("rerun after touching every input (144 files)", configuration: configuration) { benchmark in
        let config = try await prepare()
        let db = root.appendingPathComponent("touched.sqlite").path
        _ = try await IngestPipeline(config: config, databasePath: db).run()
        let fcs = root.appendingPathComponent("cohort/fcs").path
        let files = try FileManager.default.contentsOfDirectory(atPath: fcs)
        for _ in benchmark.scaledIterations {
            let now = Date()
            for f in files {
                try FileManager.default.setAttributes([.modificationDate: now], ofItemAtPath: fcs + "/" + f)
            }
            benchmark.startMeasurement()
            let summary = try await IngestPipeline(config: config, databasePath: db).run()
            benchmark.stopMeasurement()
            precondition(summary.unchangedFiles == 144 && summary.newFiles == 0)
        }
    }
}
