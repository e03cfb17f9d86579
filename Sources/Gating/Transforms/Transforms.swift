#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A Gating-ML 2.0 scale transformation (Transformations.v2.0, section 6) with optional
/// `boundMin`/`boundMax`, which clamp the transformed value.
public struct Transformation: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// `flin`: (x + A) / (T + A).
        case linear(t: Double, a: Double)
        /// `flog`: (1 / M) log10(x / T) + 1; NaN for x <= 0.
        case log(t: Double, m: Double)
        /// `fasinh`: (asinh(x sinh(M ln 10) / T) + A ln 10) / ((M + A) ln 10).
        case asinh(t: Double, m: Double, a: Double)
        /// `logicle` (Parks, Roederer & Moore 2006; Moore & Parks 2012): the inverse of a
        /// biexponential, linear near zero.
        case logicle(t: Double, w: Double, m: Double, a: Double)
        /// `hyperlog` (Bagwell 2005, Gating-ML 2.0 parameterisation): the inverse of a
        /// linear-plus-exponential.
        case hyperlog(t: Double, w: Double, m: Double, a: Double)
        /// `fratio`: A (x1 - B) / (x2 - C) of two channels (a new dimension).
        case ratio(a: Double, b: Double, c: Double, numerator: String, denominator: String)
        /// FlowJo "biex": FlowJo's lookup table (`FlowJoBiexTable`), onto [0, 1].
        case flowJoBiex(neg: Double, width: Double, pos: Double, maxRange: Double)
        /// FlowJo "log": (log10(max(x, offset)) - log10(offset)) / decades; values below the
        /// offset sit on the axis (0), as FlowJo draws them.
        case flowJoLog(offset: Double, decades: Double)
    }

    public var id: String?
    public var kind: Kind
    public var boundMin: Double?
    public var boundMax: Double?
    /// FlowJo-exact binning: the transformed value is rounded to the nearest of `bins` display
    /// bins and kept within [0, 1] (FlowJo evaluates polygons and ellipses on its 256-bin
    /// display; docs/validation.md). nil: exact values.
    public var bins: Int?
    /// Precomputed parameters for logicle and hyperlog.
    let biexponential: Biexponential?
    /// FlowJo's biex table.
    let lookup: FlowJoBiexTable?

    public init(
        id: String? = nil, _ kind: Kind, boundMin: Double? = nil, boundMax: Double? = nil, bins: Int? = nil
    ) throws(GatingError) {
        self.id = id
        self.kind = kind
        self.boundMin = boundMin
        self.boundMax = boundMax
        self.bins = bins
        if case .flowJoBiex(let neg, let width, let pos, let maxRange) = kind, width <= -1, width.isFinite, neg >= 0,
            neg.isFinite, pos > 0, pos <= 20, maxRange > 0, maxRange.isFinite
        {
            lookup = FlowJoBiexTable(neg: neg, width: width, pos: pos, maxRange: maxRange)
        } else {
            lookup = nil
        }
        func need(_ ok: Bool, _ what: String) throws(GatingError) {
            if !ok { throw GatingError(.badTransform, "transformation \(id ?? ""): \(what)", element: id) }
        }
        switch kind {
        case .linear(let t, let a):
            try need(t > 0 && a.isFinite && t + a != 0, "flin needs T > 0 and T + A != 0")
            biexponential = nil
        case .log(let t, let m):
            try need(t > 0 && m > 0, "flog needs T > 0 and M > 0")
            biexponential = nil
        case .asinh(let t, let m, let a):
            try need(t > 0 && m > 0 && a >= 0 && a <= m, "fasinh needs T > 0, M > 0 and 0 <= A <= M")
            biexponential = nil
        case .logicle(let t, let w, let m, let a):
            try need(
                t > 0 && m > 0 && w >= 0 && w <= m / 2 && a >= -w && a <= m - 2 * w,
                "logicle needs T > 0, M > 0, 0 <= W <= M/2, -W <= A <= M - 2W")
            biexponential = Biexponential(logicleT: t, w: w, m: m, a: a)
        case .hyperlog(let t, let w, let m, let a):
            try need(
                t > 0 && m > 0 && w > 0 && w <= m / 2 && a >= -w && a <= m - 2 * w,
                "hyperlog needs T > 0, M > 0, 0 < W <= M/2, -W <= A <= M - 2W")
            biexponential = Biexponential(hyperlogT: t, w: w, m: m, a: a)
        case .ratio(let a, let b, let c, _, _):
            try need(a.isFinite && b.isFinite && c.isFinite, "fratio needs finite A, B, C")
            biexponential = nil
        case .flowJoBiex(let neg, let width, let pos, let maxRange):
            try need(
                width <= -1 && width.isFinite && neg >= 0 && neg.isFinite && pos > 0 && pos <= 20 && maxRange > 0
                    && maxRange.isFinite,
                "FlowJo biex needs width <= -1, neg >= 0, 0 < pos <= 20 and maxRange > 0")
            biexponential = nil
        case .flowJoLog(let offset, let decades):
            try need(
                offset > 0 && offset.isFinite && decades > 0 && decades.isFinite,
                "FlowJo log needs offset > 0 and decades > 0")
            biexponential = nil
        }
        if let bins { try need(bins > 0 && bins <= 1 << 20, "bins must be 1 ... 2^20") }
        if let lo = boundMin, let hi = boundMax, lo > hi {
            throw GatingError(.badTransform, "transformation \(id ?? ""): boundMin > boundMax", element: id)
        }
    }

    /// True for `fratio`, which reads two channels.
    public var isRatio: Bool { if case .ratio = kind { true } else { false } }

    /// Transforms one value (scalar reference; the column kernels must agree with it).
    public func apply(_ x: Double) -> Double {
        clamp(raw(x))
    }

    /// Applies `fratio` to one pair.
    public func applyRatio(_ x1: Double, _ x2: Double) -> Double {
        guard case .ratio(let a, let b, let c, _, _) = kind else { return .nan }
        return clamp(a * (x1 - b) / (x2 - c))
    }

    func clamp(_ y: Double) -> Double {
        var v = y
        if let lo = boundMin, v < lo { v = lo }
        if let hi = boundMax, v > hi { v = hi }
        if let bins, !v.isNaN {
            let n = Double(bins)
            v = min(max((v * n).rounded(.toNearestOrAwayFromZero), 0), n) / n
        }
        return v
    }

    /// The data value at display position `y` (the inverse, for drawing axes and gate outlines);
    /// nil for `fratio`.
    public func inverse(_ y: Double) -> Double? {
        let ln10 = 2.302585092994046
        switch kind {
        case .linear(let t, let a): return y * (t + a) - a
        case .log(let t, let m): return t * Glibc.pow(10, (y - 1) * m)
        case .asinh(let t, let m, let a): return t * Glibc.sinh(y * (m + a) * ln10 - a * ln10) / Glibc.sinh(m * ln10)
        case .logicle, .hyperlog: return biexponential!.forward(y)
        case .flowJoBiex: return lookup!.value(y)
        case .flowJoLog(let offset, let decades): return offset * Glibc.pow(10, y * decades)
        case .ratio: return nil
        }
    }

    func raw(_ x: Double) -> Double {
        switch kind {
        case .linear(let t, let a): return (x + a) / (t + a)
        case .log(let t, let m): return x > 0 ? Glibc.log10(x / t) / m + 1 : .nan
        case .asinh(let t, let m, let a):
            let ln10 = 2.302585092994046
            return (Glibc.asinh(x * Glibc.sinh(m * ln10) / t) + a * ln10) / ((m + a) * ln10)
        case .logicle, .hyperlog: return biexponential!.inverse(x)
        case .ratio: return .nan
        case .flowJoBiex: return lookup!.position(x)
        case .flowJoLog(let offset, let decades):
            return x.isNaN ? .nan : (Glibc.log10(max(x, offset)) - Glibc.log10(offset)) / decades
        }
    }

    /// Transforms a column (fast path; equal to `apply` per element within 1e-12 relative).
    public func apply(column: ArraySlice<Double>) -> [Double] {
        var out = [Double](repeating: 0, count: column.count)
        switch kind {
        case .linear(let t, let a):
            // Division, not multiplication by the reciprocal: the result must equal `apply`.
            let denominator = t + a
            var i = 0
            for x in column {
                out[i] = (x + a) / denominator
                i += 1
            }
        case .logicle, .hyperlog:
            biexponential!.inverse(column: column, into: &out)
        default:
            var i = 0
            for x in column {
                out[i] = raw(x)
                i += 1
            }
        }
        if boundMin != nil || boundMax != nil || bins != nil {
            for i in out.indices { out[i] = clamp(out[i]) }
        }
        return out
    }
}

