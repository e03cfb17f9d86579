import Foundation
import Pipeline
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The one input listing: recursion, globs, exclusions, hidden/partial/settling files, links.
@Suite("Input listing")
struct InputListingTests {
    @Test("folders recurse, ** globs span folders, exclude drops, hidden and partial files are skipped, link loops end")
    func listing() throws {
        let root = Paths.temporaryDirectory("listing")
        defer { try? FileManager.default.removeItem(at: root) }
        let fm = FileManager.default
        func touch(_ path: String) throws {
            let url = root.appendingPathComponent(path)
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("x".utf8).write(to: url)
        }
        for p in [
            "fcs/P001/a.fcs", "fcs/P001/b.FCS", "fcs/P002/deep/c.fcs.gz", "fcs/P002/.hidden.fcs", "fcs/P002/d.fcs.part",
            "fcs/P003/e.fcs", "fcs/P003/notes.txt", "fcs/.cache/f.fcs", "fcs/old/g.fcs",
        ] {
            try touch(p)
        }
        // A symbolic-link loop: fcs/P001/loop -> fcs.
        try fm.createSymbolicLink(
            atPath: root.appendingPathComponent("fcs/P001/loop").path,
            withDestinationPath: root.appendingPathComponent("fcs").path)
        // A FIFO is not a file to read.
        #expect(mkfifo(root.appendingPathComponent("fcs/P003/pipe.fcs").path, 0o600) == 0)
        let resolve = { (e: String) in e.hasPrefix("/") ? e : root.appendingPathComponent(e).path }
        let folder = InputListing(
            ["fcs"], resolve: resolve, suffixes: InputListing.fcsSuffixes, exclude: ["old/**"], base: root.path)
        let names = Set(folder.files.map { String($0.dropFirst(root.path.count + 1)) })
        #expect(names == ["fcs/P001/a.fcs", "fcs/P001/b.FCS", "fcs/P002/deep/c.fcs.gz", "fcs/P003/e.fcs"], "\(names)")
        #expect(folder.skipped.contains { $0.entry.hasSuffix("d.fcs.part") })
        #expect(folder.unmatched.isEmpty)
        let glob = InputListing(
            ["fcs/**/*.fcs"], resolve: resolve, suffixes: InputListing.fcsSuffixes, exclude: ["*/P003/*"],
            base: root.path)
        let globbed = Set(glob.files.map { URL(fileURLWithPath: $0).lastPathComponent })
        #expect(globbed == ["a.fcs", "b.FCS", "g.fcs"], "names match case-insensitively: \(globbed)")
        let none = InputListing(["fcs/*/*.nothing", "missing"], resolve: resolve, suffixes: InputListing.fcsSuffixes)
        #expect(none.unmatched.count == 2 && none.files.isEmpty)
        // Files modified just now are still being written.
        let settling = InputListing(["fcs"], resolve: resolve, suffixes: InputListing.fcsSuffixes, settleSeconds: 3600)
        #expect(settling.files.isEmpty && settling.skipped.contains { $0.message.contains("still being written") })
    }
}
