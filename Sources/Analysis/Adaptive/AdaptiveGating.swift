import CytoModel
import Foundation
import Gating

/// Per-file, data-driven gating of the CD4/activation panel (issue 8): time/flow QC, singlets,
/// counting beads, lymphocytes (CD45 vs SSC), CD3, CD4/CD8, HLA-DR+ of CD8 T and CD25+ of CD4 T,
/// each found in the file itself and reported with a method and a confidence. A gate whose
/// confidence is below `minConfidence` is replaced by the template's and flagged.
///
/// Every applied gate is a rectangle on raw (compensated) values, a fratio rectangle or a
/// boolean, so the result exports as Gating-ML 2.0 (`strategy`) and replays to the same counts
/// through `GatingEngine`.
public enum AdaptiveGating {
    public struct Options: Sendable, Hashable, Codable {
        public var minConfidence = 0.5
        public var timeBins = 64
        public init() {}
    }

    /// Column indices of the panel in the event columns.
    public struct Channels: Sendable, Hashable {
        public var fscA: Int
        public var fscH: Int
        public var ssc: Int
        public var time: Int?
        /// CD45, CD3, CD4, CD8, HLA-DR, CD25.
        public var cd45: Int, cd3: Int, cd4: Int, cd8: Int, hladr: Int, cd25: Int
        public init(
            fscA: Int, fscH: Int, ssc: Int, time: Int?, cd45: Int, cd3: Int, cd4: Int, cd8: Int, hladr: Int, cd25: Int
        ) {
            self.fscA = fscA
            self.fscH = fscH
            self.ssc = ssc
            self.time = time
            self.cd45 = cd45
            self.cd3 = cd3
            self.cd4 = cd4
            self.cd8 = cd8
            self.hladr = hladr
            self.cd25 = cd25
        }
        var markers: [Int] { [cd45, cd3, cd4, cd8, hladr, cd25] }
    }

    /// Gate ids of the pipeline's populations (config `gating.gates`).
    public struct IDs: Sendable, Hashable {
        public var beads = "Beads", lymphocytes = "Lymphocytes", cd3 = "CD3", cd4 = "CD4T", cd8 = "CD8T",
            cd8Hladr = "CD8_HLADR", cd4Cd25 = "CD4_CD25"
        public init() {}
        public init(_ map: [Population: String]) {
            beads = map[.beads] ?? beads
            lymphocytes = map[.lymphocytes] ?? lymphocytes
            cd3 = map[.cd3] ?? cd3
            cd4 = map[.cd4] ?? cd4
            cd8 = map[.cd8] ?? cd8
            cd8Hladr = map[.cd8Hladr] ?? cd8Hladr
            cd4Cd25 = map[.cd4Cd25] ?? cd4Cd25
        }
    }

    /// How one gate was set.
    public struct GateReport: Sendable, Hashable, Codable {
        public var gate: String
        /// valley, mode+6sd, negative reference (...), template, time bins.
        public var method: String
        public var confidence: Double
        public var thresholds: [String: Double]
    }

    public struct Result: Sendable {
        /// The gates applied to the file (raw thresholds), as a Gating-ML strategy.
        public var strategy: GatingStrategy
        /// Events per gate id.
        public var counts: [String: Int]
        public var reports: [GateReport]
        /// CLOG, TEMPLATE:<gate> (a gate fell back to the template).
        public var flags: [QCFlag]
        /// Events excluded by the time/flow QC.
        public var excluded: Int
    }

    // MARK: Applied gates

    struct Bound {
        var column: Int
        var name: String
        var compensated: Bool
        var min: Double?
        var max: Double?
        /// `min <= x < max`, open ends infinite (as `GatingEngine` evaluates rectangles).
        @inline(__always) func contains(_ x: Double) -> Bool { x >= (min ?? -.infinity) && x < (max ?? .infinity) }
    }

    enum Applied {
        case box([Bound])
        case ratio(num: Int, den: Int, numName: String, denName: String, min: Double, max: Double)
        case cells(singlets: String, beads: String)
        case timeWindow(column: Int, name: String, lo: Double, hi: Double)
        case stable([String])
    }

    struct AppliedGate {
        var id: String
        var parent: String?
        var kind: Applied
    }

    // MARK: Run

