import CytoModel
import Foundation

/// How to read another vendor's XML export (declared in `pipeline.json` under `labs.profiles`;
/// reference and worked examples: `docs/lab-profiles.md`).
///
/// Each field is a *path* from the record element: `Name` (a child element's text),
/// `Name/Sub` (deeper), `@attr` (an attribute of the record), `Name/@attr` (of a child),
/// `../@attr` (of the parent; `../../@attr` further up) or `/Root/Batch/@attr` (an ancestor on
/// the record path, by name). Values that a format does not carry per record can be given as
/// `constants` (test code, unit, assay, analyzer, status). Limits come from the file
/// (`fields.lod/lloq/uloq`), else the profile (`limits`), else the analyzer table, limit by limit.
///
/// ```json
/// {"name": "synthetic-virology", "recordPath": "/ViralLoadBatch/Result",
///  "fields": {"patient": "@patientId", "specimen": "@specimenId", "collected": "@collectionDate",
///             "resulted": "../@runDate", "status": "@status", "result": "Value",
///             "qualifier": "Value/@qualifier", "unit": "../@units", "assay": "../@assay",
///             "lloq": "../@lowerLimit", "uloq": "../@upperLimit"},
///  "constants": {"testCode": "HIV1RNA"}, "testCodes": {"HIV1RNA": "copies"},
///  "qualifierMap": {"LT": "below_limit", "GT": "above_limit", "ND": "not_detected"},
///  "dateFormat": "yyyy-MM-dd", "timeZone": "UTC"}
/// ```
public struct MappingProfile: Sendable, Hashable, Codable {
    /// Paths of the record's fields (see the type's documentation).
    public struct Fields: Sendable, Hashable, Codable {
        public var patient: String?
        public var specimen: String?
        public var testCode: String?
        public var collected: String?
        public var resulted: String?
        public var result: String?
        /// A value qualifier (`<Value qualifier="LT">50</Value>`), read through `qualifierMap`.
        public var qualifier: String?
        public var unit: String?
        public var status: String?
        /// A key of the `analyzers` table.
        public var analyzer: String?
        /// The assay's name as the file gives it.
        public var assay: String?
        /// A field holding a result id; default: specimen + "/" + test code.
        public var resultID: String?
        /// Limits carried by the file (per record or on an ancestor), in the result's unit.
        public var lod: String?
        public var lloq: String?
        public var uloq: String?

        public init(
            patient: String? = nil, specimen: String? = nil, testCode: String? = nil, collected: String? = nil,
            resulted: String? = nil, result: String? = nil, qualifier: String? = nil, unit: String? = nil,
            status: String? = nil, analyzer: String? = nil, assay: String? = nil, resultID: String? = nil,
            lod: String? = nil, lloq: String? = nil, uloq: String? = nil
        ) {
            self.patient = patient
            self.specimen = specimen
            self.testCode = testCode
            self.collected = collected
            self.resulted = resulted
            self.result = result
            self.qualifier = qualifier
            self.unit = unit
            self.status = status
            self.analyzer = analyzer
            self.assay = assay
            self.resultID = resultID
            self.lod = lod
            self.lloq = lloq
            self.uloq = uloq
        }

        /// Every field with its configuration name.
        var named: [(name: String, path: String?)] {
            [
                ("patient", patient), ("specimen", specimen), ("testCode", testCode), ("collected", collected),
                ("resulted", resulted), ("result", result), ("qualifier", qualifier), ("unit", unit),
                ("status", status), ("analyzer", analyzer), ("assay", assay), ("resultID", resultID), ("lod", lod),
                ("lloq", lloq), ("uloq", uloq),
            ]
        }
    }

    /// Values the same for every record of the profile's files.
    public struct Constants: Sendable, Hashable, Codable {
        public var testCode: String?
        public var unit: String?
        public var assay: String?
        public var analyzer: String?
        public var status: String?

        public init(
            testCode: String? = nil, unit: String? = nil, assay: String? = nil, analyzer: String? = nil,
            status: String? = nil
        ) {
            self.testCode = testCode
            self.unit = unit
            self.assay = assay
            self.analyzer = analyzer
            self.status = status
        }

