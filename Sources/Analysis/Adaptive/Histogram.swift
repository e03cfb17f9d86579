import Foundation

/// The display scale of adaptive gating, as histogram bins: linear below 256 (bins 32 wide from
/// -1024) and 8 bins per octave above (the top 3 mantissa bits of the Double), continuous at 256.
/// Bin index is a shift and a subtract; no logarithm per event.
public enum LogBins {
    public static let linearBins = 40
    public static let octaves = 10
    public static let count = linearBins + 8 * octaves
    static let base256 = Int(truncatingIfNeeded: (256.0).bitPattern >> 49)

    /// The bin of a raw value (clamped to 0 ..< count; NaN -> 0).
    @inline(__always) public static func bin(_ x: Double) -> Int {
        if x >= 256 {
            let k = Int(truncatingIfNeeded: x.bitPattern >> 49) - base256 + linearBins
            return k < count ? k : count - 1
        }
        guard x > -1024 else { return 0 }
        return Int((x + 1024) * (1.0 / 32))
    }

    /// The raw value at the lower edge of a bin.
    public static func edge(_ i: Int) -> Double {
        if i <= linearBins { return -1024 + 32 * Double(i) }
        let k = i - linearBins
        return 256 * Double(1 << (k / 8)) * (1 + Double(k % 8) / 8)
    }

    /// The raw value in the middle of a bin.
    public static func center(_ i: Int) -> Double { (edge(i) + edge(i + 1)) / 2 }

    /// The continuous position of a raw value on the same scale (bin `i` spans `i ..< i + 1`).
    public static func position(_ x: Double) -> Double {
        guard x.isFinite else { return x.isNaN ? 0 : (x > 0 ? Double(count) : 0) }
        if x < 256 { return Swift.max(0, (x + 1024) / 32) }
        // x = significand x 2^exponent, significand in [1, 2): no logarithm.
        let octave = Double(Int(x.exponent) - 8)
        return Swift.min(Double(count), Double(linearBins) + 8 * octave + 8 * (x.significand - 1))
    }

    /// The raw value at a continuous position (the inverse of `position`).
    public static func value(atPosition p: Double) -> Double {
        if p <= Double(linearBins) { return -1024 + 32 * p }
        let k = p - Double(linearBins)
        let octave = (k / 8).rounded(.down)
        return 256 * Foundation.pow(2, octave) * (1 + (k - 8 * octave) / 8)
    }
}

/// The bin of `v` among `count` bins of width `width` from `origin`, clamped; NaN -> nil.
/// (Converting a NaN or an out-of-range Double to Int traps: hostile files carry both.)
@inline(__always) func clampedBin(_ v: Double, origin: Double, width: Double, count: Int) -> Int? {
    let f = ((v - origin) / width).rounded(.down)
    guard !f.isNaN else { return nil }
    return f < 0 ? 0 : (f >= Double(count - 1) ? count - 1 : Int(f))
}

/// A 1-D histogram with the smoothing and mode/valley search used by adaptive gates.
struct Histogram {
    var counts: [Double]

    init(bins: Int) { counts = [Double](repeating: 0, count: bins) }

    /// Binomial smoothing (1 4 6 4 1)/16, `passes` times.
    func smoothed(_ passes: Int = 2) -> [Double] {
        var h = counts
        let n = h.count
        for _ in 0..<passes {
            var out = h
            for i in 0..<n {
                var s = 6 * h[i]
                if i >= 1 { s += 4 * h[i - 1] }
                if i >= 2 { s += h[i - 2] }
                if i + 1 < n { s += 4 * h[i + 1] }
                if i + 2 < n { s += h[i + 2] }
                out[i] = s / 16
            }
            h = out
        }
        return h
    }

    /// The two main modes and the valley between them, or nil when unimodal.
    /// Confidence = 1 - h(valley) / min(h(mode1), h(mode2)). `minPeak` is the smallest
    /// smoothed height a second mode may have.
    static func valley(
        _ h: [Double], minPeak: Double = 2, minSeparation: Int = 4
    ) -> (low: Int, high: Int, valley: Int, confidence: Double)? {
        guard let top = h.indices.max(by: { h[$0] < h[$1] }), h[top] > 0 else { return nil }
        var best: (Int, Double)?
        for b in h.indices where abs(b - top) >= minSeparation && h[b] >= minPeak {
            let left = b > 0 ? h[b - 1] : 0, right = b + 1 < h.count ? h[b + 1] : 0
            guard h[b] >= left && h[b] >= right else { continue }
            let lo = min(b, top), hi = max(b, top)
            let dip = h[lo...hi].min()!
            let prominence = min(h[b], h[top]) - dip
            guard prominence > 0.3 * min(h[b], h[top]) else { continue }
            if best == nil || prominence > best!.1 { best = (b, prominence) }
        }
        guard let (second, _) = best else { return nil }
        let lo = min(second, top), hi = max(second, top)
        var v = lo
        for i in lo...hi where h[i] < h[v] { v = i }
        // The middle of a flat-bottomed valley.
        var w = v
        while w + 1 <= hi && h[w + 1] == h[v] { w += 1 }
        let valley = (v + w) / 2
        return (lo, hi, valley, 1 - h[valley] / min(h[lo], h[hi]))
    }
}
