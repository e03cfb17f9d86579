/// One keyword/value pair of a TEXT segment.
public struct FCSKeyword: Sendable, Hashable {
    /// The keyword as written (trimmed of surrounding white space).
    public var key: String
    /// The value decoded as UTF-8, or as Latin-1 when it is not valid UTF-8.
    public var value: String
    /// The value's bytes as stored (escaped delimiters already undone).
    public var rawValue: [UInt8]
    /// True when the value was not valid UTF-8 and was decoded as Latin-1.
    public var decodedAsLatin1: Bool

    public init(key: String, value: String) {
        self.key = key
        self.value = value
        self.rawValue = Array(value.utf8)
        self.decodedAsLatin1 = false
    }

    init(key: String, rawValue: [UInt8]) {
        self.key = key
        self.rawValue = rawValue
        if let s = String(validating: rawValue, as: UTF8.self) {
            self.value = s
            self.decodedAsLatin1 = false
        } else {
            var scalars = String.UnicodeScalarView()
            scalars.append(contentsOf: rawValue.map { Unicode.Scalar($0) })
            self.value = String(scalars)
            self.decodedAsLatin1 = true
        }
    }
}

/// The keywords of a TEXT (and supplemental TEXT) segment, in file order. Keywords are
/// case-insensitive (FCS 3.1 s.3.2.10); values are kept as written.
public struct FCSText: Sendable, Hashable {
    public private(set) var keywords: [FCSKeyword] = []
    private var index: [String: Int] = [:]
    /// Absolute byte offset of each keyword's value in the file (parsed segments only), for
    /// messages; not part of the text's identity.
    private var valueOffsets: [Int64?] = []

    public static func == (a: FCSText, b: FCSText) -> Bool { a.keywords == b.keywords }
    public func hash(into h: inout Hasher) { h.combine(keywords) }

    /// Where the value of `key` starts in the file, when the segment was parsed from it.
    public func valueOffset(_ key: String) -> Int64? {
        index[key.uppercased()].flatMap { valueOffsets[$0] }
    }

    public init() {}

    public init(_ pairs: [(String, String)]) {
        for (k, v) in pairs { _ = append(FCSKeyword(key: k, value: v)) }
    }

    /// Adds a keyword; returns false (and keeps the first) when the key is already present.
    @discardableResult
    mutating func append(_ kw: FCSKeyword, valueOffset: Int64? = nil) -> Bool {
        let norm = kw.key.uppercased()
        if index[norm] != nil { return false }
        index[norm] = keywords.count
        keywords.append(kw)
        valueOffsets.append(valueOffset)
        return true
    }

    /// The value of `key` (case-insensitive), or nil.
    public subscript(key: String) -> String? {
        guard let i = index[key.uppercased()] else { return nil }
        return keywords[i].value
    }

    /// The keyword entry for `key` (case-insensitive), or nil.
    public func keyword(_ key: String) -> FCSKeyword? {
        index[key.uppercased()].map { keywords[$0] }
    }

    public func contains(_ key: String) -> Bool { index[key.uppercased()] != nil }

    public var count: Int { keywords.count }
}

/// How doubled delimiters in TEXT are read.
public enum FCSTextInterpretation: String, Sendable, Hashable, Codable {
    /// Try the standard reading and the "empty value" reading; keep the one whose keywords are
    /// consistent, preferring the standard one, and warn when the other is used.
    case automatic
    /// FCS standard: a doubled delimiter is a literal delimiter in a keyword or value.
    case standard
    /// Non-compliant writers (CellQuest, Attune v1, Partec): a doubled delimiter is an empty value.
    case emptyValues
}

/// Splits a TEXT-like segment (TEXT, supplemental TEXT, ANALYSIS) into keyword/value pairs.
struct TextSegmentParser {
    struct Result {
        var text: FCSText
        var interpretation: FCSTextInterpretation
        var warnings: [FCSWarning]
    }

    private struct Split {
        var tokens: [[UInt8]]
        /// Index in the segment of each token's first byte.
        var starts: [Int] = []
        var startsWithDelimiter: Int = 0
        var unterminated = false
    }

