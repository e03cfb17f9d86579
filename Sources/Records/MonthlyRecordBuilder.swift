import CytoModel
import Foundation

/// Builds per-patient monthly records from samples and lab results (domain.md section 7):
/// day 0, baseline window and rule, 28-day months and tiled windows, the peri-infusion rule,
/// the tie rules, changes from baseline, responder and stratum. Pure and deterministic.
public struct MonthlyRecordBuilder: Sendable {
    public let rules: RecordRules

    public init(rules: RecordRules) { self.rules = rules }

    /// The cycle a day falls in: (cycle number 1..., days since its start), nil before day 0.
    func cycle(_ day: Int, _ p: RegistryPatient) -> (Int, Int)? {
        guard let i = p.cycleStarts.lastIndex(where: { $0 <= day }) else { return nil }
        return (i + 1, day - p.cycleStarts[i])
    }

    /// On-infusion: cycle day 1 to infusion end + extra days (the start day is pre-dose).
    func onInfusion(_ day: Int, _ p: RegistryPatient) -> Bool {
        guard let (_, since) = cycle(day, p) else { return false }
        return since >= 1 && since <= rules.infusionDays + rules.periInfusionExtraDays
    }

    func target(_ p: RegistryPatient, _ m: Int) -> Int { p.day0 + Int((rules.monthDays * Double(m)).rounded()) }

    /// The first day of month m's window: round(monthDays x m - monthDays / 2).
    func boundary(_ m: Int) -> Int { Int((rules.monthDays * Double(m) - rules.monthDays / 2).rounded()) }

    /// Window of month m >= 1 in days from day 0: [B(m), B(m + 1) - 1]. Consecutive windows
    /// share their boundary, so they tile for any monthDays ([14, 41] for 28-day months;
    /// [15, 45], [46, 75], ... for 30.4375): every day from B(1) on is in exactly one window.
    public func window(_ m: Int) -> (Int, Int) { (boundary(m), boundary(m + 1) - 1) }

    /// Why an analyte of a month has no value (domain.md section 7): the wording of
    /// `MonthlyRecord.missing`, `<analyte>: <reason>`.
    public enum MissingReason: Sendable, Hashable, CustomStringConvertible {
        /// Nothing dated in the window.
        case notCollected
        /// A file dated in the window was rejected (its code).
        case fileRejected(RejectionCode)
        /// A file dated in the window was excluded by a QC rule (a `QC-` rejection code, or a
        /// stored sample's flag that withholds the value, e.g. LOW-BEADS for absolute counts).
        case excludedByQC(String)
        /// Only on-infusion samples or results in the window (their values are in `onInfusion`).
        case onInfusionOnly
        case failed
        case notPerformed

        public var description: String {
            switch self {
            case .notCollected: "not collected"
            case .fileRejected(let code): "file rejected (\(code.rawValue))"
            case .excludedByQC(let why): "excluded by QC (\(why))"
            case .onInfusionOnly: "on-infusion only"
            case .failed: "failed"
            case .notPerformed: "not performed"
            }
        }
    }

    /// Why nothing was chosen among a window's candidates: on-infusion only, else the rejection
    /// of a file dated in the window (QC codes as exclusions), else not collected.
    static func reason(candidates: Int, rejections: [SampleRejection]) -> MissingReason {
        if candidates > 0 { return .onInfusionOnly }
        if let r = rejections.min(by: {
            ($0.collectedDays ?? 0, $0.code.rawValue) < ($1.collectedDays ?? 0, $1.code.rawValue)
        }) {
            return r.code.rawValue.hasPrefix("QC-") ? .excludedByQC(r.code.rawValue) : .fileRejected(r.code)
        }
        return .notCollected
    }

