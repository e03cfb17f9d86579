/// Number of 1 bytes in a mask (vectorised sum).
public func countOnes(_ mask: [UInt8]) -> Int {
    var total = 0
    var i = 0
    while i < mask.count {
        let end = Swift.min(mask.count, i + 255 * 64)
        var partial: UInt64 = 0
        for k in i..<end { partial &+= UInt64(mask[k]) }
        total += Int(partial)
        i = end
    }
    return total
}

/// Per-gate counts of a gating run.
public struct GateCount: Sendable, Hashable, Codable {
    public var id: String
    public var parent: String?
    public var path: GateID
    public var count: Int
    /// Percent of the parent's events (of all events for a root gate).
    public var percentParent: Double
    public var percentTotal: Double
}

/// The result of gating an event table.
public struct GatingResult: Sendable {
    public var eventCount: Int
    /// In strategy order.
    public var gates: [GateCount]
    /// Per-event membership (1 = in), per gate id, when asked for.
    public var membership: [String: [UInt8]]

    public func count(_ id: String) -> Int? { gates.first { $0.id == id }?.count }

    /// The per-event membership of gate `id`.
    /// - Throws: `.gateNotFound` when the strategy has no such gate, or membership was not kept.
    public func mask(for id: String) throws(GatingError) -> [UInt8] {
        guard let m = membership[id] else {
            throw GatingError(
                .gateNotFound,
                gates.contains { $0.id == id } ? "membership of gate \(id) was not kept" : "gate not found: \(id)",
                element: id)
        }
        return m
    }
}

/// A gating strategy bound to a data layout (channel names and the file's spillover), ready
/// to evaluate blocks of events. Pre-processing (`$PnE`, `$PnG`, `$TIMESTEP`) is the caller's:
/// read with `FCSReader.Values.scaled` for Gating-ML semantics.
public struct GatingEngine: Sendable {
    public let strategy: GatingStrategy
    public let channels: [String]
    let labels: [String?]
    let order: [Int]
    let compensations: [String: Compensation]
    let index: [String: Int]
    /// Per gate, per rectangle dimension or quadrant divider: the bound tested on raw values
    /// (nil: the dimension is transformed and tested as before). See `RawInterval`.
    let rawIntervals: [[RawInterval?]]
    /// Test axis-aligned bounds on raw values where that is exact (default true; false gives the
    /// transform-everything reference the tests compare against).
    public var rawThresholds = true

    static let fcsKey = "\u{0}FCS"

    /// - Parameters:
    ///   - channels: `$PnN` of the data columns, in column order.
    ///   - labels: `$PnS`, used when a dimension names a marker instead of a channel.
    ///   - fcsSpillover: the file's spillover, for `compensation-ref="FCS"` (nil: none).
    /// - Throws: `GatingError` for unknown references, channels, singular matrices, cycles.
    public init(
        strategy: GatingStrategy, channels: [String], labels: [String?]? = nil, fcsSpillover: SpilloverMatrix? = nil
    )
        throws(GatingError)
    {
        self.strategy = strategy
        self.channels = channels
        self.labels = labels ?? Array(repeating: nil, count: channels.count)
        var index: [String: Int] = [:]
        for (i, g) in strategy.gates.enumerated() {
            if index[g.id] != nil { throw GatingError(.badGatingML, "gate id \(g.id) is defined twice", element: g.id) }
            index[g.id] = i
        }
        self.index = index
        var comps: [String: Compensation] = [:]
        for (id, m) in strategy.matrices { comps[id] = try Compensation(m) }
        if let fcsSpillover { comps[Self.fcsKey] = try Compensation(fcsSpillover) }
        self.compensations = comps

        // Validate references and order gates so that dependencies come first.
        var order: [Int] = []
        var state = [UInt8](repeating: 0, count: strategy.gates.count)  // 0 new, 1 visiting, 2 done
        func visit(_ i: Int) throws(GatingError) {
            if state[i] == 2 { return }
            let g = strategy.gates[i]
            if state[i] == 1 {
                throw GatingError(
                    .cycle, "gate \(g.id) depends on itself through parents or boolean operands", element: g.id)
            }
            state[i] = 1
            for dep in g.dependencies {
                guard let j = index[dep] else {
                    throw GatingError(
                        .unknownReference, "gate \(g.id) refers to gate \(dep), which is not defined", element: g.id)
                }
                try visit(j)
            }
            state[i] = 2
            order.append(i)
        }
        for i in strategy.gates.indices { try visit(i) }
        self.order = order
        var raw: [[RawInterval?]] = []
        for g in strategy.gates {
            func interval(_ d: Dimension, _ lo: Double?, _ hi: Double?) -> RawInterval? {
                guard case .channel = d.source, let tid = d.transformation, let t = strategy.transformations[tid] else {
                    return nil
                }
                return RawInterval(lo: lo, hi: hi, transformation: t)
            }
            switch g.kind {
            case .rectangle(let dims):
                raw.append(dims.map { interval($0, $0.min, $0.max) })
            case .quadrant(let dividers, let positions):
                raw.append(
                    dividers.map { div in
                        guard let loc = positions[div.id] else { return nil }
                        let (lo, hi) = Self.cell(div, loc)
                        return interval(div.dimension, lo, hi)
                    })
            default:
                raw.append([])
            }
        }
        self.rawIntervals = raw
        for g in strategy.gates {
            for d in g.dimensions { try validate(d, gate: g.id) }
        }
    }

