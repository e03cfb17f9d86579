/// A segment of an FCS data set (FCS 3.1 section 3).
public enum FCSSegment: String, Sendable, Hashable, Codable {
    case header = "HEADER"
    case text = "TEXT"
    case supplementalText = "STEXT"
    case data = "DATA"
    case analysis = "ANALYSIS"
    case crc = "CRC"
}

/// The one error type of FCSParser.
///
/// Context is data, not text: `code` is stable and machine-readable, `byteOffset`, `segment` and
/// `keyword` locate the problem, and `message` says what is wrong and which option reads the file
/// anyway. No keyword *value* is ever placed in a message, since values such as `$SRC` may carry
/// patient identifiers.
public struct FCSError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable, machine-readable error code.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The file does not start with `FCS` and a version.
        public static let notFCS = Code(rawValue: "not_fcs")
        /// A version other than FCS2.0, FCS3.0, FCS3.1 or FCS3.2.
        public static let unsupportedVersion = Code(rawValue: "unsupported_version")
        /// The file ends inside the 58-byte HEADER.
        public static let truncatedHeader = Code(rawValue: "truncated_header")
        /// A HEADER offset field is not a number.
        public static let badHeaderOffset = Code(rawValue: "bad_header_offset")
        /// The TEXT segment lies outside the file or is empty.
        public static let textOutOfBounds = Code(rawValue: "text_out_of_bounds")
        /// The first TEXT byte is not a usable delimiter.
        public static let badDelimiter = Code(rawValue: "bad_delimiter")
        /// The TEXT segment cannot be split into keyword/value pairs.
        public static let malformedText = Code(rawValue: "malformed_text")
        /// A required keyword is missing.
        public static let missingKeyword = Code(rawValue: "missing_keyword")
        /// A keyword value cannot be interpreted.
        public static let badKeywordValue = Code(rawValue: "bad_keyword_value")
        /// `$PAR` is zero, negative or too large.
        public static let badParameterCount = Code(rawValue: "bad_parameter_count")
        /// `$TOT` is negative or inconsistent with the file size.
        public static let badEventCount = Code(rawValue: "bad_event_count")
        /// No DATA offset candidate fits the file.
        public static let dataOutOfBounds = Code(rawValue: "data_out_of_bounds")
        /// Two segments overlap.
        public static let segmentsOverlap = Code(rawValue: "segments_overlap")
        /// The DATA segment length differs from `$TOT` x bytes per event.
        public static let dataLengthMismatch = Code(rawValue: "data_length_mismatch")
        /// The file ends before the DATA segment does.
        public static let truncatedData = Code(rawValue: "truncated_data")
        /// `$MODE` C or U (histograms), removed in FCS 3.2.
        public static let unsupportedMode = Code(rawValue: "unsupported_mode")
        /// A `$DATATYPE` or `$PnDATATYPE` other than I, F, D, A.
        public static let unsupportedDataType = Code(rawValue: "unsupported_datatype")
        /// A `$BYTEORD` that cannot be applied to the data widths.
        public static let unsupportedByteOrder = Code(rawValue: "unsupported_byteorder")
        /// A `$PnB` that cannot be read.
        public static let unsupportedBitWidth = Code(rawValue: "unsupported_bit_width")
        /// `$NEXTDATA` leads back to a data set already read.
        public static let nextDataLoop = Code(rawValue: "nextdata_loop")
        /// `$NEXTDATA` points outside the file.
        public static let nextDataOutOfBounds = Code(rawValue: "nextdata_out_of_bounds")
        /// `$SPILLOVER`, `SPILL` or `$COMP` is malformed.
        public static let badSpillover = Code(rawValue: "bad_spillover")
        /// The data set's CRC does not match its bytes.
        public static let crcMismatch = Code(rawValue: "crc_mismatch")
        /// An ASCII (`$DATATYPE A`) value is not a number.
        public static let badASCIIValue = Code(rawValue: "bad_ascii_value")
        /// Reading the input failed (I/O error, permission, not found).
        public static let io = Code(rawValue: "io")
        /// The gzip stream is corrupt.
        public static let gzip = Code(rawValue: "gzip")
        /// A write failed or the writer was given inconsistent input.
        public static let write = Code(rawValue: "write")
    }

    public var code: Code
    public var message: String
    /// The file (or stream name) the error is about.
    public var file: String?
    /// Absolute byte offset in the input where the problem was found.
    public var byteOffset: Int64?
    public var segment: FCSSegment?
    /// The keyword (never its value) involved.
    public var keyword: String?

    public init(
        _ code: Code, _ message: String, file: String? = nil, byteOffset: Int64? = nil,
        segment: FCSSegment? = nil, keyword: String? = nil
    ) {
        self.code = code
        self.message = message
        self.file = file
        self.byteOffset = byteOffset
        self.segment = segment
        self.keyword = keyword
    }

    public var description: String {
        var out = ""
        if let file { out += "\(file): " }
        out += message
        var ctx: [String] = ["code \(code.rawValue)"]
        if let segment { ctx.append("segment \(segment.rawValue)") }
        if let byteOffset { ctx.append("byte \(byteOffset)") }
        if let keyword { ctx.append("keyword \(keyword)") }
        out += " [" + ctx.joined(separator: ", ") + "]"
        return out
    }

    func with(file: String) -> FCSError {
        var copy = self
        if copy.file == nil { copy.file = file }
        return copy
    }
}

