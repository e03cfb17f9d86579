import CytoModel
import Deflate
import FCSParser
import Foundation
import GRDB
import Glibc
import Store
import TestSupport
import Testing

@testable import Pipeline

/// Faults an operator meets: a full disk, other programs on the store, hostile and huge files,
/// inputs that cannot be read (issue D1-D11; the whole-process ones are in CLITests).
@Suite("Reliability under faults", .serialized)
struct ReliabilityTests {
    typealias P = PipelineTests

    static var isRoot: Bool { getuid() == 0 }

    /// A neutral export of `count` results for the cohort's patients (several MB when stored).
    static func bigLabFile(_ url: URL, count: Int) throws {
        var rows = ""
        rows.reserveCapacity(count * 420)
        for i in 0..<count {
            rows += """
                <Result id="BIG-\(i)"><PatientId>P00\(1 + i % 4)</PatientId><SpecimenId>S-BIG-\(i)</SpecimenId><CollectedAt>2024-03-04T08:00:00Z</CollectedAt><ResultedAt>2024-03-08T16:00:00Z</ResultedAt><Status>final</Status><Quantified unit="copies/mL">\(1000 + i)</Quantified><Comment>padding padding padding padding padding padding padding padding padding padding</Comment></Result>

                """
        }
        let doc = """
            <?xml version="1.0" encoding="UTF-8"?>
            <HivRnaExport xmlns="urn:hivrna-export:v1" schemaVersion="1.0" exportId="BIG" createdAt="2024-03-12T18:00:00Z">
            <Assays><Assay id="A1" kit="COBAS AmpliPrep/COBAS TaqMan HIV-1 Test" unit="copies/mL" lod="20" lloq="20" uloq="10000000" iuPerCopy="1.7"/></Assays>
            <Run id="RUN1" assayRef="A1" completedAt="2024-03-08T15:30:00Z" runStatus="valid">
            \(rows)</Run></HivRnaExport>
            """
        try Data(doc.utf8).write(to: url)
    }

    /// The fixture cohort with every lab file of its folder as input, one of them `results` long.
    static func workspaceWithBigLabFile(_ tag: String, results: Int) throws -> URL {
        let dir = try P.workspace(tag)
        try Self.bigLabFile(dir.appendingPathComponent("cohort/labs/big.xml"), count: results)
        let configURL = dir.appendingPathComponent("pipeline.json")
        let text = try String(contentsOf: configURL, encoding: .utf8)
            .replacingOccurrences(of: "\"cohort/labs/hivrna-export.xml\"", with: "\"cohort/labs\"")
        try Data(text.utf8).write(to: configURL)
        return dir
    }

