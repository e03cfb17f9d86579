import Crypto
import Foundation

/// SHA-256 via swift-crypto (BoringSSL on Linux).
struct SHA256Hasher {
    private var h = SHA256()
    mutating func update(_ data: Data) { h.update(data: data) }
    func hex() -> String { h.finalize().map { String(format: "%02x", $0) }.joined() }
}
