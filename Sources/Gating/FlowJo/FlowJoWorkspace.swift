import SafeXML

/// A FlowJo 10 workspace (`.wsp`): groups, samples with their FCS files, per-sample transforms
/// and compensation, the gate tree of every sample and FlowJo's stored count of every population.
///
/// Read through SafeXML with the same rules as lab XML (DOCTYPE/entities refused, size, depth and
/// text limits). Group-level template nodes (`GroupNode`) are not gates of any sample and are
/// ignored, as FlowJo itself applies the sample's own copy.
public struct FlowJoWorkspace: Sendable {
    public var file: String
    public var flowJoVersion: String?
    public var groups: [Group]
    public var samples: [Sample]

    public struct Group: Sendable, Hashable {
        public var name: String
        public var sampleIDs: [String]
    }

    /// A FlowJo per-channel display transform (the `Transformations` of a sample).
    public enum Transform: Sendable, Hashable {
        case linear(minRange: Double, maxRange: Double, gain: Double)
        case log(offset: Double, decades: Double)
        /// FlowJo "logicle": the Gating-ML logicle with T, W, M, A.
        case logicle(t: Double, w: Double, m: Double, a: Double)
        /// FlowJo "biex": FlowJo's own lookup table; mapped to logicle with W = log10(-width)/2.
        case biex(neg: Double, width: Double, pos: Double, maxRange: Double)
        /// FlowJo "fasinh" (arcsinh): the Gating-ML fasinh with T, M, A.
        case asinh(t: Double, m: Double, a: Double)

        public var kindName: String {
            switch self {
            case .linear: "linear"
            case .log: "log"
            case .logicle: "logicle"
            case .biex: "biex"
            case .asinh: "arcsinh"
            }
        }

        /// The transformation onto FlowJo's display scale [0, 1] (FlowJo draws it in `length` =
        /// 256 bins). `multiplier` turns our event values into FlowJo's data units before the
        /// transform (FlowJo's Time: seconds per tick over our seconds, see `Sample.timeMultiplier`);
        /// a linear transform's `gain` multiplies as well. `bins`: FlowJo-exact binning.
        public func display(multiplier: Double = 1, bins: Int? = nil) throws(GatingError) -> Transformation {
            let m = multiplier > 0 && multiplier.isFinite ? multiplier : 1
            switch self {
            case .linear(let lo, let hi, let gain):
                let g = (gain > 0 ? gain : 1) * m
                return try Transformation(.linear(t: hi / g, a: -lo / g), bins: bins)
            case .log(let offset, let decades):
                return try Transformation(.flowJoLog(offset: offset / m, decades: decades), bins: bins)
            case .logicle(let t, let w, let m2, let a):
                return try Transformation(.logicle(t: t / m, w: w, m: m2, a: a), bins: bins)
            case .biex(let neg, let width, let pos, let maxRange):
                return try Transformation(
                    .flowJoBiex(neg: neg, width: width, pos: pos, maxRange: maxRange / m), bins: bins)
            case .asinh(let t, let m2, let a):
                return try Transformation(.asinh(t: t / m, m: m2, a: a), bins: bins)
            }
        }
    }

    /// A compensation matrix of a sample (`transforms:spilloverMatrix`). Gates name compensated
    /// channels `prefix + detector + suffix` (FlowJo's `Comp-` prefix).
    public struct Matrix: Sendable, Hashable {
        public var name: String
        public var prefix: String
        public var suffix: String
        /// `Acquisition-defined`: the FCS file's own spillover.
        public var acquisitionDefined: Bool
        public var spillover: SpilloverMatrix

        /// The compensated channel name of a detector.
        public func compensatedName(_ detector: String) -> String { prefix + detector + suffix }
    }

    /// One population of a sample's tree, with the gate that defines it.
    public struct Population: Sendable, Hashable {
        /// Names from the sample root, this population last (FlowJo's gate path).
        public var path: [String]
        public var name: String { path.last! }
        public var pathString: String { path.joined(separator: "/") }
        public var gate: PopulationGate
        /// FlowJo's stored count; nil when FlowJo stored -1 (not computed).
        public var flowJoCount: Int?
        public var line: Int
    }

    public enum PopulationGate: Sendable, Hashable {
        /// A geometric gate (rectangle, polygon, ellipse) on the sample's channels; FlowJo
        /// stores ellipses in 256-bin display units.
        case geometry(GateKind)
        /// A boolean node over other populations (FlowJo `Dependents`, full paths).
        case and([String])
        case or([String])
        case not(String)

