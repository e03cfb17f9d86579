import CZlib

// UNSAFE KERNEL: file descriptors, pread and zlib. This file and DecodeKernels.swift are the only
// places in FCSParser that touch raw memory; everything above them works on safe values.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Random-access byte input. Implementations: a regular file (pread), memory, and sequential
/// streams (pipes, gzip) that emulate seeking forward and rewind when they can.
package protocol ByteSource: AnyObject {
    /// Total size in bytes, or nil when it cannot be known without consuming the input.
    var size: Int64? { get }
    /// Reads up to `buffer.count` bytes at `offset`. Returns the number read, which is smaller
    /// only at the end of the input.
    func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(FCSError) -> Int
}

extension ByteSource {
    /// Reads `count` bytes at `offset` into a new array, growing it chunk by chunk so that a
    /// hostile length never causes a large allocation beyond the bytes that really exist.
    /// Returns fewer bytes only when the input ends first.
    package func readBytes(at offset: Int64, count: Int) throws(FCSError) -> [UInt8] {
        precondition(count >= 0)
        var out: [UInt8] = []
        let chunk = 1 << 20
        out.reserveCapacity(Swift.min(count, chunk))
        var done = 0
        while done < count {
            let want = Swift.min(chunk, count - done)
            let old = out.count
            out.append(contentsOf: repeatElement(0, count: want))
            let result = unsafe out.withUnsafeMutableBytes { (raw) -> Result<Int, FCSError> in
                let slice = unsafe UnsafeMutableRawBufferPointer(rebasing: raw[old..<(old + want)])
                return Result { () throws(FCSError) -> Int in
                    try unsafe self.readFully(at: offset + Int64(done), into: slice)
                }
            }
            let got = try result.get()
            done += got
            if got < want {
                out.removeLast(want - got)
                break
            }
        }
        return out
    }

    /// Reads until `buffer` is full or the input ends; returns the number of bytes read.
    package func readFully(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(FCSError) -> Int {
        var done = 0
        while done < buffer.count {
            let rest = unsafe UnsafeMutableRawBufferPointer(rebasing: buffer[done...])
            let n = try unsafe read(at: offset + Int64(done), into: rest)
            if n == 0 { break }
            done += n
        }
        return done
    }
}

// MARK: - Memory

package final class MemoryByteSource: ByteSource {
    let bytes: [UInt8]
    package init(_ bytes: [UInt8]) { self.bytes = bytes }
    package var size: Int64? { Int64(bytes.count) }
    package func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(FCSError) -> Int {
        guard offset >= 0, offset < Int64(bytes.count) else { return 0 }
        let start = Int(offset)
        let n = Swift.min(buffer.count, bytes.count - start)
        unsafe bytes.withUnsafeBytes { src in
            unsafe buffer.baseAddress!.copyMemory(from: src.baseAddress! + start, byteCount: n)
        }
        return n
    }
}

// MARK: - Files

private func errnoMessage(_ e: Int32) -> String {
    if let p = unsafe strerror(e) { return unsafe String(cString: p) }
    return "errno \(e)"
}

/// A regular file read with `pread`; the page cache does the rest.
package final class FileByteSource: ByteSource {
    let fd: Int32
    let owns: Bool
    package let size: Int64?
    let name: String

    package init(fd: Int32, owns: Bool, size: Int64, name: String) {
        self.fd = fd
        self.owns = owns
        self.size = size
        self.name = name
    }

    deinit { if owns { _ = close(fd) } }

    package func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(FCSError) -> Int {
        if buffer.count == 0 { return 0 }
        while true {
            let n = unsafe pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 { return n }
            let e = errno
            if e == EINTR { continue }
            throw FCSError(.io, "read failed at byte \(offset): \(errnoMessage(e))", file: name, byteOffset: offset)
        }
    }
}

/// A source of bytes that can only be read front to back.
package protocol SequentialStream: AnyObject {
    /// Reads up to `buffer.count` bytes; 0 means end of input.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(FCSError) -> Int
    /// Starts again from the first byte, if the underlying input allows it.
    var canRewind: Bool { get }
    func rewind() throws(FCSError)
}

/// Emulates random access over a sequential stream: forward seeks skip, backward seeks rewind
/// (when the stream can) and otherwise fail with a clear error.
package final class SequentialByteSource: ByteSource {
    let stream: any SequentialStream
    var position: Int64 = 0
    package var size: Int64?
    let name: String
    private var scratch: [UInt8] = []

    package init(stream: any SequentialStream, size: Int64?, name: String) {
        self.stream = stream
        self.size = size
        self.name = name
    }

    package func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(FCSError) -> Int {
        if offset < position {
            guard stream.canRewind else {
                throw FCSError(
                    .io,
                    "input is not seekable and a segment at byte \(offset) lies before the current position \(position); save the stream to a file and read that",
                    file: name, byteOffset: offset)
            }
            try stream.rewind()
            position = 0
        }
        if offset > position {
            if scratch.isEmpty { scratch = [UInt8](repeating: 0, count: 1 << 16) }
            while position < offset {
                let want = Int(Swift.min(Int64(scratch.count), offset - position))
                let result = unsafe scratch.withUnsafeMutableBytes { (raw) -> Result<Int, FCSError> in
                    Result { () throws(FCSError) -> Int in
                        try unsafe stream.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]))
                    }
                }
                let n = try result.get()
                if n == 0 { return 0 }
                position += Int64(n)
            }
        }
        var done = 0
        while done < buffer.count {
            let n = try unsafe stream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            if n == 0 { break }
            done += n
        }
        position += Int64(done)
        return done
    }
}

