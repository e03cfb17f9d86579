import CytoModel
import Foundation
import Pipeline
import Records
import TestSupport
import Testing

/// `cytoingest export`: the analysis-ready CSV and the FHIR R4 Bundle.
@Suite("Exports for statisticians and lab systems")
struct ExportTests {
    typealias T = MonthlyRecordTests

    static func lab(
        _ id: String, day: Int, _ outcome: ViralLoadOutcome, copies: Double?, limit: Double? = nil
    )
        -> StoredLabResult
    {
        let t = LabTimestamp(epochSeconds: Int64(20000 + day) * 86400, localDays: 20000 + day, hasTime: false, text: "")
        let value = outcome == .quantified ? copies : limit
        let r = HIVRNAResult(
            id: id, patient: "P1", specimen: "S-\(id)", collected: t,
            resulted: LabTimestamp(epochSeconds: Int64(20010 + day) * 86400, localDays: 0, hasTime: true, text: ""),
            status: .final, outcome: outcome, reportedValue: value, reportedUnit: .copies,
            copies: outcome == .notDetected ? nil : value,
            log10: outcome == .notDetected ? nil : value.map { log10($0) },
            limit: outcome == .quantified ? nil : limit, detected: nil,
            assay: AssayInfo(
                id: "A", name: "Assay A", unit: .copies, lod: 20, lloq: 20, uloq: 1e7, iuPerCopy: nil, provenance: ""),
            warnings: [], line: 1, format: "neutral")
        return StoredLabResult(result: r, sourceFile: "labs.xml")
    }

    /// Four months: quantified, below the limit, not detected, above the range.
    static func export() -> RecordExport {
        let samples = [
            T.sample(-2, cd4: 300), T.sample(28, cd4: 390), T.sample(56 + 10, cd4: 420), T.sample(84, cd4: 500),
        ]
        .map {
            var s = $0
            s.strategySHA256 = String(repeating: "b", count: 64)
            s.programVersion = "0.1.0"
            s.collected = CivilDate.iso(s.collectedDays)
            return s
        }
        let labs = [
            lab("R0", day: -2, .quantified, copies: 20000), lab("R1", day: 28, .quantified, copies: 5000),
            lab("R2", day: 66, .belowLimit, copies: nil, limit: 50),
            lab("R3", day: 84, .notDetected, copies: nil, limit: 20),
            lab("R4", day: 112, .aboveLimit, copies: nil, limit: 1e7),
        ]
        let records = MonthlyRecordBuilder(rules: T.rules).build(patients: [T.patient], samples: samples, labs: labs)
        let provenance = RecordExport.Provenance(
            samples: Dictionary(uniqueKeysWithValues: samples.map { ($0.file, $0) }),
            labFileSHA256: Dictionary(
                uniqueKeysWithValues: labs.map { ($0.result.id, String(repeating: "a", count: 64)) }))
        return RecordExport(records: records, provenance: provenance)
    }

