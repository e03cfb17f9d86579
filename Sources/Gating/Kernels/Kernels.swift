// UNSAFE KERNELS: the column loops of compensation and gate membership. Each `fast` function
// has a safe scalar twin (`scalar`) with the same arithmetic, and `KernelTests` compares them on
// seeded random data. Masks are bytes: 1 = in, 0 = out; the parent mask is applied afterwards.

// MARK: - Compensation

enum CompensationKernel {
    /// out[f][e] = sum_d columns[d][e] * unmixing[d][f], summed over d in order.
    static func apply(columns: [ArraySlice<Double>], unmixing: [[Double]], count: Int) -> [[Double]] {
        let detectors = columns.count
        let fluors = unmixing.first?.count ?? 0
        precondition(unmixing.count == detectors && columns.allSatisfy { $0.count >= count })
        let flatU = (0..<detectors).flatMap { d in unmixing[d] }
        var flat = [Double](repeating: 0, count: fluors * count)
        var sources: [UnsafePointer<Double>] = unsafe []
        unsafe sources.reserveCapacity(detectors)
        // Pointers into the caller's columns live only inside this function.
        func withSources(_ d: Int, _ body: ([UnsafePointer<Double>]) -> Void) {
            if d == detectors { return unsafe body(sources) }
            unsafe columns[d].withUnsafeBufferPointer { b in
                unsafe sources.append(b.baseAddress!)
                unsafe withSources(d + 1, body)
                unsafe sources.removeLast()
            }
        }
        unsafe withSources(0) { src in
            unsafe flat.withUnsafeMutableBufferPointer { ob in
                unsafe flatU.withUnsafeBufferPointer { ub in
                    let o = ob.baseAddress!, u = ub.baseAddress!
                    // Chunks of 256 events: the output rows of a chunk stay in L1.
                    let chunk = 256
                    var start = 0
                    while start < count {
                        let n = Swift.min(chunk, count - start)
                        for d in 0..<detectors {
                            let s = unsafe src[d] + start
                            for f in 0..<fluors {
                                let coefficient = unsafe u[d * fluors + f]
                                if coefficient == 0 { continue }
                                let row = unsafe o + f * count + start
                                for e in 0..<n { unsafe row[e] += s[e] * coefficient }
                            }
                        }
                        start += n
                    }
                }
            }
        }
        return (0..<fluors).map { Array(flat[($0 * count)..<($0 * count + count)]) }
    }

    /// Safe twin: the same sums in the same order.
    static func scalar(columns: [ArraySlice<Double>], unmixing: [[Double]], count: Int) -> [[Double]] {
        let fluors = unmixing.first?.count ?? 0
        var out = [[Double]](repeating: [Double](repeating: 0, count: count), count: fluors)
        for f in 0..<fluors {
            for d in columns.indices {
                let u = unmixing[d][f]
                if u == 0 { continue }
                let col = columns[d]
                for e in 0..<count { out[f][e] += col[col.startIndex + e] * u }
            }
        }
        return out
    }
}

// MARK: - Rectangle

enum RectangleKernel {
    /// mask[e] = 1 when min[k] <= x_k < max[k] for every dimension. An open end is an infinite
    /// bound with the same half-open rule (as the reference implementation evaluates it):
    /// -inf is inside an open low end, +inf is outside an open high end, NaN is never inside.
    static func fast(columns: [ArraySlice<Double>], min: [Double?], max: [Double?], count: Int) -> [UInt8] {
        var mask = [UInt8](repeating: 1, count: count)
        for (k, col) in columns.enumerated() {
            precondition(col.count >= count)
            let lo = min[k] ?? -.infinity
            let hi = max[k] ?? .infinity
            unsafe mask.withUnsafeMutableBufferPointer { m in
                unsafe col.withUnsafeBufferPointer { c in
                    let src = c.baseAddress!
                    let dst = m.baseAddress!
                    // Branch-free, so the compiler vectorises it.
                    for e in 0..<count {
                        let v = unsafe src[e]
                        let inside = UInt8(truncatingIfNeeded: (v >= lo ? 1 : 0) & (v < hi ? 1 : 0))
                        unsafe dst[e] &= inside
                    }
                }
            }
        }
        return mask
    }

    static func scalar(columns: [ArraySlice<Double>], min: [Double?], max: [Double?], count: Int) -> [UInt8] {
        (0..<count).map { e in
            for k in columns.indices {
                let v = columns[k][columns[k].startIndex + e]
                if !(v >= (min[k] ?? -.infinity)) { return 0 }
                if !(v < (max[k] ?? .infinity)) { return 0 }
            }
            return 1
        }
    }
}

// MARK: - Polygon

enum PolygonKernel {
    /// Per-edge constants: start point, direction, and whether the edge goes up.
    struct Edge {
        var ax: Double, ay: Double, ex: Double, ey: Double, bx: Double, by: Double
        var up: Bool
    }

