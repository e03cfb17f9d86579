import CytoModel
import Foundation

/// The one listing of input files: what `run`, `check-config`, `inspect`, `validate` and `report`
/// read. Folders are searched recursively; entries may be globs (`*` within a name, `**` for any
/// number of folders); `exclude` patterns drop files; hidden files and folders, partial
/// downloads (`.part`, `.tmp`, `.crdownload`, `~`) and files modified in the last
/// `settleSeconds` (still being written) are skipped; symbolic-link loops are followed once.
/// Names match case-insensitively; an `exclude` pattern matches at any depth (as in
/// `.gitignore`) unless it starts with `/` (then from the configuration's folder).
public struct InputListing: Sendable {
    public static let fcsSuffixes = [".fcs", ".lmd", ".fcs.gz", ".lmd.gz"]
    public static let labSuffixes = [".xml", ".xml.gz"]
    static let partialSuffixes = [".part", ".partial", ".tmp", ".crdownload", "~"]

    /// An entry that lists nothing, or a file that was skipped, and why.
    public struct Note: Sendable, Hashable {
        public var entry: String
        public var message: String
    }

    /// Regular files found, sorted, each once.
    public var files: [String] = []
    /// Entries that match no file (configuration errors for `run` and `check-config`).
    public var unmatched: [Note] = []
    /// Files passed over (hidden, partial, still being written), with the reason.
    public var skipped: [Note] = []
    /// Inputs that cannot be read as files (FIFO, device, socket, a link loop, a folder or file
    /// without permission): each is rejected with its path, and the run goes on.
    public var unreadable: [Note] = []

    /// Lists `entries` (resolved by `resolve`); folders give their files ending in `suffixes`
    /// (at any depth); `exclude` patterns are matched against the path relative to `base` and
    /// against the file name.
    public init(
        _ entries: [String], resolve: (String) -> String, suffixes: [String], exclude: [String] = [],
        base: String? = nil,
        settleSeconds: Double = 0, now: Date = Date()
    ) {
        var found = Set<String>()
        for entry in entries {
            let path = resolve(entry)
            var matched: [String] = []
            if entry.contains("*") {
                matched = Self.glob(path)
            } else if let type = Self.fileType(path) {
                if type == .typeDirectory {
                    var visited = Set<String>()
                    Self.walk(
                        path, suffixes: suffixes, visited: &visited, into: &matched, skipped: &skipped,
                        unreadable: &unreadable)
                } else if type == .typeRegular {
                    matched = [path]
                } else {
                    unreadable.append(Note(entry: path, message: "not a regular file (FIFO, device or socket)"))
                    continue
                }
            } else {
                unmatched.append(Note(entry: entry, message: "no such file or folder (\(path)); is the share mounted?"))
                continue
            }
            var kept = 0
            for file in matched {
                let name = URL(fileURLWithPath: file).lastPathComponent
                if let base,
                    exclude.contains(where: { pattern in
                        // As in .gitignore: a pattern matches at any depth unless it starts with "/".
                        let rel = Self.relative(file, to: base)
                        return Self.globMatches(pattern.hasPrefix("/") ? String(pattern.dropFirst()) : pattern, rel)
                            || (!pattern.hasPrefix("/") && Self.globMatches("**/" + pattern, rel))
                            || Wildcard.matches(pattern, name)
                    })
                {
                    continue
                }
                if name.hasPrefix(".") || Self.partialSuffixes.contains(where: { name.lowercased().hasSuffix($0) }) {
                    skipped.append(Note(entry: file, message: "hidden or partial file"))
                    continue
                }
                if settleSeconds > 0, let (_, mtime) = Self.sizeAndModification(file),
                    now.timeIntervalSince1970 - mtime < settleSeconds
                {
                    skipped.append(
                        Note(
                            entry: file,
                            message:
                                "still being written (modified \(String(format: "%.1f", now.timeIntervalSince1970 - mtime)) s ago)"
                        ))
                    continue
                }
                found.insert(file)
                kept += 1
            }
            if kept == 0 && !unreadable.contains(where: { $0.entry.hasPrefix(path) }) {
                unmatched.append(
                    Note(
                        entry: entry,
                        message: entry.contains("*")
                            ? "the pattern matches no file"
                            : "the folder holds no input file (\(suffixes.joined(separator: ", ")), at any depth)"))
            }
        }
        files = found.sorted()
    }

    /// The regular files that input entries name (no errors: for listings that tolerate them).
    public static func files(_ entries: [String], resolve: (String) -> String, suffixes: [String]) -> [String] {
        InputListing(entries, resolve: resolve, suffixes: suffixes).files
    }

