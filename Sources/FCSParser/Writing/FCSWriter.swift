#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A parameter to write: the `$Pn*` keywords.
public struct FCSWriteParameter: Sendable, Hashable {
    /// `$PnN`.
    public var name: String
    /// `$PnS`.
    public var label: String?
    /// `$PnB` for integer data (8, 16, 24, 32, 40, 48, 56 or 64); ignored for F and D.
    public var bits: Int
    /// `$PnR`; defaults to 2^bits for integers and 262144 for floating point.
    public var range: Double?
    public var amplification: FCSAmplification
    /// `$PnG`.
    public var gain: Double?
    /// FCS 3.2 `$PnDATATYPE`: this parameter's type when it differs from `$DATATYPE`.
    public var dataType: FCSDataType?
    /// Further `$Pn*` keywords, e.g. `("$P3V", "450")`.
    public var keywords: [String: String]

    public init(
        name: String, label: String? = nil, bits: Int = 32, range: Double? = nil,
        amplification: FCSAmplification = .linear, gain: Double? = nil, dataType: FCSDataType? = nil,
        keywords: [String: String] = [:]
    ) {
        self.name = name
        self.label = label
        self.bits = bits
        self.range = range
        self.amplification = amplification
        self.gain = gain
        self.dataType = dataType
        self.keywords = keywords
    }
}

/// How to write a data set.
public struct FCSWriteOptions: Sendable, Hashable {
    /// FCS3.0, FCS3.1 (default) or FCS3.2 (needed for `$PnDATATYPE`).
    public var version: FCSVersion = .fcs3_1
    /// `$DATATYPE`: I, F or D.
    public var dataType: FCSDataType = .float
    public var byteOrder: FCSByteOrder = .littleEndian
    /// TEXT delimiter byte (ASCII 1-126); escaped by doubling inside values.
    public var delimiter: UInt8 = UInt8(ascii: "|")
    /// Extra TEXT keywords, written in this order after the required ones.
    public var keywords: [FCSKeyword] = []
    /// Written as `$SPILLOVER` (FCS 3.1/3.2) or `SPILL` (FCS 3.0, as BD writes it).
    public var spillover: FCSSpillover?
    /// Append the optional CRC-16 after the data set.
    public var crc = false

    public init() {}

    /// Adds an extra keyword.
    public mutating func add(_ key: String, _ value: String) { keywords.append(FCSKeyword(key: key, value: value)) }
}

/// Writes FCS 3.0/3.1/3.2 list-mode data sets: F, D and I with any byte-aligned width and byte
/// order, escaped delimiters, `$SPILLOVER`, and correct offsets past 99,999,999 bytes (HEADER
/// offsets 0, real values in TEXT). Streams rows to disk: memory is bounded by what `append` gets.
public final class FCSWriter {
    let encoder: DataSetEncoder
    let fd: Int32
    let path: String
    private var written = 0
    private var crc = CRC16()
    private var finished = false

    /// Creates the file and writes HEADER and TEXT. `eventCount` events must then be appended.
    public init(
        path: String, parameters: [FCSWriteParameter], eventCount: Int, options: FCSWriteOptions = FCSWriteOptions()
    )
        throws(FCSError)
    {
        self.encoder = try DataSetEncoder(parameters: parameters, eventCount: eventCount, options: options, nextData: 0)
        self.path = path
        self.fd = try FileOutput.create(path: path)
        try writeAll(encoder.headerAndText())
    }

    deinit { _ = close(fd) }

    private func writeAll(_ bytes: [UInt8]) throws(FCSError) {
        if encoder.options.crc { crc.update(bytes) }
        try FileOutput.writeAll(bytes, to: fd, path: path)
    }

