#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Counts and derived values of one generated file, computed from its labels.
public struct SampleTruth: Sendable, Codable, Hashable {
    public var events: Int
    /// Events per population name.
    public var populations: [String: Int]
    public var beadEvents: Int
    public var lymphocyteEvents: Int
    public var cd4Events: Int
    public var cd8Events: Int
    public var cd4Abs: Double
    public var cd8Abs: Double
    public var cd4Pct: Double
    public var cd8Pct: Double
    public var cd8HladrPct: Double
    public var cd4Cd25Pct: Double

    /// Recomputes everything from a label sequence (the definition the tests check).
    public init(labels: [UInt8], beadsPerTube: Double, bloodVolume: Double) {
        var counts = [Int](repeating: 0, count: Panel.Population.allCases.count)
        for l in labels { counts[Int(l)] += 1 }
        func n(_ p: Panel.Population) -> Int { counts[Int(p.rawValue)] }
        events = labels.count
        populations = Dictionary(uniqueKeysWithValues: Panel.Population.allCases.map { ($0.name, n($0)) })
        beadEvents = n(.bead)
        lymphocyteEvents = Panel.Population.allCases.filter(\.isLymphocyte).map(n).reduce(0, +)
        cd4Events = n(.cd4T) + n(.cd4TCD25)
        cd8Events = n(.cd8T) + n(.cd8THLADR)
        let perBead = beadEvents > 0 ? beadsPerTube / bloodVolume / Double(beadEvents) : .nan
        cd4Abs = Double(cd4Events) * perBead
        cd8Abs = Double(cd8Events) * perBead
        cd4Pct = 100 * Double(cd4Events) / Double(max(lymphocyteEvents, 1))
        cd8Pct = 100 * Double(cd8Events) / Double(max(lymphocyteEvents, 1))
        cd8HladrPct = 100 * Double(n(.cd8THLADR)) / Double(max(cd8Events, 1))
        cd4Cd25Pct = 100 * Double(n(.cd4TCD25)) / Double(max(cd4Events, 1))
    }
}

/// The conditions of one tube: instrument, drift and fault. `identity` changes nothing.
public struct TubeConditions: Sendable, Hashable, Codable {
    public enum Fault: String, Sendable, Hashable, Codable {
        case lowBeads, lowLymphocytes, clog
    }
    /// 1 or 2.
    public var instrument = 1
    /// Detector gains per marker (markers order).
    public var detectorGains = [Double](repeating: 1, count: Panel.markers.count)
    /// Forward and side scatter gains.
    public var fscGain = 1.0
    public var sscGain = 1.0
    /// Staining shift per marker, in decades (positive populations only).
    public var stainShift = [Double](repeating: 0, count: Panel.markers.count)
    public var fault: Fault?

    public static let identity = TubeConditions()

    /// The QC flags a correct pipeline raises for this tube.
    public var expectedFlags: [String] {
        switch fault {
        case .lowBeads: ["LOW-BEADS"]
        case .lowLymphocytes: ["QC-LOW-LYMPHOCYTES"]
        case .clog: ["CLOG"]
        case nil: []
        }
    }
}

/// Generates the events of one tube: labels drawn from the visit's composition, then scatter,
/// marker intensities (log-normal positives, normal background), spillover and detector noise.
struct SampleGenerator {
    let options: SynthOptions
    /// Expression and scatter per population code, looked up once (no allocation per event).
    let expressions: [[Double]] = Panel.Population.allCases.map { Panel.expression($0) }
    let scatters = Panel.Population.allCases.map { Panel.scatter($0) }

    init(options: SynthOptions) { self.options = options }

