/// A monthly record (domain.md section 7).
public struct MonthlyRecord: Sendable, Hashable, Codable {
    public var patient: String
    public var month: Int
    public var targetDate: String
    public var windowFromDay: Int
    public var windowToDay: Int
    public var baseline: Bool
    public var stratum: String?
    public var responder: Bool?
    public var cd4Collected: String?
    public var cd4Abs: Double?
    public var cd4Pct: Double?
    public var cd8Abs: Double?
    public var cd8Pct: Double?
    public var cd4cd8Ratio: Double?
    public var cd8HladrPct: Double?
    public var cd4Cd25Pct: Double?
    public var method: CountingMethod?
    public var hivCollected: String?
    public var hivRnaCopies: Double?
    public var hivRnaLog10: Double?
    public var hivRnaCensor: Censor?
    public var hivRnaLimit: Double?
    public var hivRnaAssay: String?
    public var cycle: Int?
    public var daysSinceCycleStart: Int?
    public var doseMIUPerDay: Double?
    public var cyclesCompleted: Int?
    public var deltaCd4Abs: Double?
    public var deltaCd4Pct: Double?
    public var deltaLog10: Double?
    public var onInfusionCd4Abs: Double?
    public var onInfusionHivRnaLog10: Double?
    /// The other values of the month's on-infusion sample and lab result (beside CD4/uL and
    /// log10 RNA above), with their sources: kept, never the primary monthly value.
    public var onInfusion = OnInfusion()

    /// On-infusion values of a month (domain.md section 7, peri-infusion rule).
    public struct OnInfusion: Sendable, Hashable, Codable {
        public var cd4Collected: String?
        public var cd4Pct: Double?
        public var cd8Abs: Double?
        public var cd8Pct: Double?
        public var cd4cd8Ratio: Double?
        public var cd8HladrPct: Double?
        public var cd4Cd25Pct: Double?
        public var hivCollected: String?
        public var hivRnaCopies: Double?
        public var hivRnaCensor: Censor?
        public var hivRnaLimit: Double?
        /// The on-infusion FCS file and lab result id.
        public var sources: [String] = []

        public init(
            cd4Collected: String? = nil, cd4Pct: Double? = nil, cd8Abs: Double? = nil, cd8Pct: Double? = nil,
            cd4cd8Ratio: Double? = nil, cd8HladrPct: Double? = nil, cd4Cd25Pct: Double? = nil,
            hivCollected: String? = nil, hivRnaCopies: Double? = nil, hivRnaCensor: Censor? = nil,
            hivRnaLimit: Double? = nil, sources: [String] = []
        ) {
            self.cd4Collected = cd4Collected
            self.cd4Pct = cd4Pct
            self.cd8Abs = cd8Abs
            self.cd8Pct = cd8Pct
            self.cd4cd8Ratio = cd4cd8Ratio
            self.cd8HladrPct = cd8HladrPct
            self.cd4Cd25Pct = cd4Cd25Pct
            self.hivCollected = hivCollected
            self.hivRnaCopies = hivRnaCopies
            self.hivRnaCensor = hivRnaCensor
            self.hivRnaLimit = hivRnaLimit
            self.sources = sources
        }
    }
    public var missing: [String]
    public var qc: [QCFlag]
    /// Source files and lab result ids behind the values.
    public var sources: [String]
    public var candidates: Int

    public init(
        patient: String, month: Int, targetDate: String, windowFromDay: Int, windowToDay: Int, baseline: Bool,
        stratum: String? = nil, responder: Bool? = nil, cd4Collected: String? = nil, cd4Abs: Double? = nil,
        cd4Pct: Double? = nil, cd8Abs: Double? = nil, cd8Pct: Double? = nil, cd4cd8Ratio: Double? = nil,
        cd8HladrPct: Double? = nil, cd4Cd25Pct: Double? = nil, method: CountingMethod? = nil,
        hivCollected: String? = nil, hivRnaCopies: Double? = nil, hivRnaLog10: Double? = nil,
        hivRnaCensor: Censor? = nil, hivRnaLimit: Double? = nil, hivRnaAssay: String? = nil, cycle: Int? = nil,
        daysSinceCycleStart: Int? = nil, doseMIUPerDay: Double? = nil, cyclesCompleted: Int? = nil,
        deltaCd4Abs: Double? = nil, deltaCd4Pct: Double? = nil, deltaLog10: Double? = nil,
        onInfusionCd4Abs: Double? = nil, onInfusionHivRnaLog10: Double? = nil, missing: [String], qc: [QCFlag],
        sources: [String], candidates: Int
    ) {
        self.patient = patient
        self.month = month
        self.targetDate = targetDate
        self.windowFromDay = windowFromDay
        self.windowToDay = windowToDay
        self.baseline = baseline
        self.stratum = stratum
        self.responder = responder
        self.cd4Collected = cd4Collected
        self.cd4Abs = cd4Abs
        self.cd4Pct = cd4Pct
        self.cd8Abs = cd8Abs
        self.cd8Pct = cd8Pct
        self.cd4cd8Ratio = cd4cd8Ratio
        self.cd8HladrPct = cd8HladrPct
        self.cd4Cd25Pct = cd4Cd25Pct
        self.method = method
        self.hivCollected = hivCollected
        self.hivRnaCopies = hivRnaCopies
        self.hivRnaLog10 = hivRnaLog10
        self.hivRnaCensor = hivRnaCensor
        self.hivRnaLimit = hivRnaLimit
        self.hivRnaAssay = hivRnaAssay
        self.cycle = cycle
        self.daysSinceCycleStart = daysSinceCycleStart
        self.doseMIUPerDay = doseMIUPerDay
        self.cyclesCompleted = cyclesCompleted
        self.deltaCd4Abs = deltaCd4Abs
        self.deltaCd4Pct = deltaCd4Pct
        self.deltaLog10 = deltaLog10
        self.onInfusionCd4Abs = onInfusionCd4Abs
        self.onInfusionHivRnaLog10 = onInfusionHivRnaLog10
        self.missing = missing
        self.qc = qc
        self.sources = sources
        self.candidates = candidates
    }
}
/// A stored HIV RNA result (with its source file).
public struct StoredLabResult: Sendable, Hashable, Codable {
    public var result: HIVRNAResult
    public var sourceFile: String

    public init(result: HIVRNAResult, sourceFile: String) {
        self.result = result
        self.sourceFile = sourceFile
    }
}
