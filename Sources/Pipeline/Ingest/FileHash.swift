import CytoModel
import Foundation

/// SHA-256 of files (swift-crypto), streamed in 1 MiB chunks.
public enum FileHash {
    public static func sha256(path: String) throws -> String { try read(path: path, keepUpTo: 0).sha256 }

    /// Hashes a file in one read and returns its bytes too when it is at most `keepUpTo` bytes
    /// and not gzip (which is inflated from the path), so it can be decoded without a second read.
    public static func read(path: String, keepUpTo limit: Int) throws -> (sha256: String, bytes: [UInt8]?) {
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw SampleRejection(code: .fileIO, message: "cannot open the file")
        }
        defer { try? h.close() }
        var hasher = SHA256Hasher()
        var kept: [UInt8]? = []
        while true {
            let chunk = h.readData(ofLength: 1 << 20)
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
}
