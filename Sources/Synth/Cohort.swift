import CytoModel
import Deflate
import FCSParser
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Options of `cytoingest synth`.
public struct SynthOptions: Sendable, Hashable, Codable {
    public enum Naming: String, Sendable, Hashable, Codable, CaseIterable {
        /// $PnN are the markers (CD3, CD4, ...).
        case marker
        /// $PnN are BD-style detectors (FITC-A, ...), markers in $PnS.
        case detector
    }
    public var seed: UInt64 = 1
    public var patients = 4
    public var months = 6
    public var events = 20_000
    /// F, I or D.
    public var dataType: FCSDataType = .float
    /// 16 or 32, for integer data.
    public var bits = 32
    public var bigEndian = false
    /// 3.0 writes `SPILL` (as BD does), 3.1 `$SPILLOVER`.
    public var fcsVersion: FCSVersion = .fcs3_1
    public var naming: Naming = .marker
    public var gzip = false
    /// Beads per TruCOUNT-style tube and blood volume.
    public var beadsPerTube = 50_000.0
    public var bloodVolumeMicroliters = 50.0
    public var beadLot = "TC-SYN-2407"
    /// Instrument drift between files (nil: none).
    public var drift: Drift?
    /// Cytometers (nil: 1). The second has other detector names, order and spillover.
    public var instruments: Int?
    /// Events per file drawn uniformly from [lo, hi] (nil: `events`).
    public var eventsRange: [Int]?
    /// Files with a QC fault: too few beads, too few lymphocytes, a clog (nil: 0).
    public var qcFaults: Int?
    /// Doublets of any two particles, beads included (bead+cell, bead+bead), 3 % of events
    /// (nil: 1.5 % lymphocyte pairs only).
    public var anyDoublets: Bool?
    /// A third of the debris scatters like the beads, some of it bright in two markers (nil: no).
    public var debrisNearBeads: Bool?
    /// CD25+ and HLA-DR+ 0.4 decades dimmer (without a staining shift: dim but separable), and a
    /// third of the CD4 T cells (a few hundred per file) (nil: no).
    public var dimPositives: Bool?
    /// Markers on other fluorochromes and detectors (`Panel.alternateLayout`) (nil: the standard
    /// layout).
    public var alternateLayout: Bool?

    public enum Drift: String, Sendable, Hashable, Codable, CaseIterable {
        case none, mild, strong
    }

    public init() {}
}

/// One patient's plan: stratum, response and the trajectory parameters.
public struct PatientPlan: Sendable, Codable, Hashable {
    public var id: String
    public var day0: Int
    public var highStratum: Bool
    public var responder: Bool
    public var baselineCD4: Double
    public var gain: Double
    public var cd4PctBase: Double
    public var cd8PctBase: Double
    public var hladrBase: Double
    public var cd25Base: Double
    public var rnaLog10Base: Double
    public var suppressed: Bool
    /// Transient HIV RNA rise at the end of each infusion (as in 4 of the study's patients).
    public var infusionRise: Bool
    public var doseMIUPerDay: Double
    /// Cycle start days (days since 1970).
    public var cycleStarts: [Int]

    /// Progress of the response after `m` months (0 at baseline, towards 1).
    func progress(_ m: Int) -> Double { 1 - exp(-Double(m) / 3) }
}

/// The targets a visit's sample is generated from (the truth comes from the labels).
struct VisitTargets {
    var cd4Abs: Double
    var cd4Pct: Double
    var cd8Pct: Double
    var hladrPct: Double
    var cd25Pct: Double
}

enum CohortPlanner {
    static let studyStart = CivilDate.days(year: 2024, month: 1, day: 8)

    static func plan(_ options: SynthOptions) -> [PatientPlan] {
        var rng = Xoshiro(seed: options.seed, stream: [0xC0_401])
        var out: [PatientPlan] = []
        for i in 0..<options.patients {
            // Alternate strata so that every cohort has both; responders only among > 200.
            let high = i % 2 == 0
            let responder = high && (i % 4 == 0 || rng.uniform() < 0.5)
            let baseline = high ? rng.uniform(260, 620) : rng.uniform(60, 195)
            let gain = responder ? rng.uniform(0.7, 1.6) : (high ? rng.uniform(-0.15, 0.3) : rng.uniform(-0.1, 0.2))
            let day0 = studyStart + 7 * i
            let cycles = stride(from: 0, through: 28 * max(options.months, 1), by: 56).map { day0 + $0 }
            out.append(
                PatientPlan(
                    id: String(format: "P%03d", i + 1), day0: day0, highStratum: high, responder: responder,
                    baselineCD4: baseline,
                    gain: gain, cd4PctBase: high ? rng.uniform(22, 34) : rng.uniform(8, 18),
                    cd8PctBase: rng.uniform(38, 55),
                    hladrBase: rng.uniform(30, 55), cd25Base: rng.uniform(6, 14), rnaLog10Base: rng.uniform(2.8, 5.2),
                    suppressed: i % 3 == 2, infusionRise: i % 4 == 1, doseMIUPerDay: [6, 9, 12, 18][i % 4],
                    cycleStarts: cycles))
        }
        return out
    }

    /// The visit day (days since 1970) of month `m`: baseline a few days before day 0, then
    /// 28-day months, pre-dose when the month falls on a cycle start.
    static func visitDay(_ p: PatientPlan, month m: Int, seed: UInt64) -> Int {
        var rng = Xoshiro(seed: seed, stream: [0x715_17, UInt64(p.day0), UInt64(m)])
        if m == 0 { return p.day0 - 1 - Int(rng.next() % 5) }
        let jitter = m % 2 == 0 ? -Int(rng.next() % 4) : Int(rng.next() % 7) - 3
        return p.day0 + 28 * m + jitter
    }

    static func targets(_ p: PatientPlan, month m: Int, seed: UInt64) -> VisitTargets {
        var rng = Xoshiro(seed: seed, stream: [0x7A_26E7, UInt64(p.day0), UInt64(m)])
        let f = p.progress(m)
        let response = p.responder ? 1.0 : 0.0
        let cd4Abs = max(15, p.baselineCD4 * (1 + p.gain * f) * (1 + rng.normal(0, 0.04)))
        let cd4Pct = min(55, max(4, p.cd4PctBase * (1 + 0.6 * p.gain * f) + rng.normal(0, 0.7)))
        let cd8Pct = max(15, min(70, p.cd8PctBase - 0.6 * (cd4Pct - p.cd4PctBase) + rng.normal(0, 0.7)))
        let hladr = max(3, p.hladrBase * (1 - 0.45 * response * f) + rng.normal(0, 1.5))
        let cd25 = min(45, max(2, p.cd25Base * (1 + 1.5 * response * f) + rng.normal(0, 0.8)))
        return VisitTargets(cd4Abs: cd4Abs, cd4Pct: cd4Pct, cd8Pct: cd8Pct, hladrPct: hladr, cd25Pct: cd25)
    }
}
