#if canImport(Glibc)
import Glibc
#endif

// Unsafe kernel: POSIX file output for `FCSWriter` (create, write all bytes, retry on EINTR).
// Its safe twin is Foundation's `Data.write(to:)`: `ReaderTests` writes the same data set both
// ways and compares the files byte for byte.
enum FileOutput {
    /// Creates (or truncates) `path` for writing.
    static func create(path: String) throws(FCSError) -> Int32 {
        let fd = unsafe open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FCSError(.write, "cannot create the file (errno \(errno))", file: path) }
        return fd
    }

    /// Writes every byte, retrying interrupted writes.
    static func writeAll(_ bytes: [UInt8], to fd: Int32, path: String) throws(FCSError) {
        var done = 0
        while done < bytes.count {
            let n = unsafe bytes.withUnsafeBytes { raw in unsafe write(fd, raw.baseAddress! + done, raw.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FCSError(.write, "write failed (errno \(errno))", file: path)
            }
            done += n
        }
    }
}
