/// A patient of the registry: day 0 (first IL-2 infusion), cycle starts and dose.
public struct RegistryPatient: Sendable, Hashable, Codable {
    public var id: String
    public var day0: Int
    public var cycleStarts: [Int]
    public var doseMIUPerDay: Double?

    public init(id: String, day0: Int, cycleStarts: [Int], doseMIUPerDay: Double? = nil) {
        self.id = id
        self.day0 = day0
        self.cycleStarts = cycleStarts
        self.doseMIUPerDay = doseMIUPerDay
    }
}

/// The derived values of one FCS file (domain.md section 6), with the counts behind them and
/// the provenance of the computation (program, configuration and strategy hashes).
public struct SampleResult: Sendable, Hashable, Codable {
    public var file: String
    public var sha256: String
    public var patient: String
    public var collectedDays: Int
    public var collected: String
    public var events: Int
    public var beadEvents: Int
    public var lymphocyteEvents: Int
    public var cd3Events: Int
    public var cd4Events: Int
    public var cd8Events: Int
    public var cd8HladrEvents: Int
    public var cd4Cd25Events: Int
    public var cd4Abs: Double?
    public var cd8Abs: Double?
    public var cd4Pct: Double
    public var cd8Pct: Double
    public var cd3Pct: Double
    public var cd4cd8Ratio: Double?
    public var cd8HladrPct: Double?
    public var cd4Cd25Pct: Double?
    public var method: CountingMethod
    public var qcFlags: [QCFlag]
    public var warnings: [String]
    /// SHA-256 of the Gating-ML strategy file the file was gated with.
    public var strategySHA256: String
    /// SHA-256 of the canonical configuration (`PipelineConfiguration.canonicalJSON`).
    public var configSHA256: String
    public var programVersion: String
    /// How the file was gated.
    public var gating: GatingMode = .template
    /// The instrument profile (`gating.instruments`) the file was read with; `default` otherwise.
    public var instrument: String = "default"
    /// The gates applied to the file as Gating-ML 2.0 (adaptive gating).
    public var appliedGatingML: String? = nil

    /// The event count of a population.
    public func events(_ p: Population) -> Int {
        switch p {
        case .beads: beadEvents
        case .lymphocytes: lymphocyteEvents
        case .cd3: cd3Events
        case .cd4: cd4Events
        case .cd8: cd8Events
        case .cd8Hladr: cd8HladrEvents
        case .cd4Cd25: cd4Cd25Events
        }
    }

    /// The percentage of a population of its parent (nil for beads and lymphocytes).
    public func percent(_ p: Population) -> Double? {
        switch p {
        case .cd3: cd3Pct
        case .cd4: cd4Pct
        case .cd8: cd8Pct
        case .cd8Hladr: cd8HladrPct
        case .cd4Cd25: cd4Cd25Pct
        case .beads, .lymphocytes: nil
        }
    }

    /// Cells/uL of a population that has an absolute count.
    public func absolute(_ p: Population) -> Double? {
        switch p {
        case .cd4: cd4Abs
        case .cd8: cd8Abs
        default: nil
        }
    }

    public init(
        file: String, sha256: String, patient: String, collectedDays: Int, collected: String, events: Int,
        beadEvents: Int, lymphocyteEvents: Int, cd3Events: Int, cd4Events: Int, cd8Events: Int, cd8HladrEvents: Int,
        cd4Cd25Events: Int, cd4Abs: Double? = nil, cd8Abs: Double? = nil, cd4Pct: Double, cd8Pct: Double,
        cd3Pct: Double, cd4cd8Ratio: Double? = nil, cd8HladrPct: Double? = nil, cd4Cd25Pct: Double? = nil,
        method: CountingMethod, qcFlags: [QCFlag], warnings: [String], strategySHA256: String, configSHA256: String,
        programVersion: String, gating: GatingMode = .template, instrument: String = "default",
        appliedGatingML: String? = nil
    ) {
        self.file = file
        self.sha256 = sha256
        self.patient = patient
        self.collectedDays = collectedDays
        self.collected = collected
        self.events = events
        self.beadEvents = beadEvents
        self.lymphocyteEvents = lymphocyteEvents
        self.cd3Events = cd3Events
        self.cd4Events = cd4Events
        self.cd8Events = cd8Events
        self.cd8HladrEvents = cd8HladrEvents
        self.cd4Cd25Events = cd4Cd25Events
        self.cd4Abs = cd4Abs
        self.cd8Abs = cd8Abs
        self.cd4Pct = cd4Pct
        self.cd8Pct = cd8Pct
        self.cd3Pct = cd3Pct
        self.cd4cd8Ratio = cd4cd8Ratio
        self.cd8HladrPct = cd8HladrPct
        self.cd4Cd25Pct = cd4Cd25Pct
        self.method = method
        self.qcFlags = qcFlags
        self.warnings = warnings
        self.strategySHA256 = strategySHA256
        self.configSHA256 = configSHA256
        self.programVersion = programVersion
        self.gating = gating
        self.instrument = instrument
        self.appliedGatingML = appliedGatingML
    }
}

/// A file the pipeline could not use, with its code (never a patient id in the message).
public struct SampleRejection: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public var code: RejectionCode
    public var message: String
    /// The patient and collection day when the file named them before it was rejected (so a
    /// monthly record can say "file rejected" rather than "not collected"). Never in messages.
    public var patient: String?
    public var collectedDays: Int?
    public var description: String { "\(message) [\(code)]" }

    public init(code: RejectionCode, message: String, patient: String? = nil, collectedDays: Int? = nil) {
        self.code = code
        self.message = message
        self.patient = patient
        self.collectedDays = collectedDays
    }
}
