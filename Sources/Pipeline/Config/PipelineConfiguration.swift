import Analysis
import CytoModel
import Foundation
import Labs
import Records
import Review
import Store

/// A configuration error naming the JSON path and what is wrong.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { "configuration \(path): \(message)" }

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
}

/// Several configuration errors, each on its own line.
public struct ConfigurationProblems: Error, Sendable, CustomStringConvertible {
    public var errors: [ConfigurationError]
    public var description: String { errors.map(\.description).joined(separator: "\n") }

    public init(errors: [ConfigurationError]) {
        self.errors = errors
    }
}

/// `pipeline.json`: what the main job reads, how it identifies samples, gates them, counts
/// cells and builds monthly records (JSON Schema: `docs/pipeline.schema.json`).
public struct PipelineConfiguration: Sendable, Codable {
    public static let currentVersion = 1

    public struct Inputs: Sendable, Codable, Hashable {
        /// FCS folders or files (`.fcs`, `.lmd`, `.fcs.gz`).
        public var fcs: [String] = []
        /// Lab XML folders or files (`.xml`, `.xml.gz`).
        public var labs: [String] = []
        /// Patterns of files to leave out (`**` spans folders; matched against the path relative
        /// to the configuration's folder and against the file name).
        public var exclude: [String] = []
    }

    /// The SQLite file (default), or a PostgreSQL database (`postgres`); not both.
    public struct Store: Sendable, Codable, Hashable {
        public var sqlite: String = "cytoingest.sqlite"
        public var postgres: PostgresSettings?
    }

    /// Where the configured store is (relative paths from the configuration's folder).
    public var storeLocation: StoreLocation {
        guard var p = store.postgres else { return .sqlite(path: resolve(store.sqlite)) }
        p.passwordFile = p.passwordFile.map(resolve)
        p.sslrootcert = p.sslrootcert.map(resolve)
        return .postgres(p)
    }

    public var version: Int
    public var inputs: Inputs
    public var identity: Identity
    /// Patient registry CSV: patient_id, day0, cycle_starts (;-separated), dose_miu_per_day.
    public var registry: String?
    public var panel: Panel = Panel()
    public var gating: GatingSettings
    public var counting: Counting = Counting()
    public var qc: QCLimits = QCLimits()
    public var records: RecordRules = RecordRules()
    public var labs: LabsConfiguration = LabsConfiguration()
    public var store: Store = Store()
    public var validation: ValidationSettings = ValidationSettings()

    /// The folder relative paths are resolved against (the configuration's folder).
    public var baseDirectory: URL = URL(fileURLWithPath: ".")

    enum CodingKeys: String, CodingKey {
        case version, inputs, identity, registry, panel, gating, counting, qc, records, labs, store, validation
    }