    static func edges(_ xs: [Double], _ ys: [Double]) -> [Edge] {
        var out: [Edge] = []
        var j = xs.count - 1
        for i in xs.indices {
            out.append(
                Edge(
                    ax: xs[j], ay: ys[j], ex: xs[i] - xs[j], ey: ys[i] - ys[j], bx: xs[i], by: ys[i], up: ys[i] > ys[j])
            )
            j = i
        }
        return out
    }

    /// Even-odd rule; a point on an edge or vertex is inside. `xs`/`ys` are the vertices.
    ///
    /// Crossing test without division: for an edge straddling the point's y, the point lies left
    /// of the crossing exactly when `cross = ex (py - ay) - ey (px - ax)` has the sign of `ey`;
    /// `cross == 0` within the edge's bounding box is a point on the edge.
    static func fast(x: ArraySlice<Double>, y: ArraySlice<Double>, xs: [Double], ys: [Double], count: Int) -> [UInt8] {
        precondition(x.count >= count && y.count >= count && xs.count == ys.count && xs.count >= 3)
        var mask = [UInt8](repeating: 0, count: count)
        let es = edges(xs, ys)
        let minX = xs.min()!, maxX = xs.max()!, minY = ys.min()!, maxY = ys.max()!
        let zero = SIMD4<Double>(repeating: 0)
        unsafe mask.withUnsafeMutableBufferPointer { m in
            unsafe x.withUnsafeBufferPointer { xb in
                unsafe y.withUnsafeBufferPointer { yb in
                    let px = xb.baseAddress!, py = yb.baseAddress!, dst = m.baseAddress!
                    var e = 0
                    while e + 4 <= count {
                        let vx = unsafe UnsafeRawPointer(px + e).loadUnaligned(as: SIMD4<Double>.self)
                        let vy = unsafe UnsafeRawPointer(py + e).loadUnaligned(as: SIMD4<Double>.self)
                        let inBox =
                            (vx .>= SIMD4(repeating: minX)) .& (vx .<= SIMD4(repeating: maxX))
                            .& (vy .>= SIMD4(repeating: minY)) .& (vy .<= SIMD4(repeating: maxY))
                        if !any(inBox) {
                            e += 4
                            continue
                        }
                        var odd = SIMDMask<SIMD4<Int64>>(repeating: false)
                        var onEdge = SIMDMask<SIMD4<Int64>>(repeating: false)
                        for edge in es {
                            let ay = SIMD4(repeating: edge.ay)
                            let cross =
                                SIMD4(repeating: edge.ex) * (vy - ay) - SIMD4(repeating: edge.ey)
                                * (vx - SIMD4(repeating: edge.ax))
                            let collinear = cross .== zero
                            if any(collinear) {
                                let withinX =
                                    (vx .>= SIMD4(repeating: Swift.min(edge.ax, edge.bx)))
                                    .& (vx .<= SIMD4(repeating: Swift.max(edge.ax, edge.bx)))
                                let withinY =
                                    (vy .>= SIMD4(repeating: Swift.min(edge.ay, edge.by)))
                                    .& (vy .<= SIMD4(repeating: Swift.max(edge.ay, edge.by)))
                                onEdge = onEdge .| (collinear .& withinX .& withinY)
                            }
                            let straddles = (ay .> vy) .^ (SIMD4(repeating: edge.by) .> vy)
                            let left = edge.up ? (cross .> zero) : (cross .< zero)
                            odd = odd .^ (straddles .& left)
                        }
                        let inside = inBox .& (odd .| onEdge)
                        let bytes = SIMD4<Int64>(repeating: 0).replacing(with: 1, where: inside)
                        unsafe UnsafeMutableRawPointer(dst + e).storeBytes(
                            of: SIMD4<UInt8>(truncatingIfNeeded: bytes), as: SIMD4<UInt8>.self)
                        e += 4
                    }
                    while e < count {
                        unsafe dst[e] = inside(unsafe px[e], unsafe py[e], es, minX, maxX, minY, maxY) ? 1 : 0
                        e += 1
                    }
                }
            }
        }
        return mask
    }

    /// Scalar twin (also the tail of the fast loop): the same arithmetic per point.
    static func inside(
        _ px: Double, _ py: Double, _ es: [Edge], _ minX: Double, _ maxX: Double, _ minY: Double, _ maxY: Double
    ) -> Bool {
        guard px >= minX, px <= maxX, py >= minY, py <= maxY else { return false }
        var odd = false
        for edge in es {
            let cross = edge.ex * (py - edge.ay) - edge.ey * (px - edge.ax)
            if cross == 0 && px >= Swift.min(edge.ax, edge.bx) && px <= Swift.max(edge.ax, edge.bx)
                && py >= Swift.min(edge.ay, edge.by)
                && py <= Swift.max(edge.ay, edge.by)
            {
                return true
            }
            if (edge.ay > py) != (edge.by > py) && (edge.up ? cross > 0 : cross < 0) { odd.toggle() }
        }
        return odd
    }

    static func pointInPolygon(_ px: Double, _ py: Double, _ xs: [Double], _ ys: [Double]) -> Bool {
        inside(px, py, edges(xs, ys), xs.min()!, xs.max()!, ys.min()!, ys.max()!)
    }

