import CytoModel
import Foundation

/// SHA-256 of files (swift-crypto), streamed in 1 MiB chunks.
public enum FileHash {
    public static func sha256(path: String) throws -> String {
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw SampleRejection(code: .fileIO, message: "cannot open the file")
        }
        defer { try? h.close() }
        var hasher = SHA256Hasher()
        while true {
            let chunk = h.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            hasher.update(chunk)
        }
        return hasher.hex()
    }
}
