// UNSAFE KERNELS: the column loops of compensation and gate membership. Each `fast` function
// has a safe scalar twin (`scalar`) with the same arithmetic, and `KernelTests` compares them on
// seeded random data. Masks are bytes: 1 = in, 0 = out; the parent mask is applied afterwards.

// MARK: - Compensation

enum CompensationKernel {
    /// out[f][e] = sum_d columns[d][e] * unmixing[d][f].
    static func apply(columns: [ArraySlice<Double>], unmixing: [[Double]], count: Int) -> [[Double]] {
        let detectors = columns.count
        let fluors = unmixing.first?.count ?? 0
        precondition(unmixing.count == detectors && columns.allSatisfy { $0.count >= count })
        var out = [[Double]](repeating: [Double](repeating: 0, count: count), count: fluors)
        for f in 0..<fluors {
            out[f].withUnsafeMutableBufferPointer { dst in
                for d in 0..<detectors {
                    let u = unmixing[d][f]
                    if u == 0 { continue }
                    columns[d].withUnsafeBufferPointer { src in
                        let s = unsafe src.baseAddress!
                        let o = unsafe dst.baseAddress!
                        var e = 0
                        while e + 4 <= count {
                            let v = unsafe UnsafeRawPointer(s + e).loadUnaligned(as: SIMD4<Double>.self)
                            let acc = unsafe UnsafeRawPointer(o + e).loadUnaligned(as: SIMD4<Double>.self)
                            unsafe UnsafeMutableRawPointer(o + e).storeBytes(of: acc + v * u, as: SIMD4<Double>.self)
                            e += 4
                        }
                        while e < count {
                            unsafe o[e] += s[e] * u
                            e += 1
                        }
                    }
                }
            }
        }
        return out
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
    static func fast(columns: [[Double]], min: [Double?], max: [Double?], count: Int) -> [UInt8] {
        var mask = [UInt8](repeating: 1, count: count)
        for (k, col) in columns.enumerated() {
            precondition(col.count >= count)
            let lo = min[k] ?? -.infinity
            let hi = max[k] ?? .infinity
            mask.withUnsafeMutableBufferPointer { m in
                col.withUnsafeBufferPointer { c in
                    let src = unsafe c.baseAddress!
                    let dst = unsafe m.baseAddress!
                    let vlo = SIMD4<Double>(repeating: lo)
                    let vhi = SIMD4<Double>(repeating: hi)
                    var e = 0
                    while e + 4 <= count {
                        let v = unsafe UnsafeRawPointer(src + e).loadUnaligned(as: SIMD4<Double>.self)
                        let inside = (v .>= vlo) .& (v .< vhi)
                        for j in 0..<4 where !inside[j] { unsafe dst[e + j] = 0 }
                        e += 4
                    }
                    while e < count {
                        let v = unsafe src[e]
                        if !(v >= lo && v < hi) { unsafe dst[e] = 0 }
                        e += 1
                    }
                }
            }
        }
        return mask
    }

    static func scalar(columns: [[Double]], min: [Double?], max: [Double?], count: Int) -> [UInt8] {
        (0..<count).map { e in
            for k in columns.indices {
                let v = columns[k][e]
                if !(v >= (min[k] ?? -.infinity)) { return 0 }
                if !(v < (max[k] ?? .infinity)) { return 0 }
            }
            return 1
        }
    }
}

// MARK: - Polygon

enum PolygonKernel {
    /// Even-odd rule; a point on an edge or vertex is inside. `xs`/`ys` are the vertices.
    static func fast(x: [Double], y: [Double], xs: [Double], ys: [Double], count: Int) -> [UInt8] {
        precondition(x.count >= count && y.count >= count && xs.count == ys.count && xs.count >= 3)
        var mask = [UInt8](repeating: 0, count: count)
        let n = xs.count
        let minX = xs.min()!, maxX = xs.max()!, minY = ys.min()!, maxY = ys.max()!
        mask.withUnsafeMutableBufferPointer { m in
            x.withUnsafeBufferPointer { xb in
                y.withUnsafeBufferPointer { yb in
                    let px = unsafe xb.baseAddress!, py = unsafe yb.baseAddress!, dst = unsafe m.baseAddress!
                    var e = 0
                    while e + 4 <= count {
                        let vx = unsafe UnsafeRawPointer(px + e).loadUnaligned(as: SIMD4<Double>.self)
                        let vy = unsafe UnsafeRawPointer(py + e).loadUnaligned(as: SIMD4<Double>.self)
                        let inBox = (vx .>= SIMD4(repeating: minX)) .& (vx .<= SIMD4(repeating: maxX))
                            .& (vy .>= SIMD4(repeating: minY)) .& (vy .<= SIMD4(repeating: maxY))
                        if !any(inBox) {
                            e += 4
                            continue
                        }
                        var odd = SIMDMask<SIMD4<Int64>>(repeating: false)
                        var onEdge = SIMDMask<SIMD4<Int64>>(repeating: false)
                        var j = n - 1
                        for i in 0..<n {
                            let ax = SIMD4(repeating: xs[j]), ay = SIMD4(repeating: ys[j])
                            let bx = SIMD4(repeating: xs[i]), by = SIMD4(repeating: ys[i])
                            let cross = (bx - ax) * (vy - ay) - (by - ay) * (vx - ax)
                            let withinX = (vx .>= pointwiseMin(ax, bx)) .& (vx .<= pointwiseMax(ax, bx))
                            let withinY = (vy .>= pointwiseMin(ay, by)) .& (vy .<= pointwiseMax(ay, by))
                            onEdge = onEdge .| ((cross .== SIMD4(repeating: 0)) .& withinX .& withinY)
                            let straddles = (ay .> vy) .^ (by .> vy)
                            if any(straddles) {
                                let xint = ax + (bx - ax) * (vy - ay) / (by - ay)
                                odd = odd .^ (straddles .& (vx .< xint))
                            }
                            j = i
                        }
                        let inside = inBox .& (odd .| onEdge)
                        for k in 0..<4 where inside[k] { unsafe dst[e + k] = 1 }
                        e += 4
                    }
                    while e < count {
                        unsafe dst[e] = pointInPolygon(unsafe px[e], unsafe py[e], xs, ys) ? 1 : 0
                        e += 1
                    }
                }
            }
        }
        return mask
    }

