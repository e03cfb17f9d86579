import Crypto
import Foundation

/// SHA-256 via swift-crypto (BoringSSL on Linux).
struct SHA256Hasher {
    private var h = SHA256()
    mutating func update(_ data: Data) { h.update(data: data) }
    func hex() -> String { Self.hex(h.finalize()) }

    /// Lower-case hex of a digest: the one spelling of every SHA-256 the project stores.
    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    /// SHA-256 of bytes in memory, as hex.
    static func hex(of data: Data) -> String { hex(SHA256.hash(data: data)) }
}
