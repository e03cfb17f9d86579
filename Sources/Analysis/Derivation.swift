import CytoModel
import FCSParser
import Foundation
import Gating

extension SampleAnalyzer {
    func keyword(_ set: FCSDataSet, _ key: String?) -> String? {
        key.flatMap { set.text[$0]?.trimmed }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `$DATE` forms: dd-MMM-yyyy (also 2-digit years), yyyy-mm-dd.
    static func parseDate(_ s: String) -> Int? {
        LabTimestamp.parseISO(s, requireZone: false)?.localDays ?? CivilDate.parseFCS(s)
    }

    /// The patient and collection day of a file.
    func identify(_ set: FCSDataSet, path: String) throws(SampleRejection) -> (String, Int) {
        let identity = settings.identity
        var patient: String? = keyword(set, identity.patientKeyword)
        if patient == nil, let re = patientRegex {
            let name = URL(fileURLWithPath: path).lastPathComponent
            if let m = re.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)),
                let r = Range(m.range(withName: "patient"), in: name)
            {
                patient = String(name[r])
            }
        }
        guard let patient else {
            throw SampleRejection(
                code: .noPatient, message: "no patient id in \(identity.patientKeyword ?? "the file name")")
        }
        guard registry.isEmpty || registry[patient] != nil else {
            throw SampleRejection(code: .unknownPatient, message: "the patient is not in the registry")
        }
        guard let dateText = keyword(set, identity.dateKeyword), let day = Self.parseDate(dateText) else {
            throw SampleRejection(code: .noDate, message: "no collection date in \(identity.dateKeyword)")
        }
        return (patient, day)
    }

    /// Values, QC flags and rejections from the population counts (domain.md section 6).
    func derive(
        _ set: FCSDataSet, patient: String, day: Int, counts: [Population: Int], flags gatingFlags: [QCFlag],
        adaptive: AdaptiveGating.Result?,
        request: AnalysisRequest, profile: InstrumentProfile
    ) throws(SampleRejection) -> SampleResult {
        var flags = gatingFlags
        func n(_ p: Population) -> Int { counts[p] ?? 0 }
        let beads = n(.beads), lymph = n(.lymphocytes), cd3 = n(.cd3), cd4 = n(.cd4), cd8 = n(.cd8)
        let hladr = n(.cd8Hladr), cd25 = n(.cd4Cd25)
        let qc = settings.qc
        if lymph < qc.minLymphocytes {
            throw SampleRejection(
                code: .lowLymphocytes,
                message: "\(lymph) lymphocytes acquired, fewer than the \(qc.minLymphocytes) required; no results")
        }
        let cd4Pct = 100 * Double(cd4) / Double(lymph)
        let cd8Pct = 100 * Double(cd8) / Double(lymph)
        let cd3Pct = 100 * Double(cd3) / Double(lymph)
        var cd4Abs: Double? = nil
        var cd8Abs: Double? = nil
        let counting = settings.counting
        switch counting.method {
        case .dual:
            if let c = cbc["\(patient)|\(day)"] {
                let lymphAbs = c.wbcPerMicroliter * c.lymphocytePercent / 100
                cd4Abs = lymphAbs * cd4Pct / 100
                cd8Abs = lymphAbs * cd8Pct / 100
            } else {
                flags.append(.noCBC)
            }
        case .beads:
            if beads < qc.minBeads {
                flags.append(.lowBeads)
            } else {
                var perTube: Double? = nil
                if let lot = keyword(set, counting.beadLotKeyword), let v = counting.beadLots[lot] { perTube = v }
                if perTube == nil { perTube = keyword(set, counting.beadsPerTubeKeyword).flatMap(Double.init) }
                let volume =
                    keyword(set, counting.bloodVolumeKeyword).flatMap(Double.init) ?? counting.bloodVolumeMicroliters
                if let perTube, perTube > 0, volume > 0 {
                    cd4Abs = Double(cd4) / Double(beads) * perTube / volume
                    cd8Abs = Double(cd8) / Double(beads) * perTube / volume
                } else {
                    flags.append(.noBeadLot)
                }
            }
        }
        if cd4 == 0 || 1 / Double(cd4).squareRoot() > qc.maxCD4CountingCV { flags.append(.cd4LowCount) }
        if abs(cd4Pct + cd8Pct - cd3Pct) > qc.tCellSumTolerance { flags.append(.tCellSum) }
        for v in [cd4Abs, cd8Abs] {
            if let v, v > qc.maxAbsolute {
                throw SampleRejection(
                    code: .implausible, message: "absolute count \(Int(v))/uL is above \(Int(qc.maxAbsolute))/uL")
            }
        }
        return SampleResult(
            file: request.displayName, sha256: request.sha256, patient: patient, collectedDays: day,
            collected: CivilDate.iso(day), events: set.eventCount,
            beadEvents: beads, lymphocyteEvents: lymph, cd3Events: cd3, cd4Events: cd4, cd8Events: cd8,
            cd8HladrEvents: hladr, cd4Cd25Events: cd25,
            cd4Abs: cd4Abs, cd8Abs: cd8Abs, cd4Pct: cd4Pct, cd8Pct: cd8Pct, cd3Pct: cd3Pct,
            cd4cd8Ratio: (cd4Abs != nil && (cd8Abs ?? 0) > 0)
                ? cd4Abs! / cd8Abs! : (cd8 > 0 ? Double(cd4) / Double(cd8) : nil),
            cd8HladrPct: cd8 > 0 ? 100 * Double(hladr) / Double(cd8) : nil,
            cd4Cd25Pct: cd4 > 0 ? 100 * Double(cd25) / Double(cd4) : nil,
            method: counting.method, qcFlags: flags, warnings: set.warnings.map(\.description),
            strategySHA256: profile.strategySHA256,
            configSHA256: settings.configSHA256, programVersion: ProgramInfo.version,
            gating: adaptive == nil ? .template : .adaptive, instrument: profile.name,
            appliedGatingML: adaptive.map { a in
                let methods = a.reports.map { r in
                    "  \(r.gate): \(r.method), confidence \(String(format: "%.2f", r.confidence))"
                }
                let header = [
                    "Gates applied to this file by cytoingest adaptive gating",
                    "flags: \(a.flags.map(\.rawValue).joined(separator: ", ")); events excluded by time/flow QC: \(a.excluded)",
                ]
                return GatingMLWriter.write(a.strategy, comment: (header + methods).joined(separator: "\n"))
            })
    }
}
