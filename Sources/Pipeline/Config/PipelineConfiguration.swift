import Foundation

/// A configuration error naming the JSON path and what is wrong.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "configuration \(path): \(message)" }
}

/// `pipeline.json`: what the main job reads, how it identifies samples, gates them, counts
/// cells and builds monthly records (JSON Schema: `docs/pipeline.schema.json`).
public struct PipelineConfiguration: Sendable, Codable {
    public static let currentVersion = 1

    public struct Inputs: Sendable, Codable {
        /// FCS folders or files (`.fcs`, `.lmd`, `.fcs.gz`).
        public var fcs: [String] = []
        /// Lab XML folders or files (`.xml`, `.xml.gz`).
        public var labs: [String] = []
    }

    /// Where the patient id and collection date come from.
    public struct Identity: Sendable, Codable {
        /// FCS keyword holding the patient id (e.g. `$SRC` or a custom keyword).
        public var patientKeyword: String?
        /// Regular expression on the file name with a capture group named `patient`.
        public var fileNamePattern: String?
        /// FCS keyword with the collection date (`$DATE`, dd-MMM-yyyy or yyyy-mm-dd).
        public var dateKeyword: String = "$DATE"
        public var timeKeyword: String? = "$BTIM"
    }

    /// Marker -> channel: patterns matched against `$PnN` and `$PnS` (`*` wildcard).
    public struct Panel: Sendable, Codable {
        public var markers: [String: [String]] = [:]
    }

    public struct Gating: Sendable, Codable {
        /// `template` (the strategy as written) or `adaptive`.
        public var mode: String = "template"
        /// Gating-ML 2.0 file.
        public var strategy: String
        /// Gate ids: beads, lymphocytes, cd3, cd4, cd8, cd8Hladr, cd4Cd25.
        public var gates: [String: String]
        /// Adaptive gates less confident than this fall back to the template's (flagged).
        public var minConfidence: Double = 0.5
    }

    /// Absolute counting.
    public struct Counting: Sendable, Codable {
        /// `beads` (single platform) or `dual` (CBC WBC and lymphocyte %).
        public var method: String = "beads"
        public var beadsPerTubeKeyword: String? = "BEADS PER TUBE"
        public var beadLotKeyword: String? = "BEAD LOT"
        /// Lot -> beads per tube (TruCOUNT pouch labels); takes precedence over the keyword.
        public var beadLots: [String: Double] = [:]
        public var bloodVolumeKeyword: String? = "BLOOD VOLUME UL"
        public var bloodVolumeMicroliters: Double = 50
        /// Dual platform: CSV with patient, date, wbc_per_ul, lymphocyte_pct.
        public var cbc: String?
    }

    public struct QC: Sendable, Codable {
        public var minLymphocytes: Int = 2500
        public var minBeads: Int = 1000
        /// CD4 T counting CV (1/sqrt(n)) above this is flagged.
        public var maxCD4CountingCV: Double = 0.10
        /// |%CD4T + %CD8T - %CD3| above this (points) is flagged.
        public var tCellSumTolerance: Double = 10
        public var maxAbsolute: Double = 5000
    }

    public struct Records: Sendable, Codable {
        public var monthDays: Double = 28
        public var baselineFromDay: Int = -42
        public var baselineToDay: Int = 0
        /// `meanOfLastTwo` or `last`.
        public var baselineRule: String = "meanOfLastTwo"
        public var infusionDays: Int = 5
        public var periInfusionExtraDays: Int = 2
        public var responderFactor: Double = 1.5
        public var stratumThreshold: Double = 200
    }

    public struct Store: Sendable, Codable {
        public var sqlite: String = "cytoingest.sqlite"
    }

    /// Validation against manual gating (`cytoingest validate`).
    public struct Validation: Sendable, Codable {
        /// Largest |automated - manual| percentage, in points.
        public var percentPoints: Double = 2
        /// Largest |automated - manual| absolute count, relative to manual.
        public var absoluteRelative: Double = 0.10
        /// Below `lowAbsolute` cells/uL, the absolute tolerance is this many cells/uL instead.
        public var absoluteLowCells: Double = 20
        public var lowAbsolute: Double = 200
        /// FlowJo gate paths (`Lymphocytes/CD3/CD4`) of the pipeline's populations (keys as in
        /// gating.gates: beads, lymphocytes, cd3, cd4, cd8, cd8Hladr, cd4Cd25).
        public var flowjo: [String: String] = [:]
    }

    public var version: Int
    public var inputs: Inputs
    public var identity: Identity
    /// Patient registry CSV: patient_id, day0, cycle_starts (;-separated), dose_miu_per_day.
    public var registry: String?
    public var panel: Panel = Panel()
    public var gating: Gating
    public var counting: Counting = Counting()
    public var qc: QC = QC()
    public var records: Records = Records()
    public var labs: LabsConfiguration = LabsConfiguration()
    public var store: Store = Store()
    public var validation: Validation = Validation()

    /// The folder relative paths are resolved against (the configuration's folder).
    public var baseDirectory: URL = URL(fileURLWithPath: ".")

    enum CodingKeys: String, CodingKey {
        case version, inputs, identity, registry, panel, gating, counting, qc, records, labs, store, validation
    }

