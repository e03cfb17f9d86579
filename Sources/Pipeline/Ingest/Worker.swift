import Analysis
import CytoModel
import Foundation
import Records
import Store

#if canImport(Glibc)
import Glibc
#endif

/// Settings of one worker among many (`cytoingest run --worker`).
public struct WorkerSettings: Sendable {
    /// Names the worker in the queue and the log: host and process id by default.
    public var name: String
    /// How long a claim on a file lasts; a worker that dies loses its files after this long
    /// (another worker claims them again). Longer than the slowest file's analysis.
    public var leaseSeconds: Double = 600
    /// How often a worker with nothing to claim looks again while others finish.
    public var pollSeconds: Double = 0.25

    public init(name: String? = nil) {
        var host = [CChar](repeating: 0, count: 256)
        let hostname =
            gethostname(&host, host.count) == 0
            ? String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "host"
        self.name = name ?? "\(hostname):\(getpid())"
    }
}

extension IngestPipeline {
    /// One worker of many over the same inputs and PostgreSQL store. Every worker lists the
    /// inputs and queues the files whose stored results are not current; then each claims files
    /// (a lease: a killed worker's files are claimed again when it runs out), analyses them and
    /// stores each file's results in the transaction that ends its claim, so a file is stored
    /// once. When the queue is empty it rebuilds the monthly records of the patients whose inputs
    /// changed, one patient at a time, each by one worker. It returns when nothing is left.
    public func runWorker(
        _ worker: WorkerSettings, events: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) async throws -> RunSummary {
        guard case .postgres(var settings) = location else {
            throw PipelineError(
                kind: .configuration,
                message:
                    "--worker needs a PostgreSQL store (store.postgres, or --database postgres://...): an SQLite store is written by one run at a time"
            )
        }
        guard options.reprocess == .none else {
            throw PipelineError(
                kind: .configuration,
                message:
                    "--reprocess is a single run's request: run it once without --worker (workers would each derive the files again)"
            )
        }
        let start = Date()
        // The session names the worker in pg_stat_activity (`cytoingest w3`).
        settings.applicationName = "cytoingest \(worker.name)"
        return try await withStore(.postgres(settings)) { try await work(worker, $0, start, events) }
    }

