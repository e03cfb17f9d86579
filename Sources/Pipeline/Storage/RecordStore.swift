import Foundation

/// What the store knows of an input file.
public struct StoredFileState: Sendable, Hashable {
    public var sha256: String
    public var size: Int64
    public var mtime: Double
    /// ingested, rejected or missing.
    public var status: String
}

/// A monthly record (domain.md section 7).
public struct MonthlyRecord: Sendable, Hashable, Codable {
    public var patient: String
    public var month: Int
    public var targetDate: String
    public var windowFromDay: Int
    public var windowToDay: Int
    public var baseline: Bool
    public var stratum: String?
    public var responder: Bool?
    public var cd4Collected: String?
    public var cd4Abs: Double?
    public var cd4Pct: Double?
    public var cd8Abs: Double?
    public var cd8Pct: Double?
    public var cd4cd8Ratio: Double?
    public var cd8HladrPct: Double?
    public var cd4Cd25Pct: Double?
    public var method: String?
    public var hivCollected: String?
    public var hivRnaCopies: Double?
    public var hivRnaLog10: Double?
    public var hivRnaCensor: String?
    public var hivRnaLimit: Double?
    public var hivRnaAssay: String?
    public var cycle: Int?
    public var daysSinceCycleStart: Int?
    public var doseMIUPerDay: Double?
    public var cyclesCompleted: Int?
    public var deltaCd4Abs: Double?
    public var deltaCd4Pct: Double?
    public var deltaLog10: Double?
    public var onInfusionCd4Abs: Double?
    public var onInfusionHivRnaLog10: Double?
    public var missing: [String]
    public var qc: [String]
    /// Source files and lab result ids behind the values.
    public var sources: [String]
    public var candidates: Int
}

/// A stored HIV RNA result (with its source file).
public struct StoredLabResult: Sendable, Hashable, Codable {
    public var result: HIVRNAResult
    public var sourceFile: String
}

public struct StoredRejection: Sendable, Hashable, Codable {
    public var file: String
    public var record: String?
    public var code: String
    public var message: String
}

/// The pipeline's persistent store. `SQLiteRecordStore` is the embedded default; a PostgreSQL
/// store for shared deployments implements the same protocol. Every mutating call is one
/// transaction: it commits whole or not at all.
public protocol RecordStore: AnyObject {
    func fileState(_ path: String) throws -> StoredFileState?
    func filePaths() throws -> [String]
    func labFileState(_ path: String) throws -> StoredFileState?
    func labFilePaths() throws -> [String]
    /// Replaces the patients from the registry.
    func replacePatients(_ patients: [RegistryPatient]) throws
    /// Stores a sample (superseding the file's earlier sample and rejection).
    func commitSample(path: String, size: Int64, mtime: Double, sample: SampleResult) throws
    /// Records a rejected file (superseding the file's earlier sample).
    func commitRejection(path: String, sha256: String, size: Int64, mtime: Double, code: String, message: String) throws
    /// Refreshes size/mtime of an unchanged file (same hash).
    func touchFile(path: String, size: Int64, mtime: Double, lab: Bool) throws
    func markMissing(_ paths: [String], lab: Bool) throws
    /// Imports a lab file inside one transaction: `body` stages results through the sink;
    /// returning a rejected report rolls everything back and records the rejection.
    func commitLabFile(
        path: String, sha256: String, size: Int64, mtime: Double, body: (_ stage: @escaping (HIVRNAResult) throws -> Void) -> LabFileReport
    ) throws -> (report: LabFileReport, stored: Int, conflicts: Int)
    func replaceRecords(_ records: [MonthlyRecord]) throws
    func samples() throws -> [SampleResult]
    /// The Gating-ML 2.0 of the gates applied to a stored file (adaptive gating), if any.
    func appliedGates(file: String) throws -> String?
    func labResults() throws -> [StoredLabResult]
    func records(patient: String?) throws -> [MonthlyRecord]
    func rejections() throws -> [StoredRejection]
    func patients() throws -> [RegistryPatient]
    func beginRun(configSHA256: String) throws -> Int64
    func finishRun(_ id: Int64, summary: String) throws
}