/// A pipe or other non-seekable descriptor.
package final class DescriptorStream: SequentialStream {
    let fd: Int32
    let name: String
    package init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }
    package var canRewind: Bool { false }
    package func rewind() throws(FCSError) {
        throw FCSError(.io, "input cannot be rewound", file: name)
    }
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(FCSError) -> Int {
        while true {
            let n = unsafe Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            let e = errno
            if e == EINTR { continue }
            throw FCSError(.io, "read failed: \(errnoMessage(e))", file: name)
        }
    }
}

/// Streaming gzip (or zlib) decompression of a descriptor, multi-member aware. Memory is bounded
/// by the input buffer and zlib's 32 KiB window.
@safe package final class GzipStream: SequentialStream {
    let fd: Int32
    let owns: Bool
    let seekable: Bool
    let name: String
    private let zs: UnsafeMutablePointer<z_stream>
    private let inputBuffer: UnsafeMutableRawPointer
    private let inputCapacity = 1 << 18
    private var inputEOF = false
    private var finished = false
    private var initialised = false

    package init(fd: Int32, owns: Bool, seekable: Bool, name: String) throws(FCSError) {
        self.fd = fd
        self.owns = owns
        self.seekable = seekable
        self.name = name
        unsafe self.zs = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        unsafe self.inputBuffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 18, alignment: 64)
        try start()
    }

    deinit {
        if initialised { unsafe _ = inflateEnd(zs) }
        unsafe zs.deallocate()
        unsafe inputBuffer.deallocate()
        if owns { _ = close(fd) }
    }

    private func start() throws(FCSError) {
        if initialised { unsafe _ = inflateEnd(zs) }
        unsafe zs.initialize(to: z_stream())
        let rc = unsafe cytoingest_inflateInit2(zs, 15 + 32)
        guard rc == Z_OK else { throw FCSError(.gzip, "zlib initialisation failed (\(rc))", file: name) }
        initialised = true
        inputEOF = false
        finished = false
        unsafe zs.pointee.avail_in = 0
    }

    package var canRewind: Bool { seekable }

    package func rewind() throws(FCSError) {
        guard seekable, lseek(fd, 0, SEEK_SET) == 0 else {
            throw FCSError(.io, "gzip input cannot be rewound", file: name)
        }
        try start()
    }

    /// Reads more compressed bytes; returns false at end of input.
    private func refill() throws(FCSError) -> Bool {
        while true {
            let r = unsafe Glibc.read(fd, inputBuffer, inputCapacity)
            if r > 0 {
                unsafe zs.pointee.next_in = inputBuffer.assumingMemoryBound(to: Bytef.self)
                unsafe zs.pointee.avail_in = UInt32(r)
                return true
            }
            if r == 0 { inputEOF = true; return false }
            if errno == EINTR { continue }
            throw FCSError(.io, "read failed: \(errnoMessage(errno))", file: name)
        }
    }

    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(FCSError) -> Int {
        if finished || buffer.count == 0 { return 0 }
        var produced = 0
        while produced < buffer.count {
            if unsafe zs.pointee.avail_in == 0 {
                let more = inputEOF ? false : try refill()
                if !more {
                    if produced == 0 {
                        throw FCSError(.gzip, "gzip stream is truncated (no end-of-stream marker)", file: name)
                    }
                    break
                }
            }
            unsafe zs.pointee.next_out = (buffer.baseAddress! + produced).assumingMemoryBound(to: Bytef.self)
            let room = Swift.min(buffer.count - produced, Int(UInt32.max))
            unsafe zs.pointee.avail_out = UInt32(room)
            let rc = unsafe inflate(zs, Z_NO_FLUSH)
            produced += unsafe room - Int(zs.pointee.avail_out)
            switch rc {
            case Z_STREAM_END:
                // Another gzip member may follow (concatenated .gz files).
                let more = unsafe zs.pointee.avail_in != 0 ? true : try refill()
                if !more {
                    finished = true
                    return produced
                }
                guard unsafe inflateReset(zs) == Z_OK else {
                    throw FCSError(.gzip, "gzip member reset failed", file: name)
                }
            case Z_OK, Z_BUF_ERROR:
                continue
            default:
                let msg = unsafe zs.pointee.msg.map { unsafe String(cString: $0) } ?? "code \(rc)"
                throw FCSError(.gzip, "gzip data is corrupt: \(msg)", file: name)
            }
        }
        return produced
    }

    /// Largest decompressed size read when the HEADER and TEXT give no bound (several data sets).
    package static let maxInflated: Int64 = 16 << 30

    /// Decompresses the stream once to learn its size, at most `limit` bytes, then rewinds. Past
    /// a limit the FCS segments claim (`claimed`), the rest is never needed and the size is the
    /// limit; past the global cap the file is refused.
    package func measure(upTo limit: Int64, name: String, claimed: Bool) throws(FCSError) -> Int64 {
        var total: Int64 = 0
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 18, alignment: 64)
        defer { unsafe buf.deallocate() }
        while total < limit {
            let want = Int(Swift.min(Int64(buf.count), limit - total))
            let n = try unsafe self.read(into: UnsafeMutableRawBufferPointer(rebasing: buf[0..<want]))
            if n == 0 { break }
            total += Int64(n)
        }
        if total >= limit && !claimed {
            var one: UInt8 = 0
            let more = try unsafe withUnsafeMutableBytes(of: &one) { (raw) throws(FCSError) -> Int in
                try unsafe self.read(into: raw)
            }
            if more > 0 {
                throw FCSError(
                    .gzip, "the gzip stream decompresses to more than \(limit >> 30) GiB; refused", file: name,
                    byteOffset: limit)
            }
        }
        try rewind()
        return total
    }
}

