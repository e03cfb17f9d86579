// libFuzzer entry for the FlowJo workspace reader and the gating of its trees, compiled with the
// Gating sources by Fuzz/run-fuzz.sh. The first byte picks the event values.
import FCSParser
import SafeXML

@_cdecl("LLVMFuzzerTestOneInput")
public func flowJoFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let all = unsafe Array(UnsafeBufferPointer(start: data, count: size))
    var limits = FlowJoWorkspace.limits
    limits.maxBytes = 1 << 20
    guard let ws = try? FlowJoWorkspace.read(bytes: Array(all.dropFirst()), name: "fuzz.wsp", limits: limits) else {
        return 0
    }
    for sample in ws.samples {
        // Invariant: a tree either builds into a strategy the engine accepts or is refused with
        // an error; evaluation of accepted trees never traps.
        guard let strategy = try? sample.strategy() else { continue }
        var channels = Set<String>()
        for g in strategy.gates {
            for d in g.dimensions { if case .channel(let n) = d.source { channels.insert(n) } }
        }
        if let m = sample.matrix { channels.formUnion(m.spillover.detectors) }
        let names = channels.sorted().filter { n in !(sample.matrix?.spillover.fluorochromes.contains(n) ?? false) }
        guard let engine = try? GatingEngine(strategy: strategy, channels: names) else { continue }
        let values: [Double] = [0, -1, 1e6, .nan, .infinity, 131_072, Double(all[0]) * 1000]
        let columns = names.indices.map { i in ArraySlice((0..<16).map { values[($0 + i) % values.count] }) }
        let masks = engine.evaluate(columns: columns, count: 16)
        if masks.count != strategy.gates.count { fatalError("one mask per gate") }
    }
    return 0
}
