import SafeXML

/// Reads Gating-ML 2.0 documents (namespaces gating, transformations, datatypes) into a
/// `GatingStrategy`. Strict: an unknown or malformed element is an error naming the element and
/// its line; DOCTYPE and entities are refused before parsing (SafeXML).
public enum GatingMLReader {
    public static let gatingNS = "http://www.isac-net.org/std/Gating-ML/v2.0/gating"
    public static let transformsNS = "http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
    public static let dataTypeNS = "http://www.isac-net.org/std/Gating-ML/v2.0/datatypes"

    /// Reads a Gating-ML file.
    public static func read(path: String) throws(GatingError) -> GatingStrategy {
        try read(name: path) { () throws(XMLError) in try XMLEventReader(path: path) }
    }

    /// Reads a Gating-ML document from memory.
    public static func read(bytes: [UInt8], name: String = "<memory>") throws(GatingError) -> GatingStrategy {
        try read(name: name) { () throws(XMLError) in try XMLEventReader(bytes: bytes, name: name) }
    }

    /// Parses what `open` reads; every error names `name`.
    private static func read(
        name: String, _ open: () throws(XMLError) -> XMLEventReader
    ) throws(GatingError) -> GatingStrategy {
        try readDocument(name: name, open) { (root) throws(GatingError) in try parse(root, file: name) }
    }

    /// Reads a whole XML document into a tree and hands it to `parse`; XML and parse errors
    /// come back as `GatingError`s naming `name` (shared by Gating-ML and FlowJo workspaces).
    static func readDocument<T>(
        name: String, maxNodes: Int = 1_000_000, _ open: () throws(XMLError) -> XMLEventReader,
        _ parse: (XMLNode) throws(GatingError) -> T
    ) throws(GatingError) -> T {
        do {
            return try parse(try XMLNode.parse(try open(), maxNodes: maxNodes))
        } catch let e as XMLError {
            throw GatingError(.xml, e.message, element: nil, line: e.line, file: name)
        } catch let e as GatingError {
            var copy = e
            copy.file = name
            throw copy
        } catch {
            throw GatingError(.xml, "\(error)", file: name)
        }
    }

    // MARK: Parsing

    static func fail(_ node: XMLNode, _ message: String) -> GatingError {
        GatingError(.badGatingML, message, element: node.localName, line: node.line)
    }

    static func isCustomInfo(_ n: XMLNode) -> Bool { n.localName == "custom_info" && n.namespace == dataTypeNS }

    /// Children other than `custom_info`.
    static func elements(_ node: XMLNode) -> [XMLNode] { node.children.filter { !isCustomInfo($0) } }

    static func attr(_ node: XMLNode, _ name: String) -> String? { node.attribute(name) }

    static func requiredAttr(_ node: XMLNode, _ name: String) throws(GatingError) -> String {
        guard let v = node.attribute(name), !v.isEmpty else {
            throw fail(node, "\(node.localName) needs the attribute \(name)")
        }
        return v
    }

    static func number(_ node: XMLNode, _ name: String, required: Bool = true) throws(GatingError) -> Double? {
        guard let s = node.attribute(name) else {
            if required { throw fail(node, "\(node.localName) needs the numeric attribute \(name)") }
            return nil
        }
        guard let v = Double(s.trimmingCharacters()), v.isFinite else {
            throw fail(node, "\(node.localName) attribute \(name) is not a finite number")
        }
        return v
    }

    static func expect(_ node: XMLNode, _ name: String, _ ns: String) throws(GatingError) {
        guard node.localName == name, node.namespace == ns else {
            throw fail(node, "unexpected element \(node.localName) (expected \(name))")
        }
    }

