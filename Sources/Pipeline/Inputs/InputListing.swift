import CytoModel
import Foundation

/// The one listing of input files: what `run`, `inspect`, `validate` and `report` read.
public enum InputListing {
    public static let fcsSuffixes = [".fcs", ".lmd", ".fcs.gz", ".lmd.gz"]
    public static let labSuffixes = [".xml", ".xml.gz"]

    /// The regular files that input entries name: files, folders (their files ending in one of
    /// `suffixes`) and `folder/pattern*` globs; sorted, each once.
    /// - Parameter resolve: turns an entry into a path (relative entries are the
    ///   configuration's folder's).
    public static func files(_ entries: [String], resolve: (String) -> String, suffixes: [String]) -> [String] {
        var out: [String] = []
        for entry in entries {
            let path = resolve(entry)
            if entry.contains("*") {
                let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
                let pattern = URL(fileURLWithPath: path).lastPathComponent
                for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
                where Wildcard.matches(pattern, name) {
                    out.append(dir + "/" + name)
                }
            } else if let type = fileType(path) {
                if type == .typeDirectory {
                    for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                    where suffixes.contains(where: { name.lowercased().hasSuffix($0) }) {
                        out.append(path + "/" + name)
                    }
                } else {
                    out.append(path)
                }
            }
        }
        return Set(out).sorted().filter { fileType($0) == .typeRegular }
    }

    /// The type of what a path names, following symbolic links (nil: nothing there).
    static func fileType(_ path: String) -> FileAttributeType? {
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        return (try? FileManager.default.attributesOfItem(atPath: target))?[.type] as? FileAttributeType
    }

    /// Size in bytes and modification time (seconds since 1970) of a file.
    public static func sizeAndModification(_ path: String) -> (Int64, Double)? {
        guard
            let a = try? FileManager.default.attributesOfItem(
                atPath: URL(fileURLWithPath: path).resolvingSymlinksInPath().path),
            let size = (a[.size] as? NSNumber)?.int64Value,
            let modified = a[.modificationDate] as? Date
        else { return nil }
        return (size, modified.timeIntervalSince1970)
    }
}

extension PipelineConfiguration {
    /// The FCS files `inputs.fcs` names.
    public func fcsFiles() -> [String] {
        InputListing.files(inputs.fcs, resolve: resolve, suffixes: InputListing.fcsSuffixes)
    }

    /// The FCS files under extra search entries (command-line folders, resolved against the
    /// current folder) and `inputs.fcs`.
    public func fcsFiles(searching extra: [String]) -> [String] {
        InputListing.files(
            extra.map { URL(fileURLWithPath: $0).path } + inputs.fcs.map(resolve), resolve: { $0 },
            suffixes: InputListing.fcsSuffixes)
    }

    /// The key of an input file in the store: its path relative to the configuration's folder,
    /// or its absolute path for files outside it.
    public func storeKey(_ path: String) -> String {
        let base = baseDirectory.standardizedFileURL.path
        let standard = URL(fileURLWithPath: path).standardizedFileURL.path
        return standard.hasPrefix(base + "/") ? String(standard.dropFirst(base.count + 1)) : standard
    }
}
