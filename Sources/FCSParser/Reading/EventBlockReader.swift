#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Streams the events of one data set in blocks of at most `blockEvents` events. Memory is
/// bounded by the block: one raw buffer and one column buffer, reused while the caller does not
/// keep the previous block (copy-on-write makes keeping it safe).
public struct EventBlockReader {
    let source: any ByteSource
    public let dataSet: FCSDataSet
    public let values: FCSReader.Values
    public let blockEvents: Int
    let fileName: String

    /// Index of the next event to deliver.
    public private(set) var nextEvent = 0
    private var raw: [UInt8] = []
    private var storage: [Double] = []
    private let stride: Int
    private let uniform: DataLayout.Uniform?
    // Delimited ASCII state.
    private var asciiPosition: Int64 = 0
    private var asciiChunk: [UInt8] = []
    private var asciiIndex = 0

    init(source: any ByteSource, dataSet: FCSDataSet, values: FCSReader.Values, blockEvents: Int, fileName: String) {
        self.source = source
        self.dataSet = dataSet
        self.values = values
        self.blockEvents = Swift.min(blockEvents, Swift.max(1, dataSet.eventCount))
        self.fileName = fileName
        // Column stride: room for a full block, padded so that columns do not start at
        // addresses equal modulo 4096 (cache-set aliasing slows the decode loops).
        var s = (self.blockEvents + 7) / 8 * 8 + 8
        if (s * 8) % 4096 == 0 { s += 8 }
        self.stride = s
        self.uniform = dataSet.layout.uniform
        self.asciiPosition = dataSet.dataRange?.start ?? 0
    }

    /// Total number of events in the data set.
    public var eventCount: Int { dataSet.eventCount }

    /// The next block, or nil after the last event.
    public mutating func next() throws(FCSError) -> EventBlock? {
        guard nextEvent < dataSet.eventCount, let range = dataSet.dataRange else { return nil }
        let n = Swift.min(blockEvents, dataSet.eventCount - nextEvent)
        let params = dataSet.parameters.count
        if storage.count != params * stride {
            storage = [Double](repeating: 0, count: params * stride)
        }
        do throws(FCSError) {
            if dataSet.layout.delimitedASCII {
                try readDelimited(rows: n, end: range.end)
            } else {
                let rowBytes = dataSet.layout.rowBytes
                let count = n * rowBytes
                if raw.count < count { raw = [UInt8](repeating: 0, count: count) }
                let offset = range.start + Int64(nextEvent) * Int64(rowBytes)
                let got = try source.readFully(at: offset, count: count, into: &raw)
                guard got == count else {
                    throw FCSError(
                        .truncatedData,
                        "the file ended inside DATA, at event \(nextEvent + got / rowBytes + 1) of \(dataSet.eventCount); it may be truncated or still being written",
                        byteOffset: offset + Int64(got), segment: .data)
                }
                if let uniform {
                    FastDecoder.decode(
                        raw: raw, rows: n, layout: dataSet.layout, uniform: uniform, into: &storage, stride: stride)
                } else {
                    try ScalarDecoder.decode(raw: raw, rows: n, layout: dataSet.layout, into: &storage, stride: stride)
                }
            }
        } catch {
            throw error.with(file: fileName)
        }
        if values == .scaled { applyScaling(rows: n) }
        let block = EventBlock(
            firstEvent: nextEvent, count: n, parameterCount: params, stride: stride, storage: storage)
        nextEvent += n
        return block
    }

    /// `$PnE` log decode (integer data), `$PnG` division (linear channels), `$TIMESTEP` (time).
    private mutating func applyScaling(rows: Int) {
        for (p, param) in dataSet.parameters.enumerated() {
            let base = p * stride
            if param.isTime {
                if let ts = dataSet.timestep {
                    for r in 0..<rows { storage[base + r] *= ts }
                }
            } else if param.amplification.isLogarithmic && param.dataType == .integer {
                let f1 = param.amplification.decades
                let f2 = param.amplification.zeroValue
                let range = (param.range ?? 0) > 0 ? param.range! : 1
                for r in 0..<rows { storage[base + r] = f2 * pow(10, f1 * storage[base + r] / range) }
            } else if let g = param.gain, g != 1 {
                for r in 0..<rows { storage[base + r] /= g }
            }
        }
    }

    // MARK: Delimited ASCII

    private static func isSeparator(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x09 || b == 0x2c || b == 0x0d || b == 0x0a
    }

    private mutating func nextToken(end: Int64) throws(FCSError) -> [UInt8]? {
        var token: [UInt8] = []
        while true {
            if asciiIndex >= asciiChunk.count {
                if asciiPosition > end { return token.isEmpty ? nil : token }
                let want = Int(Swift.min(Int64(1 << 16), end - asciiPosition + 1))
                asciiChunk = try source.readBytes(at: asciiPosition, count: want)
                asciiIndex = 0
                if asciiChunk.isEmpty {
                    throw FCSError(
                        .truncatedData, "the file ended inside ASCII DATA", byteOffset: asciiPosition, segment: .data)
                }
                asciiPosition += Int64(asciiChunk.count)
            }
            let b = asciiChunk[asciiIndex]
            asciiIndex += 1
            if Self.isSeparator(b) {
                if !token.isEmpty { return token }
            } else {
                token.append(b)
                if token.count > 64 {
                    throw FCSError(
                        .badASCIIValue, "an ASCII DATA value is longer than 64 characters", byteOffset: asciiPosition,
                        segment: .data)
                }
            }
        }
    }

    private mutating func readDelimited(rows: Int, end: Int64) throws(FCSError) {
        let params = dataSet.parameters.count
        for r in 0..<rows {
            for p in 0..<params {
                guard let t = try nextToken(end: end) else {
                    throw FCSError(
                        .truncatedData, "ASCII DATA ends after \(nextEvent + r) of \(dataSet.eventCount) events",
                        byteOffset: end, segment: .data)
                }
                guard let v = parseASCIINumber(t) else {
                    throw FCSError(
                        .badASCIIValue,
                        "ASCII DATA value for parameter \(p + 1) of event \(nextEvent + r + 1) is not a number",
                        byteOffset: asciiPosition, segment: .data)
                }
                storage[p * stride + r] = v
            }
        }
    }
}