    public static func parse(_ root: XMLNode, file: String) throws(GatingError) -> GatingStrategy {
        guard root.localName == "Gating-ML", root.namespace == gatingNS else {
            throw fail(root, "the root element must be gating:Gating-ML (namespace \(gatingNS))")
        }
        var strategy = GatingStrategy()
        var gateNodes: [XMLNode] = []
        for child in elements(root) {
            switch (child.namespace, child.localName) {
            case (transformsNS, "transformation"):
                let t = try transformation(child)
                if strategy.transformations[t.id!] != nil {
                    throw fail(child, "transformation id \(t.id!) is defined twice")
                }
                strategy.transformations[t.id!] = t
            case (transformsNS, "spectrumMatrix"):
                let m = try spectrumMatrix(child)
                if strategy.matrices[m.id!] != nil { throw fail(child, "spectrumMatrix id \(m.id!) is defined twice") }
                strategy.matrices[m.id!] = m
            case (gatingNS, "RectangleGate"), (gatingNS, "PolygonGate"), (gatingNS, "EllipsoidGate"),
                (gatingNS, "QuadrantGate"),
                (gatingNS, "BooleanGate"):
                gateNodes.append(child)
            default:
                throw fail(child, "unknown element \(child.localName) in Gating-ML")
            }
        }
        for node in gateNodes { strategy.gates += try gates(node) }
        var seen = Set<String>()
        for g in strategy.gates where !seen.insert(g.id).inserted {
            throw GatingError(.badGatingML, "gate id \(g.id) is defined twice", element: g.id)
        }
        return strategy
    }

    static func transformation(_ node: XMLNode) throws(GatingError) -> Transformation {
        let id = try requiredAttr(node, "id")
        let boundMin = try number(node, "boundMin", required: false)
        let boundMax = try number(node, "boundMax", required: false)
        let kids = elements(node)
        guard kids.count == 1, let f = kids.first, f.namespace == transformsNS else {
            throw fail(
                node, "transformation \(id) must hold exactly one of flin, flog, fasinh, logicle, hyperlog, fratio")
        }
        let kind: Transformation.Kind
        switch f.localName {
        case "flin": kind = .linear(t: try number(f, "T")!, a: try number(f, "A")!)
        case "flog": kind = .log(t: try number(f, "T")!, m: try number(f, "M")!)
        case "fasinh": kind = .asinh(t: try number(f, "T")!, m: try number(f, "M")!, a: try number(f, "A")!)
        case "logicle":
            kind = .logicle(
                t: try number(f, "T")!, w: try number(f, "W")!, m: try number(f, "M")!, a: try number(f, "A")!)
        case "hyperlog":
            kind = .hyperlog(
                t: try number(f, "T")!, w: try number(f, "W")!, m: try number(f, "M")!, a: try number(f, "A")!)
        case "fratio":
            let dims = elements(f)
            guard dims.count == 2, dims.allSatisfy({ $0.localName == "fcs-dimension" && $0.namespace == dataTypeNS })
            else {
                throw fail(f, "fratio \(id) needs exactly two fcs-dimension elements")
            }
            kind = .ratio(
                a: try number(f, "A")!, b: try number(f, "B")!, c: try number(f, "C")!,
                numerator: try requiredAttr(dims[0], "name"),
                denominator: try requiredAttr(dims[1], "name"))
        default:
            throw fail(f, "unknown transformation \(f.localName)")
        }
        do {
            return try Transformation(id: id, kind, boundMin: boundMin, boundMax: boundMax)
        } catch {
            var e = error
            e.line = f.line
            throw e
        }
    }

    static func names(_ node: XMLNode) throws(GatingError) -> [String] {
        var out: [String] = []
        for d in elements(node) {
            try expect(d, "fcs-dimension", dataTypeNS)
            out.append(try requiredAttr(d, "name"))
        }
        return out
    }

