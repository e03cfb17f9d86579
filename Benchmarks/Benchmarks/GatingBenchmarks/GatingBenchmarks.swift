import Benchmark
import FCSParser
import Foundation
import Gating

// One core, 10^7 events per iteration unless stated. events/s = 10^7 / wall time.
// Kernels run through the public API (GatingEngine on one-gate strategies, block size 8192,
// so intermediate columns stay in cache); "strategy from FCS" streams a float32 FCS file
// through a 10-gate strategy with 8x8 compensation and logicle.

let events = 10_000_000
let ns =
    #"xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating" xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations" xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes""#

func dim(
    _ name: String, comp: String = "uncompensated", transform: String? = nil, min: Double? = nil, max: Double? = nil
) -> String {
    var a = #"gating:compensation-ref="\#(comp)""#
    if let transform { a += #" gating:transformation-ref="\#(transform)""# }
    if let min { a += #" gating:min="\#(min)""# }
    if let max { a += #" gating:max="\#(max)""# }
    return #"<gating:dimension \#(a)><data-type:fcs-dimension data-type:name="\#(name)"/></gating:dimension>"#
}

func strategy(_ body: String) -> GatingStrategy {
    try! GatingMLReader.read(bytes: Array(#"<gating:Gating-ML \#(ns)>\#(body)</gating:Gating-ML>"#.utf8))
}

func syntheticTable(_ n: Int, channels: Int) -> EventTable {
    var state: UInt64 = 88172645463325252
    func next() -> Double {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return Double(state >> 11) / Double(1 << 53) * 1200 - 100
    }
    return EventTable(
        channels: (0..<channels).map { "C\($0)" }, columns: (0..<channels).map { _ in (0..<n).map { _ in next() } })
}

let polygon8 = (0..<8).map { k -> String in
    let a = Double(k) * .pi / 4
    return
        #"<gating:vertex><gating:coordinate data-type:value="\#(500 + 400 * cos(a))"/><gating:coordinate data-type:value="\#(500 + 300 * sin(a))"/></gating:vertex>"#
}.joined()

let logicleT =
    #"<transforms:transformation transforms:id="L"><transforms:logicle transforms:T="262144" transforms:W="0.5" transforms:M="4.5" transforms:A="0"/></transforms:transformation>"#

let spill8: String = {
    let names = (0..<8).map { "C\($0)" }
    var s = #"<transforms:spectrumMatrix transforms:id="S"><transforms:fluorochromes>"#
    s += names.map { #"<data-type:fcs-dimension data-type:name="F\#($0)"/>"# }.joined()
    s += "</transforms:fluorochromes><transforms:detectors>"
    s += names.map { #"<data-type:fcs-dimension data-type:name="\#($0)"/>"# }.joined()
    s += "</transforms:detectors>"
    for i in 0..<8 {
        s +=
            "<transforms:spectrum>"
            + (0..<8).map { j in
                #"<transforms:coefficient transforms:value="\#(i == j ? 1 : 0.01 * Double((i * 7 + j * 3) % 11))"/>"#
            }.joined() + "</transforms:spectrum>"
    }
    return s + "</transforms:spectrumMatrix>"
}()

func gateBenchmark(_ name: String, _ body: String, channels: Int = 2) {
    Benchmark(
        name,
        configuration: .init(
            metrics: [.wallClock, .throughput], timeUnits: .milliseconds, warmupIterations: 1, scalingFactor: .one,
            maxDuration: .seconds(10), maxIterations: 5)
    ) { benchmark in
        let table = syntheticTable(events, channels: channels)
        let engine = try GatingEngine(strategy: strategy(body), channels: table.channels)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { blackHole(engine.evaluateSerially(table).gates[0].count) }
    }
}

let benchmarks: @Sendable () -> Void = {
    gateBenchmark(
        "rectangle 2-D, 10M events",
        #"<gating:RectangleGate gating:id="R">\#(dim("C0", min: 100, max: 700))\#(dim("C1", min: 200, max: 900))</gating:RectangleGate>"#
    )
    gateBenchmark(
        "polygon 8 vertices, 10M events",
        #"<gating:PolygonGate gating:id="P">\#(dim("C0"))\#(dim("C1"))\#(polygon8)</gating:PolygonGate>"#)
    gateBenchmark(
        "ellipsoid 2-D, 10M events",
        #"<gating:EllipsoidGate gating:id="E">\#(dim("C0"))\#(dim("C1"))<gating:mean><gating:coordinate data-type:value="500"/><gating:coordinate data-type:value="500"/></gating:mean><gating:covarianceMatrix><gating:row><gating:entry data-type:value="40000"/><gating:entry data-type:value="10000"/></gating:row><gating:row><gating:entry data-type:value="10000"/><gating:entry data-type:value="20000"/></gating:row></gating:covarianceMatrix><gating:distanceSquare data-type:value="1"/></gating:EllipsoidGate>"#
    )
    gateBenchmark(
        "logicle transform + 1-D range, 10M events",
        logicleT
            + #"<gating:RectangleGate gating:id="R">\#(dim("C0", transform: "L", min: 0.3, max: 0.8))</gating:RectangleGate>"#,
        channels: 1)
    gateBenchmark(
        "8x8 compensation + 1-D range, 10M events",
        spill8 + #"<gating:RectangleGate gating:id="R">\#(dim("FC3", comp: "S", min: 100))</gating:RectangleGate>"#,
        channels: 8)

    Benchmark(
        "logicle column transform (Transformation.apply), 10M values",
        configuration: .init(
            metrics: [.wallClock, .throughput], timeUnits: .milliseconds, warmupIterations: 1, scalingFactor: .one,
            maxDuration: .seconds(10), maxIterations: 5)
    ) { benchmark in
        let t = try Transformation(.logicle(t: 262144, w: 0.5, m: 4.5, a: 0))
        let column = syntheticTable(events, channels: 1).columns[0].map { $0 * 200 }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var acc = 0.0
            var i = 0
            while i < column.count {
                let end = min(column.count, i + 8192)
                acc += t.apply(column: column[i..<end]).last!
                i = end
            }
            blackHole(acc)
        }
    }

    Benchmark(
        "strategy from FCS file: 10 gates, 8x8 compensation, logicle; 2M events x 10 channels",
        configuration: .init(
            metrics: [.wallClock, .throughput, .peakMemoryResident], timeUnits: .milliseconds, warmupIterations: 1,
            scalingFactor: .one, maxDuration: .seconds(20), maxIterations: 5)
    ) { benchmark in
        let n = 2_000_000
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("cytoingest-bench")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("strategy-2M.fcs").path
        if !FileManager.default.fileExists(atPath: path) {
            let t = syntheticTable(n, channels: 10)
            var o = FCSWriteOptions()
            o.byteOrder = .bigEndian
            try Data(
                try FCSWriter.encode(
                    columns: t.columns, parameters: t.channels.map { FCSWriteParameter(name: $0) }, options: o)
            ).write(to: URL(fileURLWithPath: path))
        }
        let body =
            spill8 + logicleT + #"""
                <gating:RectangleGate gating:id="Cells">\#(dim("C8", min: 0, max: 1000))\#(dim("C9", min: 0, max: 900))</gating:RectangleGate>
                <gating:PolygonGate gating:id="Lymph" gating:parent_id="Cells">\#(dim("C8"))\#(dim("C9"))\#(polygon8)</gating:PolygonGate>
                <gating:RectangleGate gating:id="CD3" gating:parent_id="Lymph">\#(dim("FC0", comp: "S", transform: "L", min: 0.4))</gating:RectangleGate>
                <gating:RectangleGate gating:id="CD4" gating:parent_id="CD3">\#(dim("FC1", comp: "S", transform: "L", min: 0.45))</gating:RectangleGate>
                <gating:RectangleGate gating:id="CD8" gating:parent_id="CD3">\#(dim("FC2", comp: "S", transform: "L", min: 0.45))</gating:RectangleGate>
                <gating:RectangleGate gating:id="CD25" gating:parent_id="CD4">\#(dim("FC3", comp: "S", transform: "L", min: 0.5))</gating:RectangleGate>
                <gating:RectangleGate gating:id="HLADR" gating:parent_id="CD8">\#(dim("FC4", comp: "S", transform: "L", min: 0.5))</gating:RectangleGate>
                <gating:RectangleGate gating:id="Beads">\#(dim("FC5", comp: "S", transform: "L", min: 0.8))\#(dim("FC6", comp: "S", transform: "L", min: 0.8))</gating:RectangleGate>
                <gating:BooleanGate gating:id="NotBeads"><gating:not><gating:gateReference gating:ref="Beads"/></gating:not></gating:BooleanGate>
                <gating:BooleanGate gating:id="DN" gating:parent_id="CD3"><gating:and><gating:gateReference gating:ref="CD4" gating:use-as-complement="true"/><gating:gateReference gating:ref="CD8" gating:use-as-complement="true"/></gating:and></gating:BooleanGate>
                """#
        let s = strategy(body)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            let reader = try FCSReader(path: path)
            let set = reader.dataSets[0]
            let engine = try GatingEngine(strategy: s, channels: set.parameters.map(\.name))
            var blocks = try reader.events(values: .scaled, blockSize: 8192)
            var counts = [Int](repeating: 0, count: s.gates.count)
            while let block = try blocks.next() {
                let masks = engine.evaluate(
                    columns: (0..<block.parameterCount).map { block.column($0) }, count: block.count)
                for g in masks.indices { counts[g] += masks[g].reduce(0) { $0 + Int($1) } }
            }
            blackHole(counts)
        }
    }
}
