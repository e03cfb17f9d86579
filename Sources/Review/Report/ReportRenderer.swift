import Analysis
import CytoModel
import Foundation
import Gating

/// Renders the validation report and the per-sample gating report: one self-contained HTML
/// file (inline CSS, SVG plots with embedded PNG density images; no script, no network).
public struct ReportRenderer {
    public let gating: GatingSettings
    public let validation: ValidationSettings

    public init(gating: GatingSettings, validation: ValidationSettings) {
        self.gating = gating
        self.validation = validation
    }

    /// The panel plots after the NEJM panel's gating hierarchy (domain.md): the counting beads
    /// (on the bead gate's own first two channels), CD45 vs SSC, CD3 vs CD4, CD4 vs CD8 (both
    /// T-cell gates), CD8 vs HLA-DR, CD4 vs CD25. Each: the gates drawn, x and y channels (nil:
    /// the first gate's own dimensions), title.
    static let panelPlots: [(gates: [Population], x: String?, y: String?, title: String)] = [
        ([.beads], nil, nil, "Counting beads"),
        ([.lymphocytes], "CD45", "SSC-A", "Lymphocytes"),
        ([.cd3], "CD3", "CD4", "CD3+ T cells"),
        ([.cd4, .cd8], "CD4", "CD8", "CD4 and CD8 T of CD3+"),
        ([.cd8Hladr], "CD8", "HLA-DR", "HLA-DR+ of CD8 T"),
        ([.cd4Cd25], "CD4", "CD25", "CD25+ of CD4 T"),
    ]

    final class Counter {
        var n = 0
        func next() -> String {
            n += 1
            return "p\(n)"
        }
    }

    // MARK: Geometry -> outlines

