/// Reads FCS 2.0, 3.0, 3.1 and 3.2 files.
///
/// HEADER and TEXT of every data set are read when the reader is created; DATA is read on
/// demand, block by block, through ``events(dataSet:values:blockSize:)``, so memory stays bounded
/// by the block size whatever the file size. ``readEvents(dataSet:values:)`` is the whole-data-set
/// convenience on top.
///
/// ```swift
/// let reader = try FCSReader(path: "sample.fcs")
/// var blocks = try reader.events()
/// while let block = try blocks.next() {
///     let cd4 = block.column(5)   // ArraySlice<Double>
/// }
/// ```
public final class FCSReader {
    /// Reading options. The defaults read every vendor quirk we know of and report each as a
    /// warning; the options force one reading where the automatic choice is not wanted.
    public struct Options: Sendable, Hashable {
        /// Which DATA offsets to trust when HEADER and TEXT disagree.
        public enum DataOffsets: String, Sendable, Hashable, Codable {
            /// Validate both against the file size, TEXT and `$TOT` x bytes per event; take the
            /// one that fits (HEADER when both fit), with a warning.
            case automatic
            case header
            case text
        }
        public var dataOffsets: DataOffsets = .automatic
        public var textInterpretation: FCSTextInterpretation = .automatic
        /// Read the complete events of a truncated file (with a warning) instead of failing.
        public var allowTruncatedData = false
        /// Fail on a CRC mismatch instead of warning.
        public var strictCRC = false
        /// Read data sets after the first (`$NEXTDATA`).
        public var followNextData = true
        /// Upper bound on data sets per file (loop guard).
        public var maxDataSets = 1024
        /// Events per block when streaming; nil picks about 256 KiB of raw DATA per block.
        public var blockSize: Int?

        public init() {}
    }

    /// Which values events carry.
    public enum Values: String, Sendable, Hashable, Codable {
        /// As stored, after `$PnR` bit masking of integers.
        case stored
        /// Scaled "the reference way": `$PnE` log decode for integer data (f2 = 0 read as 1),
        /// division by `$PnG` on linear channels, `$TIMESTEP` on the time channel.
        case scaled
    }

    /// The input's name (path or the name given).
    public let fileName: String
    /// Size of the input in bytes, when known.
    public let fileSize: Int64?
    public let options: Options
    /// Every data set, in file order.
    public let dataSets: [FCSDataSet]

    let source: any ByteSource

    /// Opens a file; `.gz` content (detected by its magic bytes) is decompressed as a stream.
    public convenience init(path: String, options: Options = Options()) throws(FCSError) {
        let source = try InputOpener.open(path: path)
        try self.init(source: source, name: path, options: options)
    }

    /// Reads a regular (not gzip) file while `sink` receives each of its bytes once, in order;
    /// `finishSink()` after the last read sends the rest. One read both decodes and hashes a file.
    public convenience init(
        path: String, options: Options = Options(), sink: @escaping ([UInt8]) -> Void
    ) throws(FCSError) {
        let source = try InputOpener.open(path: path)
        try self.init(source: SinkingByteSource(base: source, sink: sink), name: path, options: options)
    }

    /// Sends the bytes the reader never read to the sink of `init(path:options:sink:)`.
    public func finishSink() throws(FCSError) {
        try (source as? SinkingByteSource)?.finish()
    }

    /// Reads from an open descriptor (not closed by the reader). Regular files are read in
    /// place; pipes are read as a forward-only stream.
    public convenience init(fileDescriptor: Int32, name: String, options: Options = Options()) throws(FCSError) {
        let source = try InputOpener.source(fd: fileDescriptor, owns: false, name: name)
        try self.init(source: source, name: name, options: options)
    }

    /// Reads from bytes in memory.
    public convenience init(bytes: [UInt8], name: String = "<memory>", options: Options = Options()) throws(FCSError) {
        try self.init(source: MemoryByteSource(bytes), name: name, options: options)
    }

