import Benchmark
import FCSParser
import Foundation

// Files are generated once under $TMPDIR/cytoingest-bench (reused while their size is right):
//   f32be: 10^7 events x 12 parameters, float32 big-endian (480 MB of DATA)
//   f32le: the same, little-endian
//   i16:   10^7 x 12, 16-bit big-endian integers (240 MB)
//   text:  a 1,000-event file with 60 parameters and ~500 keywords (HEADER+TEXT parse)
// Throughput (MB/s) = DATA bytes / wall time of one iteration; each decode iteration streams the
// whole file in blocks, touching every decoded column.

let events = 10_000_000
let parameters = 12
let benchDirectory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("cytoingest-bench")

func makeFile(
    _ name: String, type: FCSDataType, bits: Int, order: FCSByteOrder, events: Int, parameters: Int,
    extraKeywords: Int = 0
)
    -> String
{
    try? FileManager.default.createDirectory(at: benchDirectory, withIntermediateDirectories: true)
    let path = benchDirectory.appendingPathComponent(name).path
    let width = type == .integer ? bits / 8 : 4
    if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int,
        size > events * parameters * width
    {
        return path
    }
    var options = FCSWriteOptions()
    options.dataType = type
    options.byteOrder = order
    for k in 0..<extraKeywords { options.add("CUSTOM KEYWORD \(k)", "value \(k) with some text") }
    let params = (0..<parameters).map { FCSWriteParameter(name: "P\($0 + 1)", label: "Marker \($0 + 1)", bits: bits) }
    do {
        let writer = try FCSWriter(path: path, parameters: params, eventCount: events, options: options)
        let chunk = 500_000
        var at = 0
        var state: UInt32 = 12345
        while at < events {
            let n = min(chunk, events - at)
            let columns: [[Double]] = (0..<parameters).map { _ in
                (0..<n).map { _ in
                    state = state &* 1_664_525 &+ 1_013_904_223
                    return type == .integer ? Double(state >> 20) : Double(Float(state >> 8) * 0.01)
                }
            }
            try writer.append(columns: columns)
            at += n
        }
        try writer.finish()
    } catch {
        fatalError("benchmark file generation failed: \(error)")
    }
    return path
}

/// Streams every block of data set 0 and touches every column.
func streamAll(_ path: String, values: FCSReader.Values = .stored) throws -> Double {
    let reader = try FCSReader(path: path)
    var blocks = try reader.events(values: values)
    var acc = 0.0
    while let block = try blocks.next() {
        for p in 0..<block.parameterCount { acc += block.column(p).last ?? 0 }
    }
    return acc
}

let benchmarks: @Sendable () -> Void = {
    let decodeConfig = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .peakMemoryResident, .mallocCountTotal],
        timeUnits: .milliseconds, warmupIterations: 1, scalingFactor: .one, maxDuration: .seconds(20), maxIterations: 7)

    Benchmark(
        "HEADER+TEXT only (60 parameters, ~800 keywords)",
        configuration: .init(
            metrics: [.wallClock, .throughput, .mallocCountTotal], timeUnits: .microseconds, warmupIterations: 3,
            scalingFactor: .one, maxDuration: .seconds(3), maxIterations: 2000)
    ) { benchmark in
        let path = makeFile(
            "text.fcs", type: .float, bits: 32, order: .bigEndian, events: 1000, parameters: 60, extraKeywords: 500)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try FCSReader(path: path).dataSets[0].text.count)
        }
    }

    let decodeCases: [(String, String, FCSDataType, Int, FCSByteOrder, FCSReader.Values)] = [
        ("DATA decode float32 BE 10M x 12 (480 MB), streaming", "f32be.fcs", .float, 32, .bigEndian, .stored),
        ("DATA decode float32 LE 10M x 12 (480 MB), streaming", "f32le.fcs", .float, 32, .littleEndian, .stored),
        ("DATA decode int16 BE 10M x 12 (240 MB), streaming", "i16.fcs", .integer, 16, .bigEndian, .stored),
        ("DATA decode float32 BE 10M x 12, scaled values", "f32be.fcs", .float, 32, .bigEndian, .scaled),
    ]
    for (title, file, type, bits, order, values) in decodeCases {
        Benchmark(title, configuration: decodeConfig) { benchmark in
            let path = makeFile(file, type: type, bits: bits, order: order, events: events, parameters: parameters)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations { blackHole(try streamAll(path, values: values)) }
        }
    }

    Benchmark("memcpy baseline: pread of the 480 MB file in 256 KiB blocks", configuration: decodeConfig) { benchmark in
        let path = makeFile(
            "f32be.fcs", type: .float, bits: 32, order: .bigEndian, events: events, parameters: parameters)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let fd = open(path, O_RDONLY)
            var buffer = [UInt8](repeating: 0, count: 1 << 18)
            var total = 0
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                total += n
            }
            close(fd)
            blackHole(total)
        }
    }
}
