#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a `GatingStrategy` as a Gating-ML 2.0 document that `GatingMLReader` reads back to the
/// same strategy (numbers in shortest round-trip form).
public enum GatingMLWriter {
    public static func write(_ s: GatingStrategy, comment: String? = nil) -> String {
        var o = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        if let comment { o += "<!-- \(comment.replacingDashes()) -->\n" }
        o +=
            "<gating:Gating-ML xmlns:gating=\"\(GatingMLReader.gatingNS)\" xmlns:transforms=\"\(GatingMLReader.transformsNS)\" xmlns:data-type=\"\(GatingMLReader.dataTypeNS)\">\n"
        for id in s.transformations.keys.sorted() { o += transformation(id, s.transformations[id]!) }
        for id in s.matrices.keys.sorted() { o += matrix(id, s.matrices[id]!) }
        var written = Set<String>()
        for g in s.gates {
            if let q = g.quadrantGateID {
                guard written.insert(q).inserted else { continue }
                o += quadrantGate(q, s.gates.filter { $0.quadrantGateID == q })
            } else {
                o += gate(g)
            }
        }
        return o + "</gating:Gating-ML>\n"
    }

    static func num(_ v: Double) -> String { "\(v)" }
    static func attr(_ v: String) -> String {
        var o = ""
        for c in v {
            switch c {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case "\"": o += "&quot;"
            default: o.append(c)
            }
        }
        return o
    }

    static func transformation(_ id: String, _ t: Transformation) -> String {
        var o = "  <transforms:transformation transforms:id=\"\(attr(id))\""
        if let b = t.boundMin { o += " transforms:boundMin=\"\(num(b))\"" }
        if let b = t.boundMax { o += " transforms:boundMax=\"\(num(b))\"" }
        o += ">\n    "
        switch t.kind {
        case .linear(let tt, let a): o += "<transforms:flin transforms:T=\"\(num(tt))\" transforms:A=\"\(num(a))\"/>"
        case .log(let tt, let m): o += "<transforms:flog transforms:T=\"\(num(tt))\" transforms:M=\"\(num(m))\"/>"
        case .asinh(let tt, let m, let a):
            o +=
                "<transforms:fasinh transforms:T=\"\(num(tt))\" transforms:M=\"\(num(m))\" transforms:A=\"\(num(a))\"/>"
        case .logicle(let tt, let w, let m, let a):
            o +=
                "<transforms:logicle transforms:T=\"\(num(tt))\" transforms:W=\"\(num(w))\" transforms:M=\"\(num(m))\" transforms:A=\"\(num(a))\"/>"
        case .hyperlog(let tt, let w, let m, let a):
            o +=
                "<transforms:hyperlog transforms:T=\"\(num(tt))\" transforms:W=\"\(num(w))\" transforms:M=\"\(num(m))\" transforms:A=\"\(num(a))\"/>"
        case .ratio(let a, let b, let c, let n, let d):
            o += "<transforms:fratio transforms:A=\"\(num(a))\" transforms:B=\"\(num(b))\" transforms:C=\"\(num(c))\">"
            o +=
                "<data-type:fcs-dimension data-type:name=\"\(attr(n))\"/><data-type:fcs-dimension data-type:name=\"\(attr(d))\"/></transforms:fratio>"
        case .flowJoLog(let offset, let decades):
            // flog with the same scale; FlowJo keeps values below the offset on the axis.
            o +=
                "<transforms:flog transforms:T=\"\(num(offset * pow(10, decades)))\" transforms:M=\"\(num(decades))\"/>"
        case .flowJoBiex(let neg, let width, let pos, let maxRange):
            // Gating-ML has no table transform: the logicle CytoML maps FlowJo biex to (close, not equal).
            let w = min(log10(-width) / 2, pos / 2)
            o +=
                "<!-- FlowJo biex neg \(num(neg)) width \(num(width)) pos \(num(pos)) maxRange \(num(maxRange)), approximated by logicle -->"
                + "<transforms:logicle transforms:T=\"\(num(maxRange))\" transforms:W=\"\(num(w))\" transforms:M=\"\(num(pos))\" transforms:A=\"\(num(max(-w, min(neg, pos - 2 * w))))\"/>"
        }
        return o + "\n  </transforms:transformation>\n"
    }