        /// The channels a geometric gate reads (none for boolean nodes).
        public var dimensionNames: [String] {
            guard case .geometry(let kind) = self else { return [] }
            return Gate(id: "", kind: kind).dimensions.map(\.source.description)
        }

        public var typeName: String {
            switch self {
            case .geometry(.rectangle): "RectangleGate"
            case .geometry(.polygon): "PolygonGate"
            case .geometry(.ellipsoid): "EllipsoidGate"
            case .geometry: "Gate"
            case .and: "AndNode"
            case .or: "OrNode"
            case .not: "NotNode"
            }
        }
    }

    public struct Sample: Sendable, Hashable {
        public var id: String
        /// The `SampleNode` name (FlowJo shows it; usually the file name).
        public var name: String
        /// The `DataSet uri`.
        public var uri: String
        /// The file name of `uri` (percent-decoded), used to find the FCS file.
        public var fileName: String
        public var keywords: [String: String]
        /// FlowJo's stored count of the whole sample; nil when -1.
        public var flowJoCount: Int?
        public var transforms: [String: Transform]
        public var matrix: Matrix?
        public var populations: [Population]
        public var groups: [String]
    }

    // MARK: Reading

    public static func read(path: String, limits: XMLLimits = Self.limits) throws(GatingError) -> FlowJoWorkspace {
        try read(name: path) { () throws(XMLError) in try XMLEventReader(path: path, limits: limits) }
    }

    public static func read(
        bytes: [UInt8], name: String = "<memory>", limits: XMLLimits = Self.limits
    ) throws(GatingError) -> FlowJoWorkspace {
        try read(name: name) { () throws(XMLError) in try XMLEventReader(bytes: bytes, name: name, limits: limits) }
    }

    /// Workspaces are read whole: 64 MiB and 2 M elements at most.
    public static let limits: XMLLimits = {
        var l = XMLLimits()
        l.maxBytes = 64 << 20
        return l
    }()

    private static func read(
        name: String, _ open: () throws(XMLError) -> XMLEventReader
    ) throws(GatingError) -> FlowJoWorkspace {
        try GatingMLReader.readDocument(name: name, maxNodes: 2_000_000, open) { (root) throws(GatingError) in
            try parse(root, file: name)
        }
    }

    static let gatingNS = GatingMLReader.gatingNS
    static let transformsNS = GatingMLReader.transformsNS
    static let dataTypeNS = GatingMLReader.dataTypeNS

    static func fail(_ node: XMLNode, _ message: String) -> GatingError {
        GatingError(.badWorkspace, message, element: node.localName, line: node.line)
    }

    static func number(_ node: XMLNode, _ name: String, default value: Double? = nil) throws(GatingError) -> Double {
        guard let s = node.attribute(name) else {
            if let value { return value }
            throw fail(node, "\(node.localName) needs the numeric attribute \(name)")
        }
        guard let v = Double(s.trimmingCharacters()), v.isFinite else {
            throw fail(node, "\(node.localName) attribute \(name) is not a finite number")
        }
        return v
    }

    static func count(_ node: XMLNode) throws(GatingError) -> Int? {
        guard let s = node.attribute("count") else { return nil }
        guard let v = Int(s.trimmingCharacters()), v >= -1 else {
            throw fail(node, "\(node.localName) count \"\(s)\" is not a count")
        }
        return v < 0 ? nil : v
    }