    /// - Parameters:
    ///   - columns: every channel's values (`$PnN` order, scaled), all events of the file.
    ///   - names: the file's channel names (`$PnN`): the applied strategy uses them, so it replays
    ///     on the file as it is.
    ///   - spillover: the file's spillover on those names (compensation-ref FCS).
    ///   - template: the configured strategy, for low-confidence fallbacks, whose channel names
    ///     are `templateNames` (per column; default `names`).
    public static func run(
        columns: [[Double]], names: [String], channels c: Channels, spillover: SpilloverMatrix?,
        template: GatingStrategy?, templateNames: [String]? = nil,
        ids: IDs, options: Options = Options()
    ) throws(GatingError) -> Result {
        let tnames = templateNames ?? names
        let n = columns.first?.count ?? 0
        // Compensated marker columns (the same kernel the engine uses, so replays agree).
        var comp = columns
        if let spillover {
            let compensation = try Compensation(spillover)
            let inputs = spillover.detectors.map { d -> ArraySlice<Double> in
                names.firstIndex(of: d).map { columns[$0][...] } ?? ArraySlice(repeating: .nan, count: n)
            }
            let out = compensation.apply(detectors: inputs, count: n)
            for (f, col) in zip(spillover.fluorochromes, out) { if let i = names.firstIndex(of: f) { comp[i] = col } }
        }
        var gates: [AppliedGate] = []
        var reports: [GateReport] = []
        var flags: [QCFlag] = []
        var keep = [UInt8](repeating: 1, count: n)
        var stableParent: String? = nil

        // 1. Time/flow QC: event rate and scatter level per time bin.
        if let t = c.time, n >= 1000 {
            let windows = timeWindows(time: columns[t], signal: columns[c.fscA], bins: options.timeBins)
            if !windows.isEmpty {
                var ids: [String] = []
                for (k, w) in windows.enumerated() {
                    let id = "ClogWindow\(k + 1)"
                    gates.append(
                        AppliedGate(id: id, parent: nil, kind: .timeWindow(column: t, name: names[t], lo: w.0, hi: w.1))
                    )
                    ids.append(id)
                }
                gates.append(AppliedGate(id: "Stable", parent: nil, kind: .stable(ids)))
                stableParent = "Stable"
                flags.append(.clog)
                let time = columns[t]
                for e in 0..<n where windows.contains(where: { time[e] >= $0.0 && time[e] < $0.1 }) { keep[e] = 0 }
                reports.append(
                    GateReport(
                        gate: "Stable", method: "time bins: rate or scatter off the median", confidence: 1,
                        thresholds: Dictionary(
                            uniqueKeysWithValues: windows.enumerated().map { ("window\($0.offset + 1)", $0.element.0) })
                    ))
            }
        }
        let stable = stableParent == nil ? Array(0..<n) : (0..<n).filter { keep[$0] == 1 }

        // 2. Singlets: FSC-A / FSC-H of the bulk.
        let fa = columns[c.fscA], fh = columns[c.fscH]
        var ratio = [Double](repeating: 0, count: n)
        for i in 0..<n { ratio[i] = 1 * (fa[i] - 0) / (fh[i] - 0) }  // as fratio A (x1 - B) / (x2 - C)
        let (sLo, sHi, sConf) = singletRange(ratio, stable)
        gates.append(
            AppliedGate(
                id: "Singlets", parent: stableParent,
                kind: .ratio(
                    num: c.fscA, den: c.fscH, numName: names[c.fscA], denName: names[c.fscH], min: sLo, max: sHi)))
        reports.append(
            GateReport(
                gate: "Singlets", method: "mode of FSC-A/FSC-H +- 6 sd (valley to doublets when nearer)",
                confidence: sConf, thresholds: ["min": sLo, "max": sHi]))
        var singlet: [Int] = []
        singlet.reserveCapacity(stable.count)
        for i in stable where ratio[i] >= sLo && ratio[i] < sHi { singlet.append(i) }

        // 3. Beads: singlets bright in every fluorescence channel, inside the beads' own scatter
        //    region found in this file, so that no doublet holding a bead (bead+cell, bead+bead)
        //    is counted: absolute counts divide by the bead count.
        var dimmest = comp[c.markers[0]]
        for k in c.markers.dropFirst() {
            let col = comp[k]
            // (A NaN marker is skipped here; the bead gate itself never holds NaN.)
            for i in 0..<n { dimmest[i] = Swift.min(dimmest[i], col[i]) }
        }
        var minMarker = Histogram(bins: LogBins.count)
        for i in singlet { minMarker.counts[LogBins.bin(dimmest[i])] += 1 }
        var beadGate: AppliedGate
        var beadReport: GateReport
        var beadEvents: AppliedGate? = nil
        var brightEvents: [Int] = []
        let valley = Histogram.valley(minMarker.smoothed(), minPeak: 1)
        if let v = valley, v.confidence >= options.minConfidence {
            // Every singlet with bead fluorescence (beads, and doublets holding a bead).
            let t = LogBins.center(v.valley)
            beadEvents = AppliedGate(
                id: "BeadEvents", parent: "Singlets",
                kind: .box(c.markers.map { Bound(column: $0, name: names[$0], compensated: true, min: t, max: nil) }))
            brightEvents = select(singlet, beadEvents!, columns, comp)
        }
        if let v = valley, let events = beadEvents,
            let region = beadRegion(candidates: brightEvents, fsc: columns[c.fscA], ssc: columns[c.ssc])
        {
            let t = LogBins.center(v.valley)
            let confidence = Swift.min(v.confidence, region.confidence)
            // They all leave the cells; only those in the beads' scatter region count as beads.
            beadEvents = events
            beadGate = AppliedGate(
                id: ids.beads, parent: "BeadEvents",
                kind: .box([
                    Bound(
                        column: c.fscA, name: names[c.fscA], compensated: false, min: region.fsc.0, max: region.fsc.1),
                    Bound(column: c.ssc, name: names[c.ssc], compensated: false, min: region.ssc.0, max: region.ssc.1),
                ]))
            beadReport = GateReport(
                gate: ids.beads,
                method: "singlets; valley of the dimmest marker (beads are bright in all); bead scatter median +- 6 sd",
                confidence: confidence,
                thresholds: [
                    "min": t, "FSC min": region.fsc.0, "FSC max": region.fsc.1, "SSC min": region.ssc.0,
                    "SSC max": region.ssc.1,
                ])
            if confidence < options.minConfidence {
                beadEvents = nil
                (beadGate, beadReport) = try fallback(
                    ids.beads, parent: stableParent, template: template, names: names, templateNames: tnames,
                    flags: &flags)
            }
        } else {
            beadEvents = nil
            (beadGate, beadReport) = try fallback(
                ids.beads, parent: stableParent, template: template, names: names, templateNames: tnames, flags: &flags)
        }
        if let beadEvents { gates.append(beadEvents) }
        gates.append(beadGate)
        reports.append(beadReport)
        gates.append(
            AppliedGate(
                id: "Cells", parent: stableParent,
                kind: .cells(singlets: "Singlets", beads: beadEvents?.id ?? ids.beads)))
        let bright = beadEvents == nil ? nil : brightEvents
        let beads = bright.map { select($0, beadGate, columns, comp) } ?? select(stable, beadGate, columns, comp)
        var isBead = [Bool](repeating: false, count: n)
        for i in bright ?? beads { isBead[i] = true }
        let cells = singlet.filter { !isBead[$0] }

        // 4. Lymphocytes: the CD45-brightest mode on CD45 vs SSC, low SSC.
        let lymphGate: AppliedGate
        if let l = lymphocyteGate(comp[c.cd45], columns[c.ssc], cells), l.confidence >= options.minConfidence {
            lymphGate = AppliedGate(
                id: ids.lymphocytes, parent: "Cells",
                kind: .box([
                    Bound(column: c.cd45, name: names[c.cd45], compensated: true, min: l.cd45, max: nil),
                    Bound(column: c.ssc, name: names[c.ssc], compensated: false, min: nil, max: l.ssc),
                ]))
            reports.append(
                GateReport(
                    gate: ids.lymphocytes,
                    method: "CD45-brightest 2-D mode; SSC mode + 5 sd (or the valley to monocytes); CD45 valley",
                    confidence: l.confidence, thresholds: ["CD45 min": l.cd45, "SSC max": l.ssc]))
        } else {
            let (g, r) = try fallback(
                ids.lymphocytes, parent: "Cells", template: template, names: names, templateNames: tnames, flags: &flags
            )
            lymphGate = g
            reports.append(r)
        }
        gates.append(lymphGate)
        let lymph = select(cells, lymphGate, columns, comp)

        // 5. CD3 on lymphocytes; 6. CD4 and CD8 on CD3+.
        let cd3Gate = try positive(
            ids.cd3, parent: ids.lymphocytes, column: c.cd3, events: lymph, comp: comp, names: names,
            templateNames: tnames, template: template, options: options, flags: &flags, reports: &reports)
        gates.append(cd3Gate)
        let cd3 = select(lymph, cd3Gate, columns, comp)
        let t4 = try threshold(
            ids.cd4, column: c.cd4, events: cd3, comp: comp, template: template, names: names, templateNames: tnames,
            options: options, flags: &flags, reports: &reports)
        let t8 = try threshold(
            ids.cd8, column: c.cd8, events: cd3, comp: comp, template: template, names: names, templateNames: tnames,
            options: options, flags: &flags, reports: &reports)
        let cd4Gate = AppliedGate(
            id: ids.cd4, parent: ids.cd3,
            kind: .box([
                Bound(column: c.cd4, name: names[c.cd4], compensated: true, min: t4, max: nil),
                Bound(column: c.cd8, name: names[c.cd8], compensated: true, min: nil, max: t8),
            ]))
        let cd8Gate = AppliedGate(
            id: ids.cd8, parent: ids.cd3,
            kind: .box([
                Bound(column: c.cd4, name: names[c.cd4], compensated: true, min: nil, max: t4),
                Bound(column: c.cd8, name: names[c.cd8], compensated: true, min: t8, max: nil),
            ]))
        gates += [cd4Gate, cd8Gate]
        let cd4 = select(cd3, cd4Gate, columns, comp)
        let cd8 = select(cd3, cd8Gate, columns, comp)

        // 7. HLA-DR+ of CD8 T (negative reference: CD4 T); CD25+ of CD4 T (reference: CD8 T).
        let drGate = try positive(
            ids.cd8Hladr, parent: ids.cd8, column: c.hladr, events: cd8, comp: comp, names: names,
            templateNames: tnames, template: template, options: options, flags: &flags, reports: &reports,
            negative: (cd4, "CD4 T"))
        let cd25Gate = try positive(
            ids.cd4Cd25, parent: ids.cd4, column: c.cd25, events: cd4, comp: comp, names: names, templateNames: tnames,
            template: template, options: options, flags: &flags, reports: &reports, negative: (cd8, "CD8 T"))
        gates += [drGate, cd25Gate]

        // Counts from the member lists built on the way (each gate within its parent, the
        // rectangle rule min <= x < max): equal to a GatingEngine replay of `strategy`.
        var counts: [String: Int] = [
            "Singlets": singlet.count, ids.beads: beads.count, "Cells": cells.count,
            ids.lymphocytes: lymph.count, ids.cd3: cd3.count, ids.cd4: cd4.count, ids.cd8: cd8.count,
            ids.cd8Hladr: select(cd8, drGate, columns, comp).count,
            ids.cd4Cd25: select(cd4, cd25Gate, columns, comp).count,
        ]
        if let bright { counts["BeadEvents"] = bright.count }
        if stableParent != nil {
            counts["Stable"] = stable.count
            for g in gates {
                if case .timeWindow(let col, _, let lo, let hi) = g.kind {
                    counts[g.id] = columns[col].filter { $0 >= lo && $0 < hi }.count
                }
            }
        }
        return Result(
            strategy: strategy(gates), counts: counts, reports: reports, flags: flags, excluded: n - stable.count)
    }

