import Foundation
import Gating

/// One plot axis: a channel shown on a scale (a Gating-ML transformation onto [0, 1], or linear
/// raw values between `lo` and `hi`).
public struct PlotAxis: Sendable {
    public var label: String
    /// Column index in the gated sample.
    public var column: Int
    public var transform: Transformation?
    public var lo: Double
    public var hi: Double
    public var ticks: [(position: Double, label: String)]

    /// Raw value -> axis units.
    public func map(_ raw: Double) -> Double { transform.map { $0.apply(raw) } ?? raw }

    /// Axis units -> [0, 1] of the plot area.
    func unit(_ v: Double) -> Double { (v - lo) / (hi - lo) }

    /// An axis over `values` (raw): transformed axes span [0, 1] with decade ticks; linear axes
    /// span 0 (or the data's low end) to the 99.9th percentile plus 5 %.
    public static func make(label: String, column: Int, transform: Transformation?, values: [Double]) -> PlotAxis {
        if let t = transform, case .linear(let top, let a) = t.kind {
            // A linear display scale: raw ticks from -A to T.
            let step = niceStep((top + a) / 5)
            var ticks: [(Double, String)] = []
            var v = (-a / step).rounded(.up) * step
            while v <= top {
                ticks.append((t.apply(v), formatTick(v)))
                v += step
            }
            return PlotAxis(label: label, column: column, transform: t, lo: 0, hi: 1, ticks: ticks)
        }
        if let t = transform {
            var ticks: [(Double, String)] = []
            let candidates: [(Double, String)] = [
                (-1000, "-10³"), (0, "0"), (100, "10²"), (1000, "10³"), (10_000, "10⁴"), (100_000, "10⁵"),
                (1_000_000, "10⁶"),
            ]
            for (raw, text) in candidates {
                let p = t.apply(raw)
                guard p.isFinite, p >= 0, p <= 1 else { continue }
                if let last = ticks.last, p - last.0 < 0.06 { continue }
                ticks.append((p, text))
            }
            return PlotAxis(label: label, column: column, transform: t, lo: 0, hi: 1, ticks: ticks)
        }
        let finite = values.filter(\.isFinite).sorted()
        var lo = 0.0, hi = 1.0
        if !finite.isEmpty {
            lo = min(0, finite[Int(Double(finite.count - 1) * 0.001)])
            hi = max(finite[Int(Double(finite.count - 1) * 0.999)] * 1.05, lo + 1)
        }
        let step = niceStep((hi - lo) / 5)
        var ticks: [(Double, String)] = []
        var v = (lo / step).rounded(.up) * step
        while v <= hi {
            ticks.append((v, formatTick(v)))
            v += step
        }
        return PlotAxis(label: label, column: column, transform: nil, lo: lo, hi: hi, ticks: ticks)
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let p = pow(10, floor(log10(raw)))
        for m in [1.0, 2, 2.5, 5, 10] where m * p >= raw { return m * p }
        return 10 * p
    }

    static func formatTick(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1000 { return String(format: "%gk", v / 1000) }
        return String(format: "%g", v)
    }
}

/// A gate outline in axis units.
public struct PlotOutline: Sendable {
    public var label: String
    /// `automated` or `manual` (the CSS class and colour).
    public var role: String
    public var points: [(Double, Double)]
    public var closed: Bool
}

/// A density (pseudocolour) plot of events with gate outlines.
public struct DensityPlot: Sendable {
    public var title: String
    public var subtitle: String
    public var x: PlotAxis
    public var y: PlotAxis
    /// Event coordinates in axis units.
    public var xs: [Double]
    public var ys: [Double]
    public var outlines: [PlotOutline]

    static let bins = 128
    static let size = 256.0
    static let left = 58.0, top = 28.0

    /// The density image: event counts in `bins` x `bins`, coloured on a log scale, white where
    /// empty.
    func densityPNG() -> [UInt8] {
        let n = Self.bins
        var grid = [Int](repeating: 0, count: n * n)
        for (a, b) in zip(xs, ys) {
            let u = x.unit(a), v = y.unit(b)
            guard u.isFinite, v.isFinite, u >= 0, u < 1, v >= 0, v < 1 else { continue }
            let i = Int(u * Double(n)), j = n - 1 - Int(v * Double(n))
            grid[j * n + i] += 1
        }
        let peak = Double(grid.max() ?? 0)
        var rgb = [UInt8](repeating: 255, count: n * n * 3)
        if peak > 0 {
            for k in 0..<(n * n) where grid[k] > 0 {
                let c = Self.colour(log(1 + Double(grid[k])) / log(1 + peak))
                rgb[3 * k] = c.0
                rgb[3 * k + 1] = c.1
                rgb[3 * k + 2] = c.2
            }
        }
        return (try? PNG.encode(width: n, height: n, rgb: rgb)) ?? []
    }

