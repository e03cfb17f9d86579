import Analysis
import CytoModel
import Foundation
import Labs
import Records
import Store

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors of a run, with the process exit code they map to.
public struct PipelineError: Error, Sendable, CustomStringConvertible {
    /// locked: another run or program holds the store; store: the store failed (disk full, I/O);
    /// schema: the store is not one this program writes (newer, or not a store).
    public enum Kind: Sendable { case locked, configuration, store, schema, io }
    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }
    public var kind: Kind
    public var message: String
    public var description: String { message }
    /// 75 (EX_TEMPFAIL) for a busy or failing store (retry later: nothing of the input was
    /// blamed), 78 (EX_CONFIG) for a store this program does not write, 1 otherwise.
    public var exitCode: Int32 {
        switch kind {
        case .locked, .store: 75
        case .configuration, .schema: 78
        case .io: 1
        }
    }

    /// The run error a store failure is.
    init(_ f: StoreFailure) {
        switch f.kind {
        case .busy:
            self.init(
                kind: .locked,
                message: "\(f.message): another program holds a write lock; retry later, or pass --wait")
        case .io:
            self.init(
                kind: .store,
                message: "\(f.message); nothing of the inputs was recorded as rejected, the next run retries")
        case .claimLost:
            self.init(kind: .store, message: "\(f.message); the file is the other worker's")
        case .access, .unsupported: self.init(kind: .configuration, message: f.message)
        case .newerSchema, .notAStore, .olderSchema, .missing: self.init(kind: .schema, message: f.message)
        }
    }
}

/// What a run did.
public struct RunSummary: Sendable, Codable {
    public var newFiles = 0
    public var unchangedFiles = 0
    public var supersededFiles = 0
    /// Unchanged files derived again: the configuration, a strategy or the registry changed, or
    /// `--reprocess` asked for it.
    public var rederivedFiles = 0
    public var rejectedFiles = 0
    public var duplicateFiles = 0
    public var missingFiles = 0
    /// Hidden, partial or still-growing files passed over.
    public var skippedFiles = 0
    public var labFilesImported = 0
    public var labFilesUnchanged = 0
    public var labFilesRejected = 0
    public var labResultsStored = 0
    public var labRecordsRejected = 0
    public var recordsUpdated = 0
    /// Workers: files claimed again after another worker's lease ran out (it was killed, lost
    /// its connection, or was slower than its lease), and patients whose records were rebuilt.
    public var reclaimedFiles = 0
    public var patientsRebuilt = 0
    /// Rejections on file after the run (new or earlier), and stored samples with QC flags.
    public var outstandingRejections = 0
    public var flaggedSamples = 0
    public var events = 0
    public var seconds = 0.0
    /// True while any rejection is outstanding (exit code 65), not only new ones.
    public var hadRejections: Bool { outstandingRejections > 0 }
}

/// Progress and log events (never with patient identifiers).
public enum RunEvent: Sendable {
    case fileDone(path: String, outcome: String, done: Int, total: Int, events: Int)
    case fileRejected(path: String, code: RejectionCode)
    case labFile(path: String, status: LabFileReport.Status)
    case fileSkipped(path: String, reason: String)
    /// A worker claimed a file another worker had claimed and not finished.
    case fileReclaimed(path: String, attempt: Int, previousWorker: String?)
    case summary(RunSummary)
}

/// The main job: incremental, idempotent, atomic per file. One run at a time per store.
public final class IngestPipeline: @unchecked Sendable {
    /// Files up to this size are hashed and decoded from one read held in memory (per worker);
    /// larger ones are hashed in a stream and decoded from the path.
    static let inMemoryLimit = 64 << 20

    /// What monthly records depend on besides the stored inputs: the record rules and the
    /// registry (canonical JSON, hashed).
    static func recordsBasis(rules: RecordRules, registry: [String: RegistryPatient]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var hasher = SHA256Hasher()
        hasher.update((try? encoder.encode(rules)) ?? Data())
        for id in registry.keys.sorted() { hasher.update((try? encoder.encode(registry[id]!)) ?? Data()) }
        return hasher.hex()
    }

    /// What `--reprocess` derives again.
    public enum Reprocess: Sendable, Hashable {
        case none, all, rejected
        /// Store keys or paths of the files.
        case files([String])
    }