    /// Specimen-level resolution: latest corrected, else latest-resulted valid final, else a
    /// failed result only when nothing valid exists.
    static func resolve(_ results: [StoredLabResult]) -> [StoredLabResult] {
        let groups = Dictionary(grouping: results) { "\($0.result.patient)|\($0.result.specimen)" }
        var out: [StoredLabResult] = []
        for key in groups.keys.sorted() {
            let g = groups[key]!
            func latest(_ xs: [StoredLabResult]) -> StoredLabResult? {
                xs.max {
                    ($0.result.resulted?.epochSeconds ?? 0, $0.result.id) < (
                        $1.result.resulted?.epochSeconds ?? 0, $1.result.id
                    )
                }
            }
            let valid = g.filter { $0.result.outcome.censor != nil }
            if let c = latest(valid.filter { $0.result.status == .corrected || $0.result.status == .amended }) {
                out.append(c)
            } else if let f = latest(valid) {
                out.append(f)
            } else if let x = latest(g) {
                out.append(x)
            }
        }
        return out
    }

    struct Candidate {
        var day: Int
        var qcPassed: Bool
        var resulted: Int64
        var key: String
        var onInfusion: Bool
    }

    /// Tie rules: QC-passed over flagged, not on-infusion, nearest the target, earlier, latest
    /// resulted, smallest id.
    static func pick<T>(_ items: [(T, Candidate)], target: Int) -> (T, Candidate)? {
        items.min { a, b in
            let x = a.1, y = b.1
            if x.qcPassed != y.qcPassed { return x.qcPassed }
            if x.onInfusion != y.onInfusion { return !x.onInfusion }
            let dx = abs(x.day - target), dy = abs(y.day - target)
            if dx != dy { return dx < dy }
            if x.day != y.day { return x.day < y.day }
            if x.resulted != y.resulted { return x.resulted > y.resulted }
            return x.key < y.key
        }
    }

