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
            let ticks = tickValues(from: -a, to: top).map { (t.apply($0), formatTick($0)) }
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
                // Far enough apart that labels never touch (about 23 px on a 256 px axis).
                if let last = ticks.last, p - last.0 < 0.09 { continue }
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
        let ticks = tickValues(from: lo, to: hi).map { ($0, formatTick($0)) }
        return PlotAxis(label: label, column: column, transform: nil, lo: lo, hi: hi, ticks: ticks)
    }

    /// Round tick values from `lo` to `hi` (about `count` of them), each computed from its index
    /// (no accumulated error) and exactly 0 where 0 is a tick.
    static func tickValues(from lo: Double, to hi: Double, count: Double = 5) -> [Double] {
        guard lo.isFinite, hi.isFinite, hi > lo else { return [] }
        let step = niceStep((hi - lo) / count)
        let first = (lo / step).rounded(.up)
        var out: [Double] = []
        var k = 0.0
        while out.count < 100 {
            let v = (first + k) * step
            if v > hi + step * 1e-9 { break }
            out.append(abs(v) < step * 1e-9 ? 0 : v)
            k += 1
        }
        return out
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let p = pow(10, floor(log10(raw)))
        for m in [1.0, 2, 2.5, 5, 10] where m * p >= raw { return m * p }
        return 10 * p
    }

    /// A tick label: never "-0", thousands as "k" when the step is whole thousands, else as
    /// many decimals as the step needs.
    static func formatTick(_ v: Double, step: Double? = nil) -> String {
        if v == 0 || abs(v) < 1e-12 { return "0" }
        if let step, step > 0 {
            if abs(v) >= 1000, (step / 1000).rounded() == step / 1000 { return String(format: "%gk", v / 1000) }
            var decimals = 0
            while decimals < 6 {
                let scaled = step * pow(10, Double(decimals))
                if abs(scaled - scaled.rounded()) < 1e-9 * max(1, scaled) { break }
                decimals += 1
            }
            let text = String(format: "%.\(min(decimals, 6))f", v)
            return text.hasPrefix("-") && Double(text) == 0 ? String(text.dropFirst()) : text
        }
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
    /// A second line under the subtitle (the % of the parent inside each gate).
    public var detail: String = ""
    public var x: PlotAxis
    public var y: PlotAxis
    /// Event coordinates in axis units.
    public var xs: [Double]
    public var ys: [Double]
    public var outlines: [PlotOutline]

    static let bins = 128
    static let size = 256.0
    static let left = 58.0, top = 42.0

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
        o +=
            "<title>\(esc(title)): \(esc(y.label)) vs \(esc(x.label))\(detail.isEmpty ? "" : "; " + esc(detail))</title>"
        o +=
            "<defs><clipPath id=\"\(id)\"><rect x=\"\(fmt(l))\" y=\"\(fmt(t))\" width=\"\(fmt(s))\" height=\"\(fmt(s))\"/></clipPath></defs>"
        // Titles fit the plot's width: a long gate path loses its leading part, never the
        // population's own name (the whole path is in the tooltip).
        o += "<text x=\"4\" y=\"12\" class=\"ptitle\">\(esc(fitPath(title, width: w - 8, charWidth: 7.2)))</text>"
        o += "<text x=\"4\" y=\"24\" class=\"psub\">\(esc(fitText(subtitle, width: w - 8, charWidth: 5.2)))</text>"
        if !detail.isEmpty {
            o +=
                "<text x=\"4\" y=\"35\" class=\"psub pct\">\(esc(fitText(detail, width: w - 8, charWidth: 5.2)))</text>"
        }
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
    /// The sample of each pair (shown when hovering a point).
    public var samples: [String] = []
    public var bias: Double?
    public var loaLow: Double?
    public var loaHigh: Double?

    public init(
        metric: String, unit: String, pairs: [[Double]], samples: [String] = [], bias: Double?, loaLow: Double?,
        loaHigh: Double?
    ) {
        self.metric = metric
        self.unit = unit
        self.pairs = pairs
        self.samples = samples
        self.bias = bias
        self.loaLow = loaLow
        self.loaHigh = loaHigh
    }

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
        var labels: [(y: Double, text: String)] = []
        for (v, cls, text) in [
            (0.0, "zero", ""), (bias ?? .nan, "bias", "bias"), (loaLow ?? .nan, "loa", "−1.96 SD"),
            (loaHigh ?? .nan, "loa", "+1.96 SD"),
        ] where v.isFinite {
            o +=
                "<line class=\"\(cls)\" x1=\"\(fmt(l))\" x2=\"\(fmt(l + pw))\" y1=\"\(fmt(py(v)))\" y2=\"\(fmt(py(v)))\"/>"
            if !text.isEmpty { labels.append((py(v) - 3, "\(text) \(Self.number(v))")) }
        }
        // Bias and limit labels never overprint: at least 11 px apart, kept inside the plot.
        for (k, lab) in Self.separated(labels, gap: 11, top: t + 10, bottom: t + ph - 2).enumerated() {
            o +=
                "<text x=\"\(fmt(l + pw - 2))\" y=\"\(fmt(lab.y))\" class=\"tick ba-label\" text-anchor=\"end\" data-k=\"\(k)\">\(esc(lab.text))</text>"
        }
        for (k, (m, d)) in zip(means, diffs).enumerated() {
            let who = k < samples.count ? samples[k] + ": " : ""
            o +=
                "<circle class=\"pt\" cx=\"\(fmt(px(m)))\" cy=\"\(fmt(py(d)))\" r=\"3\"><title>\(esc(who))automated \(Self.number(pairs[k][0])), manual \(Self.number(pairs[k][1])), difference \(Self.number(d))</title></circle>"
        }
        let xTicks = PlotAxis.tickValues(from: xlo, to: xhi, count: 4)
        let xStep = xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1
        for v in xTicks {
            let label = PlotAxis.formatTick(v, step: xStep)
            // A label that would cross the plot's edge is left out (its neighbours place the scale).
            let half = Double(label.count) * 2.8
            if px(v) - half < 2 || px(v) + half > w - 2 { continue }
            o +=
                "<text x=\"\(fmt(px(v)))\" y=\"\(fmt(t + ph + 14))\" class=\"tick\" text-anchor=\"middle\">\(label)</text>"
        }
        let yTicks = PlotAxis.tickValues(from: ylo, to: yhi, count: 4)
        let yStep = yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1
        for v in yTicks {
            o +=
                "<text x=\"\(fmt(l - 5))\" y=\"\(fmt(py(v) + 3))\" class=\"tick\" text-anchor=\"end\">\(PlotAxis.formatTick(v, step: yStep))</text>"
        }
        o +=
            "<text x=\"\(fmt(l + pw / 2))\" y=\"\(fmt(t + ph + 32))\" class=\"axis\" text-anchor=\"middle\">mean of automated and manual (\(esc(unit)))</text>"
        o +=
            "<text transform=\"translate(14 \(fmt(t + ph / 2))) rotate(-90)\" class=\"axis\" text-anchor=\"middle\">automated − manual (\(esc(unit)))</text>"
        o += "</svg>"
        return o
    }
}

