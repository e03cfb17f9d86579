/// A coded reason why a file or record gives no result (stable raw values: stores, logs and
/// scripts key on them). Codes from the format layers are prefixed: `FCS-<FCSError.Code>`,
/// `GATING-<GatingError.Code>`. Every code's meaning: `docs/codes.md`.
public struct RejectionCode: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    /// A literal names a code by its raw value (`"E-NO-DATE"`).
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }

    /// An FCS reader error (`FCS-<code>`).
    public static func fcs(_ code: String) -> RejectionCode { RejectionCode(rawValue: "FCS-" + code) }
    /// A gating error (`GATING-<code>`).
    public static func gating(_ code: String) -> RejectionCode { RejectionCode(rawValue: "GATING-" + code) }

    /// FCS file: No patient identifier in the configured keyword or file name.
    public static let noPatient = RejectionCode(rawValue: "E-NO-PATIENT")
    /// FCS file: The patient is not in the registry.
    public static let unknownPatient = RejectionCode(rawValue: "E-UNKNOWN-PATIENT")
    /// FCS file: No parsable collection date in the configured keyword ($DATE: dd-MMM-yyyy or yyyy-mm-dd).
    public static let noDate = RejectionCode(rawValue: "E-NO-DATE")
    /// FCS file: Fewer lymphocyte events than qc.minLymphocytes: no results.
    public static let lowLymphocytes = RejectionCode(rawValue: "QC-LOW-LYMPHOCYTES")
    /// FCS file: An absolute count above qc.maxAbsolute cells/uL.
    public static let implausible = RejectionCode(rawValue: "QC-IMPLAUSIBLE")
    /// FCS or lab file: The file cannot be opened or read.
    public static let fileIO = RejectionCode(rawValue: "E-FILE-IO")
    /// FCS file: The panel's marker patterns match a channel several times over, or a marker several channels: no values rather than wrong ones.
    public static let panelAmbiguous = RejectionCode(rawValue: "E-PANEL-AMBIGUOUS")
    /// FCS file: The same content (SHA-256) is stored under another name: not counted twice.
    public static let duplicateFile = RejectionCode(rawValue: "E-DUPLICATE-FILE")
    /// FCS file: An unexpected error (a defect: please report it).
    public static let internalError = RejectionCode(rawValue: "E-INTERNAL")
    /// lab file: The file is larger than the import limit.
    public static let fileTooLarge = RejectionCode(rawValue: "E-FILE-TOO-LARGE")
    /// lab file: A mapping profile cannot work (record path, time zone, separators).
    public static let labConfiguration = RejectionCode(rawValue: "E-CONFIG")
    /// lab file: A mapping profile matched the file but no record maps through it (no element on the record path, or every record lacks or misreads a field).
    public static let labNothingMapped = RejectionCode(rawValue: "E-PROFILE-NO-RECORDS")
    /// lab file: The store refused a staged result (see the message).
    public static let stage = RejectionCode(rawValue: "E-STAGE")
    /// lab file: A rejection without a recorded cause (stores written before codes were typed).
    public static let unknown = RejectionCode(rawValue: "E-UNKNOWN")
    /// lab file: The XML is not well-formed (libxml2's message and line).
    public static let xmlNotWellFormed = RejectionCode(rawValue: "E-XML-NOT-WELL-FORMED")
    /// lab file: A DOCTYPE or ENTITY declaration: refused (XXE, entity expansion).
    public static let xmlDTDForbidden = RejectionCode(rawValue: "E-XML-DTD-FORBIDDEN")
    /// lab file: The file is not UTF-8 (or declares another encoding).
    public static let xmlEncoding = RejectionCode(rawValue: "E-XML-ENCODING")
    /// lab file: The root element is none of the known formats nor a configured profile's.
    public static let xmlUnsupportedRoot = RejectionCode(rawValue: "E-XML-UNSUPPORTED-ROOT")
    /// lab file: A required export header element or attribute is missing.
    public static let xmlMissingHeader = RejectionCode(rawValue: "E-XML-MISSING-HEADER")
    /// lab file: The same result id twice in one file.
    public static let xmlDuplicateID = RejectionCode(rawValue: "E-XML-DUPLICATE-ID")
    /// lab file: A result names an assay the export does not declare.
    public static let xmlUnknownAssay = RejectionCode(rawValue: "E-XML-UNKNOWN-ASSAY")
    /// lab record: A field is not in its documented format (number, date, code).
    public static let recordBadFormat = RejectionCode(rawValue: "E-REC-BAD-FORMAT")
    /// lab record: A required field is missing.
    public static let recordMissingField = RejectionCode(rawValue: "E-REC-MISSING-FIELD")
    /// lab record: A value outside the assay's or the format's range.
    public static let recordValueOutOfRange = RejectionCode(rawValue: "E-REC-VALUE-OUT-OF-RANGE")
    /// lab record: A negative concentration.
    public static let recordNegativeValue = RejectionCode(rawValue: "E-REC-NEGATIVE-VALUE")
    /// lab record: The patient is not enrolled (registry).
    public static let recordUnknownPatient = RejectionCode(rawValue: "E-REC-UNKNOWN-PATIENT")
    /// lab record: The result text is none of the viral-load forms (domain.md section 3).
    public static let recordUnrecognisedResult = RejectionCode(rawValue: "E-REC-UNRECOGNISED-RESULT")
    /// lab record: A unit that cannot be converted to copies/mL.
    public static let recordUnit = RejectionCode(rawValue: "E-REC-UNIT")
    /// lab record: The reported log10 disagrees with the reported value.
    public static let recordLogMismatch = RejectionCode(rawValue: "E-REC-LOG-MISMATCH")
    /// lab record: Resulted before collected.
    public static let recordDateOrder = RejectionCode(rawValue: "E-REC-DATE-ORDER")
    /// lab record: A date after the import time.
    public static let recordFutureDate = RejectionCode(rawValue: "E-REC-FUTURE-DATE")
    /// lab record: A collection date before 1980.
    public static let recordDateRange = RejectionCode(rawValue: "E-REC-DATE-RANGE")
    /// lab record: The result id is stored with other content and this is not a correction.
    public static let recordConflict = RejectionCode(rawValue: "E-REC-CONFLICT")
    /// manual results: The manual-results file cannot be read.
    public static let manualIO = RejectionCode(rawValue: "E-MANUAL-IO")
    /// manual results: The manual-results file is over 16 MiB.
    public static let manualTooLarge = RejectionCode(rawValue: "E-MANUAL-TOO-LARGE")
    /// manual results: The manual-results file is not UTF-8.
    public static let manualEncoding = RejectionCode(rawValue: "E-MANUAL-ENCODING")
    /// manual results: No header, or no results.
    public static let manualEmpty = RejectionCode(rawValue: "E-MANUAL-EMPTY")
    /// manual results: The header lacks sample/population or a value column.
    public static let manualHeader = RejectionCode(rawValue: "E-MANUAL-HEADER")
    /// manual results: Broken CSV quoting.
    public static let manualCSV = RejectionCode(rawValue: "E-MANUAL-CSV")
    /// manual results: A row without sample, population or value.
    public static let manualRow = RejectionCode(rawValue: "E-MANUAL-ROW")
    /// manual results: An unknown population name.
    public static let manualPopulation = RejectionCode(rawValue: "E-MANUAL-POPULATION")
    /// manual results: A count, percent or absolute value out of range.
    public static let manualValue = RejectionCode(rawValue: "E-MANUAL-VALUE")
    /// manual results: The same sample and population twice.
    public static let manualDuplicate = RejectionCode(rawValue: "E-MANUAL-DUPLICATE")
    /// validation: The FCS file of a manual sample was not found.
    public static let fcsNotFound = RejectionCode(rawValue: "E-FCS-NOT-FOUND")
    /// validation: The FCS file of a manual sample could not be read or gated.
    public static let read = RejectionCode(rawValue: "E-READ")
    /// command: An output file (report, membership CSV, export) cannot be written.
    public static let output = RejectionCode(rawValue: "E-OUTPUT")
    /// command: The store does not exist yet: `cytoingest run` creates it.
    public static let noStore = RejectionCode(rawValue: "E-NO-STORE")
    /// command: The FCS file has no data set of the number asked for.
    public static let noDataSet = RejectionCode(rawValue: "E-NO-DATA-SET")
    /// command: No ingested file matches the name given, or several do.
    public static let notIngested = RejectionCode(rawValue: "E-NOT-INGESTED")
    /// command: Another run holds the store's lock (exit 75: retry later).
    public static let locked = RejectionCode(rawValue: "E-LOCKED")
    /// command: The store failed (disk full, I/O, a damaged database): nothing of the input is blamed.
    public static let storeFailure = RejectionCode(rawValue: "E-STORE")
    /// command: The store is not one this program writes (a newer schema, an older one opened read-only, not a store).
    public static let storeSchema = RejectionCode(rawValue: "E-STORE-SCHEMA")

    /// Every fixed code with the scope and meaning `docs/codes.md` gives.
    public static let catalogue: [(code: RejectionCode, scope: String, meaning: String)] = [
        (.noPatient, "FCS file", "No patient identifier in the configured keyword or file name."),
        (.unknownPatient, "FCS file", "The patient is not in the registry."),
        (
            .noDate, "FCS file",
            "No parsable collection date in the configured keyword ($DATE: dd-MMM-yyyy or yyyy-mm-dd)."
        ),
        (.lowLymphocytes, "FCS file", "Fewer lymphocyte events than qc.minLymphocytes: no results."),
        (.implausible, "FCS file", "An absolute count above qc.maxAbsolute cells/uL."),
        (.fileIO, "FCS or lab file", "The file cannot be opened or read."),
        (
            .panelAmbiguous, "FCS file",
            "The panel's marker patterns match a channel several times over, or a marker several channels: no values rather than wrong ones."
        ),
        (.duplicateFile, "FCS file", "The same content (SHA-256) is stored under another name: not counted twice."),
        (.internalError, "FCS file", "An unexpected error (a defect: please report it)."),
        (.fileTooLarge, "lab file", "The file is larger than the import limit."),
        (.labConfiguration, "lab file", "A mapping profile cannot work (record path, time zone, separators)."),
        (
            .labNothingMapped, "lab file",
            "A mapping profile matched the file but no record maps through it (no element on the record path, or every record lacks or misreads a field)."
        ),
        (.stage, "lab file", "The store refused a staged result (see the message)."),
        (.unknown, "lab file", "A rejection without a recorded cause (stores written before codes were typed)."),
        (.xmlNotWellFormed, "lab file", "The XML is not well-formed (libxml2's message and line)."),
        (.xmlDTDForbidden, "lab file", "A DOCTYPE or ENTITY declaration: refused (XXE, entity expansion)."),
        (.xmlEncoding, "lab file", "The file is not UTF-8 (or declares another encoding)."),
        (.xmlUnsupportedRoot, "lab file", "The root element is none of the known formats nor a configured profile's."),
        (.xmlMissingHeader, "lab file", "A required export header element or attribute is missing."),
        (.xmlDuplicateID, "lab file", "The same result id twice in one file."),
        (.xmlUnknownAssay, "lab file", "A result names an assay the export does not declare."),
        (.recordBadFormat, "lab record", "A field is not in its documented format (number, date, code)."),
        (.recordMissingField, "lab record", "A required field is missing."),
        (.recordValueOutOfRange, "lab record", "A value outside the assay's or the format's range."),
        (.recordNegativeValue, "lab record", "A negative concentration."),
        (.recordUnknownPatient, "lab record", "The patient is not enrolled (registry)."),
        (
            .recordUnrecognisedResult, "lab record",
            "The result text is none of the viral-load forms (domain.md section 3)."
        ),
        (.recordUnit, "lab record", "A unit that cannot be converted to copies/mL."),
        (.recordLogMismatch, "lab record", "The reported log10 disagrees with the reported value."),
        (.recordDateOrder, "lab record", "Resulted before collected."),
        (.recordFutureDate, "lab record", "A date after the import time."),
        (.recordDateRange, "lab record", "A collection date before 1980."),
        (.recordConflict, "lab record", "The result id is stored with other content and this is not a correction."),
        (.manualIO, "manual results", "The manual-results file cannot be read."),
        (.manualTooLarge, "manual results", "The manual-results file is over 16 MiB."),
        (.manualEncoding, "manual results", "The manual-results file is not UTF-8."),
        (.manualEmpty, "manual results", "No header, or no results."),
        (.manualHeader, "manual results", "The header lacks sample/population or a value column."),
        (.manualCSV, "manual results", "Broken CSV quoting."),
        (.manualRow, "manual results", "A row without sample, population or value."),
        (.manualPopulation, "manual results", "An unknown population name."),
        (.manualValue, "manual results", "A count, percent or absolute value out of range."),
        (.manualDuplicate, "manual results", "The same sample and population twice."),
        (.fcsNotFound, "validation", "The FCS file of a manual sample was not found."),
        (.read, "validation", "The FCS file of a manual sample could not be read or gated."),
        (.output, "command", "An output file (report, membership CSV, export) cannot be written."),
        (.noStore, "command", "The store does not exist yet: `cytoingest run` creates it."),
        (.noDataSet, "command", "The FCS file has no data set of the number asked for."),
        (.notIngested, "command", "No ingested file matches the name given, or several do."),
        (.locked, "command", "Another run holds the store's lock (exit 75: retry later)."),
        (
            .storeFailure, "command",
            "The store failed (disk full, I/O, a damaged database): nothing of the input is blamed."
        ),
        (
            .storeSchema, "command",
            "The store is not one this program writes (a newer schema, an older one opened read-only, not a store)."
        ),
    ]
}

