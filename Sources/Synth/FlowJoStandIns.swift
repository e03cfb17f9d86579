import FCSParser
import Gating

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Stand-in FCS files for FlowJo workspaces whose own FCS files are not at hand: one file per
/// sample file name, with the sample's channels (`$PnN`, `$PnS`, `$PnR` from the workspace's
/// keywords), its acquisition spillover as `$SPILLOVER`, its `$TIMESTEP`, `$BTIM`/`$ETIM`, and
/// events placed on FlowJo's display scale so that every gate of every given workspace has events
/// inside it and on both sides of its edges (a replay that evaluates on the wrong scale shows).
///
/// The events are not cells: 15 % are spread over the whole display; the rest target one
/// geometric population each, sitting inside the central 60 % of every ancestor's display box
/// and anywhere in the population's own box widened by 20 % per side. Compensated (`Comp-`)
/// channels are drawn compensated and written as detector values through the spillover.
/// The same workspaces, events and seed give byte-identical files.
public enum FlowJoStandIns {
    public struct File: Sendable, Hashable {
        public var name: String
        public var bytes: [UInt8]
        public var events: Int
    }

    /// A population's display box: channel -> (low, high) on [0, 1], with each channel's display
    /// transformation in the population's sample.
    struct Box {
        var ranges: [(channel: String, lo: Double, hi: Double)]
        var transforms: [Transformation]
    }

    struct Target {
        var sample: FlowJoWorkspace.Sample
        var ancestors: [Box]
        var own: Box
    }

    public static func make(
        workspaces: [FlowJoWorkspace], events: Int = 30_000, seed: UInt64 = 1
    ) throws(GatingError) -> [File] {
        var byFile: [String: [FlowJoWorkspace.Sample]] = [:]
        var order: [String] = []
        for w in workspaces {
            for s in w.samples {
                if byFile[s.fileName] == nil { order.append(s.fileName) }
                byFile[s.fileName, default: []].append(s)
            }
        }
        var out: [File] = []
        for (k, name) in order.enumerated() {
            let samples = byFile[name]!
            out.append(try file(name: name, samples: samples, events: events, seed: seed, stream: UInt64(k)))
        }
        return out
    }

    static func box(_ p: FlowJoWorkspace.Population, _ s: FlowJoWorkspace.Sample) throws(GatingError) -> Box? {
        guard case .geometry(let kind) = p.gate else { return nil }
        func t(_ c: String) throws(GatingError) -> Transformation { try s.displayTransformation(for: c) }
        func clip(_ v: Double) -> Double { min(max(v, 0), 1) }
        var transforms: [Transformation] = []
        switch kind {
        case .rectangle(let dims):
            var r: [(String, Double, Double)] = []
            for d in dims {
                let c = d.source.description
                let tr = try t(c)
                let lo = d.min.map { tr.apply(s.ourUnits($0, channel: c)) } ?? 0
                let hi = d.max.map { tr.apply(s.ourUnits($0, channel: c)) } ?? 1
                r.append((c, clip(lo), clip(hi)))
                transforms.append(tr)
            }
            return Box(ranges: r.map { (channel: $0.0, lo: $0.1, hi: $0.2) }, transforms: transforms)
        case .polygon(let dims, let vertices):
            var r: [(channel: String, lo: Double, hi: Double)] = []
            for (k, d) in dims.enumerated() {
                let c = d.source.description
                let tr = try t(c)
                let v = vertices.map { tr.apply(s.ourUnits($0[k], channel: c)) }.filter(\.isFinite)
                r.append((c, clip(v.min() ?? 0), clip(v.max() ?? 1)))
                transforms.append(tr)
            }
            return Box(ranges: r, transforms: transforms)
        case .ellipsoid(let dims, let mean, let cov, _):
            var r: [(channel: String, lo: Double, hi: Double)] = []
            for (k, d) in dims.enumerated() {
                let half = cov[k][k].squareRoot()
                r.append((d.source.description, clip((mean[k] - half) / 256), clip((mean[k] + half) / 256)))
                transforms.append(try t(d.source.description))
            }
            return Box(ranges: r, transforms: transforms)
        default:
            return nil
        }
    }