    /// Scalar twin (also the tail of the fast loop).
    static func pointInPolygon(_ px: Double, _ py: Double, _ xs: [Double], _ ys: [Double]) -> Bool {
        let n = xs.count
        guard px >= xs.min()!, px <= xs.max()!, py >= ys.min()!, py <= ys.max()! else { return false }
        var odd = false
        var j = n - 1
        for i in 0..<n {
            let ax = xs[j], ay = ys[j], bx = xs[i], by = ys[i]
            let cross = (bx - ax) * (py - ay) - (by - ay) * (px - ax)
            if cross == 0 && px >= min(ax, bx) && px <= max(ax, bx) && py >= min(ay, by) && py <= max(ay, by) {
                return true
            }
            if (ay > py) != (by > py) {
                let xint = ax + (bx - ax) * (py - ay) / (by - ay)
                if px < xint { odd.toggle() }
            }
            j = i
        }
        return odd
    }

    static func scalar(x: [Double], y: [Double], xs: [Double], ys: [Double], count: Int) -> [UInt8] {
        (0..<count).map { pointInPolygon(x[$0], y[$0], xs, ys) ? 1 : 0 }
    }
}

// MARK: - Ellipsoid

enum EllipsoidKernel {
    /// (x - mean)' inverseCovariance (x - mean) <= distanceSquare.
    static func fast(columns: [[Double]], mean: [Double], inverseCovariance: [[Double]], distanceSquare: Double, count: Int) -> [UInt8] {
        let n = columns.count
        guard n == 2 else { return scalar(columns: columns, mean: mean, inverseCovariance: inverseCovariance, distanceSquare: distanceSquare, count: count) }
        precondition(columns.allSatisfy { $0.count >= count })
        var mask = [UInt8](repeating: 0, count: count)
        let a = inverseCovariance[0][0], b = inverseCovariance[0][1], c = inverseCovariance[1][0], d = inverseCovariance[1][1]
        mask.withUnsafeMutableBufferPointer { m in
            columns[0].withUnsafeBufferPointer { c0 in
                columns[1].withUnsafeBufferPointer { c1 in
                    let p0 = unsafe c0.baseAddress!, p1 = unsafe c1.baseAddress!, dst = unsafe m.baseAddress!
                    var e = 0
                    let m0 = SIMD4(repeating: mean[0]), m1 = SIMD4(repeating: mean[1]), lim = SIMD4(repeating: distanceSquare)
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
    static func scalar(columns: [[Double]], mean: [Double], inverseCovariance: [[Double]], distanceSquare: Double, count: Int) -> [UInt8] {
        let n = columns.count
        return (0..<count).map { e in
            let u = (0..<n).map { columns[$0][e] - mean[$0] }
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