    static func walk(
        _ dir: String, suffixes: [String], visited: inout Set<String>, into out: inout [String], skipped: inout [Note],
        unreadable: inout [Note]
    ) {
        let real = URL(fileURLWithPath: dir).resolvingSymlinksInPath().path
        guard visited.insert(real).inserted else { return }  // a folder reached twice through links: once is enough
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
            unreadable.append(Note(entry: dir, message: "the folder cannot be read (permission?)"))
            return
        }
        for name in names.sorted() {
            let path = dir + "/" + name
            if name.hasPrefix(".") { continue }
            let lower = name.lowercased()
            let isInput = suffixes.contains(where: { lower.hasSuffix($0) })
            switch fileType(path) {
            case .typeDirectory?:
                walk(
                    path, suffixes: suffixes, visited: &visited, into: &out, skipped: &skipped, unreadable: &unreadable)
            case .typeRegular?:
                if isInput {
                    out.append(path)
                } else if let partial = partialSuffixes.first(where: { lower.hasSuffix($0) }),
                    suffixes.contains(where: { String(lower.dropLast(partial.count)).hasSuffix($0) })
                {
                    skipped.append(Note(entry: path, message: "partial file (still being copied?)"))
                }
            case nil where isInput:
                // stat failed: a link to nowhere or to itself (a loop), or no permission.
                unreadable.append(Note(entry: path, message: "cannot be read: \(statError(path))"))
            case _? where isInput:
                unreadable.append(Note(entry: path, message: "not a regular file (FIFO, device or socket)"))
            default: break
            }
        }
    }

    /// Why `stat` fails on a path, in errno's words.
    static func statError(_ path: String) -> String {
        var st = stat()
        return stat(path, &st) == 0 ? "unknown" : String(cString: strerror(errno))
    }

    /// Files matching a glob: `*` within a name, `**` any number of folders.
    static func glob(_ pattern: String) -> [String] {
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let first = parts.firstIndex(where: { $0.contains("*") }) else { return [] }
        let root = (pattern.hasPrefix("/") ? "/" : "") + parts[..<first].joined(separator: "/")
        var out: [String] = []
        var visited = Set<String>()
        func match(_ dir: String, _ rest: ArraySlice<String>) {
            guard let head = rest.first else { return }
            let tail = rest.dropFirst()
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter {
                !$0.hasPrefix(".")
            }.sorted()
            if head == "**" {
                let real = URL(fileURLWithPath: dir).resolvingSymlinksInPath().path
                guard visited.insert(real + "|" + tail.joined(separator: "/")).inserted else { return }
                match(dir, tail)  // zero folders
                for name in names where fileType(dir + "/" + name) == .typeDirectory { match(dir + "/" + name, rest) }
                return
            }
            for name in names where Wildcard.matches(head, name) {
                let path = (dir == "/" ? "" : dir) + "/" + name
                if tail.isEmpty {
                    if fileType(path) == .typeRegular { out.append(path) }
                } else if fileType(path) == .typeDirectory {
                    match(path, tail)
                }
            }
        }
        match(root.isEmpty ? "." : root, parts[first...])
        return out
    }

    /// Whether a relative path matches a glob (`**` spans folders).
    static func globMatches(_ pattern: String, _ path: String) -> Bool {
        let p = pattern.split(separator: "/").map(String.init), s = path.split(separator: "/").map(String.init)
        func go(_ i: Int, _ j: Int) -> Bool {
            if i == p.count { return j == s.count }
            if p[i] == "**" { return (j...s.count).contains { go(i + 1, $0) } }
            return j < s.count && Wildcard.matches(p[i], s[j]) && go(i + 1, j + 1)
        }
        return go(0, 0)
    }

    static func relative(_ path: String, to base: String) -> String {
        path.hasPrefix(base + "/") ? String(path.dropFirst(base.count + 1)) : path
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

extension InputListing {
    /// The entries that list no file, as configuration errors under `setting`.
    public func configurationErrors(setting: String) -> [ConfigurationError] {
        unmatched.map { ConfigurationError(path: setting, message: "\($0.entry): \($0.message)") }
    }
}

extension PipelineConfiguration {
    /// The FCS inputs as configured (with their problems).
    public func fcsListing(settleSeconds: Double = 0) -> InputListing {
        InputListing(
            inputs.fcs, resolve: resolve, suffixes: InputListing.fcsSuffixes, exclude: inputs.exclude,
            base: baseDirectory.standardizedFileURL.path, settleSeconds: settleSeconds)
    }

    /// The lab inputs as configured (with their problems).
    public func labListing(settleSeconds: Double = 0) -> InputListing {
        InputListing(
            inputs.labs, resolve: resolve, suffixes: InputListing.labSuffixes, exclude: inputs.exclude,
            base: baseDirectory.standardizedFileURL.path, settleSeconds: settleSeconds)
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