    /// Converts a gate's geometry to an outline on two axes. `dimTransform` gives a dimension's
    /// own transformation; values are mapped onto an axis when the dimension is raw (the axis
    /// transform applies) or already on the axis scale.
    static func outline(
        _ kind: GateKind, label: String, role: String, x: PlotAxis, y: PlotAxis, column: (Gating.Dimension) -> Int?,
        dimTransform: (Gating.Dimension) -> Transformation?
    ) -> PlotOutline? {
        func conv(_ v: Double, _ d: Gating.Dimension, _ axis: PlotAxis) -> Double? {
            guard let t = dimTransform(d) else { return axis.map(v) }
            guard let at = axis.transform, at.kind == t.kind, at.boundMin == t.boundMin, at.boundMax == t.boundMax
            else { return nil }
            return v
        }
        func interval(_ lo: Double?, _ hi: Double?, _ d: Gating.Dimension, _ axis: PlotAxis) -> (Double, Double)? {
            let span = axis.hi - axis.lo
            let a = lo.map { conv($0, d, axis) } ?? (axis.lo - span)
            let b = hi.map { conv($0, d, axis) } ?? (axis.hi + span)
            guard let a, let b, a.isFinite || lo == nil, b.isFinite || hi == nil else { return nil }
            return (a.isFinite ? a : axis.lo - span, b.isFinite ? b : axis.hi + span)
        }
        func rect(_ xi: (Double, Double), _ yi: (Double, Double)) -> PlotOutline {
            PlotOutline(
                label: label, role: role, points: [(xi.0, yi.0), (xi.1, yi.0), (xi.1, yi.1), (xi.0, yi.1)], closed: true
            )
        }
        let full = { (a: PlotAxis) in (a.lo - (a.hi - a.lo), a.hi + (a.hi - a.lo)) }
        switch kind {
        case .rectangle(let dims):
            var xi = full(x), yi = full(y)
            var used = false
            for d in dims {
                let c = column(d)
                if c == x.column, let i = interval(d.min, d.max, d, x) {
                    xi = i
                    used = true
                } else if c == y.column, let i = interval(d.min, d.max, d, y) {
                    yi = i
                    used = true
                }
            }
            return used ? rect(xi, yi) : nil
        case .quadrant(let dividers, let positions):
            var xi = full(x), yi = full(y)
            var used = false
            for dv in dividers {
                guard let loc = positions[dv.id] else { continue }
                let k = dv.interval(of: loc)
                let lo = k > 0 ? dv.values[k - 1] : nil, hi = k < dv.values.count ? dv.values[k] : nil
                let c = column(dv.dimension)
                if c == x.column, let i = interval(lo, hi, dv.dimension, x) {
                    xi = i
                    used = true
                } else if c == y.column, let i = interval(lo, hi, dv.dimension, y) {
                    yi = i
                    used = true
                }
            }
            return used ? rect(xi, yi) : nil
        case .polygon(let dims, let vertices):
            guard dims.count == 2 else { return nil }
            let swap: Bool
            if column(dims[0]) == x.column && column(dims[1]) == y.column {
                swap = false
            } else if column(dims[1]) == x.column && column(dims[0]) == y.column {
                swap = true
            } else {
                return nil
            }
            var pts: [(Double, Double)] = []
            for (k, v) in vertices.enumerated() {
                let w = vertices[(k + 1) % vertices.count]
                for s in 0..<12 {
                    let f = Double(s) / 12
                    let p0 = v[0] + (w[0] - v[0]) * f, p1 = v[1] + (w[1] - v[1]) * f
                    guard let a = conv(p0, dims[0], swap ? y : x), let b = conv(p1, dims[1], swap ? x : y) else {
                        return nil
                    }
                    pts.append(swap ? (b, a) : (a, b))
                }
            }
            return PlotOutline(label: label, role: role, points: pts, closed: true)
        case .ellipsoid(let dims, let mean, let cov, let d2):
            guard dims.count == 2, cov[0][0] > 0 else { return nil }
            let swap: Bool
            if column(dims[0]) == x.column && column(dims[1]) == y.column {
                swap = false
            } else if column(dims[1]) == x.column && column(dims[0]) == y.column {
                swap = true
            } else {
                return nil
            }
            // Cholesky factor of the covariance, scaled by the distance.
            let l11 = cov[0][0].squareRoot(), l21 = cov[1][0] / l11, l22 = max(cov[1][1] - l21 * l21, 0).squareRoot()
            let r = d2.squareRoot()
            var pts: [(Double, Double)] = []
            for k in 0..<72 {
                let a = Double(k) * 2 * Double.pi / 72
                let u = cos(a) * r, v = sin(a) * r
                let p0 = mean[0] + l11 * u, p1 = mean[1] + l21 * u + l22 * v
                guard let cx = conv(p0, dims[0], swap ? y : x), let cy = conv(p1, dims[1], swap ? x : y) else {
                    return nil
                }
                pts.append(swap ? (cy, cx) : (cx, cy))
            }
            return PlotOutline(label: label, role: role, points: pts, closed: true)
        case .and, .or, .not:
            return nil
        }
    }

    /// Events of a population (all when `mask` is nil), on two axes.
    static func points(_ sample: GatedSample, _ mask: [UInt8]?, _ x: PlotAxis, _ y: PlotAxis) -> ([Double], [Double]) {
        let cx = sample.columns[x.column], cy = sample.columns[y.column]
        var xs: [Double] = [], ys: [Double] = []
        for i in cx.indices where mask.map({ $0[i] == 1 }) ?? true {
            xs.append(x.map(cx[i]))
            ys.append(y.map(cy[i]))
        }
        return (xs, ys)
    }

    // MARK: Automated (panel) plots

    /// The transformation the strategy uses for a column (first dimension found), if any.
    static func strategyTransform(_ strategy: GatingStrategy, _ sample: GatedSample, column: Int) -> Transformation? {
        for g in strategy.gates {
            var dims = g.dimensions
            if case .quadrant(let dividers, _) = g.kind { dims = dividers.map(\.dimension) }
            for d in dims {
                if case .channel(let n) = d.source, sample.columnIndex(n) == column,
                    let t = d.transformation.flatMap({ strategy.transformations[$0] })
                {
                    return t
                }
            }
        }
        return nil
    }