    /// A quadrant's cell on one divider, half-open with infinite outer bounds (+inf is outside
    /// the top cell, as in the reference implementation).
    static func cell(_ div: Divider, _ location: Double) -> (Double, Double) {
        let target = div.interval(of: location)
        let lo = target == 0 ? -Double.infinity : div.values[target - 1]
        let hi = target == div.values.count ? Double.infinity : div.values[target]
        return (lo, hi)
    }

    private func validate(_ d: Dimension, gate: String) throws(GatingError) {
        if let t = d.transformation {
            guard let tr = strategy.transformations[t] else {
                throw GatingError(
                    .unknownReference, "gate \(gate) uses transformation \(t), which is not defined", element: gate)
            }
            if tr.isRatio {
                throw GatingError(
                    .badGatingML, "gate \(gate): fratio \(t) can only define a new dimension", element: gate)
            }
        }
        if case .matrix(let m) = d.compensation, compensations[m] == nil {
            throw GatingError(
                .unknownReference, "gate \(gate) uses compensation \(m), which is not defined", element: gate)
        }
        switch d.source {
        case .channel(let name): try validateChannel(name, d.compensation, gate: gate)
        case .ratio(let id):
            guard let t = strategy.transformations[id], case .ratio(_, _, _, let num, let den) = t.kind else {
                throw GatingError(
                    .unknownReference, "gate \(gate) uses ratio \(id), which is not a defined fratio", element: gate)
            }
            try validateChannel(num, d.compensation, gate: gate)
            try validateChannel(den, d.compensation, gate: gate)
        }
    }

    private func validateChannel(_ name: String, _ comp: CompensationSource, gate: String) throws(GatingError) {
        if case .matrix(let m) = comp, compensations[m]!.spillover.fluorochromes.contains(name) { return }
        if columnIndex(name) == nil {
            throw GatingError(
                .unknownChannel, "gate \(gate) uses channel \(name), which the data do not have", element: gate)
        }
    }

    func columnIndex(_ name: String) -> Int? {
        channels.firstIndex(of: name) ?? labels.firstIndex(where: { $0 == name })
    }

    /// Per-block cache of compensated and transformed columns.
    final class BlockCache {
        var compensated: [String: [String: [Double]]] = [:]
        var dimensions: [Dimension: ArraySlice<Double>] = [:]
    }

    func channelValues(
        _ name: String, _ comp: CompensationSource, _ columns: [ArraySlice<Double>], _ count: Int, _ cache: BlockCache
    ) -> ArraySlice<Double> {
        let key: String?
        switch comp {
        case .none: key = nil
        case .acquisitionSpillover: key = compensations[Self.fcsKey] == nil ? nil : Self.fcsKey
        case .matrix(let m): key = m
        }
        if let key, let c = compensations[key],
            c.spillover.fluorochromes.contains(name) || c.spillover.detectors.contains(name)
        {
            if cache.compensated[key] == nil {
                let inputs = c.spillover.detectors.map { d -> ArraySlice<Double> in
                    if let i = columnIndex(d) { return columns[i] }
                    return ArraySlice(repeating: .nan, count: count)
                }
                let out = c.apply(detectors: inputs, count: count)
                var byName: [String: [Double]] = [:]
                for (f, col) in zip(c.spillover.fluorochromes, out) { byName[f] = col }
                cache.compensated[key] = byName
            }
            if let v = cache.compensated[key]![name] { return v[...] }
        }
        return columns[columnIndex(name)!].prefix(count)
    }

