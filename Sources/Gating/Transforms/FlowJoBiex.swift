#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// FlowJo 10's "biex" display transform: not a closed form but a lookup table of 4,097 data
/// values, one per display channel 0 ... 4096, interpolated linearly between them (FlowJo's own
/// table is `shared/corpus/flowjo/flowjo_xforms/`; this construction reproduces it to within
/// 0.002 channels, a test checks it).
///
/// The table is the one TreeStar's Java code builds and cytolib and FlowKit reproduce: with
/// `pos` decades, `neg` extra negative decades and width basis `width` (< 0):
/// - w = log10(-width); positive decades p = pos - w/2; negative extent e = max(neg, 0) + w/2;
/// - zero channel z = min(floor(e N / (e + p)), N/2) over N = 4096 channels; when z > 0,
///   p = e N / z; w' = w / (2p);
/// - r+ = p ln 10, r- solves 2 ln d + w' d = 2 ln r+ - w' r+ (d in (0, r+]; d = r+ when w' = 0);
/// - for channel i >= z: x_i = lo ((e^{i r+/(N+1)} - s e^{-i r-/(N+1)}) - k) with
///   s = e^{(r+ + r-)(w' + e/p)}, lo = maxRange e^{-r+}, k chosen so that x_z = 0;
/// - below z the table mirrors: x_i = -x_{2z - i}.
///
/// Values map to channel / N in [0, 1] (FlowJo's 256-bin display is that times 256); values
/// beyond the table's ends take the end channels, as FlowJo piles off-scale events on the axis.
public struct FlowJoBiexTable: Sendable, Hashable {
    public static let channels = 4096
    /// Data value of channels 0 ... `channels`, increasing.
    public let values: [Double]

    public init(neg: Double, width: Double, pos: Double, maxRange: Double) {
        let n = Self.channels
        let ln10 = 2.302585092994046
        var w = log10(-width)
        var decades = pos - w / 2
        let extra = max(neg, 0) + w / 2
        var zero = Int((extra * Double(n)) / (extra + decades))
        zero = min(zero, n / 2)
        if zero > 0 { decades = extra * Double(n) / Double(zero) }
        w /= 2 * decades
        let positiveRange = ln10 * decades
        let minimum = maxRange / exp(positiveRange)
        let negativeRange = Self.negativeRange(positiveRange, w)
        let points = n + 1
        var positive = [Double](repeating: 0, count: points)
        var negative = [Double](repeating: 0, count: points)
        let scale = exp((positiveRange + negativeRange) * (w + extra / decades))
        for i in 0..<points {
            positive[i] = exp(Double(i) / Double(points) * positiveRange)
            negative[i] = exp(Double(i) / Double(points) * -negativeRange) * scale
        }
        let shift = positive[zero] - negative[zero]
        for i in zero..<points { positive[i] = minimum * ((positive[i] - negative[i]) - shift) }
        for i in 0..<zero { positive[i] = -positive[2 * zero - i] }
        values = positive
    }

    /// d in (0, b] with 2 ln d + w d = 2 ln b - w b, by bisection to full precision.
    static func negativeRange(_ b: Double, _ w: Double) -> Double {
        if w == 0 { return b }
        let target = 2 * log(b) - w * b
        var lo = 0.0
        var hi = b
        for _ in 0..<400 {
            let mid = (lo + hi) / 2
            if mid == lo || mid == hi { break }
            if 2 * log(mid) + w * mid < target { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }

    /// Display position in [0, 1] of a data value (linear between table points).
    public func position(_ x: Double) -> Double {
        if x.isNaN { return .nan }
        let last = values.count - 1
        if x <= values[0] { return 0 }
        if x >= values[last] { return 1 }
        // The last index whose value is <= x.
        var lo = 0
        var hi = last
        while hi - lo > 1 {
            let mid = (lo + hi) >> 1
            if values[mid] <= x { lo = mid } else { hi = mid }
        }
        let span = values[hi] - values[lo]
        let fraction = span > 0 ? (x - values[lo]) / span : 0
        return (Double(lo) + fraction) / Double(Self.channels)
    }

    /// Data value at display position `p` in [0, 1] (the inverse, for drawing axes and gates).
    public func value(_ p: Double) -> Double {
        if p.isNaN { return .nan }
        let c = min(max(p, 0), 1) * Double(Self.channels)
        let i = min(Int(c), Self.channels - 1)
        let fraction = c - Double(i)
        return values[i] + fraction * (values[i + 1] - values[i])
    }
}