    func work(
        _ worker: WorkerSettings, _ store: any RecordStore, _ start: Date,
        _ events: @escaping @Sendable (RunEvent) -> Void
    ) async throws -> RunSummary {
        guard try store.lockRuns(shared: true, wait: options.wait) else {
            throw PipelineError(
                kind: .locked,
                message:
                    "a single (non-worker) run is using this store (\(databasePath)); retry later or pass --wait")
        }
        let runID = try store.beginRun(configSHA256: config.sha256)
        var summary = RunSummary()
        let setup = try setup(store, &summary, events)
        let basis = Self.recordsBasis(rules: config.records, registry: setup.registry)
        try store.markAllPatientsIfRulesChanged(basis: basis)

        // Queue what is not current (every worker lists the same inputs; queued files stay queued).
        let files = discover(setup.fcsListing.files)
        let labFiles = discover(setup.labListing.files)
        let fcsByKey = Dictionary(files.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let labsByKey = Dictionary(labFiles.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        var queued: [String] = []
        let stored = try store.fileStates()
        for f in files {
            if needsWork(f, stored[f.key], analysis: setup.analysis) != nil {
                queued.append(f.key)
            } else {
                summary.unchangedFiles += 1
            }
        }
        try store.enqueue(kind: "fcs", paths: queued)
        let storedLabs = try store.labFileStates()
        try store.enqueue(
            kind: "lab",
            paths: labFiles.filter { f in
                guard let old = storedLabs[f.key] else { return true }
                return options.verify || old.size != f.size || old.mtime != f.mtime || old.status == .missing
            }.map(\.key))

        // Claim, analyse, store, until the queue is empty (others' claims finished or expired).
        // Analyses run in parallel (as many as `options.workers`) while finished ones are stored
        // one by one, each under its claim; more files are claimed as analyses finish.
        let memoryLimit = options.inMemoryLimit
        let analyzer = setup.analyzer
        let analysis = setup.analysis
        let parallel = max(1, options.workers)
        var done = 0
        var held: Set<WorkClaim> = []
        var renewed = Date()
        typealias Examined = (
            claim: WorkClaim, file: InputFile, old: StoredFileState<FileStatus>?, sha: String, found: Found
        )
        try await withThrowingTaskGroup(of: Examined.self) { group in
            var inFlight = 0
            while true {
                // Claims still held are renewed once a third of their lease has passed.
                if Date().timeIntervalSince(renewed) > worker.leaseSeconds / 3 {
                    try store.renewClaims(Array(held), leaseSeconds: worker.leaseSeconds)
                    renewed = Date()
                }
                if inFlight < parallel {
                    let claims = try store.claimWork(
                        worker: worker.name, limit: 2 * parallel - inFlight, leaseSeconds: worker.leaseSeconds)
                    for c in claims {
                        if c.attempts > 1 {
                            summary.reclaimedFiles += 1
                            events(.fileReclaimed(path: c.path, attempt: c.attempts, previousWorker: c.previousWorker))
                        }
                        if c.kind == "lab" {
                            guard let f = labsByKey[c.path] else {
                                try store.completeClaim(c)
                                continue
                            }
                            try underClaim(c, store, events) { try ingestLab(f, into: store, setup, &summary, events) }
                            continue
                        }
                        guard let f = fcsByKey[c.path] else {
                            try store.completeClaim(c)  // not among this worker's inputs (gone since)
                            continue
                        }
                        let old = try store.fileState(f.key)
                        guard let isForced = needsWork(f, old, analysis: analysis) else {
                            try store.completeClaim(c)  // stored by another worker meanwhile
                            summary.unchangedFiles += 1
                            continue
                        }
                        held.insert(c)
                        inFlight += 1
                        group.addTask {
                            let (sha, found) = await Self.offPool {
                                Self.examine(f, old, isForced, analysis, analyzer, memoryLimit: memoryLimit)
                            }
                            return (c, f, old, sha, found)
                        }
                    }
                    if claims.isEmpty && inFlight == 0 {
                        if try store.queuedWork() == 0 { break }
                        try await Task.sleep(nanoseconds: UInt64(worker.pollSeconds * 1e9))
                        continue
                    }
                }
                guard let e = try await group.next() else { continue }
                inFlight -= 1
                held.remove(e.claim)
                done += 1
                try underClaim(e.claim, store, events) {
                    try self.store(
                        e.found, sha: e.sha, of: e.file, old: e.old, into: store, setup, &summary,
                        progress: (done, 0), events)
                }
            }
        }
        try markMissing(fcs: files, labs: labFiles, in: store, &summary)

        // Monthly records of the patients whose inputs changed: one patient at a time, each
        // locked by the worker rebuilding it; wait for those others are rebuilding.
        let builder = MonthlyRecordBuilder(rules: config.records)
        while true {
            while let _ = try store.rebuildNextPatient({ inputs in
                guard let p = setup.registry[inputs.patient] else { return [] }
                let records = Self.build(
                    builder, p, samples: inputs.samples, labs: inputs.labs, rejections: inputs.rejections)
                summary.recordsUpdated += records.count
                return records
            }) {
                summary.patientsRebuilt += 1
            }
            if try store.dirtyPatients() == 0 { break }
            try await Task.sleep(nanoseconds: UInt64(worker.pollSeconds * 1e9))
        }
        try finish(store, runID, start, &summary, events)
        return summary
    }

    /// Stores one file's results under its claim (ending it); a claim that ran out and was taken
    /// by another worker leaves the file to that worker (nothing of this one's is written).
    func underClaim(
        _ c: WorkClaim, _ store: any RecordStore, _ events: (RunEvent) -> Void, _ body: () throws -> Void
    ) throws {
        store.claim = c
        defer { store.claim = nil }
        do {
            try body()
        } catch {
            guard store.failure(error)?.kind == .claimLost else { throw error }
            events(
                .fileSkipped(
                    path: c.path,
                    reason: "this worker's lease ran out and another worker claimed the file: its result is the other's"
                ))
            return
        }
        if store.claim != nil { try store.completeClaim(c) }
    }
}
