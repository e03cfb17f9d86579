import CytoModel
import Foundation

// The typed columns of lab results and monthly records, and their conversion to and from Swift
// values: one definition for both engines.

extension SQLRecordStore {
    static let labResultColumns = """
        id, source_file, patient, specimen, specimen_type, collected_text, collected_epoch, collected_days, collected_has_time,
        resulted_text, resulted_epoch, resulted_days, resulted_has_time, status, replaces, outcome, reported_value, reported_unit,
        copies, log10, limit_copies, detected, assay, dilution, failure_code, reason, instrument_text, comment, warnings, line, format
        """

    static let monthlyRecordColumns = """
        patient, month, target_date, window_from_day, window_to_day, baseline, stratum, responder, cd4_collected, cd4_abs, cd4_pct,
        cd8_abs, cd8_pct, cd4_cd8_ratio, cd8_hladr_pct, cd4_cd25_pct, method, hiv_collected, hiv_rna_copies, hiv_rna_log10,
        hiv_rna_censor, hiv_rna_limit, hiv_rna_assay, cycle, days_since_cycle_start, dose_miu_per_day, cycles_completed,
        delta_cd4_abs, delta_cd4_pct, delta_log10, on_infusion_cd4_abs, on_infusion_hiv_rna_log10, missing, qc, sources, candidates
        """

    /// The columns schema v6 added (every on-infusion value and its sources).
    static let onInfusionColumns = """
        on_infusion_cd4_collected, on_infusion_cd4_pct, on_infusion_cd8_abs, on_infusion_cd8_pct, on_infusion_cd4_cd8_ratio,
        on_infusion_cd8_hladr_pct, on_infusion_cd4_cd25_pct, on_infusion_hiv_collected, on_infusion_hiv_rna_copies,
        on_infusion_hiv_rna_censor, on_infusion_hiv_rna_limit, on_infusion_sources
        """

    static func placeholders(_ columns: String) -> String {
        Array(repeating: "?", count: columns.split(separator: ",").count).joined(separator: ", ")
    }

    /// The JSON columns of lab results repeat (one assay per run, mostly no warnings): encoded and
    /// decoded once per distinct value within one file's import or one read of the table.
    final class JSONColumnCache {
        var assays: [AssayInfo: String] = [:]
        var assayTexts: [String: AssayInfo] = [:]
        var warnings: [[String]: String] = [:]
        var warningTexts: [String: [String]] = [:]

        func encode(_ a: AssayInfo) throws -> String {
            if let s = assays[a] { return s }
            let s = try json(a)
            assays[a] = s
            return s
        }
        func encode(_ w: [String]) throws -> String {
            if w.isEmpty { return "[]" }
            if let s = warnings[w] { return s }
            let s = try json(w)
            warnings[w] = s
            return s
        }
        func decodeAssay(_ s: String) throws -> AssayInfo {
            if let a = assayTexts[s] { return a }
            let a = try decode(AssayInfo.self, s)
            assayTexts[s] = a
            return a
        }
        func decodeWarnings(_ s: String) throws -> [String] {
            if s == "[]" { return [] }
            if let w = warningTexts[s] { return w }
            let w = try decode([String].self, s)
            warningTexts[s] = w
            return w
        }
    }

    static func labResultArguments(
        _ r: HIVRNAResult, sourceFile: String, cache: JSONColumnCache = JSONColumnCache()
    ) throws -> [SQLValue] {
        let values: [any SQLBindable] = [
            r.id, sourceFile, r.patient, r.specimen, r.specimenType, r.collected.text, r.collected.epochSeconds,
            r.collected.localDays,
            r.collected.hasTime, r.resulted?.text, r.resulted?.epochSeconds, r.resulted?.localDays, r.resulted?.hasTime,
            r.status.rawValue,
            r.replaces, r.outcome.rawValue, r.reportedValue, r.reportedUnit?.rawValue, r.copies, r.log10, r.limit,
            r.detected,
            try r.assay.map { try cache.encode($0) }, r.dilution, r.failureCode, r.reason, r.instrumentText,
            r.comment, try cache.encode(r.warnings), r.line,
            r.format,
        ]
        return values.map(\.sqlValue)
    }

    static func labResult(_ row: SQLRow, cache: JSONColumnCache = JSONColumnCache()) throws -> HIVRNAResult {
        func enumValue<E: RawRepresentable>(_ type: E.Type, _ column: String) throws -> E where E.RawValue == String {
            let raw: String = try row[column]
            guard let v = E(rawValue: raw) else {
                throw StoredValueError(column: "lab_results.\(column)", expected: "known value (\(raw))")
            }
            return v
        }
        var resulted: LabTimestamp? = nil
        if let text: String? = try row["resulted_text"], let text {
            resulted = LabTimestamp(
                epochSeconds: try row["resulted_epoch"], localDays: try row["resulted_days"],
                hasTime: try row["resulted_has_time"],
                text: text)
        }
        let unit: String? = try row["reported_unit"]
        let assay: String? = try row["assay"]
        return HIVRNAResult(
            id: try row["id"], patient: try row["patient"], specimen: try row["specimen"],
            specimenType: try row["specimen_type"],
            collected: LabTimestamp(
                epochSeconds: try row["collected_epoch"], localDays: try row["collected_days"],
                hasTime: try row["collected_has_time"], text: try row["collected_text"]),
            resulted: resulted, status: try enumValue(ResultStatus.self, "status"), replaces: try row["replaces"],
            outcome: try enumValue(ViralLoadOutcome.self, "outcome"), reportedValue: try row["reported_value"],
            reportedUnit: unit.flatMap(ConcentrationUnit.init(rawValue:)), copies: try row["copies"],
            log10: try row["log10"],
            limit: try row["limit_copies"],
            detected: try row["detected"], assay: try assay.map { try cache.decodeAssay($0) },
            dilution: try row["dilution"],
            failureCode: try row["failure_code"], reason: try row["reason"], instrumentText: try row["instrument_text"],
            comment: try row["comment"],
            warnings: try cache.decodeWarnings(try row["warnings"]), line: try row["line"], format: try row["format"])
    }

