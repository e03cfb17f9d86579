import CytoModel
import Foundation
import TestSupport
import Testing

@testable import Pipeline
@testable import Store

/// The two stores behave alike: the same suite runs against SQLite and, when a server is
/// reachable (`CYTOINGEST_TEST_POSTGRES_URL`, a role that may create databases; its password
/// from PGPASSWORD or ~/.pgpass) and the build has the `PostgreSQL` trait, against PostgreSQL.
enum Engine: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }

    static var postgresURL: String? { ProcessInfo.processInfo.environment["CYTOINGEST_TEST_POSTGRES_URL"] }

    /// The engines this run can test (PostgreSQL needs the trait and a server).
    static var available: [Engine] {
        RecordStores.hasPostgreSQL && postgresURL != nil ? [.sqlite, .postgres] : [.sqlite]
    }

    /// Why PostgreSQL is not tested here, if it is not.
    static var postgresSkipped: String? {
        if !RecordStores.hasPostgreSQL {
            return "built without the PostgreSQL trait (swift test --traits PostgreSQL)"
        }
        if postgresURL == nil { return "CYTOINGEST_TEST_POSTGRES_URL is not set" }
        return nil
    }

    /// A new, empty store of this engine (a fresh database on the server).
    func freshLocation(_ dir: URL, _ tag: String) throws -> StoreLocation {
        switch self {
        case .sqlite: return .sqlite(path: dir.appendingPathComponent("\(tag).sqlite").path)
        case .postgres: return .postgres(try Self.freshDatabase(tag))
        }
    }

    static func freshDatabase(_ tag: String) throws -> PostgresSettings {
        let admin = try PostgresSettings(url: postgresURL!)
        let name = "cytoingest_test_\(tag)_\(UInt32.random(in: 0...UInt32.max))"
        try psql(admin, "CREATE DATABASE \(name)")
        var s = admin
        s.database = name
        return s
    }

    /// Runs SQL through psql (administration the store does not do).
    @discardableResult
    static func psql(_ s: PostgresSettings, _ sql: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "psql", "-qtA", "-v", "ON_ERROR_STOP=1", "-h", s.host, "-p", "\(s.port)", "-U", s.user, "-d", s.database,
            "-c", sql,
        ]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw StoreSettingsError("psql failed: \(sql)") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

@Suite("Stores: SQLite and PostgreSQL alike", .serialized)
struct StoreContractTests {
    static func run(_ dir: URL, _ location: StoreLocation) async throws -> RunSummary {
        var o = IngestPipeline.Options()
        o.now = ISO8601DateFormatter().date(from: "2024-12-31T00:00:00Z")!
        return try await IngestPipeline(config: try PipelineTests.config(dir), location: location, options: o).run()
    }

    static func dump(_ location: StoreLocation) throws -> String {
        try (RecordStores.openReadOnly(location) as! SQLRecordStore).canonicalDump()
    }