/// Hands every byte of the input to `sink` once, in order, while the reader reads what it needs
/// (gaps it skips are read for the sink; `finish` reads what it never asked for): the file's hash
/// in the same pass as its decoding. Safe twin: the file's own bytes (tests compare).
package final class SinkingByteSource: ByteSource {
    let base: any ByteSource
    let sink: ([UInt8]) -> Void
    /// Bytes before this offset went to the sink.
    var next: Int64 = 0

    package var size: Int64? { base.size }

    package init(base: any ByteSource, sink: @escaping ([UInt8]) -> Void) {
        self.base = base
        self.sink = sink
    }

    package func read(at offset: Int64, into buffer: UnsafeMutableRawBufferPointer) throws(FCSError) -> Int {
        if offset > next { try feed(upTo: offset) }
        let n = try unsafe base.read(at: offset, into: buffer)
        if n > 0, offset <= next, offset + Int64(n) > next {
            let from = Int(next - offset)
            unsafe sink(Array(UnsafeRawBufferPointer(rebasing: buffer[from..<n])))
            next = offset + Int64(n)
        }
        return n
    }

    /// Reads `[next, end)` (or to the end of the input) for the sink only.
    func feed(upTo end: Int64) throws(FCSError) {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { unsafe buf.deallocate() }
        while next < end {
            let want = Int(Swift.min(Int64(buf.count), end - next))
            let n = try unsafe base.read(at: next, into: UnsafeMutableRawBufferPointer(rebasing: buf[0..<want]))
            if n == 0 { break }
            unsafe sink(Array(UnsafeRawBufferPointer(rebasing: buf[0..<n])))
            next += Int64(n)
        }
    }

    /// Sends the rest of the input to the sink.
    package func finish() throws(FCSError) { try feed(upTo: .max) }
}