        var named: [(name: String, value: String?)] {
            [("testCode", testCode), ("unit", unit), ("assay", assay), ("analyzer", analyzer), ("status", status)]
        }
    }

    /// Assay limits: of an analyzer, or of the profile (`limits`).
    public struct Limits: Sendable, Hashable, Codable {
        public var lod: Double?
        public var lloq: Double?
        public var uloq: Double?
        public var iuPerCopy: Double?

        public init(lod: Double? = nil, lloq: Double? = nil, uloq: Double? = nil, iuPerCopy: Double? = nil) {
            self.lod = lod
            self.lloq = lloq
            self.uloq = uloq
            self.iuPerCopy = iuPerCopy
        }
    }

    public struct Analyzer: Sendable, Hashable, Codable {
        public var name: String
        public var lod: Double?
        public var lloq: Double?
        public var uloq: Double?
        public var iuPerCopy: Double?

        public init(name: String, lod: Double? = nil, lloq: Double?, uloq: Double?, iuPerCopy: Double? = nil) {
            self.name = name
            self.lod = lod
            self.lloq = lloq
            self.uloq = uloq
            self.iuPerCopy = iuPerCopy
        }
    }

    /// What a test code carries.
    public enum TestKind: String, Sendable, Hashable, Codable, CaseIterable {
        case copies, iu, log10
    }

    public var name: String
    /// `/Root/Record` or deeper (`/Root/Batch/Record`): the record elements (no namespace).
    public var recordPath: String
    public var fields: Fields
    public var constants: Constants?
    /// Qualifier text -> outcome (`below_limit`, `above_limit`, `not_detected`, `quantified`,
    /// `failed`); matched exactly, then ignoring case. An empty or absent qualifier leaves the
    /// result text to say (`< 50` is below the limit, `12345` quantified).
    public var qualifierMap: [String: ViralLoadOutcome]?
    /// Limits for every record (after the file's, before the analyzer table's).
    public var limits: Limits?
    /// A `DateFormatter` pattern (`MM/dd/yyyy HH:mm`, `yyyy-MM-dd`), or `iso8601`.
    public var dateFormat: String
    /// IANA zone of the dates, e.g. `America/New_York`.
    public var timeZone: String
    /// File status text -> status. The canonical names (`final`, `corrected`, `preliminary`,
    /// `cancelled`, `entered-in-error`) are understood without an entry.
    public var statusMap: [String: ResultStatus]?
    /// Test codes that are HIV-1 RNA; any other code is skipped.
    public var testCodes: [String: TestKind]
    public var analyzers: [String: Analyzer]?
    /// Only "." is supported (nil means ".").
    public var decimalSeparator: String? = "."
    public var thousandsSeparator: String? = ","

    public init(
        name: String, recordPath: String, fields: Fields, constants: Constants? = nil,
        qualifierMap: [String: ViralLoadOutcome]? = nil, limits: Limits? = nil, dateFormat: String,
        timeZone: String, statusMap: [String: ResultStatus]? = nil, testCodes: [String: TestKind],
        analyzers: [String: Analyzer]? = nil
    ) {
        self.name = name
        self.recordPath = recordPath
        self.fields = fields
        self.constants = constants
        self.qualifierMap = qualifierMap
        self.limits = limits
        self.dateFormat = dateFormat
        self.timeZone = timeZone
        self.statusMap = statusMap
        self.testCodes = testCodes
        self.analyzers = analyzers
    }

    var pathElements: [String] { recordPath.split(separator: "/").map(String.init) }
    public var rootElement: String { pathElements.first ?? "" }
    var recordElement: String { pathElements.last ?? "" }

    /// Checks the profile and compiles its paths; a profile that cannot work is a configuration
    /// error that says what to change.
    public func validate() throws(LabFileError) {
        _ = try compiled()
    }