    /// - Parameters:
    ///   - bytes: the segment, first byte the delimiter.
    ///   - offset: absolute offset of the segment (for messages).
    ///   - expectParameters: whether the segment must carry `$PAR` and `$PnN` (primary TEXT).
    static func parse(
        _ bytes: [UInt8], offset: Int64, segment: FCSSegment, interpretation: FCSTextInterpretation,
        expectParameters: Bool
    ) throws(FCSError) -> Result {
        var warnings: [FCSWarning] = []
        guard bytes.count >= 2 else {
            throw FCSError(
                .malformedText, "the \(segment.rawValue) segment is empty", byteOffset: offset, segment: segment)
        }
        let delim = bytes[0]
        if delim == 0 || delim >= 0x7f || (delim >= 0x30 && delim <= 0x39) || (delim >= 0x41 && delim <= 0x5a)
            || (delim >= 0x61 && delim <= 0x7a) || delim == UInt8(ascii: "$")
        {
            throw FCSError(
                .badDelimiter,
                "the \(segment.rawValue) segment starts with byte 0x\(String(delim, radix: 16)), which cannot be a delimiter; the segment offsets are probably wrong",
                byteOffset: offset, segment: segment)
        }
        // Trailing padding after the final delimiter (spaces, NULs) is tolerated with a warning.
        var end = bytes.count
        while end > 1
            && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0 || bytes[end - 1] == 0x0a || bytes[end - 1] == 0x0d)
            && bytes[end - 1] != delim
        {
            end -= 1
        }
        if end < bytes.count {
            warnings.append(
                FCSWarning(
                    .textPadding,
                    "\(bytes.count - end) padding byte(s) after the final \(segment.rawValue) delimiter ignored",
                    byteOffset: offset + Int64(end)))
        }
        // A run of delimiters at the very end: an even run cannot be standard (it would leave
        // the last value unterminated), so in the standard reading one is an extra delimiter
        // (BD Accuri C6). In the empty-value reading it is an empty last value.
        var run = 0
        while run < end - 1 && bytes[end - 1 - run] == delim { run += 1 }
        let standardEnd = run >= 2 && run % 2 == 0 ? end - 1 : end
        let emptyEnd = end

        func standardSplit() -> Split {
            let body = bytes[1..<standardEnd]
            var s = Split(tokens: [])
            var cur: [UInt8] = []
            var tokenStart = true
            var i = body.startIndex
            var start = i
            while i < body.endIndex {
                let b = body[i]
                if b == delim {
                    let next = body.index(after: i)
                    if next < body.endIndex && body[next] == delim {
                        if tokenStart { s.startsWithDelimiter += 1 }
                        cur.append(delim)
                        tokenStart = false
                        i = body.index(after: next)
                        continue
                    }
                    s.tokens.append(cur)
                    s.starts.append(start)
                    start = i + 1
                    cur = []
                    tokenStart = true
                } else {
                    cur.append(b)
                    tokenStart = false
                }
                i = body.index(after: i)
            }
            if !cur.isEmpty || !tokenStart {
                s.tokens.append(cur)
                s.starts.append(start)
                s.unterminated = true
            }
            return s
        }

        func emptyValueSplit() -> Split {
            let body = bytes[1..<emptyEnd]
            var s = Split(tokens: [])
            var cur: [UInt8] = []
            var start = body.startIndex
            for (i, b) in zip(body.indices, body) {
                if b == delim {
                    s.tokens.append(cur)
                    s.starts.append(start)
                    start = i + 1
                    cur = []
                } else {
                    cur.append(b)
                }
            }
            if !cur.isEmpty {
                s.tokens.append(cur)
                s.starts.append(start)
                s.unterminated = true
            }
            return s
        }

