import Foundation
import TestSupport
import Testing

@testable import FCSParser

/// Round trips, chunk invariance, malformed input, input kinds, scaling and the decode kernels.
@Suite("FCS reader and writer")
struct ReaderTests {
    // MARK: Round trip

    struct TableSpec: CustomStringConvertible, Sendable {
        var seed: UInt64
        var type: FCSDataType
        var bits: [Int]
        var order: FCSByteOrder
        var delimiter: UInt8
        var version: FCSVersion
        var events: Int
        var description: String {
            "seed \(seed) \(type.rawValue) bits \(bits) byteord \(order) delim 0x\(String(delimiter, radix: 16)) \(version.rawValue) \(events) events"
        }
    }

    static func randomSpecs() -> [TableSpec] {
        var rng = SeededRandom(seed: 7)
        var specs: [TableSpec] = []
        let widths = [8, 16, 24, 32, 40, 48, 56, 64]
        let delimiters: [UInt8] = [
            UInt8(ascii: "|"), UInt8(ascii: "/"), UInt8(ascii: "\\"), 0x0C, UInt8(ascii: "*"), UInt8(ascii: "!"),
            UInt8(ascii: ","),
        ]
        for i in 0..<60 {
            let type: FCSDataType = [.integer, .float, .double][i % 3]
            let params = Int.random(in: 1...9, using: &rng)
            let mixed = Bool.random(using: &rng)
            let w = widths.randomElement(using: &rng)!
            let bits = (0..<params).map { _ in mixed ? widths.randomElement(using: &rng)! : w }
            var order: FCSByteOrder = Bool.random(using: &rng) ? .littleEndian : .bigEndian
            if type == .integer && !mixed && w == 32 && i % 4 == 0 { order = FCSByteOrder(keyword: "2,1,4,3")! }
            specs.append(
                TableSpec(
                    seed: rng.next(), type: type, bits: bits, order: order,
                    delimiter: delimiters.randomElement(using: &rng)!,
                    version: order.isLittleEndian || order.isBigEndian
                        ? [.fcs3_0, .fcs3_1, .fcs3_2].randomElement(using: &rng)! : .fcs3_0,
                    events: [0, 1, 2, 17, 1000, 4099].randomElement(using: &rng)!))
        }
        return specs
    }

    static func table(_ spec: TableSpec) -> (columns: [[Double]], params: [FCSWriteParameter], options: FCSWriteOptions)
    {
        var rng = SeededRandom(seed: spec.seed)
        let columns: [[Double]] = spec.bits.map { bits in
            (0..<spec.events).map { _ in
                switch spec.type {
                case .integer:
                    let maxValue: UInt64 = bits >= 53 ? (UInt64(1) << 53) : (UInt64(1) << UInt64(bits)) - 1
                    return Double(UInt64.random(in: 0...maxValue, using: &rng))
                case .float:
                    return Double(Float(bitPattern: UInt32.random(in: 0...0x7F7F_FFFF, using: &rng)))
                        * (Bool.random(using: &rng) ? 1 : -1)
                default: return Double.random(in: -1e300...1e300, using: &rng)
                }
            }
        }
        let params = spec.bits.enumerated().map { i, b in
            FCSWriteParameter(name: "P\(i + 1)|/\\", label: i % 2 == 0 ? "label \(i)" : nil, bits: b)
        }
        var o = FCSWriteOptions()
        o.version = spec.version
        o.dataType = spec.type
        o.byteOrder = spec.order
        o.delimiter = spec.delimiter
        o.add("$COM", "value with delimiters | / \\ , ! * and \u{0C}")
        return (columns, params, o)
    }