    static func matrix(_ id: String, _ m: SpilloverMatrix) -> String {
        var o =
            "  <transforms:spectrumMatrix transforms:id=\"\(attr(id))\"\(m.invertedAlready ? " transforms:matrix-inverted-already=\"true\"" : "")>\n"
        o +=
            "    <transforms:fluorochromes>"
            + m.fluorochromes.map { "<data-type:fcs-dimension data-type:name=\"\(attr($0))\"/>" }.joined()
            + "</transforms:fluorochromes>\n"
        o +=
            "    <transforms:detectors>"
            + m.detectors.map { "<data-type:fcs-dimension data-type:name=\"\(attr($0))\"/>" }.joined()
            + "</transforms:detectors>\n"
        for row in m.matrix {
            o +=
                "    <transforms:spectrum>"
                + row.map { "<transforms:coefficient transforms:value=\"\(num($0))\"/>" }.joined()
                + "</transforms:spectrum>\n"
        }
        return o + "  </transforms:spectrumMatrix>\n"
    }

    static func dimensionBody(_ d: Dimension) -> String {
        switch d.source {
        case .channel(let n): "<data-type:fcs-dimension data-type:name=\"\(attr(n))\"/>"
        case .ratio(let id): "<data-type:new-dimension data-type:transformation-ref=\"\(attr(id))\"/>"
        }
    }

    static func dimensionAttributes(_ d: Dimension) -> String {
        var o = " gating:compensation-ref=\"\(attr(d.compensation.description))\""
        if let t = d.transformation { o += " gating:transformation-ref=\"\(attr(t))\"" }
        return o
    }

    static func head(_ tag: String, _ g: Gate, id: String? = nil) -> String {
        "  <gating:\(tag) gating:id=\"\(attr(id ?? g.id))\""
            + (g.parentID.map { " gating:parent_id=\"\(attr($0))\"" } ?? "") + ">\n"
    }

    static func gate(_ g: Gate) -> String {
        switch g.kind {
        case .rectangle(let dims):
            var o = head("RectangleGate", g)
            for d in dims {
                o += "    <gating:dimension\(dimensionAttributes(d))"
                if let v = d.min { o += " gating:min=\"\(num(v))\"" }
                if let v = d.max { o += " gating:max=\"\(num(v))\"" }
                o += ">\(dimensionBody(d))</gating:dimension>\n"
            }
            return o + "  </gating:RectangleGate>\n"
        case .polygon(let dims, let vertices):
            var o = head("PolygonGate", g)
            for d in dims {
                o += "    <gating:dimension\(dimensionAttributes(d))>\(dimensionBody(d))</gating:dimension>\n"
            }
            for v in vertices {
                o +=
                    "    <gating:vertex>" + v.map { "<gating:coordinate data-type:value=\"\(num($0))\"/>" }.joined()
                    + "</gating:vertex>\n"
            }
            return o + "  </gating:PolygonGate>\n"
        case .ellipsoid(let dims, let mean, let cov, let d2):
            var o = head("EllipsoidGate", g)
            for d in dims {
                o += "    <gating:dimension\(dimensionAttributes(d))>\(dimensionBody(d))</gating:dimension>\n"
            }
            o +=
                "    <gating:mean>" + mean.map { "<gating:coordinate data-type:value=\"\(num($0))\"/>" }.joined()
                + "</gating:mean>\n"
            o +=
                "    <gating:covarianceMatrix>"
                + cov.map {
                    "<gating:row>" + $0.map { "<gating:entry data-type:value=\"\(num($0))\"/>" }.joined()
                        + "</gating:row>"
                }.joined() + "</gating:covarianceMatrix>\n"
            o += "    <gating:distanceSquare data-type:value=\"\(num(d2))\"/>\n"
            return o + "  </gating:EllipsoidGate>\n"
        case .and(let refs), .or(let refs):
            let op: String
            if case .and = g.kind { op = "and" } else { op = "or" }
            return head("BooleanGate", g) + "    <gating:\(op)>" + refs.map(reference).joined()
                + "</gating:\(op)>\n  </gating:BooleanGate>\n"
        case .not(let r):
            return head("BooleanGate", g) + "    <gating:not>" + reference(r)
                + "</gating:not>\n  </gating:BooleanGate>\n"
        case .quadrant:
            return quadrantGate(g.id, [g])
        }
    }

    static func reference(_ r: GateReference) -> String {
        "<gating:gateReference gating:ref=\"\(attr(r.id))\"\(r.complement ? " gating:use-as-complement=\"true\"" : "")/>"
    }

    static func quadrantGate(_ id: String, _ quadrants: [Gate]) -> String {
        guard let first = quadrants.first, case .quadrant(let dividers, _) = first.kind else { return "" }
        var o = head("QuadrantGate", first, id: id)
        for dv in dividers {
            o +=
                "    <gating:divider gating:id=\"\(attr(dv.id))\"\(dimensionAttributes(dv.dimension))>\(dimensionBody(dv.dimension))"
            o += dv.values.map { "<gating:value>\(num($0))</gating:value>" }.joined() + "</gating:divider>\n"
        }
        for q in quadrants {
            guard case .quadrant(_, let positions) = q.kind else { continue }
            o += "    <gating:Quadrant gating:id=\"\(attr(q.id))\">"
            for k in positions.keys.sorted() {
                o += "<gating:position gating:divider_ref=\"\(attr(k))\" gating:location=\"\(num(positions[k]!))\"/>"
            }
            o += "</gating:Quadrant>\n"
        }
        return o + "  </gating:QuadrantGate>\n"
    }
}

extension String {
    /// XML comments may not hold "--".
    fileprivate func replacingDashes() -> String {
        var o = ""
        for c in self { o.append(c == "-" && o.last == "-" ? " " : c) }
        return o
    }
}
