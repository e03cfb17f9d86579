import FCSParser
import Foundation
import TestSupport
import Testing

/// Reads every file of `../shared/corpus/fcs` in place and compares it with `reference.json`
/// (values decoded by flowio 1.4.0 and fcsparser 0.2.4). Where the two references agree on the
/// data, ours must equal them; where they disagree or fail, `decisions` says which answer is
/// right and why.
@Suite("FCS corpus conformance")
struct CorpusConformanceTests {
    static let corpus = Paths.sharedCorpus.appendingPathComponent("fcs")
    static let available = Paths.sharedAvailable("fcs")

    /// Which reference is right for a data set where they disagree, or what to check instead.
    enum Decision: Sendable {
        /// Compare with flowio's values.
        case flowio
        /// Compare with fcsparser's values.
        case fcsparser
        /// No trustworthy reference: a custom check.
        case custom(@Sendable (FCSReader, FCSDataSet) throws -> Void)
        /// The file must fail with this error code under default options.
        case error(FCSError.Code)
    }

    /// Per file (and data set) decisions, with the reason.
    static let decisions: [String: [Int: Decision]] = [
        // HEADER is right: TEXT $BEGINDATA (2526) lies inside TEXT. flowio was forced to TEXT
        // (ignore_offset_discrepancy) and read garbage; fcsparser uses HEADER.
        "bpteague-cytoflow/Accuri - C6.fcs": [0: .fcsparser],
        // Both candidates fit the file; HEADER is right (TEXT is +46 bytes, MANIFEST), and our
        // automatic rule prefers HEADER when both fit. fcsparser used HEADER.
        "bpteague-cytoflow/Beckman Coulter - Cyan.fcs": [0: .fcsparser],
        // TEXT is right: the HEADER start (5555) lies inside TEXT. flowio used TEXT.
        "whitews-FlowIO/data_start_offset_discrepancy_example.fcs": [0: .flowio],
        // 24-bit integers: flowio gives no data; fcsparser reads 3-byte big-endian values.
        "taborlab-FlowCal/Data003.fcs": [0: .fcsparser],
        // Data set 1 declares $PnB 10 but stores 16-bit words (Beckman CXP bug). fcsparser reads
        // 8-bit values (wrong: the length would not match), flowio refuses. We read 16-bit words
        // masked to 10 bits: every value must lie in 0...1023 and the DATA length must be
        // $TOT x 4 parameters x 2 bytes. Data set 2: references agree.
        "bpteague-cytoflow/Beckman Coulter - Cytomics FC500.LMD": [
            0: .custom({ reader, set in
                #expect(set.bytesPerEvent == 8)
                #expect(set.dataRange?.length == Int64(set.eventCount * 8))
                #expect(set.warnings.contains(where: { $0.code == "bits_widened" }))
                let ev = try reader.readEvents(dataSet: 0)
                for c in ev.columns {
                    #expect(c.allSatisfy { $0 >= 0 && $0 <= 1023 })
                    #expect(Set(c).count > 50, "a 16-bit misread gives few distinct values")
                }
            }),
            1: .flowio,
        ],
        // Truncated transfer (293161 of 482636 bytes): both references fail. We fail with a
        // specific code; with allowTruncatedData the 6052 complete events are read.
        "MorganConrad-fcs/AriaFile1.fcs": [0: .error(.truncatedData)],
    ]

    struct RefDataSet {
        var events: Int?
        var pnn: [String]
        var stats: [(min: Double, max: Double, sum: Double)]
        var first: [[Double]]
        var last: [[Double]]
    }

    static func number(_ any: Any?) -> Double? {
        if let n = any as? NSNumber { return n.doubleValue }
        if let s = any as? String {
            switch s {
            case "nan": return .nan
            case "inf": return .infinity
            case "-inf": return -.infinity
            default: return Double(s)
            }
        }
        return nil
    }