extension BlandAltmanPlot {
    /// Two decimals, never "-0.00".
    static func number(_ v: Double) -> String {
        let text = String(format: "%.2f", v)
        return text == "-0.00" ? "0.00" : text
    }

    /// Label baselines moved apart to at least `gap`, in order, within [top, bottom].
    static func separated(
        _ labels: [(y: Double, text: String)], gap: Double, top: Double, bottom: Double
    ) -> [(
        y: Double, text: String
    )] {
        var out = labels.sorted { $0.y < $1.y }
        guard !out.isEmpty else { return out }
        out[0].y = max(out[0].y, top)
        for k in 1..<out.count where out[k].y < out[k - 1].y + gap { out[k].y = out[k - 1].y + gap }
        // Pushed past the bottom: shift the whole stack up.
        if let last = out.last, last.y > bottom {
            let shift = last.y - bottom
            for k in out.indices { out[k].y -= shift }
        }
        return out
    }
}

/// A gate path that fits `width`: leading components give way to "…/", the last one stays
/// (shortened in its middle only when it alone is too long).
func fitPath(_ path: String, width: Double, charWidth: Double) -> String {
    let limit = max(8, Int(width / charWidth))
    if path.count <= limit { return path }
    var parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    while parts.count > 1 {
        parts.removeFirst()
        let candidate = "…/" + parts.joined(separator: "/")
        if candidate.count <= limit { return candidate }
    }
    return fitText(parts[0], width: width, charWidth: charWidth, middle: true)
}

/// Text that fits `width`: cut with "…" at the end (or in the middle).
func fitText(_ text: String, width: Double, charWidth: Double, middle: Bool = false) -> String {
    let limit = max(8, Int(width / charWidth))
    if text.count <= limit { return text }
    if middle {
        let head = (limit - 1) / 2, tail = limit - 1 - head
        return String(text.prefix(head)) + "…" + String(text.suffix(tail))
    }
    return String(text.prefix(limit - 1)) + "…"
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
