import Analysis
import CytoModel
import FCSParser
import Foundation
import Labs

/// `cytoingest check-config`: everything a run would read, resolved without ingesting — inputs
/// (files per folder), each FCS file's HEADER and TEXT (which instrument profile, panel and
/// strategy it resolves to), the registry, and the lab files (parsed, not stored).
public struct ConfigurationCheck: Sendable {
    public struct FCSFile: Sendable, Codable {
        public var file: String
        public var instrument: String
        public var channels: [String]
        public var problem: String?
    }
    public struct LabFile: Sendable, Codable {
        public var file: String
        public var format: String?
        public var status: String
        public var results: Int
        public var rejectedRecords: Int
        public var problem: String?
    }

    /// Configuration errors (each would stop a run with exit 78).
    public var errors: [ConfigurationError] = []
    /// Input folders (or entries) and how many files each gives.
    public var folders: [String: Int] = [:]
    public var skipped: [InputListing.Note] = []
    public var fcs: [FCSFile] = []
    public var labs: [LabFile] = []
    public var patients = 0
    public var strategies: [String] = []

    /// Problems in files (a run would reject those files, exit 65).
    public var fileProblems: Int { fcs.filter { $0.problem != nil }.count + labs.filter { $0.problem != nil }.count }
    public var ok: Bool { errors.isEmpty && fileProblems == 0 }

    public init(config: PipelineConfiguration) {
        let fcsListing = config.fcsListing(), labListing = config.labListing()
        errors +=
            fcsListing.configurationErrors(setting: "$.inputs.fcs")
            + labListing.configurationErrors(setting: "$.inputs.labs")
        skipped = fcsListing.skipped + labListing.skipped
        // Inputs a run would reject as unreadable (E-FILE-IO), listed before the night.
        skipped += (fcsListing.unreadable + labListing.unreadable).map {
            InputListing.Note(entry: $0.entry, message: "will be rejected (E-FILE-IO): \($0.message)")
        }
        for f in fcsListing.files + labListing.files {
            folders[config.storeKey(URL(fileURLWithPath: f).deletingLastPathComponent().path), default: 0] += 1
        }
        strategies = [config.gating.strategy] + config.gating.instruments.map { "\($0.name): \($0.strategy)" }
        let analyzer: SampleAnalyzer
        do {
            let registry = try Registry.load(for: config)
            patients = registry.count
            analyzer = try config.makeAnalyzer(registry: registry)
        } catch let e as ConfigurationError {
            errors.append(e)
            return
        } catch {
            errors.append(ConfigurationError(path: "$.gating", message: "\(error)"))
            return
        }
        for path in fcsListing.files {
            let key = config.storeKey(path)
            do {
                let reader = try FCSReader(path: path)
                let r = analyzer.readiness(of: reader.dataSets[0])
                fcs.append(FCSFile(file: key, instrument: r.profile, channels: r.channels, problem: r.problem))
            } catch {
                fcs.append(
                    FCSFile(
                        file: key, instrument: "-", channels: [],
                        problem: "[FCS-\(error.code.rawValue)] \(error.message)"))
            }
        }
        let options = config.labImportOptions()
        for path in labListing.files {
            let r = LabImporter.check(path: path, options: options)
            labs.append(
                LabFile(
                    file: config.storeKey(path), format: r.format, status: r.status.rawValue, results: r.results.count,
                    rejectedRecords: r.rejected.count, problem: r.error.map { "[\($0.code)] \($0.message)" }))
        }
    }
}
