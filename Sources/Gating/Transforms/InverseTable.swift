/// Fast inverse of a biexponential's upper branch (x >= 0). Knots are uniform in y; between
/// two knots the inverse y(x) is a cubic Hermite polynomial in x built from the knot values and
/// the exact slopes 1 / S'(y), so evaluating it needs no division and no iteration. A bucket
/// index on the float bits of x finds the knot interval in about one step. Accuracy: about
/// 1e-15 in y; the differential test holds it to 1e-12 against the exact solver.
struct InverseTable: Sendable, Hashable {
    static let knots = 8192
    var y0 = 0.0
    var h = 0.0
    /// x at each knot.
    var xs: [Double] = []
    /// Per interval: x_k, 1 / (x_{k+1} - x_k), and the cubic's coefficients m0, c2, c3 (y units).
    var coefficients: [Double] = []
    /// For each float key ((bits >> 13 of Float(x)) - keyBase), the first knot whose x is <= the
    /// key's lowest value. Keys below keyBase (tiny x) share bucket 0.
    var bucket: [Int32] = []
    var keyBase = 0
    var xMax = 0.0

    init() {}

    init(_ s: Biexponential) {
        y0 = s.x1
        let yMax = 1.25
        h = (yMax - y0) / Double(Self.knots - 1)
        xs = (0..<Self.knots).map { s.upper(y0 + Double($0) * h) }
        xs[0] = 0
        let slopes = (0..<Self.knots).map { s.upperSlope(y0 + Double($0) * h) }
        xMax = xs[Self.knots - 1]
        coefficients = [Double](repeating: 0, count: 5 * Self.knots)
        for k in 0..<(Self.knots - 1) {
            let dx = xs[k + 1] - xs[k]
            let m0 = dx / slopes[k]
            let m1 = dx / slopes[k + 1]
            coefficients[5 * k] = xs[k]
            coefficients[5 * k + 1] = dx > 0 ? 1 / dx : 0
            coefficients[5 * k + 2] = m0
            coefficients[5 * k + 3] = 3 * h - 2 * m0 - m1
            coefficients[5 * k + 4] = -2 * h + m0 + m1
        }
        keyBase = Int(Float(Swift.max(xs[1], 1e-30)).bitPattern >> 13)
        let maxKey = Int(Float(xMax).bitPattern >> 13) + 1 - keyBase
        bucket = [Int32](repeating: 0, count: maxKey + 1)
        var k = 0
        for key in 0...maxKey {
            let lowest = Double(Float(bitPattern: UInt32(key + keyBase) << 13))
            while k + 1 < Self.knots && xs[k + 1] <= lowest { k += 1 }
            bucket[key] = Int32(k)
        }
    }

    /// A starting point for the exact solver, nil outside the table.
    func seed(_ x: Double) -> Double? {
        guard !xs.isEmpty, x >= 0, x < xMax else { return nil }
        return evaluate(x)
    }

    @inline(__always) func interval(_ x: Double) -> Int {
        let key = Int(Float(x).bitPattern >> 13) - keyBase
        var k = Int(bucket[min(max(key, 0), bucket.count - 1)])
        while k > 0 && xs[k] > x { k -= 1 }
        while k + 2 < xs.count && xs[k + 1] <= x { k += 1 }
        return k
    }

    /// The table's y for 0 <= x < xMax (safe reference of the column loop).
    func evaluate(_ x: Double) -> Double {
        let k = interval(x)
        let s = (x - coefficients[5 * k]) * coefficients[5 * k + 1]
        let m0 = coefficients[5 * k + 2], c2 = coefficients[5 * k + 3], c3 = coefficients[5 * k + 4]
        return y0 + Double(k) * h + s * (m0 + s * (c2 + s * c3))
    }

    /// y with S(y) = x for one value; outside the table the exact solver.
    @inline(__always) func inverse(_ x: Double, exact: Biexponential) -> Double {
        let ax = abs(x)
        guard ax < xMax, !xs.isEmpty else { return exact.inverse(x) }
        let y = evaluate(ax)
        return x < 0 ? 2 * y0 - y : y
    }
}
