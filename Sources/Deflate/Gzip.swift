import CZlib

/// zlib failed to compress (out of memory, bad level).
public struct DeflateError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Gzip compression for writing `.fcs.gz` (and other) files; zlib streams and CRC-32 for PNG.
public enum Gzip {
    /// Compresses bytes into a gzip member with no time stamp, so the output depends only on
    /// the input and the level.
    public static func compress(_ input: [UInt8], level: Int32 = 6) throws(DeflateError) -> [UInt8] {
        try deflate(input, level: level, windowBits: 15 + 16)
    }

    /// Compresses bytes into a zlib stream (RFC 1950), as PNG's IDAT wants.
    public static func zlibCompress(_ input: [UInt8], level: Int32 = 6) throws(DeflateError) -> [UInt8] {
        try deflate(input, level: level, windowBits: 15)
    }

    /// CRC-32 (ISO 3309, as gzip and PNG use) of bytes, continuing from `crc`.
    public static func crc32(_ bytes: [UInt8], crc: UInt32 = 0) -> UInt32 {
        unsafe bytes.withUnsafeBufferPointer { b in
            UInt32(unsafe CZlib.crc32(UInt(crc), b.baseAddress, UInt32(b.count)))
        }
    }

    private static func deflate(_ input: [UInt8], level: Int32, windowBits: Int32) throws(DeflateError) -> [UInt8] {
        var stream = unsafe z_stream()
        guard unsafe cytoingest_deflateInit2(&stream, level, windowBits) == Z_OK else {
            throw DeflateError(message: "zlib could not start compressing")
        }
        defer { unsafe _ = deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(unsafe deflateBound(&stream, UInt(input.count))) + 64)
        var source = input
        let (rc, produced) = unsafe source.withUnsafeMutableBufferPointer { inBuf in
            unsafe output.withUnsafeMutableBufferPointer { outBuf in
                unsafe stream.next_in = inBuf.baseAddress
                unsafe stream.avail_in = UInt32(inBuf.count)
                unsafe stream.next_out = outBuf.baseAddress
                unsafe stream.avail_out = UInt32(outBuf.count)
                let rc = unsafe CZlib.deflate(&stream, Z_FINISH)
                return unsafe (rc, outBuf.count - Int(stream.avail_out))
            }
        }
        guard rc == Z_STREAM_END else { throw DeflateError(message: "zlib compression failed (\(rc))") }
        return Array(output.prefix(produced))
    }
}