    public struct Options: Sendable {
        /// Wait for another run instead of failing with exit code 75.
        public var wait = false
        /// Re-hash every file even when size and modification time are unchanged.
        public var verify = false
        /// Parallel workers (default: the core count).
        public var workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        public var now = Date()
        /// Derive these again although nothing changed.
        public var reprocess: Reprocess = .none
        /// Skip files modified less than this many seconds ago (still being written).
        public var settleSeconds = 0.0
        /// How long a store write waits for another program's lock (with `wait`: an hour).
        public var busySeconds = 5.0
        /// Files up to this size are hashed and decoded from one read held in memory; larger
        /// plain files are hashed by the decoding read itself (one pass, nothing held).
        public var inMemoryLimit = IngestPipeline.inMemoryLimit
        public init() {}
    }

    public let config: PipelineConfiguration
    /// The store (for messages: its path, or its URL without a password).
    public let location: StoreLocation
    public var databasePath: String { location.description }
    public let options: Options

    /// `databasePath`: an SQLite store other than the configured one; `location`: any store.
    public init(
        config: PipelineConfiguration, databasePath: String? = nil, location: StoreLocation? = nil,
        options: Options = Options()
    ) {
        self.config = config
        self.location = location ?? databasePath.map { .sqlite(path: $0) } ?? config.storeLocation
        self.options = options
    }

    // MARK: Lock

    /// Holds an exclusive `flock` on `<database>.lock` for the run.
    final class RunLock {
        let handle: FileHandle
        init(path: String, wait: Bool) throws {
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
            guard FileManager.default.fileExists(atPath: folder) else {
                throw PipelineError(
                    kind: .configuration,
                    message: "the store's folder \(folder) does not exist (store.sqlite or --database)")
            }
            if !FileManager.default.fileExists(atPath: path) {
                _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
            }
            guard let h = FileHandle(forUpdatingAtPath: path) else {
                throw PipelineError(
                    kind: .store, message: "cannot open the lock file \(path): \(String(cString: strerror(errno)))")
            }
            handle = h
            if flock(h.fileDescriptor, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0 {
                try? h.close()
                throw PipelineError(
                    kind: .locked,
                    message: "another cytoingest run is using this store (\(path)); retry later or pass --wait")
            }
        }
        deinit {
            flock(handle.fileDescriptor, LOCK_UN)
            try? handle.close()
        }
    }

    // MARK: Discovery

    struct InputFile {
        var path: String
        var key: String
        var size: Int64
        var mtime: Double
    }

    func discover(_ paths: [String]) -> [InputFile] {
        paths.compactMap { p in
            guard let (size, mtime) = InputListing.sizeAndModification(p) else { return nil }
            return InputFile(path: p, key: config.storeKey(p), size: size, mtime: mtime)
        }
    }

    // MARK: Run

    /// Runs the job. `events` receives progress and log events.
    public func run(events: @escaping @Sendable (RunEvent) -> Void = { _ in }) async throws -> RunSummary {
        // SQLite: one run at a time per store file (flock beside it). PostgreSQL: the server's
        // advisory lock, held by the run's connection (runLocked).
        var lock: RunLock?
        if case .sqlite(let path) = location { lock = try RunLock(path: path + ".lock", wait: options.wait) }
        defer { _ = lock }
        do {
            return try await runLocked(events: events)
        } catch let e as PipelineError {
            throw e
        } catch let f as StoreFailure {
            throw PipelineError(f)
        } catch {
            // A failure of the store is the store's, never an input's: the run stops, exit 75.
            if case .sqlite(let path) = location, let f = StoreFailure(error, path: path) { throw PipelineError(f) }
            throw error
        }
    }

    /// What a task found: the content is the stored one (only its size or time changed), or
    /// the file's analysis.
    enum Found: Sendable {
        case sameContent
        /// A stored duplicate whose content did not change: not analysed again.
        case sameDuplicate
        case analysed(Result<SampleResult, SampleRejection>)
        /// The file could not be read (permission, I/O): rejected for this run only.
        case unreadable(String)
    }

    /// A SHA-256 fed from the decoding read (any thread, in order).
    final class StreamHasher: @unchecked Sendable {
        private let lock = NSLock()
        private var hasher = SHA256Hasher()
        func update(_ bytes: [UInt8]) {
            lock.lock()
            hasher.update(Data(bytes))
            lock.unlock()
        }
        func hex() -> String {
            lock.lock()
            defer { lock.unlock() }
            return hasher.hex()
        }
    }