    func dimensionValues(
        _ d: Dimension, _ columns: [ArraySlice<Double>], _ count: Int, _ cache: BlockCache
    ) -> ArraySlice<Double> {
        if let v = cache.dimensions[d] { return v }
        var values: ArraySlice<Double>
        switch d.source {
        case .channel(let name):
            values = channelValues(name, d.compensation, columns, count, cache)
        case .ratio(let id):
            let t = strategy.transformations[id]!
            guard case .ratio(_, _, _, let num, let den) = t.kind else { return [] }
            let x1 = channelValues(num, d.compensation, columns, count, cache)
            let x2 = channelValues(den, d.compensation, columns, count, cache)
            values = (0..<count).map { t.applyRatio(x1[x1.startIndex + $0], x2[x2.startIndex + $0]) }[...]
        }
        if let tid = d.transformation, let t = strategy.transformations[tid] {
            values = t.apply(column: values)[...]
        }
        cache.dimensions[d] = values
        return values
    }

    /// Evaluates every gate on a block of events (columns in `channels` order, each at least
    /// `count` long). Returns one mask per gate, in strategy order, parents applied.
    public func evaluate(columns: [ArraySlice<Double>], count: Int) -> [[UInt8]] {
        precondition(
            columns.count == channels.count && columns.allSatisfy { $0.count >= count }, "one column per channel")
        let cache = BlockCache()
        var masks = [[UInt8]](repeating: [], count: strategy.gates.count)
        for i in order {
            let g = strategy.gates[i]
            var own: [UInt8]
            // Set when `own` started as the parent's mask (the parent is then applied already).
            var fromParent = false
            switch g.kind {
            case .rectangle(let dims):
                if rawThresholds, rawIntervals[i].contains(where: { $0 != nil }) {
                    // Start from the parent: events outside it need no test at all.
                    own = g.parentID.map { masks[index[$0]!] } ?? [UInt8](repeating: 1, count: count)
                    fromParent = true
                    for (k, d) in dims.enumerated() {
                        if let r = rawIntervals[i][k], cache.dimensions[d] == nil, case .channel(let name) = d.source {
                            r.apply(
                                raw: channelValues(name, d.compensation, columns, count, cache), count: count,
                                into: &own)
                        } else {
                            let m = RectangleKernel.fast(
                                columns: [dimensionValues(d, columns, count, cache)], min: [d.min], max: [d.max],
                                count: count)
                            for e in 0..<count { own[e] &= m[e] }
                        }
                    }
                } else {
                    own = RectangleKernel.fast(
                        columns: dims.map { dimensionValues($0, columns, count, cache) }, min: dims.map(\.min),
                        max: dims.map(\.max), count: count)
                }
            case .polygon(let dims, let vertices):
                own = PolygonKernel.fast(
                    x: dimensionValues(dims[0], columns, count, cache),
                    y: dimensionValues(dims[1], columns, count, cache),
                    xs: vertices.map { $0[0] }, ys: vertices.map { $0[1] }, count: count)
            case .ellipsoid(let dims, let mean, let covariance, let d2):
                let inv = LinearAlgebra.inverse(covariance) ?? covariance.map { $0.map { _ in .nan } }
                own = EllipsoidKernel.fast(
                    columns: dims.map { dimensionValues($0, columns, count, cache) }, mean: mean,
                    inverseCovariance: inv, distanceSquare: d2,
                    count: count)
            case .quadrant(let dividers, let positions):
                own =
                    rawThresholds
                    ? (g.parentID.map { masks[index[$0]!] } ?? [UInt8](repeating: 1, count: count))
                    : [UInt8](repeating: 1, count: count)
                fromParent = rawThresholds
                for (k, div) in dividers.enumerated() {
                    guard let loc = positions[div.id] else { continue }
                    if rawThresholds, let r = rawIntervals[i][k], cache.dimensions[div.dimension] == nil,
                        case .channel(let name) = div.dimension.source
                    {
                        r.apply(
                            raw: channelValues(name, div.dimension.compensation, columns, count, cache), count: count,
                            into: &own)
                        continue
                    }
                    let (lo, hi) = Self.cell(div, loc)
                    let v = dimensionValues(div.dimension, columns, count, cache)
                    for e in 0..<count {
                        let x = v[v.startIndex + e]
                        if !(x >= lo && x < hi) { own[e] = 0 }
                    }
                }
            case .and(let refs):
                own = [UInt8](repeating: 1, count: count)
                for r in refs {
                    let m = masks[index[r.id]!]
                    let flip: UInt8 = r.complement ? 1 : 0
                    for e in 0..<count { own[e] &= m[e] ^ flip }
                }
            case .or(let refs):
                own = [UInt8](repeating: 0, count: count)
                for r in refs {
                    let m = masks[index[r.id]!]
                    let flip: UInt8 = r.complement ? 1 : 0
                    for e in 0..<count { own[e] |= m[e] ^ flip }
                }
            case .not(let r):
                let m = masks[index[r.id]!]
                let flip: UInt8 = r.complement ? 0 : 1
                own = (0..<count).map { m[$0] ^ flip }
            }
            if let p = g.parentID, !fromParent {
                let pm = masks[index[p]!]
                for e in 0..<count { own[e] &= pm[e] }
            }
            masks[i] = own
        }
        return masks
    }