/// The biexponential family behind logicle and hyperlog, in Gating-ML 2.0's parameterisation
/// (T, W, M, A). The forward function `S(y)` maps display position to data value; the
/// transform is its inverse, found per value.
///
/// With w = W / (M + A), x2 = A / (M + A), x1 = x2 + w, x0 = x2 + 2w, b = (M + A) ln 10:
/// - logicle (Moore & Parks, Cytometry A 81A:273, 2012): S(y) = a e^{by} - c e^{-dy} - f for
///   y >= x1, with d solving w (b + d) = 2 ln(b / d), c = a e^{(b + d) x0}, S(x1) = 0, S(1) = T;
/// - hyperlog (Bagwell, Clin Cytometry 2005; Gating-ML 2.0 s.6.6): S(y) = a e^{by} + c y - f,
///   with c = a e^{b x0} / w, S(x1) = 0, S(1) = T;
/// and S(x1 - u) = -S(x1 + u) below x1.
struct Biexponential: Sendable, Hashable {
    let isLogicle: Bool
    let a: Double, b: Double, c: Double, d: Double, f: Double
    let x1: Double
    var table: InverseTable

    init(logicleT t: Double, w width: Double, m: Double, a aParam: Double) {
        isLogicle = true
        let w = width / (m + aParam)
        let x2 = aParam / (m + aParam)
        x1 = x2 + w
        let x0 = x2 + 2 * w
        b = (m + aParam) * 2.302585092994046
        d = Self.solveD(b: b, w: w)
        let cA = exp(x0 * (b + d))
        let mfA = exp(b * x1) - cA * exp(-d * x1)
        a = t / ((exp(b) - mfA) - cA * exp(-d))
        c = cA * a
        f = mfA * a
        table = InverseTable()
        table = InverseTable(self)
    }