    /// The display scale of fluorescence axes when the strategy has none (adaptive gates are
    /// raw thresholds): logicle T 262144, W 0.5, M 4.5.
    static let fluorescenceScale = try? Transformation(.logicle(t: 262_144, w: 0.5, m: 4.5, a: 0))

    /// An axis transform for a column: the strategy's, else logicle for fluorescence.
    func axisTransform(_ strategy: GatingStrategy, _ sample: GatedSample, column: Int) -> Transformation? {
        if let t = Self.strategyTransform(strategy, sample, column: column) { return t }
        let name = sample.rawChannels[column].uppercased()
        return name.hasPrefix("FSC") || name.hasPrefix("SSC") || name == "TIME" ? nil : Self.fluorescenceScale
    }

    /// "61.7 %" of a count over its parent's.
    static func percent(_ count: Int?, of parent: Int?) -> String {
        guard let count, let parent, parent > 0 else { return "–" }
        return String(format: "%.1f %%", 100 * Double(count) / Double(parent))
    }

    func panelPlots(_ sample: GatedSample, ids: Counter) -> [String] {
        guard let strategy = sample.automatedStrategy else { return [] }
        var out: [String] = []
        let column = { (d: Gating.Dimension) -> Int? in
            if case .channel(let n) = d.source { return sample.columnIndex(n) } else { return nil }
        }
        for spec in Self.panelPlots {
            let gates = spec.gates.compactMap { key in gating.gates[key].flatMap { strategy.gate($0) }.map { (key, $0) }
            }
            guard let (_, first) = gates.first else { continue }
            func col(_ name: String) -> Int? {
                sample.columnIndex(name)
                    ?? (name == "SSC-A" ? sample.rawChannels.firstIndex { $0.uppercased().hasPrefix("SSC") } : nil)
            }
            let own = first.dimensions.compactMap { d -> (String, Int)? in
                guard case .channel(let n) = d.source, let c = column(d) else { return nil }
                return (n, c)
            }
            let xName = spec.x ?? own.first?.0, yName = spec.y ?? (own.count > 1 ? own[1].0 : nil)
            guard let xName, let yName, let xc = col(xName), let yc = col(yName) else { continue }
            let parentMask = first.parentID.flatMap { sample.automatedMasks[$0] }
            let x = PlotAxis.make(
                label: xName, column: xc, transform: axisTransform(strategy, sample, column: xc),
                values: sample.columns[xc])
            let y = PlotAxis.make(
                label: yName, column: yc, transform: axisTransform(strategy, sample, column: yc),
                values: sample.columns[yc])
            let (xs, ys) = Self.points(sample, parentMask, x, y)
            var outlines: [PlotOutline] = []
            var shares: [String] = []
            let parentCount = first.parentID.map { sample.automatedCounts[$0] } ?? sample.events
            for (key, gate) in gates {
                if let o = Self.outline(
                    gate.kind, label: gate.id, role: "automated", x: x, y: y, column: column,
                    dimTransform: { d in d.transformation.flatMap { strategy.transformations[$0] } })
                {
                    outlines.append(o)
                }
                var share = "\(gate.id) \(Self.percent(sample.automatedCounts[gate.id], of: parentCount))"
                // The manual (FlowJo) gate of the same population, when mapped.
                if let path = validation.flowjo[key], let fj = sample.flowJoStrategy, let fg = fj.gate(path) {
                    if let o = Self.outline(
                        fg.kind, label: path, role: "manual", x: x, y: y, column: column,
                        dimTransform: { d in d.transformation.flatMap { fj.transformations[$0] } })
                    {
                        outlines.append(o)
                    }
                    let fjParent = fg.parentID.map { sample.flowJoCounts[$0] } ?? sample.events
                    share += " (manual \(Self.percent(sample.flowJoCounts[path], of: fjParent)))"
                }
                shares.append(share)
            }
            let parentName = first.parentID ?? "all events"
            var plot = DensityPlot(
                title: spec.title, subtitle: "\(xs.count) of \(parentName) plotted", x: x, y: y, xs: xs, ys: ys,
                outlines: outlines)
            plot.detail = "% of \(parentName): " + shares.joined(separator: ", ")
            out.append(plot.svg(id: ids.next()))
        }
        return out
    }

