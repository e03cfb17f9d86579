import CytoModel
import Foundation
import GRDB

/// What the store knows of an input file.
public struct StoredFileState<Status: Sendable & Hashable>: Sendable, Hashable {
    public var sha256: String
    public var size: Int64
    public var mtime: Double
    /// `FileStatus` for FCS files, `LabFileStatus` for lab files.
    public var status: Status
    /// FCS files: the analysis (configuration, strategies, registry) the stored result was
    /// derived with; a newer version that was rejected while that result stands; the stored file
    /// a duplicate repeats.
    public var analysisSHA256 = ""
    public var rejectedSHA256: String?
    public var duplicateOf: String?

    public init(sha256: String, size: Int64, mtime: Double, status: Status) {
        self.sha256 = sha256
        self.size = size
        self.mtime = mtime
        self.status = status
    }
}

/// A rejected file or lab record as stored.
public struct StoredRejection: Sendable, Hashable, Codable {
    public var file: String
    public var record: String?
    public var code: RejectionCode
    public var message: String
    /// A rejected FCS file's patient and collection day, when the file named them.
    public var patient: String?
    public var collectedDays: Int?

    public init(
        file: String, record: String? = nil, code: RejectionCode, message: String, patient: String? = nil,
        collectedDays: Int? = nil
    ) {
        self.file = file
        self.record = record
        self.code = code
        self.message = message
        self.patient = patient
        self.collectedDays = collectedDays
    }
}

/// The pipeline's persistent store. `SQLiteRecordStore` is the embedded default; a PostgreSQL
/// store for shared deployments implements the same protocol. Every mutating call is one
/// transaction: it commits whole or not at all.
public protocol RecordStore: AnyObject {
    func fileState(_ path: String) throws -> StoredFileState<FileStatus>?
    func filePaths() throws -> [String]
    func labFileState(_ path: String) throws -> StoredFileState<LabFileStatus>?
    /// Every stored FCS (lab) file's state by path: one query (listing thousands of inputs).
    func fileStates() throws -> [String: StoredFileState<FileStatus>]
    func labFileStates() throws -> [String: StoredFileState<LabFileStatus>]
    func labFilePaths() throws -> [String]
    /// Replaces the patients from the registry.
    func replacePatients(_ patients: [RegistryPatient]) throws
    /// Stores a sample (superseding the file's earlier sample and rejection).
    func commitSample(path: String, size: Int64, mtime: Double, sample: SampleResult, analysisSHA256: String) throws
    /// Records a rejected file (superseding the file's earlier sample).
    /// `keepResult`: a newer version of an ingested file that cannot be read; the earlier result
    /// stands and the rejection is listed beside it.
    func commitRejection(
        path: String, sha256: String, size: Int64, mtime: Double, rejection: SampleRejection,
        analysisSHA256: String, keepResult: Bool
    ) throws
    /// Records a file whose content is already stored under `original` (listed as a rejection).
    func commitDuplicate(path: String, sha256: String, size: Int64, mtime: Double, of original: String) throws
    /// Rejections on file and stored samples with QC flags (the nightly summary's counts).
    func outstanding() throws -> (rejections: Int, flaggedSamples: Int)
    /// Another stored path with this content, if any.
    func storedPath(sha256: String, excluding path: String) throws -> String?
    /// Refreshes size/mtime of an unchanged file (same hash), and forgets that it could not be read;
    /// `clearRejected`: the file is back at the content of its stored result, so the rejected newer
    /// version is forgotten too (one transaction).
    func touchFile(path: String, size: Int64, mtime: Double, lab: Bool, clearRejected: Bool) throws
    /// Lists an input that could not be read (permission, I/O, not a regular file) as rejected
    /// (`E-FILE-IO`, with the reason), without touching what is stored of it: the next run tries
    /// it again, and an earlier result of the file stands.
    func commitUnreadable(path: String, reason: String, lab: Bool) throws
    func markMissing(_ paths: [String], lab: Bool) throws
    /// Imports a lab file inside one transaction: `body` stages results through the sink;
    /// returning a rejected report rolls everything back and records the rejection.
    func commitLabFile(
        path: String, sha256: String, size: Int64, mtime: Double,
        body: (_ stage: @escaping (HIVRNAResult) throws -> Void) -> LabFileReport
    ) throws -> (report: LabFileReport, stored: Int, conflicts: Int)
    /// Replaces the records and notes the basis they were built from (rules, registry), in one
    /// transaction. Any later change of stored inputs drops the basis.
    func replaceRecords(_ records: [MonthlyRecord], basis: String?) throws
    /// The basis of the stored records when no input changed since they were built, else nil.
    func recordsBasis() throws -> String?
    func samples() throws -> [SampleResult]
    /// The Gating-ML 2.0 of the gates applied to a stored file (adaptive gating), if any.
    func appliedGates(file: String) throws -> String?
    func labResults() throws -> [StoredLabResult]
    /// One patient's lab results (records are built patient by patient: memory does not grow
    /// with the whole store).
    func labResults(patient: String) throws -> [StoredLabResult]
    func records(patient: String?) throws -> [MonthlyRecord]
    func rejections() throws -> [StoredRejection]
    func patients() throws -> [RegistryPatient]
    func beginRun(configSHA256: String) throws -> Int64
    func finishRun(_ id: Int64, summary: String) throws
    /// The store failure an error of the store's engine is (disk full, lock, connection), if it is one.
    func failure(_ error: any Error) -> StoreFailure?