    @Test("writer/reader round trip over types, widths, byte orders and delimiters", arguments: randomSpecs())
    func roundTrip(spec: TableSpec) throws {
        let t = Self.table(spec)
        let bytes = try FCSWriter.encode(columns: t.columns, parameters: t.params, options: t.options)
        let reader = try FCSReader(bytes: bytes)
        let set = try #require(reader.dataSets.first)
        #expect(set.eventCount == spec.events, "\(spec)")
        #expect(set.parameters.map(\.name) == t.params.map(\.name), "\(spec)")
        #expect(set.text["$COM"] == "value with delimiters | / \\ , ! * and \u{0C}", "\(spec)")
        let ev = try reader.readEvents()
        #expect(ev.columns == t.columns, "\(spec)")
        #expect(set.warnings.allSatisfy { $0.code == "byteord_permutation" }, "\(spec): \(set.warnings)")
    }

    // MARK: Chunk invariance

    @Test("block sizes 1, 7, 4096 and whole-file give identical events")
    func chunkInvariance() throws {
        var files = FixtureCatalog.allOrEmpty.filter {
            if case .reads = $0.expectation { !$0.path.hasSuffix(".gz") } else { false }
        }.map { ($0.path, $0.bytes) }
        let spec = TableSpec(
            seed: 99, type: .float, bits: [32, 32, 32], order: .bigEndian, delimiter: 0x7C, version: .fcs3_1,
            events: 10_007)
        let t = Self.table(spec)
        files.append(("generated", try FCSWriter.encode(columns: t.columns, parameters: t.params, options: t.options)))
        for (name, bytes) in files {
            let reader = try FCSReader(bytes: bytes)
            for set in reader.dataSets {
                let whole = try reader.readEvents(dataSet: set.index)
                for size in [1, 7, 4096, max(1, set.eventCount)] {
                    var blocks = try reader.events(dataSet: set.index, blockSize: size)
                    var columns = [[Double]](repeating: [], count: set.parameters.count)
                    var next = 0
                    while let b = try blocks.next() {
                        #expect(b.firstEvent == next)
                        #expect(b.count <= size)
                        next += b.count
                        for p in columns.indices { columns[p] += b.column(p) }
                    }
                    #expect(columns == whole.columns, "\(name) set \(set.index) block size \(size)")
                }
                // Scaled values are block-invariant too.
                let scaledWhole = try reader.readEvents(dataSet: set.index, values: .scaled)
                var blocks = try reader.events(dataSet: set.index, values: .scaled, blockSize: 7)
                var first: [Double] = []
                while let b = try blocks.next() { first += b.column(0) }
                #expect(first == scaledWhole.columns[0])
            }
        }
    }

