/// An axis-aligned bound on a transformed axis, tested on raw values: a threshold on a
/// monotone increasing scale is a threshold on the data, so most events need no transform.
///
/// Exactness: the result equals testing `t.apply(x)` against the display bound for every `x`.
/// Around the raw threshold there is a band `(below, above)` outside of which the computed
/// transform is provably on one side of the bound (it is at least 1e-12 away there, far beyond
/// the transforms' ~1e-15 error, and the transform is monotone); values inside the band, NaN and
/// infinities are transformed and compared exactly.
struct RawBound: Sendable, Hashable {
    /// The bound on the display scale.
    let display: Double
    /// Raw values <= `below` are below the bound; raw values >= `above` are at or above it
    /// (NaN: no such value, every value on that side is transformed).
    let below: Double
    let above: Double

    /// Transformations whose computed values increase with the raw value over the whole real
    /// line (NaN only for NaN, and for `flog` at x <= 0), without bounds or binning.
    static func eligible(_ t: Transformation) -> Bool {
        guard t.boundMin == nil, t.boundMax == nil, t.bins == nil else { return false }
        switch t.kind {
        case .linear(let top, let a): return top + a > 0
        case .log, .asinh, .logicle, .hyperlog, .flowJoBiex, .flowJoLog: return true
        case .ratio: return false
        }
    }

    /// The band of a display bound, or nil when none can be found (then every event is
    /// transformed).
    init?(display v: Double, transformation t: Transformation) {
        guard v.isFinite, let r = t.inverse(v), r.isFinite else { return nil }
        let margin = 1e-12
        func search(_ sign: Double, _ holds: (Double) -> Bool) -> Double {
            var step = Swift.max(abs(r) * 1e-9, 1e-9)
            for _ in 0..<1100 {
                let x = r + sign * step
                if !x.isFinite { break }
                if holds(x) { return x }
                step *= 2
            }
            // None found (a flat end of a clamped scale): nothing is decided on this side.
            return .nan
        }
        display = v
        below = search(-1) { t.apply($0) < v - margin }
        above = search(1) { t.apply($0) > v + margin }
    }
}

/// The raw-value form of a rectangle dimension or quadrant cell: `lo <= t(x) < hi`.
struct RawInterval: Sendable, Hashable {
    let transformation: Transformation
    let lower: RawBound?
    let upper: RawBound?
    let lowOpen: Bool
    let highOpen: Bool
    /// `flog` is NaN for x <= 0: never inside.
    let positiveOnly: Bool

    init?(lo: Double?, hi: Double?, transformation t: Transformation) {
        guard RawBound.eligible(t) else { return nil }
        let lo = lo ?? -.infinity, hi = hi ?? .infinity
        if lo.isNaN || hi.isNaN { return nil }
        transformation = t
        lowOpen = lo == -.infinity
        highOpen = hi == .infinity
        if !lowOpen {
            guard let b = RawBound(display: lo, transformation: t) else { return nil }
            lower = b
        } else {
            lower = nil
        }
        if !highOpen {
            guard let b = RawBound(display: hi, transformation: t) else { return nil }
            upper = b
        } else {
            upper = nil
        }
        if case .log = t.kind { positiveOnly = true } else { positiveOnly = false }
    }

    /// The exact test on one raw value (the reference the fast path must equal).
    @inline(__always) func exact(_ x: Double) -> Bool {
        let y = transformation.apply(x)
        return y >= (lower?.display ?? -.infinity) && y < (upper?.display ?? .infinity)
    }

    /// Raw thresholds of the branch-free pass: x >= `lowIn` and x <= `highIn` is inside;
    /// x <= `lowOut` or x >= `highOut` is outside; anything else (the bands, NaN, infinities
    /// where they are not decided, `flog` at x <= 0) is transformed exactly.
    var lowIn: Double {
        if let b = lower { return b.above }
        return positiveOnly ? Double.leastNonzeroMagnitude : -Double.greatestFiniteMagnitude
    }
    var lowOut: Double { lower?.below ?? .nan }
    var highIn: Double { upper?.below ?? Double.greatestFiniteMagnitude }
    var highOut: Double { upper?.above ?? .nan }

    /// mask[e] &= inside, for `count` raw values (fast kernel `RawIntervalKernel`).
    func apply(raw: ArraySlice<Double>, count: Int, into mask: inout [UInt8]) {
        RawIntervalKernel.apply(self, raw: raw, count: count, into: &mask)
    }

    /// mask[e] &= inside, one value at a time (the safe twin of `RawIntervalKernel`).
    func scalar(raw: ArraySlice<Double>, count: Int, into mask: inout [UInt8]) {
        let base = raw.startIndex
        for e in 0..<count where mask[e] != 0 {
            let x = raw[base + e]
            if !x.isFinite || (positiveOnly && x <= 0) {
                if !exact(x) { mask[e] = 0 }
                continue
            }
            if let b = lower {
                if x <= b.below {
                    mask[e] = 0
                    continue
                }
                if x < b.above, !(transformation.apply(x) >= b.display) {
                    mask[e] = 0
                    continue
                }
            }
            if let b = upper {
                if x >= b.above {
                    mask[e] = 0
                    continue
                }
                if x > b.below, !(transformation.apply(x) < b.display) {
                    mask[e] = 0
                    continue
                }
            }
        }
    }
}