    // Shared deployments (`run --worker`; WorkQueue.swift).
    /// One run at a time, or any number of workers (`shared`), per PostgreSQL store: a lock the
    /// server holds for this connection until it closes (a killed process releases it). False
    /// when another holds it. SQLite stores are locked by the run's lock file instead (true).
    func lockRuns(shared: Bool, wait: Bool) throws -> Bool
    /// The claim the next write stores a file's results under (and ends).
    var claim: WorkClaim? { get set }
    func enqueue(kind: String, paths: [String]) throws
    func claimWork(worker: String, limit: Int, leaseSeconds: Double) throws -> [WorkClaim]
    func renewClaims(_ claims: [WorkClaim], leaseSeconds: Double) throws
    func completeClaim(_ c: WorkClaim) throws
    func queuedWork() throws -> Int
    func markAllPatientsIfRulesChanged(basis: String) throws
    func rebuildNextPatient(_ build: (PatientInputs) throws -> [MonthlyRecord]) throws -> String?
    func dirtyPatients() throws -> Int
}

extension RecordStore {
    /// The stored paths of FCS files whose results are current (status ingested), sorted.
    public func ingestedFilePaths() throws -> [String] {
        try filePaths().filter { try fileState($0)?.status == .ingested }.sorted()
    }
}

/// Opens stores: the one place that knows the implementations.
public enum RecordStores {
    /// The embedded SQLite store at `path` (created and migrated when needed).
    public static func sqlite(path: String, busyTimeout: Double = 5) throws -> any RecordStore {
        try SQLiteRecordStore(path: path, busyTimeout: busyTimeout)
    }

    /// The store at `location`, created and migrated when needed. `busyTimeout`: how long a write
    /// waits for another program's lock.
    public static func open(_ location: StoreLocation, busyTimeout: Double = 5) throws -> any RecordStore {
        switch location {
        case .sqlite(let path): return try SQLiteRecordStore(path: path, busyTimeout: busyTimeout)
        case .postgres(let settings):
            #if PostgreSQL
            return try PostgresRecordStore(settings: settings, busyTimeout: busyTimeout)
            #else
            throw unsupported(settings)
            #endif
        }
    }

    /// An existing store at this program's schema, opened read-only (never created or migrated).
    public static func openReadOnly(_ location: StoreLocation) throws -> any RecordStore {
        switch location {
        case .sqlite(let path): return try SQLiteRecordStore(path: path, readOnly: true)
        case .postgres(let settings):
            #if PostgreSQL
            return try PostgresRecordStore(settings: settings, readOnly: true)
            #else
            throw unsupported(settings)
            #endif
        }
    }

    /// True when this build has the PostgreSQL store (the `PostgreSQL` package trait).
    public static var hasPostgreSQL: Bool {
        #if PostgreSQL
        true
        #else
        false
        #endif
    }

    static func unsupported(_ settings: PostgresSettings) -> StoreFailure {
        StoreFailure(
            kind: .unsupported, path: settings.description,
            message:
                "this cytoingest was built without PostgreSQL; build it with `swift build -c release --traits PostgreSQL` (docs/deploy.md)"
        )
    }

    /// The stored hash of an input whose content could not be read.
    public static let unreadableSHA256 = String(repeating: "0", count: 64)

    /// The schema version this program writes.
    public static var schemaVersion: Int { SQLiteRecordStore.schemaVersion }

    /// An existing store at this program's schema, opened read-only (never created or migrated).
    public static func sqliteReadOnly(path: String) throws -> any RecordStore {
        try SQLiteRecordStore(path: path, readOnly: true)
    }
}

/// A failure of the store itself (never a property of an input): what kind, the store's path,
/// and the cause in words (never a query's parameters).
public struct StoreFailure: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// Another program holds a write lock longer than the busy timeout: retry later.
        case busy
        /// Disk full, I/O error, read-only file system, a damaged database: retry once fixed.
        case io
        /// Written by a newer program: refused, nothing is written (a configuration matter).
        case newerSchema
        /// An older schema opened read-only: `cytoingest migrate` upgrades it.
        case olderSchema
        /// The file is not a CytoIngest store (empty, another database, not SQLite).
        case notAStore
        /// No store at the path (read-only commands never create one).
        case missing
        /// The store needs what this build lacks (PostgreSQL without the trait).
        case unsupported
        /// The server refused the connection's credentials or the role lacks a privilege.
        case access
        /// A worker's claim on a file expired and another worker took it: this worker's write was
        /// rolled back (the other one stores the file).
        case claimLost
    }

    public var kind: Kind
    public var path: String
    public var message: String
    public var description: String { "the store \(path): \(message)" }

    public init(kind: Kind, path: String, message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    /// The store failure an error of the SQLite layer is, if it is one.
    public init?(_ error: any Error, path: String) {
        if let e = error as? StoreFailure {
            self = e
            return
        }
        guard let db = error as? DatabaseError else { return nil }
        let kind: Kind
        switch db.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED: kind = .busy
        case .SQLITE_NOTADB: kind = .notAStore
        default: kind = .io
        }
        // SQLite's words for the code, and its message: never the statement or its arguments.
        let words = db.message ?? "\(db.resultCode)"
        self.init(kind: kind, path: path, message: "\(words) (SQLite \(db.extendedResultCode.rawValue))")
    }
}