    // MARK: FlowJo gate plots

    func flowJoPlots(_ sample: GatedSample, ids: Counter) -> [String] {
        guard let s = sample.flowJoSample, let strategy = sample.flowJoStrategy else { return [] }
        var out: [String] = []
        for p in s.populations {
            let dims = p.gate.dimensionNames
            guard dims.count == 2, let g = strategy.gate(p.pathString) else { continue }
            guard let xc = sample.columnIndex(dims[0]), let yc = sample.columnIndex(dims[1]) else { continue }
            // The axes are FlowJo's display scales (Time in FlowJo's units): gates drawn straight.
            let xt = try? s.displayTransformation(for: dims[0]), yt = try? s.displayTransformation(for: dims[1])
            let x = PlotAxis.make(label: dims[0], column: xc, transform: xt, values: sample.columns[xc])
            let y = PlotAxis.make(label: dims[1], column: yc, transform: yt, values: sample.columns[yc])
            let parent = p.path.count > 1 ? p.path.dropLast().joined(separator: "/") : nil
            let (xs, ys) = Self.points(sample, parent.flatMap { sample.flowJoMasks[$0] }, x, y)
            let column = { (d: Gating.Dimension) -> Int? in
                if case .channel(let n) = d.source { return sample.columnIndex(n) } else { return nil }
            }
            var outlines: [PlotOutline] = []
            if let o = Self.outline(
                g.kind, label: p.pathString, role: "manual", x: x, y: y, column: column,
                dimTransform: { d in d.transformation.flatMap { strategy.transformations[$0] } })
            {
                outlines.append(o)
            }
            let counts =
                "FlowJo \(p.flowJoCount.map(String.init) ?? "not stored"), ours \(sample.flowJoCounts[p.pathString] ?? 0)"
            let ourParent = parent.map { sample.flowJoCounts[$0] } ?? sample.events
            let fjParent =
                parent.map { pp in s.populations.first { $0.pathString == pp }?.flowJoCount } ?? s.flowJoCount
            var plot = DensityPlot(
                title: p.pathString, subtitle: "\(p.gate.typeName) · \(counts)", x: x, y: y, xs: xs, ys: ys,
                outlines: outlines)
            plot.detail =
                "% of parent: ours \(Self.percent(sample.flowJoCounts[p.pathString], of: ourParent)), FlowJo \(Self.percent(p.flowJoCount, of: fjParent))"
            out.append(plot.svg(id: ids.next()))
        }
        return out
    }

    // MARK: Pages

    static let style = """
        body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
        h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}h3{font-size:15px;margin:18px 0 6px}
        table{border-collapse:collapse;font-size:12px;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
        th{background:#f2f2f2}td.l,th.l{text-align:left}tr.fail td{background:#fde2e2}tr.pass td.verdict{color:#176b2c}
        .banner{padding:10px 14px;font-weight:600;border-radius:4px;display:inline-block}.banner.pass{background:#dcf3e1;color:#176b2c}
        .banner.fail{background:#fde2e2;color:#9b1c1c}.plots{display:flex;flex-wrap:wrap;gap:10px}
        svg .ptitle{font-size:12px;font-weight:600}svg .psub,svg .tick{font-size:9px;fill:#444}svg .axis{font-size:10px}
        svg .gate{fill:none;stroke-width:2}svg .gate.automated{stroke:#d62728}svg .gate.manual{stroke:#000;stroke-dasharray:5 3}
        svg .bias{stroke:#1f77b4;stroke-width:1.5}svg .loa{stroke:#1f77b4;stroke-dasharray:4 3}svg .zero{stroke:#999}
        svg .pt{fill:#ff7f0e;stroke:#333;stroke-width:.5}.legend span{margin-right:16px}.legend .a{color:#d62728}.legend .m{color:#000}
        .note{color:#555;font-size:12px}.badge{font-size:12px;padding:2px 8px;border-radius:3px;margin-left:8px}
        .badge.pass{background:#dcf3e1;color:#176b2c}.badge.fail{background:#fde2e2;color:#9b1c1c}
        section.sample{margin-top:18px;border-top:1px solid #e4e4e4}svg .psub.pct{fill:#222}details summary{cursor:pointer}
        """

