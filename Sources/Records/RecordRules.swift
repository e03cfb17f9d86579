import CytoModel

/// The monthly-record rules (`records` in `pipeline.json`; domain.md section 7).
public struct RecordRules: Sendable, Codable, Hashable {
    /// Days per study month (28: the study's 4-week months).
    public var monthDays: Double = 28
    public var baselineFromDay: Int = -42
    public var baselineToDay: Int = 0
    public var baselineRule: BaselineRule = .meanOfLastTwo
    public var infusionDays: Int = 5
    public var periInfusionExtraDays: Int = 2
    public var responderFactor: Double = 1.5
    public var stratumThreshold: Double = 200

    public init(
        monthDays: Double = 28, baselineFromDay: Int = -42, baselineToDay: Int = 0,
        baselineRule: BaselineRule = .meanOfLastTwo, infusionDays: Int = 5, periInfusionExtraDays: Int = 2,
        responderFactor: Double = 1.5, stratumThreshold: Double = 200
    ) {
        self.monthDays = monthDays
        self.baselineFromDay = baselineFromDay
        self.baselineToDay = baselineToDay
        self.baselineRule = baselineRule
        self.infusionDays = infusionDays
        self.periInfusionExtraDays = periInfusionExtraDays
        self.responderFactor = responderFactor
        self.stratumThreshold = stratumThreshold
    }
}
