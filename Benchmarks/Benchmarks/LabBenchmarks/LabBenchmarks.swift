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