    func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(esc(title))</title>
        <meta name="generator" content="cytoingest \(ProgramInfo.version)">
        <style>\(Self.style)</style></head><body>
        \(body)
        </body></html>

        """
    }

    static func td(_ v: Double?, _ digits: Int) -> String {
        "<td>\(v.map { String(format: "%.\(digits)f", $0) } ?? "")</td>"
    }

    /// The legend of the outlines a page draws (no "manual gate" where there is none).
    static func legend(automated: Bool, manual: Bool) -> String {
        guard automated || manual else { return "" }
        var o = "<p class=\"legend\">"
        if automated { o += "<span class=\"a\">━ automated gate</span>" }
        if manual { o += "<span class=\"m\">╍ manual gate</span>" }
        return o + "</p>"
    }

    /// One comparison row: values, Δ, and the verdict with the failed criteria.
    static func comparisonRow(_ s: SampleComparison, sampleColumn: Bool) -> String {
        var b = "<tr class=\"\(s.pass ? "pass" : "fail")\">"
        if sampleColumn { b += "<td class=\"l\">\(esc(s.sample))</td>" }
        b += "<td class=\"l\">\(esc(Population(rawValue: s.population)?.label ?? s.population))</td>"
        b +=
            td(s.automated, 2) + td(s.manual, 2) + td(s.deltaPct, 2) + td(s.automatedAbs, 0) + td(s.manualAbs, 0)
            + td(s.deltaAbs, 0) + td(s.deltaAbsRelative, 1)
        let why = (s.failures + (s.note.map { [$0] } ?? [])).map(esc).joined(separator: "; ")
        b += "<td class=\"l verdict\">\(s.pass ? "pass" : "FAIL")\(why.isEmpty ? "" : " – " + why)</td></tr>"
        return b
    }

    static func comparisonHeader(sampleColumn: Bool) -> String {
        "<tr>\(sampleColumn ? "<th class=\"l\">sample</th>" : "")<th class=\"l\">population</th><th>automated %</th><th>manual %</th><th>Δ points</th><th>automated /µL</th><th>manual /µL</th><th>Δ /µL</th><th>Δ %</th><th class=\"l\">result</th></tr>"
    }

    static func replayRow(_ p: ReplayRow) -> String {
        let cls = p.pass == false ? "fail" : "pass"
        return
            "<tr class=\"\(cls)\"><td class=\"l\">\(esc(p.sample))</td><td class=\"l\">\(esc(p.population))</td><td class=\"l\">\(esc(p.gateType))</td><td>\(p.flowJo.map(String.init) ?? "not stored")</td><td>\(p.ours)</td><td>\(p.difference.map(String.init) ?? "")</td><td>\(p.allowed.map(String.init) ?? "")</td><td class=\"l verdict\">\(p.pass.map { $0 ? "pass" : "FAIL – |difference| above allowed" } ?? "not comparable")</td></tr>"
    }

    static let replayHeader =
        "<tr><th class=\"l\">sample</th><th class=\"l\">population</th><th class=\"l\">gate</th><th>FlowJo</th><th>ours</th><th>difference</th><th>allowed</th><th class=\"l\">result</th></tr>"

    /// The validation report, failures first: the verdict and what failed (with the criterion),
    /// the agreement statistics and Bland–Altman plots, the FlowJo replay, every comparison,
    /// and per sample its verdict, its rows and its plots with automated and manual outlines.
    public func validationPage(_ r: ValidationReport) -> String {
        let ids = Counter()
        var b = "<h1>CytoIngest validation: automated vs manual gating</h1>"
        b +=
            "<p>Manual gating: <code>\(esc(r.manualSource))</code>. Tolerances: |Δ%| ≤ \(String(format: "%g", r.tolerances.percentPoints)) points; "
        b +=
            "|Δabs| ≤ \(String(format: "%g", r.tolerances.absoluteRelative * 100)) %, or ≤ \(String(format: "%g", r.tolerances.absoluteLowCells)) cells/µL below \(String(format: "%g", r.tolerances.lowAbsolute))/µL."
        if !r.replay.isEmpty {
            b +=
                r.flowJoEvaluation == .binned
                ? " FlowJo gates replayed FlowJo-exact (polygons and ellipses on FlowJo's 256-bin display)."
                : " FlowJo gates replayed on the display scale of their axes, on exact event values."
        }
        b += "</p>"
        let failingRows = r.samples.filter { !$0.pass }
        let failingReplay = r.replay.filter { $0.pass == false }
        let failed = failingRows.count + failingReplay.count + r.unmatched.count
        b +=
            "<p class=\"banner \(r.pass ? "pass" : "fail")\" id=\"verdict\">\(r.pass ? "PASS" : "FAIL"): \(r.samples.count) comparisons, \(r.replay.count) replayed populations, \(failed) failing</p>"
        // Failures first.
        b += "<h2>What failed</h2><div id=\"failures\">"
        if failed == 0 {
            b += "<p>Nothing failed.</p>"
        }
        if !failingRows.isEmpty {
            b += "<table id=\"failing\">" + Self.comparisonHeader(sampleColumn: true)
            for s in failingRows { b += Self.comparisonRow(s, sampleColumn: true) }
            b += "</table>"
        }
        if !failingReplay.isEmpty {
            b += "<table id=\"failing-replay\">" + Self.replayHeader
            for p in failingReplay { b += Self.replayRow(p) }
            b += "</table>"
        }
        if !r.unmatched.isEmpty {
            b += "<ul id=\"unmatched\">"
            for u in r.unmatched {
                b += "<li><b>\(esc(u.sample))</b> not compared: \(esc(u.message)) [\(esc(u.code.rawValue))]</li>"
            }
            b += "</ul>"
        }
        b += "</div>"
        if !r.metrics.isEmpty {
            b +=
                "<h2>Agreement across samples</h2><table id=\"metrics\"><tr><th class=\"l\">metric</th><th>n</th><th>bias</th><th>LoA low</th><th>LoA high</th><th>Lin's CCC</th><th>Pearson r</th><th>precision</th><th>recall</th><th>F1</th></tr>"
            for m in r.metrics {
                b +=
                    "<tr><td class=\"l\">\(esc(m.metric))</td><td>\(m.n)</td>" + Self.td(m.bias, 3)
                    + Self.td(m.loaLow, 3) + Self.td(m.loaHigh, 3) + Self.td(m.ccc, 4) + Self.td(m.pearson, 4)
                b += Self.td(m.precision, 4) + Self.td(m.recall, 4) + Self.td(m.f1, 4) + "</tr>"
            }
            b += "</table><div class=\"plots\" id=\"bland-altman\">"
            for m in r.metrics {
                let unit = m.metric.hasSuffix("Abs") ? "cells/µL" : "points"
                b += BlandAltmanPlot(
                    metric: m.metric, unit: unit, pairs: m.pairs, samples: m.samples, bias: m.bias, loaLow: m.loaLow,
                    loaHigh: m.loaHigh
                ).svg()
            }
            b += "</div>"
        }
        if !r.replay.isEmpty {
            b +=
                "<h2>FlowJo workspace replayed by our gating core</h2><p class=\"note\">Rectangles and quadrants must equal FlowJo's stored count; polygons and boolean nodes within 0.5 % or 2 events, ellipses 3.5 % or 3 events, gates on Time 1 %, taken as the loosest along the ancestry (FlowJo evaluates polygons and ellipses on binned display data; docs/validation.md).</p>"
            b += "<table id=\"replay\">" + Self.replayHeader
            for p in r.replay { b += Self.replayRow(p) }
            b += "</table>"
        }
        if !r.samples.isEmpty {
            b +=
                "<h2>Every comparison</h2><details id=\"all-comparisons\"><summary>\(r.samples.count) rows (\(failingRows.count) failing)</summary><table id=\"summary\">"
                + Self.comparisonHeader(sampleColumn: true)
            for s in r.samples { b += Self.comparisonRow(s, sampleColumn: true) }
            b += "</table></details>"
        }
        if !r.gated.isEmpty {
            let manual = r.gated.contains { $0.sample.flowJoStrategy != nil }
            let automated = r.gated.contains { $0.sample.automatedStrategy != nil }
            b += "<h2>Per sample</h2>" + Self.legend(automated: automated, manual: manual)
            for g in r.gated {
                let rows = r.samples.filter { $0.sample == g.name }
                let replay = r.replay.filter { $0.sample == g.name }
                let pass = rows.allSatisfy(\.pass) && replay.allSatisfy { $0.pass ?? true }
                b +=
                    "<section class=\"sample\"><h3>\(esc(g.name)) <span class=\"badge \(pass ? "pass" : "fail")\">\(pass ? "PASS" : "FAIL")</span></h3>"
                if !rows.isEmpty {
                    b += "<table class=\"sample-rows\">" + Self.comparisonHeader(sampleColumn: false)
                    for s in rows { b += Self.comparisonRow(s, sampleColumn: false) }
                    b += "</table>"
                }
                b += "<div class=\"plots sample\">"
                b += panelPlots(g.sample, ids: ids).joined()
                b += flowJoPlots(g.sample, ids: ids).joined()
                b += "</div></section>"
            }
        }
        return page(title: "CytoIngest validation", body: b)
    }

    /// The gating report of ingested samples (no manual gates): values and panel plots.
    public func samplesPage(_ entries: [(name: String, sample: GatedSample, result: SampleResult?)]) -> String {
        let ids = Counter()
        var b =
            "<h1>CytoIngest gating report</h1><p>\(entries.count) samples; gating \(esc(gating.mode.rawValue))\(gating.mode == .adaptive ? " (the gates found in each file; template" : " (strategy") <code>\(esc(gating.strategy))</code>).</p>"
            + Self.legend(automated: entries.contains { $0.sample.automatedStrategy != nil }, manual: false)
        for e in entries {
            b += "<h3>\(esc(e.name))</h3>"
            if let r = e.result {
                b +=
                    "<table class=\"values\"><tr><th>events</th><th>beads</th><th>lymphocytes</th><th>CD4 /µL</th><th>CD8 /µL</th><th>CD4 %</th><th>CD8 %</th><th>HLA-DR+ % of CD8</th><th>CD25+ % of CD4</th><th class=\"l\">QC</th></tr><tr>"
                b +=
                    "<td>\(r.events)</td><td>\(r.beadEvents)</td><td>\(r.lymphocyteEvents)</td>" + Self.td(r.cd4Abs, 0)
                    + Self.td(r.cd8Abs, 0) + Self.td(r.cd4Pct, 2) + Self.td(r.cd8Pct, 2) + Self.td(r.cd8HladrPct, 2)
                    + Self.td(r.cd4Cd25Pct, 2)
                b += "<td class=\"l\">\(esc(r.qcFlags.map(\.rawValue).joined(separator: ", ")))</td></tr></table>"
            }
            b += "<div class=\"plots sample\">" + panelPlots(e.sample, ids: ids).joined() + "</div>"
        }
        return page(title: "CytoIngest gating report", body: b)
    }
}
