/// The populations the pipeline counts: the keys of `gating.gates` and `validation.flowjo`, the
/// manual-results vocabulary, the adaptive gates' identities and the derivations' inputs, with
/// the parent their percentage is of (domain.md section 6).
public enum Population: String, Sendable, Hashable, Codable, CaseIterable, Comparable, CodingKeyRepresentable {
    case beads, lymphocytes, cd3, cd4, cd8, cd8Hladr, cd4Cd25

    /// The population whose count is the denominator of this one's percentage.
    public var parent: Population? {
        switch self {
        case .beads, .lymphocytes: nil
        case .cd3, .cd4, .cd8: .lymphocytes
        case .cd8Hladr: .cd8
        case .cd4Cd25: .cd4
        }
    }

    /// Populations that have an absolute count (cells/uL) in the pipeline.
    public var hasAbsolute: Bool { self == .cd4 || self == .cd8 }

    public var label: String {
        switch self {
        case .beads: "Beads"
        case .lymphocytes: "Lymphocytes"
        case .cd3: "CD3+ (% lymphocytes)"
        case .cd4: "CD4+ T (% lymphocytes)"
        case .cd8: "CD8+ T (% lymphocytes)"
        case .cd8Hladr: "HLA-DR+ (% CD8 T)"
        case .cd4Cd25: "CD25+ (% CD4 T)"
        }
    }

    /// Accepts the key and its label's usual spellings (`CD4+`, `CD8+HLA-DR+`, `CD4/CD25+`, ...).
    public init?(name: String) {
        let k = name.lowercased().filter { $0.isLetter || $0.isNumber }
        switch k {
        case "beads", "bead", "countingbeads": self = .beads
        case "lymphocytes", "lymphocyte", "lymphs", "lymph": self = .lymphocytes
        case "cd3", "cd3t", "tcells": self = .cd3
        case "cd4", "cd4t", "cd3cd4": self = .cd4
        case "cd8", "cd8t", "cd3cd8": self = .cd8
        case "cd8hladr", "cd8thladr", "hladrcd8", "hladr": self = .cd8Hladr
        case "cd4cd25", "cd4tcd25", "cd25cd4", "cd25": self = .cd4Cd25
        default: return nil
        }
    }

    public static func < (a: Population, b: Population) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// How files are gated (`gating.mode`).
public enum GatingMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// The configured Gating-ML strategy as written.
    case template
    /// Gates found in each file (Analysis/Adaptive), the template's where unsure.
    case adaptive
}

/// How absolute counts are made (`counting.method`).
public enum CountingMethod: String, Sendable, Hashable, Codable, CaseIterable {
    /// Single platform: counting beads of known number per tube.
    case beads
    /// Dual platform: CBC white cell count x lymphocyte % x population %.
    case dual

    /// The wording on results and records.
    public var label: String {
        switch self {
        case .beads: "single-platform beads"
        case .dual: "dual-platform"
        }
    }

    /// Reads a method or its label (stores written before typed columns hold labels).
    public init?(label: String) {
        if let m = CountingMethod(rawValue: label) {
            self = m
        } else if let m = CountingMethod.allCases.first(where: { $0.label == label }) {
            self = m
        } else {
            return nil
        }
    }
}

/// How the baseline value is taken from the baseline window (`records.baselineRule`).
public enum BaselineRule: String, Sendable, Hashable, Codable, CaseIterable {
    /// The mean of the last two values in the window (one when there is one).
    case meanOfLastTwo
    /// The last value in the window.
    case last
}

/// What the store knows of an FCS input file.
public enum FileStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case ingested, rejected, missing
    /// The same content as another stored file (not counted twice).
    case duplicate
}

/// What the store knows of a lab input file.
public enum LabFileStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case accepted, partial, rejected, missing
}