    /// Blue -> cyan -> green -> yellow -> red, as cytometry pseudocolour plots.
    static func colour(_ t: Double) -> (UInt8, UInt8, UInt8) {
        let stops: [(Double, Double, Double)] = [
            (0.1, 0.1, 0.8), (0, 0.7, 0.9), (0.1, 0.75, 0.2), (0.95, 0.85, 0.1), (0.85, 0.1, 0.1),
        ]
        let s = min(max(t, 0), 1) * Double(stops.count - 1)
        let i = min(Int(s), stops.count - 2), f = s - Double(i)
        func mix(_ a: Double, _ b: Double) -> UInt8 { UInt8(max(0, min(255, (a + (b - a) * f) * 255))) }
        return (mix(stops[i].0, stops[i + 1].0), mix(stops[i].1, stops[i + 1].1), mix(stops[i].2, stops[i + 1].2))
    }

    /// Self-contained SVG (the density PNG embedded as a data: URI).
    /// - Parameter id: unique in the page (names the clip path).
    public func svg(id: String) -> String {
        let s = Self.size, l = Self.left, t = Self.top
        let w = l + s + 14, h = t + s + 46
        func px(_ v: Double) -> Double { l + x.unit(v) * s }
        func py(_ v: Double) -> Double { t + (1 - y.unit(v)) * s }
        var o =
            "<svg class=\"plot density\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(fmt(w))\" height=\"\(fmt(h))\" viewBox=\"0 0 \(fmt(w)) \(fmt(h))\" role=\"img\" aria-label=\"\(esc(title))\">"
        o += "<title>\(esc(title)): \(esc(y.label)) vs \(esc(x.label))</title>"
        o +=
            "<defs><clipPath id=\"\(id)\"><rect x=\"\(fmt(l))\" y=\"\(fmt(t))\" width=\"\(fmt(s))\" height=\"\(fmt(s))\"/></clipPath></defs>"
        o += "<text x=\"\(fmt(l))\" y=\"12\" class=\"ptitle\">\(esc(title))</text>"
        o += "<text x=\"\(fmt(l))\" y=\"24\" class=\"psub\">\(esc(subtitle))</text>"
        o +=
            "<rect x=\"\(fmt(l))\" y=\"\(fmt(t))\" width=\"\(fmt(s))\" height=\"\(fmt(s))\" fill=\"#fff\" stroke=\"#333\"/>"
        let png = densityPNG()
        if !png.isEmpty {
            o +=
                "<image class=\"density\" x=\"\(fmt(l))\" y=\"\(fmt(t))\" width=\"\(fmt(s))\" height=\"\(fmt(s))\" preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64,\(Data(png).base64EncodedString())\"/>"
        }
        for tick in x.ticks {
            let p = px(tick.position)
            o +=
                "<line x1=\"\(fmt(p))\" y1=\"\(fmt(t + s))\" x2=\"\(fmt(p))\" y2=\"\(fmt(t + s + 4))\" stroke=\"#333\"/>"
            o +=
                "<text x=\"\(fmt(p))\" y=\"\(fmt(t + s + 15))\" class=\"tick\" text-anchor=\"middle\">\(esc(tick.label))</text>"
        }
        for tick in y.ticks {
            let p = py(tick.position)
            o += "<line x1=\"\(fmt(l - 4))\" y1=\"\(fmt(p))\" x2=\"\(fmt(l))\" y2=\"\(fmt(p))\" stroke=\"#333\"/>"
            o +=
                "<text x=\"\(fmt(l - 6))\" y=\"\(fmt(p + 3))\" class=\"tick\" text-anchor=\"end\">\(esc(tick.label))</text>"
        }
        o +=
            "<text x=\"\(fmt(l + s / 2))\" y=\"\(fmt(t + s + 32))\" class=\"axis\" text-anchor=\"middle\">\(esc(x.label))</text>"
        o +=
            "<text transform=\"translate(14 \(fmt(t + s / 2))) rotate(-90)\" class=\"axis\" text-anchor=\"middle\">\(esc(y.label))</text>"
        o += "<g clip-path=\"url(#\(id))\">"
        for outline in outlines where outline.points.count >= 2 {
            let pts = outline.points.map { "\(fmt(px($0.0))),\(fmt(py($0.1)))" }.joined(separator: " ")
            let tag = outline.closed ? "polygon" : "polyline"
            o +=
                "<\(tag) class=\"gate \(outline.role)\" points=\"\(pts)\"><title>\(esc(outline.role)): \(esc(outline.label))</title></\(tag)>"
        }
        o += "</g></svg>"
        return o
    }
}

