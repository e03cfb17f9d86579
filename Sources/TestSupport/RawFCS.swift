import FCSParser

/// Assembles FCS bytes by hand, segment by segment, so tests can build the non-compliant files
/// that real writers produce (and the broken ones they must reject). Offsets in TEXT are written
/// zero-padded to 16 digits (a vendor style the reader must accept), which keeps the TEXT length
/// independent of the offset values.
public struct RawFCS: Sendable {
    public var version = "FCS3.0"
    public var delimiter: UInt8 = UInt8(ascii: "/")
    /// Keywords other than the segment offsets, written with standard escaping.
    public var keywords: [(String, String)] = []
    /// Write `$BEGINDATA`/`$ENDDATA` (and STEXT/ANALYSIS offsets) into TEXT.
    public var textOffsets = true
    /// Replace the TEXT body (everything after the first delimiter) by these bytes. The offset
    /// keywords are then not written.
    public var rawTextBody: [UInt8]? = nil
    /// Bytes appended after the final TEXT delimiter but inside the HEADER's TEXT range.
    public var textPadding: [UInt8] = []
    public var supplementalText: [(String, String)]? = nil
    public var analysisText: [(String, String)]? = nil
    public var gapBeforeData = 0
    public var data: [UInt8] = []
    /// Bytes after DATA (a CRC field, another data set, junk).
    public var trailing: [UInt8] = []
    /// Shifts applied to the DATA offsets written in the HEADER and in TEXT.
    public var headerDataShift: (start: Int, end: Int) = (0, 0)
    public var textDataShift: (start: Int, end: Int) = (0, 0)
    /// Write zeros for the HEADER DATA offsets (as for files over 99,999,999 bytes).
    public var headerDataZero = false
    /// Replace HEADER offset fields (index 0...5) by these 8-character strings.
    public var headerFieldOverrides: [Int: String] = [:]
    /// Cut the result to this many bytes.
    public var truncateTo: Int? = nil

    public init() {}

    static func field(_ v: Int) -> String {
        let s = String(v)
        return String(repeating: " ", count: max(0, 8 - s.count)) + s
    }

    static func padded(_ v: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, 16 - s.count)) + s
    }

    func encodeSegment(_ pairs: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = [delimiter]
        for (k, v) in pairs {
            for part in [k, v] {
                for b in Array(part.utf8) {
                    out.append(b)
                    if b == delimiter { out.append(delimiter) }
                }
                out.append(delimiter)
            }
        }
        return out
    }

    public func build() -> [UInt8] {
        let offsetKeys = ["$BEGINDATA", "$ENDDATA", "$BEGINSTEXT", "$ENDSTEXT", "$BEGINANALYSIS", "$ENDANALYSIS"]
        func text(_ offsets: [Int]) -> [UInt8] {
            if let body = rawTextBody { return [delimiter] + body + textPadding }
            var pairs = keywords
            if textOffsets {
                for (k, v) in zip(offsetKeys, offsets) { pairs.append((k, Self.padded(v))) }
            }
            return encodeSegment(pairs) + textPadding
        }
        let stext = supplementalText.map(encodeSegment) ?? []
        let analysis = analysisText.map(encodeSegment) ?? []
        let textLength = text([0, 0, 0, 0, 0, 0]).count
        let textStart = 58
        let textEnd = textStart + textLength - 1
        let stextStart = stext.isEmpty ? 0 : textEnd + 1
        let stextEnd = stext.isEmpty ? 0 : stextStart + stext.count - 1
        let analysisStart = analysis.isEmpty ? 0 : textEnd + 1 + stext.count
        let analysisEnd = analysis.isEmpty ? 0 : analysisStart + analysis.count - 1
        let dataStart = textEnd + 1 + stext.count + analysis.count + gapBeforeData
        let dataEnd = data.isEmpty ? dataStart : dataStart + data.count - 1
        let t = text([
            dataStart + textDataShift.start, dataEnd + textDataShift.end, stextStart, stextEnd, analysisStart,
            analysisEnd,
        ])
        var fields = [
            Self.field(textStart), Self.field(textEnd),
            Self.field(headerDataZero ? 0 : dataStart + headerDataShift.start),
            Self.field(headerDataZero ? 0 : dataEnd + headerDataShift.end),
            Self.field(analysisStart), Self.field(analysisEnd),
        ]
        for (i, f) in headerFieldOverrides { fields[i] = f }
        var out = Array((version + "    " + fields.joined()).utf8)
        out += t + stext + analysis + [UInt8](repeating: 0x20, count: gapBeforeData) + data + trailing
        if let n = truncateTo { out = Array(out.prefix(n)) }
        return out
    }

    /// Row-major integer DATA: `widths` bytes per parameter, little or big endian.
    public static func integerRows(_ columns: [[UInt64]], widths: [Int], bigEndian: Bool) -> [UInt8] {
        var out: [UInt8] = []
        let rows = columns.first?.count ?? 0
        for r in 0..<rows {
            for (p, w) in widths.enumerated() {
                let v = columns[p][r]
                for i in 0..<w {
                    let shift = bigEndian ? (w - 1 - i) * 8 : i * 8
                    out.append(UInt8(truncatingIfNeeded: v >> UInt64(shift)))
                }
            }
        }
        return out
    }

    /// Standard per-parameter keywords.
    public static func parameterKeywords(names: [String], bits: [String], ranges: [Int]) -> [(String, String)] {
        var kw: [(String, String)] = []
        for (i, n) in names.enumerated() {
            kw += [
                ("$P\(i + 1)N", n), ("$P\(i + 1)B", bits[i]), ("$P\(i + 1)E", "0,0"),
                ("$P\(i + 1)R", String(ranges[i])),
            ]
        }
        return kw
    }
}
