import CytoModel
import Foundation
import Store

/// A file that cannot be read (permission, I/O error, vanished, not a regular file): a
/// property of the machine, not of the content. The run rejects that file with its path and
/// goes on; the next run tries it again.
public struct UnreadableInput: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}

/// SHA-256 of files (swift-crypto), streamed in 1 MiB chunks.
public enum FileHash {
    public static func sha256(path: String) throws(UnreadableInput) -> String {
        try read(path: path, keepUpTo: 0).sha256
    }

    /// The stored hash of a file whose content could not be read.
    public static let unreadable = RecordStores.unreadableSHA256

    /// Opens a regular file for reading, or says why not (errno's words).
    static func open(_ path: String) throws(UnreadableInput) -> FileHandle {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw UnreadableInput(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw UnreadableInput(path: path, reason: "not a regular file (FIFO, device, socket or folder)")
        }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    static func chunk(_ h: FileHandle, _ path: String, _ count: Int) throws(UnreadableInput) -> Data {
        do { return try h.read(upToCount: count) ?? Data() } catch {
            throw UnreadableInput(path: path, reason: "read failed: \(error.localizedDescription)")
        }
    }

    /// Hashes a file in one read and returns its bytes too when it is at most `keepUpTo` bytes
    /// and not gzip (which is inflated from the path), so it can be decoded without a second read.
    public static func read(
        path: String, keepUpTo limit: Int
    ) throws(UnreadableInput) -> (
        sha256: String, bytes: [UInt8]?
    ) {
        let h = try open(path)
        var hasher = SHA256Hasher()
        var kept: [UInt8]? = []
        while true {
            let chunk = try chunk(h, path, 1 << 20)
            if chunk.isEmpty { break }
            hasher.update(chunk)
            if kept != nil {
                if kept!.count + chunk.count > limit {
                    kept = nil
                } else {
                    kept!.append(contentsOf: chunk)
                }
            }
        }
        if let k = kept, k.count >= 2, k[0] == 0x1F, k[1] == 0x8B { kept = nil }
        return (hasher.hex(), kept)
    }

    /// The first two bytes, to tell gzip from plain files.
    public static func isGzip(path: String) throws(UnreadableInput) -> Bool {
        let h = try open(path)
        let head = try chunk(h, path, 2)
        return head.count == 2 && head[head.startIndex] == 0x1F && head[head.startIndex + 1] == 0x8B
    }

    /// SHA-256 of a file's first `count` bytes and its size: the identity of a file refused on its
    /// HEADER and TEXT, which is never read whole.
    public static func headSHA256(path: String, count: Int = 1 << 20) throws(UnreadableInput) -> String {
        let h = try open(path)
        var hasher = SHA256Hasher()
        hasher.update(try chunk(h, path, count))
        let size = (try? h.seekToEnd()) ?? 0
        hasher.update(Data("size:\(size)".utf8))
        return hasher.hex()
    }
}
