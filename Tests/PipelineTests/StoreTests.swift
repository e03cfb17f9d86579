import Analysis
import CytoModel
import Foundation
import GRDB
import Pipeline
import Records
import Store
import TestSupport
import Testing

/// The provenance each stored row carries (the migration from the previous release's schema is
/// tested through the CLI, in CLITests/StoreMigrationTests).
@Suite("Store")
struct StoreTests {
    @Test("samples() round-trips every stored field; the run and each sample carry the canonical configuration's hash")
    func provenance() async throws {
        let dir = try PipelineTests.workspace("provenance")
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = try PipelineTests.config(dir)
        config.gating.mode = .adaptive
        let db = dir.appendingPathComponent("p.sqlite").path
        _ = try await IngestPipeline(config: config, databasePath: db).run()
        let store = try SQLiteRecordStore(path: db)
        let stored = try store.samples()
        #expect(stored.count == 24)
        // Analysing the same files again gives exactly what was stored (every field).
        let analyzer = try config.makeAnalyzer()
        for s in stored {
            let fresh = try analyzer.analyze(
                AnalysisRequest(path: config.resolve(s.file), displayName: s.file, sha256: s.sha256)
            ).outcome.get()
            #expect(fresh == s, "\(s.file)")
        }
        #expect(stored.allSatisfy { $0.configSHA256 == config.sha256 && $0.configSHA256.count == 64 })
        let queue = try DatabaseQueue(path: db)
        let runHash: String? = try await queue.read { db in
            try String.fetchOne(db, sql: "SELECT config_sha256 FROM runs")
        }
        #expect(runHash == config.sha256)
        // The hash is of the meaning, not the file: defaults spelt out change nothing, a setting does.
        let reloaded = try PipelineConfiguration.load(path: dir.appendingPathComponent("pipeline.json").path)
        var same = reloaded
        same.qc.minBeads = QCLimits().minBeads
        #expect(same.sha256 == reloaded.sha256)
        var other = reloaded
        other.qc.minLymphocytes += 1
        #expect(other.sha256 != reloaded.sha256)
        #expect(reloaded.sha256 != config.sha256, "gating mode is part of the configuration")
    }
}