/// A Bland–Altman plot: mean of the two methods against their difference, with the bias and the
/// 95 % limits of agreement.
public struct BlandAltmanPlot: Sendable {
    public var metric: String
    public var unit: String
    public var pairs: [[Double]]
    public var bias: Double?
    public var loaLow: Double?
    public var loaHigh: Double?

    public func svg() -> String {
        let w = 330.0, h = 270.0, l = 58.0, t = 28.0, pw = 256.0, ph = 200.0
        let means = pairs.map { ($0[0] + $0[1]) / 2 }, diffs = pairs.map { $0[0] - $0[1] }
        let xr = (means.min() ?? 0, means.max() ?? 1)
        var ys = diffs + [bias, loaLow, loaHigh].compactMap { $0 } + [0]
        ys = ys.filter(\.isFinite)
        var ylo = ys.min() ?? -1, yhi = ys.max() ?? 1
        let pad = max((yhi - ylo) * 0.15, 0.5)
        ylo -= pad
        yhi += pad
        let xpad = max((xr.1 - xr.0) * 0.08, 0.5)
        let xlo = xr.0 - xpad, xhi = xr.1 + xpad
        func px(_ v: Double) -> Double { l + (v - xlo) / (xhi - xlo) * pw }
        func py(_ v: Double) -> Double { t + (1 - (v - ylo) / (yhi - ylo)) * ph }
        var o =
            "<svg class=\"plot bland-altman\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(fmt(w))\" height=\"\(fmt(h))\" viewBox=\"0 0 \(fmt(w)) \(fmt(h))\" role=\"img\" aria-label=\"Bland-Altman \(esc(metric))\">"
        o += "<title>Bland–Altman: \(esc(metric))</title>"
        o += "<text x=\"\(fmt(l))\" y=\"14\" class=\"ptitle\">Bland–Altman: \(esc(metric))</text>"
        o +=
            "<rect x=\"\(fmt(l))\" y=\"\(fmt(t))\" width=\"\(fmt(pw))\" height=\"\(fmt(ph))\" fill=\"#fff\" stroke=\"#333\"/>"
        for (v, cls, text) in [
            (0.0, "zero", ""), (bias ?? .nan, "bias", "bias"), (loaLow ?? .nan, "loa", "−1.96 SD"),
            (loaHigh ?? .nan, "loa", "+1.96 SD"),
        ] where v.isFinite {
            o +=
                "<line class=\"\(cls)\" x1=\"\(fmt(l))\" x2=\"\(fmt(l + pw))\" y1=\"\(fmt(py(v)))\" y2=\"\(fmt(py(v)))\"/>"
            if !text.isEmpty {
                o +=
                    "<text x=\"\(fmt(l + pw - 2))\" y=\"\(fmt(py(v) - 3))\" class=\"tick\" text-anchor=\"end\">\(text) \(String(format: "%.2f", v))</text>"
            }
        }
        for (m, d) in zip(means, diffs) {
            o += "<circle class=\"pt\" cx=\"\(fmt(px(m)))\" cy=\"\(fmt(py(d)))\" r=\"3\"/>"
        }
        let xs = PlotAxis.niceStep((xhi - xlo) / 4), ysStep = PlotAxis.niceStep((yhi - ylo) / 4)
        var v = (xlo / xs).rounded(.up) * xs
        while v <= xhi {
            o +=
                "<text x=\"\(fmt(px(v)))\" y=\"\(fmt(t + ph + 14))\" class=\"tick\" text-anchor=\"middle\">\(String(format: "%g", v))</text>"
            v += xs
        }
        v = (ylo / ysStep).rounded(.up) * ysStep
        while v <= yhi {
            o +=
                "<text x=\"\(fmt(l - 5))\" y=\"\(fmt(py(v) + 3))\" class=\"tick\" text-anchor=\"end\">\(String(format: "%g", v))</text>"
            v += ysStep
        }
        o +=
            "<text x=\"\(fmt(l + pw / 2))\" y=\"\(fmt(t + ph + 32))\" class=\"axis\" text-anchor=\"middle\">mean of automated and manual (\(esc(unit)))</text>"
        o +=
            "<text transform=\"translate(14 \(fmt(t + ph / 2))) rotate(-90)\" class=\"axis\" text-anchor=\"middle\">automated − manual (\(esc(unit)))</text>"
        o += "</svg>"
        return o
    }
}

func fmt(_ v: Double) -> String { v.isFinite ? String(format: "%.1f", v) : "0" }

/// Escapes text for HTML and SVG.
func esc(_ s: String) -> String {
    var o = ""
    o.reserveCapacity(s.count)
    for c in s {
        switch c {
        case "&": o += "&amp;"
        case "<": o += "&lt;"
        case ">": o += "&gt;"
        case "\"": o += "&quot;"
        case "'": o += "&#39;"
        default: o.append(c)
        }
    }
    return o
}
