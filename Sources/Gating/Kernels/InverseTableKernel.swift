// Unsafe kernel: the logicle/hyperlog inverse table over a column. Its safe scalar twin is
// `InverseTable.inverse(_:exact:)` (one value); `GatingCoreTests` compares the two on every
// event of the transform tests.

extension InverseTable {
    /// Inverts a column: the hot loop of logicle and hyperlog.
    func inverse(column: ArraySlice<Double>, into out: inout [Double], exact: Biexponential) {
        precondition(out.count >= column.count)
        guard !xs.isEmpty else {
            for (i, x) in column.enumerated() { out[i] = exact.inverse(x) }
            return
        }
        let n = column.count
        let knotCount = xs.count
        let bucketCount = bucket.count
        let y0 = self.y0, h = self.h, xMax = self.xMax, keyBase = self.keyBase
        unsafe xs.withUnsafeBufferPointer { xsb in
            unsafe coefficients.withUnsafeBufferPointer { cfb in
                unsafe bucket.withUnsafeBufferPointer { bb in
                    unsafe column.withUnsafeBufferPointer { cb in
                        unsafe out.withUnsafeMutableBufferPointer { ob in
                            let xp = xsb.baseAddress!, cf = cfb.baseAddress!, bp = bb.baseAddress!
                            let cp = cb.baseAddress!, op = ob.baseAddress!
                            for i in 0..<n {
                                let x = unsafe cp[i]
                                let ax = abs(x)
                                guard ax < xMax else {
                                    unsafe op[i] = exact.inverse(x)
                                    continue
                                }
                                let key = Swift.min(
                                    Swift.max(Int(Float(ax).bitPattern >> 13) - keyBase, 0), bucketCount - 1)
                                var k = Int(unsafe bp[key])
                                while unsafe k > 0 && xp[k] > ax { k -= 1 }
                                while unsafe k + 2 < knotCount && xp[k + 1] <= ax { k += 1 }
                                let c = unsafe cf + 5 * k
                                let s = unsafe (ax - c[0]) * c[1]
                                let y = unsafe y0 + Double(k) * h + s * (c[2] + s * (c[3] + s * c[4]))
                                unsafe op[i] = x < 0 ? 2 * y0 - y : y
                            }
                        }
                    }
                }
            }
        }
    }
}