    public func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : baseDirectory.appendingPathComponent(path).path
    }

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
            "inputs": dict(Inputs()), "identity": ["dateKeyword": "$DATE", "timeKeyword": "$BTIM"],
            "panel": dict(Panel()),
            "gating": ["mode": "template", "minConfidence": 0.5, "instruments": [Any]()], "counting": dict(Counting()),
            "qc": dict(QCLimits()),
            "records": dict(RecordRules()),
            "labs": dict(LabsConfiguration()), "store": dict(Store()), "validation": dict(ValidationSettings()),
        ]
    }

    static func merge(_ base: [String: Any], _ over: [String: Any]) -> [String: Any] {
        var out = base
        for (k, v) in over {
            if let b = base[k] as? [String: Any], let o = v as? [String: Any] {
                out[k] = merge(b, o)
            } else {
                out[k] = v
            }
        }
        return out
    }

    static func decode(_ data: Data) throws(ConfigurationError) -> PipelineConfiguration {
        do {
            guard let user = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ConfigurationError(path: "$", message: "must be a JSON object")
            }
            // Strict: an unknown key is an error (the first, in key order), never ignored.
            if let unknown = ConfigurationKeys.root.check(user).first { throw unknown }
            if let store = user["store"] as? [String: Any], store["sqlite"] != nil, store["postgres"] != nil {
                throw ConfigurationError(
                    path: "$.store", message: "names both sqlite and postgres: keep the one store this job writes to")
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
            case .keyNotFound(let key, let ctx):
                throw ConfigurationError(path: path(ctx.codingPath + [key]), message: "is required")
            case .typeMismatch(let type, let ctx):
                throw ConfigurationError(path: path(ctx.codingPath), message: "must be \(type)")
            case .valueNotFound(let type, let ctx):
                throw ConfigurationError(path: path(ctx.codingPath), message: "must be a \(type), not null")
            case .dataCorrupted(let ctx):
                // An enumeration's unknown value: say which values there are.
                var key = ctx.codingPath.last?.stringValue
                // Maps keyed by the user (qualifier, status, test codes): name the map.
                if let k = ctx.codingPath.dropLast().last?.stringValue,
                    ["qualifierMap", "statusMap", "testCodes"].contains(k)
                {
                    key = k
                }
                let choices: [String: [String]] = [
                    "mode": GatingMode.allCases.map(\.rawValue), "method": CountingMethod.allCases.map(\.rawValue),
                    "baselineRule": BaselineRule.allCases.map(\.rawValue), "gates": Population.allCases.map(\.rawValue),
                    "flowjo": Population.allCases.map(\.rawValue),
                    "qualifierMap": ["quantified", "below_limit", "above_limit", "not_detected", "failed"],
                    "statusMap": ["preliminary", "final", "corrected", "amended", "cancelled", "entered-in-error"],
                    "testCodes": MappingProfile.TestKind.allCases.map(\.rawValue),
                    "sslmode": PostgresSettings.SSLMode.allCases.map(\.rawValue),
                ]
                if let key, let values = choices[key] {
                    throw ConfigurationError(
                        path: path(ctx.codingPath), message: "must be one of \(values.joined(separator: ", "))")
                }
                throw ConfigurationError(path: path(ctx.codingPath), message: ctx.debugDescription)
            @unknown default: throw ConfigurationError(path: "$", message: "\(e)")
            }
        } catch let e as NSError where e.domain == NSCocoaErrorDomain {
            // JSONSerialization: not JSON. Say where, without Foundation's error text.
            let index = (e.userInfo["NSJSONSerializationErrorIndex"] as? Int).map { " near byte \($0)" } ?? ""
            throw ConfigurationError(path: "$", message: "is not valid JSON\(index)")
        } catch {
            throw ConfigurationError(path: "$", message: "\(error)")
        }
    }

    func validate() throws(ConfigurationError) {
        if let p = store.postgres {
            do { try p.validate() } catch {
                throw ConfigurationError(path: "$.store.postgres", message: "\(error)")
            }
        }
        guard version == Self.currentVersion else {
            throw ConfigurationError(
                path: "$.version", message: "must be \(Self.currentVersion) (this program's configuration version)")
        }
        if identity.patientKeyword == nil && identity.fileNamePattern == nil {
            throw ConfigurationError(path: "$.identity", message: "needs patientKeyword or fileNamePattern")
        }
        if let p = identity.fileNamePattern {
            guard let re = try? NSRegularExpression(pattern: p), re.numberOfCaptureGroups >= 1, p.contains("?<patient>")
            else {
                throw ConfigurationError(
                    path: "$.identity.fileNamePattern",
                    message: "must be a regular expression with a (?<patient>...) group")
            }
        }
        for p in Population.allCases where gating.gates[p] == nil {
            throw ConfigurationError(
                path: "$.gating.gates.\(p.rawValue)", message: "is required (the gate id that means \(p.rawValue))")
        }
        guard FileManager.default.fileExists(atPath: resolve(gating.strategy)) else {
            throw ConfigurationError(path: "$.gating.strategy", message: "file \(gating.strategy) does not exist")
        }
        var names = Set<String>()
        for (i, inst) in gating.instruments.enumerated() {
            guard !inst.name.isEmpty, names.insert(inst.name).inserted, inst.name != "default" else {
                throw ConfigurationError(
                    path: "$.gating.instruments[\(i)].name",
                    message: "must be a non-empty name, unique, other than default")
            }
            guard inst.cyt != nil || inst.cytsn != nil || !(inst.channels ?? []).isEmpty else {
                throw ConfigurationError(
                    path: "$.gating.instruments[\(i)]", message: "needs cyt, cytsn or channels to recognise its files")
            }
            guard FileManager.default.fileExists(atPath: resolve(inst.strategy)) else {
                throw ConfigurationError(
                    path: "$.gating.instruments[\(i)].strategy", message: "file \(inst.strategy) does not exist")
            }
        }
        if counting.method == .dual && counting.cbc == nil {
            throw ConfigurationError(path: "$.counting.cbc", message: "is required for dual-platform counting")
        }
        guard counting.bloodVolumeMicroliters > 0 else {
            throw ConfigurationError(path: "$.counting.bloodVolumeMicroliters", message: "must be positive")
        }
        guard records.monthDays > 0, records.baselineFromDay <= records.baselineToDay else {
            throw ConfigurationError(path: "$.records", message: "monthDays > 0, baselineFromDay <= baselineToDay")
        }
        if let r = registry, !FileManager.default.fileExists(atPath: resolve(r)) {
            throw ConfigurationError(path: "$.registry", message: "file \(r) does not exist")
        }
        let v = validation
        guard v.percentPoints >= 0, v.absoluteRelative >= 0, v.absoluteLowCells >= 0, v.lowAbsolute >= 0 else {
            throw ConfigurationError(path: "$.validation", message: "tolerances must be non-negative")
        }
        var roots: [String: Int] = [:]
        for (i, p) in labs.profiles.enumerated() {
            do { try p.validate() } catch {
                throw ConfigurationError(path: "$.labs.profiles[\(i)]", message: error.message)
            }
            // A file is matched to its profile by the root element: two profiles on one root
            // would be an ambiguous mapping.
            if let other = roots.updateValue(i, forKey: p.rootElement) {
                throw ConfigurationError(
                    path: "$.labs.profiles[\(i)].recordPath",
                    message:
                        "root element \(p.rootElement) is also profiles[\(other)]'s: a file could map either way; merge them or keep one"
                )
            }
        }
    }
}
