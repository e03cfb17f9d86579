/// `$DATATYPE` (and FCS 3.2 `$PnDATATYPE`): how values are stored in DATA.
public enum FCSDataType: String, Sendable, Hashable, Codable {
    /// Unsigned binary integers, `$PnB` bits, masked to `$PnR`.
    case integer = "I"
    /// IEEE-754 single precision.
    case float = "F"
    /// IEEE-754 double precision.
    case double = "D"
    /// ASCII digits, fixed width (`$PnB` characters) or delimited (`$PnB` = `*`).
    case ascii = "A"
}

/// `$BYTEORD`: the significance of each byte position of a stored value.
public struct FCSByteOrder: Sendable, Hashable, CustomStringConvertible {
    /// For each byte in file order, its significance (0 = least significant).
    public let significance: [Int]
    /// The keyword value as written, trimmed.
    public let keywordValue: String

    public static let littleEndian = FCSByteOrder(significance: [0, 1, 2, 3], keywordValue: "1,2,3,4")
    public static let bigEndian = FCSByteOrder(significance: [3, 2, 1, 0], keywordValue: "4,3,2,1")

    init(significance: [Int], keywordValue: String) {
        self.significance = significance
        self.keywordValue = keywordValue
    }

    /// Parses `1,2,3,4`, `4,3,2,1`, `1,2`, `2,1` and other permutations.
    public init?(keyword: String) {
        let parts = keyword.split(separator: ",").map { $0.trimmingSpaces }
        let nums = parts.compactMap { Int($0) }
        guard !nums.isEmpty, nums.count == parts.count, nums.count <= 8, Set(nums) == Set(1...nums.count) else {
            return nil
        }
        self.significance = nums.map { $0 - 1 }
        self.keywordValue = nums.map(String.init).joined(separator: ",")
    }

    public var isLittleEndian: Bool { significance == Array(0..<significance.count) }
    public var isBigEndian: Bool { significance == Array((0..<significance.count).reversed()) }

    public var description: String { keywordValue }

    /// The significance order for a value of `width` bytes, or nil when the permutation
    /// cannot apply to that width.
    func order(forWidth width: Int) -> [Int]? {
        if isLittleEndian { return Array(0..<width) }
        if isBigEndian { return Array((0..<width).reversed()) }
        return width == significance.count ? significance : nil
    }
}

/// Storage of one parameter in an event row.
struct FieldLayout: Sendable, Hashable {
    enum Kind: Sendable, Hashable {
        case unsigned
        case float32
        case float64
        case asciiFixed
    }
    var kind: Kind
    /// Byte offset within the row.
    var offset: Int
    /// Stored width in bytes.
    var width: Int
    /// Significance of each byte in file order (integers and floats).
    var order: [Int]
    /// Bit mask applied to integers (all ones when none).
    var mask: UInt64
}

/// The layout of one event row in DATA.
struct DataLayout: Sendable, Hashable {
    var fields: [FieldLayout]
    /// Bytes per event; 0 for delimited ASCII, whose rows have no fixed size.
    var rowBytes: Int
    var delimitedASCII: Bool

    /// A uniform layout that a fast kernel handles.
    enum Uniform: Sendable, Hashable {
        case float32(bigEndian: Bool)
        case float64(bigEndian: Bool)
        case uint8
        case uint16(bigEndian: Bool)
        case uint32(bigEndian: Bool)
    }

    var uniform: Uniform? {
        guard let first = fields.first, !delimitedASCII else { return nil }
        let w = first.width
        let little = Array(0..<w)
        let big = Array((0..<w).reversed())
        guard first.order == little || first.order == big else { return nil }
        let bigEndian = first.order == big && w > 1
        for (i, f) in fields.enumerated() {
            guard f.kind == first.kind, f.width == w, f.order == first.order, f.offset == i * w else { return nil }
        }
        switch (first.kind, w) {
        case (.float32, 4): return .float32(bigEndian: bigEndian)
        case (.float64, 8): return .float64(bigEndian: bigEndian)
        case (.unsigned, 1): return .uint8
        case (.unsigned, 2): return .uint16(bigEndian: bigEndian)
        case (.unsigned, 4): return .uint32(bigEndian: bigEndian)
        default: return nil
        }
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(
            self.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed()
        )
    }
}

extension String {
    var trimmingSpaces: String { self[...].trimmingSpaces }
}

/// Safe scalar decoder: the reference ("twin") that every fast kernel is tested against, and
/// the path for mixed widths, 24/40/48/56/64-bit integers, byte permutations and fixed ASCII.
enum ScalarDecoder {
    /// Decodes `rows` events from `raw` (row-major) into `out` (column-major with `stride`).
    static func decode(
        raw: [UInt8], rows: Int, layout: DataLayout, into out: inout [Double], stride: Int
    ) throws(FCSError) {
        for r in 0..<rows {
            let rowBase = r * layout.rowBytes
            for (p, f) in layout.fields.enumerated() {
                let at = rowBase + f.offset
                let v: Double
                switch f.kind {
                case .asciiFixed:
                    guard let parsed = parseASCIINumber(raw[at..<(at + f.width)]) else {
                        throw FCSError(
                            .badASCIIValue,
                            "ASCII value of parameter \(p + 1) in event \(r + 1) of this block is not a number",
                            segment: .data)
                    }
                    v = parsed
                default:
                    var bits: UInt64 = 0
                    for i in 0..<f.width {
                        bits |= UInt64(raw[at + i]) << UInt64(8 * f.order[i])
                    }
                    switch f.kind {
                    case .unsigned: v = Double(bits & f.mask)
                    case .float32: v = Double(Float(bitPattern: UInt32(truncatingIfNeeded: bits)))
                    case .float64: v = Double(bitPattern: bits)
                    case .asciiFixed: v = 0
                    }
                }
                out[p * stride + r] = v
            }
        }
    }
}

/// Parses an ASCII number (digits, optional sign, decimal point, exponent), surrounding spaces
/// allowed. Returns nil for anything else.
func parseASCIINumber<C: Collection>(_ bytes: C) -> Double? where C.Element == UInt8 {
    let t = trimWhitespace(Array(bytes))
    guard !t.isEmpty, t.count <= 64,
        t.allSatisfy({
            ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2e || $0 == 0x2d || $0 == 0x2b || $0 == 0x65 || $0 == 0x45
        })
    else { return nil }
    return Double(String(decoding: t, as: UTF8.self))
}