    static func recordArguments(_ r: MonthlyRecord) throws -> [SQLValue] {
        let values: [any SQLBindable] = [
            r.patient, r.month, r.targetDate, r.windowFromDay, r.windowToDay, r.baseline, r.stratum, r.responder,
            r.cd4Collected, r.cd4Abs,
            r.cd4Pct, r.cd8Abs, r.cd8Pct, r.cd4cd8Ratio, r.cd8HladrPct, r.cd4Cd25Pct, r.method?.rawValue,
            r.hivCollected, r.hivRnaCopies,
            r.hivRnaLog10, r.hivRnaCensor?.rawValue, r.hivRnaLimit, r.hivRnaAssay, r.cycle, r.daysSinceCycleStart,
            r.doseMIUPerDay,
            r.cyclesCompleted, r.deltaCd4Abs, r.deltaCd4Pct, r.deltaLog10, r.onInfusionCd4Abs, r.onInfusionHivRnaLog10,
            try json(r.missing),
            try json(r.qc), try json(r.sources), r.candidates,
        ]
        return values.map(\.sqlValue)
    }

    static func onInfusionArguments(_ r: MonthlyRecord) throws -> [SQLValue] {
        let o = r.onInfusion
        let values: [any SQLBindable] = [
            o.cd4Collected, o.cd4Pct, o.cd8Abs, o.cd8Pct, o.cd4cd8Ratio, o.cd8HladrPct, o.cd4Cd25Pct, o.hivCollected,
            o.hivRnaCopies, o.hivRnaCensor?.rawValue, o.hivRnaLimit, try json(o.sources),
        ]
        return values.map(\.sqlValue)
    }

    static func onInfusion(_ row: SQLRow) throws -> MonthlyRecord.OnInfusion {
        let censor: String? = try row["on_infusion_hiv_rna_censor"]
        return MonthlyRecord.OnInfusion(
            cd4Collected: try row["on_infusion_cd4_collected"], cd4Pct: try row["on_infusion_cd4_pct"],
            cd8Abs: try row["on_infusion_cd8_abs"], cd8Pct: try row["on_infusion_cd8_pct"],
            cd4cd8Ratio: try row["on_infusion_cd4_cd8_ratio"], cd8HladrPct: try row["on_infusion_cd8_hladr_pct"],
            cd4Cd25Pct: try row["on_infusion_cd4_cd25_pct"], hivCollected: try row["on_infusion_hiv_collected"],
            hivRnaCopies: try row["on_infusion_hiv_rna_copies"], hivRnaCensor: censor.flatMap(Censor.init(rawValue:)),
            hivRnaLimit: try row["on_infusion_hiv_rna_limit"],
            sources: try decode([String].self, try row["on_infusion_sources"]))
    }

    static func record(_ row: SQLRow) throws -> MonthlyRecord {
        let method: String? = try row["method"]
        let censor: String? = try row["hiv_rna_censor"]
        return MonthlyRecord(
            patient: try row["patient"], month: try row["month"], targetDate: try row["target_date"],
            windowFromDay: try row["window_from_day"],
            windowToDay: try row["window_to_day"], baseline: try row["baseline"], stratum: try row["stratum"],
            responder: try row["responder"],
            cd4Collected: try row["cd4_collected"], cd4Abs: try row["cd4_abs"], cd4Pct: try row["cd4_pct"],
            cd8Abs: try row["cd8_abs"],
            cd8Pct: try row["cd8_pct"],
            cd4cd8Ratio: try row["cd4_cd8_ratio"], cd8HladrPct: try row["cd8_hladr_pct"],
            cd4Cd25Pct: try row["cd4_cd25_pct"],
            method: method.flatMap(CountingMethod.init(rawValue:)), hivCollected: try row["hiv_collected"],
            hivRnaCopies: try row["hiv_rna_copies"],
            hivRnaLog10: try row["hiv_rna_log10"], hivRnaCensor: censor.flatMap(Censor.init(rawValue:)),
            hivRnaLimit: try row["hiv_rna_limit"],
            hivRnaAssay: try row["hiv_rna_assay"], cycle: try row["cycle"],
            daysSinceCycleStart: try row["days_since_cycle_start"],
            doseMIUPerDay: try row["dose_miu_per_day"], cyclesCompleted: try row["cycles_completed"],
            deltaCd4Abs: try row["delta_cd4_abs"],
            deltaCd4Pct: try row["delta_cd4_pct"], deltaLog10: try row["delta_log10"],
            onInfusionCd4Abs: try row["on_infusion_cd4_abs"],
            onInfusionHivRnaLog10: try row["on_infusion_hiv_rna_log10"],
            missing: try decode([String].self, try row["missing"]),
            qc: try decode([QCFlag].self, try row["qc"]), sources: try decode([String].self, try row["sources"]),
            candidates: try row["candidates"])
    }
}
