import CytoModel
import Foundation

/// The store's logic, written once over `SQLDatabase`: `SQLiteRecordStore` (embedded, the
/// default) and `PostgresRecordStore` (shared deployments) open a database and inherit it. The
/// SQL here is what both engines accept; where they differ, `SQLDialect` says it.
public class SQLRecordStore: RecordStore {
    let database: any SQLDatabase

    /// The file claim under which the next write stores a file's results (`run --worker`): that
    /// write checks the claim is still held, locks it, and deletes it in its own transaction, so a
    /// file's results and the end of its claim commit together. A claim that expired and was taken
    /// by another worker fails the write (`StoreFailure.claimLost`), which rolls back whole.
    public var claim: WorkClaim?

    init(database: any SQLDatabase) {
        self.database = database
    }

    public func failure(_ error: any Error) -> StoreFailure? { database.failure(error) }

    /// A write transaction (under the current claim, if any).
    func write<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        let claim = self.claim
        let result = try database.write { s in
            // The claim ends with this transaction, or stays if it rolls back; a claim no longer
            // held (taken over by another worker) deletes nothing and fails the write.
            if let claim {
                let held: [String] = try s.column(
                    "DELETE FROM work_queue WHERE kind = ? AND path = ? AND token = ? RETURNING path",
                    [claim.kind, claim.path, claim.token])
                guard !held.isEmpty else {
                    throw StoreFailure(
                        kind: .claimLost, path: database.location,
                        message: "the claim on a file expired and was taken by another worker; nothing written")
                }
            }
            return try body(s)
        }
        if claim != nil { self.claim = nil }
        return result
    }

    func read<T>(_ body: (any SQLSession) throws -> T) throws -> T { try database.read(body) }

    // MARK: JSON columns

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func json<T: Encodable>(_ v: T) throws -> String { String(decoding: try encoder.encode(v), as: UTF8.self) }
    static func decode<T: Decodable>(_ t: T.Type, _ s: String) throws -> T {
        try JSONDecoder().decode(t, from: Data(s.utf8))
    }

    // MARK: Files

    func state<S: RawRepresentable>(_ table: String, _ path: String) throws -> StoredFileState<S>?
    where S.RawValue == String {
        let found: [String: StoredFileState<S>] = try states(table, path: path)
        return found[path]
    }

    /// Stored states by path: of one file, or of all (one query instead of one per file).
    func states<S: RawRepresentable>(_ table: String, path: String?) throws -> [String: StoredFileState<S>]
    where S.RawValue == String {
        try read { s in
            let extra = table == "fcs_files" ? ", analysis_sha256, rejected_sha256, duplicate_of" : ""
            let rows = try s.rows(
                "SELECT path, sha256, size, mtime, status\(extra) FROM \(table)\(path == nil ? "" : " WHERE path = ?")",
                path.map { [$0] } ?? [])
            return Dictionary(
                uniqueKeysWithValues: try rows.map { row -> (String, StoredFileState<S>) in
                    (try row["path"], try Self.state(row, table))
                })
        }
    }

    static func state<S: RawRepresentable>(_ row: SQLRow, _ table: String) throws -> StoredFileState<S>
    where S.RawValue == String {
        let raw: String = try row["status"]
        guard let status = S(rawValue: raw) else {
            throw StoredValueError(column: "\(table).status", expected: "known status (\(raw))")
        }
        var state = StoredFileState(
            sha256: try row["sha256"], size: try row["size"], mtime: try row["mtime"], status: status)
        if table == "fcs_files" {
            state.analysisSHA256 = try row["analysis_sha256"]
            state.rejectedSHA256 = try row["rejected_sha256"]
            state.duplicateOf = try row["duplicate_of"]
        }
        return state
    }

    public func fileState(_ path: String) throws -> StoredFileState<FileStatus>? { try state("fcs_files", path) }
    public func labFileState(_ path: String) throws -> StoredFileState<LabFileStatus>? { try state("lab_files", path) }
    public func fileStates() throws -> [String: StoredFileState<FileStatus>] { try states("fcs_files", path: nil) }
    public func labFileStates() throws -> [String: StoredFileState<LabFileStatus>] {
        try states("lab_files", path: nil)
    }
    public func filePaths() throws -> [String] {
        try read { try $0.column("SELECT path FROM fcs_files ORDER BY path") }
    }
    public func labFilePaths() throws -> [String] {
        try read { try $0.column("SELECT path FROM lab_files ORDER BY path") }
    }

    public func replacePatients(_ patients: [RegistryPatient]) throws {
        try write { s in
            // Upsert (rows that did not change are not written: workers starting together do not
            // queue behind each other), then drop patients no longer registered (their monthly
            // records go with them).
            for p in patients.sorted(by: { $0.id < $1.id }) {
                try s.send(
                    """
                    INSERT INTO patients (id, day0, cycle_starts, dose) VALUES (?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET day0 = excluded.day0, cycle_starts = excluded.cycle_starts, dose = excluded.dose
                    WHERE patients.day0 IS DISTINCT FROM excluded.day0 OR patients.cycle_starts IS DISTINCT FROM excluded.cycle_starts
                      OR patients.dose IS DISTINCT FROM excluded.dose
                    """,
                    [p.id, p.day0, p.cycleStarts.map(String.init).joined(separator: ";"), p.doseMIUPerDay])
            }
            let keep = Set(patients.map(\.id))
            for id: String in try s.column("SELECT id FROM patients ORDER BY id") where !keep.contains(id) {
                try s.send("DELETE FROM patients WHERE id = ?", [id])
            }
        }
    }

    /// Marks the patients whose monthly records the statement's rows touch (`SELECT patient ...`)
    /// for a rebuild; workers rebuild them one patient at a time (`rebuildNextPatient`).
    static func markPatients(_ s: any SQLSession, _ select: String, _ arguments: [any SQLBindable]) throws {
        try s.send(
            """
            INSERT INTO dirty_patients (patient, version) SELECT DISTINCT patient, 1 FROM (\(select)) AS touched
            WHERE patient IS NOT NULL ORDER BY patient
            ON CONFLICT(patient) DO UPDATE SET version = dirty_patients.version + 1
            """, arguments)
    }

    /// Records an FCS file's new content and status and drops what an earlier version of it
    /// stored (its sample row and its file-level rejection), inside the caller's transaction.
    static func replaceFCSFile(
        _ s: any SQLSession, path: String, sha256: String, size: Int64, mtime: Double, status: FileStatus,
        analysis: String, duplicateOf: String? = nil
    ) throws {
        try s.send(
            """
            INSERT INTO fcs_files (path, sha256, size, mtime, status, analysis_sha256, rejected_sha256, duplicate_of)
            VALUES (?, ?, ?, ?, ?, ?, NULL, ?)
            ON CONFLICT(path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, mtime = excluded.mtime,
              status = excluded.status, analysis_sha256 = excluded.analysis_sha256, rejected_sha256 = NULL,
              duplicate_of = excluded.duplicate_of
            """, [path, sha256, size, mtime, status.rawValue, analysis, duplicateOf])
        try markPatients(
            s,
            "SELECT patient FROM samples WHERE file = ? UNION SELECT patient FROM rejections WHERE file = ? AND kind = 'fcs'",
            [path, path])
        try s.send("DELETE FROM samples WHERE file = ?", [path])
        try s.send("DELETE FROM applied_gates WHERE file = ?", [path])
        try s.send("DELETE FROM rejections WHERE file = ? AND kind = 'fcs'", [path])
    }

    static let sampleColumns = """
        file, sha256, patient, collected_days, collected, events, bead_events, lymphocyte_events, cd3_events,
        cd4_events, cd8_events, cd8_hladr_events, cd4_cd25_events, cd4_abs, cd8_abs, cd4_pct, cd8_pct, cd3_pct, ratio,
        cd8_hladr_pct, cd4_cd25_pct, method, qc_flags, warnings, strategy_sha256, config_sha256, program_version, gating,
        instrument
        """

    public func commitSample(
        path: String, size: Int64, mtime: Double, sample s: SampleResult, analysisSHA256: String
    ) throws {
        try write { db in
            try Self.invalidateRecords(db)
            try Self.replaceFCSFile(
                db, path: path, sha256: s.sha256, size: size, mtime: mtime, status: .ingested, analysis: analysisSHA256)
            let values: [any SQLBindable] = [
                path, s.sha256, s.patient, s.collectedDays, s.collected, s.events, s.beadEvents, s.lymphocyteEvents,
                s.cd3Events, s.cd4Events, s.cd8Events, s.cd8HladrEvents, s.cd4Cd25Events, s.cd4Abs, s.cd8Abs,
                s.cd4Pct, s.cd8Pct, s.cd3Pct, s.cd4cd8Ratio, s.cd8HladrPct, s.cd4Cd25Pct, s.method.rawValue,
                try Self.json(s.qcFlags), try Self.json(s.warnings), s.strategySHA256, s.configSHA256,
                s.programVersion, s.gating.rawValue, s.instrument,
            ]
            try db.send(
                "INSERT INTO samples (\(Self.sampleColumns)) VALUES (\(Self.placeholders(Self.sampleColumns)))", values)
            try Self.markPatients(db, "SELECT patient FROM samples WHERE file = ?", [path])
            if let xml = s.appliedGatingML {
                try db.send("INSERT INTO applied_gates (file, gating_ml) VALUES (?, ?)", [path, xml])
            }
        }
    }

    public func appliedGates(file: String) throws -> String? {
        try read { try $0.value("SELECT gating_ml FROM applied_gates WHERE file = ?", [file]) }
    }

    public func commitRejection(
        path: String, sha256: String, size: Int64, mtime: Double, rejection: SampleRejection,
        analysisSHA256: String, keepResult: Bool
    ) throws {
        try write { s in
            try Self.invalidateRecords(s)
            if keepResult {
                // The earlier version's result stands; the newer version is on file as rejected.
                try s.send(
                    "UPDATE fcs_files SET size = ?, mtime = ?, rejected_sha256 = ? WHERE path = ?",
                    [size, mtime, sha256, path])
                try Self.markPatients(
                    s, "SELECT patient FROM rejections WHERE file = ? AND kind = 'fcs'", [path])
                try s.send("DELETE FROM rejections WHERE file = ? AND kind = 'fcs'", [path])
            } else {
                try Self.replaceFCSFile(
                    s, path: path, sha256: sha256, size: size, mtime: mtime, status: .rejected,
                    analysis: analysisSHA256)
            }
            try s.send(
                "INSERT INTO rejections (file, record, sha256, kind, code, message, patient, collected_days) VALUES (?, '', ?, 'fcs', ?, ?, ?, ?)",
                [
                    path, sha256, rejection.code.rawValue, rejection.message, rejection.patient,
                    rejection.collectedDays,
                ])
            try Self.markPatients(s, "SELECT patient FROM rejections WHERE file = ? AND kind = 'fcs'", [path])
        }
    }

    public func commitDuplicate(path: String, sha256: String, size: Int64, mtime: Double, of original: String) throws {
        try write { s in
            try Self.invalidateRecords(s)
            try Self.replaceFCSFile(
                s, path: path, sha256: sha256, size: size, mtime: mtime, status: .duplicate, analysis: "",
                duplicateOf: original)
            try s.send(
                "INSERT INTO rejections (file, record, sha256, kind, code, message) VALUES (?, '', ?, 'fcs', ?, ?)",
                [
                    path, sha256, RejectionCode.duplicateFile.rawValue,
                    "the same content (SHA-256) is stored as \(original); not counted twice",
                ])
        }
    }

    public func outstanding() throws -> (rejections: Int, flaggedSamples: Int) {
        try read { s in
            (
                try s.value("SELECT count(*) FROM rejections") ?? 0,
                try s.value("SELECT count(*) FROM samples WHERE qc_flags != '[]'") ?? 0
            )
        }
    }

    public func storedPath(sha256: String, excluding path: String) throws -> String? {
        try read {
            try $0.value(
                "SELECT path FROM fcs_files WHERE sha256 = ? AND path != ? AND status IN ('ingested', 'rejected', 'missing') ORDER BY path LIMIT 1",
                [sha256, path])
        }
    }

    public func touchFile(path: String, size: Int64, mtime: Double, lab: Bool, clearRejected: Bool) throws {
        try write { s in
            if clearRejected {
                try s.send("UPDATE fcs_files SET rejected_sha256 = NULL WHERE path = ?", [path])
                let stale =
                    "FROM rejections WHERE file = ? AND kind = 'fcs' AND sha256 != (SELECT sha256 FROM fcs_files WHERE path = ?)"
                try Self.markPatients(s, "SELECT patient \(stale)", [path, path])
                try s.send("DELETE \(stale)", [path, path])
            }
            try Self.invalidateRecords(s)
            let table = lab ? "lab_files" : "fcs_files"
            try s.send("UPDATE \(table) SET size = ?, mtime = ? WHERE path = ?", [size, mtime, path])
            try s.send("DELETE FROM rejections WHERE file = ? AND record = ?", [path, Self.unreadableRecord])
            if !lab {
                // A file that came back after being missing is ingested again (its sample was kept).
                try s.send(
                    "UPDATE fcs_files SET status = CASE WHEN EXISTS (SELECT 1 FROM samples WHERE file = ?) THEN 'ingested' ELSE 'rejected' END WHERE path = ? AND status = 'missing'",
                    [path, path])
            }
        }
    }

    public func commitUnreadable(path: String, reason: String, lab: Bool) throws {
        try write { s in
            try Self.invalidateRecords(s)
            let table = lab ? "lab_files" : "fcs_files"
            // A stored file is looked at again next run (its time no longer matches).
            try s.send("UPDATE \(table) SET mtime = -1 WHERE path = ?", [path])
            try Self.putRejection(
                s, file: path, record: Self.unreadableRecord, sha256: RecordStores.unreadableSHA256,
                kind: lab ? "lab" : "fcs", code: .fileIO, message: reason)
        }
    }

    /// Inserts or replaces a rejection that names no patient.
    static func putRejection(
        _ s: any SQLSession, file: String, record: String, sha256: String, kind: String, code: RejectionCode,
        message: String
    ) throws {
        try s.send(
            """
            INSERT INTO rejections (file, record, sha256, kind, code, message) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT(file, record) DO UPDATE SET sha256 = excluded.sha256, kind = excluded.kind, code = excluded.code,
              message = excluded.message, patient = NULL, collected_days = NULL
            """, [file, record, sha256, kind, code.rawValue, message])
    }

    /// The `record` key of an unreadable input's rejection (beside the file's own, if any).
    static let unreadableRecord = "(unreadable)"

    public func markMissing(_ paths: [String], lab: Bool) throws {
        guard !paths.isEmpty else { return }
        try write { s in
            try Self.invalidateRecords(s)
            for p in paths {
                let changed = try s.execute(
                    "UPDATE \(lab ? "lab_files" : "fcs_files") SET status = 'missing' WHERE path = ? AND status != 'missing'",
                    [p])
                if changed > 0 {
                    try Self.markPatients(
                        s,
                        lab
                            ? "SELECT patient FROM lab_results WHERE source_file = ?"
                            : "SELECT patient FROM samples WHERE file = ?", [p])
                }
            }
        }
    }

    // MARK: Lab files

    /// Stages lab results into the open transaction.
    final class TransactionSink {
        let s: any SQLSession
        let path: String
        var stored = 0
        var conflicts: [RejectedRecord] = []
        let cache = JSONColumnCache()
        init(session: any SQLSession, path: String) {
            self.s = session
            self.path = path
        }
        static let insert =
            "INSERT INTO lab_results (\(SQLRecordStore.labResultColumns)) VALUES (\(SQLRecordStore.placeholders(SQLRecordStore.labResultColumns)))"
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

        func insert(_ r: HIVRNAResult) throws {
            if known == nil {
                known = (
                    Set(try s.column("SELECT id FROM lab_results")),
                    Set(try s.column("SELECT id FROM retractions"))
                )
            }
            if known!.retracted.contains(r.id) { return }
            if known!.stored.contains(r.id),
                let existing = try s.row(
                    "SELECT \(SQLRecordStore.labResultColumns) FROM lab_results WHERE id = ?", [r.id])
            {
                let sameContent = try SQLRecordStore.labResult(existing, cache: cache) == r
                let source: String = try existing["source_file"]
                if !sameContent && r.status != .corrected && r.status != .amended && source != path {
                    conflicts.append(
                        RejectedRecord(
                            id: r.id, code: .recordConflict,
                            message: "result id already stored with different content, and this is not a correction",
                            line: r.line))
                    return
                }
            }
            if let replaced = r.replaces, known!.stored.contains(replaced) {
                try SQLRecordStore.markPatients(s, "SELECT patient FROM lab_results WHERE id = ?", [replaced])
                try s.send("DELETE FROM lab_results WHERE id = ?", [replaced])
                known!.stored.remove(replaced)
            }
            if known!.stored.contains(r.id) {
                try SQLRecordStore.markPatients(s, "SELECT patient FROM lab_results WHERE id = ?", [r.id])
                try s.send("DELETE FROM lab_results WHERE id = ?", [r.id])
            }
            known!.stored.insert(r.id)
            try s.send(Self.insert, try SQLRecordStore.labResultArguments(r, sourceFile: path, cache: cache))
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
            try write { s in
                try Self.invalidateRecords(s)
                try s.send(
                    """
                    INSERT INTO lab_files (path, sha256, size, mtime, status) VALUES (?, ?, ?, ?, 'accepted')
                    ON CONFLICT(path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, mtime = excluded.mtime
                    """, [path, sha256, size, mtime])
                // A changed file supersedes everything it stored before.
                try Self.markPatients(s, "SELECT patient FROM lab_results WHERE source_file = ?", [path])
                try s.send("DELETE FROM lab_results WHERE source_file = ?", [path])
                try s.send("DELETE FROM retractions WHERE source_file = ?", [path])
                try s.send("DELETE FROM rejections WHERE file = ? AND kind = 'lab'", [path])
                let sink = TransactionSink(session: s, path: path)
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
                    try Self.markPatients(s, "SELECT patient FROM lab_results WHERE id = ?", [id])
                    try s.send("DELETE FROM lab_results WHERE id = ?", [id])
                    try s.send(
                        """
                        INSERT INTO retractions (id, source_file) VALUES (?, ?)
                        ON CONFLICT(id) DO UPDATE SET source_file = excluded.source_file
                        """, [id, path])
                }
                report.rejected += sink.conflicts
                if !report.rejected.isEmpty { report.status = .partial }
                for r in report.rejected {
                    try Self.putRejection(
                        s, file: path, record: r.id ?? "line \(r.line ?? 0)", sha256: sha256, kind: "lab", code: r.code,
                        message: r.message)
                }
                try s.send("UPDATE lab_files SET status = ? WHERE path = ?", [report.status.rawValue, path])
                try Self.markPatients(s, "SELECT patient FROM lab_results WHERE source_file = ?", [path])
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
            try write { s in
                try s.send(
                    """
                    INSERT INTO lab_files (path, sha256, size, mtime, status) VALUES (?, ?, ?, ?, 'rejected')
                    ON CONFLICT(path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, mtime = excluded.mtime, status = 'rejected'
                    """, [path, sha256, size, mtime])
                try s.send("DELETE FROM rejections WHERE file = ? AND kind = 'lab'", [path])
                try s.send(
                    "INSERT INTO rejections (file, record, sha256, kind, code, message) VALUES (?, '', ?, 'lab', ?, ?)",
                    [path, sha256, (report.error?.code ?? .unknown).rawValue, report.error?.message ?? ""])
            }
        }
        return (outcome!.0, outcome!.1, outcome!.2)
    }

    // MARK: Monthly records

    /// Any change of stored inputs drops the records' basis in the same transaction: records
    /// are current only when rebuilt after the last change (a crash between a commit and the
    /// rebuild leaves no basis, so the next run rebuilds).
    static func invalidateRecords(_ s: any SQLSession) throws {
        try s.send("DELETE FROM meta WHERE key = 'records_basis'")
    }

    static func setMeta(_ s: any SQLSession, _ key: String, _ value: String) throws {
        try s.send(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value])
    }

    public func recordsBasis() throws -> String? {
        try read { try $0.value("SELECT value FROM meta WHERE key = 'records_basis'") }
    }

    public func replaceRecords(_ records: [MonthlyRecord], basis: String?) throws {
        try write { s in
            try s.send("DELETE FROM monthly_records")
            for r in records { try Self.insertRecord(r, s) }
            // Every patient is current: nothing is left for workers to rebuild.
            try s.send("DELETE FROM dirty_patients")
            if let basis {
                try Self.setMeta(s, "records_basis", basis)
                try Self.setMeta(s, "records_rules", basis)
            }
        }
    }

    static func insertRecord(_ r: MonthlyRecord, _ s: any SQLSession) throws {
        let columns = monthlyRecordColumns + ", " + onInfusionColumns
        try s.send(
            "INSERT INTO monthly_records (\(columns)) VALUES (\(placeholders(columns)))",
            try recordArguments(r) + onInfusionArguments(r))
    }

    public func samples() throws -> [SampleResult] { try read { try Self.samples($0, patient: nil) } }

    static func samples(_ s: any SQLSession, patient: String?) throws -> [SampleResult] {
        try s.rows(
            "SELECT s.*, g.gating_ml FROM samples s LEFT JOIN applied_gates g ON g.file = s.file \(patient == nil ? "" : "WHERE s.patient = ? ")ORDER BY s.patient, s.collected_days, s.file",
            patient.map { [$0] } ?? []
        ).map { row in
            let method: String = try row["method"]
            let gating: String = try row["gating"]
            guard let countingMethod = CountingMethod(label: method), let mode = GatingMode(rawValue: gating) else {
                throw StoredValueError(column: "samples.method/gating", expected: "known value (\(method), \(gating))")
            }
            return SampleResult(
                file: try row["file"], sha256: try row["sha256"], patient: try row["patient"],
                collectedDays: try row["collected_days"], collected: try row["collected"],
                events: try row["events"], beadEvents: try row["bead_events"],
                lymphocyteEvents: try row["lymphocyte_events"], cd3Events: try row["cd3_events"],
                cd4Events: try row["cd4_events"], cd8Events: try row["cd8_events"],
                cd8HladrEvents: try row["cd8_hladr_events"], cd4Cd25Events: try row["cd4_cd25_events"],
                cd4Abs: try row["cd4_abs"], cd8Abs: try row["cd8_abs"], cd4Pct: try row["cd4_pct"],
                cd8Pct: try row["cd8_pct"], cd3Pct: try row["cd3_pct"],
                cd4cd8Ratio: try row["ratio"], cd8HladrPct: try row["cd8_hladr_pct"],
                cd4Cd25Pct: try row["cd4_cd25_pct"], method: countingMethod,
                qcFlags: try decode([QCFlag].self, try row["qc_flags"]),
                warnings: try decode([String].self, try row["warnings"]),
                strategySHA256: try row["strategy_sha256"], configSHA256: try row["config_sha256"],
                programVersion: try row["program_version"],
                gating: mode, instrument: try row["instrument"], appliedGatingML: try row["gating_ml"])
        }
    }

    public func labResults() throws -> [StoredLabResult] { try read { try Self.labResults($0, patient: nil) } }

    public func labResults(patient: String) throws -> [StoredLabResult] {
        try read { try Self.labResults($0, patient: patient) }
    }

    static func labResults(_ s: any SQLSession, patient: String?) throws -> [StoredLabResult] {
        let cache = JSONColumnCache()
        return try s.rows(
            "SELECT \(labResultColumns) FROM lab_results \(patient == nil ? "" : "WHERE patient = ? ")ORDER BY patient, collected_days, id",
            patient.map { [$0] } ?? []
        ).map { StoredLabResult(result: try labResult($0, cache: cache), sourceFile: try $0["source_file"]) }
    }

    public func records(patient: String?) throws -> [MonthlyRecord] {
        try read { s in
            let columns = Self.monthlyRecordColumns + ", " + Self.onInfusionColumns
            let rows =
                patient == nil
                ? try s.rows("SELECT \(columns) FROM monthly_records ORDER BY patient, month")
                : try s.rows("SELECT \(columns) FROM monthly_records WHERE patient = ? ORDER BY month", [patient])
            return try rows.map {
                var r = try Self.record($0)
                r.onInfusion = try Self.onInfusion($0)
                return r
            }
        }
    }

    public func rejections() throws -> [StoredRejection] { try read { try Self.rejections($0, patient: nil) } }

    static func rejections(_ s: any SQLSession, patient: String?) throws -> [StoredRejection] {
        try s.rows(
            "SELECT file, record, code, message, patient, collected_days FROM rejections \(patient == nil ? "" : "WHERE patient = ? ")ORDER BY kind, file, record",
            patient.map { [$0] } ?? []
        ).map {
            let record: String = try $0["record"]
            return StoredRejection(
                file: try $0["file"], record: record.isEmpty ? nil : record,
                code: RejectionCode(rawValue: try $0["code"]), message: try $0["message"], patient: try $0["patient"],
                collectedDays: try $0["collected_days"])
        }
    }

    public func patients() throws -> [RegistryPatient] {
        try read { s in
            try s.rows("SELECT id, day0, cycle_starts, dose FROM patients ORDER BY id").map {
                RegistryPatient(
                    id: try $0["id"], day0: try $0["day0"],
                    cycleStarts: (try $0["cycle_starts"] as String).split(separator: ";").compactMap { Int($0) },
                    doseMIUPerDay: try $0["dose"])
            }
        }
    }

    public func beginRun(configSHA256: String) throws -> Int64 {
        try database.write { s in
            guard
                let id: Int64 = try s.value(
                    "INSERT INTO runs (started, program_version, config_sha256) VALUES (?, ?, ?) RETURNING id",
                    [ISO8601DateFormatter().string(from: Date()), ProgramInfo.version, configSHA256])
            else { throw StoredValueError(column: "runs.id", expected: "new id") }
            return id
        }
    }

    public func finishRun(_ id: Int64, summary: String) throws {
        try database.write { s in
            try s.send(
                "UPDATE runs SET finished = ?, summary = ? WHERE id = ?",
                [ISO8601DateFormatter().string(from: Date()), summary, id])
        }
    }

    /// The domain tables as canonical text (no run bookkeeping): two stores with equal dumps
    /// hold the same results, whichever engine holds them.
    public func canonicalDump() throws -> String {
        try read { s in
            var out = ""
            for (table, order) in [
                ("patients", "id"), ("fcs_files", "path"), ("samples", "file"), ("applied_gates", "file"),
                ("lab_files", "path"), ("lab_results", "id"), ("retractions", "id"), ("rejections", "file, record"),
                ("monthly_records", "patient, month"),
            ] {
                let columns = table == "fcs_files" || table == "lab_files" ? "path, sha256, status" : "*"
                for row in try s.rows("SELECT \(columns) FROM \(table) ORDER BY \(order)") {
                    // Columns by name: the engines order a table's columns differently.
                    let cells = zip(row.columnNames, row.values).sorted { $0.0 < $1.0 }.map { name, value in
                        switch value {
                        case .null: "\(name):NULL"
                        case .integer(let i): "\(name):\(i)"
                        case .real(let d): "\(name):\(d)"
                        case .text(let t): "\(name):\(String(reflecting: t))"
                        }
                    }
                    out += table + ": " + cells.joined(separator: " ") + "\n"
                }
            }
            return out
        }
    }
}