/// A quality-control flag on a stored sample: the result stands, a reviewer should look.
public struct QCFlag: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByStringLiteral
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    /// A literal names a flag by its raw value (`"LOW-BEADS"`).
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }

    /// Adaptive gating was unsure of `gate` (confidence below gating.minConfidence) and applied the template's gate.
    public static func template(_ gate: String) -> QCFlag { QCFlag(rawValue: "TEMPLATE:" + gate) }

    /// Fewer bead events than qc.minBeads: no absolute counts.
    public static let lowBeads = QCFlag(rawValue: "LOW-BEADS")
    /// No beads-per-tube value (lot table or keyword): no absolute counts.
    public static let noBeadLot = QCFlag(rawValue: "NO-BEAD-LOT")
    /// Dual platform: no CBC for the patient and day: no absolute counts.
    public static let noCBC = QCFlag(rawValue: "NO-CBC")
    /// CD4 T counting CV (1/sqrt(n)) above qc.maxCD4CountingCV.
    public static let cd4LowCount = QCFlag(rawValue: "CD4-LOW-COUNT")
    /// |%CD4 + %CD8 - %CD3| above qc.tCellSumTolerance points.
    public static let tCellSum = QCFlag(rawValue: "TCELL-SUM")
    /// Adaptive time/flow QC found unstable acquisition; those time bins were excluded.
    public static let clog = QCFlag(rawValue: "CLOG")
    /// Adaptive mode, but the file is too large or lacks panel channels: gated by the template.
    public static let adaptiveSkipped = QCFlag(rawValue: "ADAPTIVE-SKIPPED")

    /// Every fixed flag with the meaning `docs/codes.md` gives.
    public static let catalogue: [(flag: QCFlag, meaning: String)] = [
        (.lowBeads, "Fewer bead events than qc.minBeads: no absolute counts."),
        (.noBeadLot, "No beads-per-tube value (lot table or keyword): no absolute counts."),
        (.noCBC, "Dual platform: no CBC for the patient and day: no absolute counts."),
        (.cd4LowCount, "CD4 T counting CV (1/sqrt(n)) above qc.maxCD4CountingCV."),
        (.tCellSum, "|%CD4 + %CD8 - %CD3| above qc.tCellSumTolerance points."),
        (.clog, "Adaptive time/flow QC found unstable acquisition; those time bins were excluded."),
        (.adaptiveSkipped, "Adaptive mode, but the file is too large or lacks panel channels: gated by the template."),
    ]
}
