import CytoModel
import Foundation

/// How to read another vendor's XML export (declared in `pipeline.json` under `labs.profiles`).
///
/// ```json
/// {"name": "vendor-generic-lis", "recordPath": "/LabResultExport/Row",
///  "fields": {"patient": "MRN", "specimen": "Accession", "testCode": "TestCode", "collected": "Collected",
///             "resulted": "Verified", "result": "Result", "unit": "Units", "status": "Status", "analyzer": "Analyzer"},
///  "dateFormat": "MM/dd/yyyy HH:mm", "timeZone": "America/New_York",
///  "statusMap": {"F": "final", "C": "corrected", "P": "preliminary", "X": "cancelled"},
///  "testCodes": {"HIV1QN": "copies", "HIV1IU": "iu", "HIV1LG": "log10"},
///  "analyzers": {"CTM48-01": {"name": "COBAS AmpliPrep/COBAS TaqMan HIV-1 v2.0", "lloq": 20, "uloq": 10000000, "iuPerCopy": 1.7}},
///  "decimalSeparator": ".", "thousandsSeparator": ","}
/// ```
public struct MappingProfile: Sendable, Hashable, Codable {
    public struct Fields: Sendable, Hashable, Codable {
        public var patient: String
        public var specimen: String
        public var testCode: String
        public var collected: String
        public var resulted: String?
        public var result: String
        public var unit: String?
        public var status: String?
        public var analyzer: String?
        /// A field holding a result id; default: specimen + "/" + test code.
        public var resultID: String?
    }
    public struct Analyzer: Sendable, Hashable, Codable {
        public var name: String
        public var lod: Double?
        public var lloq: Double?
        public var uloq: Double?
        public var iuPerCopy: Double?
    }
    /// What a test code carries.
    public enum TestKind: String, Sendable, Hashable, Codable {
        case copies, iu, log10
    }

    public var name: String
    /// `/Root/Record`: the record element under the root (no namespace).
    public var recordPath: String
    public var fields: Fields
    /// A `DateFormatter` pattern, e.g. `MM/dd/yyyy HH:mm`.
    public var dateFormat: String
    /// IANA zone of the dates, e.g. `America/New_York`.
    public var timeZone: String
    public var statusMap: [String: ResultStatus]
    /// Test codes that are HIV-1 RNA; any other code is skipped.
    public var testCodes: [String: TestKind]
    public var analyzers: [String: Analyzer]
    /// Only "." is supported (nil means ".").
    public var decimalSeparator: String? = "."
    public var thousandsSeparator: String? = ","

    var rootElement: String { recordPath.split(separator: "/").first.map(String.init) ?? "" }
    var recordElement: String { recordPath.split(separator: "/").last.map(String.init) ?? "" }

    /// Checks the profile; a profile that cannot work is a configuration error.
    public func validate() throws(LabFileError) {
        let parts = recordPath.split(separator: "/")
        guard recordPath.hasPrefix("/"), parts.count == 2 else {
            throw LabFileError(code: .labConfiguration, message: "profile \(name): recordPath must be /Root/Record")
        }
        guard TimeZone(identifier: timeZone) != nil else {
            throw LabFileError(code: .labConfiguration, message: "profile \(name): unknown time zone \(timeZone)")
        }
        guard (decimalSeparator ?? ".") == "." else {
            throw LabFileError(
                code: .labConfiguration, message: "profile \(name): only '.' is supported as decimal separator")
        }
    }

    /// The vendor-generic LIS profile of the shared corpus (also the documented example).
    public static let vendorGenericLIS = MappingProfile(
        name: "vendor-generic-lis", recordPath: "/LabResultExport/Row",
        fields: Fields(
            patient: "MRN", specimen: "Accession", testCode: "TestCode", collected: "Collected", resulted: "Verified",
            result: "Result", unit: "Units", status: "Status", analyzer: "Analyzer", resultID: nil),
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