    @Test(
        "D1: a full disk while lab results are written is the store's failure: exit 75, nothing recorded against the file, the next run stores it",
        .enabled(if: isRoot, "mounting a small tmpfs needs root (CI runs as root)"))
    func diskFullDuringLabImport() async throws {
        let dir = try Self.workspaceWithBigLabFile("disk-full", results: 30000)
        defer { try? FileManager.default.removeItem(at: dir) }
        let small = dir.appendingPathComponent("small")
        try FileManager.default.createDirectory(at: small, withIntermediateDirectories: true)
        guard Self.mount(small.path, size: "3m") else {
            print("D1: tmpfs cannot be mounted here; skipped")
            return
        }
        defer { _ = Self.unmount(small.path) }
        let db = small.appendingPathComponent("store.sqlite").path
        var failure: PipelineError?
        do { _ = try await P.run(dir, database: db) } catch let e as PipelineError { failure = e }
        let e = try #require(failure, "the run must fail on the full disk")
        #expect(e.kind == .store && e.exitCode == 75, "\(e)")
        #expect(e.message.lowercased().contains("full"), "\(e.message)")
        // Nothing is recorded against the lab file; the store is intact.
        let copy = dir.appendingPathComponent("roomy.sqlite").path
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: db + suffix) {
            try FileManager.default.copyItem(atPath: db + suffix, toPath: copy + suffix)
        }
        let store = try SQLiteRecordStore(path: copy)
        #expect(try store.labFileState("cohort/labs/big.xml") == nil)
        let rejections = try store.rejections()
        #expect(rejections.isEmpty, "\(rejections)")
        // With room, the next run stores the file.
        let summary = try await P.run(dir, database: copy)
        #expect(!summary.hadRejections && summary.labResultsStored >= 30000, "\(summary)")
        #expect(try SQLiteRecordStore(path: copy).labFileState("cohort/labs/big.xml")?.status == .accepted)
    }

    static func mount(_ path: String, size: String) -> Bool {
        runProgram(["/usr/bin/mount", "-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path]) == 0
    }
    static func unmount(_ path: String) -> Bool { runProgram(["/usr/bin/umount", path]) == 0 }

    @Test("D3: a new store, its WAL files and the lock are readable by their owner only, whatever the umask")
    func privateStore() async throws {
        let dir = try P.workspace("private-store")
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = umask(0o022)
        defer { umask(old) }
        _ = try await P.run(dir)
        let db = dir.appendingPathComponent("cytoingest.sqlite").path
        for suffix in ["", "-wal", "-shm", ".lock"] where FileManager.default.fileExists(atPath: db + suffix) {
            let mode = try #require(
                try FileManager.default.attributesOfItem(atPath: db + suffix)[.posixPermissions] as? Int)
            #expect(mode & 0o077 == 0, "\(suffix.isEmpty ? "store" : suffix): mode \(String(mode, radix: 8))")
        }
    }

    @Test("D4: a store written by a newer program is refused before anything is written (exit 78)")
    func newerSchema() async throws {
        let dir = try P.workspace("newer-schema")
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try await P.run(dir)
        let db = dir.appendingPathComponent("cytoingest.sqlite").path
        for damage in ["PRAGMA user_version = 999", "INSERT INTO grdb_migrations (identifier) VALUES ('v99')"] {
            let q = try DatabaseQueue(path: db)
            try q.inDatabase { db in
                try db.execute(sql: damage)
                try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
            try q.close()
            let before = try Data(contentsOf: URL(fileURLWithPath: db))
            var failure: PipelineError?
            do { _ = try await P.run(dir) } catch let e as PipelineError { failure = e }
            #expect(failure?.kind == .schema && failure?.exitCode == 78, "\(damage): \(String(describing: failure))")
            #expect(failure?.message.contains("newer") == true)
            #expect(try Data(contentsOf: URL(fileURLWithPath: db)) == before, "\(damage): the store was written")
            #expect(throws: StoreFailure.self) { _ = try RecordStores.sqliteReadOnly(path: db) }
            // Undo for the next damage.
            let fix = try DatabaseQueue(path: db)
            try fix.inDatabase {
                try $0.execute(sql: "PRAGMA user_version = \(SQLiteRecordStore.schemaVersion)")
                try $0.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v99'")
            }
            try fix.close()
        }
    }

    @Test(
        "D5: a reader holding a transaction never blocks a run; a foreign write lock is exit 75 after the busy budget")
    func readersAndWriters() async throws {
        let dir = try P.workspace("busy")
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try await P.run(dir)
        let db = dir.appendingPathComponent("cytoingest.sqlite").path
        // A reader in a long transaction (a statistician's session) while a run writes.
        // A connection that may leave its transaction open between accesses, as another program's does.
        var open = Configuration()
        open.allowsUnsafeTransactions = true
        let reader = try DatabaseQueue(path: db, configuration: open)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("cohort/fcs/P001_M01.fcs.gz"))
        let seen = try reader.inDatabase { db in
            try db.execute(sql: "BEGIN")
            return try Int.fetchOne(db, sql: "SELECT count(*) FROM samples")
        }
        let summary = try await P.run(dir)
        #expect(summary.missingFiles == 1, "the run wrote while a reader held its transaction")
        // The reader still sees its snapshot, then the change.
        let still = try reader.inDatabase { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM samples") }
        try reader.inDatabase { try $0.execute(sql: "COMMIT") }
        #expect(seen == still)
        // Another program holding the write lock: the run waits its budget, then exit 75.
        let writer = try DatabaseQueue(path: db, configuration: open)
        try writer.inDatabase { try $0.execute(sql: "BEGIN IMMEDIATE") }
        var o = IngestPipeline.Options()
        o.busySeconds = 0.3
        try FileManager.default.removeItem(at: dir.appendingPathComponent("cohort/fcs/P001_M02.fcs.gz"))
        var failure: PipelineError?
        do { _ = try await IngestPipeline(config: try P.config(dir), options: o).run() } catch let e as PipelineError {
            failure = e
        }
        try writer.inDatabase { try $0.execute(sql: "ROLLBACK") }
        #expect(failure?.kind == .locked && failure?.exitCode == 75, "\(String(describing: failure))")
    }

    @Test("D6: a no-op rerun reads no stored lab result (records are rebuilt only when an input changed)")
    func noOpReadsNoLabResults() async throws {
        let dir = try Self.workspaceWithBigLabFile("no-op-labs", results: 20000)
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try await P.run(dir)
        #expect(first.labResultsStored >= 20000)
        // Make every stored lab result undecodable: a run that read them would fail.
        let q = try DatabaseQueue(path: dir.appendingPathComponent("cytoingest.sqlite").path)
        try q.inDatabase { try $0.execute(sql: "UPDATE lab_results SET warnings = 'not JSON'") }
        try q.close()
        let second = try await P.run(dir)
        #expect(second.newFiles == 0 && second.recordsUpdated == 0, "\(second)")
    }

    @Test("D7: a huge file that is not FCS is refused on its HEADER without being read whole")
    func hugeForeignFile() async throws {
        let dir = try P.workspace("huge")
        defer { try? FileManager.default.removeItem(at: dir) }
        // 32 GiB, sparse (no disk used): hashing it whole takes half a minute or more.
        let huge = dir.appendingPathComponent("cohort/fcs/huge.fcs").path
        #expect(FileManager.default.createFile(atPath: huge, contents: Data("NOTFCS".utf8)))
        #expect(truncate(huge, 32 << 30) == 0)
        let started = Date()
        let summary = try await P.run(dir)
        let seconds = Date().timeIntervalSince(started)
        #expect(summary.rejectedFiles == 1 && summary.newFiles == 25, "\(summary)")
        #expect(seconds < 20, "the huge file was read whole: \(seconds) s")
        let r = try #require(try P.store(dir).rejections().first { $0.file == "cohort/fcs/huge.fcs" })
        #expect(r.code == "FCS-not_fcs", "\(r)")
    }

    @Test("D7: a file too large to hold is hashed by the read that decodes it: the stored SHA-256 is the file's")
    func onePassHash() async throws {
        let dir = try P.workspace("one-pass")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Plain (not gzip) files, all "large" for this run.
        let fcs = dir.appendingPathComponent("cohort/fcs")
        for name in try FileManager.default.contentsOfDirectory(atPath: fcs.path) where name.hasSuffix(".gz") {
            #expect(runProgram(["/usr/bin/env", "gunzip", fcs.appendingPathComponent(name).path]) == 0)
        }
        var o = IngestPipeline.Options()
        o.inMemoryLimit = 0
        o.now = ISO8601DateFormatter().date(from: "2024-12-31T00:00:00Z")!
        let first = try await IngestPipeline(config: try P.config(dir), options: o).run()
        #expect(first.newFiles == 24 && first.rejectedFiles == 0, "\(first)")
        for s in try P.store(dir).samples() {
            #expect(s.sha256 == (try FileHash.sha256(path: dir.appendingPathComponent(s.file).path)), "\(s.file)")
        }
        // The same files again, their times changed: the one-pass hash finds the same content.
        for name in try FileManager.default.contentsOfDirectory(atPath: fcs.path) {
            #expect(utimes(fcs.appendingPathComponent(name).path, nil) == 0)
        }
        let second = try await IngestPipeline(config: try P.config(dir), options: o).run()
        #expect(second.unchangedFiles == 24 && second.newFiles == 0 && second.supersededFiles == 0, "\(second)")
    }

    /// gzip members of zeros: `count` x 64 MiB inflated, about 64 KiB each compressed.
    static func zeroMembers(_ count: Int) throws -> [UInt8] {
        let member = try Gzip.compress([UInt8](repeating: 0, count: 64 << 20))
        return (0..<count).flatMap { _ in member }
    }

    @Test("D7: a gzip bomb is inflated no further than its HEADER and TEXT claim")
    func gzipBomb() throws {
        let dir = Paths.temporaryDirectory("gzip-bomb")
        defer { try? FileManager.default.removeItem(at: dir) }
        // 16 GiB of zeros: not FCS.
        let bomb = dir.appendingPathComponent("bomb.fcs.gz").path
        try Data(try Self.zeroMembers(256)).write(to: URL(fileURLWithPath: bomb))
        var started = Date()
        #expect(throws: FCSError.self) { _ = try FCSReader(path: bomb) }
        #expect(Date().timeIntervalSince(started) < 5, "the bomb was inflated")
        // A valid file followed by 16 GiB of zeros: read, and fast.
        let valid = try Data(contentsOf: Paths.fixtures.appendingPathComponent("fcs/pass/f32_le_fcs3.1.fcs"))
        let trailed = dir.appendingPathComponent("trailed.fcs.gz").path
        try Data(try Gzip.compress([UInt8](valid)) + Self.zeroMembers(256)).write(to: URL(fileURLWithPath: trailed))
        started = Date()
        let reader = try FCSReader(path: trailed)
        let plain = try FCSReader(bytes: [UInt8](valid))
        #expect(reader.dataSets[0].eventCount == plain.dataSets[0].eventCount)
        #expect(Date().timeIntervalSince(started) < 5)
    }
}