    static func file(
        name: String, samples: [FlowJoWorkspace.Sample], events: Int, seed: UInt64, stream: UInt64
    ) throws(GatingError) -> File {
        let first = samples[0]
        let kw = first.keywords
        guard let par = kw["$PAR"].flatMap({ Int($0.trimmingCharacters()) }), par > 0, par <= 1000 else {
            throw GatingError(
                .badWorkspace, "sample \(first.id): its keywords have no usable $PAR", element: "Keywords")
        }
        var parameters: [FCSWriteParameter] = []
        for i in 1...par {
            guard let n = kw["$P\(i)N"], !n.isEmpty else {
                throw GatingError(.badWorkspace, "sample \(first.id): $P\(i)N is missing", element: "Keywords")
            }
            let r = kw["$P\(i)R"].flatMap { Double($0.trimmingCharacters()) } ?? 262_144
            let label = kw["$P\(i)S"].flatMap { $0.isEmpty ? nil : $0 }
            parameters.append(FCSWriteParameter(name: n, label: label, range: r))
        }
        let names = parameters.map(\.name)
        // Targets: every geometric population of every sample of this file.
        var targets: [Target] = []
        for s in samples {
            var boxes: [[String]: Box] = [:]
            for p in s.populations { if let b = try box(p, s) { boxes[p.path] = b } }
            for p in s.populations {
                guard let own = boxes[p.path] else { continue }
                var ancestors: [Box] = []
                for k in 1..<max(1, p.path.count) {
                    if let b = boxes[Array(p.path.prefix(k))] { ancestors.append(b) }
                }
                targets.append(Target(sample: s, ancestors: ancestors, own: own))
            }
        }
        // Display channels drawn per event: raw names, and Comp- names for the matrix's detectors.
        let matrix = first.matrix
        let compensated = matrix.map { m in m.spillover.detectors.map { m.compensatedName($0) } } ?? []
        let drawn = names.filter { n in !(matrix?.spillover.detectors.contains(n) ?? false) } + compensated
        var index: [String: Int] = [:]
        for (k, c) in drawn.enumerated() { index[c] = k }
        var background: [Transformation] = []
        for c in drawn { background.append(try first.displayTransformation(for: c)) }
        var rng = Xoshiro(seed: seed, stream: [0xF10_3A4E, stream])
        var columns = [[Double]](repeating: [Double](repeating: 0, count: events), count: drawn.count)
        for e in 0..<events {
            var position = [Double](repeating: 0, count: drawn.count)
            var transform = background
            for k in 0..<drawn.count { position[k] = rng.uniform() }
            if !targets.isEmpty, rng.uniform() >= 0.15 {
                let t = targets[min(Int(rng.uniform() * Double(targets.count)), targets.count - 1)]
                func place(_ b: Box, shrink: Double) {
                    for (r, tr) in zip(b.ranges, b.transforms) {
                        guard let k = index[r.channel] else { continue }
                        let span = r.hi - r.lo
                        let lo = r.lo + shrink * span, hi = r.hi - shrink * span
                        position[k] = rng.uniform(lo, hi)
                        transform[k] = tr
                    }
                }
                for a in t.ancestors { place(a, shrink: 0.2) }
                place(t.own, shrink: -0.2)
            }
            for k in 0..<drawn.count {
                let p = min(max(position[k], 0), 1)
                columns[k][e] = transform[k].inverse(p) ?? 0
            }
        }
        // Back to the file's channels: detectors from compensated values through the spillover,
        // Time from FlowJo's units to ticks.
        var fileColumns = [[Double]](repeating: [], count: names.count)
        for (i, n) in names.enumerated() {
            if let k = index[n] {
                var col = columns[k]
                if first.isTime(n) {
                    // Our Time is ticks x $TIMESTEP: the file holds ticks.
                    let m = first.timeMultiplier(n)
                    for r in col.indices { col[r] = (col[r] * m).rounded() }
                }
                fileColumns[i] = col
            }
        }
        var spill: FCSSpillover?
        if let m = matrix {
            let s = m.spillover
            let comp = compensated.map { columns[index[$0]!] }
            for (j, d) in s.detectors.enumerated() {
                guard let i = names.firstIndex(of: d) else {
                    throw GatingError(
                        .badWorkspace, "sample \(first.id): matrix detector \(d) is not a parameter", element: d)
                }
                var col = [Double](repeating: 0, count: events)
                for (f, c) in comp.enumerated() {
                    let coefficient = s.matrix[f][j]
                    if coefficient == 0 { continue }
                    for r in 0..<events { col[r] += c[r] * coefficient }
                }
                fileColumns[i] = col
            }
            spill = FCSSpillover(channels: s.detectors, matrix: s.matrix)
        }
        var options = FCSWriteOptions()
        options.spillover = spill
        for key in ["$TIMESTEP", "$BTIM", "$ETIM", "$DATE", "$CYT"] {
            if let v = kw[key], !v.isEmpty { options.add(key, v) }
        }
        options.add("$FIL", name)
        options.add("CYTOINGEST_STANDIN", "synthetic events for FlowJo workspace replay tests; not measured")
        let bytes: [UInt8]
        do {
            bytes = try FCSWriter.encode(dataSets: [(columns: fileColumns, parameters: parameters, options: options)])
        } catch {
            throw GatingError(.badWorkspace, "stand-in \(name): \(error)")
        }
        return File(name: name, bytes: bytes, events: events)
    }
}
