import Crypto
import CytoModel
import Foundation

/// Monthly records for statisticians (analysis-ready CSV) and lab systems (a FHIR R4 Bundle).
/// Data dictionary, codes and their sources: `docs/export.md`.
public struct RecordExport {
    /// Where a record's values came from: the stored sample of each FCS file, and the lab file
    /// (by content hash) of each lab result id.
    public struct Provenance: Sendable {
        public var samples: [String: SampleResult]
        public var labFileSHA256: [String: String]

        public init(samples: [String: SampleResult], labFileSHA256: [String: String]) {
            self.samples = samples
            self.labFileSHA256 = labFileSHA256
        }
    }

    public let records: [MonthlyRecord]
    public let provenance: Provenance

    public init(records: [MonthlyRecord], provenance: Provenance) {
        self.records = records
        self.provenance = provenance
    }

    // MARK: - CSV

    /// The columns, in order (snake_case; `docs/export.md` defines each).
    public static let csvColumns = [
        "patient_id", "month", "is_baseline", "target_date", "window_from_day", "window_to_day", "stratum",
        "responder", "cd4_collected", "cd4_abs_per_ul", "cd4_pct", "cd8_abs_per_ul", "cd8_pct", "cd4_cd8_ratio",
        "cd8_hladr_pct", "cd4_cd25_pct", "counting_method", "qc_flags", "cd4_missing_reason",
        "baseline_cd4_abs_per_ul", "change_cd4_abs_per_ul", "change_cd4_pct", "hiv_collected",
        "hiv_rna_copies_per_ml", "hiv_rna_log10", "hiv_rna_censor", "hiv_rna_limit_copies_per_ml", "hiv_rna_assay",
        "baseline_hiv_rna_log10", "change_hiv_rna_log10", "hiv_rna_missing_reason", "cycle",
        "days_since_cycle_start", "dose_miu_per_day", "cycles_completed", "on_infusion_cd4_abs_per_ul",
        "on_infusion_hiv_rna_log10", "fcs_sha256", "lab_result_id", "lab_file_sha256", "n_candidates",
    ]

    /// `gt200` / `le200` from the record's `>200` / `<=200`.
    static func stratum(_ s: String?) -> String {
        guard let s else { return "" }
        if s.hasPrefix("<=") { return "le" + s.dropFirst(2) }
        if s.hasPrefix(">") { return "gt" + s.dropFirst() }
        return s
    }

    /// The censor column: empty when quantified, `<`, `>` or `not_detected`.
    static func censor(_ c: Censor?) -> String {
        switch c {
        case .lt?: "<"
        case .gt?: ">"
        case .nd?: "not_detected"
        default: ""
        }
    }