    /// What the stored state says of content `sha`: the stored content itself (only size or time
    /// changed), an unchanged stored duplicate, or nil (analyse it).
    static func storedVerdict(
        _ sha: String, _ old: StoredFileState<FileStatus>?, _ isForced: Bool, _ analysisSHA: String
    ) -> Found? {
        guard let old, !isForced else { return nil }
        if old.sha256 == sha || old.rejectedSHA256 == sha, old.status != .duplicate, old.analysisSHA256 == analysisSHA {
            return .sameContent
        }
        if old.status == .duplicate, old.sha256 == sha { return .sameDuplicate }
        return nil
    }

    /// Analyses a large plain (not gzip) file while hashing it in the same read. Nil when the read
    /// did not reach the end (the caller's own read then says why).
    static func analyseLarge(
        _ f: InputFile, _ old: StoredFileState<FileStatus>?, _ isForced: Bool, _ analysisSHA: String,
        _ analyzer: SampleAnalyzer
    ) -> (sha: String, found: Found)? {
        let hasher = StreamHasher()
        var request = AnalysisRequest(path: f.path, displayName: f.key)
        request.byteSink = { hasher.update($0) }
        let result = analyzer.analyze(request)
        guard result.sinkComplete else { return nil }
        let sha = hasher.hex()
        if let verdict = storedVerdict(sha, old, isForced, analysisSHA) { return (sha, verdict) }
        return (
            sha,
            .analysed(
                result.outcome.map {
                    var s = $0
                    s.sha256 = sha
                    return s
                })
        )
    }

    /// What a run needs before it touches inputs: the registry in the store, the analyzer, the
    /// listings checked (inputs that cannot be read as files are rejected here).
    struct Setup {
        var registry: [String: RegistryPatient]
        var analyzer: SampleAnalyzer
        var analysis: String
        var fcsListing: InputListing
        var labListing: InputListing
        var labOptions: LabImportOptions
    }

    func setup(_ store: any RecordStore, _ summary: inout RunSummary, _ events: (RunEvent) -> Void) throws -> Setup {
        let registry = try Registry.load(for: config)
        try store.replacePatients(Array(registry.values))
        let analyzer = try config.makeAnalyzer(registry: registry)

        // Inputs: a configured entry that lists nothing is a configuration error (an unmounted
        // share must not turn every stored file into "missing").
        let fcsListing = config.fcsListing(settleSeconds: options.settleSeconds)
        let labListing = config.labListing(settleSeconds: options.settleSeconds)
        let problems =
            fcsListing.configurationErrors(setting: "$.inputs.fcs")
            + labListing.configurationErrors(setting: "$.inputs.labs")
        if !problems.isEmpty { throw ConfigurationProblems(errors: problems) }
        summary.skippedFiles = fcsListing.skipped.count + labListing.skipped.count
        for note in fcsListing.skipped + labListing.skipped {
            events(.fileSkipped(path: config.storeKey(note.entry), reason: note.message))
        }
        // Inputs that cannot be read as files: each rejected with its path; the run goes on.
        for (note, lab) in fcsListing.unreadable.map({ ($0, false) }) + labListing.unreadable.map({ ($0, true) }) {
            try store.commitUnreadable(path: config.storeKey(note.entry), reason: note.message, lab: lab)
            summary.rejectedFiles += 1
            events(.fileRejected(path: config.storeKey(note.entry), code: .fileIO))
        }
        return Setup(
            registry: registry, analyzer: analyzer, analysis: config.analysisSHA256(analyzer), fcsListing: fcsListing,
            labListing: labListing, labOptions: config.labImportOptions(enrolled: registry, now: options.now))
    }

    /// Whether `--reprocess` asks for this file.
    func forced(_ f: InputFile, _ old: StoredFileState<FileStatus>) -> Bool {
        switch options.reprocess {
        case .none: false
        case .all: true
        case .rejected: old.status == .rejected || old.rejectedSHA256 != nil
        case .files(let names):
            names.contains {
                $0 == f.key || config.resolve($0) == f.path || URL(fileURLWithPath: $0).path == f.path
            }
        }
    }

    /// Nil when the stored result of this FCS file is current (same size, time and analysis);
    /// else whether `--reprocess` forces it.
    func needsWork(_ f: InputFile, _ old: StoredFileState<FileStatus>?, analysis: String) -> Bool? {
        if let old, old.status != .missing, old.status != .duplicate, !forced(f, old),
            old.analysisSHA256 == analysis,
            !options.verify, old.size == f.size, old.mtime == f.mtime
        {
            return nil
        }
        return old.map { forced(f, $0) } ?? false
    }