    /// The profile with its paths parsed against the record path.
    func compiled() throws(LabFileError) -> CompiledProfile {
        func fail(_ m: String) -> LabFileError {
            LabFileError(code: .labConfiguration, message: "profile \(name): \(m)")
        }
        let parts = pathElements
        guard recordPath.hasPrefix("/"), parts.count >= 2, parts.allSatisfy(FieldPath.isName) else {
            throw fail("recordPath must be /Root/Record or deeper (element names only), not '\(recordPath)'")
        }
        guard TimeZone(identifier: timeZone) != nil else {
            throw fail("unknown time zone \(timeZone) (an IANA name such as UTC or Europe/Paris)")
        }
        guard (decimalSeparator ?? ".") == "." else { throw fail("only '.' is supported as decimal separator") }
        var paths: [String: FieldPath] = [:]
        for (field, text) in fields.named {
            guard let text else { continue }
            do throws(FieldPath.Problem) {
                paths[field] = try FieldPath(text, recordPath: parts)
            } catch {
                throw fail("fields.\(field) '\(text)': \(error.message)")
            }
        }
        for (field, value) in constants?.named ?? [] where value != nil && paths[field] != nil {
            throw fail(
                "\(field) is given both as fields.\(field) and constants.\(field): keep the one that is right")
        }
        for required in ["patient", "collected", "result"] where paths[required] == nil {
            throw fail("fields.\(required) is required (a path such as 'Name' or '@name')")
        }
        if paths["testCode"] == nil && constants?.testCode == nil {
            throw fail(
                "the test code comes from fields.testCode (a path) or constants.testCode (one code for every record)")
        }
        guard !testCodes.isEmpty else { throw fail("testCodes must name at least one HIV-1 RNA test code") }
        if testCodes.keys.contains(where: { $0.trimmed.isEmpty }) {
            throw fail(
                "testCodes has an empty code; a format without per-record test codes gives one as constants.testCode")
        }
        if let c = constants?.testCode, testCodes[c] == nil {
            throw fail("constants.testCode \(c) is not in testCodes, so no record would be read")
        }
        if paths["qualifier"] != nil && (qualifierMap ?? [:]).isEmpty {
            throw fail(
                "fields.qualifier needs a qualifierMap (e.g. {\"LT\": \"below_limit\", \"GT\": \"above_limit\"})")
        }
        for (q, o) in qualifierMap ?? [:] where o == .notPerformed {
            throw fail("qualifierMap[\(q)] must be quantified, below_limit, above_limit, not_detected or failed")
        }
        if let u = constants?.unit, ResultNormalizer.unit(in: u).unit == nil {
            throw fail("constants.unit '\(u)' is not copies/mL, IU/mL or Eq/mL")
        }
        if let s = constants?.status, status(s) == nil {
            throw fail("constants.status '\(s)' is neither a canonical status nor in statusMap")
        }
        if let a = constants?.analyzer, analyzers?[a] == nil {
            throw fail("constants.analyzer \(a) is not in the analyzers table")
        }
        for (label, limits) in [("limits", limits)]
            + (analyzers ?? [:]).sorted(by: { $0.key < $1.key }).map({
                (
                    "analyzers.\($0.key)",
                    Limits(lod: $0.value.lod, lloq: $0.value.lloq, uloq: $0.value.uloq, iuPerCopy: $0.value.iuPerCopy)
                )
            })
        {
            guard let l = limits else { continue }
            for (n, v) in [("lod", l.lod), ("lloq", l.lloq), ("uloq", l.uloq), ("iuPerCopy", l.iuPerCopy)] {
                if let v, !(v.isFinite && v > 0) { throw fail("\(label).\(n) must be a positive number") }
            }
            if let lo = l.lloq, let hi = l.uloq, lo >= hi { throw fail("\(label): lloq must be below uloq") }
        }
        if dateFormat.lowercased() != "iso8601" && dateFormat.trimmed.isEmpty {
            throw fail("dateFormat is empty (a pattern such as yyyy-MM-dd, or iso8601)")
        }
        return CompiledProfile(profile: self, paths: paths)
    }