    public func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : baseDirectory.appendingPathComponent(path).path
    }

    static let requiredGates = ["beads", "lymphocytes", "cd3", "cd4", "cd8", "cd8Hladr", "cd4Cd25"]

    /// Loads and validates a configuration file.
    public static func load(path: String) throws(ConfigurationError) -> PipelineConfiguration {
        let url = URL(fileURLWithPath: path)
        guard let data = try? Data(contentsOf: url) else {
            throw ConfigurationError(path: "$", message: "cannot read \(path)")
        }
        var c = try decode(data)
        c.baseDirectory = url.deletingLastPathComponent()
        try c.validate()
        return c
    }

    /// Section defaults, merged under the file's values so that omitted settings keep them.
    static func defaults() -> [String: Any] {
        func dict<T: Encodable>(_ v: T) -> Any {
            (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(v))) ?? [:]
        }
        return [
            "inputs": dict(Inputs()), "identity": ["dateKeyword": "$DATE", "timeKeyword": "$BTIM"], "panel": dict(Panel()),
            "gating": ["mode": "template", "minConfidence": 0.5], "counting": dict(Counting()), "qc": dict(QC()), "records": dict(Records()), "labs": dict(LabsConfiguration()), "store": dict(Store()),
            "validation": dict(Validation()),
        ]
    }

    static func merge(_ base: [String: Any], _ over: [String: Any]) -> [String: Any] {
        var out = base
        for (k, v) in over {
            if let b = base[k] as? [String: Any], let o = v as? [String: Any] { out[k] = merge(b, o) } else { out[k] = v }
        }
        return out
    }

    static func decode(_ data: Data) throws(ConfigurationError) -> PipelineConfiguration {
        do {
            guard let user = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ConfigurationError(path: "$", message: "must be a JSON object")
            }
            let merged = try JSONSerialization.data(withJSONObject: merge(defaults(), user))
            return try JSONDecoder().decode(PipelineConfiguration.self, from: merged)
        } catch let e as ConfigurationError {
            throw e
        } catch let e as DecodingError {
            func path(_ keys: [any CodingKey]) -> String {
                "$" + keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            }
            switch e {
            case .keyNotFound(let key, let ctx): throw ConfigurationError(path: path(ctx.codingPath + [key]), message: "is required")
            case .typeMismatch(let type, let ctx): throw ConfigurationError(path: path(ctx.codingPath), message: "must be \(type)")
            case .valueNotFound(let type, let ctx): throw ConfigurationError(path: path(ctx.codingPath), message: "must be a \(type), not null")
            case .dataCorrupted(let ctx): throw ConfigurationError(path: path(ctx.codingPath), message: ctx.debugDescription)
            @unknown default: throw ConfigurationError(path: "$", message: "\(e)")
            }
        } catch {
            throw ConfigurationError(path: "$", message: "\(error)")
        }
    }

    func validate() throws(ConfigurationError) {
        guard version == Self.currentVersion else {
            throw ConfigurationError(path: "$.version", message: "must be \(Self.currentVersion) (this program's configuration version)")
        }
        if identity.patientKeyword == nil && identity.fileNamePattern == nil {
            throw ConfigurationError(path: "$.identity", message: "needs patientKeyword or fileNamePattern")
        }
        if let p = identity.fileNamePattern {
            guard let re = try? NSRegularExpression(pattern: p), re.numberOfCaptureGroups >= 1, p.contains("?<patient>") else {
                throw ConfigurationError(path: "$.identity.fileNamePattern", message: "must be a regular expression with a (?<patient>...) group")
            }
        }
        guard ["template", "adaptive"].contains(gating.mode) else {
            throw ConfigurationError(path: "$.gating.mode", message: "must be template or adaptive")
        }
        for g in Self.requiredGates where gating.gates[g] == nil {
            throw ConfigurationError(path: "$.gating.gates.\(g)", message: "is required (the gate id that means \(g))")
        }
        guard FileManager.default.fileExists(atPath: resolve(gating.strategy)) else {
            throw ConfigurationError(path: "$.gating.strategy", message: "file \(gating.strategy) does not exist")
        }
        guard ["beads", "dual"].contains(counting.method) else {
            throw ConfigurationError(path: "$.counting.method", message: "must be beads or dual")
        }
        if counting.method == "dual" && counting.cbc == nil {
            throw ConfigurationError(path: "$.counting.cbc", message: "is required for dual-platform counting")
        }
        guard counting.bloodVolumeMicroliters > 0 else {
            throw ConfigurationError(path: "$.counting.bloodVolumeMicroliters", message: "must be positive")
        }
        guard records.monthDays > 0, records.baselineFromDay <= records.baselineToDay, ["meanOfLastTwo", "last"].contains(records.baselineRule) else {
            throw ConfigurationError(path: "$.records", message: "monthDays > 0, baselineFromDay <= baselineToDay, baselineRule meanOfLastTwo or last")
        }
        if let r = registry, !FileManager.default.fileExists(atPath: resolve(r)) {
            throw ConfigurationError(path: "$.registry", message: "file \(r) does not exist")
        }
        let v = validation
        guard v.percentPoints >= 0, v.absoluteRelative >= 0, v.absoluteLowCells >= 0, v.lowAbsolute >= 0 else {
            throw ConfigurationError(path: "$.validation", message: "tolerances must be non-negative")
        }
        for key in v.flowjo.keys where !Self.requiredGates.contains(key) {
            throw ConfigurationError(path: "$.validation.flowjo.\(key)", message: "must be one of \(Self.requiredGates.joined(separator: ", "))")
        }
        for (i, p) in labs.profiles.enumerated() {
            do { try p.validate() } catch { throw ConfigurationError(path: "$.labs.profiles[\(i)]", message: error.message) }
        }
    }
}