    /// Population probabilities for the visit's targets.
    func composition(_ t: VisitTargets, fault: TubeConditions.Fault? = nil) -> [(Panel.Population, Double)] {
        let dn = 4.0
        var b = 12.0
        var nk = 100 - t.cd4Pct - t.cd8Pct - dn - b
        if nk < 4 {
            b = max(2, b - (4 - nk))
            nk = max(2, 100 - t.cd4Pct - t.cd8Pct - dn - b)
        }
        var lymphShares: [(Panel.Population, Double)] = [
            (.cd4T, t.cd4Pct * (1 - t.cd25Pct / 100)), (.cd4TCD25, t.cd4Pct * t.cd25Pct / 100),
            (.cd8T, t.cd8Pct * (1 - t.hladrPct / 100)), (.cd8THLADR, t.cd8Pct * t.hladrPct / 100), (.dnT, dn),
            (.bCell, b), (.nkCell, nk),
        ]
        if options.dimPositives == true {
            // A third of the CD4 T cells: a few hundred per file; the other lymphocytes take their place.
            for k in lymphShares.indices where lymphShares[k].0 == .cd4T || lymphShares[k].0 == .cd4TCD25 {
                lymphShares[k].1 /= 3
            }
        }
        let lymphTotal = lymphShares.map(\.1).reduce(0, +)
        let absLymph = t.cd4Abs / (t.cd4Pct / 100)
        let wbc = absLymph / 0.3
        let mono = 0.08 * wbc
        let gran = wbc - absLymph - mono
        let beadConc = options.beadsPerTube / options.bloodVolumeMicroliters
        let cellular = 0.965
        let scale = cellular / (wbc + beadConc)
        var out: [(Panel.Population, Double)] = [
            (.debris, 0.02), (.doublet, options.anyDoublets == true ? 0.03 : 0.015),
        ]
        let lymphFactor = fault == .lowLymphocytes ? 0.04 : 1
        let beadFactor = fault == .lowBeads ? 0.02 : 1
        for (p, share) in lymphShares { out.append((p, scale * absLymph * share / lymphTotal * lymphFactor)) }
        out += [(.monocyte, scale * mono), (.granulocyte, scale * gran), (.bead, scale * beadConc * beadFactor)]
        return out
    }

    /// Labels and columns (FSC-A, FSC-H, SSC-A, 6 markers' detectors, Time) for one tube.
    /// Detector values are in `Panel.markers` order, spilled with the instrument's matrix and
    /// scaled by its gains.
    func generate(
        _ t: VisitTargets, events n: Int, conditions c: TubeConditions = .identity, rng: inout Xoshiro
    ) -> (labels: [UInt8], columns: [[Double]]) {
        let comp = composition(t, fault: c.fault)
        var cumulative: [Double] = []
        var acc = 0.0
        for (_, p) in comp {
            acc += p
            cumulative.append(acc)
        }
        let total = acc
        let pops = comp.map(\.0)
        let markerCount = Panel.markers.count
        var labels = [UInt8](repeating: 0, count: n)
        var columns = [[Double]](repeating: [Double](repeating: 0, count: n), count: 3 + markerCount + 1)
        let lymphPops: [Panel.Population] = [.cd4T, .cd8T, .bCell, .nkCell]
        var truth = [Double](repeating: 0, count: markerCount)
        let spill = Panel.spillover(instrument: c.instrument).flatMap { $0 }
        let drifted = c != .identity
        for e in 0..<n {
            let u = rng.uniform() * total
            var k = 0
            while k < cumulative.count - 1 && u >= cumulative[k] { k += 1 }
            let pop = pops[k]
            labels[e] = pop.rawValue
            var fscA: Double, fscH: Double, ssc: Double
            if pop == .doublet && options.anyDoublets == true {
                // Any two particles by their share of the tube: bead+cell and bead+bead too. Areas
                // add, the height is the larger one's (and a little), side scatter adds.
                func particle(_ rng: inout Xoshiro) -> Panel.Population {
                    while true {
                        let u = rng.uniform() * total
                        var j = 0
                        while j < cumulative.count - 1 && u >= cumulative[j] { j += 1 }
                        if pops[j] != .doublet && pops[j] != .debris { return pops[j] }
                    }
                }
                let a = particle(&rng), b = particle(&rng)
                let sa = scatters[Int(a.rawValue)], sb = scatters[Int(b.rawValue)]
                let fa = rng.normal(sa.fsc, sa.fscSD), fb = rng.normal(sb.fsc, sb.fscSD)
                fscA = fa + fb
                fscH = max(fa, fb) / 1.05 * rng.normal(1.1, 0.05)
                ssc = rng.normal(sa.ssc, sa.sscSD) + rng.normal(sb.ssc, sb.sscSD)
                for m in 0..<markerCount {
                    var v = 0.0
                    for q in [a, b] {
                        let ex = expressions[Int(q.rawValue)]
                        v += intensity(
                            drifted && q != .bead && ex[m] > 0
                                ? dimmed(q, m, ex[m]) + stainShift(c, m) : dimmed(q, m, ex[m]), &rng)
                    }
                    truth[m] = v
                }
            } else if pop == .doublet {
                let a = lymphPops[Int(rng.next() % 4)], b = lymphPops[Int(rng.next() % 4)]
                fscA = rng.normal(104_000, 9000)
                fscH = fscA / rng.normal(1.75, 0.12)
                ssc = rng.normal(24_000, 3500)
                let ea = expressions[Int(a.rawValue)], eb = expressions[Int(b.rawValue)]
                for m in 0..<markerCount { truth[m] = intensity(ea[m], &rng) + intensity(eb[m], &rng) }
            } else if pop == .debris && options.debrisNearBeads == true && rng.uniform() < 1.0 / 3 {
                // Debris scattering like the beads; half of it bright in two markers (never in all).
                let s = scatters[Int(Panel.Population.bead.rawValue)]
                fscA = rng.normal(s.fsc * 0.9, s.fscSD * 3)
                fscH = fscA / rng.normal(1.05, 0.035)
                ssc = rng.normal(s.ssc * 0.9, s.sscSD * 3)
                let bright = rng.uniform() < 0.5 ? [Int(rng.next() % 6), Int(rng.next() % 6)] : []
                for m in 0..<markerCount { truth[m] = intensity(bright.contains(m) ? 4.3 : 1.5, &rng) }
            } else {
                let s = scatters[Int(pop.rawValue)]
                fscA = rng.normal(s.fsc, s.fscSD)
                fscH = fscA / rng.normal(1.05, 0.035)
                ssc = rng.normal(s.ssc, s.sscSD)
                let ex = expressions[Int(pop.rawValue)]
                if drifted && pop != .bead {
                    for m in 0..<markerCount {
                        truth[m] = intensity(ex[m] > 0 ? dimmed(pop, m, ex[m]) + stainShift(c, m) : 0, &rng)
                    }
                } else {
                    for m in 0..<markerCount { truth[m] = intensity(dimmed(pop, m, ex[m]), &rng) }
                }
            }
            if options.alternateLayout == true {
                // Marker m on fluorochrome alternateLayout[m].
                let byMarker = truth
                for m in 0..<markerCount { truth[Panel.fluorochrome(of: m, alternate: true)] = byMarker[m] }
            }
            if drifted {
                fscA *= c.fscGain
                fscH *= c.fscGain
                ssc *= c.sscGain
            }
            columns[0][e] = clampScatter(fscA)
            columns[1][e] = clampScatter(fscH)
            columns[2][e] = clampScatter(ssc)
            for d in 0..<markerCount {
                var v = rng.normal(0, 25)
                for m in 0..<markerCount { v += truth[m] * spill[m * markerCount + d] }
                columns[3 + d][e] = drifted ? v * c.detectorGains[d] : v
            }
            // Time in $TIMESTEP (0.01 s) units over a 2-minute acquisition.
            columns[3 + markerCount][e] = (Double(e) * 12_000 / Double(max(n, 1))).rounded(.down)
        }
        if c.fault == .clog { applyClog(&columns, n: n) }
        return (labels, columns)
    }