    // MARK: Steps

    /// The k-th smallest value (0-based) of `a`, which it partly reorders: quickselect with a
    /// median-of-three pivot, O(n) (the same element `a.sorted()[k]` gives).
    static func kthSmallest(_ a: inout [Double], _ k: Int) -> Double {
        precondition(k >= 0 && k < a.count, "k within the array")
        // A span: element access without a uniqueness check per swap.
        var v = a.mutableSpan
        var lo = 0, hi = v.count - 1
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            // Median of three as the pivot value.
            let x = v[lo], y = v[mid], z = v[hi]
            let pivot = Swift.max(Swift.min(x, y), Swift.min(Swift.max(x, y), z))
            var i = lo, j = hi
            while i <= j {
                while v[i] < pivot { i += 1 }
                while v[j] > pivot { j -= 1 }
                if i <= j {
                    v.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k <= j {
                hi = j
            } else if k >= i {
                lo = i
            } else {
                return v[k]
            }
        }
        return v[k]
    }

    /// The beads' scatter region: median +- 6 robust sd (1.4826 MAD) of FSC-A and SSC-A of the
    /// bright singlets. Confidence: the share of bright singlets inside (doublets and debris that
    /// carry bead fluorescence fall outside; a low share means the region is not one population).
    static func beadRegion(
        candidates: [Int], fsc: [Double], ssc: [Double]
    ) -> (fsc: (Double, Double), ssc: (Double, Double), confidence: Double)? {
        guard candidates.count >= 10 else { return nil }
        func robust(_ column: [Double]) -> (Double, Double)? {
            var v = candidates.map { column[$0] }.filter { $0.isFinite }
            guard v.count >= 10 else { return nil }
            let med = kthSmallest(&v, v.count / 2)
            var dev = v.map { abs($0 - med) }
            let sd = Swift.max(1.4826 * kthSmallest(&dev, dev.count / 2), 1e-6 * Swift.max(1, abs(med)))
            return (med - 6 * sd, med + 6 * sd)
        }
        guard let f = robust(fsc), let s = robust(ssc) else { return nil }
        let inside = candidates.filter { fsc[$0] >= f.0 && fsc[$0] < f.1 && ssc[$0] >= s.0 && ssc[$0] < s.1 }.count
        return (f, s, Swift.min(1, Double(inside) / Double(candidates.count) / 0.8))
    }

    /// Time windows whose event rate is above 2x or below 0.4x the median bin, or whose mean
    /// scatter is more than 25 % off the median bin (a clog or a burst); neighbouring bins join.
    static func timeWindows(time: [Double], signal: [Double], bins: Int) -> [(Double, Double)] {
        var lo = Double.infinity, hi = -Double.infinity
        for t in time where t.isFinite {
            if t < lo { lo = t }
            if t > hi { hi = t }
        }
        guard hi > lo, bins >= 8 else { return [] }
        let width = (hi - lo) / Double(bins)
        var count = [Double](repeating: 0, count: bins), sum = [Double](repeating: 0, count: bins)
        for (t, s) in zip(time, signal) {
            guard t.isFinite, s.isFinite, let b = clampedBin(t, origin: lo, width: width, count: bins) else { continue }
            count[b] += 1
            sum[b] += s
        }
        let mean = zip(sum, count).map { $1 > 0 ? $0 / $1 : 0 }
        func median(_ v: [Double]) -> Double { let s = v.sorted(); return s[s.count / 2] }
        let mc = median(count), ms = median(mean)
        guard mc >= 20, ms > 0 else { return [] }
        var bad = [Bool](repeating: false, count: bins)
        for b in 0..<bins {
            // The last bin may be partial: judge it by its signal only.
            let rateBad = (count[b] > 2 * mc || (count[b] < 0.4 * mc && b < bins - 1))
            let signalBad = count[b] >= 10 && abs(mean[b] - ms) > 0.25 * ms
            bad[b] = rateBad || signalBad
        }
        var out: [(Double, Double)] = []
        var b = 0
        while b < bins {
            guard bad[b] else { b += 1; continue }
            var e = b
            while e + 1 < bins && bad[e + 1] { e += 1 }
            out.append((lo + Double(Swift.max(0, b - 1)) * width, e + 2 >= bins ? hi + 1 : lo + Double(e + 2) * width))
            b = e + 1
        }
        return out
    }

    /// The singlet ratio range: mode +- 6 sd (sd from the half width at half maximum), cut at
    /// the valley to the doublets when that is nearer.
    static func singletRange(_ ratio: [Double], _ events: [Int]) -> (Double, Double, Double) {
        let lo = 0.5, step = 0.01, bins = 250
        var hist = Histogram(bins: bins)
        for i in events {
            let r = ratio[i]
            guard r.isFinite, r >= lo else { continue }
            if let b = clampedBin(r, origin: lo, width: step, count: bins) { hist.counts[b] += 1 }
        }
        let s = hist.smoothed(1)
        guard let m = s.indices.max(by: { s[$0] < s[$1] }), s[m] > 0 else { return (0.85, 1.3, 0) }
        var right = m
        while right + 1 < bins && s[right + 1] > s[m] / 2 { right += 1 }
        var left = m
        while left > 0 && s[left - 1] > s[m] / 2 { left -= 1 }
        let sd = Swift.max(Double(right - left + 1) * step / 2.3548, 0.01)
        let mode = lo + (Double(m) + 0.5) * step
        var upper = mode + 6 * sd
        if let v = Histogram.valley(s, minPeak: 2), v.low == m {
            upper = Swift.min(upper, lo + (Double(v.valley) + 0.5) * step)
        }
        let a = clampedBin(mode - 2 * sd, origin: lo, width: step, count: bins) ?? 0
        let b = Swift.max(a, clampedBin(mode + 2 * sd, origin: lo, width: step, count: bins) ?? a)
        let inside = s[a...b].reduce(0, +)
        return (mode - 6 * sd, upper, Swift.min(1, inside / Swift.max(1, s.reduce(0, +)) / 0.9))
    }

    /// Lymphocytes: the 2-D density peak with the brightest CD45; SSC max = mode + 5 sd (or the
    /// valley to the next SSC mode); CD45 min = the valley below the lymphocyte mode.
    static func lymphocyteGate(
        _ cd45: [Double], _ ssc: [Double], _ events: [Int]
    ) -> (cd45: Double, ssc: Double, confidence: Double)? {
        let xb = LogBins.count, yb = 128, ystep = 262_144.0 / Double(yb)
        var grid = [Double](repeating: 0, count: xb * yb)
        var bins = [Int](repeating: 0, count: events.count)
        for (k, i) in events.enumerated() {
            let b = LogBins.bin(cd45[i])
            bins[k] = b
            guard let y = clampedBin(ssc[i], origin: 0, width: ystep, count: yb) else { continue }
            grid[y * xb + b] += 1
        }
        // Two passes of a 3 x 3 box (separable: rows, then columns).
        var tmp = grid
        for _ in 0..<2 {
            for y in 0..<yb {
                let r = y * xb
                for x in 0..<xb {
                    var s = grid[r + x]
                    if x > 0 { s += grid[r + x - 1] }
                    if x + 1 < xb { s += grid[r + x + 1] }
                    tmp[r + x] = s
                }
            }
            for y in 0..<yb {
                let r = y * xb
                for x in 0..<xb {
                    var s = tmp[r + x]
                    if y > 0 { s += tmp[r - xb + x] }
                    if y + 1 < yb { s += tmp[r + xb + x] }
                    grid[r + x] = s / 9
                }
            }
        }
        guard let peakValue = grid.max(), peakValue > 0 else { return nil }
        var best: (x: Int, y: Int)?
        for y in 0..<yb {
            for x in 0..<xb where grid[y * xb + x] >= 0.05 * peakValue {
                let v = grid[y * xb + x]
                var isMax = true
                for dy in -2...2 {
                    for dx in -2...2 where dx != 0 || dy != 0 {
                        let yy = y + dy, xx = x + dx
                        if yy >= 0 && yy < yb && xx >= 0 && xx < xb && grid[yy * xb + xx] > v { isMax = false }
                    }
                }
                if isMax && (best == nil || x > best!.x) { best = (x, y) }
            }
        }
        guard let peak = best else { return nil }
        // SSC of the events in the peak's CD45 band, below twice the peak's SSC.
        let peakSSC = (Double(peak.y) + 0.5) * ystep
        var band: [Double] = []
        for (k, i) in events.enumerated() where abs(bins[k] - peak.x) <= 6 && ssc[i] < 2 * peakSSC + ystep {
            band.append(ssc[i])
        }
        guard band.count >= 50 else { return nil }
        // Median and MAD of at most 4,000 evenly strided values.
        if band.count > 4000 {
            let step = band.count / 4000
            band = Swift.stride(from: 0, to: band.count, by: step).map { band[$0] }
        }
        let med = kthSmallest(&band, band.count / 2)
        var dev = band.map { abs($0 - med) }
        let sd = Swift.max(1.4826 * kthSmallest(&dev, dev.count / 2), ystep / 4)
        var sscMax = med + 5 * sd
        // Stop at the valley to the next SSC mode (monocytes) when it comes first.
        var sscHist = Histogram(bins: yb * 2)
        for (k, i) in events.enumerated() where abs(bins[k] - peak.x) <= 6 {
            if let b = clampedBin(ssc[i], origin: 0, width: ystep / 2, count: yb * 2) { sscHist.counts[b] += 1 }
        }
        if let v = Histogram.valley(sscHist.smoothed(), minPeak: 3), abs(Double(v.low) * ystep / 2 - med) < 3 * sd {
            sscMax = Swift.min(sscMax, (Double(v.valley) + 0.5) * ystep / 2)
        }
        // CD45: the valley below the lymphocyte mode among low-SSC events.
        var h = Histogram(bins: LogBins.count)
        for (k, i) in events.enumerated() where ssc[i] < sscMax { h.counts[bins[k]] += 1 }
        let s = h.smoothed()
        var cd45Min: Double
        var confidence: Double
        if let v = Histogram.valley(s, minPeak: 2), v.high >= peak.x - 6 {
            cd45Min = LogBins.center(v.valley)
            confidence = v.confidence
        } else {
            // No dim population: 1 % of the mode's height, going down from the mode.
            var b = peak.x
            while b > 0 && s[b] > 0.01 * s[peak.x] { b -= 1 }
            cd45Min = LogBins.center(b)
            confidence = 0.6
        }
        cd45Min = Swift.min(cd45Min, LogBins.edge(Swift.max(0, peak.x - 8)))
        return (cd45Min, sscMax, confidence)
    }

    /// A positivity threshold on one marker: the valley between negative and positive; without
    /// one, the 99.5th percentile of a negative reference population plus two bins.
    static func findThreshold(column: [Double], events: [Int], negative: ([Int], String)?) -> (Double, Double, String)?
    {
        var h = Histogram(bins: LogBins.count)
        for i in events { h.counts[LogBins.bin(column[i])] += 1 }
        let s = h.smoothed()
        if let v = Histogram.valley(s, minPeak: Swift.max(2, Double(events.count) / 2000)) {
            // The smoothed minimum finds the two populations; a model of each places the cut.
            if let (cut, agreement) = modelThreshold(column: column, events: events, valley: v) {
                return (cut, agreement, "two-population model at the valley, widest gap")
            }
            return (LogBins.center(v.valley), v.confidence, "valley")
        }
        if let (ref, name) = negative, ref.count >= 200 {
            var values = ref.map { column[$0] }.filter { !$0.isNaN }
            guard !values.isEmpty else { return nil }
            values.sort()
            let p = values[Swift.min(values.count - 1, Int(Double(values.count) * 0.995))]
            return (
                LogBins.edge(Swift.min(LogBins.count - 1, LogBins.bin(p) + 2)), 0.75,
                "negative reference (\(name), 99.5th percentile + 2 bins)"
            )
        }
        return nil
    }

    /// A two-population cut on the display scale. The negative (lower) and positive populations
    /// on either side of the smoothed valley are each modelled by their median and the robust sd
    /// of their flank that faces the other (1.4826 x the median distance of the events on that
    /// side: populations are skewed); the cut is where the expected negatives and positives per
    /// unit are equal (the fewest misclassified events under the model), then moved to the middle
    /// of the widest gap between events from two negative sds above the negative median to one
    /// above the cut, so that populations that separate are split exactly. Works at a few hundred events, where a smoothed minimum is
    /// noise.
    /// - Returns: the cut (raw value) and its confidence: the least of (a) the separation: the
    ///   expected share of events on the wrong side under the model (1 at 0, 0.5 at 2 percentage
    ///   points of the parent, 0 at 4: the Gaussian tails overstate skewed positives), or the width of the empty gap at the cut in negative sds,
    ///   whichever says more, (b) the agreement of the model's cut with the valley (disagreement
    ///   between methods), (c) the events in the smaller population (1 from 10 events).
    static func modelThreshold(
        column: [Double], events: [Int], valley v: (low: Int, high: Int, valley: Int, confidence: Double)
    ) -> (Double, Double)? {
        let split = Double(v.valley) + 0.5
        var neg: [Double] = [], pos: [Double] = []
        neg.reserveCapacity(events.count)
        pos.reserveCapacity(events.count)
        for i in events {
            let x = column[i]
            guard !x.isNaN else { continue }
            let p = LogBins.position(x)
            if p < split { neg.append(p) } else { pos.append(p) }
        }
        guard neg.count >= 3, pos.count >= 3 else { return nil }
        /// Median and the robust sd of the flank towards `upper` (or the lower flank).
        func flank(_ v: inout [Double], upper: Bool) -> (Double, Double) {
            let m = kthSmallest(&v, v.count / 2)
            var d: [Double] = []
            d.reserveCapacity(v.count / 2 + 1)
            for x in v where upper ? x > m : x < m { d.append(upper ? x - m : m - x) }
            guard d.count >= 2 else { return (m, 0.5) }
            return (m, Swift.max(1.4826 * kthSmallest(&d, d.count / 2), 0.5))
        }
        let (mn, sn) = flank(&neg, upper: true), (mp, sp) = flank(&pos, upper: false)
        guard mp > mn else { return nil }
        let nn = Double(neg.count), np = Double(pos.count)
        // log of expected events per unit: n/s * exp(-z^2/2)
        let cn = Foundation.log(nn / sn), cp = Foundation.log(np / sp)
        @inline(__always) func logDensity(_ x: Double, _ c: Double, _ m: Double, _ s: Double) -> Double {
            c - (x - m) * (x - m) / (2 * s * s)
        }
        var cut = split
        var x = mn
        while x <= mp {
            if logDensity(x, cp, mp, sp) >= logDensity(x, cn, mn, sn) {
                cut = x
                break
            }
            x += 0.02
        }
        // The widest gap between events from two negative sds above the negative median (past
        // the negatives' bulk; an underestimated positive flank puts the model's cut too high)
        // to one negative sd above the model's cut.
        let lo = Swift.min(mn + 2 * sn, cut - sn), hi = cut + sn
        var p: [Double] = [lo, hi]
        for q in neg where q > lo && q < hi { p.append(q) }
        for q in pos where q > lo && q < hi { p.append(q) }
        p.sort()
        var best = 0.0, at = cut
        for k in 1..<p.count where p[k] - p[k - 1] > best {
            best = p[k] - p[k - 1]
            at = (p[k] + p[k - 1]) / 2
        }
        // Expected events on the wrong side of the cut under the model, in points of the parent.
        func tail(_ z: Double) -> Double { 0.5 * Foundation.erfc(z / 2.squareRoot()) }
        let wrong = 100 * (nn * tail((at - mn) / sn) + np * tail((mp - at) / sp)) / (nn + np)
        // An empty gap as wide as the negative sd at the cut also says the populations separate
        // (the model's tails are Gaussian; broad, skewed positives have shorter ones).
        let separation = Swift.max(0, Swift.min(1, Swift.max(1 - wrong / 4, best / sn)))
        let agreement = Swift.max(0, 1 - 2 * abs(at - split) / (mp - mn))
        let count = Swift.min(1, (Swift.min(nn, np) / 10).squareRoot())
        return (LogBins.value(atPosition: at), Swift.min(separation, 0.5 + 0.5 * agreement, count))
    }

    static func threshold(
        _ id: String, column: Int, events: [Int], comp: [[Double]], template: GatingStrategy?, names: [String],
        templateNames: [String], options: Options,
        flags: inout [QCFlag], reports: inout [GateReport], negative: ([Int], String)? = nil
    ) throws(GatingError) -> Double {
        let found = findThreshold(column: comp[column], events: events, negative: negative)
        if let (t, conf, method) = found, conf >= options.minConfidence {
            reports.append(
                GateReport(
                    gate: id, method: method + " of \(names[column])", confidence: conf,
                    thresholds: ["\(names[column])": t]))
            return t
        }
        // The template's cut on this channel.
        guard let template, let t = templateBound(template, gate: id, channel: templateNames[column]) else {
            throw GatingError(
                .badGate,
                "adaptive gate \(id): no threshold found on \(names[column]) and no template cut to fall back to",
                element: id)
        }
        flags.append(.template(id))
        reports.append(
            GateReport(
                gate: id,
                method: "template (no confident threshold: "
                    + (found.map {
                        "\($0.2) at \(String(format: "%.0f", $0.0)), confidence \(String(format: "%.2f", $0.1))"
                    }
                        ?? "no valley, no negative reference") + ")",
                confidence: 0,
                thresholds: ["\(names[column])": t]))
        return t
    }

    static func positive(
        _ id: String, parent: String, column: Int, events: [Int], comp: [[Double]], names: [String],
        templateNames: [String], template: GatingStrategy?,
        options: Options, flags: inout [QCFlag], reports: inout [GateReport], negative: ([Int], String)? = nil
    ) throws(GatingError) -> AppliedGate {
        let t = try threshold(
            id, column: column, events: events, comp: comp, template: template, names: names,
            templateNames: templateNames, options: options, flags: &flags,
            reports: &reports, negative: negative)
        return AppliedGate(
            id: id, parent: parent,
            kind: .box([Bound(column: column, name: names[column], compensated: true, min: t, max: nil)]))
    }

    /// The template's gate, converted to raw bounds.
    static func fallback(
        _ id: String, parent: String?, template: GatingStrategy?, names: [String], templateNames: [String],
        flags: inout [QCFlag]
    ) throws(GatingError) -> (AppliedGate, GateReport) {
        guard let template, let g = template.gate(id), case .rectangle(let dims) = g.kind else {
            throw GatingError(
                .badGate,
                "adaptive gate \(id) is not confident and the template has no rectangle \(id) to fall back to",
                element: id)
        }
        var bounds: [Bound] = []
        var thresholds: [String: Double] = [:]
        for d in dims {
            guard case .channel(let tname) = d.source,
                let col = templateNames.firstIndex(of: tname) ?? names.firstIndex(of: tname)
            else { continue }
            let name = names[col]
            let t = d.transformation.flatMap { template.transformations[$0] }
            let lo = d.min.map { rawValue($0, t) }, hi = d.max.map { rawValue($0, t) }
            bounds.append(Bound(column: col, name: name, compensated: d.compensation != .none, min: lo, max: hi))
            if let lo { thresholds["\(name) min"] = lo }
            if let hi { thresholds["\(name) max"] = hi }
        }
        flags.append(.template(id))
        return (
            AppliedGate(id: id, parent: parent, kind: .box(bounds)),
            GateReport(gate: id, method: "template (no confident gate)", confidence: 0, thresholds: thresholds)
        )
    }

    /// A template cut on a channel (rectangle min, or a quadrant divider) in raw units.
    static func templateBound(_ template: GatingStrategy, gate id: String, channel: String) -> Double? {
        guard let g = template.gate(id) else { return nil }
        switch g.kind {
        case .rectangle(let dims):
            for d in dims {
                if case .channel(channel) = d.source, let v = d.min ?? d.max {
                    return rawValue(v, d.transformation.flatMap { template.transformations[$0] })
                }
            }
        case .quadrant(let dividers, _):
            for dv in dividers {
                if case .channel(channel) = dv.dimension.source, let v = dv.values.first {
                    return rawValue(v, dv.dimension.transformation.flatMap { template.transformations[$0] })
                }
            }
        default: break
        }
        return nil
    }

    /// The raw value a monotone transformation maps to `y` (bisection).
    static func rawValue(_ y: Double, _ t: Transformation?) -> Double {
        guard let t else { return y }
        var lo = -1e6, hi = 1e7
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if t.apply(mid) < y { lo = mid } else { hi = mid }
        }
        return hi
    }

