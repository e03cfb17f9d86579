import Foundation
import Glibc
import TestSupport
import Testing

/// Faults seen from the command line (whole processes): inputs that cannot be read, hostile
/// file names, missing input roots, fatal errors, files that are not stores.
@Suite("Reliability from the command line (whole processes)", .serialized)
struct ReliabilityCLITests {
    /// A private copy of the fixture cohort whose inputs are folders, owned by `nobody` when the
    /// tests run as root (so that a file mode can keep the run out).
    static func workspace(_ tag: String) throws -> URL {
        let dir = Paths.temporaryDirectory(tag)
        try FileManager.default.copyItem(
            at: Paths.fixtures.appendingPathComponent("cohort"), to: dir.appendingPathComponent("cohort"))
        var text = try String(contentsOf: Paths.repoRoot.appendingPathComponent("pipeline.json"), encoding: .utf8)
        text = text.replacingOccurrences(of: "fixtures/cohort/labs/hivrna-export.xml", with: "cohort/labs")
        text = text.replacingOccurrences(of: "fixtures/cohort", with: "cohort")
        try Data(text.utf8).write(to: dir.appendingPathComponent("pipeline.json"))
        return dir
    }

    /// Runs the CLI, as `nobody` when this process is root (root reads every file whatever its mode).
    static func run(_ args: [String], in dir: URL, asNobody: Bool = false) throws -> CLIProcess {
        guard asNobody, getuid() == 0 else { return try CLIProcess.run(args, in: dir) }
        // A copy of the program inside the workspace: the build folder may sit where `nobody`
        // cannot reach (a clone under /root).
        let binary = dir.appendingPathComponent("cytoingest-under-test").path
        if !FileManager.default.fileExists(atPath: binary) {
            try FileManager.default.copyItem(atPath: try #require(Paths.cytoingestBinary), toPath: binary)
        }
        runProgram(["/usr/bin/chown", "-R", "nobody", dir.path])
        return try CLIProcess.run(executable: "/usr/sbin/runuser", ["-u", "nobody", "--", binary] + args, in: dir)
    }

    static func rejections(_ dir: URL, asNobody: Bool = false) throws -> [[String: Any]] {
        let r = try run(["rejections", "--format", "json"], in: dir, asNobody: asNobody)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        return try #require(doc["rejections"] as? [[String: Any]])
    }

    @Test(
        "D2: an unreadable FCS or lab file is rejected with its path; the run goes on (exit 65) and retries it next time"
    )
    func unreadableInputs() throws {
        let dir = try Self.workspace("unreadable")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fcs = dir.appendingPathComponent("cohort/fcs/P001_M01.fcs.gz").path
        let lab = dir.appendingPathComponent("cohort/labs/hivrna-fhir.xml").path
        chmod(fcs, 0)
        chmod(lab, 0)
        let first = try Self.run(["run", "--quiet"], in: dir, asNobody: true)
        #expect(first.status == 65, "\(first.stderr)")
        #expect(first.stderr.contains("rejected cohort/fcs/P001_M01.fcs.gz: E-FILE-IO"), "\(first.stderr)")
        let rejected = try Self.rejections(dir, asNobody: true)
        let byFile = Dictionary(rejected.map { ($0["file"] as! String, $0) }, uniquingKeysWith: { a, _ in a })
        #expect((byFile["cohort/fcs/P001_M01.fcs.gz"]?["message"] as? String)?.contains("Permission denied") == true)
        #expect(byFile["cohort/labs/hivrna-fhir.xml"]?["code"] as? String == "E-FILE-IO")
        // Everything else was ingested, and the records were built.
        let samples = try Self.run(["samples", "--format", "json"], in: dir, asNobody: true)
        #expect(samples.stdout.components(separatedBy: "\"file\" :").count - 1 == 23)
        let records = try Self.run(["records", "--format", "csv"], in: dir, asNobody: true)
        #expect(CSV.rows(records.stdout).count == 25, "records rebuilt: \(records.stdout.prefix(200))")
        // Readable again: the next run takes them, nothing outstanding.
        chmod(fcs, 0o644)
        chmod(lab, 0o644)
        let second = try Self.run(["run", "--quiet"], in: dir, asNobody: true)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try Self.rejections(dir, asNobody: true).isEmpty)
    }

