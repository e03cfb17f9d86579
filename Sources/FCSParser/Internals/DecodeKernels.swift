// UNSAFE KERNEL: the DATA decode loops. Every function here has a safe scalar twin,
// `ScalarDecoder.decode`, and `DecodeKernelTests` compares them on seeded random rows.
//
// Bounds are checked once by the caller (`FastDecoder.decode`): `raw` holds `rows * rowBytes`
// bytes and `out` holds `fields.count * stride` doubles with `stride >= rows`.

enum FastDecoder {
    /// Decodes with the fast kernel for `uniform`, after checking both buffer sizes.
    static func decode(
        raw: [UInt8], rows: Int, layout: DataLayout, uniform: DataLayout.Uniform, into out: inout [Double],
        stride: Int
    ) {
        let params = layout.fields.count
        precondition(raw.count >= rows * layout.rowBytes, "raw block too small")
        precondition(stride >= rows && out.count >= params * stride, "output block too small")
        let rowBytes = layout.rowBytes
        let masks = layout.fields.map { $0.mask }
        unsafe raw.withUnsafeBytes { src in
            unsafe out.withUnsafeMutableBufferPointer { dst in
                let s = src.baseAddress!
                let d = dst.baseAddress!
                switch uniform {
                case .float32(let big):
                    for p in 0..<params {
                        let col = unsafe d + p * stride
                        let fieldBase = unsafe s + p * 4
                        if big {
                            for r in 0..<rows {
                                let bits = unsafe (fieldBase + r * rowBytes).loadUnaligned(as: UInt32.self)
                                unsafe col[r] = Double(Float(bitPattern: UInt32(bigEndian: bits)))
                            }
                        } else {
                            for r in 0..<rows {
                                let bits = unsafe (fieldBase + r * rowBytes).loadUnaligned(as: UInt32.self)
                                unsafe col[r] = Double(Float(bitPattern: UInt32(littleEndian: bits)))
                            }
                        }
                    }
                case .float64(let big):
                    for p in 0..<params {
                        let col = unsafe d + p * stride
                        let fieldBase = unsafe s + p * 8
                        if big {
                            for r in 0..<rows {
                                let bits = unsafe (fieldBase + r * rowBytes).loadUnaligned(as: UInt64.self)
                                unsafe col[r] = Double(bitPattern: UInt64(bigEndian: bits))
                            }
                        } else {
                            for r in 0..<rows {
                                let bits = unsafe (fieldBase + r * rowBytes).loadUnaligned(as: UInt64.self)
                                unsafe col[r] = Double(bitPattern: UInt64(littleEndian: bits))
                            }
                        }
                    }
                case .uint8:
                    for p in 0..<params {
                        let col = unsafe d + p * stride
                        let mask = UInt8(truncatingIfNeeded: masks[p])
                        for r in 0..<rows {
                            let v = unsafe (s + r * rowBytes + p).load(as: UInt8.self)
                            unsafe col[r] = Double(v & mask)
                        }
                    }
                case .uint16(let big):
                    for p in 0..<params {
                        let col = unsafe d + p * stride
                        let fieldBase = unsafe s + p * 2
                        let mask = UInt16(truncatingIfNeeded: masks[p])
                        if big {
                            for r in 0..<rows {
                                let v = unsafe (fieldBase + r * rowBytes).loadUnaligned(as: UInt16.self)
                                unsafe col[r] = Double(UInt16(bigEndian: v) & mask)
                            }
                        } else {
                            for r in 0..<rows {
                                let v = unsafe (fieldBase + r * rowBytes).loadUnaligned(as: UInt16.self)
                                unsafe col[r] = Double(UInt16(littleEndian: v) & mask)
                            }
                        }
                    }
                case .uint32(let big):
                    for p in 0..<params {
                        let col = unsafe d + p * stride
                        let fieldBase = unsafe s + p * 4
                        let mask = UInt32(truncatingIfNeeded: masks[p])
                        if big {
                            for r in 0..<rows {
                                let v = unsafe (fieldBase + r * rowBytes).loadUnaligned(as: UInt32.self)
                                unsafe col[r] = Double(UInt32(bigEndian: v) & mask)
                            }
                        } else {
                            for r in 0..<rows {
                                let v = unsafe (fieldBase + r * rowBytes).loadUnaligned(as: UInt32.self)
                                unsafe col[r] = Double(UInt32(littleEndian: v) & mask)
                            }
                        }
                    }
                }
            }
        }
    }
}

extension ByteSource {
    /// Reads `count` bytes at `offset` into the front of `buffer` (which must be large enough);
    /// returns the number of bytes read.
    func readFully(at offset: Int64, count: Int, into buffer: inout [UInt8]) throws(FCSError) -> Int {
        precondition(buffer.count >= count)
        let result = unsafe buffer.withUnsafeMutableBytes { (raw) -> Result<Int, FCSError> in
            Result { () throws(FCSError) -> Int in
                try unsafe self.readFully(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<count]))
            }
        }
        return try result.get()
    }
}

// MARK: - Encoding (writer)

/// UNSAFE KERNEL: row-major encoding of uniform float32 / float64 columns, the writer's hot
/// loop. Its safe twin is `DataSetEncoder.encodeRowsScalar`; `WriterKernelTests` compares them.
enum FastEncoder {
    static func encode<C: RandomAccessCollection>(
        columns: [C], from: Int, count: Int, width: Int, bigEndian: Bool, into out: inout [UInt8]
    ) where C.Element == Double, C.Index == Int {
        let params = columns.count
        let rowBytes = params * width
        precondition(out.count >= count * rowBytes && columns.allSatisfy { $0.count >= from + count })
        unsafe out.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress!
            for (p, col) in columns.enumerated() {
                var at = p * width
                var i = col.startIndex + from
                for _ in 0..<count {
                    let v = col[i]
                    if width == 4 {
                        let bits = Float(v).bitPattern
                        unsafe (base + at).storeBytes(
                            of: bigEndian ? bits.bigEndian : bits.littleEndian, as: UInt32.self)
                    } else {
                        let bits = v.bitPattern
                        unsafe (base + at).storeBytes(
                            of: bigEndian ? bits.bigEndian : bits.littleEndian, as: UInt64.self)
                    }
                    at += rowBytes
                    i += 1
                }
            }
        }
    }
}