    @Test("a kept block is not overwritten by the next one (copy-on-write)")
    func keptBlocks() throws {
        let spec = TableSpec(
            seed: 5, type: .double, bits: [64, 64], order: .littleEndian, delimiter: 0x7C, version: .fcs3_1, events: 100
        )
        let t = Self.table(spec)
        let reader = try FCSReader(
            bytes: try FCSWriter.encode(columns: t.columns, parameters: t.params, options: t.options))
        var blocks = try reader.events(blockSize: 10)
        var kept: [EventBlock] = []
        while let b = try blocks.next() { kept.append(b) }
        #expect(kept.count == 10)
        for (i, b) in kept.enumerated() { #expect(Array(b.column(1)) == Array(t.columns[1][(i * 10)..<(i * 10 + 10)])) }
    }

    // MARK: Large offsets

    @Test("a data set past 99,999,999 bytes round-trips through a file (HEADER offsets 0)")
    func largeFile() throws {
        let dir = Paths.temporaryDirectory("large")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("large.fcs").path
        let events = 12_600_000  // x 8 bytes = 100.8 MB of DATA
        var o = FCSWriteOptions()
        o.dataType = .double
        o.byteOrder = .bigEndian
        let writer = try FCSWriter(
            path: path, parameters: [FCSWriteParameter(name: "X")], eventCount: events, options: o)
        let chunk = 1_000_000
        var at = 0
        while at < events {
            let n = min(chunk, events - at)
            try writer.append(columns: [(at..<(at + n)).map { Double($0) * 0.5 }])
            at += n
        }
        try writer.finish()
        let reader = try FCSReader(path: path)
        let set = try #require(reader.dataSets.first)
        #expect(set.header.data == nil, "HEADER DATA offsets must be 0 past 99,999,999")
        #expect(set.eventCount == events)
        #expect(set.dataRange!.end > 99_999_999)
        #expect(set.warnings.isEmpty)
        var blocks = try reader.events(blockSize: 1 << 16)
        var expected = 0
        var ok = true
        while let b = try blocks.next() {
            for v in b.column(0) {
                if v != Double(expected) * 0.5 { ok = false }
                expected += 1
            }
        }
        #expect(ok && expected == events)
    }

    // MARK: Malformed input

    @Test("truncation at every segment boundary gives a specific error")
    func truncationAtBoundaries() throws {
        let bytes = try #require(FixtureCatalog.allOrEmpty.first { $0.path == "pass/f32_le_fcs3.1.fcs" }).bytes
        let full = try FCSReader(bytes: bytes).dataSets[0]
        let textEnd = Int(full.textRange.end)
        let dataStart = Int(full.dataRange!.start)
        let cases: [(Int, FCSError.Code)] = [
            (0, .truncatedHeader), (3, .truncatedHeader), (57, .truncatedHeader), (58, .textOutOfBounds),
            (59, .textOutOfBounds),
            (textEnd, .textOutOfBounds), (textEnd + 1, .truncatedData), (dataStart + 1, .truncatedData),
            (bytes.count - 1, .truncatedData),
        ]
        for (cut, code) in cases {
            #expect(throws: FCSError.self) { try FCSReader(bytes: Array(bytes.prefix(cut))) }
            do {
                _ = try FCSReader(bytes: Array(bytes.prefix(cut)))
            } catch {
                #expect(error.code == code, "cut at \(cut): \(error)")
            }
        }
        // Every other cut point fails too, and none crashes.
        for cut in stride(from: 0, to: bytes.count, by: 3) {
            #expect(throws: FCSError.self) { try FCSReader(bytes: Array(bytes.prefix(cut))) }
        }
    }

    @Test("a 1 KB file claiming 10^12 events fails fast without a large allocation")
    func hostileCounts() throws {
        var r = RawFCS()
        r.keywords =
            [
                ("$BYTEORD", "1,2,3,4"), ("$DATATYPE", "F"), ("$MODE", "L"), ("$NEXTDATA", "0"), ("$PAR", "12"),
                ("$TOT", "1000000000000"),
            ]
            + RawFCS.parameterKeywords(
                names: (1...12).map { "P\($0)" }, bits: Array(repeating: "32", count: 12),
                ranges: Array(repeating: 1024, count: 12))
        r.data = [UInt8](repeating: 0, count: 480)
        // HEADER and TEXT agree on a range that would hold the claimed events.
        r.headerDataZero = true
        r.textDataShift = (0, 48_000_000_000_000 - 480)
        let start = Date()
        #expect(throws: FCSError.self) { try FCSReader(bytes: r.build()) }
        do {
            _ = try FCSReader(bytes: r.build())
        } catch {
            #expect(error.code == .truncatedData)
        }
        #expect(Date().timeIntervalSince(start) < 1)
        // A huge TEXT claim in the HEADER.
        var t = RawFCS()
        t.keywords = [("$PAR", "1")]
        t.headerFieldOverrides[1] = "99999999"
        #expect(throws: FCSError.self) { try FCSReader(bytes: t.build()) }
        // $PAR beyond any sane count.
        var p = RawFCS()
        p.keywords = [("$BYTEORD", "1,2,3,4"), ("$DATATYPE", "F"), ("$PAR", "99999999999"), ("$TOT", "1")]
        do {
            _ = try FCSReader(bytes: p.build())
            Issue.record("expected bad_parameter_count")
        } catch {
            #expect(error.code == .badParameterCount)
        }
    }

    @Test("error descriptions name file, code, segment and offset, never keyword values")
    func errorDescriptions() throws {
        var r = RawFCS()
        r.keywords = [
            ("$SRC", "PATIENT-123456"), ("$BYTEORD", "1,2,3,4"), ("$DATATYPE", "Q"), ("$PAR", "1"), ("$TOT", "1"),
        ]
        do {
            _ = try FCSReader(bytes: r.build(), name: "x.fcs")
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("x.fcs"))
            #expect(error.description.contains("unsupported_datatype"))
            #expect(error.description.contains("$DATATYPE"))
            #expect(!error.description.contains("PATIENT-123456"))
        }
    }