    public static func parse(_ root: XMLNode, file: String) throws(GatingError) -> FlowJoWorkspace {
        guard root.localName == "Workspace" else {
            throw fail(root, "the root element must be Workspace (a FlowJo 10 .wsp), not \(root.localName)")
        }
        if let v = root.attribute("version"), let major = Double(v.split(separator: ".").first.map(String.init) ?? ""),
            major < 20
        {
            throw fail(
                root,
                "workspace version \(v) is FlowJo 9 or older; only FlowJo 10 workspaces (version 20 and later) are read"
            )
        }
        var workspace = FlowJoWorkspace(
            file: file, flowJoVersion: root.attribute("flowJoVersion"), groups: [], samples: [])
        var sharedMatrices: [String: Matrix] = [:]
        if let matrices = root.child("Matrices") {
            for m in matrices.children("spilloverMatrix", namespace: transformsNS) {
                let matrix = try spilloverMatrix(m)
                if let id = m.attribute("id") { sharedMatrices[id] = matrix }
            }
        }
        if let groups = root.child("Groups") {
            for g in groups.children("GroupNode") {
                let name = g.attribute("name") ?? ""
                let refs =
                    g.child("Group")?.child("SampleRefs")?.children("SampleRef").compactMap { $0.attribute("sampleID") }
                    ?? []
                workspace.groups.append(Group(name: name, sampleIDs: refs))
            }
        }
        guard let list = root.child("SampleList") else { throw fail(root, "the workspace has no SampleList") }
        var seenIDs = Set<String>()
        for s in list.children("Sample") {
            var sample = try self.sample(s, shared: sharedMatrices)
            guard seenIDs.insert(sample.id).inserted else { throw fail(s, "sample id \(sample.id) appears twice") }
            sample.groups = workspace.groups.filter { $0.sampleIDs.contains(sample.id) }.map(\.name)
            workspace.samples.append(sample)
        }
        return workspace
    }

    static func spilloverMatrix(_ node: XMLNode) throws(GatingError) -> Matrix {
        let name = node.attribute("name") ?? "matrix"
        var detectors: [String] = []
        for p in node.child("parameters", namespace: dataTypeNS)?.children("parameter", namespace: dataTypeNS) ?? [] {
            guard let n = p.attribute("name"), !n.isEmpty else { throw fail(p, "a matrix parameter needs a name") }
            detectors.append(n)
        }
        guard !detectors.isEmpty, Set(detectors).count == detectors.count else {
            throw fail(node, "spilloverMatrix \(name) needs distinct parameters")
        }
        var rows = [[Double]](repeating: [], count: detectors.count)
        var seen = [Bool](repeating: false, count: detectors.count)
        for sp in node.children("spillover", namespace: transformsNS) {
            guard let src = sp.attribute("parameter"), let i = detectors.firstIndex(of: src), !seen[i] else {
                throw fail(sp, "spillover row of matrix \(name) names an unknown or repeated parameter")
            }
            seen[i] = true
            var row = [Double](repeating: 0, count: detectors.count)
            var set = [Bool](repeating: false, count: detectors.count)
            for c in sp.children("coefficient", namespace: transformsNS) {
                guard let dst = c.attribute("parameter"), let j = detectors.firstIndex(of: dst), !set[j] else {
                    throw fail(c, "coefficient of matrix \(name) names an unknown or repeated parameter")
                }
                set[j] = true
                row[j] = try number(c, "value")
            }
            guard set.allSatisfy({ $0 }) else {
                throw fail(sp, "spillover row \(src) of matrix \(name) lacks coefficients")
            }
            rows[i] = row
        }
        guard seen.allSatisfy({ $0 }) else { throw fail(node, "spilloverMatrix \(name) lacks rows") }
        let prefix = node.attribute("prefix") ?? "Comp-"
        let suffix = node.attribute("suffix") ?? ""
        let spill: SpilloverMatrix
        do {
            spill = try SpilloverMatrix(
                id: name, fluorochromes: detectors.map { prefix + $0 + suffix }, detectors: detectors, matrix: rows)
        } catch {
            var e = error
            e.line = node.line
            throw e
        }
        return Matrix(
            name: name, prefix: prefix, suffix: suffix, acquisitionDefined: name == "Acquisition-defined",
            spillover: spill)
    }

    static func transform(_ node: XMLNode) throws(GatingError) -> Transform? {
        guard node.namespace == transformsNS else { return nil }
        switch node.localName {
        case "linear":
            let lo = try number(node, "minRange", default: 0), hi = try number(node, "maxRange")
            let gain = try number(node, "gain", default: 1)
            guard hi > lo, gain > 0 else { throw fail(node, "linear transform needs maxRange > minRange and gain > 0") }
            return .linear(minRange: lo, maxRange: hi, gain: gain)
        case "log":
            let offset = try number(node, "offset"), decades = try number(node, "decades")
            guard offset > 0, decades > 0 else { throw fail(node, "log transform needs offset > 0 and decades > 0") }
            return .log(offset: offset, decades: decades)
        case "logicle":
            return .logicle(
                t: try number(node, "T"), w: try number(node, "W"), m: try number(node, "M"),
                a: try number(node, "A", default: 0))
        case "biex":
            let width = try number(node, "width"), pos = try number(node, "pos"),
                maxRange = try number(node, "maxRange")
            guard width < 0, pos > 0, maxRange > 0 else {
                throw fail(node, "biex transform needs width < 0, pos > 0, maxRange > 0")
            }
            return .biex(neg: try number(node, "neg", default: 0), width: width, pos: pos, maxRange: maxRange)
        case "fasinh":
            return .asinh(t: try number(node, "T"), m: try number(node, "M"), a: try number(node, "A", default: 0))
        default:
            throw fail(node, "unknown FlowJo transform \(node.localName)")
        }
    }

