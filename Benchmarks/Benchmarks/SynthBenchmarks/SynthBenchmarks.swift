import Benchmark
import Foundation
import Synth

// The target: 144 files x 50,000 events (float32) in <= 5 s on this 2-core machine.
let benchmarks: @Sendable () -> Void = {
    Benchmark(
        "synth 144 files x 50,000 events (24 patients x 6 months, float32)",
        configuration: .init(
            metrics: [.wallClock, .peakMemoryResident], timeUnits: .milliseconds, warmupIterations: 0,
            scalingFactor: .one, maxDuration: .seconds(30), maxIterations: 3)
    ) { benchmark in
        var o = SynthOptions()
        o.patients = 24
        o.months = 6
        o.events = 50_000
        let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("cytoingest-bench-synth")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            try await CohortSynthesizer(options: o).write(to: dir)
        }
        benchmark.stopMeasurement()
        try? FileManager.default.removeItem(at: dir)
    }
}