    @Test("spillover forms: names, numbers, whitespace, $PnS names, wrong sizes")
    func spilloverForms() throws {
        let params = ["FSC-A", "FITC-A", "PE-A"].enumerated().map { i, n in
            FCSParameter(
                number: i + 1, name: n, label: i == 1 ? "CD4" : nil, bits: 32, range: 1, amplification: .linear,
                gain: nil, dataType: .float, storageBytes: 4, mask: nil, isTime: false)
        }
        let named = try #require(
            try FCSSpillover(keywordValue: "2,FITC-A,PE-A,1,0.1,0.02,1", keyword: "$SPILLOVER", parameters: params))
        #expect(named.channels == ["FITC-A", "PE-A"])
        #expect(named.matrix == [[1, 0.1], [0.02, 1]])
        let numbers = try #require(
            try FCSSpillover(keywordValue: "2,2,3,1,0.1,0.02,1", keyword: "$SPILLOVER", parameters: params))
        #expect(numbers.channels == ["FITC-A", "PE-A"])
        let spaces = try #require(
            try FCSSpillover(
                keywordValue: " 2 , FITC-A , PE-A , 1 , 1e-1 , 0.02 , 1 ", keyword: "SPILL", parameters: params))
        #expect(spaces.matrix[0][1] == 0.1)
        let labels = try #require(
            try FCSSpillover(keywordValue: "2,CD4,PE-A,1,0,0,1", keyword: "$SPILLOVER", parameters: params))
        #expect(labels.channels == ["FITC-A", "PE-A"])
        #expect(try FCSSpillover(keywordValue: "0", keyword: "$SPILLOVER", parameters: params) == nil)
        for bad in [
            "2,FITC-A,PE-A,1,0.1,0.02", "3,FITC-A,PE-A,1,0,0,1", "2,FITC-A,XYZ,1,0,0,1", "2,FITC-A,PE-A,1,x,0,1", "x",
            "2,FITC-A,FITC-A,1,0,0,1",
        ] {
            #expect(throws: FCSError.self, "\(bad)") {
                try FCSSpillover(keywordValue: bad, keyword: "$SPILLOVER", parameters: params)
            }
            do {
                _ = try FCSSpillover(keywordValue: bad, keyword: "$SPILLOVER", parameters: params)
            } catch {
                #expect(error.code == .badSpillover)
                #expect(error.keyword == "$SPILLOVER")
            }
        }
    }

    // MARK: Inputs

    @Test("path, descriptor, pipe and gzip inputs give the same events")
    func inputKinds() throws {
        let fixture = try #require(FixtureCatalog.allOrEmpty.first { $0.path == "pass/two_datasets.fcs" })
        let dir = Paths.temporaryDirectory("inputs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let plain = dir.appendingPathComponent("a.fcs")
        let gz = dir.appendingPathComponent("a.fcs.gz")
        try Data(fixture.bytes).write(to: plain)
        try Data(try FixtureCatalog.gzip(fixture.bytes)).write(to: gz)
        let reference = try FCSReader(bytes: fixture.bytes)
        func events(_ r: FCSReader) throws -> [[[Double]]] {
            try r.dataSets.indices.map { try r.readEvents(dataSet: $0).columns }
        }
        let expected = try events(reference)
        #expect(try events(FCSReader(path: plain.path)) == expected)
        #expect(try events(FCSReader(path: gz.path)) == expected)
        let fd = open(plain.path, O_RDONLY)
        defer { close(fd) }
        #expect(try events(FCSReader(fileDescriptor: fd, name: "fd")) == expected)
        // A pipe: forward-only, read in one pass.
        let single = try #require(FixtureCatalog.allOrEmpty.first { $0.path == "pass/f32_le_fcs3.1.fcs" }).bytes
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let writeEnd = fds[1]
        let writer = Thread {
            single.withUnsafeBytes { raw in _ = write(writeEnd, raw.baseAddress, raw.count) }
            close(writeEnd)
        }
        writer.start()
        defer { close(fds[0]) }
        let piped = try FCSReader(fileDescriptor: fds[0], name: "pipe")
        #expect(piped.fileSize == nil)
        #expect(try piped.readEvents().columns == (try FCSReader(bytes: single).readEvents().columns))
        // Going back in a pipe fails with a clear error, not a crash.
        do {
            _ = try piped.readEvents()
            Issue.record("re-reading a pipe should fail")
        } catch {
            #expect(error.code == .io)
            #expect(error.message.contains("not seekable"))
        }
        // A file that does not exist.
        do {
            _ = try FCSReader(path: dir.appendingPathComponent("missing.fcs").path)
        } catch {
            #expect(error.code == .io)
        }
    }

    // MARK: Values

    @Test("scaled values: $PnE log decode with f2 = 0 read as 1, $PnG division, $TIMESTEP")
    func scaling() throws {
        var r = RawFCS()
        r.keywords = [
            ("$BYTEORD", "1,2,3,4"), ("$DATATYPE", "I"), ("$MODE", "L"), ("$NEXTDATA", "0"), ("$PAR", "4"),
            ("$TOT", "3"), ("$TIMESTEP", "0.01"),
            ("$P1N", "FL1-H"), ("$P1B", "16"), ("$P1R", "1024"), ("$P1E", "4,0"),
            ("$P2N", "FL2-H"), ("$P2B", "16"), ("$P2R", "1024"), ("$P2E", "4.0,0.1024"),
            ("$P3N", "FSC-A"), ("$P3B", "16"), ("$P3R", "1024"), ("$P3E", "0,0"), ("$P3G", "4"),
            ("$P4N", "Time"), ("$P4B", "16"), ("$P4R", "1024"), ("$P4E", "0,0"), ("$P4G", "2"),
        ]
        let values: [[UInt64]] = [[0, 512, 1023], [0, 256, 1024 + 256], [400, 8, 0], [100, 200, 300]]
        r.data = RawFCS.integerRows(values, widths: [2, 2, 2, 2], bigEndian: false)
        let reader = try FCSReader(bytes: r.build())
        let s = try reader.readEvents(values: .scaled)
        #expect(s.columns[0][0] == 1)
        #expect(abs(s.columns[0][1] - 100) < 1e-9)
        #expect(abs(s.columns[0][2] - pow(10, 4 * 1023 / 1024.0)) < 1e-6)
        #expect(abs(s.columns[1][1] - 0.1024 * 10) < 1e-12)
        #expect(s.columns[2] == [100, 2, 0])
        #expect(s.columns[3] == [1, 2, 3], "time: x $TIMESTEP, no gain")
        let stored = try reader.readEvents()
        #expect(stored.columns[1][2] == 256, "masked to $PnR")
    }

    // MARK: Kernels

    @Test("fast decode kernels equal the scalar twin on random rows")
    func kernelsMatchScalar() throws {
        var rng = SeededRandom(seed: 42)
        let kinds: [(FieldLayout.Kind, Int, Bool)] = [
            (.float32, 4, true), (.float32, 4, false), (.float64, 8, true), (.float64, 8, false), (.unsigned, 1, false),
            (.unsigned, 2, true), (.unsigned, 2, false), (.unsigned, 4, true), (.unsigned, 4, false),
        ]
        for (kind, width, big) in kinds {
            for _ in 0..<20 {
                let params = Int.random(in: 1...16, using: &rng)
                let rows = Int.random(in: 0...300, using: &rng)
                let order = big ? Array((0..<width).reversed()) : Array(0..<width)
                let fields = (0..<params).map { p -> FieldLayout in
                    let mask: UInt64 =
                        kind == .unsigned
                        ? (UInt64(1) << UInt64(Int.random(in: 1...(width * 8), using: &rng))) &- 1 : .max
                    return FieldLayout(
                        kind: kind, offset: p * width, width: width, order: order,
                        mask: width == 8 || kind != .unsigned ? .max : mask)
                }
                let layout = DataLayout(fields: fields, rowBytes: params * width, delimitedASCII: false)
                let uniform = try #require(layout.uniform)
                var raw = (0..<(rows * layout.rowBytes)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if kind == .float32 || kind == .float64 {
                    // Keep NaN payloads out of the comparison (NaN != NaN).
                    raw = raw.map { $0 & 0xBF }
                }
                let stride = rows + 9
                var fast = [Double](repeating: -1, count: params * stride)
                var slow = fast
                FastDecoder.decode(raw: raw, rows: rows, layout: layout, uniform: uniform, into: &fast, stride: stride)
                try ScalarDecoder.decode(raw: raw, rows: rows, layout: layout, into: &slow, stride: stride)
                #expect(fast == slow, "\(kind) width \(width) big \(big) params \(params) rows \(rows)")
            }
        }
    }
}

extension FixtureCatalog {
    static var allOrEmpty: [Fixture] { (try? all()) ?? [] }
}

@Suite("FCS writer kernels")
struct WriterKernelTests {
    @Test(
        "fast float encoder equals the scalar encoder", arguments: [FCSDataType.float, .double],
        [FCSByteOrder.littleEndian, .bigEndian])
    func fastEncoder(type: FCSDataType, order: FCSByteOrder) throws {
        var rng = SeededRandom(seed: 77)
        let columns = (0..<5).map { _ in (0..<333).map { _ in Double.random(in: -1e6...1e6, using: &rng) } }
        var o = FCSWriteOptions()
        o.dataType = type
        o.byteOrder = order
        let enc = try DataSetEncoder(
            parameters: (0..<5).map { FCSWriteParameter(name: "P\($0)") }, eventCount: 333, options: o, nextData: 0)
        #expect(
            try enc.encodeRows(columns: columns, from: 11, count: 300)
                == enc.encodeRowsScalar(columns: columns, from: 11, count: 300))
    }
}

@Suite("One-pass hashing source")
struct SinkingSourceTests {
    @Test("the sink sees every byte of the file once, in order, whatever the reader read (twin: the file's bytes)")
    func sinkSeesTheFile() throws {
        for name in [
            "pass/f32_le_fcs3.1.fcs", "pass/two_datasets.fcs", "pass/crc_fcs3.1.fcs", "quirks/analysis_segment.fcs",
        ] {
            let url = Paths.fixtures.appendingPathComponent("fcs/" + name)
            let whole = [UInt8](try Data(contentsOf: url))
            for readEvents in [false, true] {
                nonisolated(unsafe) var seen: [UInt8] = []
                let reader = try FCSReader(path: url.path) { seen += $0 }
                if readEvents {
                    for set in reader.dataSets { _ = try reader.readEvents(dataSet: set.index) }
                }
                try reader.finishSink()
                #expect(seen == whole, "\(name), events read: \(readEvents)")
            }
        }
    }
}
