import CytoModel
import Foundation
import Gating
import Labs
import Pipeline
import Records
import Review
import Store
import TestSupport
import Testing

@testable import Analysis

/// Adaptive gating on hostile values: NaN, infinities, huge and negative numbers, empty files,
/// constant columns. It returns a result or a GatingError; it never traps.
@Suite("Adaptive gating: hostile values")
struct AdaptiveHostileTests {
    static let specials: [Double] = [
        .nan, .infinity, -.infinity, 1e308, -1e308, 0, -5, 1e-300, 262_143, .greatestFiniteMagnitude,
    ]

    static func run(_ columns: [[Double]], template: GatingStrategy? = nil) -> Bool {
        let names = ["FSC-A", "FSC-H", "SSC-A", "CD45", "CD3", "CD4", "CD8", "HLA-DR", "CD25", "Time"]
        let channels = AdaptiveGating.Channels(
            fscA: 0, fscH: 1, ssc: 2, time: 9, cd45: 3, cd3: 4, cd4: 5, cd8: 6, hladr: 7, cd25: 8)
        do {
            let spill = try SpilloverMatrix(
                fluorochromes: Array(names[3...8]), detectors: Array(names[3...8]),
                matrix: (0..<6).map { i in (0..<6).map { $0 == i ? 1 : 0.05 } })
            let r = try AdaptiveGating.run(
                columns: columns, names: names, channels: channels, spillover: spill, template: template,
                ids: AdaptiveGating.IDs())
            return r.counts.values.allSatisfy { $0 >= 0 && $0 <= columns[0].count }
        } catch {
            return true  // refused with an error: fine
        }
    }

    @Test("random mixtures of special values in every column")
    func specials() {
        var rng = SeededRandom(seed: 99)
        for trial in 0..<40 {
            let n = [0, 1, 999, 1000, 3000][trial % 5]
            let columns: [[Double]] = (0..<10).map { c in
                (0..<n).map { _ in
                    let u = rng.next() % 10
                    if u < 3 { return Self.specials[Int(rng.next() % UInt64(Self.specials.count))] }
                    return Double(rng.next() % 300_000) - 20_000 + (c == 9 ? 0 : 0.5)
                }
            }
            #expect(Self.run(columns), "trial \(trial)")
        }
        // Constant columns, and time all equal.
        #expect(Self.run((0..<10).map { _ in [Double](repeating: 1000, count: 5000) }))
        #expect(Self.run((0..<10).map { c in (0..<5000).map { c == 9 ? 7 : Double($0 % 97) * 300 } }))
    }

    @Test("the continuous display position agrees with the bins and inverts exactly")
    func displayPosition() {
        for x in stride(from: -1500.0, through: 300_000, by: 37.3) {
            let p = LogBins.position(x)
            #expect(Int(p.rounded(.down)) == LogBins.bin(x) || x <= -1024 || p >= Double(LogBins.count), "\(x)")
            if x > -1024 && p < Double(LogBins.count) {
                #expect(abs(LogBins.value(atPosition: p) - x) <= 1e-9 * Swift.max(1, abs(x)), "\(x)")
            }
        }
        #expect(abs(LogBins.position(255.999_999) - LogBins.position(256)) < 1e-5, "continuous at 256")
        #expect(LogBins.position(.nan) == 0 && LogBins.position(.infinity) == Double(LogBins.count))
    }

    @Test("quickselect gives the element a sort gives (the scalar twin), ties and extremes included")
    func quickselect() {
        var rng = SeededRandom(seed: 5)
        for n in [1, 2, 3, 10, 101, 1000] {
            for _ in 0..<20 {
                let a = (0..<n).map { _ in Double(Int(rng.next() % 50)) - 25 }
                let sorted = a.sorted()
                for k in Set([0, n / 2, n - 1]) {
                    var copy = a
                    #expect(AdaptiveGating.kthSmallest(&copy, k) == sorted[k], "n \(n) k \(k)")
                }
            }
        }
    }
}