// MARK: - Opening inputs

package enum InputOpener {
    /// How far the data sets of a stream reach, from its HEADER and TEXT (plus the CRC and 1 MiB
    /// of slack); nil when they do not say (several data sets, or segments the reader will refuse
    /// with their own error).
    static func inflationLimit(_ s: any ByteSource) throws(FCSError) -> Int64? {
        let head = try s.readBytes(at: 0, count: FCSHeader.length)
        var warnings: [FCSWarning] = []
        let header = try FCSHeader.parse(head, base: 0, warnings: &warnings)
        guard let t = header.text, t.start >= Int64(FCSHeader.length), t.end > t.start, t.length <= 99_999_999 else {
            return nil
        }
        let textBytes = try s.readBytes(at: t.start, count: Int(t.length))
        guard textBytes.count == Int(t.length),
            let parsed = try? TextSegmentParser.parse(
                textBytes, offset: t.start, segment: .text, interpretation: .automatic, expectParameters: true)
        else { return nil }
        func number(_ key: String) -> Int64? { parsed.text[key].flatMap { Int64($0.trimmingSpaces) } }
        if let next = number("$NEXTDATA"), next != 0 { return nil }
        var end = t.end
        for r in [header.data, header.analysis] { if let r { end = Swift.max(end, r.end) } }
        for key in ["$ENDDATA", "$ENDANALYSIS", "$ENDSTEXT"] { if let v = number(key) { end = Swift.max(end, v) } }
        guard end < GzipStream.maxInflated else { return nil }
        return end + 1 + 8 + (1 << 20)
    }

    /// Opens a path: `.gz` files (by magic bytes) decompress as a stream, other files use pread.
    package static func open(path: String) throws(FCSError) -> any ByteSource {
        let fd = unsafe Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw FCSError(.io, "cannot open: \(errnoMessage(errno))", file: path)
        }
        return try source(fd: fd, owns: true, name: path)
    }

    /// Wraps a descriptor. Regular files are read in place; pipes and sockets as streams.
    package static func source(fd: Int32, owns: Bool, name: String) throws(FCSError) -> any ByteSource {
        var st = stat()
        guard unsafe fstat(fd, &st) == 0 else {
            if owns { _ = close(fd) }
            throw FCSError(.io, "cannot stat: \(errnoMessage(errno))", file: name)
        }
        let regular = (st.st_mode & S_IFMT) == S_IFREG
        if regular {
            var magic: (UInt8, UInt8) = (0, 0)
            let n = unsafe withUnsafeMutableBytes(of: &magic) { unsafe pread(fd, $0.baseAddress, 2, 0) }
            if n == 2 && magic.0 == 0x1f && magic.1 == 0x8b {
                let gz = try GzipStream(fd: fd, owns: owns, seekable: true, name: name)
                // Cheap checks first: the HEADER and TEXT say how far the data sets reach; the
                // stream is never inflated beyond that (a gzip bomb is "not FCS" in microseconds,
                // or stops at what its HEADER and TEXT claim).
                let limit = try inflationLimit(SequentialByteSource(stream: gz, size: nil, name: name))
                try gz.rewind()
                let size = try gz.measure(upTo: limit ?? GzipStream.maxInflated, name: name, claimed: limit != nil)
                return SequentialByteSource(stream: gz, size: size, name: name)
            }
            return FileByteSource(fd: fd, owns: owns, size: Int64(st.st_size), name: name)
        }
        return SequentialByteSource(stream: DescriptorStream(fd: fd, name: name), size: nil, name: name)
    }
}
