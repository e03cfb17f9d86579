import CytoModel
import Foundation
import Pipeline
import Store
import TestSupport
import Testing

/// Change control (issue 14): a changed configuration, strategy or registry re-derives what it
/// affects; `--reprocess` forces it; an unreadable re-export never replaces a good result; a
/// duplicate is not counted twice; rejections stay outstanding until resolved.
@Suite("Change control")
struct ChangeControlTests {
    static func run(_ dir: URL, _ reprocess: IngestPipeline.Reprocess = .none) async throws -> RunSummary {
        var o = IngestPipeline.Options()
        o.now = ISO8601DateFormatter().date(from: "2024-12-31T00:00:00Z")!
        o.reprocess = reprocess
        return try await IngestPipeline(config: try PipelineTests.config(dir), options: o).run()
    }

    static func edit(_ url: URL, _ change: (String) -> String) throws {
        try Data(change(try String(contentsOf: url, encoding: .utf8)).utf8).write(to: url)
    }

    @Test(
        "configuration, strategy and registry changes re-derive; bad re-exports, duplicates and missing files are handled"
    )
    func changeControl() async throws {
        let dir = try PipelineTests.workspace("change-control")
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = dir.appendingPathComponent("pipeline.json")
        var s = try await Self.run(dir)
        #expect(s.newFiles == 24 && s.outstandingRejections == 0)
        s = try await Self.run(dir)
        #expect(s.unchangedFiles == 24 && s.rederivedFiles == 0)

        // A QC setting changes: every sample is derived again, once.
        try Self.edit(config) {
            $0.replacingOccurrences(of: "\"minLymphocytes\": 2500", with: "\"minLymphocytes\": 2400")
        }
        s = try await Self.run(dir)
        #expect(s.rederivedFiles == 24 && s.unchangedFiles == 0, "\(s)")
        s = try await Self.run(dir)
        #expect(s.rederivedFiles == 0 && s.unchangedFiles == 24)

        // The strategy file changes (same gates, other bytes): derived again.
        try Self.edit(dir.appendingPathComponent("cohort/panel.xml")) { $0 + "<!-- edited -->\n" }
        s = try await Self.run(dir)
        #expect(s.rederivedFiles == 24, "\(s)")

        // A patient leaves the registry: their files are rejected; back in it, they are retried.
        let registry = dir.appendingPathComponent("cohort/registry.csv")
        let original = try String(contentsOf: registry, encoding: .utf8)
        try Self.edit(registry) {
            $0.split(separator: "\n").filter { !$0.hasPrefix("P004") }.joined(separator: "\n") + "\n"
        }
        s = try await Self.run(dir)
        #expect(s.rejectedFiles == 6 && s.outstandingRejections == 6 && s.hadRejections, "\(s)")
        let rerun = try await Self.run(dir)
        #expect(
            rerun.rejectedFiles == 0 && rerun.outstandingRejections == 6 && rerun.hadRejections,
            "still outstanding: exit 65 again")
        try Data(original.utf8).write(to: registry)
        s = try await Self.run(dir)
        #expect(s.rederivedFiles == 24 && s.outstandingRejections == 0, "\(s)")
        let store = try PipelineTests.store(dir)
        #expect(try store.samples().count == 24)