    static func sample(_ node: XMLNode, shared: [String: Matrix]) throws(GatingError) -> Sample {
        guard let ds = node.child("DataSet"), let uri = ds.attribute("uri"), let id = ds.attribute("sampleID") else {
            throw fail(node, "Sample needs a DataSet with uri and sampleID")
        }
        var keywords: [String: String] = [:]
        for k in node.child("Keywords")?.children("Keyword") ?? [] {
            if let n = k.attribute("name") { keywords[n] = k.attribute("value") ?? "" }
        }
        var transforms: [String: Transform] = [:]
        for t in node.child("Transformations")?.children ?? [] {
            guard let tr = try transform(t) else { continue }
            for p in t.children("parameter", namespace: dataTypeNS) {
                if let n = p.attribute("name") { transforms[n] = tr }
            }
        }
        var matrix: Matrix?
        if let m = node.child("spilloverMatrix", namespace: transformsNS) {
            matrix = try spilloverMatrix(m)
        } else if let ref = node.child("SampleNode")?.attribute("compensationID"), let m = shared[ref] {
            matrix = m
        }
        guard let root = node.child("SampleNode") else { throw fail(node, "Sample \(id) has no SampleNode") }
        var populations: [Population] = []
        try collect(root, parentPath: [], into: &populations)
        var seen = Set<[String]>()
        for p in populations where !seen.insert(p.path).inserted {
            throw GatingError(
                .badWorkspace, "sample \(id): population path \(p.pathString) appears twice", element: "Population",
                line: p.line)
        }
        let name = root.attribute("name") ?? ""
        return Sample(
            id: id, name: name, uri: uri, fileName: fileName(uri: uri), keywords: keywords,
            flowJoCount: try count(root),
            transforms: transforms, matrix: matrix, populations: populations, groups: [])
    }

