import Analysis
import Crypto
import CytoModel
import Foundation
import Gating
import Labs
import Review

extension PipelineConfiguration {
    /// The configuration as canonical JSON: every setting (defaults included), keys sorted, no
    /// white space. Two configurations that mean the same have the same bytes.
    public func canonicalJSON() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain settings cannot fail.
        return (try? encoder.encode(self)) ?? Data()
    }

    /// SHA-256 of `canonicalJSON()`: recorded with every run and every sample.
    public var sha256: String {
        SHA256Hasher.hex(of: canonicalJSON())
    }

    /// The analysis this configuration describes: the strategy read and hashed, its gate ids
    /// checked, the registry and (dual platform) the CBC table loaded.
    /// - Throws: `ConfigurationError` for a strategy without a configured gate, an unreadable
    ///   registry or CBC table; the strategy's own errors as they are.
    public func makeAnalyzer(registry: [String: RegistryPatient]? = nil) throws -> SampleAnalyzer {
        let strategyPath = resolve(gating.strategy)
        let strategy = try readStrategy(strategyPath, setting: "$.gating.strategy")
        var instruments: [InstrumentProfile] = []
        for (i, inst) in gating.instruments.enumerated() {
            let path = resolve(inst.strategy)
            instruments.append(
                InstrumentProfile(
                    name: inst.name, cyt: inst.cyt, cytsn: inst.cytsn, channels: inst.channels ?? [],
                    panel: inst.markers.map { Panel(markers: $0) } ?? panel,
                    strategy: try readStrategy(path, setting: "$.gating.instruments[\(i)].strategy"),
                    strategySHA256: try FileHash.sha256(path: path)))
        }
        let settings = AnalysisSettings(
            identity: identity, panel: panel, gating: gating, counting: counting, qc: qc,
            strategySHA256: try FileHash.sha256(path: strategyPath),
            configSHA256: sha256)
        let cbc = counting.method == .dual ? try CBCTable.load(path: resolve(counting.cbc ?? "")) : []
        return try SampleAnalyzer(
            settings: settings, strategy: strategy, registry: registry ?? Registry.load(for: self), cbc: cbc,
            instruments: instruments)
    }
}

extension PipelineConfiguration {
    /// A strategy file read and checked: every configured gate id must be in it.
    func readStrategy(_ path: String, setting: String) throws -> GatingStrategy {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ConfigurationError(path: setting, message: "file \(path) does not exist")
        }
        let strategy: GatingStrategy
        do { strategy = try GatingMLReader.read(path: path) } catch {
            throw ConfigurationError(
                path: setting, message: "\(path) is not a usable Gating-ML 2.0 strategy: \(error.description)")
        }
        for (population, id) in gating.gates.sorted(by: { $0.key < $1.key }) where strategy.gate(id) == nil {
            throw ConfigurationError(
                path: "$.gating.gates.\(population.rawValue)",
                message: "gate \(id) is not in \(path) (its gates: \(strategy.gates.map(\.id).joined(separator: ", ")))"
            )
        }
        return strategy
    }

    /// SHA-256 over everything a stored sample's values depend on besides its file: the
    /// analysis settings (identity, panel, gating with instruments, counting, QC), every strategy
    /// file (their hashes as `analyzer` read them), the registry and the CBC table. A change
    /// re-derives the samples (`run`).
    public func analysisSHA256(_ analyzer: SampleAnalyzer) -> String {
        struct Parts: Encodable {
            var identity: Identity
            var panel: Panel
            var gating: GatingSettings
            var counting: Counting
            var qc: QCLimits
            var files: [String]
        }
        var files = [analyzer.settings.strategySHA256] + analyzer.instruments.map(\.strategySHA256)
        for path in [registry, counting.cbc].compactMap({ $0 }) {
            files.append((try? FileHash.sha256(path: resolve(path))) ?? "missing:" + path)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let parts = Parts(identity: identity, panel: panel, gating: gating, counting: counting, qc: qc, files: files)
        let data = (try? encoder.encode(parts)) ?? Data()
        return SHA256Hasher.hex(of: data)
    }
}

