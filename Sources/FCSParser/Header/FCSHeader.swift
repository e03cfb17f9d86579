/// The FCS version named in the first six HEADER bytes.
public enum FCSVersion: String, Sendable, Hashable, Codable, CaseIterable {
    case fcs2_0 = "FCS2.0"
    case fcs3_0 = "FCS3.0"
    case fcs3_1 = "FCS3.1"
    case fcs3_2 = "FCS3.2"

    /// "2.0", "3.1", ...
    public var number: String { String(rawValue.dropFirst(3)) }
}

/// An inclusive byte range of a segment, relative to the start of its data set (FCS 3.1 s.3.1).
public struct FCSByteRange: Sendable, Hashable, Codable, CustomStringConvertible {
    public var start: Int64
    public var end: Int64
    public init(start: Int64, end: Int64) {
        self.start = start
        self.end = end
    }
    /// Number of bytes covered (`end - start + 1`).
    public var length: Int64 { end - start + 1 }
    public var description: String { "\(start)-\(end)" }
    func overlaps(_ other: FCSByteRange) -> Bool { start <= other.end && other.start <= end }
}

/// The 58-byte HEADER segment (FCS 3.1 section 3.1): version and the TEXT, DATA and ANALYSIS
/// offsets. An offset written as zeros or blanks is `nil`: its value is then in TEXT.
public struct FCSHeader: Sendable, Hashable {
    public var version: FCSVersion
    public var text: FCSByteRange?
    public var data: FCSByteRange?
    public var analysis: FCSByteRange?
    /// The six offset fields as written (8 characters each).
    public var rawFields: [String]

    static let length = 58

    /// Parses the HEADER from its first 58 bytes.
    /// - Throws: `FCSError` `.notFCS`, `.unsupportedVersion`, `.truncatedHeader`, `.badHeaderOffset`.
    static func parse(_ bytes: [UInt8], base: Int64, warnings: inout [FCSWarning]) throws(FCSError) -> FCSHeader {
        guard bytes.count >= 6, bytes[0] == UInt8(ascii: "F"), bytes[1] == UInt8(ascii: "C"),
            bytes[2] == UInt8(ascii: "S")
        else {
            if bytes.count < 6 && bytes.prefix(3).elementsEqual(Array("FCS".utf8).prefix(Swift.min(3, bytes.count))) {
                throw FCSError(
                    .truncatedHeader, "file is too short to be FCS (\(bytes.count) bytes)", byteOffset: base,
                    segment: .header)
            }
            throw FCSError(.notFCS, "not an FCS file: it does not start with 'FCS'", byteOffset: base, segment: .header)
        }
        let versionString = String(decoding: bytes[0..<6], as: UTF8.self)
        guard let version = FCSVersion(rawValue: versionString) else {
            throw FCSError(
                .unsupportedVersion,
                "unsupported FCS version '\(printable(versionString))'; FCS2.0, 3.0, 3.1 and 3.2 are read",
                byteOffset: base, segment: .header)
        }
        guard bytes.count >= length else {
            throw FCSError(
                .truncatedHeader, "the HEADER is cut short: \(bytes.count) of 58 bytes",
                byteOffset: base + Int64(bytes.count),
                segment: .header)
        }
        if bytes[6..<10].contains(where: { $0 != 0x20 }) {
            warnings.append(FCSWarning(.headerSpacing, "HEADER bytes 6-9 are not spaces", byteOffset: base + 6))
        }
        var values: [Int64?] = []
        var raw: [String] = []
        for i in 0..<6 {
            let lo = 10 + i * 8
            let field = bytes[lo..<(lo + 8)]
            raw.append(String(decoding: field, as: UTF8.self))
            let trimmed = field.drop(while: { $0 == 0x20 || $0 == 0 }).reversed().drop(while: { $0 == 0x20 || $0 == 0 })
                .reversed()
            if trimmed.isEmpty {
                values.append(nil)
                continue
            }
            guard trimmed.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw FCSError(
                    .badHeaderOffset,
                    "HEADER offset field \(i + 1) ('\(printable(raw[i]))') is not a number; the file is damaged",
                    byteOffset: base + Int64(lo), segment: .header)
            }
            var v: Int64 = 0
            for d in trimmed { v = v * 10 + Int64(d - 0x30) }
            values.append(v)
        }
        func range(_ a: Int64?, _ b: Int64?) -> FCSByteRange? {
            guard let a, let b, !(a == 0 && b == 0) else { return nil }
            return FCSByteRange(start: a, end: b)
        }
        return FCSHeader(
            version: version, text: range(values[0], values[1]), data: range(values[2], values[3]),
            analysis: range(values[4], values[5]), rawFields: raw)
    }
}

/// Replaces control and non-ASCII characters for messages.
func printable(_ s: String) -> String {
    String(s.unicodeScalars.map { $0.value >= 0x20 && $0.value < 0x7f ? Character($0) : "?" })
}
