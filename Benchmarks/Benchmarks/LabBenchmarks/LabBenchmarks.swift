import Benchmark
import CytoModel
import Foundation
import Labs
import Pipeline
import SafeXML

// Import of a 50 MB neutral-format file (about 85,000 results) into a counting sink: the
// streaming path the pipeline uses (results staged, not kept). MB/s = file size / wall time.

struct CountingSink: LabResultSink {
    var count = 0
    mutating func stage(_ result: HIVRNAResult) { count += 1 }
}

func makeFile() -> String {
    let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("cytoingest-bench")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent("hivrna-50MB.xml").path
    if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size >= 50_000_000 {
        return path
    }
    var s = """
        <?xml version="1.0" encoding="UTF-8"?>
        <HivRnaExport xmlns="urn:hivrna-export:v1" schemaVersion="1.0" exportId="BENCH" createdAt="2024-12-31T00:00:00Z">
          <Source><Laboratory id="L1">Benchmark lab</Laboratory></Source>
          <Assays><Assay id="A1" kit="COBAS AmpliPrep/COBAS TaqMan HIV-1 Test" unit="copies/mL" lod="20" lloq="20" uloq="10000000" iuPerCopy="1.7"/></Assays>

        """
    var n = 0
    var run = 0
    while s.utf8.count < 50_000_000 {
        run += 1
        s += "  <Run id=\"RUN-\(run)\" assayRef=\"A1\" completedAt=\"2024-06-01T15:00:00Z\" runStatus=\"valid\">\n"
        for _ in 0..<1000 {
            n += 1
            let copies = 20 + (n * 7919) % 9_000_000
            s += """
                    <Result id="R-\(n)"><PatientId>P\(n % 500)</PatientId><SpecimenId>S-\(n)</SpecimenId><SpecimenType>plasma-EDTA</SpecimenType><CollectedAt>2024-05-0\(1 + n % 9)T08:30:00Z</CollectedAt><ResultedAt>2024-06-01T16:00:00Z</ResultedAt><Status>final</Status><Quantified unit="copies/mL">\(copies)</Quantified><Log10>\(String(format: "%.2f", log10(Double(copies))))</Log10><InstrumentText>\(copies) cp/mL</InstrumentText></Result>

                """
        }
        s += "  </Run>\n"
    }
    s += "</HivRnaExport>\n"
    try! Data(s.utf8).write(to: URL(fileURLWithPath: path))
    return path
}

let benchmarks: @Sendable () -> Void = {
    Benchmark(
        "import 50 MB neutral HIV RNA export (streaming, counting sink)",
        configuration: .init(
            metrics: [.wallClock, .peakMemoryResident], timeUnits: .milliseconds, warmupIterations: 1,
            scalingFactor: .one, maxDuration: .seconds(30), maxIterations: 5)
    ) { benchmark in
        let path = makeFile()
        var options = LabImportOptions()
        options.maxBytes = 64 << 20
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var sink = CountingSink()
            let report = LabImporter.importFile(path: path, options: options, sink: &sink)
            precondition(report.status == .accepted, "\(report.error?.description ?? "")")
            blackHole(sink.count)
        }
    }
    // The user-level path: the same file into a fresh store through `run` (staged in one
    // transaction, monthly records rebuilt), with a minimal cohort around it.
    Benchmark(
        "import 50 MB neutral HIV RNA export into a fresh store (run)",
        configuration: .init(
            metrics: [.wallClock, .peakMemoryResident, .mallocCountTotal], timeUnits: .milliseconds,
            warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(60), maxIterations: 3)
    ) { benchmark in
        let path = makeFile()
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("cytoingest-bench-labrun")
        try? FileManager.default.createDirectory(
            at: dir.appendingPathComponent("fcs"), withIntermediateDirectories: true)
        var registry = "patient_id,day0,cycle_starts,dose_miu_per_day\n"
        for p in 0..<500 { registry += "P\(p),2024-04-01,2024-04-01,6\n" }
        try Data(registry.utf8).write(to: dir.appendingPathComponent("registry.csv"))
        let fixtures = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(
            "../fixtures")
        let fcs = dir.appendingPathComponent("fcs/P001_M00.fcs.gz")
        if !FileManager.default.fileExists(atPath: fcs.path) {
            try FileManager.default.copyItem(at: fixtures.appendingPathComponent("cohort/fcs/P001_M00.fcs.gz"), to: fcs)
        }
        let config = """
            {"version": 1, "inputs": {"fcs": ["fcs"], "labs": ["\(path)"]}, "identity": {"patientKeyword": "$SRC"},
             "registry": "registry.csv", "gating": {"strategy": "\(fixtures.path)/cohort/panel.xml",
             "gates": {"beads": "Beads", "lymphocytes": "Lymphocytes", "cd3": "CD3", "cd4": "CD4T", "cd8": "CD8T", "cd8Hladr": "CD8_HLADR", "cd4Cd25": "CD4_CD25"}}}
            """
        try Data(config.utf8).write(to: dir.appendingPathComponent("pipeline.json"))
        let cfg = try PipelineConfiguration.load(path: dir.appendingPathComponent("pipeline.json").path)
        for _ in benchmark.scaledIterations {
            let db = dir.appendingPathComponent("labs.sqlite").path
            for suffix in ["", "-wal", "-shm", ".lock"] { try? FileManager.default.removeItem(atPath: db + suffix) }
            benchmark.startMeasurement()
            let summary = try await IngestPipeline(config: cfg, databasePath: db).run()
            benchmark.stopMeasurement()
            precondition(summary.labResultsStored > 80_000)
        }
    }
    // The floor: the hardened reader alone (pre-scan + libxml2 + cursor), no strings, no lab logic.
    Benchmark(
        "read 50 MB neutral HIV RNA export with the XML cursor only (floor)",
        configuration: .init(
            metrics: [.wallClock, .peakMemoryResident], timeUnits: .milliseconds, warmupIterations: 1,
            scalingFactor: .one, maxDuration: .seconds(30), maxIterations: 5)
    ) { benchmark in
        let path = makeFile()
        let limits = XMLLimits()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let reader = try XMLEventReader(path: path, limits: limits)
            var events = 0
            while try reader.advance() != nil { events += 1 }
            blackHole(events)
        }
    }
}