extension PipelineConfiguration {
    /// The lab importer's settings of this configuration: its mapping profiles and FHIR patient
    /// system; with a registry, only its patients are enrolled.
    public func labImportOptions(
        enrolled registry: [String: RegistryPatient] = [:], now: Date = Date()
    ) -> LabImportOptions {
        var options = LabImportOptions()
        options.profiles = labs.profiles
        options.patientIdentifierSystem = labs.patientIdentifierSystem
        options.now = now
        if !registry.isEmpty { options.enrolledPatients = Set(registry.keys) }
        return options
    }
}

/// Reads the patient registry CSV (`patient_id,day0,cycle_starts,dose_miu_per_day`).
public enum Registry {
    /// The configuration's registry (empty when it names none).
    public static func load(for config: PipelineConfiguration) throws(ConfigurationError) -> [String: RegistryPatient] {
        guard let path = config.registry else { return [:] }
        return try load(path: config.resolve(path))
    }

    public static func load(path: String) throws(ConfigurationError) -> [String: RegistryPatient] {
        let table = try CSVFile.read(path: path, setting: "$.registry")
        guard table.header.first == "patient_id", table.header.contains("day0") else {
            throw ConfigurationError(
                path: "$.registry", message: "\(path) must start with the header patient_id,day0,...")
        }
        var out: [String: RegistryPatient] = [:]
        for row in table.rows {
            func col(_ name: String) -> String? { table.value(row, table.column(name)) }
            guard let id = col("patient_id"),
                let d0 = col("day0").flatMap({ LabTimestamp.parseISO($0, requireZone: false) })
            else {
                throw ConfigurationError(
                    path: "$.registry", message: "\(path) line \(row.line): needs a patient id and an ISO day0")
            }
            let cycles = (col("cycle_starts") ?? "").split(separator: ";").compactMap {
                LabTimestamp.parseISO(String($0), requireZone: false)?.localDays
            }
            out[id] = RegistryPatient(
                id: id, day0: d0.localDays, cycleStarts: cycles.isEmpty ? [d0.localDays] : cycles,
                doseMIUPerDay: col("dose_miu_per_day").flatMap(Double.init))
        }
        return out
    }
}

/// Reads the dual-platform CBC CSV (`patient,date,wbc_per_ul,lymphocyte_pct`).
public enum CBCTable {
    public static func load(path: String) throws(ConfigurationError) -> [CBCResult] {
        let table = try CSVFile.read(path: path, setting: "$.counting.cbc")
        var out: [CBCResult] = []
        for row in table.rows where row.fields.count >= 4 {
            let f = row.fields.map(\.trimmed)
            if let d = LabTimestamp.parseISO(f[1], requireZone: false), let w = Double(f[2]), let l = Double(f[3]) {
                out.append(CBCResult(patient: f[0], day: d.localDays, wbcPerMicroliter: w, lymphocytePercent: l))
            }
        }
        return out
    }
}

/// CSV inputs named by the configuration, read through the one CSV reader.
enum CSVFile {
    static func read(path: String, setting: String) throws(ConfigurationError) -> CSVTable {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(path: setting, message: "cannot read \(path)")
        }
        do { return try CSVTable(text: text) } catch {
            throw ConfigurationError(path: setting, message: "\(path): \(error.description)")
        }
    }
}

extension PipelineConfiguration {
    /// The validator of manual gating: the pipeline's analysis, and the FCS files of manual
    /// samples looked up beside a workspace, under `fcs` (folders or files) and under
    /// `inputs.fcs`.
    public func makeValidator(fcs: [String], workspace: String? = nil) throws -> Validator {
        let searched = (workspace.map { [URL(fileURLWithPath: $0).deletingLastPathComponent().path] } ?? []) + fcs
        return Validator(
            settings: validation, analyzer: try makeAnalyzer(), candidates: fcsFiles(searching: searched),
            searchPaths: fcs.map { URL(fileURLWithPath: $0).path } + inputs.fcs.map(resolve))
    }
}
