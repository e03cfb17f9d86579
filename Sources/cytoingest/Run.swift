import ArgumentParser
import CytoModel
import Foundation
import Pipeline
import Store

/// Exit code for a configuration error (sysexits EX_CONFIG).
let exitConfiguration = ExitCode(78)

/// Prints configuration errors, one line each (`error[E-CONFIG]: FILE: PATH: message`, or one JSON
/// object per line), and exits 78 without the usage text.
func configurationFailure(_ error: any Error, file: String, json: Bool = false) -> ExitCode {
    let errors: [ConfigurationError]
    switch error {
    case let e as ConfigurationProblems: errors = e.errors
    case let e as ConfigurationError: errors = [e]
    default: errors = [ConfigurationError(path: "$", message: "\(error)")]
    }
    for e in errors {
        if json {
            emitLogLine(
                LogLine(
                    level: "error", event: "configuration", file: file, path: e.path, message: e.message,
                    codeText: "E-CONFIG"))
        } else {
            printError("error[E-CONFIG]: \(file): \(e.path): \(e.message)")
        }
    }
    return exitConfiguration
}

/// One JSON log line on stderr (sorted keys, compact): timestamp, level, event, and the file, code
/// and details where they apply.
struct LogLine: Encodable {
    var timestamp = ISO8601DateFormatter().string(from: Date())
    var level = "info"
    var event: String
    var file: String?
    var code: RejectionCode?
    var outcome: String?
    var status: String?
    var reason: String?
    var done: Int?
    var total: Int?
    var summary: RunSummary?
    var path: String?
    var message: String?

    /// A code outside the rejection catalogue (configuration errors: `E-CONFIG`).
    init(
        level: String = "info", event: String, file: String? = nil, code: RejectionCode? = nil, outcome: String? = nil,
        status: String? = nil, reason: String? = nil, done: Int? = nil, total: Int? = nil, summary: RunSummary? = nil,
        path: String? = nil, message: String? = nil, codeText: String? = nil
    ) {
        self.level = level
        self.event = event
        self.file = file
        self.code = code ?? codeText.map(RejectionCode.init(rawValue:))
        self.outcome = outcome
        self.status = status
        self.reason = reason
        self.done = done
        self.total = total
        self.summary = summary
        self.path = path
        self.message = message
    }
}

func emitLogLine(_ line: LogLine) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    if let data = try? encoder.encode(line) { FileHandle.standardError.write(data + Data("\n".utf8)) }
}

/// Options every store-reading command takes.
struct StoreOptions: ParsableArguments {
    @Option(help: "Configuration file.")
    var config: String = "pipeline.json"

    @Option(
        help: ArgumentHelp(
            "The store: an SQLite file, or postgres://user@host:port/database?sslmode=require (default: store of the configuration).",
            discussion: "Never a password on the command line: PGPASSWORD, ~/.pgpass or store.postgres.passwordFile."))
    var database: String?

    /// The configuration and the store's location; a configuration error exits 78 (one line each).
    func load(json: Bool = false) throws -> (PipelineConfiguration, StoreLocation) {
        let c: PipelineConfiguration
        do {
            c = try PipelineConfiguration.load(path: config)
        } catch {
            throw configurationFailure(error, file: config, json: json)
        }
        guard let database else { return (c, c.storeLocation) }
        do {
            return (c, try StoreLocation.parse(database))
        } catch {
            throw configurationFailure(
                ConfigurationError(path: "--database", message: "\(error)"), file: config, json: json)
        }
    }

    /// The configuration and its existing store, opened read-only: never created, migrated or
    /// written (a missing or empty file is no store: exit 66; another schema: exit 78).
    func openStore() throws -> (PipelineConfiguration, any RecordStore) {
        let (c, database) = try load()
        do {
            return (c, try RecordStores.openReadOnly(database))
        } catch let f as StoreFailure {
            throw storeFailure(f, database: database.description)
        }
    }

