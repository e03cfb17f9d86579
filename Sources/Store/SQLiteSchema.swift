import CytoModel
import Foundation
import GRDB

// Schema v3: monthly records and lab results in typed columns with keys and foreign keys; JSON
// only for lists and the open-ended assay description. `migrateToTypedColumns` moves a v2 store
// (records and results as JSON documents) over without losing a field.

extension SQLiteRecordStore {
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
    ) throws -> StatementArguments {
        let values: [(any DatabaseValueConvertible)?] = [
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
        return StatementArguments(values)
    }

    static func labResult(_ row: Row, cache: JSONColumnCache = JSONColumnCache()) throws -> HIVRNAResult {
        func enumValue<E: RawRepresentable>(_ type: E.Type, _ column: String) throws -> E where E.RawValue == String {
            let raw: String = row[column]
            guard let v = E(rawValue: raw) else {
                throw DatabaseError(message: "lab_results.\(column): unknown value \(raw)")
            }
            return v
        }
        var resulted: LabTimestamp? = nil
        if let text: String = row["resulted_text"] {
            resulted = LabTimestamp(
                epochSeconds: row["resulted_epoch"], localDays: row["resulted_days"], hasTime: row["resulted_has_time"],
                text: text)
        }
        let unit: String? = row["reported_unit"]
        let assay: String? = row["assay"]
        return HIVRNAResult(
            id: row["id"], patient: row["patient"], specimen: row["specimen"], specimenType: row["specimen_type"],
            collected: LabTimestamp(
                epochSeconds: row["collected_epoch"], localDays: row["collected_days"],
                hasTime: row["collected_has_time"], text: row["collected_text"]),
            resulted: resulted, status: try enumValue(ResultStatus.self, "status"), replaces: row["replaces"],
            outcome: try enumValue(ViralLoadOutcome.self, "outcome"), reportedValue: row["reported_value"],
            reportedUnit: unit.flatMap(ConcentrationUnit.init(rawValue:)), copies: row["copies"], log10: row["log10"],
            limit: row["limit_copies"],
            detected: row["detected"], assay: try assay.map { try cache.decodeAssay($0) },
            dilution: row["dilution"],
            failureCode: row["failure_code"], reason: row["reason"], instrumentText: row["instrument_text"],
            comment: row["comment"],
            warnings: try cache.decodeWarnings(row["warnings"]), line: row["line"], format: row["format"])
    }

    static func recordArguments(_ r: MonthlyRecord) throws -> StatementArguments {
        let values: [(any DatabaseValueConvertible)?] = [
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
        return StatementArguments(values)
    }

    static func onInfusionArguments(_ r: MonthlyRecord) throws -> StatementArguments {
        let o = r.onInfusion
        let values: [(any DatabaseValueConvertible)?] = [
            o.cd4Collected, o.cd4Pct, o.cd8Abs, o.cd8Pct, o.cd4cd8Ratio, o.cd8HladrPct, o.cd4Cd25Pct, o.hivCollected,
            o.hivRnaCopies, o.hivRnaCensor?.rawValue, o.hivRnaLimit, try json(o.sources),
        ]
        return StatementArguments(values)
    }

    static func onInfusion(_ row: Row) throws -> MonthlyRecord.OnInfusion {
        let censor: String? = row["on_infusion_hiv_rna_censor"]
        return MonthlyRecord.OnInfusion(
            cd4Collected: row["on_infusion_cd4_collected"], cd4Pct: row["on_infusion_cd4_pct"],
            cd8Abs: row["on_infusion_cd8_abs"], cd8Pct: row["on_infusion_cd8_pct"],
            cd4cd8Ratio: row["on_infusion_cd4_cd8_ratio"], cd8HladrPct: row["on_infusion_cd8_hladr_pct"],
            cd4Cd25Pct: row["on_infusion_cd4_cd25_pct"], hivCollected: row["on_infusion_hiv_collected"],
            hivRnaCopies: row["on_infusion_hiv_rna_copies"], hivRnaCensor: censor.flatMap(Censor.init(rawValue:)),
            hivRnaLimit: row["on_infusion_hiv_rna_limit"],
            sources: try decode([String].self, row["on_infusion_sources"]))
    }

    static func record(_ row: Row) throws -> MonthlyRecord {
        let method: String? = row["method"]
        let censor: String? = row["hiv_rna_censor"]
        return MonthlyRecord(
            patient: row["patient"], month: row["month"], targetDate: row["target_date"],
            windowFromDay: row["window_from_day"],
            windowToDay: row["window_to_day"], baseline: row["baseline"], stratum: row["stratum"],
            responder: row["responder"],
            cd4Collected: row["cd4_collected"], cd4Abs: row["cd4_abs"], cd4Pct: row["cd4_pct"], cd8Abs: row["cd8_abs"],
            cd8Pct: row["cd8_pct"],
            cd4cd8Ratio: row["cd4_cd8_ratio"], cd8HladrPct: row["cd8_hladr_pct"], cd4Cd25Pct: row["cd4_cd25_pct"],
            method: method.flatMap(CountingMethod.init(rawValue:)), hivCollected: row["hiv_collected"],
            hivRnaCopies: row["hiv_rna_copies"],
            hivRnaLog10: row["hiv_rna_log10"], hivRnaCensor: censor.flatMap(Censor.init(rawValue:)),
            hivRnaLimit: row["hiv_rna_limit"],
            hivRnaAssay: row["hiv_rna_assay"], cycle: row["cycle"], daysSinceCycleStart: row["days_since_cycle_start"],
            doseMIUPerDay: row["dose_miu_per_day"], cyclesCompleted: row["cycles_completed"],
            deltaCd4Abs: row["delta_cd4_abs"],
            deltaCd4Pct: row["delta_cd4_pct"], deltaLog10: row["delta_log10"],
            onInfusionCd4Abs: row["on_infusion_cd4_abs"],
            onInfusionHivRnaLog10: row["on_infusion_hiv_rna_log10"], missing: try decode([String].self, row["missing"]),
            qc: try decode([QCFlag].self, row["qc"]), sources: try decode([String].self, row["sources"]),
            candidates: row["candidates"])
    }

    /// v2 -> v3. Rewrites the JSON-document tables into typed ones inside the migration's
    /// transaction: an error leaves the v2 store as it was.
    static func migrateToTypedColumns(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE lab_results_v3 (
                  id TEXT PRIMARY KEY NOT NULL,
                  source_file TEXT NOT NULL REFERENCES lab_files(path) ON DELETE CASCADE,
                  patient TEXT NOT NULL,
                  specimen TEXT NOT NULL,
                  specimen_type TEXT,
                  collected_text TEXT NOT NULL,
                  collected_epoch INTEGER NOT NULL,
                  collected_days INTEGER NOT NULL,
                  collected_has_time INTEGER NOT NULL CHECK (collected_has_time IN (0, 1)),
                  resulted_text TEXT,
                  resulted_epoch INTEGER,
                  resulted_days INTEGER,
                  resulted_has_time INTEGER CHECK (resulted_has_time IN (0, 1)),
                  status TEXT NOT NULL CHECK (status IN ('preliminary', 'final', 'corrected', 'amended', 'cancelled', 'entered-in-error')),
                  replaces TEXT,
                  outcome TEXT NOT NULL CHECK (outcome IN ('quantified', 'below_limit', 'not_detected', 'above_limit', 'failed', 'not_performed')),
                  reported_value REAL,
                  reported_unit TEXT CHECK (reported_unit IN ('copies/mL', 'IU/mL', 'Eq/mL')),
                  copies REAL CHECK (copies >= 0),
                  log10 REAL,
                  limit_copies REAL,
                  detected INTEGER CHECK (detected IN (0, 1)),
                  assay TEXT,
                  dilution REAL,
                  failure_code TEXT,
                  reason TEXT,
                  instrument_text TEXT,
                  comment TEXT,
                  warnings TEXT NOT NULL,
                  line INTEGER NOT NULL,
                  format TEXT NOT NULL
                );
                CREATE TABLE monthly_records_v3 (
                  patient TEXT NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
                  month INTEGER NOT NULL CHECK (month >= 0),
                  target_date TEXT NOT NULL,
                  window_from_day INTEGER NOT NULL,
                  window_to_day INTEGER NOT NULL CHECK (window_to_day >= window_from_day),
                  baseline INTEGER NOT NULL CHECK (baseline IN (0, 1)),
                  stratum TEXT,
                  responder INTEGER CHECK (responder IN (0, 1)),
                  cd4_collected TEXT,
                  cd4_abs REAL, cd4_pct REAL, cd8_abs REAL, cd8_pct REAL, cd4_cd8_ratio REAL, cd8_hladr_pct REAL, cd4_cd25_pct REAL,
                  method TEXT CHECK (method IN ('beads', 'dual')),
                  hiv_collected TEXT,
                  hiv_rna_copies REAL, hiv_rna_log10 REAL,
                  hiv_rna_censor TEXT CHECK (hiv_rna_censor IN ('none', 'lt', 'nd', 'gt')),
                  hiv_rna_limit REAL,
                  hiv_rna_assay TEXT,
                  cycle INTEGER, days_since_cycle_start INTEGER, dose_miu_per_day REAL, cycles_completed INTEGER,
                  delta_cd4_abs REAL, delta_cd4_pct REAL, delta_log10 REAL, on_infusion_cd4_abs REAL, on_infusion_hiv_rna_log10 REAL,
                  missing TEXT NOT NULL,
                  qc TEXT NOT NULL,
                  sources TEXT NOT NULL,
                  candidates INTEGER NOT NULL CHECK (candidates >= 0),
                  PRIMARY KEY (patient, month)
                );
                CREATE TABLE applied_gates_v3 (
                  file TEXT PRIMARY KEY NOT NULL REFERENCES samples(file) ON DELETE CASCADE,
                  gating_ml TEXT NOT NULL
                );
                ALTER TABLE samples ADD COLUMN config_sha256 TEXT NOT NULL DEFAULT '';
                ALTER TABLE samples ADD COLUMN gating TEXT NOT NULL DEFAULT 'template' CHECK (gating IN ('template', 'adaptive'));
                UPDATE samples SET method = 'beads' WHERE method = 'single-platform beads';
                UPDATE samples SET method = 'dual' WHERE method = 'dual-platform';
                UPDATE samples SET gating = 'adaptive' WHERE file IN (SELECT file FROM applied_gates);
                INSERT INTO applied_gates_v3 (file, gating_ml) SELECT file, gating_ml FROM applied_gates WHERE file IN (SELECT file FROM samples);
                DROP TABLE applied_gates;
                ALTER TABLE applied_gates_v3 RENAME TO applied_gates;
                """)
        for row in try Row.fetchAll(db, sql: "SELECT source_file, data FROM lab_results") {
            let r = try decode(HIVRNAResult.self, row["data"])
            try db.execute(
                sql: "INSERT INTO lab_results_v3 (\(labResultColumns)) VALUES (\(placeholders(labResultColumns)))",
                arguments: try labResultArguments(r, sourceFile: row["source_file"]))
        }
        for data in try String.fetchAll(db, sql: "SELECT data FROM monthly_records") {
            // v2 documents hold the method's label and the censor's raw value as text.
            guard var object = try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else {
                throw DatabaseError(message: "monthly_records: a record is not a JSON object")
            }
            if let label = object["method"] as? String {
                guard let m = CountingMethod(label: label) else {
                    throw DatabaseError(message: "monthly_records: unknown method \(label)")
                }
                object["method"] = m.rawValue
            }
            // v2 documents predate the on-infusion values of v6 (added empty; rebuilt next run).
            if object["onInfusion"] == nil { object["onInfusion"] = ["sources": [Any]()] }
            let r = try JSONDecoder().decode(
                MonthlyRecord.self, from: try JSONSerialization.data(withJSONObject: object))
            try db.execute(
                sql:
                    "INSERT INTO monthly_records_v3 (\(monthlyRecordColumns)) VALUES (\(placeholders(monthlyRecordColumns)))",
                arguments: try recordArguments(r))
        }
        try db.execute(
            sql: """
                DROP TABLE lab_results;
                ALTER TABLE lab_results_v3 RENAME TO lab_results;
                CREATE INDEX lab_results_patient ON lab_results(patient, collected_days);
                CREATE INDEX lab_results_source ON lab_results(source_file);
                DROP TABLE monthly_records;
                ALTER TABLE monthly_records_v3 RENAME TO monthly_records;
                """)
    }
}
