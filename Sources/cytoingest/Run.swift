import ArgumentParser
import CytoModel
import Foundation
import Pipeline
import Store

/// Options every store-reading command takes.
struct StoreOptions: ParsableArguments {
    @Option(help: "Configuration file.")
    var config: String = "pipeline.json"

    @Option(help: "SQLite store (default: store.sqlite of the configuration).")
    var database: String?

    func load() throws -> (PipelineConfiguration, String) {
        do {
            let c = try PipelineConfiguration.load(path: config)
            return (c, database ?? c.resolve(c.store.sqlite))
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// The configuration and its existing store (read-only commands never create one).
    func openStore() throws -> (PipelineConfiguration, any RecordStore) {
        let (c, database) = try load()
        guard FileManager.default.fileExists(atPath: database) else {
            throw ValidationError("no store at \(database); run `cytoingest run` first")
        }
        return (c, try RecordStores.sqlite(path: database))
    }
}

enum LogFormat: String, ExpressibleByArgument { case text, json }

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Ingest FCS exports and lab XML into the store and print the monthly records.",
        discussion: """
            Incremental and idempotent: unchanged files (same content) are skipped, changed files \
            supersede their earlier results, missing files keep theirs (flagged). Each file commits \
            in one transaction. Exit codes: 0 all good; 65 finished with rejections; 75 the store \
            is busy with another run (retry, or pass --wait); 1 other failure.
            """
    )

    @OptionGroup var store: StoreOptions
    @Flag(help: "Wait for a concurrent run to finish instead of exiting 75.") var wait = false
    @Flag(help: "Re-hash every file even when size and modification time are unchanged.") var verify = false
    @Option(name: .customLong("log-format"), help: "Log format on stderr: text or json (one JSON object per line).")
    var logFormat: LogFormat = .text
    @Flag(help: "Do not print the monthly records table at the end.") var quiet = false

    func run() async throws {
        let (config, database) = try store.load()
        var options = IngestPipeline.Options()
        options.wait = wait
        options.verify = verify
        let pipeline = IngestPipeline(config: config, databasePath: database, options: options)
        let progress = Progress(json: logFormat == .json)
        let summary: RunSummary
        do {
            summary = try await pipeline.run { progress.handle($0) }
        } catch let e as PipelineError {
            printError("cytoingest run: \(e.message)")
            throw ExitCode(e.exitCode)
        } catch let e as ConfigurationError {
            printError("cytoingest run: \(e.description)")
            throw ExitCode(1)
        }
        if !quiet && logFormat == .text {
            let records = try RecordStores.sqlite(path: database).records(patient: nil)
            print(RecordsCommand.table(records), terminator: "")
        }
        if summary.hadRejections { throw exitDataError }
    }
}

/// Terminal progress (files done/total, events/s, ETA) when stderr is a TTY; JSON lines for
/// schedulers; quiet otherwise. No patient identifiers are printed.
final class Progress: @unchecked Sendable {
    let json: Bool
    let tty = isatty(STDERR_FILENO) == 1
    let start = Date()
    let lock = NSLock()
    var events = 0

    init(json: Bool) { self.json = json }

    /// One JSON log line (sorted keys, compact) on stderr.
    func emit<T: Encodable>(_ line: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        if let data = try? encoder.encode(line) { FileHandle.standardError.write(data + Data("\n".utf8)) }
    }

    struct FileLine: Encodable {
        var event = "file"
        var file: String
        var outcome: String
        var done: Int
        var total: Int
    }
    struct RejectedLine: Encodable {
        var event = "rejected"
        var file: String
        var code: RejectionCode
    }
    struct LabLine: Encodable {
        var event = "lab"
        var file: String
        var status: String
    }
    struct SummaryLine: Encodable {
        var event = "summary"
        var new: Int
        var unchanged: Int
        var superseded: Int
        var rejected: Int
        var missing: Int
        var labFiles: Int
        var labResults: Int
        var labRecordsRejected: Int
        var recordsUpdated: Int
        var seconds: Double
    }

    func handle(_ e: RunEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch e {
        case .fileDone(let path, let outcome, let done, let total, let n):
            events += n
            if json {
                emit(FileLine(file: path, outcome: outcome, done: done, total: total))
            } else if tty {
                let elapsed = Date().timeIntervalSince(start)
                let rate = elapsed > 0 ? Double(events) / elapsed : 0
                let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
                FileHandle.standardError.write(
                    Data(
                        String(
                            format: "\r\u{1B}[2K  %d/%d files  %.1f M events/s  ETA %.0f s", done, total, rate / 1e6,
                            eta
                        ).utf8))
                if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
            }
        case .fileRejected(let path, let code):
            if json {
                emit(RejectedLine(file: path, code: code))
            } else {
                FileHandle.standardError.write(Data("\(tty ? "\r\u{1B}[2K" : "")rejected \(path): \(code)\n".utf8))
            }
        case .labFile(let path, let status):
            if json { emit(LabLine(file: path, status: status.rawValue)) }
        case .summary(let s):
            if json {
                emit(
                    SummaryLine(
                        new: s.newFiles, unchanged: s.unchangedFiles, superseded: s.supersededFiles,
                        rejected: s.rejectedFiles,
                        missing: s.missingFiles, labFiles: s.labFilesImported, labResults: s.labResultsStored,
                        labRecordsRejected: s.labRecordsRejected, recordsUpdated: s.recordsUpdated, seconds: s.seconds))
            } else {
                FileHandle.standardError.write(
                    Data(
                        String(
                            format:
                                "FCS: %d new, %d unchanged, %d superseded, %d rejected, %d missing; labs: %d files, %d results, %d rejected records; %d records updated; %.2f s\n",
                            s.newFiles, s.unchangedFiles, s.supersededFiles, s.rejectedFiles, s.missingFiles,
                            s.labFilesImported, s.labResultsStored,
                            s.labRecordsRejected, s.recordsUpdated, s.seconds
                        ).utf8))
            }
        }
    }
}
