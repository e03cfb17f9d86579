import Foundation
import TestSupport
import Testing

/// The conventions every command keeps (whole processes): --version, the same --format values,
/// an example in every --help, one error style on stderr, no usage text on runtime errors.
@Suite("CLI conventions (whole processes)")
struct CLIConventionTests {
    static let config = Paths.repoRoot.appendingPathComponent("pipeline.json").path

    /// A migrated copy of the previous release's store (24 monthly records, a rejected file).
    static func store(_ dir: URL) throws -> String {
        let db = dir.appendingPathComponent("store.sqlite").path
        try FileManager.default.copyItem(
            atPath: Paths.fixtures.appendingPathComponent("store/release-v2.sqlite").path, toPath: db)
        let migrate = try CLIProcess.run(["migrate", "--config", config, "--database", db])
        #expect(migrate.status == 0, "\(migrate.stderr)")
        return db
    }

    /// Every line of a CSV document has the header's number of fields.
    static func rectangular(_ text: String) -> Bool {
        let rows = CSV.rows(text)
        guard let n = rows.first?.count, n > 1, rows.count > 1 else { return false }
        return rows.allSatisfy { $0.count == n }
    }

    @Test("--version, and an example in every command's --help")
    func versionAndHelp() throws {
        let v = try CLIProcess.run(["--version"])
        #expect(v.status == 0 && v.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        for command in [
            [], ["run"], ["check-config"], ["records"], ["samples"], ["rejections"], ["inspect"], ["gate"], ["synth"],
            ["labs"], ["labs", "check"], ["validate"], ["report"], ["gates"], ["export"], ["migrate"],
        ] {
            let h = try CLIProcess.run(command + ["--help"])
            #expect(h.status == 0, "\(command)")
            #expect(h.stdout.contains("Example"), "\(command.joined(separator: " ")) --help has no example")
        }
    }

    @Test("--format text|csv|json on every tabular command; csv is one rectangular table; table still reads")
    func formats() throws {
        let dir = Paths.temporaryDirectory("cli-formats")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try Self.store(dir)
        for command in ["records", "samples", "rejections"] {
            for format in ["text", "csv", "json", "table"] {
                let r = try CLIProcess.run([command, "--config", Self.config, "--database", db, "--format", format])
                #expect(r.status == 0, "\(command) --format \(format): \(r.stderr)")
                if format == "csv" { #expect(Self.rectangular(r.stdout), "\(command) csv") }
                if format == "json" { #expect((try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) != nil) }
            }
        }
        let records = try CLIProcess.run(["records", "--config", Self.config, "--database", db])
        #expect(records.stdout.contains("stratum") && records.stdout.contains("why empty"))
        #expect(records.stdout.contains("<N below the assay's limit"), "the legend explains the censor marks")
        let fcs = Paths.fixtures.appendingPathComponent("cohort/fcs")
        let files = ["P001_M00.fcs.gz", "P001_M01.fcs.gz"].map { fcs.appendingPathComponent($0).path }
        let inspect = try CLIProcess.run(["inspect", "--format", "csv"] + files)
        #expect(inspect.status == 0 && Self.rectangular(inspect.stdout), "\(inspect.stdout)")
        let labs = try CLIProcess.run([
            "labs", "check", "--format", "csv",
            Paths.fixtures.appendingPathComponent("cohort/labs/hivrna-export.xml").path,
        ])
        #expect(labs.status == 0 && Self.rectangular(labs.stdout), "\(labs.stderr)")
        let check = try CLIProcess.run(["check-config", "--config", Self.config, "--format", "csv"])
        #expect(Self.rectangular(check.stdout), "\(check.stdout)")
        // gate: several files, the configuration's strategy through its panel mapping.
        let gate = try CLIProcess.run(["gate", "--config", Self.config, "--format", "csv"] + files)
        #expect(gate.status == 0 && Self.rectangular(gate.stdout), "\(gate.stderr)")
        let rows = CSV.rows(gate.stdout).dropFirst()
        #expect(Set(rows.map { $0[0] }) == Set(files) && rows.contains { $0[2].hasSuffix("CD4T") })
    }

    @Test(
        "runtime errors: one style on stderr, never the usage text, and before any work when an output cannot be written"
    )
    func runtimeErrors() throws {
        let dir = Paths.temporaryDirectory("cli-errors")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try Self.store(dir)
        let started = Date()
        let report = try CLIProcess.run([
            "validate", "--config", Self.config, "--manual",
            Paths.fixtures.appendingPathComponent("cohort/manual-gating.csv").path, "--report", "/nonexistent/r.html",
        ])
        #expect(report.status == 73, "\(report.stderr)")
        #expect(report.stderr.hasPrefix("error[E-OUTPUT]: /nonexistent/r.html: "), "\(report.stderr)")
        #expect(!report.stderr.contains("USAGE") && !report.stdout.contains("USAGE"))
        #expect(Date().timeIntervalSince(started) < 10, "it fails before gating anything")
        let export = try CLIProcess.run([
            "export", "--config", Self.config, "--database", db, "--output", "/nonexistent/x.csv",
        ])
        #expect(export.status == 73 && export.stderr.hasPrefix("error[E-OUTPUT]") && !export.stderr.contains("USAGE"))
        let noStore = try CLIProcess.run([
            "records", "--config", Self.config, "--database", dir.appendingPathComponent("none.sqlite").path,
        ])
        #expect(noStore.status == 66 && noStore.stderr.hasPrefix("error[E-NO-STORE]"), "\(noStore.stderr)")
        let gates = try CLIProcess.run(["gates", "--config", Self.config, "--database", db, "nothing.fcs"])
        #expect(gates.status == 65 && gates.stderr.hasPrefix("error[E-NOT-INGESTED]: nothing.fcs: "))
        // Usage errors keep the usage text (exit 64).
        let usage = try CLIProcess.run(["gate", "x.fcs"])
        #expect(usage.status == 64 && usage.stderr.contains("--gating-ml"))
    }

    @Test(
        "inspect: errors on stderr with their byte offset (a non-numeric $BEGINDATA too), hints name CLI flags, --keywords"
    )
    func inspectErrors() throws {
        let dir = Paths.temporaryDirectory("cli-inspect")
        defer { try? FileManager.default.removeItem(at: dir) }
        // HEADER gives no DATA offsets and $BEGINDATA is not a number: no offset at all before.
        var bytes = [UInt8](
            try Data(contentsOf: Paths.fixtures.appendingPathComponent("fcs/quirks/header_data_offsets_zero.fcs")))
        let key = Array("$BEGINDATA/".utf8)
        let at = try #require((0..<(bytes.count - key.count)).first { Array(bytes[$0..<($0 + key.count)]) == key })
        for i in 0..<3 { bytes[at + key.count + i] = UInt8(ascii: "x") }
        let bad = dir.appendingPathComponent("bad_begindata.fcs").path
        try Data(bytes).write(to: URL(fileURLWithPath: bad))
        let r = try CLIProcess.run(["inspect", bad])
        #expect(r.status == 65)
        #expect(r.stdout.isEmpty, "errors are not on stdout: \(r.stdout)")
        #expect(r.stderr.hasPrefix("error[FCS-bad_keyword_value]: \(bad): "), "\(r.stderr)")
        #expect(r.stderr.contains("(byte \(at + key.count))"), "the offset of the value in TEXT: \(r.stderr)")
        // Hints name this command's flags, never the reader's options.
        let truncated = try CLIProcess.run([
            "inspect", Paths.fixtures.appendingPathComponent("fcs/fail/truncated_data.fcs").path,
        ])
        #expect(truncated.stderr.contains("--allow-truncated") && !truncated.stderr.contains("allowTruncatedData"))
        let offsets = try CLIProcess.run([
            "inspect", Paths.fixtures.appendingPathComponent("fcs/quirks/header_data_start_inside_text.fcs").path,
        ])
        #expect(offsets.stdout.contains("--offsets") && !offsets.stdout.contains("dataOffsets"))
        // --keywords: what the configuration reads, with this file's values.
        let file = Paths.fixtures.appendingPathComponent("cohort/fcs/P001_M00.fcs.gz").path
        let k = try CLIProcess.run(["inspect", "--keywords", "--config", Self.config, file])
        #expect(k.status == 0)
        for needed in ["$SRC", "$DATE", "BEADS PER TUBE", "BEAD LOT", "BLOOD VOLUME UL"] {
            #expect(k.stdout.contains(needed), "\(needed) missing from --keywords: \(k.stdout)")
        }
        #expect(
            k.stdout.range(of: #"identity\.patientKeyword +\$SRC +P001"#, options: .regularExpression) != nil,
            "the keyword with this file's value")
    }

    @Test("export: CSV rows per patient-month, a FHIR Bundle, files private to their owner")
    func export() throws {
        let dir = Paths.temporaryDirectory("cli-export")
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try Self.store(dir)
        let csv = try CLIProcess.run(["export", "--config", Self.config, "--database", db, "--format", "csv"])
        #expect(csv.status == 0 && Self.rectangular(csv.stdout))
        #expect(CSV.rows(csv.stdout).count == 25, "24 monthly records and the header")
        let out = dir.appendingPathComponent("bundle.json").path
        let fhir = try CLIProcess.run([
            "export", "--config", Self.config, "--database", db, "--format", "fhir", "--output", out,
        ])
        #expect(fhir.status == 0, "\(fhir.stderr)")
        let doc = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        // The CodeSystem, 7 flow values of each record with flow values, HIV RNA copies and log10.
        let entries = try #require(doc["entry"] as? [[String: Any]])
        #expect(doc["resourceType"] as? String == "Bundle" && entries.count > 24)
        #expect((entries.first?["resource"] as? [String: Any])?["resourceType"] as? String == "CodeSystem")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: out)[.posixPermissions] as? Int)
        #expect(mode & 0o077 == 0, "mode \(String(mode, radix: 8))")
    }
}
