import CytoModel
import Foundation

/// The keys `pipeline.json` may hold, section by section: the loader refuses any other, naming
/// the closest valid key (`docs/pipeline.schema.json` says the same; a test keeps them equal).
indirect enum ConfigurationKeys: Sendable {
    /// An object with exactly these keys (each optional unless the decoder requires it).
    case object([String: ConfigurationKeys])
    /// An object whose keys are the user's (marker names, lots, test codes), values of one kind.
    case map(ConfigurationKeys)
    /// An object keyed by population (`beads`, `cd4`, ...).
    case populations
    case array(ConfigurationKeys)
    /// A number, string, boolean or list of them.
    case value

    static let profile: ConfigurationKeys = .object([
        "name": .value, "recordPath": .value, "dateFormat": .value, "timeZone": .value, "decimalSeparator": .value,
        "thousandsSeparator": .value, "statusMap": .map(.value), "testCodes": .map(.value),
        "qualifierMap": .map(.value),
        "fields": .object([
            "patient": .value, "specimen": .value, "testCode": .value, "collected": .value, "resulted": .value,
            "result": .value, "qualifier": .value, "unit": .value, "status": .value, "analyzer": .value,
            "assay": .value, "resultID": .value, "lod": .value, "lloq": .value, "uloq": .value,
        ]),
        "constants": .object([
            "testCode": .value, "unit": .value, "assay": .value, "analyzer": .value, "status": .value,
        ]),
        "limits": .object(["lod": .value, "lloq": .value, "uloq": .value, "iuPerCopy": .value]),
        "analyzers": .map(
            .object(["name": .value, "lod": .value, "lloq": .value, "uloq": .value, "iuPerCopy": .value])),
    ])

    static let root: ConfigurationKeys = .object([
        "version": .value,
        "inputs": .object(["fcs": .value, "labs": .value, "exclude": .value]),
        "identity": .object([
            "patientKeyword": .value, "fileNamePattern": .value, "dateKeyword": .value, "timeKeyword": .value,
        ]),
        "registry": .value,
        "panel": .object(["markers": .map(.value)]),
        "gating": .object([
            "mode": .value, "strategy": .value, "gates": .populations, "minConfidence": .value,
            "instruments": .array(
                .object([
                    "name": .value, "cyt": .value, "cytsn": .value, "channels": .value, "strategy": .value,
                    "markers": .map(.value),
                ])),
        ]),
        "counting": .object([
            "method": .value, "beadsPerTubeKeyword": .value, "beadLotKeyword": .value, "beadLots": .map(.value),
            "bloodVolumeKeyword": .value, "bloodVolumeMicroliters": .value, "cbc": .value,
        ]),
        "qc": .object([
            "minLymphocytes": .value, "minBeads": .value, "maxCD4CountingCV": .value, "tCellSumTolerance": .value,
            "maxAbsolute": .value,
        ]),
        "records": .object([
            "monthDays": .value, "baselineFromDay": .value, "baselineToDay": .value, "baselineRule": .value,
            "infusionDays": .value, "periInfusionExtraDays": .value, "responderFactor": .value,
            "stratumThreshold": .value,
        ]),
        "labs": .object(["patientIdentifierSystem": .value, "profiles": .array(profile)]),
        "store": .object([
            "sqlite": .value,
            "postgres": .object([
                "host": .value, "port": .value, "database": .value, "user": .value, "sslmode": .value,
                "sslrootcert": .value, "passwordFile": .value, "connectTimeoutSeconds": .value,
            ]),
        ]),
        "validation": .object([
            "percentPoints": .value, "absoluteRelative": .value, "absoluteLowCells": .value, "lowAbsolute": .value,
            "flowjo": .populations,
        ]),
    ])

    /// Every unknown key under `json`, as configuration errors naming the closest valid key.
    func check(_ json: Any, path: String = "$") -> [ConfigurationError] {
        switch self {
        case .value:
            return []
        case .array(let element):
            guard let list = json as? [Any] else { return [] }  // the decoder reports wrong types
            return list.enumerated().flatMap { element.check($0.element, path: "\(path)[\($0.offset)]") }
        case .map(let value):
            guard let object = json as? [String: Any] else { return [] }
            return object.keys.sorted().flatMap { value.check(object[$0]!, path: "\(path).\($0)") }
        case .populations:
            guard let object = json as? [String: Any] else { return [] }
            let valid = Population.allCases.map(\.rawValue)
            return object.keys.sorted().filter { Population(rawValue: $0) == nil }.map {
                ConfigurationError(path: "\(path).\($0)", message: Self.unknown($0, valid: valid))
            }
        case .object(let keys):
            guard let object = json as? [String: Any] else { return [] }
            var out: [ConfigurationError] = []
            for key in object.keys.sorted() {
                if let spec = keys[key] {
                    out += spec.check(object[key]!, path: "\(path).\(key)")
                } else {
                    out.append(
                        ConfigurationError(path: "\(path).\(key)", message: Self.unknown(key, valid: Array(keys.keys))))
                }
            }
            return out
        }
    }

    static func unknown(_ key: String, valid: [String]) -> String {
        let closest = valid.min {
            distance(key, $0) < distance(key, $1) || (distance(key, $0) == distance(key, $1) && $0 < $1)
        }
        let hint = closest.map { distance(key, $0) <= max(2, $0.count / 3) ? "did you mean \($0)? " : "" } ?? ""
        return "unknown key; \(hint)valid keys here: \(valid.sorted().joined(separator: ", "))"
    }

    /// Levenshtein distance, case-insensitive.
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a.lowercased()), y = Array(b.lowercased())
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var previous = Array(0...y.count)
        for i in 1...x.count {
            var current = [i] + Array(repeating: 0, count: y.count)
            for j in 1...y.count {
                current[j] = Swift.min(
                    previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[y.count]
    }
}