    /// Appends events given as columns (one per parameter, equal lengths).
    public func append<C: RandomAccessCollection>(columns: [C]) throws(FCSError)
    where C.Element == Double, C.Index == Int {
        guard columns.count == encoder.parameters.count else {
            throw FCSError(.write, "expected \(encoder.parameters.count) columns, got \(columns.count)", file: path)
        }
        let rows = columns.first?.count ?? 0
        guard columns.allSatisfy({ $0.count == rows }) else {
            throw FCSError(.write, "columns have different lengths", file: path)
        }
        guard written + rows <= encoder.eventCount else {
            throw FCSError(.write, "more events appended than the \(encoder.eventCount) declared", file: path)
        }
        let chunk = Swift.max(1, (1 << 20) / Swift.max(1, encoder.rowBytes))
        var r = 0
        while r < rows {
            let n = Swift.min(chunk, rows - r)
            try writeAll(encoder.encodeRows(columns: columns, from: r, count: n))
            r += n
        }
        written += rows
    }

    /// Checks the event count and writes the CRC when asked for.
    public func finish() throws(FCSError) {
        guard !finished else { return }
        finished = true
        guard written == encoder.eventCount else {
            throw FCSError(.write, "\(written) events appended but \(encoder.eventCount) declared", file: path)
        }
        if encoder.options.crc {
            let field = String(crc.value, radix: 16, uppercase: true)
            try writeAll(Array((String(repeating: "0", count: 8 - field.count) + field).utf8))
        }
    }

    /// Encodes a whole file in memory: one data set per element, chained with `$NEXTDATA`.
    public static func encode(
        dataSets: [(columns: [[Double]], parameters: [FCSWriteParameter], options: FCSWriteOptions)]
    ) throws(FCSError) -> [UInt8] {
        var out: [UInt8] = []
        for (i, ds) in dataSets.enumerated() {
            let rows = ds.columns.first?.count ?? 0
            // $NEXTDATA = this data set's length, found by encoding until it is stable.
            var next: Int64 = 0
            var encoded: [UInt8] = []
            for _ in 0..<4 {
                let enc = try DataSetEncoder(
                    parameters: ds.parameters, eventCount: rows, options: ds.options, nextData: next)
                encoded = try enc.headerAndText() + enc.encodeRows(columns: ds.columns, from: 0, count: rows)
                if ds.options.crc {
                    var c = CRC16()
                    c.update(encoded)
                    let field = String(c.value, radix: 16, uppercase: true)
                    encoded += Array((String(repeating: "0", count: 8 - field.count) + field).utf8)
                }
                let want: Int64 = i == dataSets.count - 1 ? 0 : Int64(encoded.count)
                if want == next { break }
                next = want
            }
            out += encoded
        }
        return out
    }

    /// Encodes one data set in memory.
    public static func encode(
        columns: [[Double]], parameters: [FCSWriteParameter], options: FCSWriteOptions = FCSWriteOptions()
    )
        throws(FCSError) -> [UInt8]
    {
        try encode(dataSets: [(columns, parameters, options)])
    }
}

/// Builds HEADER, TEXT and DATA bytes for one data set.
struct DataSetEncoder {
    struct Field {
        var kind: FieldLayout.Kind
        var width: Int
        var order: [Int]
        var maxValue: Double
    }

    let parameters: [FCSWriteParameter]
    let eventCount: Int
    let options: FCSWriteOptions
    let nextData: Int64
    let fields: [Field]
    let rowBytes: Int

