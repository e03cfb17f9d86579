/// Agreement between paired measurements (automated vs manual) across samples.
public struct AgreementStatistics: Sendable, Hashable, Codable {
    public var n: Int
    /// Bland–Altman bias: mean of (automated - manual).
    public var bias: Double?
    /// Standard deviation of the differences (n - 1).
    public var sdDifference: Double?
    /// 95 % limits of agreement: bias -/+ 1.96 SD.
    public var loaLow: Double?
    public var loaHigh: Double?
    /// Lin's concordance correlation coefficient.
    public var ccc: Double?
    /// Pearson's r.
    public var pearson: Double?

    /// - Parameters: pairs of (automated, manual); non-finite pairs are dropped.
    public init(pairs: [(Double, Double)]) {
        let p = pairs.filter { $0.0.isFinite && $0.1.isFinite }
        n = p.count
        guard n >= 1 else { return }
        let nd = Double(n)
        let diffs = p.map { $0.0 - $0.1 }
        let bias = diffs.reduce(0, +) / nd
        self.bias = bias
        guard n >= 2 else { return }
        let sd = (diffs.reduce(0) { $0 + ($1 - bias) * ($1 - bias) } / (nd - 1)).squareRoot()
        sdDifference = sd
        loaLow = bias - 1.96 * sd
        loaHigh = bias + 1.96 * sd
        let mx = p.reduce(0) { $0 + $1.0 } / nd, my = p.reduce(0) { $0 + $1.1 } / nd
        // Population (1/n) moments, as in Lin (1989).
        var sxx = 0.0, syy = 0.0, sxy = 0.0
        for (x, y) in p {
            sxx += (x - mx) * (x - mx)
            syy += (y - my) * (y - my)
            sxy += (x - mx) * (y - my)
        }
        sxx /= nd
        syy /= nd
        sxy /= nd
        let denom = sxx + syy + (mx - my) * (mx - my)
        ccc = denom > 0 ? 2 * sxy / denom : (mx == my ? 1 : nil)
        pearson = sxx > 0 && syy > 0 ? sxy / (sxx * syy).squareRoot() : nil
    }
}

/// Event-level agreement of two memberships of the same events.
public struct EventAgreement: Sendable, Hashable, Codable {
    public var truePositives: Int
    public var falsePositives: Int
    public var falseNegatives: Int

    public init(truePositives: Int = 0, falsePositives: Int = 0, falseNegatives: Int = 0) {
        self.truePositives = truePositives
        self.falsePositives = falsePositives
        self.falseNegatives = falseNegatives
    }

    /// Adds one block: `automated` and `manual` are 0/1 masks of equal length.
    public mutating func add(automated: [UInt8], manual: [UInt8], count: Int) {
        var tp = 0, fp = 0, fn = 0
        for i in 0..<count {
            let a = automated[i], m = manual[i]
            tp += Int(a & m)
            fp += Int(a & (1 - m))
            fn += Int((1 - a) & m)
        }
        truePositives += tp
        falsePositives += fp
        falseNegatives += fn
    }

    public static func + (a: EventAgreement, b: EventAgreement) -> EventAgreement {
        EventAgreement(
            truePositives: a.truePositives + b.truePositives, falsePositives: a.falsePositives + b.falsePositives,
            falseNegatives: a.falseNegatives + b.falseNegatives)
    }

    /// TP / (TP + FP); nil when the automated gate is empty.
    public var precision: Double? {
        truePositives + falsePositives > 0 ? Double(truePositives) / Double(truePositives + falsePositives) : nil
    }
    /// TP / (TP + FN); nil when the manual gate is empty.
    public var recall: Double? {
        truePositives + falseNegatives > 0 ? Double(truePositives) / Double(truePositives + falseNegatives) : nil
    }
    /// Harmonic mean of precision and recall; 1 when both gates are empty.
    public var f1: Double? {
        let d = 2 * truePositives + falsePositives + falseNegatives
        return d > 0 ? 2 * Double(truePositives) / Double(d) : 1
    }
}