    /// The last path component of a `file:` URI, percent-decoded.
    static func fileName(uri: String) -> String {
        let last = uri.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? uri
        var bytes: [UInt8] = []
        var it = Array(last.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%"), it.count >= 2,
                let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func collect(_ node: XMLNode, parentPath: [String], into out: inout [Population]) throws(GatingError) {
        guard let subs = node.child("Subpopulations") else { return }
        for child in subs.children {
            let kind = child.localName
            guard ["Population", "AndNode", "OrNode", "NotNode"].contains(kind) else { continue }
            guard let name = child.attribute("name"), !name.isEmpty else { throw fail(child, "\(kind) needs a name") }
            let path = parentPath + [name]
            let gate: PopulationGate
            if kind == "Population" {
                guard let g = child.child("Gate"), let geometry = g.children.first(where: { $0.namespace == gatingNS })
                else {
                    throw fail(child, "population \(path.joined(separator: "/")) has no gate")
                }
                gate = try self.gate(geometry, path: path)
            } else {
                let deps = child.child("Dependents")?.children("Dependent").compactMap { $0.attribute("name") } ?? []
                switch kind {
                case "AndNode":
                    guard deps.count >= 2 else { throw fail(child, "AndNode \(name) needs at least two dependents") }
                    gate = .and(deps)
                case "OrNode":
                    guard deps.count >= 2 else { throw fail(child, "OrNode \(name) needs at least two dependents") }
                    gate = .or(deps)
                default:
                    guard deps.count == 1 else { throw fail(child, "NotNode \(name) needs exactly one dependent") }
                    gate = .not(deps[0])
                }
            }
            out.append(Population(path: path, gate: gate, flowJoCount: try count(child), line: child.line))
            try collect(child, parentPath: path, into: &out)
        }
    }

    static func dimensionNames(_ node: XMLNode) throws(GatingError) -> [String] {
        var names: [String] = []
        for d in node.children("dimension", namespace: gatingNS) {
            guard let f = d.child("fcs-dimension", namespace: dataTypeNS), let n = f.attribute("name"), !n.isEmpty
            else {
                throw fail(d, "a gate dimension needs an fcs-dimension name")
            }
            names.append(n)
        }
        return names
    }

    static func vertices(_ node: XMLNode) throws(GatingError) -> [[Double]] {
        var out: [[Double]] = []
        for v in node.children("vertex", namespace: gatingNS) {
            var p: [Double] = []
            for c in v.children("coordinate", namespace: gatingNS) { p.append(try number(c, "value")) }
            guard p.count == 2 else { throw fail(v, "a vertex needs two coordinates") }
            out.append(p)
        }
        return out
    }

    static func gate(_ node: XMLNode, path: [String]) throws(GatingError) -> PopulationGate {
        let names = try dimensionNames(node)
        let label = path.joined(separator: "/")
        if node.attribute("eventsInside").map({ $0 == "0" }) ?? false {
            throw fail(node, "gate of \(label): eventsInside=0 (an inverted gate) is not supported")
        }
        switch node.localName {
        case "RectangleGate":
            var dims: [Dimension] = []
            for (d, n) in zip(node.children("dimension", namespace: gatingNS), names) {
                let lo = d.attribute("min").flatMap { Double($0.trimmingCharacters()) }
                let hi = d.attribute("max").flatMap { Double($0.trimmingCharacters()) }
                if (d.attribute("min") != nil && lo == nil) || (d.attribute("max") != nil && hi == nil)
                    || (lo.map { !$0.isFinite } ?? false)
                    || (hi.map { !$0.isFinite } ?? false)
                {
                    throw fail(d, "rectangle of \(label): min/max is not a finite number")
                }
                if let lo, let hi, lo > hi { throw fail(d, "rectangle of \(label): min > max") }
                dims.append(Dimension(.channel(n), min: lo, max: hi))
            }
            guard !dims.isEmpty else { throw fail(node, "rectangle of \(label) has no dimension") }
            return .geometry(.rectangle(dims))
        case "PolygonGate":
            let v = try vertices(node)
            guard names.count == 2, v.count >= 3 else {
                throw fail(node, "polygon of \(label) needs 2 dimensions and at least 3 vertices")
            }
            return .geometry(.polygon(names.map { Dimension(.channel($0)) }, vertices: v))
        case "EllipsoidGate":
            guard names.count == 2, let foci = node.child("foci", namespace: gatingNS),
                let edge = node.child("edge", namespace: gatingNS)
            else {
                throw fail(node, "ellipse of \(label) needs 2 dimensions, foci and edge")
            }
            let f = try vertices(foci), e = try vertices(edge)
            guard f.count == 2, e.count == 4 else {
                throw fail(node, "ellipse of \(label) needs 2 foci and 4 edge vertices")
            }
            guard let (mean, cov) = ellipse(foci: f, edge: e) else {
                throw fail(node, "ellipse of \(label) is degenerate")
            }
            // Coordinates are FlowJo display bins (0..256); the dimensions carry the display
            // transforms when a sample's strategy is built.
            return .geometry(
                .ellipsoid(names.map { Dimension(.channel($0)) }, mean: mean, covariance: cov, distanceSquare: 1))
        default:
            throw fail(node, "unsupported FlowJo gate \(node.localName) in \(label)")
        }
    }

    /// An ellipse from FlowJo's two foci and four edge points (the ends of both axes) as
    /// centre and covariance with distanceSquare 1: C = a^2 u u' + b^2 v v'.
    static func ellipse(foci: [[Double]], edge: [[Double]]) -> ([Double], [[Double]])? {
        let cx = (foci[0][0] + foci[1][0]) / 2, cy = (foci[0][1] + foci[1][1]) / 2
        func dist(_ p: [Double], _ q: [Double]) -> Double {
            ((p[0] - q[0]) * (p[0] - q[0]) + (p[1] - q[1]) * (p[1] - q[1])).squareRoot()
        }
        let d1 = dist(edge[0], edge[1]), d2 = dist(edge[2], edge[3])
        let major = d1 >= d2 ? (edge[0], edge[1]) : (edge[2], edge[3])
        let a = max(d1, d2) / 2, b = min(d1, d2) / 2
        guard a > 0, b > 0, a.isFinite, b.isFinite else { return nil }
        var ux = major.1[0] - major.0[0], uy = major.1[1] - major.0[1]
        let n = (ux * ux + uy * uy).squareRoot()
        ux /= n
        uy /= n
        let vx = -uy, vy = ux
        let cov = [
            [a * a * ux * ux + b * b * vx * vx, a * a * ux * uy + b * b * vx * vy],
            [a * a * ux * uy + b * b * vx * vy, a * a * uy * uy + b * b * vy * vy],
        ]
        return ([cx, cy], cov)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private func pow10(_ x: Double) -> Double { pow(10, x) }

extension FlowJoWorkspace.Sample {
    /// The id of the compensation matrix in strategies built from a sample.
    public static let matrixID = "flowjo-compensation"

    /// The display transform of a channel (compensated names take their detector's), or FlowJo's
    /// default, linear over 0 ... 262144.
    public func transform(for channel: String) -> FlowJoWorkspace.Transform {
        if let t = transforms[channel] { return t }
        if let m = matrix, let d = m.spillover.detectors.first(where: { m.compensatedName($0) == channel }),
            let t = transforms[d]
        {
            return t
        }
        return .linear(minRange: 0, maxRange: 262_144, gain: 1)
    }

    /// FlowJo's display resolution: polygons and ellipses are drawn (and, in FlowJo, evaluated)
    /// on 256 x 256 bins; ellipse coordinates are stored in these bins.
    public static let displayBins = 256

    /// True for the channel FlowJo treats as Time (`Time` by name, or `$PnTYPE` Time).
    public func isTime(_ channel: String) -> Bool {
        if channel.lowercased() == "time" { return true }
        for (k, v) in keywords where v == channel && k.hasPrefix("$P") && k.hasSuffix("N") {
            if keywords["\(k.dropLast())TYPE"]?.trimmingCharacters().lowercased() == "time" { return true }
        }
        return false
    }

    /// FlowJo's data units over ours for a channel: 1, except Time. Our Time is ticks x
    /// `$TIMESTEP` (Gating-ML's preprocessing); FlowJo shows ticks x the Time transform's `gain`,
    /// which it derives from `$BTIM`/`$ETIM` and the data range (flowWorkspace#199, #356), so its
    /// Time gates are in those units. The gain is applied by `Transform.display`; this undoes the
    /// time step (the workspace's copy of the file's `$TIMESTEP`; none: our Time is ticks).
    public func timeMultiplier(_ channel: String) -> Double {
        guard isTime(channel), let ts = keywords["$TIMESTEP"].flatMap({ Double($0.trimmingCharacters()) }),
            ts > 0, ts.isFinite
        else { return 1 }
        return 1 / ts
    }

    /// A gate coordinate of a channel (FlowJo's data units) in our units: FlowJo's linear `gain`
    /// and Time's units undone.
    public func ourUnits(_ v: Double, channel: String) -> Double {
        var m = timeMultiplier(channel)
        if case .linear(_, _, let gain) = transform(for: channel), gain > 0 { m *= gain }
        return v / m
    }

    /// The display transformation of a channel: FlowJo's axis transform onto [0, 1], with Time in
    /// FlowJo's units; `bins`: FlowJo-exact binning.
    public func displayTransformation(for channel: String, bins: Int? = nil) throws(GatingError) -> Transformation {
        var t = try transform(for: channel).display(multiplier: timeMultiplier(channel), bins: bins)
        t.id = (bins == nil ? "flowjo-display:" : "flowjo-binned:") + channel
        return t
    }

    /// How a FlowJo sample's gates are evaluated.
    public enum Evaluation: String, Sendable, Hashable, CaseIterable {
        /// Every gate on the display scale of its axes, on exact event values (what FlowJo draws;
        /// FlowKit evaluates the same way).
        case display
        /// FlowJo-exact: as `display`, but polygons and ellipses are tested on FlowJo's 256-bin
        /// display (event positions and polygon vertices rounded to the nearest bin), as FlowJo
        /// computes their counts; rectangles and quadrants stay exact (docs/validation.md).
        case binned
    }

    /// The sample's gate tree as a Gating-ML strategy: gate ids are FlowJo gate paths
    /// (`Time/Singlets/...`), compensated channels use the sample's matrix, and every gate is
    /// evaluated on the display scale of its axes (FlowJo stores rectangle and polygon
    /// coordinates in data units, ellipses in 256-bin display units; both are moved onto the
    /// [0, 1] display scale here, so an edge that is straight on FlowJo's plot is straight here).
    public func strategy(_ evaluation: Evaluation = .display) throws(GatingError) -> GatingStrategy {
        var strategy = GatingStrategy()
        if let m = matrix { strategy.matrices[Self.matrixID] = m.spillover }
        let bins = Self.displayBins
        func dimension(_ name: String, binned: Bool) throws(GatingError) -> (Dimension, Transformation) {
            var d = Dimension(.channel(name))
            if let m = matrix, m.spillover.fluorochromes.contains(name) {
                d.compensation = .matrix(Self.matrixID)
            } else if name.hasPrefix("Comp-") && matrix == nil {
                throw GatingError(
                    .unknownChannel, "sample \(id): a gate uses \(name), but the sample has no compensation matrix",
                    element: name)
            }
            let t = try displayTransformation(for: name, bins: binned ? bins : nil)
            if strategy.transformations[t.id!] == nil { strategy.transformations[t.id!] = t }
            d.transformation = t.id
            return (d, t)
        }
        func onDisplay(_ v: Double?, _ t: Transformation, _ channel: String) throws(GatingError) -> Double? {
            guard let v else { return nil }
            let p = t.apply(ourUnits(v, channel: channel))
            guard !p.isNaN else {
                throw GatingError(.badGate, "sample \(id): gate coordinate \(v) has no position on its display scale")
            }
            return p
        }
        let binnedShapes = evaluation == .binned
        let paths = Set(populations.map(\.pathString))
        func reference(_ dependent: String, _ p: FlowJoWorkspace.Population) throws(GatingError) -> GateReference {
            guard paths.contains(dependent) else {
                throw GatingError(
                    .unknownReference,
                    "sample \(id): \(p.pathString) depends on \(dependent), which is not a population of the sample",
                    element: p.name, line: p.line)
            }
            return GateReference(dependent)
        }
        for p in populations {
            let parent = p.path.count > 1 ? p.path.dropLast().joined(separator: "/") : nil
            let kind: GateKind
            switch p.gate {
            case .geometry(let geometry):
                switch geometry {
                case .rectangle(let dims):
                    // FlowJo tests rectangles on event values; the display transform is monotonic,
                    // so the bounds move onto the display scale unchanged in meaning.
                    var out: [Dimension] = []
                    for d in dims {
                        var (nd, t) = try dimension(d.source.description, binned: false)
                        var unscaled = t
                        unscaled.bins = nil
                        nd.min = try onDisplay(d.min, unscaled, d.source.description)
                        nd.max = try onDisplay(d.max, unscaled, d.source.description)
                        out.append(nd)
                    }
                    kind = .rectangle(out)
                case .polygon(let dims, let vertices):
                    var out: [Dimension] = []
                    var transforms: [Transformation] = []
                    for d in dims {
                        let (nd, t) = try dimension(d.source.description, binned: binnedShapes)
                        out.append(nd)
                        transforms.append(t)
                    }
                    var moved: [[Double]] = []
                    for v in vertices {
                        var p: [Double] = []
                        for (k, c) in v.enumerated() {
                            var exact = transforms[k]
                            exact.bins = nil
                            var q = try onDisplay(c, exact, dims[k].source.description)!
                            // FlowJo-exact: vertices on the bin grid, as FlowJo rasterises the gate.
                            if binnedShapes { q = (q * Double(bins)).rounded(.toNearestOrAwayFromZero) / Double(bins) }
                            p.append(q)
                        }
                        moved.append(p)
                    }
                    kind = .polygon(out, vertices: moved)
                case .ellipsoid(let dims, let mean, let cov, let d2):
                    var out: [Dimension] = []
                    for d in dims { out.append(try dimension(d.source.description, binned: binnedShapes).0) }
                    // FlowJo's 256 display bins onto the [0, 1] display scale.
                    let s = Double(bins)
                    kind = .ellipsoid(
                        out, mean: mean.map { $0 / s }, covariance: cov.map { $0.map { $0 / (s * s) } },
                        distanceSquare: d2)
                default:
                    kind = geometry
                }
            case .and(let deps):
                var refs: [GateReference] = []
                for d in deps { refs.append(try reference(d, p)) }
                kind = .and(refs)
            case .or(let deps):
                var refs: [GateReference] = []
                for d in deps { refs.append(try reference(d, p)) }
                kind = .or(refs)
            case .not(let dep):
                kind = .not(try reference(dep, p))
            }
            strategy.gates.append(Gate(id: p.pathString, parentID: parent, kind: kind))
        }
        return strategy
    }
}
