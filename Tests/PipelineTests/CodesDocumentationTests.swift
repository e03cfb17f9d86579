import CytoModel
import FCSParser
import Foundation
import Gating
import TestSupport
import Testing

/// Every typed code is documented in docs/codes.md.
@Suite("Codes")
struct CodesDocumentationTests {
    static func documented() throws -> Set<String> {
        let text = try String(contentsOf: Paths.repoRoot.appendingPathComponent("docs/codes.md"), encoding: .utf8)
        var out = Set<String>()
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let rest = line.dropFirst(3)
            if let end = rest.firstIndex(of: "`") { out.insert(String(rest[..<end])) }
        }
        return out
    }

    @Test("docs/codes.md lists every rejection code, QC flag and FCS warning code")
    func everyCodeDocumented() throws {
        let documented = try Self.documented()
        let rejections = RejectionCode.catalogue.map(\.code.rawValue)
        let flags = QCFlag.catalogue.map(\.flag.rawValue)
        let warnings = FCSWarning.Code.all.map(\.rawValue)
        #expect(rejections.count >= 40 && flags.count >= 7 && warnings.count >= 30)
        for code in rejections + flags + warnings {
            #expect(documented.contains(code), "\(code) is not in docs/codes.md")
        }
        #expect(Set(rejections).count == rejections.count, "rejection codes are unique")
    }

    @Test("the codes the sources raise are the catalogued ones")
    func sourcesUseCatalogue() throws {
        // Every "E-..." / "QC-..." literal in the sources is in the catalogue (no ad-hoc codes).
        let catalogue = Set(RejectionCode.catalogue.map(\.code.rawValue))
        let sources = Paths.repoRoot.appendingPathComponent("Sources")
        let files =
            FileManager.default.enumerator(atPath: sources.path)?.compactMap { $0 as? String }.filter {
                $0.hasSuffix(".swift")
            } ?? []
        let pattern = try NSRegularExpression(pattern: #""((?:E|QC)-[A-Z][A-Z0-9-]+)""#)
        for file in files where !file.hasSuffix("Codes.swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for m in pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let code = String(text[Range(m.range(at: 1), in: text)!])
                #expect(catalogue.contains(code), "\(file): \(code) is not a catalogued RejectionCode")
            }
        }
    }
}