    static func number(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "" }
        return exactDecimal(v)
    }

    static func reason(_ r: MonthlyRecord, _ prefixes: [String]) -> String {
        r.missing.filter { m in prefixes.contains { m.hasPrefix($0 + ": ") } }.joined(separator: "; ")
    }

    /// The record's FCS files and lab result ids, split by kind.
    func sources(_ r: MonthlyRecord) -> (fcs: [String], labs: [String]) {
        (r.sources.filter { provenance.samples[$0] != nil }, r.sources.filter { provenance.samples[$0] == nil })
    }

    /// One row per patient-month. Numbers only where a number belongs: HIV RNA copies and log10
    /// are empty when censored (the limit and the censor column say it).
    public func csv() -> String {
        var out = Self.csvColumns.joined(separator: ",") + "\n"
        let baselines = Dictionary(
            records.filter(\.baseline).map { ($0.patient, $0) }, uniquingKeysWith: { a, _ in a })
        for r in records {
            let base = baselines[r.patient]
            let quantified = r.hivRnaCensor == Censor.none
            let (fcs, labs) = sources(r)
            let fields: [String] = [
                r.patient, String(r.month), r.baseline ? "1" : "0", r.targetDate, String(r.windowFromDay),
                String(r.windowToDay), Self.stratum(r.stratum), r.responder.map { $0 ? "1" : "0" } ?? "",
                r.cd4Collected ?? "", Self.number(r.cd4Abs), Self.number(r.cd4Pct), Self.number(r.cd8Abs),
                Self.number(r.cd8Pct), Self.number(r.cd4cd8Ratio), Self.number(r.cd8HladrPct),
                Self.number(r.cd4Cd25Pct), r.method?.rawValue ?? "", r.qc.map(\.rawValue).joined(separator: ";"),
                Self.reason(r, ["cd4", "cd4Abs"]), Self.number(base?.cd4Abs), Self.number(r.deltaCd4Abs),
                Self.number(r.deltaCd4Pct), r.hivCollected ?? "", quantified ? Self.number(r.hivRnaCopies) : "",
                quantified ? Self.number(r.hivRnaLog10) : "", Self.censor(r.hivRnaCensor),
                quantified ? "" : Self.number(r.hivRnaLimit), r.hivRnaAssay ?? "", Self.number(base?.hivRnaLog10),
                Self.number(r.deltaLog10), Self.reason(r, ["hivRna"]), r.cycle.map(String.init) ?? "",
                r.daysSinceCycleStart.map(String.init) ?? "", Self.number(r.doseMIUPerDay),
                r.cyclesCompleted.map(String.init) ?? "", Self.number(r.onInfusionCd4Abs),
                Self.number(r.onInfusionHivRnaLog10),
                fcs.compactMap { provenance.samples[$0]?.sha256 }.joined(separator: ";"), labs.joined(separator: ";"),
                labs.compactMap { provenance.labFileSHA256[$0] }.joined(separator: ";"), String(r.candidates),
            ]
            out += fields.map(CSVTable.quote).joined(separator: ",") + "\n"
        }
        return out
    }

    // MARK: - FHIR R4

    public static let loinc = "http://loinc.org"
    public static let ucum = "http://unitsofmeasure.org"
    /// The local CodeSystem of the two activation measures LOINC has no code for.
    public static let localSystem = "urn:x-cytoingest:codesystem:flow-derived"
    public static let fcsHashSystem = "urn:x-cytoingest:fcs-sha256"
    public static let labFileHashSystem = "urn:x-cytoingest:lab-file-sha256"
    public static let observationSystem = "urn:x-cytoingest:observation"

    /// What each exported value is: code, display, UCUM unit.
    public struct Measure: Sendable {
        public var key: String
        public var system: String
        public var code: String
        public var display: String
        public var unit: String
        public var ucum: String
    }

    /// LOINC codes (sources in `docs/export.md`) and the local codes.
    public static let measures: [String: Measure] = [
        "cd4Abs": Measure(
            key: "cd4Abs", system: loinc, code: "24467-3", display: "CD3+CD4+ (T4 helper) cells [#/volume] in Blood",
            unit: "cells/uL", ucum: "/uL"),
        "cd4Pct": Measure(
            key: "cd4Pct", system: loinc, code: "8123-2", display: "CD3+CD4+ (T4 helper) cells/100 cells in Blood",
            unit: "%", ucum: "%"),
        "cd8Abs": Measure(
            key: "cd8Abs", system: loinc, code: "14135-8",
            display: "CD3+CD8+ (T8 suppressor cells) cells [#/volume] in Blood", unit: "cells/uL", ucum: "/uL"),
        "cd8Pct": Measure(
            key: "cd8Pct", system: loinc, code: "8101-8",
            display: "CD3+CD8+ (T8 suppressor cells) cells/100 cells in Blood", unit: "%", ucum: "%"),
        "ratio": Measure(
            key: "ratio", system: loinc, code: "54218-3",
            display: "CD3+CD4+ (T4 helper) cells/CD3+CD8+ (T8 suppressor cells) cells [# Ratio] in Blood",
            unit: "ratio", ucum: "{ratio}"),
        "cd8Hladr": Measure(
            key: "cd8Hladr", system: localSystem, code: "cd8-hladr-pct",
            display: "HLA-DR+ cells/100 CD3+CD8+ T cells in Blood", unit: "%", ucum: "%"),
        "cd4Cd25": Measure(
            key: "cd4Cd25", system: localSystem, code: "cd4-cd25-pct",
            display: "CD25+ cells/100 CD3+CD4+ T cells in Blood", unit: "%", ucum: "%"),
        "hivCopies": Measure(
            key: "hivCopies", system: loinc, code: "20447-9",
            display: "HIV 1 RNA [#/volume] (viral load) in Serum or Plasma by NAA with probe detection",
            unit: "copies/mL", ucum: "{copies}/mL"),
        "hivLog": Measure(
            key: "hivLog", system: loinc, code: "29541-0",
            display: "HIV 1 RNA [Log #/volume] (viral load) in Serum or Plasma by NAA with probe detection",
            unit: "log10 copies/mL", ucum: "{log_copies}/mL"),
    ]

    struct Coding: Encodable {
        var system: String
        var code: String
        var display: String?
    }
    struct CodeableConcept: Encodable {
        var coding: [Coding]?
        var text: String?
    }
    struct Identifier: Encodable {
        var system: String
        var value: String
    }
    struct Reference: Encodable {
        var type: String?
        var identifier: Identifier?
        var display: String?
    }
    struct Quantity: Encodable {
        var value: Decimal
        var comparator: String?
        var unit: String
        var system: String
        var code: String
    }
    struct Annotation: Encodable { var text: String }
    struct Observation: Encodable {
        var resourceType = "Observation"
        var id: String
        var identifier: [Identifier]
        var status = "final"
        var category: [CodeableConcept]
        var code: CodeableConcept
        var subject: Reference
        var effectiveDateTime: String
        var valueQuantity: Quantity?
        var valueCodeableConcept: CodeableConcept?
        var interpretation: [CodeableConcept]?
        var note: [Annotation]
        var method: CodeableConcept?
        var derivedFrom: [Reference]?
    }
    struct Concept: Encodable {
        var code: String
        var display: String
    }
    struct CodeSystem: Encodable {
        var resourceType = "CodeSystem"
        var id = "cytoingest-flow-derived"
        var url = RecordExport.localSystem
        var name = "CytoIngestFlowDerived"
        var title = "Flow-cytometry measures CytoIngest derives that LOINC does not code"
        var status = "active"
        var caseSensitive = true
        var content = "complete"
        var concept: [Concept]
    }
    enum Resource: Encodable {
        case observation(Observation)
        case codeSystem(CodeSystem)
        func encode(to encoder: any Encoder) throws {
            switch self {
            case .observation(let o): try o.encode(to: encoder)
            case .codeSystem(let c): try c.encode(to: encoder)
            }
        }
    }
    struct Entry: Encodable {
        var fullUrl: String
        var resource: Resource
    }
    struct Bundle: Encodable {
        var resourceType = "Bundle"
        var id: String
        var type = "collection"
        var timestamp: String
        var entry: [Entry]
    }

    /// A deterministic UUID (RFC 4122 layout, version 5 bits) and id from a name.
    static func uuid(_ name: String) -> String {
        var b = Array(SHA256.hash(data: Data(name.utf8)).prefix(16))
        b[6] = (b[6] & 0x0F) | 0x50
        b[8] = (b[8] & 0x3F) | 0x80
        let h = b.map { String(format: "%02x", $0) }.joined()
        let i = h.startIndex
        func part(_ a: Int, _ n: Int) -> Substring { h[h.index(i, offsetBy: a)..<h.index(i, offsetBy: a + n)] }
        return "\(part(0, 8))-\(part(8, 4))-\(part(12, 4))-\(part(16, 4))-\(part(20, 12))"
    }

    /// A FHIR R4 `Bundle` (type `collection`) of `Observation`s for every derived value of every
    /// record, with the local CodeSystem first. Patients are referenced by identifier in
    /// `patientSystem` (the study subject id); censored HIV RNA carries its comparator; not
    /// detected is a coded value. Each Observation points at its FCS file or lab file hash
    /// (`derivedFrom`) and says how it was gated (`method`, `note`).
    public func fhir(patientSystem: String, timestamp: Date = Date()) throws -> Data {
        let laboratory = CodeableConcept(
            coding: [
                Coding(
                    system: "http://terminology.hl7.org/CodeSystem/observation-category", code: "laboratory",
                    display: "Laboratory")
            ], text: nil)
        var entries: [Entry] = []
        let local = [Self.measures["cd8Hladr"]!, Self.measures["cd4Cd25"]!]
        entries.append(
            Entry(
                fullUrl: "urn:uuid:" + Self.uuid("codesystem"),
                resource: .codeSystem(CodeSystem(concept: local.map { Concept(code: $0.code, display: $0.display) }))))
        func decimal(_ v: Double, _ digits: Int) -> Decimal {
            Decimal(string: String(format: "%.\(digits)f", v)) ?? Decimal(v)
        }
        for r in records {
            let (fcs, labs) = sources(r)
            let subject = Reference(
                type: "Patient", identifier: Identifier(system: patientSystem, value: r.patient), display: nil)
            let context =
                r.baseline
                ? "Study baseline (month 0): mean of the last \(fcs.count) pre-dose value(s)"
                : "Study month \(r.month) (target \(r.targetDate), window days \(r.windowFromDay) to \(r.windowToDay))"
            func observation(
                _ key: String, value: Double?, digits: Int, date: String?, from sources: [Reference], method: String?,
                notes: [String], censor: Censor? = nil, limit: Double? = nil
            ) {
                guard let m = Self.measures[key], let date else { return }
                var quantity: Quantity? = nil
                var coded: CodeableConcept? = nil
                var interpretation: [CodeableConcept]? = nil
                switch censor {
                case .lt?, .gt?:
                    guard let limit else { return }
                    quantity = Quantity(
                        value: decimal(key == "hivLog" ? log10(limit) : limit, digits),
                        comparator: censor == .lt ? "<" : ">", unit: m.unit, system: Self.ucum, code: m.ucum)
                case .nd?:
                    coded = CodeableConcept(
                        coding: [Coding(system: "http://snomed.info/sct", code: "260415000", display: "Not detected")],
                        text: "Not detected")
                    interpretation = [
                        CodeableConcept(
                            coding: [
                                Coding(
                                    system: "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                                    code: "ND", display: "Not detected")
                            ], text: nil)
                    ]
                default:
                    guard let value else { return }
                    quantity = Quantity(
                        value: decimal(value, digits), comparator: nil, unit: m.unit, system: Self.ucum, code: m.ucum)
                }
                let name = "\(r.patient)|\(r.month)|\(key)"
                var allNotes = [context] + notes
                if censor == .nd, let limit { allNotes.append("Limit of the assay: \(formatShort(limit)) copies/mL.") }
                entries.append(
                    Entry(
                        fullUrl: "urn:uuid:" + Self.uuid(name),
                        resource: .observation(
                            Observation(
                                id: "obs-" + Self.uuid(name).replacingOccurrences(of: "-", with: ""),
                                identifier: [
                                    Identifier(
                                        system: Self.observationSystem, value: "\(r.patient)/m\(r.month)/\(m.code)")
                                ],
                                category: [laboratory],
                                code: CodeableConcept(
                                    coding: [Coding(system: m.system, code: m.code, display: m.display)],
                                    text: m.display),
                                subject: subject, effectiveDateTime: date, valueQuantity: quantity,
                                valueCodeableConcept: coded, interpretation: interpretation,
                                note: allNotes.map(Annotation.init),
                                method: method.map { CodeableConcept(coding: nil, text: $0) },
                                derivedFrom: sources.isEmpty ? nil : sources))))
            }
            // Flow values: derived from the FCS files, with the gating that gave them.
            let fcsRefs = fcs.compactMap { f in
                provenance.samples[f].map {
                    Reference(
                        type: "DocumentReference", identifier: Identifier(system: Self.fcsHashSystem, value: $0.sha256),
                        display: "FCS file \(f)")
                }
            }
            let gated = fcs.compactMap { provenance.samples[$0] }
            let method = gated.first.map { s in
                "Flow cytometry, \(s.method.label), \(s.gating.rawValue) gating"
            }
            let gateNotes = gated.map { s in
                var parts = ["\(s.gating.rawValue) gating"]
                if !s.strategySHA256.isEmpty { parts.append("strategy sha256 \(s.strategySHA256)") }
                if !s.configSHA256.isEmpty { parts.append("configuration sha256 \(s.configSHA256)") }
                if !s.programVersion.isEmpty { parts.append("cytoingest \(s.programVersion)") }
                return "\(s.file): " + parts.joined(separator: ", ")
            }
            let qc = r.qc.isEmpty ? [] : ["QC flags: \(r.qc.map(\.rawValue).joined(separator: ", "))"]
            for (key, value, digits) in [
                ("cd4Abs", r.cd4Abs, 1), ("cd4Pct", r.cd4Pct, 2), ("cd8Abs", r.cd8Abs, 1), ("cd8Pct", r.cd8Pct, 2),
                ("ratio", r.cd4cd8Ratio, 3), ("cd8Hladr", r.cd8HladrPct, 2), ("cd4Cd25", r.cd4Cd25Pct, 2),
            ] {
                observation(
                    key, value: value, digits: digits, date: r.cd4Collected, from: fcsRefs, method: method,
                    notes: gateNotes + qc)
            }
            // HIV RNA: derived from the lab file; censored values carry their comparator.
            let labRefs = labs.map { id in
                Reference(
                    type: "DocumentReference",
                    identifier: provenance.labFileSHA256[id].map {
                        Identifier(system: Self.labFileHashSystem, value: $0)
                    },
                    display: "lab result \(id)")
            }
            let assay = r.hivRnaAssay.map { ["Assay: \($0)"] } ?? []
            observation(
                "hivCopies", value: r.hivRnaCopies, digits: 0, date: r.hivCollected, from: labRefs, method: nil,
                notes: assay, censor: r.hivRnaCensor, limit: r.hivRnaLimit)
            if r.hivRnaCensor != .nd {
                observation(
                    "hivLog", value: r.hivRnaLog10, digits: 2, date: r.hivCollected, from: labRefs, method: nil,
                    notes: assay, censor: r.hivRnaCensor, limit: r.hivRnaLimit)
            }
        }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        let bundle = Bundle(
            id: "cytoingest-" + Self.uuid(f.string(from: timestamp)), timestamp: f.string(from: timestamp),
            entry: entries)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(bundle)
    }
}
