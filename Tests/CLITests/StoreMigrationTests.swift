import Foundation
import GRDB
import TestSupport
import Testing

/// Runs the built `cytoingest` as a whole process.
struct CLIProcess {
    var status: Int32
    var stdout: String
    var stderr: String

    static func run(_ arguments: [String], in directory: URL? = nil) throws -> CLIProcess {
        let binary = try #require(Paths.cytoingestBinary, "cytoingest binary not found beside the tests")
        return try run(executable: binary, arguments, in: directory)
    }

    /// Runs any program (the binary through `runuser`, say) and collects its output.
    static func run(executable: String, _ arguments: [String], in directory: URL? = nil) throws -> CLIProcess {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let directory { p.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return CLIProcess(
            status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e, as: UTF8.self))
    }
}

@Suite("Store schema and migration (whole processes)")
struct StoreMigrationTests {
    /// `fixtures/store/release-v2.sqlite`: written by the previous release (schema v2, commit
    /// 8703530) from `fixtures/store/release-v2.pipeline.json` (adaptive gating, a rejected FCS
    /// file, both lab files, 24 monthly records); the `.json`/`.xml` beside it are that
    /// release's CLI output of the store.
    static func expected(_ name: String) throws -> String {
        try String(contentsOf: Paths.fixtures.appendingPathComponent("store/release-v2.\(name)"), encoding: .utf8)
    }

    @Test(
        "a store written by the previous release migrates to typed columns and reads back byte-identical through the CLI"
    )
    func migrationFromRelease() throws {
        let dir = Paths.temporaryDirectory("store-v2")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("v2.sqlite").path
        try FileManager.default.copyItem(
            atPath: Paths.fixtures.appendingPathComponent("store/release-v2.sqlite").path, toPath: db)
        let config = Paths.repoRoot.appendingPathComponent("pipeline.json").path
        // Read-only commands never migrate: they say how to, and leave the store as it is.
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        let refused = try CLIProcess.run(["records", "--config", config, "--database", db])
        #expect(refused.status == 78 && refused.stderr.contains("cytoingest migrate"), "\(refused.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: db)) == before, "a read-only command wrote to the store")
        let migrate = try CLIProcess.run(["migrate", "--config", config, "--database", db])
        #expect(migrate.status == 0, "\(migrate.stderr)")
        for (command, file) in [
            ("records", "records.json"), ("samples", "samples.json"), ("rejections", "rejections.json"),
        ] {
            let r = try CLIProcess.run([command, "--config", config, "--database", db, "--format", "json"])
            #expect(r.status == 0, "\(command): \(r.stderr)")
            if command == "samples" || command == "records" {
                // Byte-identical but for the fields added since (samples: instrument, file status,
                // rejected version; records: the on-infusion values of schema v6, empty here, and the
                // window, candidates and change in CD4 % now printed).
                let added =
                    command == "samples"
                    ? ["instrument", "fileStatus", "rejectedVersion"]
                    : ["onInfusion", "deltaCd4Pct", "windowFromDay", "windowToDay", "candidates"]
                func entries(_ text: String) throws -> [NSDictionary] {
                    let doc = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
                    return try #require(doc[command] as? [[String: Any]]).map { e in
                        NSDictionary(dictionary: e.filter { !added.contains($0.key) })
                    }
                }
                #expect(try entries(r.stdout) == entries(try Self.expected(file)), "\(command) after migration")
                #expect(
                    command == "records"
                        || r.stdout.contains("\"instrument\" : \"default\"")
                            && r.stdout.contains("\"fileStatus\" : \"ingested\"")
                )
            } else {
                #expect(r.stdout == (try Self.expected(file)), "\(command) after migration")
            }
        }
        let gates = try CLIProcess.run(["gates", "--config", config, "--database", db, "P001_M01.fcs.gz"])
        #expect(gates.stdout == (try Self.expected("P001_M01.gates.xml")))
        // The old JSON documents are typed columns now; keys and foreign keys hold.
        let queue = try DatabaseQueue(path: db)
        try queue.read { db in
            #expect(try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").isEmpty)
            #expect(try String.fetchOne(db, sql: "PRAGMA integrity_check") == "ok")
            let records = try Row.fetchAll(db, sql: "PRAGMA table_info(monthly_records)").map { $0["name"] as String }
            #expect(records.contains("cd4_abs") && records.contains("hiv_rna_censor") && !records.contains("data"))
            let labs = try Row.fetchAll(db, sql: "PRAGMA table_info(lab_results)").map { $0["name"] as String }
            #expect(labs.contains("outcome") && labs.contains("copies") && !labs.contains("data"))
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM lab_results") == 54)
            #expect(
                try String.fetchAll(db, sql: "SELECT DISTINCT method || '/' || gating FROM samples") == [
                    "beads/adaptive"
                ])
        }
        // A record for a patient the registry does not hold violates the foreign key.
        #expect(throws: (any Error).self) {
            try queue.write { db in
                try db.execute(sql: "PRAGMA foreign_keys = ON")
                try db.execute(
                    sql: """
                        INSERT INTO monthly_records (patient, month, target_date, window_from_day, window_to_day, baseline, missing, qc, sources, candidates)
                        VALUES ('NOBODY', 1, 'x', 0, 1, 0, '[]', '[]', '[]', 0)
                        """)
            }
        }
    }

    @Test(
        "rejections --format csv prints CSV; report without files resolves stored paths through --config from any folder"
    )
    func csvAndReportElsewhere() throws {
        let dir = Paths.temporaryDirectory("cli-elsewhere")
        defer { try? FileManager.default.removeItem(at: dir) }
        let work = dir.appendingPathComponent("lab")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: Paths.fixtures.appendingPathComponent("cohort"), to: work.appendingPathComponent("cohort"))
        var text = try String(contentsOf: Paths.repoRoot.appendingPathComponent("pipeline.json"), encoding: .utf8)
        text = text.replacingOccurrences(of: "fixtures/cohort", with: "cohort")
        // A file the pipeline rejects, so that there is something to list.
        try Data("not an FCS file".utf8).write(to: work.appendingPathComponent("cohort/fcs/zz_bad.fcs"))
        let config = work.appendingPathComponent("pipeline.json").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: config))
        let elsewhere = dir.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let run = try CLIProcess.run(["run", "--config", config, "--quiet"], in: elsewhere)
        #expect(run.status == 65, "\(run.stderr)")
        let csv = try CLIProcess.run(["rejections", "--config", config, "--format", "csv"], in: elsewhere)
        let lines = csv.stdout.split(separator: "\n")
        #expect(lines.first == "file,record,code,message")
        #expect(lines.count == 2 && lines[1].hasPrefix("cohort/fcs/zz_bad.fcs,,FCS-"), "\(csv.stdout)")
        let html = dir.appendingPathComponent("report.html").path
        let report = try CLIProcess.run(["report", "--config", config, "-o", html], in: elsewhere)
        #expect(report.status == 0, "\(report.stderr)")
        #expect(report.stdout.contains("24 samples"))
    }
}