    @Test("PostgreSQL is tested when it can be: a build with the trait and no server fails, not skips")
    func postgresAvailability() {
        if let why = Engine.postgresSkipped {
            print("PostgreSQL store tests skipped: \(why)")
        }
        #expect(
            !RecordStores.hasPostgreSQL || Engine.available.contains(.postgres),
            "built with the PostgreSQL trait but CYTOINGEST_TEST_POSTGRES_URL is not set: the PostgreSQL tests would only skip"
        )
    }

    @Test("a run stores the same as SQLite does, and a second run changes nothing", arguments: Engine.available)
    func runParity(_ engine: Engine) async throws {
        let dir = try PipelineTests.workspace("parity-\(engine)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let reference = StoreLocation.sqlite(path: dir.appendingPathComponent("reference.sqlite").path)
        _ = try await Self.run(dir, reference)
        let location = try engine.freshLocation(dir, "parity")
        let first = try await Self.run(dir, location)
        #expect(first.newFiles == 24 && first.labResultsStored == 27)
        #expect(try Self.dump(location) == Self.dump(reference))
        let again = try await Self.run(dir, location)
        #expect(again.unchangedFiles == 24 && again.newFiles == 0 && again.recordsUpdated == 0)
        #expect(try Self.dump(location) == Self.dump(reference))
        let store = try RecordStores.openReadOnly(location)
        #expect(try store.records(patient: nil) == RecordStores.openReadOnly(reference).records(patient: nil))
        #expect(try store.dirtyPatients() == 0 && store.queuedWork() == 0)
    }

    @Test(
        "claims: one holder at a time; an expired claim is taken over and the old holder writes nothing",
        arguments: Engine.available)
    func claims(_ engine: Engine) throws {
        let dir = Paths.temporaryDirectory("claims-\(engine)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let location = try engine.freshLocation(dir, "claims")
        let a = try RecordStores.open(location)
        let b = try RecordStores.open(location)
        try a.enqueue(kind: "fcs", paths: ["f1.fcs", "f2.fcs"])
        try b.enqueue(kind: "fcs", paths: ["f1.fcs"])  // already queued: stays as it is
        #expect(try a.queuedWork() == 2)
        let first = try a.claimWork(worker: "A", limit: 1, leaseSeconds: 1.5)
        #expect(first.map(\.path) == ["f1.fcs"] && first[0].attempts == 1)
        let second = try b.claimWork(worker: "B", limit: 5, leaseSeconds: 60)
        #expect(second.map(\.path) == ["f2.fcs"], "a held claim is not claimed again")
        #expect(try b.claimWork(worker: "B", limit: 5, leaseSeconds: 60).isEmpty)
        Thread.sleep(forTimeInterval: 2)
        let taken = try b.claimWork(worker: "B", limit: 5, leaseSeconds: 60)
        #expect(taken.map(\.path) == ["f1.fcs"] && taken[0].attempts == 2 && taken[0].previousWorker == "A")
        // A's write under its lost claim: refused, nothing stored.
        a.claim = first[0]
        #expect {
            try a.touchFile(path: "f1.fcs", size: 1, mtime: 1, lab: false, clearRejected: false)
        } throws: { ($0 as? StoreFailure)?.kind == .claimLost }
        // B's write under its claim ends the claim in the same transaction.
        b.claim = taken[0]
        try b.commitUnreadable(path: "f1.fcs", reason: "test", lab: false)
        #expect(b.claim == nil)
        #expect(try b.queuedWork() == 1)
        try b.completeClaim(second[0])
        #expect(try b.queuedWork() == 0)
        #expect(try b.rejections().map(\.file) == ["f1.fcs"])
    }

    @Test("patients are rebuilt one at a time, each once", arguments: Engine.available)
    func patientRebuilds(_ engine: Engine) throws {
        let dir = Paths.temporaryDirectory("rebuild-\(engine)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let location = try engine.freshLocation(dir, "rebuild")
        let store = try RecordStores.open(location)
        try store.replacePatients([
            RegistryPatient(id: "P1", day0: 0, cycleStarts: [], doseMIUPerDay: nil),
            RegistryPatient(id: "P2", day0: 0, cycleStarts: [], doseMIUPerDay: nil),
        ])
        try store.markAllPatientsIfRulesChanged(basis: "rules-1")
        try store.markAllPatientsIfRulesChanged(basis: "rules-1")  // once per change of rules
        #expect(try store.dirtyPatients() == 2)
        var seen: [String] = []
        while let p = try store.rebuildNextPatient({
            seen.append($0.patient); return []
        }) { _ = p }
        #expect(seen == ["P1", "P2"])
        #expect(try store.dirtyPatients() == 0)
        try store.markAllPatientsIfRulesChanged(basis: "rules-2")
        #expect(try store.dirtyPatients() == 2)
    }
}

/// What only PostgreSQL has: the server's schema, migrations under a lock, many workers, errors,
/// TLS. Each test says why it did not run when it cannot.
@Suite("PostgreSQL store", .serialized, .enabled(if: Engine.available.contains(.postgres)))
struct PostgresStoreTests {
    #if PostgreSQL
    @Test("the schema is SQLite's: the same tables, columns, types (mapped), keys and NOT NULLs")
    func schemaEquality() throws {
        let dir = Paths.temporaryDirectory("schema")
        defer { try? FileManager.default.removeItem(at: dir) }
        let sqlite = try SQLiteRecordStore(path: dir.appendingPathComponent("s.sqlite").path)
        let settings = try Engine.freshDatabase("schema")
        _ = try PostgresRecordStore(settings: settings)
        var lite: Set<String> = []
        for table in try sqlite.database.read({ s in
            try s.column(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations'"
            ) as [String]
        }) {
            for row in try sqlite.database.read({
                try $0.rows("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?)", [table])
            }) {
                let type = ["INTEGER": "bigint", "REAL": "double precision", "TEXT": "text"][try row["type"] as String]!
                let nn: Int = try row["notnull"]
                let pk: Int = try row["pk"]
                let notNull = nn == 1 || pk > 0
                lite.insert("\(table).\(try row["name"] as String) \(type)\(notNull ? " not null" : "")")
            }
        }
        let rows = try Engine.psql(
            settings,
            "SELECT table_name || '.' || column_name || ' ' || data_type || CASE WHEN is_nullable = 'NO' THEN ' not null' ELSE '' END FROM information_schema.columns WHERE table_schema = 'public' AND table_name != 'cytoingest_migrations'"
        )
        let pg = Set(rows.split(separator: "\n").map(String.init))
        #expect(
            pg == lite,
            "only in PostgreSQL: \(pg.subtracting(lite).sorted()); only in SQLite: \(lite.subtracting(pg).sorted())")
        let fks = try Engine.psql(
            settings, "SELECT count(*) FROM information_schema.table_constraints WHERE constraint_type = 'FOREIGN KEY'")
        #expect(fks == "4", "samples, lab_results, applied_gates and monthly_records reference their parents")
    }

    @Test("workers starting together migrate once; a newer schema is refused; an empty database is no store")
    func migrations() async throws {
        let settings = try Engine.freshDatabase("migrate")
        let opened = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    _ = try PostgresRecordStore(settings: settings); return true
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(opened == 4)
        #expect(try Engine.psql(settings, "SELECT string_agg(id, ',') FROM cytoingest_migrations") == "v7")
        try Engine.psql(settings, "INSERT INTO cytoingest_migrations VALUES ('v99', 'later')")
        #expect { _ = try PostgresRecordStore(settings: settings) } throws: {
            ($0 as? StoreFailure)?.kind == .newerSchema
        }
        let empty = try Engine.freshDatabase("empty")
        #expect { _ = try PostgresRecordStore(settings: empty, readOnly: true) } throws: {
            ($0 as? StoreFailure)?.kind == .notAStore
        }
        #expect(try Engine.psql(empty, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "0")
    }

    @Test("two workers in one process store what one SQLite run stores")
    func workers() async throws {
        let dir = try PipelineTests.workspace("workers")
        defer { try? FileManager.default.removeItem(at: dir) }
        let reference = StoreLocation.sqlite(path: dir.appendingPathComponent("reference.sqlite").path)
        _ = try await StoreContractTests.run(dir, reference)
        let location = StoreLocation.postgres(try Engine.freshDatabase("workers"))
        let config = try PipelineTests.config(dir)
        var o = IngestPipeline.Options()
        o.now = ISO8601DateFormatter().date(from: "2024-12-31T00:00:00Z")!
        o.workers = 1
        let options = o
        let summaries = try await withThrowingTaskGroup(of: RunSummary.self) { group in
            for w in ["A", "B"] {
                group.addTask {
                    try await IngestPipeline(config: config, location: location, options: options).runWorker(
                        WorkerSettings(name: w))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(summaries.map(\.newFiles).reduce(0, +) == 24, "each file stored once: \(summaries.map(\.newFiles))")
        #expect(summaries.map(\.patientsRebuilt).reduce(0, +) == 4)
        #expect(try StoreContractTests.dump(location) == StoreContractTests.dump(reference))
        // Workers refuse an SQLite store.
        await #expect {
            try await IngestPipeline(config: config, databasePath: reference.description, options: o).runWorker(
                WorkerSettings(name: "C"))
        } throws: { ($0 as? PipelineError)?.kind == .configuration }
    }

    @Test("server errors never show the statement's values")
    func errorsWithoutValues() throws {
        let settings = try Engine.freshDatabase("errors")
        let store = try PostgresRecordStore(settings: settings)
        let secret = "PHI-4711-DOE"
        do {
            try store.database.write { s in
                // The server's own words would quote the value ("invalid input syntax ...: PHI-...").
                try s.execute(
                    "INSERT INTO patients (id, day0, cycle_starts) VALUES (?, CAST(? AS text)::bigint, '')",
                    [secret, secret])
            }
            Issue.record("a text where a number belongs was accepted")
        } catch {
            let f = try #require(store.failure(error))
            #expect(!f.message.contains(secret) && !f.description.contains(secret), "\(f.message)")
            #expect(f.message.contains("SQLSTATE 22"))
        }
        do {
            try store.database.write { s in
                try s.execute("INSERT INTO patients (id, day0, cycle_starts) VALUES (?, 1, '')", [secret])
                try s.execute("INSERT INTO patients (id, day0, cycle_starts) VALUES (?, 1, '')", [secret])
            }
            Issue.record("a duplicate key was accepted")
        } catch {
            let f = try #require(store.failure(error))
            #expect(!f.message.contains(secret), "\(f.message)")
            #expect(f.message.contains("patients_pkey"))
        }
        // A wrong password fails fast and names no password.
        var wrong = settings
        wrong.passwordFile = Paths.temporaryDirectory("pw").appendingPathComponent("pw").path
        try FileManager.default.createDirectory(
            atPath: (wrong.passwordFile! as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(
            atPath: wrong.passwordFile!, contents: Data("not-the-password\n".utf8),
            attributes: [.posixPermissions: 0o600])
        let start = Date()
        #expect { _ = try PostgresRecordStore(settings: wrong) } throws: {
            guard let f = $0 as? StoreFailure else { return false }
            return f.kind == .access && !f.message.contains("not-the-password")
        }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test("a connection the server ends fails the next statement at once (exit 75), never hangs")
    func droppedConnection() throws {
        var settings = try Engine.freshDatabase("dropped")
        settings.applicationName = "cytoingest dropped-\(UInt32.random(in: 0...UInt32.max))"
        let store = try PostgresRecordStore(settings: settings)
        #expect(try store.filePaths().isEmpty)
        #expect(
            try Engine.psql(
                settings,
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '\(settings.applicationName)'"
            ) == "1")
        Thread.sleep(forTimeInterval: 0.5)
        // Each call on its own thread, with a deadline: a hang fails the test instead of the run.
        for attempt in 1...3 {
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var outcome: (any Error)?
            nonisolated(unsafe) let target = store
            Thread.detachNewThread {
                do { _ = try target.beginRun(configSHA256: "x") } catch { outcome = error }
                done.signal()
            }
            guard done.wait(timeout: .now() + 10) == .success else {
                Issue.record("attempt \(attempt): the store call hung on a closed connection")
                return
            }
            let f = store.failure(try #require(outcome, "attempt \(attempt) succeeded on a closed connection"))
            #expect(f?.kind == .io, "attempt \(attempt): \(String(describing: outcome))")
            #expect(PipelineError(try #require(f)).exitCode == 75)
        }
    }

    @Test("sslmode=require encrypts; verify-full checks the certificate (a self-signed one made here)")
    func tls() throws {
        guard getuid() == 0 else {
            print("TLS test skipped: it hands the server a certificate file, which needs root")
            return
        }
        let admin = try PostgresSettings(url: Engine.postgresURL!)
        let dir = Paths.temporaryDirectory("tls")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cert = dir.appendingPathComponent("server.crt").path
        let key = dir.appendingPathComponent("server.key").path
        #expect(
            runProgram([
                "/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert,
            ]) == 0)
        for path in [dir.path, cert, key] {
            try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: path)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path)
        try Engine.psql(admin, "ALTER SYSTEM SET ssl_cert_file = '\(cert)'")
        try Engine.psql(admin, "ALTER SYSTEM SET ssl_key_file = '\(key)'")
        try Engine.psql(admin, "ALTER SYSTEM SET ssl = on")
        try Engine.psql(admin, "SELECT pg_reload_conf()")
        defer {
            for setting in ["ssl", "ssl_cert_file", "ssl_key_file"] {
                _ = try? Engine.psql(admin, "ALTER SYSTEM RESET \(setting)")
            }
            _ = try? Engine.psql(admin, "SELECT pg_reload_conf()")
        }
        Thread.sleep(forTimeInterval: 1)
        let settings = try Engine.freshDatabase("tls")
        func encrypted(_ s: PostgresSettings) throws -> Bool {
            let store = try PostgresRecordStore(settings: s)
            return try store.database.read { try $0.value("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") }
                ?? false
        }
        var require = settings
        require.sslmode = .require
        #expect(try encrypted(require))
        var plain = settings
        plain.sslmode = .disable
        #expect(try !encrypted(plain))
        var full = settings
        full.sslmode = .verifyFull
        full.host = "localhost"
        #expect(throws: StoreFailure.self, "a self-signed certificate is not trusted by default") {
            try encrypted(full)
        }
        full.sslrootcert = cert
        #expect(try encrypted(full))
    }
    #endif
}