    /// Hashes a file and, when the stored state does not settle it, analyses it (any thread).
    static func examine(
        _ f: InputFile, _ old: StoredFileState<FileStatus>?, _ isForced: Bool, _ analysis: String,
        _ analyzer: SampleAnalyzer, memoryLimit: Int
    ) -> (String, Found) {
        // Cheap checks first: a plain file's HEADER and TEXT are checked before it is read whole
        // (a damaged or foreign file is refused without hashing gigabytes). gzip inputs are
        // inflated no further than their HEADER and TEXT claim.
        let gzip: Bool
        do throws(UnreadableInput) {
            gzip = try FileHash.isGzip(path: f.path)
            if !gzip, let refused = SampleAnalyzer.precheck(path: f.path) {
                return (try FileHash.headSHA256(path: f.path), .analysed(.failure(refused)))
            }
        } catch {
            return (FileHash.unreadable, .unreadable(error.reason))
        }
        // A large plain file: hashed by the read that decodes it (one pass).
        if !gzip, f.size > memoryLimit, let found = analyseLarge(f, old, isForced, analysis, analyzer) {
            return (found.sha, found.found)
        }
        // One read: hashed, and decoded from memory when the analysis is needed.
        let sha: String
        let bytes: [UInt8]?
        do throws(UnreadableInput) {
            (sha, bytes) = try FileHash.read(path: f.path, keepUpTo: memoryLimit)
        } catch {
            return (FileHash.unreadable, .unreadable(error.reason))
        }
        if let verdict = storedVerdict(sha, old, isForced, analysis) { return (sha, verdict) }
        var request = AnalysisRequest(path: f.path, displayName: f.key, sha256: sha)
        request.bytes = bytes
        return (sha, .analysed(analyzer.analyze(request).outcome))
    }

