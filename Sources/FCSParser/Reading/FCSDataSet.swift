/// `$PnE` amplification: `decades` (f1) and the value at zero (f2). Linear is 0,0.
public struct FCSAmplification: Sendable, Hashable, Codable {
    public var decades: Double
    public var zeroValue: Double
    public init(decades: Double, zeroValue: Double) {
        self.decades = decades
        self.zeroValue = zeroValue
    }
    public static let linear = FCSAmplification(decades: 0, zeroValue: 0)
    public var isLogarithmic: Bool { decades > 0 }
}

/// One parameter (channel) of a data set: the `$Pn*` keywords.
public struct FCSParameter: Sendable, Hashable {
    /// 1-based parameter number `n`.
    public var number: Int
    /// `$PnN`, the short name. Files missing it get `Pn` (with a warning).
    public var name: String
    /// `$PnS`, the long name or marker, if present and not empty.
    public var label: String?
    /// `$PnB` as declared; nil for delimited ASCII (`*`).
    public var bits: Int?
    /// `$PnR`, the range.
    public var range: Double?
    /// `$PnE`.
    public var amplification: FCSAmplification
    /// `$PnG`, the amplifier gain, when present.
    public var gain: Double?
    /// Storage type (`$DATATYPE`, or FCS 3.2 `$PnDATATYPE`).
    public var dataType: FCSDataType
    /// Bytes per stored value (characters for fixed ASCII, 0 for delimited ASCII).
    public var storageBytes: Int
    /// Integer mask derived from `$PnR` (`2^ceil(log2 PnR) - 1`), nil when none applies.
    public var mask: UInt64?
    /// True for the time parameter (`$PnN` "Time", or `$PnTYPE` Time in FCS 3.2).
    public var isTime: Bool
}

/// Whether a CRC followed the data set and whether it matched.
public enum FCSCRCStatus: Sendable, Hashable {
    /// No CRC field after the last segment.
    case absent
    /// Written as `00000000`: not computed by the writer.
    case notComputed
    case verified
    case mismatch(stored: String, computed: UInt16)
    /// Not checked: the input is a forward-only stream, so DATA cannot be read twice.
    case notChecked
}

/// One data set of an FCS file: HEADER, TEXT, layout, offsets and warnings. Reading its events
/// is done through `FCSReader.events(dataSet:)`.
public struct FCSDataSet: Sendable {
    /// 0-based position of this data set in the file.
    public var index: Int
    /// Absolute byte offset of the data set's HEADER.
    public var offset: Int64
    public var header: FCSHeader
    public var version: FCSVersion { header.version }
    /// Primary TEXT merged with supplemental TEXT (primary wins on conflicts).
    public var text: FCSText
    /// How doubled delimiters were read.
    public var textInterpretation: FCSTextInterpretation
    public var parameters: [FCSParameter]
    /// `$TOT`.
    public var eventCount: Int
    public var dataType: FCSDataType
    public var byteOrder: FCSByteOrder?
    /// Absolute DATA range used (inclusive); nil when the data set has no events.
    public var dataRange: FCSByteRange?
    /// Absolute TEXT range.
    public var textRange: FCSByteRange
    /// Absolute ANALYSIS range, when present and inside the file.
    public var analysisRange: FCSByteRange?
    /// Keywords of the ANALYSIS segment, when it parses as keywords.
    public var analysis: FCSText?
    /// `$TIMESTEP`, when present and numeric.
    public var timestep: Double?
    public var crc: FCSCRCStatus
    /// Every quirk tolerated while reading this data set.
    public var warnings: [FCSWarning]

    var layout: DataLayout

    /// Bytes per event (0 for delimited ASCII).
    public var bytesPerEvent: Int { layout.rowBytes }

    /// The spillover matrix from `$SPILLOVER`, `SPILL`, `$SPILL` or `$COMP`, nil when none.
    /// - Throws: `FCSError.Code.badSpillover` with the keyword when it is malformed.
    public func spillover() throws(FCSError) -> FCSSpillover? {
        try FCSSpillover(text: text, parameters: parameters)
    }

    /// Index (0-based) of the parameter named `name` ($PnN, case-sensitive first, then case-insensitive).
    public func parameterIndex(named name: String) -> Int? {
        parameters.firstIndex(where: { $0.name == name })
            ?? parameters.firstIndex(where: { $0.name.lowercased() == name.lowercased() })
    }
}
