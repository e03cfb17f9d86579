import CSQLiteShim
import CytoModel
import Foundation
import GRDB

/// The embedded store: SQLite through GRDB, forward-only migrations, invariants in the schema.
public final class SQLiteRecordStore: RecordStore {
    let queue: DatabaseQueue
    public let path: String

    /// The schema version this program writes (`PRAGMA user_version`; one per migration).
    public static let schemaVersion = 6

    /// Opens (creating and migrating when `readOnly` is false) the store at `path`.
    /// - A new store is created readable and writable by its owner only (0600); SQLite gives its
    ///   `-wal` and `-shm` files the same mode.
    /// - A store written by a newer program (an unknown migration, or a higher `user_version`)
    ///   is refused before anything is written to it.
    /// - Read-only: the file must be a store at this program's schema; nothing is created or
    ///   migrated (`cytoingest migrate` upgrades an older one).
    /// - `busyTimeout`: how long a write waits for another program's lock before failing
    ///   (`StoreFailure.busy`).
    public init(path: String, readOnly: Bool = false, busyTimeout: Double = 5) throws {
        self.path = path
        let exists = FileManager.default.fileExists(atPath: path)
        if readOnly {
            guard exists else { throw StoreFailure(kind: .missing, path: path, message: "no store here") }
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            guard size > 0 else {
                throw StoreFailure(kind: .notAStore, path: path, message: "the file is empty: not a CytoIngest store")
            }
        } else if !exists {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
            else {
                throw StoreFailure(
                    kind: .io, path: path, message: "cannot create the store: \(String(cString: strerror(errno)))")
            }
        }
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.readonly = readOnly
        config.busyMode = .timeout(busyTimeout)
        // WAL with synchronous=NORMAL: a commit appends to the log without an fsync; the log is
        // synced at checkpoints. After a power loss the newest commits may be missing, never half
        // there (the database stays consistent), and a missing commit only means its input file
        // is analysed again by the next run: every commit is a pure function of an input file
        // that is still on disk. Readers no longer block the writer (docs/nightly.md).
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // No checkpoint when the connection closes: a run that wrote only its log line syncs
            // nothing; the log is checkpointed by SQLite's automatic checkpoints during writes.
            _ = unsafe cytoingest_no_checkpoint_on_close(UnsafeMutableRawPointer(db.sqliteConnection))
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
            // Refuse what this program did not write, before writing anything.
            try queue.read { db in
                let isStore = try db.tableExists("grdb_migrations")
                let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                let known = Set(Self.migrator.migrations)
                let applied = isStore ? try Self.migrator.appliedIdentifiers(db) : []
                if version > Self.schemaVersion || !applied.isSubset(of: known) {
                    throw StoreFailure(
                        kind: .newerSchema, path: path,
                        message:
                            "the store was written by a newer CytoIngest (schema \(version > Self.schemaVersion ? "\(version)" : applied.subtracting(known).sorted().joined(separator: ", "))); this program (schema \(Self.schemaVersion)) does not write to it"
                    )
                }
                if readOnly {
                    let tables = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master") ?? 0
                    guard isStore || tables == 0 else {
                        throw StoreFailure(
                            kind: .notAStore, path: path, message: "the database is not a CytoIngest store")
                    }
                    guard isStore else {
                        throw StoreFailure(
                            kind: .notAStore, path: path, message: "an empty database, not a CytoIngest store")
                    }
                    guard try Self.migrator.hasCompletedMigrations(db) else {
                        throw StoreFailure(
                            kind: .olderSchema, path: path,
                            message:
                                "the store is at an older schema; `cytoingest migrate` upgrades it (a backup first)")
                    }
                }
            }
        } catch let e as StoreFailure {
            throw e
        } catch {
            throw StoreFailure(error, path: path) ?? error
        }
        guard !readOnly else { return }
        do {
            try queue.writeWithoutTransaction { db in
                if try String.fetchOne(db, sql: "PRAGMA journal_mode") != "wal" {
                    try db.execute(sql: "PRAGMA journal_mode = WAL")
                }
            }
            try Self.migrator.migrate(queue)
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA user_version = \(Self.schemaVersion)")
            }
        } catch {
            throw StoreFailure(error, path: path) ?? error
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE patients (
                      id TEXT PRIMARY KEY NOT NULL,
                      day0 INTEGER NOT NULL,
                      cycle_starts TEXT NOT NULL,
                      dose REAL
                    );
                    CREATE TABLE fcs_files (
                      path TEXT PRIMARY KEY NOT NULL,
                      sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
                      size INTEGER NOT NULL CHECK (size >= 0),
                      mtime REAL NOT NULL,
                      status TEXT NOT NULL CHECK (status IN ('ingested', 'rejected', 'missing'))
                    );
                    CREATE TABLE samples (
                      file TEXT PRIMARY KEY NOT NULL REFERENCES fcs_files(path) ON DELETE CASCADE,
                      sha256 TEXT NOT NULL,
                      patient TEXT NOT NULL,
                      collected_days INTEGER NOT NULL,
                      collected TEXT NOT NULL,
                      events INTEGER NOT NULL CHECK (events >= 0),
                      bead_events INTEGER NOT NULL,
                      lymphocyte_events INTEGER NOT NULL,
                      cd3_events INTEGER NOT NULL,
                      cd4_events INTEGER NOT NULL,
                      cd8_events INTEGER NOT NULL,
                      cd8_hladr_events INTEGER NOT NULL,
                      cd4_cd25_events INTEGER NOT NULL,
                      cd4_abs REAL, cd8_abs REAL,
                      cd4_pct REAL NOT NULL CHECK (cd4_pct BETWEEN 0 AND 100),
                      cd8_pct REAL NOT NULL CHECK (cd8_pct BETWEEN 0 AND 100),
                      cd3_pct REAL NOT NULL,
                      ratio REAL, cd8_hladr_pct REAL, cd4_cd25_pct REAL,
                      method TEXT NOT NULL,
                      qc_flags TEXT NOT NULL,
                      warnings TEXT NOT NULL,
                      strategy_sha256 TEXT NOT NULL,
                      program_version TEXT NOT NULL
                    );
                    CREATE INDEX samples_patient ON samples(patient, collected_days);
                    CREATE TABLE lab_files (
                      path TEXT PRIMARY KEY NOT NULL,
                      sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
                      size INTEGER NOT NULL,
                      mtime REAL NOT NULL,
                      status TEXT NOT NULL CHECK (status IN ('accepted', 'partial', 'rejected', 'missing'))
                    );
                    CREATE TABLE lab_results (
                      id TEXT PRIMARY KEY NOT NULL,
                      source_file TEXT NOT NULL REFERENCES lab_files(path) ON DELETE CASCADE,
                      patient TEXT NOT NULL,
                      specimen TEXT NOT NULL,
                      collected_days INTEGER NOT NULL,
                      data TEXT NOT NULL
                    );
                    CREATE INDEX lab_results_patient ON lab_results(patient, collected_days);
                    CREATE TABLE retractions (id TEXT PRIMARY KEY NOT NULL, source_file TEXT NOT NULL);
                    CREATE TABLE rejections (
                      file TEXT NOT NULL,
                      record TEXT NOT NULL DEFAULT '',
                      sha256 TEXT NOT NULL,
                      kind TEXT NOT NULL CHECK (kind IN ('fcs', 'lab')),
                      code TEXT NOT NULL,
                      message TEXT NOT NULL,
                      PRIMARY KEY (file, record)
                    );
                    CREATE TABLE monthly_records (
                      patient TEXT NOT NULL,
                      month INTEGER NOT NULL CHECK (month >= 0),
                      data TEXT NOT NULL,
                      PRIMARY KEY (patient, month)
                    );
                    CREATE TABLE runs (
                      id INTEGER PRIMARY KEY AUTOINCREMENT,
                      started TEXT NOT NULL,
                      finished TEXT,
                      program_version TEXT NOT NULL,
                      config_sha256 TEXT NOT NULL,
                      summary TEXT
                    );
                    """)
        }
        m.registerMigration("v2") { db in
            // The gates applied to each file (adaptive gating), as Gating-ML 2.0.
            try db.execute(
                sql: """
                    CREATE TABLE applied_gates (
                      file TEXT PRIMARY KEY NOT NULL,
                      method TEXT NOT NULL,
                      gating_ml TEXT NOT NULL
                    );
                    """)
        }
        m.registerMigration("v3") { db in
            try migrateToTypedColumns(db)
        }
        m.registerMigration("v4") { db in
            // Change control: the analysis each file's result was derived with, a newer version
            // that was rejected while the earlier result stands, duplicates of stored content.
            try db.execute(
                sql: """
                    CREATE TABLE fcs_files_v4 (
                      path TEXT PRIMARY KEY NOT NULL,
                      sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
                      size INTEGER NOT NULL CHECK (size >= 0),
                      mtime REAL NOT NULL,
                      status TEXT NOT NULL CHECK (status IN ('ingested', 'rejected', 'missing', 'duplicate')),
                      analysis_sha256 TEXT NOT NULL DEFAULT '',
                      rejected_sha256 TEXT,
                      duplicate_of TEXT
                    );
                    INSERT INTO fcs_files_v4 (path, sha256, size, mtime, status) SELECT path, sha256, size, mtime, status FROM fcs_files;
                    DROP TABLE fcs_files;
                    ALTER TABLE fcs_files_v4 RENAME TO fcs_files;
                    CREATE INDEX fcs_files_sha256 ON fcs_files(sha256);
                    ALTER TABLE samples ADD COLUMN instrument TEXT NOT NULL DEFAULT 'default';
                    """)
        }
        m.registerMigration("v5") { db in
            // Small facts about the store's derived state (the basis the monthly records were
            // last built from).
            try db.execute(sql: "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)")
        }
        m.registerMigration("v6") { db in
            // A rejected file's patient and day (why a month is empty), every on-infusion value
            // of a month with its sources. Records are derived: they are rebuilt on the next run.
            try db.execute(
                sql: """
                    ALTER TABLE rejections ADD COLUMN patient TEXT;
                    ALTER TABLE rejections ADD COLUMN collected_days INTEGER;
                    CREATE INDEX rejections_patient ON rejections(patient, collected_days);
                    ALTER TABLE monthly_records ADD COLUMN on_infusion_cd4_collected TEXT;
                    ALTER TABLE monthly_records ADD COLUMN on_infusion_cd4_pct REAL;
                    ALTER TABLE monthly_records ADD COLUMN on_infusion_cd8_abs REAL;
                    ALTER TABLE monthly_records ADD COLUMN on_infusion_cd8_pct REAL;
                    ALTER TABLE monthly_records ADD COLUMN on_infusion_cd4_cd8_ratio REAL;
                    ALTER TABLE monthly_records ADD COLUMN on_infusion_cd8_hladr_pct REAL;
                    ALTER TABLE monthly_records ADD COLUMN on_infusion_cd4_cd25_pct REAL;
                    ALTER TABLE monthly_records ADD COLUMN on_infusion_hiv_collected TEXT;
                    ALTER TABLE monthly_records ADD COLUMN on_infusion_hiv_rna_copies REAL;
                    ALTER TABLE monthly_records ADD COLUMN on_infusion_hiv_rna_censor TEXT;
                    ALTER TABLE monthly_records ADD COLUMN on_infusion_hiv_rna_limit REAL;
                    ALTER TABLE monthly_records ADD COLUMN on_infusion_sources TEXT NOT NULL DEFAULT '[]';
                    DELETE FROM meta WHERE key = 'records_basis';
                    """)
        }
        return m
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func json<T: Encodable>(_ v: T) throws -> String { String(decoding: try encoder.encode(v), as: UTF8.self) }
    static func decode<T: Decodable>(_ t: T.Type, _ s: String) throws -> T {
        try JSONDecoder().decode(t, from: Data(s.utf8))
    }

    func state<S: RawRepresentable>(_ table: String, _ path: String) throws -> StoredFileState<S>?
    where S.RawValue == String {
        try queue.read { db in
            let extra = table == "fcs_files" ? ", analysis_sha256, rejected_sha256, duplicate_of" : ""
            return try Row.fetchOne(
                db, sql: "SELECT sha256, size, mtime, status\(extra) FROM \(table) WHERE path = ?", arguments: [path]
            ).map {
                let raw: String = $0["status"]
                guard let status = S(rawValue: raw) else {
                    throw DatabaseError(message: "\(table).status: unknown value \(raw)")
                }
                var state = StoredFileState(sha256: $0["sha256"], size: $0["size"], mtime: $0["mtime"], status: status)
                if table == "fcs_files" {
                    state.analysisSHA256 = $0["analysis_sha256"]
                    state.rejectedSHA256 = $0["rejected_sha256"]
                    state.duplicateOf = $0["duplicate_of"]
                }
                return state
            }
        }
    }

    public func fileState(_ path: String) throws -> StoredFileState<FileStatus>? { try state("fcs_files", path) }
    public func labFileState(_ path: String) throws -> StoredFileState<LabFileStatus>? { try state("lab_files", path) }
    public func filePaths() throws -> [String] {
        try queue.read { try String.fetchAll($0, sql: "SELECT path FROM fcs_files ORDER BY path") }
    }
    public func labFilePaths() throws -> [String] {
        try queue.read { try String.fetchAll($0, sql: "SELECT path FROM lab_files ORDER BY path") }
    }

    public func replacePatients(_ patients: [RegistryPatient]) throws {
        try queue.write { db in
            // Upsert, then drop patients no longer registered (their monthly records go with them).
            for p in patients.sorted(by: { $0.id < $1.id }) {
                try db.execute(
                    sql: """
                        INSERT INTO patients (id, day0, cycle_starts, dose) VALUES (?, ?, ?, ?)
                        ON CONFLICT(id) DO UPDATE SET day0 = excluded.day0, cycle_starts = excluded.cycle_starts, dose = excluded.dose
                        """,
                    arguments: [p.id, p.day0, p.cycleStarts.map(String.init).joined(separator: ";"), p.doseMIUPerDay])
            }
            let keep = Set(patients.map(\.id))
            for id in try String.fetchAll(db, sql: "SELECT id FROM patients") where !keep.contains(id) {
                try db.execute(sql: "DELETE FROM patients WHERE id = ?", arguments: [id])
            }
        }
    }

    /// Records an FCS file's new content and status and drops what an earlier version of it
    /// stored (its sample row and its file-level rejection), inside the caller's transaction.
    private static func replaceFCSFile(
        _ db: Database, path: String, sha256: String, size: Int64, mtime: Double, status: FileStatus, analysis: String,
        duplicateOf: String? = nil
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO fcs_files (path, sha256, size, mtime, status, analysis_sha256, rejected_sha256, duplicate_of)
                VALUES (?, ?, ?, ?, ?, ?, NULL, ?)
                ON CONFLICT(path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, mtime = excluded.mtime,
                  status = excluded.status, analysis_sha256 = excluded.analysis_sha256, rejected_sha256 = NULL,
                  duplicate_of = excluded.duplicate_of
                """, arguments: [path, sha256, size, mtime, status.rawValue, analysis, duplicateOf])
        try db.execute(sql: "DELETE FROM samples WHERE file = ?", arguments: [path])
        try db.execute(sql: "DELETE FROM applied_gates WHERE file = ?", arguments: [path])
        try db.execute(sql: "DELETE FROM rejections WHERE file = ? AND kind = 'fcs'", arguments: [path])
    }

    public func commitSample(
        path: String, size: Int64, mtime: Double, sample s: SampleResult, analysisSHA256: String
    ) throws {
        try queue.write { db in
            try Self.invalidateRecords(db)
            try Self.replaceFCSFile(
                db, path: path, sha256: s.sha256, size: size, mtime: mtime, status: .ingested, analysis: analysisSHA256)
            try db.execute(
                sql: """
                    INSERT INTO samples (file, sha256, patient, collected_days, collected, events, bead_events, lymphocyte_events, cd3_events,
                      cd4_events, cd8_events, cd8_hladr_events, cd4_cd25_events, cd4_abs, cd8_abs, cd4_pct, cd8_pct, cd3_pct, ratio,
                      cd8_hladr_pct, cd4_cd25_pct, method, qc_flags, warnings, strategy_sha256, config_sha256, program_version, gating,
                      instrument)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    path, s.sha256, s.patient, s.collectedDays, s.collected, s.events, s.beadEvents, s.lymphocyteEvents,
                    s.cd3Events, s.cd4Events,
                    s.cd8Events, s.cd8HladrEvents, s.cd4Cd25Events, s.cd4Abs, s.cd8Abs, s.cd4Pct, s.cd8Pct, s.cd3Pct,
                    s.cd4cd8Ratio, s.cd8HladrPct,
                    s.cd4Cd25Pct, s.method.rawValue, try Self.json(s.qcFlags), try Self.json(s.warnings),
                    s.strategySHA256, s.configSHA256,
                    s.programVersion, s.gating.rawValue, s.instrument,
                ])
            if let xml = s.appliedGatingML {
                try db.execute(
                    sql: "INSERT INTO applied_gates (file, gating_ml) VALUES (?, ?)", arguments: [path, xml])
            }
        }
    }

    /// The Gating-ML of the gates applied to a stored file (adaptive gating), if any.
    public func appliedGates(file: String) throws -> String? {
        try queue.read { db in
            try String.fetchOne(db, sql: "SELECT gating_ml FROM applied_gates WHERE file = ?", arguments: [file])
        }
    }

    public func commitRejection(
        path: String, sha256: String, size: Int64, mtime: Double, rejection: SampleRejection,
        analysisSHA256: String, keepResult: Bool
    ) throws {
        try queue.write { db in
            try Self.invalidateRecords(db)
            if keepResult {
                // The earlier version's result stands; the newer version is on file as rejected.
                try db.execute(
                    sql: "UPDATE fcs_files SET size = ?, mtime = ?, rejected_sha256 = ? WHERE path = ?",
                    arguments: [size, mtime, sha256, path])
                try db.execute(sql: "DELETE FROM rejections WHERE file = ? AND kind = 'fcs'", arguments: [path])
            } else {
                try Self.replaceFCSFile(
                    db, path: path, sha256: sha256, size: size, mtime: mtime, status: .rejected,
                    analysis: analysisSHA256)
            }
            try db.execute(
                sql:
                    "INSERT INTO rejections (file, record, sha256, kind, code, message, patient, collected_days) VALUES (?, '', ?, 'fcs', ?, ?, ?, ?)",
                arguments: [
                    path, sha256, rejection.code.rawValue, rejection.message, rejection.patient,
                    rejection.collectedDays,
                ])
        }
    }

    public func commitDuplicate(path: String, sha256: String, size: Int64, mtime: Double, of original: String) throws {
        try queue.write { db in
            try Self.invalidateRecords(db)
            try Self.replaceFCSFile(
                db, path: path, sha256: sha256, size: size, mtime: mtime, status: .duplicate, analysis: "",
                duplicateOf: original)
            try db.execute(
                sql:
                    "INSERT INTO rejections (file, record, sha256, kind, code, message) VALUES (?, '', ?, 'fcs', ?, ?)",
                arguments: [
                    path, sha256, RejectionCode.duplicateFile.rawValue,
                    "the same content (SHA-256) is stored as \(original); not counted twice",
                ])
        }
    }

    public func clearRejectedVersion(path: String) throws {
        try queue.write { db in
            try Self.invalidateRecords(db)
            try db.execute(sql: "UPDATE fcs_files SET rejected_sha256 = NULL WHERE path = ?", arguments: [path])
            try db.execute(
                sql:
                    "DELETE FROM rejections WHERE file = ? AND kind = 'fcs' AND sha256 != (SELECT sha256 FROM fcs_files WHERE path = ?)",
                arguments: [path, path])
        }
    }

    public func outstanding() throws -> (rejections: Int, flaggedSamples: Int) {
        try queue.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT count(*) FROM rejections") ?? 0,
                try Int.fetchOne(db, sql: "SELECT count(*) FROM samples WHERE qc_flags != '[]'") ?? 0
            )
        }
    }

    public func storedPath(sha256: String, excluding path: String) throws -> String? {
        try queue.read { db in
            try String.fetchOne(
                db,
                sql:
                    "SELECT path FROM fcs_files WHERE sha256 = ? AND path != ? AND status IN ('ingested', 'rejected', 'missing') ORDER BY path LIMIT 1",
                arguments: [sha256, path])
        }
    }

    public func touchFile(path: String, size: Int64, mtime: Double, lab: Bool) throws {
        try queue.write { db in
            try Self.invalidateRecords(db)
            let table = lab ? "lab_files" : "fcs_files"
            try db.execute(
                sql: "UPDATE \(table) SET size = ?, mtime = ? WHERE path = ?", arguments: [size, mtime, path])
            try db.execute(
                sql: "DELETE FROM rejections WHERE file = ? AND record = ?", arguments: [path, Self.unreadableRecord])
            if !lab {
                // A file that came back after being missing is ingested again (its sample was kept).
                try db.execute(
                    sql:
                        "UPDATE fcs_files SET status = CASE WHEN EXISTS (SELECT 1 FROM samples WHERE file = ?) THEN 'ingested' ELSE 'rejected' END WHERE path = ? AND status = 'missing'",
                    arguments: [path, path])
            }
        }
    }

    public func commitUnreadable(path: String, reason: String, lab: Bool) throws {
        try queue.write { db in
            try Self.invalidateRecords(db)
            let table = lab ? "lab_files" : "fcs_files"
            // A stored file is looked at again next run (its time no longer matches).
            try db.execute(sql: "UPDATE \(table) SET mtime = -1 WHERE path = ?", arguments: [path])
            try db.execute(
                sql:
                    "INSERT OR REPLACE INTO rejections (file, record, sha256, kind, code, message) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [
                    path, Self.unreadableRecord, RecordStores.unreadableSHA256, lab ? "lab" : "fcs",
                    RejectionCode.fileIO.rawValue, reason,
                ])
        }
    }

    /// The `record` key of an unreadable input's rejection (beside the file's own, if any).
    static let unreadableRecord = "(unreadable)"

    public func markMissing(_ paths: [String], lab: Bool) throws {
        guard !paths.isEmpty else { return }
        try queue.write { db in
            try Self.invalidateRecords(db)
            for p in paths {
                try db.execute(
                    sql: "UPDATE \(lab ? "lab_files" : "fcs_files") SET status = 'missing' WHERE path = ?",
                    arguments: [p])
            }
        }
    }

    /// Stages lab results into the open transaction.
    final class TransactionSink {
        let db: Database
        let path: String
        var stored = 0
        var conflicts: [RejectedRecord] = []
        let cache = JSONColumnCache()
        init(db: Database, path: String) {
            self.db = db
            self.path = path
        }
        static let insert =
            "INSERT INTO lab_results (\(SQLiteRecordStore.labResultColumns)) VALUES (\(SQLiteRecordStore.placeholders(SQLiteRecordStore.labResultColumns)))"
        /// Ids already stored and ids retracted, read once per lab file: a result that is neither
        /// is one INSERT, with no per-result lookups.
        var known: (stored: Set<String>, retracted: Set<String>)?

        /// The store's own failure while staging (disk full, I/O): the importer reports it as a
        /// file error, but it is no property of the file. It rolls the file back, unrecorded.
        var failure: (any Error)?

        func stage(_ r: HIVRNAResult) throws {
            do { try insert(r) } catch {
                failure = failure ?? error
                throw error
            }
        }

        /// Statements compiled once per lab file (GRDB's statement cache), not once per result.
        func insert(_ r: HIVRNAResult) throws {
            if known == nil {
                known = (
                    Set(try String.fetchAll(db, sql: "SELECT id FROM lab_results")),
                    Set(try String.fetchAll(db, sql: "SELECT id FROM retractions"))
                )
            }
            if known!.retracted.contains(r.id) { return }
            if known!.stored.contains(r.id),
                let existing = try Row.fetchOne(
                    try db.cachedStatement(
                        sql: "SELECT \(SQLiteRecordStore.labResultColumns) FROM lab_results WHERE id = ?"),
                    arguments: [r.id])
            {
                let sameContent = try SQLiteRecordStore.labResult(existing, cache: cache) == r
                if !sameContent && r.status != .corrected && r.status != .amended
                    && (existing["source_file"] as String) != path
                {
                    conflicts.append(
                        RejectedRecord(
                            id: r.id, code: .recordConflict,
                            message: "result id already stored with different content, and this is not a correction",
                            line: r.line))
                    return
                }
            }
            let delete = try db.cachedStatement(sql: "DELETE FROM lab_results WHERE id = ?")
            if let replaced = r.replaces, known!.stored.contains(replaced) {
                try delete.execute(arguments: [replaced])
                known!.stored.remove(replaced)
            }
            if known!.stored.contains(r.id) { try delete.execute(arguments: [r.id]) }
            known!.stored.insert(r.id)
            try db.cachedStatement(sql: Self.insert).execute(
                arguments: try SQLiteRecordStore.labResultArguments(r, sourceFile: path, cache: cache))
            stored += 1
        }
    }

    struct Rollback: Error {}
    struct UnreadableLabFile: Error { var reason: String }

    public func commitLabFile(
        path: String, sha256: String, size: Int64, mtime: Double,
        body: (_ stage: @escaping (HIVRNAResult) throws -> Void) -> LabFileReport
    ) throws -> (report: LabFileReport, stored: Int, conflicts: Int) {
        var outcome: (LabFileReport, Int, Int)?
        do {
            try queue.write { db in
                try Self.invalidateRecords(db)
                try db.execute(
                    sql: """
                        INSERT INTO lab_files (path, sha256, size, mtime, status) VALUES (?, ?, ?, ?, 'accepted')
                        ON CONFLICT(path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, mtime = excluded.mtime
                        """, arguments: [path, sha256, size, mtime])
                // A changed file supersedes everything it stored before.
                try db.execute(sql: "DELETE FROM lab_results WHERE source_file = ?", arguments: [path])
                try db.execute(sql: "DELETE FROM retractions WHERE source_file = ?", arguments: [path])
                try db.execute(sql: "DELETE FROM rejections WHERE file = ? AND kind = 'lab'", arguments: [path])
                let sink = TransactionSink(db: db, path: path)
                var report = body { try sink.stage($0) }
                if let failure = sink.failure { throw failure }
                if report.status == .rejected && report.error?.code == .fileIO {
                    // Unreadable now (permission, I/O): not a property of the content.
                    throw UnreadableLabFile(reason: report.error?.message ?? "cannot be read")
                }
                if report.status == .rejected {
                    outcome = (report, 0, 0)
                    throw Rollback()
                }
                for id in report.retracted {
                    try db.execute(sql: "DELETE FROM lab_results WHERE id = ?", arguments: [id])
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO retractions (id, source_file) VALUES (?, ?)",
                        arguments: [id, path])
                }
                report.rejected += sink.conflicts
                if !report.rejected.isEmpty { report.status = .partial }
                for r in report.rejected {
                    try db.execute(
                        sql:
                            "INSERT OR REPLACE INTO rejections (file, record, sha256, kind, code, message) VALUES (?, ?, ?, 'lab', ?, ?)",
                        arguments: [path, r.id ?? "line \(r.line ?? 0)", sha256, r.code.rawValue, r.message])
                }
                try db.execute(
                    sql: "UPDATE lab_files SET status = ? WHERE path = ?", arguments: [report.status.rawValue, path])
                outcome = (report, sink.stored, sink.conflicts.count)
            }
        } catch let e as UnreadableLabFile {
            try commitUnreadable(path: path, reason: e.reason, lab: true)
            let report = LabFileReport(
                file: path, status: .rejected, error: LabFileError(code: .fileIO, message: e.reason), results: [],
                rejected: [], retracted: [], skipped: [], warnings: [])
            return (report, 0, 0)
        } catch is Rollback {
            // Nothing of the file is stored; record the rejection in its own transaction.
            let report = outcome!.0
            try queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO lab_files (path, sha256, size, mtime, status) VALUES (?, ?, ?, ?, 'rejected')
                        ON CONFLICT(path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, mtime = excluded.mtime, status = 'rejected'
                        """, arguments: [path, sha256, size, mtime])
                try db.execute(sql: "DELETE FROM rejections WHERE file = ? AND kind = 'lab'", arguments: [path])
                try db.execute(
                    sql:
                        "INSERT INTO rejections (file, record, sha256, kind, code, message) VALUES (?, '', ?, 'lab', ?, ?)",
                    arguments: [path, sha256, (report.error?.code ?? .unknown).rawValue, report.error?.message ?? ""])
            }
        }
        return (outcome!.0, outcome!.1, outcome!.2)
    }

    /// Any change of stored inputs drops the records' basis in the same transaction: records
    /// are current only when rebuilt after the last change (a crash between a commit and the
    /// rebuild leaves no basis, so the next run rebuilds).
    static func invalidateRecords(_ db: Database) throws {
        try db.cachedStatement(sql: "DELETE FROM meta WHERE key = 'records_basis'").execute()
    }

    public func recordsBasis() throws -> String? {
        try queue.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'records_basis'") }
    }

    public func replaceRecords(_ records: [MonthlyRecord], basis: String?) throws {
        try queue.write { db in
            try Self.writeRecords(records, db)
            if let basis {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('records_basis', ?)", arguments: [basis])
            }
        }
    }

    static func writeRecords(_ records: [MonthlyRecord], _ db: Database) throws {
        try db.execute(sql: "DELETE FROM monthly_records")
        for r in records {
            let columns = Self.monthlyRecordColumns + ", " + Self.onInfusionColumns
            try db.cachedStatement(
                sql: "INSERT INTO monthly_records (\(columns)) VALUES (\(Self.placeholders(columns)))"
            ).execute(arguments: try Self.recordArguments(r) + Self.onInfusionArguments(r))
        }
    }

    public func samples() throws -> [SampleResult] {
        try queue.read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT s.*, g.gating_ml FROM samples s LEFT JOIN applied_gates g ON g.file = s.file ORDER BY s.patient, s.collected_days, s.file"
            ).map { row in
                let method: String = row["method"]
                let gating: String = row["gating"]
                guard let countingMethod = CountingMethod(label: method), let mode = GatingMode(rawValue: gating) else {
                    throw DatabaseError(message: "samples: unknown method \(method) or gating \(gating)")
                }
                return SampleResult(
                    file: row["file"], sha256: row["sha256"], patient: row["patient"],
                    collectedDays: row["collected_days"], collected: row["collected"],
                    events: row["events"], beadEvents: row["bead_events"], lymphocyteEvents: row["lymphocyte_events"],
                    cd3Events: row["cd3_events"],
                    cd4Events: row["cd4_events"], cd8Events: row["cd8_events"], cd8HladrEvents: row["cd8_hladr_events"],
                    cd4Cd25Events: row["cd4_cd25_events"],
                    cd4Abs: row["cd4_abs"], cd8Abs: row["cd8_abs"], cd4Pct: row["cd4_pct"], cd8Pct: row["cd8_pct"],
                    cd3Pct: row["cd3_pct"],
                    cd4cd8Ratio: row["ratio"], cd8HladrPct: row["cd8_hladr_pct"], cd4Cd25Pct: row["cd4_cd25_pct"],
                    method: countingMethod,
                    qcFlags: try Self.decode([QCFlag].self, row["qc_flags"]),
                    warnings: try Self.decode([String].self, row["warnings"]),
                    strategySHA256: row["strategy_sha256"], configSHA256: row["config_sha256"],
                    programVersion: row["program_version"],
                    gating: mode, instrument: row["instrument"], appliedGatingML: row["gating_ml"])
            }
        }
    }

    public func labResults() throws -> [StoredLabResult] { try labResults(where: nil) }

    public func labResults(patient: String) throws -> [StoredLabResult] { try labResults(where: patient) }

    func labResults(where patient: String?) throws -> [StoredLabResult] {
        try queue.read { db in
            let cache = JSONColumnCache()
            var out: [StoredLabResult] = []
            let rows = try Row.fetchCursor(
                db,
                sql:
                    "SELECT \(Self.labResultColumns) FROM lab_results \(patient == nil ? "" : "WHERE patient = ? ")ORDER BY patient, collected_days, id",
                arguments: patient.map { [$0] } ?? [])
            while let row = try rows.next() {
                out.append(
                    StoredLabResult(result: try Self.labResult(row, cache: cache), sourceFile: row["source_file"]))
            }
            return out
        }
    }

    public func records(patient: String?) throws -> [MonthlyRecord] {
        try queue.read { db in
            let columns = Self.monthlyRecordColumns + ", " + Self.onInfusionColumns
            let rows =
                patient == nil
                ? try Row.fetchAll(db, sql: "SELECT \(columns) FROM monthly_records ORDER BY patient, month")
                : try Row.fetchAll(
                    db, sql: "SELECT \(columns) FROM monthly_records WHERE patient = ? ORDER BY month",
                    arguments: [patient])
            return try rows.map {
                var r = try Self.record($0)
                r.onInfusion = try Self.onInfusion($0)
                return r
            }
        }
    }

    public func rejections() throws -> [StoredRejection] {
        try queue.read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT file, record, code, message, patient, collected_days FROM rejections ORDER BY kind, file, record"
            )
            .map {
                let record: String = $0["record"]
                return StoredRejection(
                    file: $0["file"], record: record.isEmpty ? nil : record,
                    code: RejectionCode(rawValue: $0["code"]), message: $0["message"], patient: $0["patient"],
                    collectedDays: $0["collected_days"])
            }
        }
    }

    public func patients() throws -> [RegistryPatient] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM patients ORDER BY id").map {
                RegistryPatient(
                    id: $0["id"], day0: $0["day0"],
                    cycleStarts: ($0["cycle_starts"] as String).split(separator: ";").compactMap { Int($0) },
                    doseMIUPerDay: $0["dose"])
            }
        }
    }

    public func beginRun(configSHA256: String) throws -> Int64 {
        try queue.write { db in
            try db.execute(
                sql: "INSERT INTO runs (started, program_version, config_sha256) VALUES (?, ?, ?)",
                arguments: [ISO8601DateFormatter().string(from: Date()), ProgramInfo.version, configSHA256])
            return db.lastInsertedRowID
        }
    }

    public func finishRun(_ id: Int64, summary: String) throws {
        try queue.write { db in
            try db.execute(
                sql: "UPDATE runs SET finished = ?, summary = ? WHERE id = ?",
                arguments: [ISO8601DateFormatter().string(from: Date()), summary, id])
        }
    }

    /// The domain tables as canonical text (no run bookkeeping): two stores with equal dumps
    /// hold the same results. Used by the idempotence and crash tests.
    public func canonicalDump() throws -> String {
        try queue.read { db in
            var out = ""
            for (table, order) in [
                ("patients", "id"), ("fcs_files", "path"), ("samples", "file"), ("applied_gates", "file"),
                ("lab_files", "path"), ("lab_results", "id"), ("retractions", "id"), ("rejections", "file, record"),
                ("monthly_records", "patient, month"),
            ] {
                let columns = table == "fcs_files" || table == "lab_files" ? "path, sha256, status" : "*"
                for row in try Row.fetchAll(db, sql: "SELECT \(columns) FROM \(table) ORDER BY \(order)") {
                    out += table + ": " + row.description + "\n"
                }
            }
            return out
        }
    }
}