    static func spectrumMatrix(_ node: XMLNode) throws(GatingError) -> SpilloverMatrix {
        let id = try requiredAttr(node, "id")
        let inverted = attr(node, "matrix-inverted-already").map { $0 == "true" || $0 == "1" } ?? false
        var fluorochromes: [String]?
        var detectors: [String]?
        var rows: [[Double]] = []
        for child in elements(node) {
            switch (child.namespace, child.localName) {
            case (transformsNS, "fluorochromes"): fluorochromes = try names(child)
            case (transformsNS, "detectors"): detectors = try names(child)
            case (transformsNS, "spectrum"):
                var row: [Double] = []
                for c in elements(child) {
                    try expect(c, "coefficient", transformsNS)
                    row.append(try number(c, "value")!)
                }
                rows.append(row)
            default: throw fail(child, "unknown element \(child.localName) in spectrumMatrix \(id)")
            }
        }
        guard let f = fluorochromes, let d = detectors else {
            throw fail(node, "spectrumMatrix \(id) needs fluorochromes and detectors")
        }
        do {
            return try SpilloverMatrix(id: id, fluorochromes: f, detectors: d, matrix: rows, invertedAlready: inverted)
        } catch {
            var e = error
            e.line = node.line
            throw e
        }
    }

    /// A `dimension` or `divider`'s compensation, transformation and source.
    static func dimension(_ node: XMLNode) throws(GatingError) -> Dimension {
        let comp = CompensationSource(reference: try requiredAttr(node, "compensation-ref"))
        let transform = attr(node, "transformation-ref")
        var source: DimensionSource?
        for child in elements(node) {
            switch (child.namespace, child.localName) {
            case (dataTypeNS, "fcs-dimension"): source = .channel(try requiredAttr(child, "name"))
            case (dataTypeNS, "new-dimension"): source = .ratio(try requiredAttr(child, "transformation-ref"))
            case (gatingNS, "value") where node.localName == "divider": continue
            default: throw fail(child, "unknown element \(child.localName) in \(node.localName)")
            }
        }
        guard let source else { throw fail(node, "\(node.localName) needs an fcs-dimension or new-dimension") }
        return Dimension(
            source, compensation: comp, transformation: transform, min: try number(node, "min", required: false),
            max: try number(node, "max", required: false))
    }

    static func coordinates(_ node: XMLNode) throws(GatingError) -> [Double] {
        var out: [Double] = []
        for c in elements(node) {
            try expect(c, "coordinate", gatingNS)
            out.append(try number(c, "value")!)
        }
        return out
    }

