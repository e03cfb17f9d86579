/// Small dense linear algebra for compensation matrices (row-major `[[Double]]`).
enum LinearAlgebra {
    /// Inverse by Gauss-Jordan elimination with partial pivoting. Returns nil when singular
    /// (a pivot below `1e-12` times the largest entry).
    static func inverse(_ m: [[Double]]) -> [[Double]]? {
        let n = m.count
        guard n > 0, m.allSatisfy({ $0.count == n }) else { return nil }
        var a = m
        var inv = (0..<n).map { i in (0..<n).map { $0 == i ? 1.0 : 0.0 } }
        let scale = max(m.flatMap { $0 }.map(abs).max() ?? 0, 1e-300)
        for col in 0..<n {
            var pivot = col
            for r in (col + 1)..<max(col + 1, n) where abs(a[r][col]) > abs(a[pivot][col]) { pivot = r }
            guard abs(a[pivot][col]) > 1e-12 * scale else { return nil }
            if pivot != col {
                a.swapAt(pivot, col)
                inv.swapAt(pivot, col)
            }
            let p = a[col][col]
            for k in 0..<n {
                a[col][k] /= p
                inv[col][k] /= p
            }
            for r in 0..<n where r != col {
                let f = a[r][col]
                if f == 0 { continue }
                for k in 0..<n {
                    a[r][k] -= f * a[col][k]
                    inv[r][k] -= f * inv[col][k]
                }
            }
        }
        return inv
    }

    static func transpose(_ m: [[Double]]) -> [[Double]] {
        guard let cols = m.first?.count else { return [] }
        return (0..<cols).map { c in m.map { $0[c] } }
    }

    static func multiply(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
        let inner = b.count
        let cols = b.first?.count ?? 0
        return a.map { row in
            (0..<cols).map { c in
                var s = 0.0
                for k in 0..<inner { s += row[k] * b[k][c] }
                return s
            }
        }
    }
}