@Suite("PostgreSQL settings")
struct PostgresSettingsTests {
    @Test("URLs: no password on the command line; libpq's sslmode values; unknown parameters refused")
    func urls() throws {
        let s = try PostgresSettings(url: "postgres://ingest@db.lab:6543/cyto?sslmode=verify-full&sslrootcert=/ca.pem")
        #expect(s.host == "db.lab" && s.port == 6543 && s.database == "cyto" && s.user == "ingest")
        #expect(s.sslmode == .verifyFull && s.sslrootcert == "/ca.pem")
        #expect(s.description == "postgres://ingest@db.lab:6543/cyto?sslmode=verify-full")
        #expect(throws: StoreSettingsError.self) { try PostgresSettings(url: "postgres://ingest:hunter2@db/cyto") }
        #expect(throws: StoreSettingsError.self) { try PostgresSettings(url: "postgres://ingest@db/cyto?sslmode=on") }
        #expect(throws: StoreSettingsError.self) { try PostgresSettings(url: "postgres://ingest@db/cyto?password=x") }
        #expect(throws: StoreSettingsError.self) { try PostgresSettings(url: "postgres://db/cyto") }
        #expect(try StoreLocation.parse("/srv/lab/cytoingest.sqlite") == .sqlite(path: "/srv/lab/cytoingest.sqlite"))
    }