        // An unreadable re-export does not replace the good result; both are shown.
        let target = dir.appendingPathComponent("cohort/fcs/P001_M01.fcs.gz")
        let good = try Data(contentsOf: target)
        try good.prefix(good.count / 2).write(to: target)
        s = try await Self.run(dir)
        #expect(s.rejectedFiles == 1 && s.supersededFiles == 1 && s.outstandingRejections == 1, "\(s)")
        #expect(try store.samples().contains { $0.file == "cohort/fcs/P001_M01.fcs.gz" }, "the good result stays")
        let state = try #require(try store.fileState("cohort/fcs/P001_M01.fcs.gz"))
        #expect(state.status == .ingested && state.rejectedSHA256 != nil && state.rejectedSHA256 != state.sha256)
        #expect(
            try store.rejections().contains {
                $0.file == "cohort/fcs/P001_M01.fcs.gz" && $0.code.rawValue.hasPrefix("FCS-")
            })
        s = try await Self.run(dir)
        #expect(
            s.unchangedFiles == 24 && s.rejectedFiles == 0 && s.outstandingRejections == 1,
            "the bad version is not re-read: \(s)")
        s = try await Self.run(dir, .rejected)
        #expect(s.rederivedFiles == 1 && s.rejectedFiles == 1, "--reprocess --rejected tries it again: \(s)")
        try good.write(to: target)
        s = try await Self.run(dir)
        #expect(s.outstandingRejections == 0, "the good version back: \(s)")

        // The same content under another name: reported, not counted twice.
        try FileManager.default.copyItem(
            at: dir.appendingPathComponent("cohort/fcs/P002_M02.fcs.gz"),
            to: dir.appendingPathComponent("cohort/fcs/copy-of-P002.fcs.gz"))
        s = try await Self.run(dir)
        #expect(s.duplicateFiles == 1 && s.newFiles == 0, "\(s)")
        #expect(try store.samples().count == 24)
        #expect(
            try store.rejections().contains { $0.code == .duplicateFile && $0.file == "cohort/fcs/copy-of-P002.fcs.gz" }
        )
        try FileManager.default.removeItem(at: dir.appendingPathComponent("cohort/fcs/copy-of-P002.fcs.gz"))

        // A file that disappears keeps its result, marked missing.
        try FileManager.default.removeItem(at: dir.appendingPathComponent("cohort/fcs/P003_M05.fcs.gz"))
        s = try await Self.run(dir)
        #expect(s.missingFiles >= 1)
        #expect(try store.fileState("cohort/fcs/P003_M05.fcs.gz")?.status == .missing)
        #expect(try store.samples().contains { $0.file == "cohort/fcs/P003_M05.fcs.gz" })

        // --reprocess FILE derives that file again.
        s = try await Self.run(dir, .files(["cohort/fcs/P004_M00.fcs.gz"]))
        #expect(s.rederivedFiles == 1, "\(s)")
    }

    @Test(
        "records are rebuilt exactly when their inputs changed: not on a no-op run, after any commit (even one a crash left without a rebuild), after a registry or rules change"
    )
    func recordsBasis() async throws {
        let dir = try PipelineTests.workspace("records-basis")
        defer { try? FileManager.default.removeItem(at: dir) }
        var s = try await Self.run(dir)
        #expect(s.recordsUpdated > 0)
        let store = try PipelineTests.store(dir)
        let basis = try #require(try store.recordsBasis())
        let records = try store.records(patient: nil)
        // Nothing changed: not rebuilt, not even rewritten (the basis is the same).
        s = try await Self.run(dir)
        let basisAfterNoop = try store.recordsBasis()
        #expect(s.recordsUpdated == 0 && basisAfterNoop == basis)
        // A commit drops the basis in its own transaction; the next run rebuilds (a crash after
        // the commit and before the rebuild leaves exactly this state).
        let sample = try #require(try store.samples().first)
        let state = try #require(try store.fileState(sample.file))
        try store.commitSample(
            path: sample.file, size: state.size, mtime: state.mtime, sample: sample,
            analysisSHA256: state.analysisSHA256
        )
        let dropped = try store.recordsBasis()
        #expect(dropped == nil)
        try store.replaceRecords([], basis: nil)
        s = try await Self.run(dir)
        let (rebuiltBasis, rebuilt) = (try store.recordsBasis(), try store.records(patient: nil))
        #expect(rebuiltBasis == basis && rebuilt == records)
        // The registry changes (a patient's day 0 moves): rebuilt.
        try Self.edit(dir.appendingPathComponent("cohort/registry.csv")) {
            $0.replacingOccurrences(of: "P001,2024-01-08", with: "P001,2024-01-01")
        }
        s = try await Self.run(dir)
        let (movedBasis, moved) = (try store.recordsBasis(), try store.records(patient: nil))
        #expect(movedBasis != basis && moved != records, "\(s)")
    }

    @Test("two new files with the same content in one run: the first in listing order is kept, every time")
    func duplicatesInOneRun() async throws {
        for _ in 0..<3 {
            let dir = try PipelineTests.workspace("dup-order")
            defer { try? FileManager.default.removeItem(at: dir) }
            let fcs = dir.appendingPathComponent("cohort/fcs")
            try FileManager.default.copyItem(
                at: fcs.appendingPathComponent("P002_M01.fcs.gz"),
                to: fcs.appendingPathComponent("Z-copy-of-P002_M01.fcs.gz"))
            var s = try await Self.run(dir)
            #expect(s.newFiles == 24 && s.duplicateFiles == 1, "\(s)")
            let store = try PipelineTests.store(dir)
            #expect(try store.fileState("cohort/fcs/P002_M01.fcs.gz")?.status == .ingested)
            #expect(try store.fileState("cohort/fcs/Z-copy-of-P002_M01.fcs.gz")?.status == .duplicate)
            // Again: still one duplicate, nothing new or superseded.
            s = try await Self.run(dir)
            #expect(s.duplicateFiles == 1 && s.newFiles == 0 && s.supersededFiles == 0, "\(s)")
            // The original goes away: its result stays (marked missing), so the copy is still a
            // duplicate of stored content, not a second result.
            try FileManager.default.removeItem(at: fcs.appendingPathComponent("P002_M01.fcs.gz"))
            s = try await Self.run(dir)
            #expect(s.duplicateFiles == 1 && s.missingFiles == 1 && s.supersededFiles == 0, "\(s)")
            #expect(try store.samples().count == 24)
        }
    }
}