    init(parameters: [FCSWriteParameter], eventCount: Int, options: FCSWriteOptions, nextData: Int64) throws(FCSError) {
        guard !parameters.isEmpty else { throw FCSError(.write, "a data set needs at least one parameter") }
        guard eventCount >= 0 else { throw FCSError(.write, "negative event count") }
        guard options.version != .fcs2_0 else { throw FCSError(.write, "the writer writes FCS 3.0, 3.1 and 3.2") }
        guard options.delimiter >= 1 && options.delimiter <= 126, !(0x30...0x39).contains(options.delimiter) else {
            throw FCSError(.write, "the delimiter must be an ASCII character 1-126 other than a digit")
        }
        guard options.dataType != .ascii else { throw FCSError(.write, "the writer writes I, F and D data") }
        var fields: [Field] = []
        for (i, p) in parameters.enumerated() {
            let t = p.dataType ?? options.dataType
            if p.dataType != nil && p.dataType != options.dataType && options.version != .fcs3_2 {
                throw FCSError(.write, "parameter \(i + 1) has its own data type, which needs FCS 3.2")
            }
            switch t {
            case .integer:
                guard p.bits % 8 == 0, p.bits >= 8, p.bits <= 64 else {
                    throw FCSError(.write, "parameter \(i + 1): integer widths are 8, 16, 24, ..., 64 bits")
                }
                let w = p.bits / 8
                guard let o = options.byteOrder.order(forWidth: w) else {
                    throw FCSError(.write, "byte order \(options.byteOrder) cannot apply to \(p.bits)-bit values")
                }
                fields.append(
                    Field(
                        kind: .unsigned, width: w, order: o,
                        maxValue: w == 8 ? 18446744073709549568.0 : Double((UInt64(1) << UInt64(8 * w)) - 1)))
            case .float:
                fields.append(
                    Field(
                        kind: .float32, width: 4, order: options.byteOrder.order(forWidth: 4) ?? [0, 1, 2, 3],
                        maxValue: 0))
            case .double:
                guard let o = options.byteOrder.order(forWidth: 8) else {
                    throw FCSError(.write, "byte order \(options.byteOrder) cannot apply to 64-bit values")
                }
                fields.append(Field(kind: .float64, width: 8, order: o, maxValue: 0))
            case .ascii:
                throw FCSError(.write, "the writer writes I, F and D data")
            }
        }
        self.parameters = parameters
        self.eventCount = eventCount
        self.options = options
        self.nextData = nextData
        self.fields = fields
        self.rowBytes = fields.reduce(0) { $0 + $1.width }
    }

    var dataLength: Int64 { Int64(eventCount) * Int64(rowBytes) }

    /// TEXT keywords given the DATA offsets.
    private func keywords(dataStart: Int64, dataEnd: Int64) -> [(String, String)] {
        var kw: [(String, String)] = [
            ("$BEGINANALYSIS", "0"), ("$ENDANALYSIS", "0"), ("$BEGINSTEXT", "0"), ("$ENDSTEXT", "0"),
            ("$BEGINDATA", String(dataStart)), ("$ENDDATA", String(dataEnd)),
            ("$BYTEORD", options.byteOrder.keywordValue), ("$DATATYPE", options.dataType.rawValue), ("$MODE", "L"),
            ("$NEXTDATA", String(nextData)), ("$PAR", String(parameters.count)), ("$TOT", String(eventCount)),
        ]
        for (i, p) in parameters.enumerated() {
            let n = i + 1
            let t = p.dataType ?? options.dataType
            kw.append(("$P\(n)N", p.name))
            if let l = p.label, !l.isEmpty { kw.append(("$P\(n)S", l)) }
            kw.append(("$P\(n)B", String(t == .integer ? p.bits : (t == .float ? 32 : 64))))
            kw.append(
                ("$P\(n)E", "\(formatNumber(p.amplification.decades)),\(formatNumber(p.amplification.zeroValue))"))
            let range = p.range ?? (t == .integer ? Double(sign: .plus, exponent: p.bits, significand: 1) : 262144)
            kw.append(("$P\(n)R", formatNumber(range)))
            if let g = p.gain { kw.append(("$P\(n)G", formatNumber(g))) }
            if p.dataType != nil { kw.append(("$P\(n)DATATYPE", t.rawValue)) }
            for (k, v) in p.keywords.sorted(by: { $0.key < $1.key }) { kw.append((k, v)) }
        }
        if let s = options.spillover {
            kw.append((options.version == .fcs3_0 ? "SPILL" : "$SPILLOVER", s.keywordValue))
        }
        for k in options.keywords { kw.append((k.key, k.value)) }
        return kw
    }

