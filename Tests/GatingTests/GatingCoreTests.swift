import FCSParser
import Foundation
import TestSupport
import Testing

@testable import Gating

/// The gating core on our own fixtures (no ../shared needed): each gate, transform and
/// compensation kind against expectations computed here independently, plus differential
/// (fast vs scalar) and property tests.
@Suite("Gating core")
struct GatingCoreTests {
    static let fixture = Paths.fixtures.appendingPathComponent("gatingml/all-kinds.xml").path

    /// Independent forward functions (display position -> value) from the published formulas.
    static func logicleForward(_ y: Double, t: Double, w: Double, m: Double, a: Double) -> Double {
        let ww = w / (m + a), x2 = a / (m + a), x1 = x2 + ww, x0 = x2 + 2 * ww, b = (m + a) * log(10.0)
        var lo = 1e-300, hi = b  // d: w (b + d) = 2 ln(b / d)
        for _ in 0..<300 {
            let mid = (lo + hi) / 2
            if 2 * log(b / mid) - ww * (b + mid) > 0 { lo = mid } else { hi = mid }
        }
        let d = ww == 0 ? b : (lo + hi) / 2
        let ca = exp(x0 * (b + d)), mfa = exp(b * x1) - ca * exp(-d * x1)
        let aa = t / ((exp(b) - mfa) - ca * exp(-d)), c = ca * aa, f = mfa * aa
        func s(_ v: Double) -> Double { aa * exp(b * v) - c * exp(-d * v) - f }
        return y >= x1 ? s(y) : -s(2 * x1 - y)
    }

    static func hyperlogForward(_ y: Double, t: Double, w: Double, m: Double, a: Double) -> Double {
        let ww = w / (m + a), x2 = a / (m + a), x1 = x2 + ww, x0 = x2 + 2 * ww, b = (m + a) * log(10.0)
        let ca = exp(b * x0) / ww, fa = exp(b * x1) + ca * x1
        let aa = t / (exp(b) + ca - fa), c = ca * aa, f = fa * aa
        func s(_ v: Double) -> Double { aa * exp(b * v) + c * v - f }
        return y >= x1 ? s(y) : -s(2 * x1 - y)
    }

    static func table(seed: UInt64 = 1, count: Int = 3000) -> EventTable {
        var rng = SeededRandom(seed: seed)
        var a: [Double] = [], b: [Double] = [], c: [Double] = [], d: [Double] = []
        // Exact edge and vertex points first.
        let specials: [(Double, Double)] = [
            (400, 200), (800, 100), (100, 0), (0, 0), (800, 400), (800, 0), (500, 499.999), (100, 500), (500, 200),
            (400, 600), (700, 300), (-1, -1),
        ]
        for (x, y) in specials {
            a.append(x); b.append(y); c.append(0); d.append(1)
        }
        for _ in specials.count..<count {
            a.append(Double.random(in: -100...1100, using: &rng).rounded())
            b.append(Double.random(in: -100...1100, using: &rng))
            let mag = pow(10, Double.random(in: -1...4.3, using: &rng))
            c.append(Bool.random(using: &rng) ? mag : -mag / 10)
            d.append(Double.random(in: -10...10, using: &rng))
        }
        return EventTable(channels: ["A", "B", "C", "D"], columns: [a, b, c, d])
    }

    static let fcsSpill = try! SpilloverMatrix(
        fluorochromes: ["A", "B"], detectors: ["A", "B"], matrix: [[1, 0.1], [0, 1]])

