import CytoModel
import Foundation

/// A file claimed by one worker (`run --worker`) until its lease runs out.
public struct WorkClaim: Sendable, Hashable {
    /// "fcs" or "lab".
    public var kind: String
    /// The store key of the file.
    public var path: String
    /// Names this claim (one per claiming statement): a worker whose lease expired and was taken
    /// over can no longer write under it.
    public var token: String
    /// How many times the file was claimed: more than 1 means a worker claimed it before and did
    /// not finish (killed, disconnected, or slower than its lease).
    public var attempts: Int
    /// The worker that held the claim before (when re-claimed).
    public var previousWorker: String?
}

/// The patient inputs a monthly-record rebuild reads (one patient, one transaction).
public struct PatientInputs: Sendable {
    public var patient: String
    public var samples: [SampleResult]
    public var labs: [StoredLabResult]
    public var rejections: [StoredRejection]
}

// Shared deployments: many workers over one store. Files are claimed with a lease
// (`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL: two workers never take the same row, and
// neither waits for the other); the write that stores a file's results deletes its claim in the
// same transaction, and fails when the claim is no longer held. Monthly records are rebuilt
// patient by patient, each patient by one worker at a time (its `dirty_patients` row is locked
// for the rebuild).
extension SQLRecordStore {
    /// Arbitrary constant of the advisory lock between runs and workers ("CYTORUNS").
    static let runLock: Int64 = 0x4359_544F_5255_4E53

    public func lockRuns(shared: Bool, wait: Bool) throws -> Bool {
        guard database.dialect == .postgres else { return true }
        let function = "pg_\(wait ? "" : "try_")advisory_lock\(shared ? "_shared" : "")"
        return try database.write { s in
            if wait {
                try s.execute("SELECT \(function)(?)", [Self.runLock])
                return true
            }
            return try s.value("SELECT \(function)(?)", [Self.runLock]) ?? false
        }
    }

    /// Queues files for the workers; files already queued stay as they are.
    public func enqueue(kind: String, paths: [String]) throws {
        guard !paths.isEmpty else { return }
        try database.write { s in
            // Many rows per statement (one round trip per 256 files).
            for chunk in stride(from: 0, to: paths.count, by: 256).map({ paths[$0..<min($0 + 256, paths.count)] }) {
                try s.execute(
                    "INSERT INTO work_queue (kind, path) VALUES \(Array(repeating: "(?, ?)", count: chunk.count).joined(separator: ", ")) ON CONFLICT(kind, path) DO NOTHING",
                    chunk.flatMap { [SQLValue.text(kind), .text($0)] })
            }
        }
    }

    /// Claims up to `limit` queued files whose lease ran out (or that were never claimed), FCS
    /// files first, in path order.
    public func claimWork(worker: String, limit: Int, leaseSeconds: Double) throws -> [WorkClaim] {
        let token = UUID().uuidString
        let now = database.dialect.now
        return try database.write { s in
            try s.rows(
                """
                UPDATE work_queue SET previous_worker = worker, worker = ?, token = ?, lease_until = \(now) + ?,
                  attempts = attempts + 1
                WHERE (kind, path) IN (
                  SELECT kind, path FROM work_queue WHERE lease_until < \(now) ORDER BY kind, path LIMIT ?\(database.dialect.skipLocked))
                RETURNING kind, path, attempts, previous_worker
                """, [worker, token, leaseSeconds, limit]
            ).map {
                WorkClaim(
                    kind: try $0["kind"], path: try $0["path"], token: token, attempts: try $0["attempts"],
                    previousWorker: try $0["previous_worker"])
            }.sorted { ($0.kind, $0.path) < ($1.kind, $1.path) }
        }
    }

    /// Extends the leases of claims still held.
    public func renewClaims(_ claims: [WorkClaim], leaseSeconds: Double) throws {
        guard !claims.isEmpty else { return }
        let now = database.dialect.now
        try database.write { s in
            for c in claims {
                try s.execute(
                    "UPDATE work_queue SET lease_until = \(now) + ? WHERE kind = ? AND path = ? AND token = ?",
                    [leaseSeconds, c.kind, c.path, c.token])
            }
        }
    }

    /// Ends a claim under which nothing needed writing (the file was found current).
    public func completeClaim(_ c: WorkClaim) throws {
        try database.write { s in
            try s.execute(
                "DELETE FROM work_queue WHERE kind = ? AND path = ? AND token = ?", [c.kind, c.path, c.token])
        }
    }

    /// Files queued, claimed or not.
    public func queuedWork() throws -> Int {
        try read { try $0.value("SELECT count(*) FROM work_queue") ?? 0 }
    }

    /// When the record rules or the registry changed since the records were built (`basis`),
    /// every registered patient is marked for a rebuild, once, by the first worker that sees it.
    public func markAllPatientsIfRulesChanged(basis: String) throws {
        try database.write { s in
            let stored: String? = try s.value("SELECT value FROM meta WHERE key = 'records_rules'")
            guard stored != basis else { return }
            try Self.markPatients(s, "SELECT id AS patient FROM patients", [])
            try Self.setMeta(s, "records_rules", basis)
        }
    }

    /// Rebuilds the records of one patient waiting for it that no other worker is rebuilding:
    /// the patient's row is locked, its inputs read, its records replaced and the row deleted, in
    /// one transaction. Returns the patient, or nil when none is left.
    public func rebuildNextPatient(_ build: (PatientInputs) throws -> [MonthlyRecord]) throws -> String? {
        try database.write { s in
            guard
                let patient: String = try s.value(
                    "SELECT patient FROM dirty_patients ORDER BY patient LIMIT 1\(database.dialect.skipLocked)")
            else { return nil }
            let inputs = PatientInputs(
                patient: patient, samples: try Self.samples(s, patient: patient),
                labs: try Self.labResults(s, patient: patient), rejections: try Self.rejections(s, patient: patient))
            let records = try build(inputs)
            try s.execute("DELETE FROM monthly_records WHERE patient = ?", [patient])
            for r in records { try Self.insertRecord(r, s) }
            try s.execute("DELETE FROM dirty_patients WHERE patient = ?", [patient])
            return patient
        }
    }

    /// Patients waiting for a rebuild.
    public func dirtyPatients() throws -> Int {
        try read { try $0.value("SELECT count(*) FROM dirty_patients") ?? 0 }
    }
}