    /// The events of `events` inside a box gate (bounds applied one column at a time).
    static func select(_ events: [Int], _ g: AppliedGate, _ raw: [[Double]], _ comp: [[Double]]) -> [Int] {
        guard case .box(let bounds) = g.kind else { return events }
        var out = events
        var next: [Int] = []
        for b in bounds {
            let col = b.compensated ? comp[b.column] : raw[b.column]
            let lo = b.min ?? -.infinity, hi = b.max ?? .infinity
            next.removeAll(keepingCapacity: true)
            next.reserveCapacity(out.count)
            for i in out {
                let x = col[i]
                if x >= lo && x < hi { next.append(i) }
            }
            swap(&out, &next)
        }
        return out
    }

    /// The applied gates as a Gating-ML strategy (raw thresholds, `compensation-ref="FCS"` on
    /// compensated markers, the singlet ratio as `fratio`).
    static func strategy(_ gates: [AppliedGate]) -> GatingStrategy {
        var s = GatingStrategy()
        for g in gates {
            switch g.kind {
            case .box(let bounds):
                s.gates.append(
                    Gate(
                        id: g.id, parentID: g.parent,
                        kind: .rectangle(
                            bounds.map {
                                Dimension(
                                    .channel($0.name), compensation: $0.compensated ? .acquisitionSpillover : .none,
                                    min: $0.min, max: $0.max)
                            })))
            case .ratio(_, _, let numName, let denName, let lo, let hi):
                s.transformations["SingletRatio"] = try? Transformation(
                    id: "SingletRatio", .ratio(a: 1, b: 0, c: 0, numerator: numName, denominator: denName))
                s.gates.append(
                    Gate(
                        id: g.id, parentID: g.parent,
                        kind: .rectangle([Dimension(.ratio("SingletRatio"), min: lo, max: hi)])))
            case .cells(let singlets, let beads):
                s.gates.append(
                    Gate(
                        id: g.id, parentID: g.parent,
                        kind: .and([GateReference(singlets), GateReference(beads, complement: true)])))
            case .timeWindow(_, let name, let lo, let hi):
                s.gates.append(
                    Gate(id: g.id, parentID: g.parent, kind: .rectangle([Dimension(.channel(name), min: lo, max: hi)])))
            case .stable(let windows):
                if windows.count == 1 {
                    s.gates.append(Gate(id: g.id, parentID: g.parent, kind: .not(GateReference(windows[0]))))
                } else {
                    s.gates.append(Gate(id: "ClogWindows", parentID: nil, kind: .or(windows.map { GateReference($0) })))
                    s.gates.append(Gate(id: g.id, parentID: g.parent, kind: .not(GateReference("ClogWindows"))))
                }
            }
        }
        return s
    }
}