    @Test("every gate of the fixture strategy matches independent expectations")
    func fixtureStrategy() async throws {
        let strategy = try GatingMLReader.read(path: Self.fixture)
        let t = Self.table()
        let engine = try GatingEngine(strategy: strategy, channels: t.channels, fcsSpillover: Self.fcsSpill)
        let r = await engine.evaluate(t, keepMembership: true)
        let A = t.columns[0], B = t.columns[1], C = t.columns[2], D = t.columns[3]
        let ln10 = log(10.0)
        func expect(_ id: String, _ rule: (Int) -> Bool) throws {
            let mask = try r.mask(for: id)
            let want = (0..<t.eventCount).map { rule($0) ? UInt8(1) : 0 }
            let diff = zip(mask, want).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
            #expect(
                diff.isEmpty,
                "\(id): \(diff.count) events differ, first \(diff.prefix(5).map { "(\(A[$0]), \(B[$0]), \(C[$0]))" })")
        }
        let range = { (e: Int) in A[e] >= 100 }
        try expect("Range", range)
        let rect = { (e: Int) in A[e] >= 0 && A[e] < 500 && B[e] < 500 }
        try expect("Rect", rect)
        try expect("LinRange") {
            let v = A[$0] / 1000; return v >= 0.1 && v < 0.6
        }
        try expect("LogRange") {
            let v = A[$0] > 0 ? log10(A[$0] / 10000) / 4 + 1 : .nan; return v >= 0.5 && v < 0.9
        }
        try expect("AsinhRange") {
            let v = (asinh(B[$0] * sinh(4 * ln10) / 10000) + ln10) / (5 * ln10); return v >= 0.4 && v < 0.7
        }
        let lLo = Self.logicleForward(0.3, t: 10000, w: 0.5, m: 4.5, a: 0),
            lHi = Self.logicleForward(0.8, t: 10000, w: 0.5, m: 4.5, a: 0)
        try expect("LogicleRange") { C[$0] >= lLo && C[$0] < lHi }
        try expect("LogicleBoundRange") { C[$0] < lHi }
        let hLo = Self.hyperlogForward(0.3, t: 10000, w: 1, m: 4.5, a: 0),
            hHi = Self.hyperlogForward(0.8, t: 10000, w: 1, m: 4.5, a: 0)
        try expect("HyperlogRange") { C[$0] >= hLo && C[$0] < hHi }
        try expect("RatioRange") {
            let v = A[$0] / B[$0]; return v >= 1 && v < 4
        }
        try expect("CompRange") { (A[$0] - 0.5 * B[$0]) / 0.875 >= 50 && D[$0] >= 0 }
        try expect("FCSCompRange") { B[$0] - 0.1 * A[$0] >= 50 }
        let triangle = { (e: Int) in A[e] >= 0 && A[e] <= 800 && B[e] >= 0 && B[e] <= A[e] / 2 }
        try expect("Triangle", triangle)
        try expect("Bowtie") {
            A[$0] >= 0 && A[$0] <= 1000 && B[$0] >= 0 && B[$0] <= 1000 && abs(B[$0] - 500) <= abs(A[$0] - 500)
        }
        let ellipse = { (e: Int) -> Bool in
            let u = A[e] - 500, v = B[e] - 500
            return (20000 * u * u - 20000 * u * v + 40000 * v * v) / 7e8 <= 1
        }
        try expect("Ellipse", ellipse)
        try expect("QHighAMidB") { range($0) && A[$0] >= 400 && B[$0] >= 200 && B[$0] < 600 }
        try expect("QLowA") { range($0) && A[$0] < 400 }
        try expect("InQuad") { range($0) && A[$0] >= 400 && B[$0] >= 200 && B[$0] < 600 && A[$0] < 700 }
        try expect("AndNot") { rect($0) && !ellipse($0) }
        try expect("Either") { triangle($0) || ellipse($0) }
        try expect("NotRange") { !range($0) }
        #expect(throws: GatingError.self) { try r.mask(for: "NoSuchGate") }
        // Counts and percentages.
        let q = try #require(r.gates.first { $0.id == "QLowA" })
        #expect(q.parent == "Range")
        #expect(q.path.description == "/Range/QLowA")
        #expect(abs(q.percentParent - 100 * Double(q.count) / Double(r.count("Range")!)) < 1e-12)
        // Parallel and serial runs agree; blocks of any size agree.
        let serial = engine.evaluateSerially(t, keepMembership: true, blockSize: 7)
        #expect(serial.gates == r.gates)
        #expect(serial.membership == r.membership)
    }

    // MARK: Transforms

    @Test("transform formulas, bounds and domains")
    func transforms() throws {
        let lin = try Transformation(.linear(t: 1000, a: 100))
        #expect(lin.apply(1000) == 1)
        #expect(lin.apply(-100) == 0)
        let lg = try Transformation(.log(t: 10000, m: 4))
        #expect(lg.apply(10000) == 1)
        #expect(abs(lg.apply(1)) < 1e-15)
        #expect(lg.apply(0).isNaN && lg.apply(-5).isNaN)
        let asinh = try Transformation(.asinh(t: 262144, m: 4.5, a: 0.5))
        #expect(abs(asinh.apply(262144) - 1) < 1e-12)
        #expect(abs(asinh.apply(0) - 0.5 / 5) < 1e-15)
        let bounded = try Transformation(.linear(t: 100, a: 0), boundMin: 0.2, boundMax: 0.5)
        #expect(bounded.apply(-50) == 0.2 && bounded.apply(70) == 0.5 && bounded.apply(30) == 0.3)
        let ratio = try Transformation(.ratio(a: 2, b: 1, c: 3, numerator: "x", denominator: "y"))
        #expect(ratio.applyRatio(5, 7) == 2)
        #expect(throws: GatingError.self) { try Transformation(.logicle(t: 10000, w: 3, m: 4.5, a: 0)) }
        #expect(throws: GatingError.self) { try Transformation(.log(t: -1, m: 4)) }
        #expect(throws: GatingError.self) { try Transformation(.linear(t: 1, a: 0), boundMin: 2, boundMax: 1) }
    }

    @Test(
        "logicle and hyperlog: anchors, monotone, invertible, table equals exact solver",
        arguments: [
            (10000.0, 0.5, 4.5, 0.0), (262144, 0.5, 4.5, 0), (262144, 1, 4, 0.5), (10000, 0, 4, 0),
            (262144, 0.3, 4.2, 0.5), (10000, 1, 4.5, -0.5),
        ])
    func biexponential(t: Double, w: Double, m: Double, a: Double) throws {
        var forms: [(String, Transformation, (Double) -> Double)] = [
            (
                "logicle", try Transformation(.logicle(t: t, w: w, m: m, a: a)),
                { Self.logicleForward($0, t: t, w: w, m: m, a: a) }
            )
        ]
        if w > 0 {
            forms.append(
                (
                    "hyperlog", try Transformation(.hyperlog(t: t, w: w, m: m, a: a)),
                    { Self.hyperlogForward($0, t: t, w: w, m: m, a: a) }
                ))
        }
        for (name, tr, forward) in forms {
            #expect(abs(tr.apply(t) - 1) < 1e-12, "\(name) at T")
            #expect(abs(tr.apply(0) - (w + a) / (m + a)) < 1e-12, "\(name) at 0")
            var rng = SeededRandom(seed: 3)
            var xs: [Double] = (0..<4000).map { _ in
                let mag = pow(10, Double.random(in: -3...log10(t * 3), using: &rng))
                return Bool.random(using: &rng) ? mag : -mag
            }
            xs += [0, 1e-300, -1e-300, t, -t, t * 5, .infinity, -.infinity]
            xs.sort()
            let fast = tr.apply(column: xs[...])
            var previous = -Double.infinity
            for (i, x) in xs.enumerated() {
                let exact = tr.biexponential!.inverse(x)
                #expect(
                    abs(fast[i] - exact) <= 1e-12 * max(1, abs(exact)) || fast[i] == exact,
                    "\(name) table vs exact at \(x)")
                #expect(fast[i] >= previous, "\(name) not monotone at \(x)")
                previous = fast[i]
                if x.isFinite && abs(x) > 1e-3 {
                    let back = forward(exact)
                    #expect(abs(back - x) <= 1e-9 * abs(x) + 1e-9, "\(name) forward(inverse(\(x))) = \(back)")
                }
            }
        }
    }

    // MARK: Compensation

    @Test("compensation: square inverse, least-squares unmixing, inverted-already, singular")
    func compensation() throws {
        let s = try SpilloverMatrix(
            fluorochromes: ["F1", "F2"], detectors: ["D1", "D2"], matrix: [[1, 0.25], [0.5, 1]])
        let truth: [[Double]] = [[100, -20, 3000], [5, 400, 250]]
        // observed = truth x S (rows fluorochromes).
        let observed = (0..<2).map { d in
            (0..<3).map { e in truth[0][e] * s.matrix[0][d] + truth[1][e] * s.matrix[1][d] }
        }
        let comp = try Compensation(s).apply(detectors: observed.map { $0[...] }, count: 3)
        for f in 0..<2 { for e in 0..<3 { #expect(abs(comp[f][e] - truth[f][e]) < 1e-9) } }
        let spectral = try SpilloverMatrix(
            fluorochromes: ["F1", "F2"], detectors: ["D1", "D2", "D3"], matrix: [[1, 0.3, 0.1], [0.2, 1, 0.6]])
        let obs3 = (0..<3).map { d in
            (0..<3).map { e in truth[0][e] * spectral.matrix[0][d] + truth[1][e] * spectral.matrix[1][d] }
        }
        let unmixed = try Compensation(spectral).apply(detectors: obs3.map { $0[...] }, count: 3)
        for f in 0..<2 { for e in 0..<3 { #expect(abs(unmixed[f][e] - truth[f][e]) < 1e-9) } }
        let given = try SpilloverMatrix(
            fluorochromes: ["F1"], detectors: ["D1", "D2"], matrix: [[2], [3]], invertedAlready: true)
        #expect(try Compensation(given).apply(detectors: [[1.0][...], [10.0][...]], count: 1) == [[32]])
        let singular = try SpilloverMatrix(
            fluorochromes: ["F1", "F2"], detectors: ["D1", "D2"], matrix: [[1, 2], [2, 4]])
        do {
            _ = try Compensation(singular)
            Issue.record("singular matrix accepted")
        } catch {
            #expect(error.code == .singularMatrix)
        }
        #expect(throws: GatingError.self) {
            try SpilloverMatrix(fluorochromes: ["F1"], detectors: ["D1"], matrix: [[1, 2]])
        }
    }

    // MARK: Kernels

    @Test("bounds tested on raw values equal the transformed test, ties and NaN included, for every monotone kind")
    func rawThresholdsExact() throws {
        var rng = SeededRandom(seed: 29)
        let kinds: [Transformation.Kind] = [
            .logicle(t: 262_144, w: 0.5, m: 4.5, a: 0), .logicle(t: 10_000, w: 1, m: 4, a: 1),
            .hyperlog(t: 262_144, w: 0.5, m: 4.5, a: 0), .asinh(t: 262_144, m: 4.5, a: 0.5),
            .log(t: 262_144, m: 4.5), .linear(t: 262_144, a: 100),
            .flowJoBiex(neg: 0, width: -100, pos: 4.42, maxRange: 262_144),
            .flowJoLog(offset: 1, decades: 5),
        ]
        for (k, kind) in kinds.enumerated() {
            let t = try Transformation(id: "t", kind)
            let n = 4000
            var x = (0..<n).map { _ in Double.random(in: -2_000...300_000, using: &rng) }
            x[0] = .nan
            x[1] = .infinity
            x[2] = -.infinity
            x[3] = 0
            x[4] = -0.0
            // Bounds exactly at some events' transformed values (ties), one side open in turn.
            let lo = t.apply(x[10]), hi = t.apply(x[11])
            let (a, b) = (Swift.min(lo, hi), Swift.max(lo, hi))
            for (low, high) in [(a, b), (nil, b), (a, nil), (t.apply(0), nil)] as [(Double?, Double?)] {
                // flog has no value at 0: such a bound is not a raw threshold.
                if low?.isNaN == true {
                    #expect(RawInterval(lo: low, hi: high, transformation: t) == nil)
                    continue
                }
                guard let r = RawInterval(lo: low, hi: high, transformation: t) else {
                    Issue.record("kind \(k): no raw interval")
                    continue
                }
                // A parent mask with holes: masked events stay 0.
                let parent = (0..<n).map { UInt8($0 % 7 == 3 ? 0 : 1) }
                var fast = parent
                r.apply(raw: x[...], count: n, into: &fast)
                var twin = parent
                r.scalar(raw: x[...], count: n, into: &twin)
                #expect(fast == twin, "kind \(k): kernel and safe twin")
                let reference = x.map { v -> UInt8 in
                    let y = t.apply(v)
                    return y >= (low ?? -.infinity) && y < (high ?? .infinity) ? 1 : 0
                }.enumerated().map { $0.element & parent[$0.offset] }
                #expect(fast == reference, "kind \(k) \(String(describing: low)) \(String(describing: high))")
                #expect(reference.contains(1) && reference.contains(0))
            }
        }
        // Whole strategies: the engine with and without raw thresholds agree on the ISAC-style
        // fixture strategy (rectangles and quadrants on logicle, compensation).
        let url = Paths.fixtures.appendingPathComponent("gatingml/all-kinds.xml")
        let strategy = try GatingMLReader.read(path: url.path)
        let channels = ["A", "B", "C", "D"]
        let cols = (0..<4).map { _ in (0..<5000).map { _ in Double.random(in: -500...260_000, using: &rng) }[...] }
        var engine = try GatingEngine(strategy: strategy, channels: channels)
        #expect(engine.rawIntervals.joined().contains { $0 != nil }, "the fixture has bounds on transformed axes")
        let fast = engine.evaluate(columns: cols, count: 5000)
        engine.rawThresholds = false
        #expect(fast == engine.evaluate(columns: cols, count: 5000))
    }

    @Test("fast kernels equal their scalar twins on seeded random data")
    func kernelsDifferential() {
        var rng = SeededRandom(seed: 11)
        for round in 0..<30 {
            let n = Int.random(in: 0...600, using: &rng)
            var x = (0..<n).map { _ in Double.random(in: -10...110, using: &rng).rounded(.down) }
            var y = (0..<n).map { _ in Double.random(in: -10...110, using: &rng).rounded(.down) }
            if n > 4 { x[0] = .nan; y[1] = .infinity; x[2] = -.infinity }
            let lo: [Double?] = [round % 3 == 0 ? nil : 10, 20]
            let hi: [Double?] = [90, round % 2 == 0 ? nil : 80]
            #expect(
                RectangleKernel.fast(columns: [x[...], y[...]], min: lo, max: hi, count: n)
                    == RectangleKernel.scalar(columns: [x[...], y[...]], min: lo, max: hi, count: n))
            let k = Int.random(in: 3...12, using: &rng)
            let xs = (0..<k).map { _ in Double.random(in: 0...100, using: &rng).rounded() }
            let ys = (0..<k).map { _ in Double.random(in: 0...100, using: &rng).rounded() }
            #expect(
                PolygonKernel.fast(x: x[...], y: y[...], xs: xs, ys: ys, count: n)
                    == PolygonKernel.scalar(x: x[...], y: y[...], xs: xs, ys: ys, count: n), "polygon round \(round)")
            let inv = [[0.002, -0.0005], [-0.0005, 0.003]]
            #expect(
                EllipsoidKernel.fast(
                    columns: [x[...], y[...]], mean: [50, 40], inverseCovariance: inv, distanceSquare: 2, count: n)
                    == EllipsoidKernel.scalar(
                        columns: [x[...], y[...]], mean: [50, 40], inverseCovariance: inv, distanceSquare: 2, count: n))
            let u = (0..<3).map { _ in (0..<3).map { _ in Double.random(in: -1...1, using: &rng) } }
            let cols = (0..<3).map { _ in (0..<n).map { _ in Double.random(in: -1e4...1e5, using: &rng) }[...] }
            #expect(
                CompensationKernel.apply(columns: cols, unmixing: u, count: n)
                    == CompensationKernel.scalar(columns: cols, unmixing: u, count: n))
        }
    }

    @Test("polygon membership is invariant under vertex rotation and reversal")
    func polygonInvariance() {
        var rng = SeededRandom(seed: 21)
        for _ in 0..<20 {
            let k = Int.random(in: 3...9, using: &rng)
            let xs = (0..<k).map { _ in Double.random(in: 0...50, using: &rng).rounded() }
            let ys = (0..<k).map { _ in Double.random(in: 0...50, using: &rng).rounded() }
            let px = (0..<500).map { _ in Double.random(in: -5...55, using: &rng).rounded() }
            let py = (0..<500).map { _ in Double.random(in: -5...55, using: &rng).rounded() }
            let base = PolygonKernel.fast(x: px[...], y: py[...], xs: xs, ys: ys, count: 500)
            let r = Int.random(in: 1..<k, using: &rng)
            let rotated = PolygonKernel.fast(
                x: px[...], y: py[...], xs: Array(xs[r...] + xs[..<r]), ys: Array(ys[r...] + ys[..<r]), count: 500)
            let reversed = PolygonKernel.fast(x: px[...], y: py[...], xs: xs.reversed(), ys: ys.reversed(), count: 500)
            #expect(base == rotated)
            #expect(base == reversed)
            // Every vertex is inside.
            #expect(PolygonKernel.fast(x: xs[...], y: ys[...], xs: xs, ys: ys, count: k).allSatisfy { $0 == 1 })
        }
    }

    @Test("boolean identities: double negation, complement, De Morgan")
    func booleanIdentities() throws {
        let xml = """
            <gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating" xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
            <gating:RectangleGate gating:id="P"><gating:dimension gating:compensation-ref="uncompensated" gating:min="300"><data-type:fcs-dimension data-type:name="A"/></gating:dimension></gating:RectangleGate>
            <gating:RectangleGate gating:id="Q"><gating:dimension gating:compensation-ref="uncompensated" gating:max="600"><data-type:fcs-dimension data-type:name="B"/></gating:dimension></gating:RectangleGate>
            <gating:BooleanGate gating:id="NotP"><gating:not><gating:gateReference gating:ref="P"/></gating:not></gating:BooleanGate>
            <gating:BooleanGate gating:id="NotNotP"><gating:not><gating:gateReference gating:ref="NotP"/></gating:not></gating:BooleanGate>
            <gating:BooleanGate gating:id="PAndNotP"><gating:and><gating:gateReference gating:ref="P"/><gating:gateReference gating:ref="P" gating:use-as-complement="true"/></gating:and></gating:BooleanGate>
            <gating:BooleanGate gating:id="NotPOrQ"><gating:not><gating:gateReference gating:ref="POrQ"/></gating:not></gating:BooleanGate>
            <gating:BooleanGate gating:id="POrQ"><gating:or><gating:gateReference gating:ref="P"/><gating:gateReference gating:ref="Q"/></gating:or></gating:BooleanGate>
            <gating:BooleanGate gating:id="NotPAndNotQ"><gating:and><gating:gateReference gating:ref="P" gating:use-as-complement="true"/><gating:gateReference gating:ref="Q" gating:use-as-complement="true"/></gating:and></gating:BooleanGate>
            </gating:Gating-ML>
            """
        let s = try GatingMLReader.read(bytes: Array(xml.utf8))
        let t = Self.table(seed: 9, count: 2000)
        let r = try GatingEngine(strategy: s, channels: t.channels).evaluateSerially(t, keepMembership: true)
        #expect(try r.mask(for: "NotNotP") == r.mask(for: "P"))
        #expect(try r.mask(for: "PAndNotP").allSatisfy { $0 == 0 })
        #expect(try r.mask(for: "NotPOrQ") == r.mask(for: "NotPAndNotQ"))
    }

    // MARK: Reader errors

    @Test("malformed strategies fail with codes naming element and line")
    func readerErrors() throws {
        func code(_ xml: String) -> (GatingError.Code, String?, Int?)? {
            do {
                let s = try GatingMLReader.read(bytes: Array(xml.utf8), name: "s.xml")
                _ = try GatingEngine(strategy: s, channels: ["A", "B"])
                return nil
            } catch {
                return (error.code, error.element, error.line)
            }
        }
        let head =
            #"<gating:Gating-ML xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating" xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes" xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations">"#
        let rect =
            #"<gating:dimension gating:compensation-ref="uncompensated" gating:min="1"><data-type:fcs-dimension data-type:name="A"/></gating:dimension>"#
        let unknown = code(head + "\n<gating:CircleGate gating:id=\"X\"/></gating:Gating-ML>")
        #expect(unknown?.0 == .badGatingML)
        #expect(unknown?.1 == "CircleGate")
        #expect(unknown?.2 == 2)
        #expect(
            code(
                #"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>"# + head
                    + "</gating:Gating-ML>")?.0 == .xml)
        #expect(code(head + "<gating:RectangleGate gating:id=\"R\">" + rect)?.0 == .xml)
        #expect(
            code(
                head + "<gating:RectangleGate gating:id=\"R\" gating:parent_id=\"Nope\">" + rect
                    + "</gating:RectangleGate></gating:Gating-ML>")?.0 == .unknownReference)
        #expect(
            code(
                head + "<gating:RectangleGate gating:id=\"R\" gating:parent_id=\"S\">" + rect
                    + "</gating:RectangleGate><gating:RectangleGate gating:id=\"S\" gating:parent_id=\"R\">" + rect
                    + "</gating:RectangleGate></gating:Gating-ML>")?.0 == .cycle)
        #expect(
            code(
                head
                    + "<gating:RectangleGate gating:id=\"R\"><gating:dimension gating:compensation-ref=\"uncompensated\"><data-type:fcs-dimension data-type:name=\"Zed\"/></gating:dimension></gating:RectangleGate></gating:Gating-ML>"
            )?.0 == .unknownChannel)
        #expect(
            code(
                head
                    + "<gating:RectangleGate gating:id=\"R\"><gating:dimension gating:compensation-ref=\"uncompensated\" gating:min=\"abc\"><data-type:fcs-dimension data-type:name=\"A\"/></gating:dimension></gating:RectangleGate></gating:Gating-ML>"
            )?.0 == .badGatingML)
        #expect(
            code(
                head
                    + "<transforms:transformation transforms:id=\"t\"><transforms:logicle transforms:T=\"1\" transforms:W=\"9\" transforms:M=\"4\" transforms:A=\"0\"/></transforms:transformation></gating:Gating-ML>"
            )?.0 == .badTransform)
        #expect(
            code(
                head + "<gating:RectangleGate gating:id=\"R\">" + rect
                    + "</gating:RectangleGate><gating:RectangleGate gating:id=\"R\">" + rect
                    + "</gating:RectangleGate></gating:Gating-ML>")?.0 == .badGatingML)
        #expect(code("<Gating-ML/>")?.0 == .badGatingML)
    }

    @Test(
        "FlowKit's attribute-testing file is refused for its unknown <sample> element",
        .enabled(if: Paths.sharedAvailable("gatingml"), "../shared/corpus/gatingml is absent"))
    func flowKitAttrFile() {
        let path = Paths.sharedCorpus.appendingPathComponent(
            "gatingml/flowkit-gate_ref/gml/gml_range_gate_attr_testing.xml"
        ).path
        do {
            _ = try GatingMLReader.read(path: path)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .badGatingML)
            #expect(error.element == "sample")
            #expect(error.line == 7)
            #expect(error.description.contains("gml_range_gate_attr_testing.xml:7"))
        }
    }
}