    /// A partial clog: 8 % of the events, from 35 % of the run, arrive in a burst (a third of
    /// their time) with scatter and fluorescence dropped to 35 %.
    func applyClog(_ columns: inout [[Double]], n: Int) {
        let a = n * 35 / 100, b = a + n * 8 / 100
        guard b > a, b <= n else { return }
        let time = columns.count - 1
        let t0 = columns[time][a], span = Double(b - a) * 12_000 / Double(n)
        for e in a..<b {
            for col in 0..<time { columns[col][e] *= 0.35 }
            columns[time][e] = (t0 + Double(e - a) * span / 3 / Double(b - a)).rounded(.down)
        }
        let shift = span * 2 / 3
        for e in b..<n { columns[time][e] = max(0, (columns[time][e] - shift).rounded(.down)) }
    }

    /// The tube's staining shift of a marker; with `dimPositives` the dimmed activation markers
    /// (HLA-DR, CD25) keep their dimming alone, so that dim positives stay separable from the
    /// negatives (as in the independent cohort this reproduces).
    @inline(__always) func stainShift(_ c: TubeConditions, _ m: Int) -> Double {
        options.dimPositives == true && (m == 4 || m == 5) ? 0 : c.stainShift[m]
    }

    /// Activation markers 0.4 decades dimmer with `dimPositives`.
    @inline(__always) func dimmed(_ p: Panel.Population, _ m: Int, _ log10Mean: Double) -> Double {
        guard options.dimPositives == true, log10Mean > 0 else { return log10Mean }
        return (p == .cd4TCD25 && m == 5) || (p == .cd8THLADR && m == 4) ? log10Mean - 0.4 : log10Mean
    }

    @inline(__always) func intensity(_ log10Mean: Double, _ rng: inout Xoshiro) -> Double {
        log10Mean > 0 ? rng.logNormal10(log10Mean, 0.15) : rng.normal(0, 60)
    }

    @inline(__always) func clampScatter(_ v: Double) -> Double { min(max(v, 0), 262_143) }
}