    static func scalar(x: ArraySlice<Double>, y: ArraySlice<Double>, xs: [Double], ys: [Double], count: Int) -> [UInt8]
    {
        (0..<count).map { pointInPolygon(x[x.startIndex + $0], y[y.startIndex + $0], xs, ys) ? 1 : 0 }
    }
}

// MARK: - Ellipsoid

enum EllipsoidKernel {
    /// (x - mean)' inverseCovariance (x - mean) <= distanceSquare.
    static func fast(
        columns: [ArraySlice<Double>], mean: [Double], inverseCovariance: [[Double]], distanceSquare: Double, count: Int
    ) -> [UInt8] {
        let n = columns.count
        guard n == 2 else {
            return scalar(
                columns: columns, mean: mean, inverseCovariance: inverseCovariance, distanceSquare: distanceSquare,
                count: count)
        }
        precondition(columns.allSatisfy { $0.count >= count })
        var mask = [UInt8](repeating: 0, count: count)
        let a = inverseCovariance[0][0], b = inverseCovariance[0][1], c = inverseCovariance[1][0],
            d = inverseCovariance[1][1]
        unsafe mask.withUnsafeMutableBufferPointer { m in
            unsafe columns[0].withUnsafeBufferPointer { c0 in
                unsafe columns[1].withUnsafeBufferPointer { c1 in
                    let p0 = c0.baseAddress!, p1 = c1.baseAddress!, dst = m.baseAddress!
                    var e = 0
                    let m0 = SIMD4(repeating: mean[0]), m1 = SIMD4(repeating: mean[1]),
                        lim = SIMD4(repeating: distanceSquare)
                    while e + 4 <= count {
                        let u = unsafe UnsafeRawPointer(p0 + e).loadUnaligned(as: SIMD4<Double>.self) - m0
                        let v = unsafe UnsafeRawPointer(p1 + e).loadUnaligned(as: SIMD4<Double>.self) - m1
                        let q = u * (u * a + v * c) + v * (u * b + v * d)
                        let inside = q .<= lim
                        for k in 0..<4 where inside[k] { unsafe dst[e + k] = 1 }
                        e += 4
                    }
                    while e < count {
                        let u = unsafe p0[e] - mean[0], v = unsafe p1[e] - mean[1]
                        let q = u * (u * a + v * c) + v * (u * b + v * d)
                        unsafe dst[e] = q <= distanceSquare ? 1 : 0
                        e += 1
                    }
                }
            }
        }
        return mask
    }

    /// Scalar twin, any dimension count: q = sum_i u_i (sum_j u_j C_ji).
    static func scalar(
        columns: [ArraySlice<Double>], mean: [Double], inverseCovariance: [[Double]], distanceSquare: Double, count: Int
    ) -> [UInt8] {
        let n = columns.count
        return (0..<count).map { e in
            let u = (0..<n).map { columns[$0][columns[$0].startIndex + e] - mean[$0] }
            var q = 0.0
            for i in 0..<n {
                var s = 0.0
                for j in 0..<n { s += u[j] * inverseCovariance[j][i] }
                q += u[i] * s
            }
            return q <= distanceSquare ? 1 : 0
        }
    }
}

// MARK: - Raw interval

/// `RawInterval` on a column: a branch-free pass decides every value outside the bands (0 out,
/// 1 in, 2 undecided), then the few undecided values are transformed exactly. Safe twin:
/// `RawInterval.scalar`.
enum RawIntervalKernel {
    static func apply(_ r: RawInterval, raw: ArraySlice<Double>, count: Int, into mask: inout [UInt8]) {
        precondition(raw.count >= count && mask.count >= count)
        let lowIn = r.lowIn, lowOut = r.lowOut, highIn = r.highIn, highOut = r.highOut
        var undecided = false
        unsafe mask.withUnsafeMutableBufferPointer { m in
            unsafe raw.withUnsafeBufferPointer { c in
                let src = c.baseAddress!
                let dst = m.baseAddress!
                var any: UInt8 = 0
                for e in 0..<count {
                    let x = unsafe src[e]
                    let inside: UInt8 = (x >= lowIn ? 1 : 0) & (x <= highIn ? 1 : 0)
                    let outside: UInt8 = (x <= lowOut ? 1 : 0) | (x >= highOut ? 1 : 0)
                    // 1 inside, 0 outside, 2 undecided; kept only where the mask is set (0 or 1,
                    // so mask x 3 keeps or clears both bits). Branch-free: the loop vectorises.
                    let state: UInt8 = inside | (((1 &- inside) & (1 &- outside)) << 1)
                    let new = state & (unsafe dst[e] &* 3)
                    unsafe dst[e] = new
                    any |= new
                }
                undecided = any & 2 != 0
            }
        }
        guard undecided else { return }
        let base = raw.startIndex
        for e in 0..<count where mask[e] == 2 { mask[e] = r.exact(raw[base + e]) ? 1 : 0 }
    }
}