    func storeFailure(_ f: StoreFailure, database: String) -> ExitCode {
        switch f.kind {
        case .missing, .notAStore:
            return runtimeFailure(
                .noStore, file: database, "\(f.message); `cytoingest run --config \(config)` creates a store")
        case .olderSchema, .newerSchema:
            reportError(code: RejectionCode.storeSchema.rawValue, file: database, f.message)
            return ExitCode(78)
        case .busy:
            reportError(code: RejectionCode.locked.rawValue, file: database, f.message)
            return ExitCode(75)
        case .io, .claimLost:
            reportError(code: RejectionCode.storeFailure.rawValue, file: database, f.message)
            return ExitCode(75)
        case .access, .unsupported:
            reportError(code: RejectionCode.storeFailure.rawValue, file: database, f.message)
            return ExitCode(78)
        }
    }
}

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Upgrade a store written by an earlier CytoIngest to this program's schema.",
        discussion: """
            Read-only commands (records, samples, rejections, export, ...) never change a store; \
            `run` and `migrate` upgrade it, in one transaction per step. A store written by a newer \
            program is refused (exit 78) and left as it is. Back the store up first (docs/nightly.md).

            Examples:
              cytoingest migrate
              cytoingest migrate --database /srv/lab/cytoingest.sqlite
            """)
    @OptionGroup var store: StoreOptions

    func run() throws {
        let (_, location) = try store.load()
        let database = location.description
        if case .sqlite(let path) = location, !FileManager.default.fileExists(atPath: path) {
            throw runtimeFailure(.noStore, file: database, "no store here; `cytoingest run` creates one")
        }
        do {
            _ = try RecordStores.open(location)
        } catch let f as StoreFailure {
            throw store.storeFailure(f, database: database)
        }
        printError("\(database): at schema \(RecordStores.schemaVersion)")
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
                        in one transaction. When the configuration, a strategy or the registry changes, the \
            samples they affect are derived again (and rejections whose cause lay outside the \
            file are retried). Exit codes: 0 all good; 65 rejections are outstanding in the \
            store (new or earlier: see `cytoingest rejections`); 75 the store is busy with \
            another run (retry, or pass --wait); 78 configuration error; 1 other failure.

            Examples:
              cytoingest run
              cytoingest run --config /srv/lab/pipeline.json --log-format json --quiet
              cytoingest run --reprocess --rejected
              cytoingest run --worker --database 'postgres://ingest@db.lab/cytoingest?sslmode=verify-full'
            """
    )

    @OptionGroup var store: StoreOptions
    @Flag(help: "Wait for a concurrent run to finish instead of exiting 75.") var wait = false
    @Flag(help: "Re-hash every file even when size and modification time are unchanged.") var verify = false
    @Option(name: .customLong("log-format"), help: "Log format on stderr: text or json (one JSON object per line).")
    var logFormat: LogFormat = .text
    @Flag(help: "Do not print the monthly records table at the end.") var quiet = false
    @Flag(
        help:
            "Derive files again although nothing changed: with --all every file, with --rejected the rejected ones, else the FILEs given."
    )
    var reprocess = false
    @Flag(help: "With --reprocess: every file.") var all = false
    @Flag(help: "With --reprocess: the rejected files.") var rejected = false
    @Option(
        name: .customLong("settle-seconds"), help: "Skip files modified in the last N seconds (still being written).")
    var settleSeconds: Double = 0
    @Argument(help: "With --reprocess: the files to derive again (paths or store keys).") var files: [String] = []
    @Flag(
        help:
            "One worker of many over the same inputs and PostgreSQL store (docs/deploy.md): claims files, stores each once, rebuilds the changed patients' records; exits when nothing is left."
    )
    var worker = false
    @Option(
        name: .customLong("lease-seconds"),
        help: "With --worker: how long a claim on a file lasts; a killed worker's files are claimed again after it.")
    var leaseSeconds: Double = 600
    @Option(
        name: .customLong("worker-name"),
        help: "With --worker: the worker's name in the queue and log (default host:pid).")
    var workerName: String?

    func validate() throws {
        if (all || rejected || !files.isEmpty) && !reprocess {
            throw ValidationError("--all, --rejected and FILEs go with --reprocess")
        }
        if reprocess && [all, rejected, !files.isEmpty].filter({ $0 }).count != 1 {
            throw ValidationError("--reprocess takes one of --all, --rejected or FILE...")
        }
        if !worker && workerName != nil { throw ValidationError("--worker-name goes with --worker") }
        guard leaseSeconds >= 1, leaseSeconds.isFinite else {
            throw ValidationError("--lease-seconds must be 1 or more")
        }
    }

    func run() async throws {
        let (config, location) = try store.load(json: logFormat == .json)
        let database = location.description
        var options = IngestPipeline.Options()
        options.wait = wait
        options.verify = verify
        options.settleSeconds = settleSeconds
        if reprocess { options.reprocess = all ? .all : rejected ? .rejected : .files(files) }
        let pipeline = IngestPipeline(config: config, location: location, options: options)
        let progress = Progress(json: logFormat == .json, worker: worker)
        let summary: RunSummary
        do {
            if worker {
                var settings = WorkerSettings(name: workerName)
                settings.leaseSeconds = leaseSeconds
                summary = try await pipeline.runWorker(settings) { progress.handle($0) }
            } else {
                summary = try await pipeline.run { progress.handle($0) }
            }
        } catch let e as PipelineError {
            let code: RejectionCode =
                switch e.kind {
                case .locked: .locked
                case .configuration: .labConfiguration
                case .store: .storeFailure
                case .schema: .storeSchema
                case .io: .fileIO
                }
            if logFormat == .json {
                emitLogLine(
                    LogLine(level: "error", event: "run", file: database, message: e.message, codeText: code.rawValue))
            } else {
                reportError(code: code.rawValue, file: database, e.message)
            }
            throw ExitCode(e.exitCode)
        } catch let e as ConfigurationError {
            throw configurationFailure(e, file: store.config, json: logFormat == .json)
        } catch let e as ConfigurationProblems {
            throw configurationFailure(e, file: store.config, json: logFormat == .json)
        } catch {
            // Anything else is a defect or the machine's: one coded line naming the store.
            if logFormat == .json {
                emitLogLine(
                    LogLine(
                        level: "error", event: "run", file: database, message: "\(error)",
                        codeText: RejectionCode.internalError.rawValue))
            } else {
                reportError(code: RejectionCode.internalError.rawValue, file: database, "\(error)")
            }
            throw ExitCode(1)
        }
        if !quiet && !worker && logFormat == .text {
            let records = try RecordStores.openReadOnly(location).records(patient: nil)
            print(RecordsCommand.table(records), terminator: "")
        }
        if summary.hadRejections { throw exitDataError }
    }
}

/// Terminal progress (files done/total, events/s, ETA) when stderr is a TTY; JSON lines for
/// schedulers (every line: timestamp, level, event, and file and code where they apply); quiet
/// otherwise. No patient identifiers are printed.
final class Progress: @unchecked Sendable {
    let json: Bool
    let worker: Bool
    let tty = isatty(STDERR_FILENO) == 1
    let start = Date()
    let lock = NSLock()
    var events = 0

    init(json: Bool, worker: Bool = false) {
        self.json = json
        self.worker = worker
    }

    func text(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }

    func handle(_ e: RunEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch e {
        case .fileDone(let path, let outcome, let done, let total, let n):
            events += n
            if json {
                emitLogLine(LogLine(event: "file", file: path, outcome: outcome, done: done, total: total))
            } else if tty && total > 0 {
                let elapsed = Date().timeIntervalSince(start)
                let rate = elapsed > 0 ? Double(events) / elapsed : 0
                let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
                text(
                    String(
                        format: "\r\u{1B}[2K  %d/%d files  %.1f M events/s  ETA %.0f s", done, total, rate / 1e6, eta))
                if done == total { text("\n") }
            }
        case .fileRejected(let path, let code):
            if json {
                emitLogLine(LogLine(level: "warning", event: "rejected", file: path, code: code))
            } else {
                text("\(tty ? "\r\u{1B}[2K" : "")rejected \(displayText(path)): \(code)\n")
            }
        case .fileSkipped(let path, let reason):
            if json {
                emitLogLine(LogLine(event: "skipped", file: path, reason: reason))
            } else {
                text("\(tty ? "\r\u{1B}[2K" : "")skipped \(displayText(path)): \(reason)\n")
            }
        case .fileReclaimed(let path, let attempt, let previous):
            let words = "claimed again (attempt \(attempt)); \(previous ?? "another worker") did not finish it"
            if json {
                emitLogLine(LogLine(level: "warning", event: "reclaimed", file: path, message: words))
            } else {
                text("\(tty ? "\r\u{1B}[2K" : "")re-claimed \(displayText(path)): \(words)\n")
            }
        case .labFile(let path, let status):
            if json {
                emitLogLine(
                    LogLine(
                        level: status == .accepted ? "info" : "warning", event: "lab", file: path,
                        status: status.rawValue))
            }
        case .summary(let s):
            if json {
                emitLogLine(LogLine(level: s.hadRejections ? "warning" : "info", event: "summary", summary: s))
            } else {
                text(
                    String(
                        format:
                            "FCS: %d new, %d unchanged, %d superseded, %d re-derived, %d rejected, %d duplicate, %d missing, %d skipped; labs: %d files, %d results, %d rejected records; %d records updated; outstanding: %d rejections, %d flagged samples; %.2f s\n",
                        s.newFiles, s.unchangedFiles, s.supersededFiles, s.rederivedFiles, s.rejectedFiles,
                        s.duplicateFiles,
                        s.missingFiles, s.skippedFiles, s.labFilesImported, s.labResultsStored, s.labRecordsRejected,
                        s.recordsUpdated, s.outstandingRejections, s.flaggedSamples, s.seconds))
                if worker {
                    text(
                        "worker: \(s.reclaimedFiles) files re-claimed, \(s.patientsRebuilt) patients' records rebuilt\n"
                    )
                }
            }
        }
    }
}