/// A deviation from the standard that the reader tolerated. Never silent: every quirk read
/// anyway is reported as one of these on the data set.
public struct FCSWarning: Sendable, Hashable, CustomStringConvertible, Codable {
    /// A tolerated deviation's stable code (meanings: docs/codes.md). A literal names a code by
    /// its raw value.
    public struct Code: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible,
        ExpressibleByStringLiteral
    {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { rawValue = value }
        public var description: String { rawValue }

        public static let analysisOutOfBounds = Code(rawValue: "analysis_out_of_bounds")
        public static let analysisUnparsed = Code(rawValue: "analysis_unparsed")
        public static let badAmplification = Code(rawValue: "bad_amplification")
        public static let badRange = Code(rawValue: "bad_range")
        public static let badSpillover = Code(rawValue: "bad_spillover")
        public static let badTextDataOffsets = Code(rawValue: "bad_text_data_offsets")
        public static let badTimestep = Code(rawValue: "bad_timestep")
        public static let bitsWidened = Code(rawValue: "bits_widened")
        public static let byteordPermutation = Code(rawValue: "byteord_permutation")
        public static let crcMismatch = Code(rawValue: "crc_mismatch")
        public static let dataEndOffByOne = Code(rawValue: "data_end_off_by_one")
        public static let dataOffsetsDisagree = Code(rawValue: "data_offsets_disagree")
        public static let doubleBits = Code(rawValue: "double_bits")
        public static let duplicateKeyword = Code(rawValue: "duplicate_keyword")
        public static let duplicatePnn = Code(rawValue: "duplicate_pnn")
        public static let emptyKeyword = Code(rawValue: "empty_keyword")
        public static let floatBits = Code(rawValue: "float_bits")
        public static let headerDataEnd99999999 = Code(rawValue: "header_data_end_99999999")
        public static let headerSpacing = Code(rawValue: "header_spacing")
        public static let missingMode = Code(rawValue: "missing_mode")
        public static let missingPne = Code(rawValue: "missing_pne")
        public static let missingPnn = Code(rawValue: "missing_pnn")
        public static let missingRange = Code(rawValue: "missing_range")
        public static let missingTot = Code(rawValue: "missing_tot")
        public static let nextdataNegative = Code(rawValue: "nextdata_negative")
        public static let pneOnFloat = Code(rawValue: "pne_on_float")
        public static let pneZeroF2 = Code(rawValue: "pne_zero_f2")
        public static let spilloverNote = Code(rawValue: "spillover_note")
        public static let stextConflict = Code(rawValue: "stext_conflict")
        public static let stextOutOfBounds = Code(rawValue: "stext_out_of_bounds")
        public static let stextUnreadable = Code(rawValue: "stext_unreadable")
        public static let textEmptyValues = Code(rawValue: "text_empty_values")
        public static let textMissingFinalDelimiter = Code(rawValue: "text_missing_final_delimiter")
        public static let textPadding = Code(rawValue: "text_padding")
        public static let textTrailingDoubleDelimiter = Code(rawValue: "text_trailing_double_delimiter")
        public static let truncatedData = Code(rawValue: "truncated_data")

        /// Every warning code.
        public static let all: [Code] = [
            .analysisOutOfBounds, .analysisUnparsed, .badAmplification, .badRange, .badSpillover, .badTextDataOffsets,
            .badTimestep, .bitsWidened, .byteordPermutation, .crcMismatch, .dataEndOffByOne, .dataOffsetsDisagree,
            .doubleBits, .duplicateKeyword, .duplicatePnn, .emptyKeyword, .floatBits, .headerDataEnd99999999,
            .headerSpacing, .missingMode, .missingPne, .missingPnn, .missingRange, .missingTot, .nextdataNegative,
            .pneOnFloat, .pneZeroF2, .spilloverNote, .stextConflict, .stextOutOfBounds, .stextUnreadable,
            .textEmptyValues, .textMissingFinalDelimiter, .textPadding, .textTrailingDoubleDelimiter, .truncatedData,
        ]
    }

    public var code: Code
    public var message: String
    public var byteOffset: Int64?
    public var keyword: String?

    public init(_ code: Code, _ message: String, byteOffset: Int64? = nil, keyword: String? = nil) {
        self.code = code
        self.message = message
        self.byteOffset = byteOffset
        self.keyword = keyword
    }

    public var description: String {
        var s = "\(code): \(message)"
        if let byteOffset { s += " (byte \(byteOffset))" }
        return s
    }
}