    init(hyperlogT t: Double, w width: Double, m: Double, a aParam: Double) {
        isLogicle = false
        let w = width / (m + aParam)
        let x2 = aParam / (m + aParam)
        x1 = x2 + w
        let x0 = x2 + 2 * w
        b = (m + aParam) * 2.302585092994046
        d = 0
        let e0 = exp(b * x0)
        let cA = e0 / w
        let fA = exp(b * x1) + cA * x1
        a = t / (exp(b) + cA - fA)
        c = cA * a
        f = fA * a
        table = InverseTable()
        table = InverseTable(self)
    }

    /// d in (0, b] with w (b + d) = 2 ln(b / d) (d = b when w = 0), by bisection.
    static func solveD(b: Double, w: Double) -> Double {
        if w == 0 { return b }
        var lo = 0.0
        var hi = b
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if mid == lo || mid == hi { break }
            let g = 2 * (log(b) - log(mid)) - w * (b + mid)
            if g > 0 { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }

    /// S(y) for y >= x1.
    @inline(__always) func upper(_ y: Double) -> Double {
        isLogicle ? a * exp(b * y) - c * exp(-d * y) - f : a * exp(b * y) + c * y - f
    }

    @inline(__always) func upperSlope(_ y: Double) -> Double {
        isLogicle ? a * b * exp(b * y) + c * d * exp(-d * y) : a * b * exp(b * y) + c
    }

    /// The forward function S(y) for any y.
    func forward(_ y: Double) -> Double {
        y >= x1 ? upper(y) : -upper(2 * x1 - y)
    }

    /// Exact inverse of S for one value: safeguarded Newton iteration to full double
    /// precision (the scalar reference for the table path).
    func inverse(_ x: Double) -> Double {
        if x.isNaN { return .nan }
        if x == 0 { return x1 }
        if x < 0 { return 2 * x1 - inverse(-x) }
        if x.isInfinite { return .infinity }
        // Bracket [lo, hi] on the upper branch.
        var lo = x1
        var hi = x1 + 1
        while upper(hi) < x { lo = hi; hi = x1 + (hi - x1) * 2; if hi > 1e6 { return .infinity } }
        var y = (lo + hi) / 2
        if let seed = table.seed(x) { y = min(max(seed, lo), hi) }
        for _ in 0..<200 {
            let s = upper(y) - x
            if s == 0 { return y }
            if s > 0 { hi = y } else { lo = y }
            let slope = upperSlope(y)
            var next = y - s / slope
            if !(next > lo && next < hi) { next = (lo + hi) / 2 }
            if abs(next - y) <= 1e-16 * max(1, abs(y)) { return next }
            if lo >= hi || next == lo || next == hi { return next }
            y = next
        }
        return y
    }

    func inverse(column: ArraySlice<Double>, into out: inout [Double]) {
        table.inverse(column: column, into: &out, exact: self)
    }
}