    static func refDataSets(_ file: [String: Any], reader: String) -> [RefDataSet?] {
        guard let r = file[reader] as? [String: Any], let sets = r["datasets"] as? [[String: Any]] else { return [] }
        return sets.map { ds in
            guard let stats = ds["stats_raw"] as? [[String: Any]], let ev = ds["events_raw"] as? [String: Any] else {
                return nil
            }
            let rows = { (k: String) -> [[Double]] in
                ((ev[k] as? [[Any]]) ?? []).map { $0.map { number($0) ?? .nan } }
            }
            return RefDataSet(
                events: ds["n_events"] as? Int, pnn: ds["pnn"] as? [String] ?? [],
                stats: stats.map { (number($0["min"]) ?? .nan, number($0["max"]) ?? .nan, number($0["sum"]) ?? .nan) },
                first: rows("first"), last: rows("last"))
        }
    }

    static func same(_ a: Double, _ b: Double, relative: Double = 0) -> Bool {
        if a.isNaN && b.isNaN { return true }
        if a == b { return true }
        return relative > 0 && abs(a - b) <= relative * max(abs(a), abs(b))
    }

    /// Compares our data set with a reference; returns a list of differences.
    static func compare(_ reader: FCSReader, _ set: FCSDataSet, _ ref: RefDataSet, checkNames: Bool) throws -> [String]
    {
        var diffs: [String] = []
        if let e = ref.events, e != set.eventCount { diffs.append("events \(set.eventCount) vs \(e)") }
        if checkNames && set.parameters.map(\.name) != ref.pnn {
            diffs.append("$PnN \(set.parameters.map(\.name)) vs \(ref.pnn)")
        }
        let ev = try reader.readEvents(dataSet: set.index)
        for (c, s) in ref.stats.enumerated() where c < ev.columns.count {
            let col = ev.columns[c]
            let lo = col.min() ?? .nan, hi = col.max() ?? .nan
            // The reference JSON prints float32-derived doubles with last-digit noise: 1e-12
            // relative for values. numpy sums pairwise, we add in order: 1e-9 relative for sums.
            let sum = col.reduce(0, +)
            if !same(lo, s.min, relative: 1e-12) || !same(hi, s.max, relative: 1e-12)
                || !same(sum, s.sum, relative: 1e-9)
            {
                diffs.append("parameter \(c + 1): min/max/sum \(lo)/\(hi)/\(sum) vs \(s.min)/\(s.max)/\(s.sum)")
            }
        }
        for (i, row) in ref.first.enumerated() where i < ev.count {
            if !zip(ev.event(i), row).allSatisfy({ same($0, $1, relative: 1e-12) }) {
                diffs.append("event \(i + 1) differs")
            }
        }
        for (i, row) in ref.last.enumerated() {
            let k = ev.count - ref.last.count + i
            if k >= 0 && !zip(ev.event(k), row).allSatisfy({ same($0, $1, relative: 1e-12) }) {
                diffs.append("event \(k + 1) differs")
            }
        }
        return diffs
    }

