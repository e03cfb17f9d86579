import CytoModel

/// Validation against manual gating (`validation` in `pipeline.json`; `cytoingest validate`).
public struct ValidationSettings: Sendable, Codable, Hashable {
    /// Largest |automated - manual| percentage, in points.
    public var percentPoints: Double = 2
    /// Largest |automated - manual| absolute count, relative to manual.
    public var absoluteRelative: Double = 0.10
    /// Below `lowAbsolute` cells/uL, the absolute tolerance is this many cells/uL instead.
    public var absoluteLowCells: Double = 20
    public var lowAbsolute: Double = 200
    /// FlowJo gate paths (`Lymphocytes/CD3/CD4`) of the pipeline's populations.
    public var flowjo: [Population: String] = [:]

    public init(
        percentPoints: Double = 2, absoluteRelative: Double = 0.10, absoluteLowCells: Double = 20,
        lowAbsolute: Double = 200, flowjo: [Population: String] = [:]
    ) {
        self.percentPoints = percentPoints
        self.absoluteRelative = absoluteRelative
        self.absoluteLowCells = absoluteLowCells
        self.lowAbsolute = lowAbsolute
        self.flowjo = flowjo
    }
}