    /// Gates a whole table, in blocks, split across tasks when it is large.
    /// - Parameters:
    ///   - keepMembership: also return per-event membership of every gate.
    ///   - blockSize: events per block (intermediate columns stay in cache).
    public func evaluate(_ table: EventTable, keepMembership: Bool = false, blockSize: Int = 8192) async -> GatingResult
    {
        let n = table.eventCount
        let parts = n >= 200_000 ? 2 : 1
        let bounds = (0...parts).map { $0 * n / parts }
        let pieces = await withTaskGroup(of: (Int, [Int], [[UInt8]]).self) { group in
            for p in 0..<parts {
                group.addTask {
                    let r = self.run(
                        table, from: bounds[p], to: bounds[p + 1], keepMembership: keepMembership, blockSize: blockSize)
                    return (p, r.0, r.1)
                }
            }
            var out = [(Int, [Int], [[UInt8]])]()
            for await piece in group { out.append(piece) }
            return out.sorted { $0.0 < $1.0 }
        }
        var counts = [Int](repeating: 0, count: strategy.gates.count)
        var membership = [[UInt8]](repeating: [], count: keepMembership ? strategy.gates.count : 0)
        for (_, c, m) in pieces {
            for g in counts.indices { counts[g] += c[g] }
            if keepMembership { for g in membership.indices { membership[g] += m[g] } }
        }
        return result(counts: counts, total: n, membership: keepMembership ? membership : nil)
    }

    /// Synchronous variant of ``evaluate(_:keepMembership:blockSize:)`` on one core.
    public func evaluateSerially(
        _ table: EventTable, keepMembership: Bool = false, blockSize: Int = 8192
    ) -> GatingResult {
        let (counts, membership) = run(
            table, from: 0, to: table.eventCount, keepMembership: keepMembership, blockSize: blockSize)
        return result(counts: counts, total: table.eventCount, membership: keepMembership ? membership : nil)
    }

    func run(_ table: EventTable, from: Int, to: Int, keepMembership: Bool, blockSize: Int) -> ([Int], [[UInt8]]) {
        var counts = [Int](repeating: 0, count: strategy.gates.count)
        var membership = [[UInt8]](repeating: [], count: keepMembership ? strategy.gates.count : 0)
        var start = from
        while start < to {
            let end = min(to, start + blockSize)
            let cols = table.columns.map { $0[start..<end] }
            let masks = evaluate(columns: cols, count: end - start)
            for g in masks.indices {
                counts[g] += countOnes(masks[g])
                if keepMembership { membership[g] += masks[g] }
            }
            start = end
        }
        return (counts, membership)
    }

    /// Adds counts from another block-wise run (for streaming callers).
    public func result(counts: [Int], total: Int, membership: [[UInt8]]?) -> GatingResult {
        var gates: [GateCount] = []
        for (i, g) in strategy.gates.enumerated() {
            let parentCount = g.parentID.flatMap { index[$0] }.map { counts[$0] } ?? total
            gates.append(
                GateCount(
                    id: g.id, parent: g.parentID, path: strategy.gateID(g.id), count: counts[i],
                    percentParent: parentCount == 0 ? 0 : 100 * Double(counts[i]) / Double(parentCount),
                    percentTotal: total == 0 ? 0 : 100 * Double(counts[i]) / Double(total)))
        }
        var m: [String: [UInt8]] = [:]
        if let membership { for (i, g) in strategy.gates.enumerated() { m[g.id] = membership[i] } }
        return GatingResult(eventCount: total, gates: gates, membership: m)
    }
}