    @Test("the password: passwordFile, PGPASSWORD, then ~/.pgpass as libpq reads it (owner-only)")
    func passwords() throws {
        let dir = Paths.temporaryDirectory("pgpass")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let pgpass = dir.appendingPathComponent("pgpass").path
        FileManager.default.createFile(
            atPath: pgpass,
            contents: Data(
                "# comment\nother:5432:*:*:no\ndb.lab:*:cyto:ingest:pa\\:ss\\\\word\n*:*:*:*:fallback\n".utf8),
            attributes: [.posixPermissions: 0o600])
        var s = PostgresSettings(host: "db.lab", database: "cyto", user: "ingest")
        #expect(try s.password(environment: ["PGPASSFILE": pgpass]) == "pa:ss\\word")
        #expect(try s.password(environment: ["PGPASSFILE": pgpass, "PGPASSWORD": "env"]) == "env")
        s.host = "elsewhere"
        #expect(try s.password(environment: ["PGPASSFILE": pgpass]) == "fallback")
        // A password file others can read is ignored, as libpq does.
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: pgpass)
        #expect(try s.password(environment: ["PGPASSFILE": pgpass]) == nil)
        // The configured secret file must be private; its first line is the password.
        let secret = dir.appendingPathComponent("secret").path
        FileManager.default.createFile(
            atPath: secret, contents: Data("s3cret\n".utf8), attributes: [.posixPermissions: 0o600])
        s.passwordFile = secret
        #expect(try s.password(environment: ["PGPASSWORD": "env"]) == "s3cret")
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: secret)
        #expect(throws: StoreSettingsError.self) { try s.password(environment: [:]) }
    }

    @Test("pipeline.json: store.postgres is strict, and names one store")
    func configuration() throws {
        func load(_ store: String) throws -> PipelineConfiguration {
            var text = try String(contentsOf: Paths.repoRoot.appendingPathComponent("pipeline.json"), encoding: .utf8)
            text = text.replacingOccurrences(of: #""sqlite": "cytoingest.sqlite""#, with: store)
            return try PipelineConfiguration.decode(Data(text.utf8))
        }
        let c = try load(#""postgres": {"host": "db.lab", "database": "cyto", "user": "ingest", "sslmode": "require"}"#)
        #expect(c.storeLocation.description == "postgres://ingest@db.lab:5432/cyto?sslmode=require")
        #expect { try load(#""postgres": {"database": "cyto", "user": "ingest", "password": "x"}"#) } throws: {
            "\($0)".contains("password")
        }
        #expect { try load(#""postgres": {"database": "cyto", "user": "ingest", "sslmode": "on"}"#) } throws: {
            "\($0)".contains("verify-full")
        }
        #expect { try load(#""sqlite": "a.sqlite", "postgres": {"database": "cyto", "user": "ingest"}"#) } throws: {
            "\($0)".contains("both")
        }
        #expect { try load(#""postgres": {"database": "cyto", "user": "ingest", "port": 0}"#).validate() } throws: {
            "\($0)".contains("port")
        }
    }

    @Test("--worker needs PostgreSQL; a build without the trait says how to get it")
    func workerNeedsPostgres() async throws {
        let dir = try PipelineTests.workspace("worker-sqlite")
        defer { try? FileManager.default.removeItem(at: dir) }
        let pipeline = IngestPipeline(config: try PipelineTests.config(dir))
        await #expect { _ = try await pipeline.runWorker(WorkerSettings()) } throws: {
            ($0 as? PipelineError)?.kind == .configuration && "\($0)".contains("PostgreSQL")
        }
        if !RecordStores.hasPostgreSQL {
            #expect {
                _ = try RecordStores.open(.postgres(PostgresSettings(database: "d", user: "u")))
            } throws: { ($0 as? StoreFailure)?.kind == .unsupported && "\($0)".contains("--traits PostgreSQL") }
        }
    }
}