    @Test(
        "D9: a FIFO or a link loop among the inputs is rejected with its path; a missing or empty input root is exit 78"
    )
    func oddInputs() throws {
        let dir = try Self.workspace("odd-inputs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("cohort/fcs/pipe.fcs").path
        #expect(mkfifo(fifo, 0o644) == 0)
        let loop = dir.appendingPathComponent("cohort/fcs/loop.fcs").path
        #expect(symlink("loop.fcs", loop) == 0)
        let r = try CLIProcess.run(["run", "--quiet"], in: dir)
        #expect(r.status == 65, "\(r.stderr)")
        let files = Set(try Self.rejections(dir).compactMap { $0["file"] as? String })
        #expect(files == ["cohort/fcs/pipe.fcs", "cohort/fcs/loop.fcs"], "\(files)")
        // The share is unmounted: its mount point is empty, or gone. Never "every file missing".
        let fcs = dir.appendingPathComponent("cohort/fcs")
        try FileManager.default.moveItem(at: fcs, to: dir.appendingPathComponent("elsewhere"))
        let gone = try CLIProcess.run(["run", "--quiet"], in: dir)
        #expect(gone.status == 78 && gone.stderr.contains("cohort/fcs"), "\(gone.stderr)")
        try FileManager.default.createDirectory(at: fcs, withIntermediateDirectories: true)
        let empty = try CLIProcess.run(["run", "--quiet"], in: dir)
        #expect(empty.status == 78, "\(empty.stderr)")
        let samples = try CLIProcess.run(["samples", "--format", "csv"], in: dir)
        #expect(!samples.stdout.contains(",missing"), "no stored file was marked missing")
    }

    @Test("D8: a file name with a line break or a terminal escape stays one escaped line in the text log")
    func hostileNames() throws {
        let dir = try Self.workspace("hostile-names")
        defer { try? FileManager.default.removeItem(at: dir) }
        let name = "evil\nrejected fake.fcs: forged\u{1B}[2J.fcs"
        try Data("not FCS at all".utf8).write(to: dir.appendingPathComponent("cohort/fcs").appendingPathComponent(name))
        let r = try CLIProcess.run(["run", "--quiet"], in: dir)
        #expect(r.status == 65)
        #expect(!r.stderr.contains("\u{1B}"), "an escape reached the terminal")
        let lines = r.stderr.split(separator: "\n")
        #expect(!lines.contains { $0.hasPrefix("rejected fake.fcs") }, "a forged line: \(r.stderr)")
        #expect(
            lines.contains {
                $0.hasPrefix("rejected cohort/fcs/evil\\u{a}rejected fake.fcs: forged\\u{1b}[2J.fcs: FCS-not_fcs")
            }, "\(r.stderr)")
    }

    @Test(
        "D10: a fatal store error is one coded line naming the store (JSON under --log-format json), never a raw library string"
    )
    func fatalErrors() throws {
        let dir = try Self.workspace("fatal")
        defer { try? FileManager.default.removeItem(at: dir) }
        // The store path holds a file that is not a database (a damaged copy, a wrong path).
        let db = dir.appendingPathComponent("store.sqlite").path
        try Data(String(repeating: "not a database ", count: 400).utf8).write(to: URL(fileURLWithPath: db))
        let text = try CLIProcess.run(["run", "--quiet", "--database", db], in: dir)
        #expect(text.status == 78, "\(text.stderr)")
        #expect(text.stderr.hasPrefix("error[E-STORE-SCHEMA]: \(db): "), "\(text.stderr)")
        #expect(text.stderr.split(separator: "\n").count == 1, "\(text.stderr)")
        let json = try CLIProcess.run(["run", "--quiet", "--database", db, "--log-format", "json"], in: dir)
        let line = try #require(json.stderr.split(separator: "\n").last)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(doc["code"] as? String == "E-STORE-SCHEMA" && doc["file"] as? String == db)
        #expect(doc["level"] as? String == "error")
        // The store's folder does not exist: a configuration matter, named.
        let nowhere = dir.appendingPathComponent("no/such/folder/store.sqlite").path
        let missing = try CLIProcess.run(["run", "--quiet", "--database", nowhere], in: dir)
        #expect(missing.status == 78 && missing.stderr.contains("does not exist"), "\(missing.stderr)")
        #expect(missing.stderr.split(separator: "\n").count == 1)
    }

    @Test(
        "D11: read-only commands never create, migrate or write a store; a 0-byte file or another database is no store")
    func readOnlyCommands() throws {
        let dir = try Self.workspace("read-only")
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty.sqlite").path
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        for command in ["records", "samples", "rejections", "export"] {
            let r = try CLIProcess.run([command, "--database", empty], in: dir)
            #expect(r.status == 66 && r.stderr.hasPrefix("error[E-NO-STORE]"), "\(command): \(r.stderr)")
        }
        #expect(try FileManager.default.attributesOfItem(atPath: empty)[.size] as? Int == 0, "the file was written")
        let none = dir.appendingPathComponent("none.sqlite").path
        _ = try CLIProcess.run(["records", "--database", none], in: dir)
        #expect(!FileManager.default.fileExists(atPath: none), "a read-only command created a store")
    }
}