    package init(source: any ByteSource, name: String, options: Options) throws(FCSError) {
        self.source = source
        self.fileName = name
        self.fileSize = source.size
        self.options = options
        var sets: [FCSDataSet] = []
        var visited: Set<Int64> = []
        var base: Int64 = 0
        do throws(FCSError) {
            while true {
                visited.insert(base)
                var parser = DataSetParser(
                    source: source, size: source.size, base: base, index: sets.count, options: options)
                let (set, next) = try parser.parse()
                sets.append(set)
                guard options.followNextData, let next else { break }
                if visited.contains(next) {
                    throw FCSError(
                        .nextDataLoop,
                        "$NEXTDATA of data set \(sets.count) leads back to a data set already read (byte \(next))",
                        byteOffset: base, segment: .text, keyword: "$NEXTDATA")
                }
                if sets.count >= options.maxDataSets {
                    throw FCSError(
                        .nextDataLoop,
                        "more than \(options.maxDataSets) data sets (the reader's limit)",
                        byteOffset: next, keyword: "$NEXTDATA")
                }
                base = next
            }
        } catch {
            throw error.with(file: name)
        }
        self.dataSets = sets
    }

    /// Streams the events of a data set in blocks.
    /// - Parameters:
    ///   - dataSet: 0-based data set index.
    ///   - values: stored or scaled values.
    ///   - blockSize: events per block (default from `Options.blockSize`, else about 256 KiB of DATA).
    public func events(
        dataSet: Int = 0, values: Values = .stored, blockSize: Int? = nil
    ) throws(FCSError)
        -> EventBlockReader
    {
        guard dataSets.indices.contains(dataSet) else {
            throw FCSError(
                .io, "the file has \(dataSets.count) data set(s); there is no data set \(dataSet)", file: fileName)
        }
        let set = dataSets[dataSet]
        let perBlock =
            blockSize ?? options.blockSize
            ?? Swift.max(
                64, (256 * 1024) / Swift.max(1, set.bytesPerEvent == 0 ? 16 * set.parameters.count : set.bytesPerEvent))
        return EventBlockReader(
            source: source, dataSet: set, values: values, blockEvents: Swift.max(1, perBlock), fileName: fileName)
    }

    /// Reads every event of a data set into columns (one `[Double]` per parameter).
    public func readEvents(dataSet: Int = 0, values: Values = .stored) throws(FCSError) -> FCSEvents {
        var reader = try events(dataSet: dataSet, values: values)
        let set = dataSets[dataSet]
        var columns = [[Double]](repeating: [], count: set.parameters.count)
        for p in columns.indices { columns[p].reserveCapacity(set.eventCount) }
        while let block = try reader.next() {
            for p in columns.indices { columns[p].append(contentsOf: block.column(p)) }
        }
        return FCSEvents(dataSet: set, columns: columns)
    }
}

/// All events of one data set, by column.
public struct FCSEvents: Sendable {
    public var dataSet: FCSDataSet
    /// One array per parameter, in parameter order.
    public var columns: [[Double]]
    public var count: Int { columns.first?.count ?? 0 }
    /// The values of event `i` in parameter order.
    public func event(_ i: Int) -> [Double] { columns.map { $0[i] } }
}

/// A block of consecutive events in columnar form.
public struct EventBlock: Sendable {
    /// Index of the first event of the block within its data set.
    public let firstEvent: Int
    /// Number of events in the block.
    public let count: Int
    public let parameterCount: Int
    let stride: Int
    let storage: [Double]

    /// The values of parameter `p` (0-based) for the events of this block. Zero-copy.
    public func column(_ p: Int) -> ArraySlice<Double> {
        precondition(p >= 0 && p < parameterCount, "parameter index out of range")
        return storage[(p * stride)..<(p * stride + count)]
    }

    /// The values of event `i` (0-based within the block) in parameter order.
    public func event(_ i: Int) -> [Double] {
        precondition(i >= 0 && i < count, "event index out of range")
        return (0..<parameterCount).map { storage[$0 * stride + i] }
    }
}