    @Test("CSV: snake_case headers, one row per patient-month, numbers only where numbers belong, censoring apart")
    func csv() throws {
        let text = Self.export().csv()
        let rows = CSV.rows(text)
        let header = try #require(rows.first)
        #expect(header == RecordExport.csvColumns)
        #expect(Set(header).count == header.count)
        for h in header { #expect(h.range(of: "^[a-z][a-z0-9_]*$", options: .regularExpression) != nil, "\(h)") }
        let body = rows.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
        #expect(body.count == 5 && rows.allSatisfy { $0.count == header.count })
        // Every numeric column holds a number or nothing.
        let numeric = header.filter {
            $0.hasSuffix("_per_ul") || $0.hasSuffix("_pct") || $0.hasSuffix("_ratio") || $0.hasSuffix("_per_ml")
                || $0.hasSuffix("log10") || $0.hasSuffix("_day")
                || ["month", "n_candidates", "dose_miu_per_day"].contains($0)
        }
        for r in body { for c in numeric { #expect(r[c]!.isEmpty || Double(r[c]!) != nil, "\(c) = \(r[c]!)") } }
        func row(_ m: Int) -> [String: String] { body.first { $0["month"] == "\(m)" }! }
        #expect(row(0)["is_baseline"] == "1" && row(0)["stratum"] == "gt200")
        #expect(row(1)["hiv_rna_copies_per_ml"] == "5000" && row(1)["hiv_rna_censor"] == "")
        #expect(row(1)["change_cd4_abs_per_ul"] == "90" && row(1)["baseline_cd4_abs_per_ul"] == "300")
        // Below the limit: no number in the value columns, the censor and the limit apart.
        #expect(row(2)["hiv_rna_copies_per_ml"] == "" && row(2)["hiv_rna_log10"] == "")
        #expect(row(2)["hiv_rna_censor"] == "<" && row(2)["hiv_rna_limit_copies_per_ml"] == "50")
        #expect(row(3)["hiv_rna_censor"] == "not_detected" && row(3)["hiv_rna_limit_copies_per_ml"] == "20")
        #expect(row(4)["hiv_rna_censor"] == ">" && row(4)["hiv_rna_limit_copies_per_ml"] == "10000000")
        #expect(row(4)["cd4_missing_reason"] == "cd4: not collected")
        #expect(row(1)["fcs_sha256"]?.count == 64 && row(1)["lab_file_sha256"]?.count == 64)
        #expect(row(1)["lab_result_id"] == "R1" && row(1)["cd4_collected"] == CivilDate.iso(20028))
    }

    /// The LOINC check digit (mod 10, as Regenstrief publishes it).
    static func loincCheckDigitValid(_ code: String) -> Bool {
        let parts = code.split(separator: "-")
        guard parts.count == 2, let check = Int(parts[1]) else { return false }
        let digits = Array(parts[0].reversed())
        let odd = String(stride(from: 0, to: digits.count, by: 2).map { digits[$0] }.reversed())
        let even = String(stride(from: 1, to: digits.count, by: 2).map { digits[$0] }.reversed())
        let doubled = String((Int(odd) ?? 0) * 2)
        let sum = (even + doubled).compactMap(\.wholeNumberValue).reduce(0, +)
        return (10 - sum % 10) % 10 == check
    }

    @Test("FHIR R4 Bundle: structure, codes, units, comparators, provenance (and the R4 validator where installed)")
    func fhir() throws {
        let data = try Self.export().fhir(
            patientSystem: "urn:x-synthetic:study-subject", timestamp: Date(timeIntervalSince1970: 1_700_000_000))
        let bundle = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(bundle["resourceType"] as? String == "Bundle" && bundle["type"] as? String == "collection")
        #expect((bundle["timestamp"] as? String)?.hasSuffix("Z") == true)
        let entries = try #require(bundle["entry"] as? [[String: Any]])
        var fullUrls = Set<String>()
        var observations: [[String: Any]] = []
        let idPattern = "^[A-Za-z0-9\\-\\.]{1,64}$"
        let uuidPattern = "^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
        for e in entries {
            let url = try #require(e["fullUrl"] as? String)
            #expect(url.range(of: uuidPattern, options: .regularExpression) != nil, "\(url)")
            #expect(fullUrls.insert(url).inserted, "fullUrl unique")
            let r = try #require(e["resource"] as? [String: Any])
            #expect((r["id"] as? String)?.range(of: idPattern, options: .regularExpression) != nil)
            if r["resourceType"] as? String == "Observation" { observations.append(r) }
        }
        // The local CodeSystem defines the two codes LOINC has none for.
        let cs = try #require(entries.first?["resource"] as? [String: Any])
        #expect(cs["resourceType"] as? String == "CodeSystem" && cs["url"] as? String == RecordExport.localSystem)
        #expect(["draft", "active", "retired", "unknown"].contains(cs["status"] as? String ?? ""))
        #expect(
            ["not-present", "example", "fragment", "complete", "supplement"].contains(cs["content"] as? String ?? ""))
        let localCodes = Set(((cs["concept"] as? [[String: Any]]) ?? []).compactMap { $0["code"] as? String })
        #expect(localCodes == ["cd8-hladr-pct", "cd4-cd25-pct"])
        // No element is empty or null (FHIR: elements have a value or children).
        func noEmpty(_ v: Any, _ path: String) {
            switch v {
            case let d as [String: Any]:
                #expect(!d.isEmpty, "\(path) is empty")
                for (k, x) in d { noEmpty(x, path + "." + k) }
            case let a as [Any]:
                #expect(!a.isEmpty, "\(path) is an empty array")
                for (i, x) in a.enumerated() { noEmpty(x, "\(path)[\(i)]") }
            case let s as String: #expect(!s.isEmpty && s.trimmed == s, "\(path) is blank or padded: \(s)")
            case is NSNull: Issue.record("\(path) is null")
            default: break
            }
        }
        noEmpty(bundle, "Bundle")
        var codes: [String: Int] = [:]
        for o in observations {
            #expect(o["status"] as? String == "final")
            let subject = try #require(o["subject"] as? [String: Any])
            let identifier = try #require(subject["identifier"] as? [String: Any])
            #expect(
                identifier["system"] as? String == "urn:x-synthetic:study-subject"
                    && identifier["value"] as? String == "P1")
            #expect(
                (o["effectiveDateTime"] as? String)?.range(of: "^\\d{4}-\\d{2}-\\d{2}$", options: .regularExpression)
                    != nil)
            let coding = try #require((o["code"] as? [String: Any])?["coding"] as? [[String: Any]]).first!
            let system = coding["system"] as? String, code = coding["code"] as? String ?? ""
            if system == RecordExport.loinc {
                #expect(Self.loincCheckDigitValid(code), "LOINC \(code) has a wrong check digit")
            } else {
                #expect(system == RecordExport.localSystem && localCodes.contains(code))
            }
            codes[code, default: 0] += 1
            if let q = o["valueQuantity"] as? [String: Any] {
                #expect(q["system"] as? String == RecordExport.ucum && q["value"] is NSNumber)
                #expect(["/uL", "%", "{ratio}", "{copies}/mL", "{log_copies}/mL"].contains(q["code"] as? String ?? ""))
                if let c = q["comparator"] as? String { #expect(["<", "<=", ">=", ">"].contains(c)) }
            } else {
                #expect(o["valueCodeableConcept"] != nil, "a value of one kind")
            }
            #expect(o["derivedFrom"] != nil && o["note"] != nil)
        }
        // Every measure of every month with a value: 4 flow months x 7, RNA: 2 quantified x 2,
        // < and > x 2 (copies and log10), not detected x 1.
        #expect(codes["24467-3"] == 4 && codes["cd8-hladr-pct"] == 4 && codes["cd4-cd25-pct"] == 4)
        #expect(codes["20447-9"] == 5 && codes["29541-0"] == 4)
        func rna(_ month: Int, _ code: String) -> [String: Any]? {
            observations.first {
                ($0["identifier"] as? [[String: Any]])?.first?["value"] as? String == "P1/m\(month)/\(code)"
            }
        }
        let below = try #require(rna(2, "20447-9")?["valueQuantity"] as? [String: Any])
        #expect(below["comparator"] as? String == "<" && (below["value"] as? NSNumber)?.doubleValue == 50)
        let above = try #require(rna(4, "20447-9")?["valueQuantity"] as? [String: Any])
        #expect(above["comparator"] as? String == ">")
        #expect(rna(3, "20447-9")?["valueCodeableConcept"] != nil && rna(3, "29541-0") == nil)
        let flow = try #require(
            observations.first { ($0["code"] as? [String: Any])?["text"] as? String != nil && $0["method"] != nil })
        let derived = try #require((flow["derivedFrom"] as? [[String: Any]])?.first?["identifier"] as? [String: Any])
        #expect(
            derived["system"] as? String == RecordExport.fcsHashSystem && (derived["value"] as? String)?.count == 64)
        #expect(
            ((flow["note"] as? [[String: Any]]) ?? []).contains {
                ($0["text"] as? String)?.contains("strategy sha256") == true
            })

        // The official R4 models (fhir.resources 5.1.x, generated from the R4 StructureDefinitions).
        guard let python = ProcessInfo.processInfo.environment["CYTOINGEST_FHIR_PYTHON"] else {
            print("FHIR: CYTOINGEST_FHIR_PYTHON is not set; the R4 model validation is skipped (structural checks ran)")
            return
        }
        let dir = Paths.temporaryDirectory("fhir")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bundle.json")
        try data.write(to: file)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [Paths.repoRoot.appendingPathComponent("Scripts/fhir-validate.py").path, file.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "R4 validation: \(text)")
    }
}
