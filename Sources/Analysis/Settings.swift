import CytoModel

/// Where the patient id and collection date come from (`identity`).
public struct Identity: Sendable, Codable, Hashable {
    /// FCS keyword holding the patient id (e.g. `$SRC` or a custom keyword).
    public var patientKeyword: String?
    /// Regular expression on the file name with a capture group named `patient`.
    public var fileNamePattern: String?
    /// FCS keyword with the collection date (`$DATE`, dd-MMM-yyyy or yyyy-mm-dd).
    public var dateKeyword: String = "$DATE"
    public var timeKeyword: String? = "$BTIM"

    public init(
        patientKeyword: String? = nil, fileNamePattern: String? = nil, dateKeyword: String = "$DATE",
        timeKeyword: String? = "$BTIM"
    ) {
        self.patientKeyword = patientKeyword
        self.fileNamePattern = fileNamePattern
        self.dateKeyword = dateKeyword
        self.timeKeyword = timeKeyword
    }
}

/// Marker -> channel: patterns matched against `$PnN` and `$PnS` (`*` wildcard) (`panel`).
public struct Panel: Sendable, Codable, Hashable {
    public var markers: [String: [String]] = [:]

    public init(markers: [String: [String]] = [:]) {
        self.markers = markers
    }
}

/// How files are gated (`gating`).
public struct GatingSettings: Sendable, Codable, Hashable {
    public var mode: GatingMode = .template
    /// The Gating-ML 2.0 file, as configured (the analyzer is given the strategy read from it).
    public var strategy: String
    /// The strategy's gate id of each population.
    public var gates: [Population: String]
    /// Adaptive gates less confident than this fall back to the template's (flagged).
    public var minConfidence: Double = 0.5
    /// Other instruments' strategies and panels, chosen per file (the first that matches).
    public var instruments: [InstrumentSettings] = []

    public init(
        mode: GatingMode = .template, strategy: String, gates: [Population: String], minConfidence: Double = 0.5
    ) {
        self.mode = mode
        self.strategy = strategy
        self.gates = gates
        self.minConfidence = minConfidence
    }
}

/// One instrument of `gating.instruments`: how its files are recognised, and the strategy and
/// marker patterns they are read with (the configuration's `panel` when it names none).
public struct InstrumentSettings: Sendable, Codable, Hashable {
    public var name: String
    /// Wildcard patterns on `$CYT` and `$CYTSN`; `$PnN`s the file must have.
    public var cyt: String?
    public var cytsn: String?
    public var channels: [String]?
    /// Gating-ML 2.0 file (relative to the configuration's folder).
    public var strategy: String
    public var markers: [String: [String]]?
}

/// Absolute counting (`counting`).
public struct Counting: Sendable, Codable, Hashable {
    public var method: CountingMethod = .beads
    public var beadsPerTubeKeyword: String? = "BEADS PER TUBE"
    public var beadLotKeyword: String? = "BEAD LOT"
    /// Lot -> beads per tube (TruCOUNT pouch labels); takes precedence over the keyword.
    public var beadLots: [String: Double] = [:]
    public var bloodVolumeKeyword: String? = "BLOOD VOLUME UL"
    public var bloodVolumeMicroliters: Double = 50
    /// Dual platform: CSV with patient, date, wbc_per_ul, lymphocyte_pct.
    public var cbc: String?

    public init(
        method: CountingMethod = .beads, beadsPerTubeKeyword: String? = "BEADS PER TUBE",
        beadLotKeyword: String? = "BEAD LOT", beadLots: [String: Double] = [:],
        bloodVolumeKeyword: String? = "BLOOD VOLUME UL", bloodVolumeMicroliters: Double = 50, cbc: String? = nil
    ) {
        self.method = method
        self.beadsPerTubeKeyword = beadsPerTubeKeyword
        self.beadLotKeyword = beadLotKeyword
        self.beadLots = beadLots
        self.bloodVolumeKeyword = bloodVolumeKeyword
        self.bloodVolumeMicroliters = bloodVolumeMicroliters
        self.cbc = cbc
    }
}

/// Quality-control limits (`qc`).
public struct QCLimits: Sendable, Codable, Hashable {
    public var minLymphocytes: Int = 2500
    public var minBeads: Int = 1000
    /// CD4 T counting CV (1/sqrt(n)) above this is flagged.
    public var maxCD4CountingCV: Double = 0.10
    /// |%CD4T + %CD8T - %CD3| above this (points) is flagged.
    public var tCellSumTolerance: Double = 10
    public var maxAbsolute: Double = 5000

    public init(
        minLymphocytes: Int = 2500, minBeads: Int = 1000, maxCD4CountingCV: Double = 0.10,
        tCellSumTolerance: Double = 10, maxAbsolute: Double = 5000
    ) {
        self.minLymphocytes = minLymphocytes
        self.minBeads = minBeads
        self.maxCD4CountingCV = maxCD4CountingCV
        self.tCellSumTolerance = tCellSumTolerance
        self.maxAbsolute = maxAbsolute
    }
}

/// A dual-platform CBC result: white cells/uL and lymphocyte % of a patient on a day.
public struct CBCResult: Sendable, Hashable {
    public var patient: String
    public var day: Int
    public var wbcPerMicroliter: Double
    public var lymphocytePercent: Double

    public init(patient: String, day: Int, wbcPerMicroliter: Double, lymphocytePercent: Double) {
        self.patient = patient
        self.day = day
        self.wbcPerMicroliter = wbcPerMicroliter
        self.lymphocytePercent = lymphocytePercent
    }
}

/// Everything the analysis of a file depends on, besides the file: the configuration sections it
/// reads, the strategy and the hashes recorded with every result.
public struct AnalysisSettings: Sendable {
    public var identity: Identity
    public var panel: Panel
    public var gating: GatingSettings
    public var counting: Counting
    public var qc: QCLimits
    /// SHA-256 of the strategy file and of the canonical configuration (stored per sample).
    public var strategySHA256: String
    public var configSHA256: String

    public init(
        identity: Identity, panel: Panel, gating: GatingSettings, counting: Counting, qc: QCLimits,
        strategySHA256: String, configSHA256: String
    ) {
        self.identity = identity
        self.panel = panel
        self.gating = gating
        self.counting = counting
        self.qc = qc
        self.strategySHA256 = strategySHA256
        self.configSHA256 = configSHA256
    }
}
