import FCSParser
import Foundation

/// Locates the repository's fixtures and the shared corpus (beside the checkout).
public enum Paths {
    /// Repository root, found from this file's location (Sources/TestSupport/TestSupport.swift).
    public static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var fixtures: URL { repoRoot.appendingPathComponent("fixtures") }

    /// `../shared/corpus` beside the checkout, or `CYTOINGEST_SHARED` when set.
    public static var sharedCorpus: URL {
        if let env = ProcessInfo.processInfo.environment["CYTOINGEST_SHARED"] {
            return URL(fileURLWithPath: env).appendingPathComponent("corpus")
        }
        return repoRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus")
    }

    /// True when the shared corpus folder `name` (fcs, gatingml, ...) exists.
    public static func sharedAvailable(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: sharedCorpus.appendingPathComponent(name).path)
    }

    /// The `cytoingest` executable built with the running tests: beside the test binary in the
    /// build folder, whatever the scratch path (`swift test --scratch-path X`), or
    /// `CYTOINGEST_BINARY` when set.
    public static var cytoingestBinary: String? {
        if let env = ProcessInfo.processInfo.environment["CYTOINGEST_BINARY"] { return env }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var candidates = [exe.deletingLastPathComponent().appendingPathComponent("cytoingest")]
        // An .xctest bundle directory: the executable sits inside it.
        for url in [Bundle.main.bundleURL, Bundle.main.executableURL ?? exe] {
            var dir = url
            for _ in 0..<4 {
                dir = dir.deletingLastPathComponent()
                candidates.append(dir.appendingPathComponent("cytoingest"))
            }
        }
        return candidates.map(\.path).first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A fresh temporary directory.
    public static func temporaryDirectory(_ tag: String = "test") -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("cytoingest-\(tag)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A small, fast, seedable generator (SplitMix64) so randomised tests repeat exactly.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public let seed: UInt64
    public init(seed: UInt64) {
        self.seed = seed
        self.state = seed
    }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Minimal CSV reading for test tables (quoted fields, doubled quotes).
public enum CSV {
    public static func rows(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        // "\r\n" is one Character in Swift: normalise line ends first.
        var it = text.replacingOccurrences(of: "\r\n", with: "\n").makeIterator()
        while let c = it.next() {
            if quoted {
                if c == "\"" {
                    if let n = it.next() {
                        if n == "\"" {
                            field.append("\"")
                        } else {
                            quoted = false
                            if n == "," {
                                row.append(field); field = ""
                            } else if n == "\n" {
                                row.append(field); rows.append(row); row = []; field = ""
                            } else if n != "\r" {
                                field.append(n)
                            }
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                row.append(field); field = ""
            } else if c == "\n" {
                row.append(field); rows.append(row); row = []; field = ""
            } else if c != "\r" {
                field.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }

    /// Rows as dictionaries keyed by the header row.
    public static func records(_ text: String) -> [[String: String]] {
        let all = rows(text)
        guard let header = all.first else { return [] }
        return all.dropFirst().map { r in
            Dictionary(
                uniqueKeysWithValues: zip(header, r + Array(repeating: "", count: max(0, header.count - r.count))))
        }
    }
}

/// Runs a program to its end with its output discarded; its exit status, or -1 when it cannot start.
@discardableResult
public func runProgram(_ args: [String]) -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: args[0])
    p.arguments = Array(args.dropFirst())
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    do { try p.run() } catch { return -1 }
    p.waitUntilExit()
    return p.terminationStatus
}