    private func encodeText(_ kw: [(String, String)]) throws(FCSError) -> [UInt8] {
        let d = options.delimiter
        var out: [UInt8] = [d]
        for (k, v) in kw {
            for part in [k, v.isEmpty ? " " : v] {
                let bytes = Array(part.utf8)
                if bytes.first == d {
                    throw FCSError(
                        .write,
                        "keyword \(k): a keyword or value may not start with the delimiter; choose another delimiter")
                }
                for b in bytes {
                    out.append(b)
                    if b == d { out.append(d) }
                }
                out.append(d)
            }
        }
        return out
    }

    /// HEADER + TEXT bytes; DATA follows immediately.
    func headerAndText() throws(FCSError) -> [UInt8] {
        let textStart: Int64 = 58
        var dataStart: Int64 = 0
        var text: [UInt8] = []
        for _ in 0..<8 {
            let dataEnd = eventCount == 0 ? 0 : dataStart + dataLength - 1
            text = try encodeText(keywords(dataStart: eventCount == 0 ? 0 : dataStart, dataEnd: dataEnd))
            let next = textStart + Int64(text.count)
            if next == dataStart { break }
            dataStart = next
        }
        let textEnd = textStart + Int64(text.count) - 1
        let dataEnd = eventCount == 0 ? 0 : dataStart + dataLength - 1
        func field(_ v: Int64) -> String {
            let s = v > 99_999_999 ? "0" : String(v)
            return String(repeating: " ", count: 8 - s.count) + s
        }
        let big = dataEnd > 99_999_999
        var header = options.version.rawValue + "    "
        header += field(textStart) + field(textEnd)
        header += big || eventCount == 0 ? field(0) + field(0) : field(dataStart) + field(dataEnd)
        header += field(0) + field(0)
        return Array(header.utf8) + text
    }

    /// Encodes `count` rows starting at row `from`.
    func encodeRows<C: RandomAccessCollection>(columns: [C], from: Int, count: Int) throws(FCSError) -> [UInt8]
    where C.Element == Double, C.Index == Int {
        if let first = fields.first, first.kind != .unsigned,
            fields.allSatisfy({ $0.kind == first.kind && $0.order == first.order }),
            first.order == Array(0..<first.width) || first.order == Array((0..<first.width).reversed())
        {
            var out = [UInt8](repeating: 0, count: count * rowBytes)
            FastEncoder.encode(
                columns: columns, from: from, count: count, width: first.width, bigEndian: first.order.first != 0,
                into: &out)
            return out
        }
        return try encodeRowsScalar(columns: columns, from: from, count: count)
    }

    /// Safe reference encoder for every layout (the twin of `FastEncoder`).
    func encodeRowsScalar<C: RandomAccessCollection>(columns: [C], from: Int, count: Int) throws(FCSError) -> [UInt8]
    where C.Element == Double, C.Index == Int {
        var out = [UInt8](repeating: 0, count: count * rowBytes)
        var at = 0
        for r in from..<(from + count) {
            for (p, f) in fields.enumerated() {
                let col = columns[p]
                let v = col[col.startIndex + r]
                let bits: UInt64
                switch f.kind {
                case .unsigned:
                    guard v.isFinite else {
                        throw FCSError(.write, "parameter \(p + 1), event \(r + 1): integer data cannot hold \(v)")
                    }
                    let clamped = Swift.min(Swift.max(v.rounded(), 0), f.maxValue)
                    bits = UInt64(clamped)
                case .float32: bits = UInt64(Float(v).bitPattern)
                case .float64: bits = v.bitPattern
                case .asciiFixed: bits = 0
                }
                for i in 0..<f.width {
                    out[at + i] = UInt8(truncatingIfNeeded: bits >> UInt64(8 * f.order[i]))
                }
                at += f.width
            }
        }
        return out
    }
}