        /// Counts what is implausible about a split: odd token counts, empty or odd keys,
        /// missing `$PnN`.
        func problems(_ s: Split) -> Int {
            var p = 0
            if s.tokens.count % 2 != 0 { p += 100 }
            var keys = Set<String>()
            var k = 0
            while k < s.tokens.count {
                let key = s.tokens[k]
                let trimmed = trimWhitespace(key)
                if trimmed.isEmpty { p += 10 }
                if key.contains(delim) { p += 10 }
                if trimmed.contains(where: { $0 < 0x20 }) { p += 5 }
                keys.insert(String(decoding: trimmed, as: UTF8.self).uppercased())
                k += 2
            }
            p += s.startsWithDelimiter * 3
            if expectParameters {
                if let parIndex = stride(from: 0, to: s.tokens.count - 1, by: 2).first(where: {
                    String(decoding: trimWhitespace(s.tokens[$0]), as: UTF8.self).uppercased() == "$PAR"
                }), let par = Int(String(decoding: trimWhitespace(s.tokens[parIndex + 1]), as: UTF8.self)), par > 0,
                    par < 100_000
                {
                    for n in 1...par where !keys.contains("$P\(n)B") { p += 2 }
                } else {
                    p += 50
                }
            }
            return p
        }

        let chosen: Split
        let used: FCSTextInterpretation
        switch interpretation {
        case .standard:
            chosen = standardSplit()
            used = .standard
        case .emptyValues:
            chosen = emptyValueSplit()
            used = .emptyValues
        case .automatic:
            let a = standardSplit()
            let pa = problems(a)
            let hasDoubled = a.tokens.contains(where: { $0.contains(delim) })
            if pa == 0 || !hasDoubled {
                chosen = a
                used = .standard
            } else {
                let b = emptyValueSplit()
                let pb = problems(b)
                if pb < pa {
                    chosen = b
                    used = .emptyValues
                    warnings.append(
                        FCSWarning(
                            .textEmptyValues,
                            "doubled delimiters in \(segment.rawValue) read as empty values (non-compliant writer); the standard reading gave inconsistent keywords",
                            byteOffset: offset))
                } else {
                    chosen = a
                    used = .standard
                }
            }
        }
        if used == .standard && standardEnd < end {
            warnings.append(
                FCSWarning(
                    .textTrailingDoubleDelimiter,
                    "\(segment.rawValue) ends with a doubled delimiter; the extra one is ignored",
                    byteOffset: offset + Int64(standardEnd)))
        }
        if chosen.unterminated {
            warnings.append(
                FCSWarning(
                    .textMissingFinalDelimiter,
                    "\(segment.rawValue) does not end with its delimiter; the last value runs to the segment end",
                    byteOffset: offset + Int64(end)))
        }
        guard chosen.tokens.count % 2 == 0 else {
            throw FCSError(
                .malformedText,
                "\(segment.rawValue) holds an odd number of delimited fields (\(chosen.tokens.count)); a keyword has no value",
                byteOffset: offset, segment: segment)
        }
        var text = FCSText()
        var k = 0
        var emptyKeys = 0
        while k < chosen.tokens.count {
            let keyBytes = trimWhitespace(chosen.tokens[k])
            if keyBytes.isEmpty {
                emptyKeys += 1
                k += 2
                continue
            }
            let key = String(decoding: keyBytes.map { $0 < 0x80 ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
            let kw = FCSKeyword(key: key, rawValue: chosen.tokens[k + 1])
            if !text.append(kw, valueOffset: offset + Int64(chosen.starts[k + 1])) {
                warnings.append(
                    FCSWarning(
                        .duplicateKeyword, "keyword \(key) appears more than once; the first value is kept",
                        keyword: key))
            }
            k += 2
        }
        if emptyKeys > 0 {
            warnings.append(
                FCSWarning(
                    .emptyKeyword, "\(emptyKeys) empty keyword name(s) in \(segment.rawValue) skipped",
                    byteOffset: offset))
        }
        return Result(text: text, interpretation: used, warnings: warnings)
    }
}

func trimWhitespace(_ b: [UInt8]) -> [UInt8] {
    var lo = 0
    var hi = b.count
    while lo < hi && (b[lo] == 0x20 || b[lo] == 0x09 || b[lo] == 0) { lo += 1 }
    while hi > lo && (b[hi - 1] == 0x20 || b[hi - 1] == 0x09 || b[hi - 1] == 0) { hi -= 1 }
    return Array(b[lo..<hi])
}
