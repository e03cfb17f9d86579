import Foundation
import Labs
import TestSupport
import Testing

@testable import cytoingest

/// `labs check` writes results as it parses them (formatted, spilled to a temporary file past a
/// few MB), never the parsed records whole: the output must still be one valid document.
@Suite("cytoingest labs check (streamed output)")
struct LabsCheckTests {
    static let labs = Paths.fixtures.appendingPathComponent("cohort/labs")

    @Test("JSON is one valid document with every result of every file; text lists them; a bad file exits 65")
    func streamed() throws {
        let a = Self.labs.appendingPathComponent("hivrna-export.xml").path
        let b = Self.labs.appendingPathComponent("hivrna-fhir.xml").path
        let expected = [a, b].map { LabImporter.check(path: $0) }
        let json = try CLIProcess.run(["labs", "check", a, b, "--format", "json"])
        #expect(json.status == 0, "\(json.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(doc["schemaVersion"] as? Int == 1)
        let files = try #require(doc["files"] as? [[String: Any]])
        #expect(files.count == 2)
        for (f, e) in zip(files, expected) {
            let results = try #require(f["results"] as? [[String: Any]])
            #expect(results.count == e.results.count && !results.isEmpty)
            #expect(f["status"] as? String == "accepted" && (f["rejected"] as? [Any])?.isEmpty == true)
            for (r, x) in zip(results, e.results) {
                #expect(r["id"] as? String == x.id && r["patient"] as? String == x.patient)
                #expect((r["copies"] as? Double) == x.copies || (r["copies"] is NSNull && x.copies == nil))
                #expect(r["censor"] as? String == x.censor?.rawValue)
                for key in ["assay", "censor", "collected", "copies", "id", "limit", "log10", "outcome", "specimen"] {
                    #expect(r[key] != nil, "results[].\(key)")
                }
            }
        }
        let text = try CLIProcess.run(["labs", "check", a])
        #expect(text.status == 0)
        #expect(text.stdout.hasPrefix("\(a): accepted"))
        #expect(text.stdout.split(separator: "\n").count >= expected[0].results.count + 1)
        // A structurally broken file: rejected, no results listed, exit 65.
        let dir = Paths.temporaryDirectory("labs-check")
        defer { try? FileManager.default.removeItem(at: dir) }
        let broken = dir.appendingPathComponent("broken.xml").path
        var bytes = try String(contentsOfFile: a, encoding: .utf8)
        bytes = String(bytes.dropLast(40))
        try Data(bytes.utf8).write(to: URL(fileURLWithPath: broken))
        let bad = try CLIProcess.run(["labs", "check", broken, "--format", "json"])
        #expect(bad.status == 65)
        let badDoc = try #require(try JSONSerialization.jsonObject(with: Data(bad.stdout.utf8)) as? [String: Any])
        let badFile = try #require((badDoc["files"] as? [[String: Any]])?.first)
        #expect(badFile["status"] as? String == "rejected" && (badFile["results"] as? [Any])?.isEmpty == true)
        #expect(badFile["error"] != nil)
    }

    @Test("JSON strings are escaped as JSONEncoder escapes them")
    func escaping() throws {
        for s in ["plain", "quote \" and \\ backslash", "tab\tnew\nline", "ctrl \u{01}", "slash / kept", "ünï"] {
            let ours = JSONText.string(s)
            let theirs = String(decoding: try jsonEncoder().encode([s]), as: UTF8.self)
            let decoded = try JSONDecoder().decode([String].self, from: Data("[\(ours)]".utf8))
            #expect(decoded == [s], "\(ours) vs \(theirs)")
        }
        #expect(JSONText.number(12345) == "12345" && JSONText.number(nil) == "null" && JSONText.number(.nan) == "null")
        #expect(Double(JSONText.number(3.899765801944386)) == 3.899765801944386)
    }
}
