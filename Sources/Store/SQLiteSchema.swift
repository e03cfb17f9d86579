import CytoModel
import Foundation
import GRDB

// Schema v3: monthly records and lab results in typed columns with keys and foreign keys; JSON
// only for lists and the open-ended assay description. `migrateToTypedColumns` moves a v2 store
// (records and results as JSON documents) over without losing a field.

extension SQLiteRecordStore {
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
                arguments: StatementArguments(
                    try labResultArguments(r, sourceFile: row["source_file"]).map(GRDBDatabase.Session.value)))
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
                arguments: StatementArguments(try recordArguments(r).map(GRDBDatabase.Session.value)))
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