    /// `rejections`: rejected FCS files that named their patient and day (for exact reasons).
    public func build(
        patients: [RegistryPatient], samples: [SampleResult], labs: [StoredLabResult],
        rejections: [SampleRejection] = []
    ) -> [MonthlyRecord] {
        var out: [MonthlyRecord] = []
        let resolved = Self.resolve(labs)
        for p in patients.sorted(by: { $0.id < $1.id }) {
            let ps = samples.filter { $0.patient == p.id }
            let pl = resolved.filter { $0.result.patient == p.id }
            let pr = rejections.filter { $0.patient == p.id && $0.collectedDays != nil }
            let sampleCands = ps.map { s in
                (
                    s,
                    Candidate(
                        day: s.collectedDays - p.day0, qcPassed: s.qcFlags.isEmpty, resulted: 0, key: s.file,
                        onInfusion: onInfusion(s.collectedDays, p))
                )
            }
            let labCands = pl.map { r in
                (
                    r,
                    Candidate(
                        day: r.result.collected.localDays - p.day0, qcPassed: r.result.outcome.censor != nil,
                        resulted: r.result.resulted?.epochSeconds ?? 0, key: r.result.specimen,
                        onInfusion: onInfusion(r.result.collected.localDays, p))
                )
            }
            // Rejected files count: a month whose only file was rejected exists and says so.
            let lastDay =
                (sampleCands.map(\.1.day) + labCands.map(\.1.day) + pr.map { $0.collectedDays! - p.day0 }).max() ?? 0
            var lastMonth = 0
            while window(lastMonth + 1).0 <= lastDay { lastMonth += 1 }

            // Baseline: valid, pre-dose samples in [baselineFromDay, baselineToDay].
            let inBaseline = { (c: Candidate) in
                c.day >= rules.baselineFromDay && c.day <= rules.baselineToDay && !c.onInfusion
            }
            let baseSamples = sampleCands.filter { inBaseline($0.1) }.sorted {
                ($0.1.day, $0.1.key) < ($1.1.day, $1.1.key)
            }
            let baseLabs = labCands.filter { inBaseline($0.1) && $0.0.result.outcome.censor != nil }.sorted {
                ($0.1.day, $0.1.key) < ($1.1.day, $1.1.key)
            }
            let take = rules.baselineRule == .last ? 1 : 2
            let bs = Array(baseSamples.suffix(take)).map(\.0)
            let bl = Array(baseLabs.suffix(take)).map(\.0)
            func mean(_ xs: [Double?]) -> Double? {
                let v = xs.compactMap { $0 }
                return v.isEmpty ? nil : v.reduce(0, +) / Double(v.count)
            }
            let baseCD4 = mean(bs.map(\.cd4Abs))
            let baseCD4Pct = mean(bs.map(\.cd4Pct))
            let baseLog = mean(bl.map(\.result.log10))
            let stratum = baseCD4.map {
                $0 > rules.stratumThreshold ? ">\(Int(rules.stratumThreshold))" : "<=\(Int(rules.stratumThreshold))"
            }

            var records: [MonthlyRecord] = []
            for m in 0...lastMonth {
                let (from, to) = m == 0 ? (rules.baselineFromDay, rules.baselineToDay) : window(m)
                var r = MonthlyRecord(
                    patient: p.id, month: m, targetDate: CivilDate.iso(target(p, m)), windowFromDay: from,
                    windowToDay: to, baseline: m == 0,
                    stratum: stratum, responder: nil, missing: [], qc: [], sources: [], candidates: 0)
                if m == 0 {
                    if let last = bs.last {
                        r.cd4Collected = last.collected
                        r.cd4Abs = baseCD4
                        r.cd4Pct = baseCD4Pct
                        r.cd8Abs = mean(bs.map(\.cd8Abs))
                        r.cd8Pct = mean(bs.map(\.cd8Pct))
                        r.cd4cd8Ratio = mean(bs.map(\.cd4cd8Ratio))
                        r.cd8HladrPct = mean(bs.map(\.cd8HladrPct))
                        r.cd4Cd25Pct = mean(bs.map(\.cd4Cd25Pct))
                        r.method = last.method
                        r.qc = Array(Set(bs.flatMap(\.qcFlags))).sorted { $0.rawValue < $1.rawValue }
                        r.sources += bs.map(\.file)
                    } else {
                        let rej = pr.filter {
                            let d = $0.collectedDays! - p.day0
                            return d >= rules.baselineFromDay && d <= rules.baselineToDay
                        }
                        r.missing.append("cd4: \(Self.reason(candidates: 0, rejections: rej))")
                    }
                    if let last = bl.last {
                        r.hivCollected = last.result.collected.isoDate
                        r.hivRnaLog10 = baseLog
                        r.hivRnaCopies = bl.count == 1 ? last.result.copies : baseLog.map { pow(10, $0) }
                        r.hivRnaCensor =
                            bl.contains { ($0.result.censor ?? Censor.none) != Censor.none }
                            ? bl.last!.result.censor : Censor.none
                        r.hivRnaLimit = bl.compactMap(\.result.limit).last
                        r.hivRnaAssay = last.result.assay?.name
                        r.sources += bl.map(\.result.id)
                    } else {
                        r.missing.append("hivRna: \(MissingReason.notCollected)")
                    }
                    r.candidates = baseSamples.count + baseLabs.count
                } else {
                    let sIn = sampleCands.filter { $0.1.day >= from && $0.1.day <= to }
                    let rIn = pr.filter { ($0.collectedDays! - p.day0) >= from && ($0.collectedDays! - p.day0) <= to }
                    let lIn = labCands.filter { $0.1.day >= from && $0.1.day <= to }
                    r.candidates = sIn.count + lIn.count
                    let t = target(p, m) - p.day0
                    if let (s, c) = Self.pick(sIn.filter { !$0.1.onInfusion }, target: t) {
                        r.cd4Collected = s.collected
                        r.cd4Abs = s.cd4Abs
                        r.cd4Pct = s.cd4Pct
                        r.cd8Abs = s.cd8Abs
                        r.cd8Pct = s.cd8Pct
                        r.cd4cd8Ratio = s.cd4cd8Ratio
                        r.cd8HladrPct = s.cd8HladrPct
                        r.cd4Cd25Pct = s.cd4Cd25Pct
                        r.method = s.method
                        r.qc = s.qcFlags
                        r.sources.append(s.file)
                        if s.cd4Abs == nil {
                            // The sample stands, its absolute count does not: say which rule withheld it.
                            let withheld = s.qcFlags.first { [.lowBeads, .noBeadLot, .noCBC].contains($0) }
                            r.missing.append(
                                "cd4Abs: \(MissingReason.excludedByQC(withheld?.rawValue ?? "no absolute count"))")
                        }
                        if let (cy, since) = cycle(s.collectedDays, p) {
                            r.cycle = cy
                            r.daysSinceCycleStart = since
                        }
                        _ = c
                    } else {
                        r.missing.append("cd4: \(Self.reason(candidates: sIn.count, rejections: rIn))")
                    }
                    if let (s, _) = Self.pick(sIn.filter { $0.1.onInfusion }, target: t) {
                        r.onInfusionCd4Abs = s.cd4Abs
                        r.onInfusion.cd4Collected = s.collected
                        r.onInfusion.cd4Pct = s.cd4Pct
                        r.onInfusion.cd8Abs = s.cd8Abs
                        r.onInfusion.cd8Pct = s.cd8Pct
                        r.onInfusion.cd4cd8Ratio = s.cd4cd8Ratio
                        r.onInfusion.cd8HladrPct = s.cd8HladrPct
                        r.onInfusion.cd4Cd25Pct = s.cd4Cd25Pct
                        r.onInfusion.sources.append(s.file)
                    }
                    let validLabs = lIn.filter { $0.0.result.outcome.censor != nil }
                    if let (l, _) = Self.pick(validLabs.filter { !$0.1.onInfusion }, target: t) {
                        r.hivCollected = l.result.collected.isoDate
                        r.hivRnaCopies = l.result.copies
                        r.hivRnaLog10 = l.result.log10
                        r.hivRnaCensor = l.result.censor
                        r.hivRnaLimit = l.result.limit
                        r.hivRnaAssay = l.result.assay?.name
                        r.sources.append(l.result.id)
                    } else if lIn.contains(where: { $0.0.result.outcome == .failed }) {
                        r.missing.append("hivRna: \(MissingReason.failed)")
                    } else if lIn.contains(where: { $0.0.result.outcome == .notPerformed }) {
                        r.missing.append("hivRna: \(MissingReason.notPerformed)")
                    } else {
                        r.missing.append("hivRna: \(lIn.isEmpty ? MissingReason.notCollected : .onInfusionOnly)")
                    }
                    if let (l, _) = Self.pick(validLabs.filter { $0.1.onInfusion }, target: t) {
                        r.onInfusionHivRnaLog10 = l.result.log10
                        r.onInfusion.hivCollected = l.result.collected.isoDate
                        r.onInfusion.hivRnaCopies = l.result.copies
                        r.onInfusion.hivRnaCensor = l.result.censor
                        r.onInfusion.hivRnaLimit = l.result.limit
                        r.onInfusion.sources.append(l.result.id)
                    }
                }
                r.doseMIUPerDay = p.doseMIUPerDay
                r.cyclesCompleted = p.cycleStarts.filter { $0 + rules.infusionDays <= target(p, m) }.count
                if m > 0 {
                    if let a = r.cd4Abs, let b = baseCD4 { r.deltaCd4Abs = a - b }
                    if let a = r.cd4Pct, let b = baseCD4Pct { r.deltaCd4Pct = a - b }
                    if let a = r.hivRnaLog10, let b = baseLog { r.deltaLog10 = a - b }
                }
                records.append(r)
            }
            // Responder: mean of the last two evaluable monthly CD4 >= factor x baseline.
            let evaluable = records.filter { $0.month > 0 }.compactMap(\.cd4Abs)
            var responder: Bool? = nil
            if let b = baseCD4, b > 0, !evaluable.isEmpty {
                let last = evaluable.suffix(2)
                responder = last.reduce(0, +) / Double(last.count) >= rules.responderFactor * b
            }
            for i in records.indices { records[i].responder = responder }
            out += records
        }
        return out
    }
}
