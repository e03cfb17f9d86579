import CSQLiteShim
import CytoModel
import Foundation
import GRDB

/// The embedded store: SQLite through GRDB, forward-only migrations, invariants in the schema.
/// The store's logic is `SQLRecordStore`'s, shared with PostgreSQL.
public final class SQLiteRecordStore: SQLRecordStore {
    let queue: DatabaseQueue
    public let path: String

    /// The schema version this program writes (`PRAGMA user_version`; one per migration).
    public static let schemaVersion = 7

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
        super.init(database: GRDBDatabase(queue: queue, location: path))
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
        m.registerMigration("v7") { db in
            // Shared deployments (`run --worker`): the files being worked on, each claimed by one
            // worker for a lease; the patients whose monthly records wait for a rebuild.
            try db.execute(sql: sharedWorkTables)
        }
        return m
    }

    /// Schema v7's tables for shared deployments (the same text in both engines).
    static let sharedWorkTables = """
        CREATE TABLE work_queue (
          kind TEXT NOT NULL CHECK (kind IN ('fcs', 'lab')),
          path TEXT NOT NULL,
          worker TEXT,
          previous_worker TEXT,
          token TEXT,
          lease_until REAL NOT NULL DEFAULT 0,
          attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
          PRIMARY KEY (kind, path)
        );
        CREATE INDEX work_queue_lease ON work_queue(lease_until);
        CREATE TABLE dirty_patients (
          patient TEXT PRIMARY KEY NOT NULL,
          version INTEGER NOT NULL
        );
        """
}