    /// The status a file's text means: the profile's map first, then the canonical names.
    func status(_ text: String) -> ResultStatus? {
        if let s = statusMap?[text] { return s }
        return ResultStatus(rawValue: text.lowercased())
    }

    /// The vendor-generic LIS profile of the shared corpus (also the documented example).
    public static let vendorGenericLIS = MappingProfile(
        name: "vendor-generic-lis", recordPath: "/LabResultExport/Row",
        fields: Fields(
            patient: "MRN", specimen: "Accession", testCode: "TestCode", collected: "Collected", resulted: "Verified",
            result: "Result", unit: "Units", status: "Status", analyzer: "Analyzer"),
        dateFormat: "MM/dd/yyyy HH:mm", timeZone: "America/New_York",
        statusMap: ["F": .final, "C": .corrected, "P": .preliminary, "X": .cancelled],
        testCodes: ["HIV1QN": .copies, "HIV1IU": .iu, "HIV1LG": .log10],
        analyzers: [
            "CTM48-01": Analyzer(
                name: "COBAS AmpliPrep/COBAS TaqMan HIV-1 v2.0", lod: 20, lloq: 20, uloq: 1e7, iuPerCopy: 1.7),
            "M2000-02": Analyzer(
                name: "Abbott RealTime HIV-1 (0.6 mL)", lod: nil, lloq: 40, uloq: 1e7, iuPerCopy: 1.74),
            "PANTHER-03": Analyzer(
                name: "Hologic Aptima HIV-1 Quant Dx", lod: nil, lloq: 30, uloq: 1e7, iuPerCopy: 2.86),
            "C6800-04": Analyzer(
                name: "cobas HIV-1 (cobas 6800/8800)", lod: 13.2, lloq: 20, uloq: 1e7, iuPerCopy: 1.67),
        ])
}

/// A field path of a mapping profile, parsed: `up` ancestors above the record, then child
/// element steps, then an attribute or the element's text.
struct FieldPath: Sendable, Hashable {
    struct Problem: Error { var message: String }

    var up: Int
    var steps: [String]
    var attribute: String?

    static func isName(_ s: some StringProtocol) -> Bool {
        guard let f = s.first, f.isLetter || f == "_" else { return false }
        return s.allSatisfy { $0.isLetter || $0.isNumber || "_-.".contains($0) }
    }

    init(_ text: String, recordPath: [String]) throws(Problem) {
        let t = text.trimmed
        guard !t.isEmpty else { throw Problem(message: "is empty") }
        var parts = t.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        up = 0
        if t.hasPrefix("/") {
            // Absolute: the ancestors on the record path, by name, then an attribute.
            parts.removeFirst()
            var k = 0
            while k < parts.count, k < recordPath.count, parts[k] == recordPath[k] { k += 1 }
            guard k > 0 else {
                throw Problem(
                    message: "an absolute path must follow the record path \(recordPath.joined(separator: "/"))")
            }
            up = recordPath.count - k
            parts.removeFirst(k)
        } else {
            while parts.first == ".." {
                up += 1
                parts.removeFirst()
            }
            guard up < recordPath.count else {
                throw Problem(message: "goes above the root element \(recordPath[0])")
            }
        }
        attribute = nil
        if let last = parts.last, last.hasPrefix("@") {
            let name = String(last.dropFirst())
            guard Self.isName(name) else { throw Problem(message: "'\(last)' is not an attribute name") }
            attribute = name
            parts.removeLast()
        }
        for p in parts where !Self.isName(p) {
            throw Problem(message: "'\(p)' is not an element name (paths use Name, Name/Sub, @attr, ../@attr)")
        }
        steps = parts
        if up > 0 && (attribute == nil || !steps.isEmpty) {
            throw Problem(
                message:
                    "only an ancestor's attributes can be read (../@name): its child elements are not kept while the file streams"
            )
        }
        if up == 0 && steps.isEmpty && attribute == nil {
            throw Problem(message: "names no element or attribute")
        }
    }
}

/// A validated profile with its parsed paths.
struct CompiledProfile: Sendable {
    let profile: MappingProfile
    let paths: [String: FieldPath]
}