    static func gates(_ node: XMLNode) throws(GatingError) -> [Gate] {
        let id = try requiredAttr(node, "id")
        let parent = attr(node, "parent_id")
        let kids = elements(node)
        switch node.localName {
        case "RectangleGate":
            var dims: [Dimension] = []
            for k in kids {
                try expect(k, "dimension", gatingNS)
                let d = try dimension(k)
                if let lo = d.min, let hi = d.max, lo > hi { throw fail(k, "gate \(id): min > max") }
                dims.append(d)
            }
            guard !dims.isEmpty else { throw fail(node, "RectangleGate \(id) has no dimension") }
            return [Gate(id: id, parentID: parent, kind: .rectangle(dims))]
        case "PolygonGate":
            var dims: [Dimension] = []
            var vertices: [[Double]] = []
            for k in kids {
                switch k.localName {
                case "dimension" where k.namespace == gatingNS: dims.append(try dimension(k))
                case "vertex" where k.namespace == gatingNS: vertices.append(try coordinates(k))
                default: throw fail(k, "unknown element \(k.localName) in PolygonGate \(id)")
                }
            }
            guard dims.count == 2, vertices.count >= 3, vertices.allSatisfy({ $0.count == 2 }) else {
                throw fail(node, "PolygonGate \(id) needs 2 dimensions and at least 3 two-coordinate vertices")
            }
            return [Gate(id: id, parentID: parent, kind: .polygon(dims, vertices: vertices))]
        case "EllipsoidGate":
            var dims: [Dimension] = []
            var mean: [Double] = []
            var covariance: [[Double]] = []
            var d2: Double?
            for k in kids {
                switch k.localName {
                case "dimension" where k.namespace == gatingNS: dims.append(try dimension(k))
                case "mean" where k.namespace == gatingNS: mean = try coordinates(k)
                case "covarianceMatrix" where k.namespace == gatingNS:
                    for row in elements(k) {
                        try expect(row, "row", gatingNS)
                        var r: [Double] = []
                        for e in elements(row) {
                            try expect(e, "entry", gatingNS)
                            r.append(try number(e, "value")!)
                        }
                        covariance.append(r)
                    }
                case "distanceSquare" where k.namespace == gatingNS: d2 = try number(k, "value")
                default: throw fail(k, "unknown element \(k.localName) in EllipsoidGate \(id)")
                }
            }
            let n = dims.count
            guard n >= 1, mean.count == n, covariance.count == n, covariance.allSatisfy({ $0.count == n }), let d2,
                d2 >= 0
            else {
                throw fail(
                    node,
                    "EllipsoidGate \(id) needs n dimensions, an n-coordinate mean, an n x n covariance and distanceSquare >= 0"
                )
            }
            guard LinearAlgebra.inverse(covariance) != nil else {
                throw GatingError(
                    .badGate, "EllipsoidGate \(id): the covariance matrix is singular", element: id, line: node.line)
            }
            return [
                Gate(
                    id: id, parentID: parent,
                    kind: .ellipsoid(dims, mean: mean, covariance: covariance, distanceSquare: d2))
            ]
        case "QuadrantGate":
            var dividers: [Divider] = []
            var quadrants: [Gate] = []
            for k in kids where k.localName == "divider" && k.namespace == gatingNS {
                let did = try requiredAttr(k, "id")
                var values: [Double] = []
                for v in k.children(("value"), namespace: gatingNS) {
                    guard let x = Double(v.text.trimmingCharacters()), x.isFinite else {
                        throw fail(v, "divider \(did) value is not a number")
                    }
                    values.append(x)
                }
                guard !values.isEmpty else { throw fail(k, "divider \(did) has no value") }
                dividers.append(Divider(id: did, dimension: try dimension(k), values: values))
            }
            for k in kids {
                switch k.localName {
                case "divider" where k.namespace == gatingNS: continue
                case "Quadrant" where k.namespace == gatingNS:
                    let qid = try requiredAttr(k, "id")
                    var positions: [String: Double] = [:]
                    for p in elements(k) {
                        try expect(p, "position", gatingNS)
                        let ref = try requiredAttr(p, "divider_ref")
                        guard dividers.contains(where: { $0.id == ref }) else {
                            throw GatingError(
                                .unknownReference, "quadrant \(qid) refers to divider \(ref), which is not defined",
                                element: qid, line: p.line)
                        }
                        positions[ref] = try number(p, "location")
                    }
                    quadrants.append(
                        Gate(
                            id: qid, parentID: parent, kind: .quadrant(dividers: dividers, positions: positions),
                            quadrantGateID: id))
                default: throw fail(k, "unknown element \(k.localName) in QuadrantGate \(id)")
                }
            }
            guard !dividers.isEmpty, !quadrants.isEmpty else {
                throw fail(node, "QuadrantGate \(id) needs dividers and quadrants")
            }
            return quadrants
        case "BooleanGate":
            guard kids.count == 1, let op = kids.first, op.namespace == gatingNS else {
                throw fail(node, "BooleanGate \(id) must hold exactly one of and, or, not")
            }
            var refs: [GateReference] = []
            for r in elements(op) {
                try expect(r, "gateReference", gatingNS)
                let complement = r.attribute("use-as-complement").map { $0 == "true" || $0 == "1" } ?? false
                refs.append(GateReference(try requiredAttr(r, "ref"), complement: complement))
            }
            let kind: GateKind
            switch op.localName {
            case "and":
                guard refs.count >= 2 else { throw fail(op, "and in \(id) needs at least two operands") }
                kind = .and(refs)
            case "or":
                guard refs.count >= 2 else { throw fail(op, "or in \(id) needs at least two operands") }
                kind = .or(refs)
            case "not":
                guard refs.count == 1 else { throw fail(op, "not in \(id) needs exactly one operand") }
                kind = .not(refs[0])
            default: throw fail(op, "unknown boolean operator \(op.localName)")
            }
            return [Gate(id: id, parentID: parent, kind: kind)]
        default:
            throw fail(node, "unknown gate \(node.localName)")
        }
    }
}