    @Test(
        "every corpus file matches its reference or our documented decision",
        .enabled(if: available, "../shared/corpus/fcs is absent: corpus conformance skipped"))
    func corpus() throws {
        let data = try Data(contentsOf: Self.corpus.appendingPathComponent("reference.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let files = try #require(json["files"] as? [String: Any])
        var passed = 0
        var failedFiles: [String] = []
        for name in files.keys.sorted() {
            let file = try #require(files[name] as? [String: Any])
            let path = Self.corpus.appendingPathComponent(name).path
            let decided = Self.decisions[name] ?? [:]
            var problems: [String] = []
            if case .error(let code)? = decided[0] {
                do {
                    _ = try FCSReader(path: path)
                    problems.append("expected error \(code)")
                } catch {
                    if error.code != code { problems.append("error \(error.code) instead of \(code)") }
                }
                if problems.isEmpty { passed += 1 } else { failedFiles.append(name) }
                for p in problems { Issue.record("\(name): \(p)") }
                continue
            }
            let reader: FCSReader
            do {
                reader = try FCSReader(path: path)
            } catch {
                Issue.record("\(name): \(error)")
                failedFiles.append(name)
                continue
            }
            let flowio = Self.refDataSets(file, reader: "flowio")
            let fcsparser = Self.refDataSets(file, reader: "fcsparser")
            let comparisons = file["comparison"] as? [[String: Any]] ?? []
            let refCount = max(flowio.count, fcsparser.count)
            if reader.dataSets.count != refCount {
                problems.append("\(reader.dataSets.count) data sets vs \(refCount)")
            }
            for set in reader.dataSets where set.index < refCount {
                let cmp = set.index < comparisons.count ? comparisons[set.index] : [:]
                // $PnN comparison only where both references agree on the names.
                let namesAgree = (cmp["pnn_equal"] as? Bool) ?? false
                switch decided[set.index] {
                case .custom(let check)?:
                    try check(reader, set)
                case .fcsparser?:
                    let ref = try #require(fcsparser[set.index])
                    problems += try Self.compare(reader, set, ref, checkNames: namesAgree).map {
                        "set \(set.index + 1): \($0)"
                    }
                case .flowio?:
                    let ref = try #require(flowio[set.index])
                    problems += try Self.compare(reader, set, ref, checkNames: namesAgree).map {
                        "set \(set.index + 1): \($0)"
                    }
                case .error?:
                    break
                case nil:
                    guard (cmp["data_equal"] as? Bool) == true, let ref = flowio[set.index] else {
                        problems.append("set \(set.index + 1): references disagree and no decision is recorded")
                        continue
                    }
                    problems += try Self.compare(reader, set, ref, checkNames: namesAgree).map {
                        "set \(set.index + 1): \($0)"
                    }
                }
            }
            if problems.isEmpty { passed += 1 } else { failedFiles.append(name) }
            for p in problems { Issue.record("\(name): \(p)") }
        }
        print("FCS corpus conformance: \(passed) of \(files.count) files pass; failing: \(failedFiles)")
    }

    /// Empty values written as doubled delimiters: both references merge keys and lose
    /// `$P6N`; we detect the writer and keep every keyword.
    /// `.scaled` values of log channels against the reference's `stats_scaled_log`
    /// (f2 * 10^(f1 * x / R), f2 = 0 read as 1), for integer data sets whose data the references
    /// agree on.
    @Test("scaled log channels match the reference", .enabled(if: available, "../shared/corpus/fcs is absent"))
    func scaledLog() throws {
        let data = try Data(contentsOf: Self.corpus.appendingPathComponent("reference.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let files = try #require(json["files"] as? [String: Any])
        var channels = 0
        for name in files.keys.sorted() where Self.decisions[name] == nil {
            let file = try #require(files[name] as? [String: Any])
            guard let flowio = file["flowio"] as? [String: Any], let sets = flowio["datasets"] as? [[String: Any]]
            else { continue }
            let reader = try FCSReader(path: Self.corpus.appendingPathComponent(name).path)
            for (i, ds) in sets.enumerated() {
                guard let scaled = ds["stats_scaled_log"] as? [String: [String: Any]], !scaled.isEmpty,
                    i < reader.dataSets.count, reader.dataSets[i].dataType == .integer
                else { continue }
                let ev = try reader.readEvents(dataSet: i, values: .scaled)
                for (key, ref) in scaled {
                    let p = try #require(Int(key)) - 1
                    let col = ev.columns[p]
                    let sum = col.reduce(0, +)
                    #expect(Self.same(col.min()!, Self.number(ref["min"])!, relative: 1e-12), "\(name) P\(p + 1) min")
                    #expect(Self.same(col.max()!, Self.number(ref["max"])!, relative: 1e-12), "\(name) P\(p + 1) max")
                    #expect(Self.same(sum, Self.number(ref["sum"])!, relative: 1e-9), "\(name) P\(p + 1) sum")
                    let first = (ref["first"] as? [Any] ?? []).compactMap { Self.number($0) }
                    for (k, v) in first.enumerated() {
                        #expect(Self.same(col[k], v, relative: 1e-12), "\(name) P\(p + 1) event \(k + 1)")
                    }
                    channels += 1
                }
            }
        }
        print("scaled log channels compared: \(channels)")
        #expect(channels > 20)
    }

    @Test("empty-value writers keep every keyword", .enabled(if: available, "../shared/corpus/fcs is absent"))
    func emptyValueWriters() throws {
        let b08 = try FCSReader(path: Self.corpus.appendingPathComponent("RGLab-flowCore/0877408774.B08").path)
        let set = b08.dataSets[0]
        #expect(set.textInterpretation == .emptyValues)
        #expect(set.parameters.map(\.name) == ["FSC-H", "SSC-H", "FL1-H", "FL2-H", "FL3-H", "FL1-A", "FL4-H", "Time"])
        #expect(set.parameters[2].label == nil)
        let attune = try FCSReader(
            path: Self.corpus.appendingPathComponent("bpteague-cytoflow/Applied Biosystems - Attune.fcs").path)
        #expect(attune.dataSets[0].text["$CELLS"] != nil)
        #expect(attune.dataSets[0].text["$INST"]?.trimmingCharacters(in: .whitespaces) == "")
        // Escaped delimiters in a standard writer stay values: "488/10" in G11.fcs.
        let g11 = try FCSReader(path: Self.corpus.appendingPathComponent("whitews-FlowIO/G11.fcs").path)
        #expect(g11.dataSets[0].textInterpretation == .standard)
        #expect(g11.dataSets[0].text.keywords.contains(where: { $0.value.contains("488/10") }))
    }

    @Test(
        "truncated Aria file reads its complete events when asked",
        .enabled(if: available, "../shared/corpus/fcs is absent"))
    func truncatedAria() throws {
        var options = FCSReader.Options()
        options.allowTruncatedData = true
        let reader = try FCSReader(
            path: Self.corpus.appendingPathComponent("MorganConrad-fcs/AriaFile1.fcs").path, options: options)
        #expect(reader.dataSets[0].eventCount == 6052)
        #expect(reader.dataSets[0].warnings.contains(where: { $0.code == "truncated_data" }))
        #expect(try reader.readEvents().count == 6052)
    }

    @Test("Latin-1 bytes decode per value", .enabled(if: available, "../shared/corpus/fcs is absent"))
    func latin1() throws {
        let r = try FCSReader(path: Self.corpus.appendingPathComponent("whitews-FlowIO/3FITC_4PE_004.fcs").path)
        let creator = try #require(r.dataSets[0].text.keyword("CREATOR"))
        #expect(creator.decodedAsLatin1)
        #expect(creator.value.contains("\u{AA}"))
        #expect(creator.rawValue.contains(0xAA))
    }

    @Test(
        "spillover parses from $SPILLOVER and SPILL, including the channel-number form",
        .enabled(if: available, "../shared/corpus/fcs is absent"))
    func spillover() throws {
        let accuri = try FCSReader(path: Self.corpus.appendingPathComponent("bpteague-cytoflow/Accuri - C6.fcs").path)
        let s = try #require(try accuri.dataSets[0].spillover())
        #expect(s.channels.count == 8)
        #expect(s.channels.allSatisfy { name in accuri.dataSets[0].parameters.contains { $0.name == name } })
        let diva = try FCSReader(path: Self.corpus.appendingPathComponent("whitews-FlowKit/test_comp_example.fcs").path)
        let d = try #require(try diva.dataSets[0].spillover())
        #expect(d.keyword == "SPILL")
        for i in 0..<d.channels.count { #expect(d.matrix[i][i] == 1) }
    }
}