    /// Runs CPU-bound work on a Dispatch thread, not on Swift's cooperative pool (as many
    /// threads as cores): the run's own task waits there for the store (a PostgreSQL round trip
    /// blocks its thread), which must not take a core away from the analyses.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: work()) }
        }
    }

    /// Stores what `examine` found of one FCS file (one write, at most).
    func store(
        _ found: Found, sha: String, of f: InputFile, old: StoredFileState<FileStatus>?, into store: any RecordStore,
        _ setup: Setup, _ summary: inout RunSummary, progress: (done: Int, total: Int),
        _ events: (RunEvent) -> Void
    ) throws {
        let (done, total) = progress
        func commit(_ result: Result<SampleResult, SampleRejection>) throws {
            switch result {
            case .success(let s):
                try store.commitSample(
                    path: f.key, size: f.size, mtime: f.mtime, sample: s, analysisSHA256: setup.analysis)
                summary.events += s.events
                events(.fileDone(path: f.key, outcome: "ingested", done: done, total: total, events: s.events))
            case .failure(let r):
                // A newer version that cannot be read does not replace a good result.
                let unreadable = r.code.rawValue.hasPrefix("FCS-") || r.code == .fileIO
                let keep = unreadable && old?.status == .ingested && old?.sha256 != sha
                try store.commitRejection(
                    path: f.key, sha256: sha, size: f.size, mtime: f.mtime, rejection: r,
                    analysisSHA256: setup.analysis, keepResult: keep)
                summary.rejectedFiles += 1
                events(.fileRejected(path: f.key, code: r.code))
                events(
                    .fileDone(
                        path: f.key, outcome: keep ? "rejected (earlier result kept)" : "rejected", done: done,
                        total: total, events: 0))
            }
        }
        switch found {
        case .unreadable(let reason):
            try store.commitUnreadable(path: f.key, reason: reason, lab: false)
            summary.rejectedFiles += 1
            events(.fileRejected(path: f.key, code: .fileIO))
            events(.fileDone(path: f.key, outcome: "unreadable", done: done, total: total, events: 0))
        case .sameContent:
            try store.touchFile(
                path: f.key, size: f.size, mtime: f.mtime, lab: false,
                clearRejected: old!.sha256 == sha && old!.rejectedSHA256 != nil)
            summary.unchangedFiles += 1
        case .sameDuplicate:
            if try store.storedPath(sha256: sha, excluding: f.key) != nil {
                summary.duplicateFiles += 1
            } else {
                // Its original is gone: this copy is now the one to keep.
                summary.supersededFiles += 1
                let request = AnalysisRequest(path: f.path, displayName: f.key, sha256: sha)
                try commit(setup.analyzer.analyze(request).outcome)
            }
        case .analysed(let result):
            if let old, old.sha256 == sha || old.rejectedSHA256 == sha, old.status != .duplicate {
                summary.rederivedFiles += 1
            } else if let original = try store.storedPath(sha256: sha, excluding: f.key) {
                if old?.status != .duplicate || old?.sha256 != sha {
                    try store.commitDuplicate(path: f.key, sha256: sha, size: f.size, mtime: f.mtime, of: original)
                    events(.fileRejected(path: f.key, code: .duplicateFile))
                }
                summary.duplicateFiles += 1
                return
            } else if old != nil {
                summary.supersededFiles += 1
            } else {
                summary.newFiles += 1
            }
            try commit(result)
        }
    }

    /// One lab file: unchanged, unreadable, or imported in one transaction.
    func ingestLab(
        _ f: InputFile, into store: any RecordStore, _ setup: Setup, _ summary: inout RunSummary,
        _ events: (RunEvent) -> Void
    ) throws {
        let old = try store.labFileState(f.key)
        if let old, !options.verify, old.size == f.size, old.mtime == f.mtime, old.status != .missing {
            summary.labFilesUnchanged += 1
            return
        }
        let sha: String
        do throws(UnreadableInput) { sha = try FileHash.sha256(path: f.path) } catch {
            try store.commitUnreadable(path: f.key, reason: error.reason, lab: true)
            summary.labFilesRejected += 1
            events(.fileRejected(path: f.key, code: .fileIO))
            return
        }
        if let old, old.sha256 == sha, old.status != .missing {
            try store.touchFile(path: f.key, size: f.size, mtime: f.mtime, lab: true, clearRejected: false)
            summary.labFilesUnchanged += 1
            return
        }
        let options = setup.labOptions
        let (report, stored, _) = try store.commitLabFile(path: f.key, sha256: sha, size: f.size, mtime: f.mtime) {
            stage in
            var sink = ClosureSink(stage)
            return LabImporter.importFile(path: f.path, options: options, sink: &sink)
        }
        if report.status == .rejected { summary.labFilesRejected += 1 } else { summary.labFilesImported += 1 }
        summary.labResultsStored += stored
        summary.labRecordsRejected += report.rejected.count
        events(.labFile(path: f.key, status: report.status))
    }

    /// Stored files no longer listed are marked missing (their results stay).
    func markMissing(
        fcs: [InputFile], labs: [InputFile], in store: any RecordStore, _ summary: inout RunSummary
    ) throws {
        let present = Set(fcs.map(\.key))
        let missing = try store.filePaths().filter { !present.contains($0) }
        for p in missing where try store.fileState(p)?.status != .missing { summary.missingFiles += 1 }
        try store.markMissing(missing, lab: false)
        let presentLabs = Set(labs.map(\.key))
        try store.markMissing(try store.labFilePaths().filter { !presentLabs.contains($0) }, lab: true)
    }

    /// Records one patient's monthly records from the patient's stored inputs.
    static func build(
        _ builder: MonthlyRecordBuilder, _ patient: RegistryPatient, samples: [SampleResult],
        labs: [StoredLabResult], rejections: [StoredRejection]
    ) -> [MonthlyRecord] {
        builder.build(
            patients: [patient], samples: samples, labs: labs,
            rejections: rejections.compactMap { r in
                r.patient.map {
                    SampleRejection(code: r.code, message: r.message, patient: $0, collectedDays: r.collectedDays)
                }
            })
    }

    func runLocked(events: @escaping @Sendable (RunEvent) -> Void) async throws -> RunSummary {
        let start = Date()
        return try await withStore(location) { try await runLocked($0, start, events) }
    }

    /// Opens the store at `location` and runs `body` on it. A failure of the store, opening it or
    /// later, is the run's (`PipelineError`: exit 75, or 78 for access and schema), never an input's.
    func withStore(
        _ location: StoreLocation, _ body: (any RecordStore) async throws -> RunSummary
    ) async throws -> RunSummary {
        let store: any RecordStore
        do {
            store = try RecordStores.open(location, busyTimeout: options.wait ? 3600 : options.busySeconds)
        } catch let f as StoreFailure {
            throw PipelineError(f)
        }
        do {
            return try await body(store)
        } catch let e as PipelineError {
            throw e
        } catch {
            if let f = store.failure(error) { throw PipelineError(f) }
            throw error
        }
    }

    func runLocked(
        _ store: any RecordStore, _ start: Date, _ events: @escaping @Sendable (RunEvent) -> Void
    ) async throws -> RunSummary {
        guard try store.lockRuns(shared: false, wait: options.wait) else {
            throw PipelineError(
                kind: .locked,
                message:
                    "another cytoingest run or its workers are using this store (\(databasePath)); retry later or pass --wait"
            )
        }
        let runID = try store.beginRun(configSHA256: config.sha256)
        var summary = RunSummary()
        let setup = try setup(store, &summary, events)
        let registry = setup.registry
        let analyzer = setup.analyzer
        let analysis = setup.analysis

        let files = discover(setup.fcsListing.files)
        // Files whose size or time changed, or that are new: hashed (and, when new or changed,
        // analysed) in parallel from one read each; decisions and commits in listing order.
        var work: [(file: InputFile, old: StoredFileState<FileStatus>?, forced: Bool)] = []
        let stored = try store.fileStates()
        for f in files {
            let old = stored[f.key]
            guard let isForced = needsWork(f, old, analysis: analysis) else {
                summary.unchangedFiles += 1
                continue
            }
            work.append((f, old, isForced))
        }
        let total = work.count
        var done = 0
        let memoryLimit = options.inMemoryLimit
        let remote = if case .postgres = location { true } else { false }
        try await withThrowingTaskGroup(of: (Int, String, Found).self) { group in
            var next = 0
            func add() {
                guard next < work.count else { return }
                let k = next
                let (f, old, isForced) = work[k]
                next += 1
                group.addTask {
                    let examine: @Sendable () -> (String, Found) = {
                        Self.examine(f, old, isForced, analysis, analyzer, memoryLimit: memoryLimit)
                    }
                    // A PostgreSQL store's round trips block the committing task's thread.
                    let (sha, found) = remote ? await Self.offPool(examine) : examine()
                    return (k, sha, found)
                }
            }
            for _ in 0..<options.workers { add() }
            // Results are committed in listing order, so which of two equal files is the
            // original does not depend on which finished first.
            var finished: [Int: (String, Found)] = [:]
            var cursor = 0
            while let (k, sha, found) = try await group.next() {
                finished[k] = (sha, found)
                add()
                while let (sha, found) = finished.removeValue(forKey: cursor) {
                    let (f, old, _) = work[cursor]
                    cursor += 1
                    done += 1
                    try self.store(
                        found, sha: sha, of: f, old: old, into: store, setup, &summary, progress: (done, total), events)
                }
            }
        }

        // Lab XML: each file in one transaction.
        let labFiles = discover(setup.labListing.files)
        for f in labFiles { try ingestLab(f, into: store, setup, &summary, events) }
        try markMissing(fcs: files, labs: labFiles, in: store, &summary)

        // Monthly records, rebuilt deterministically from the store, unless nothing they depend
        // on changed since the last build (no stored input changed, same rules and registry).
        let basis = Self.recordsBasis(rules: config.records, registry: registry)
        if try store.recordsBasis() != basis {
            // Patient by patient: only one patient's lab results are in memory at a time.
            let builder = MonthlyRecordBuilder(rules: config.records)
            let samplesByPatient = Dictionary(grouping: try store.samples(), by: \.patient)
            let rejectionsByPatient = Dictionary(grouping: try store.rejections()) { $0.patient ?? "" }
            var records: [MonthlyRecord] = []
            for p in registry.values.sorted(by: { $0.id < $1.id }) {
                records += Self.build(
                    builder, p, samples: samplesByPatient[p.id] ?? [], labs: try store.labResults(patient: p.id),
                    rejections: rejectionsByPatient[p.id] ?? [])
            }
            let before = try store.records(patient: nil)
            try store.replaceRecords(records, basis: basis)
            summary.recordsUpdated =
                Set(records).symmetricDifference(Set(before)).count > 0
                ? records.filter { !before.contains($0) }.count : 0
        }
        try finish(store, runID, start, &summary, events)
        return summary
    }

    func finish(
        _ store: any RecordStore, _ runID: Int64, _ start: Date, _ summary: inout RunSummary,
        _ events: (RunEvent) -> Void
    ) throws {
        (summary.outstandingRejections, summary.flaggedSamples) = try store.outstanding()
        summary.seconds = Date().timeIntervalSince(start)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try store.finishRun(runID, summary: String(decoding: try encoder.encode(summary), as: UTF8.self))
        events(.summary(summary))
    }
}
