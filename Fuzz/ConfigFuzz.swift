// libFuzzer entry for the configuration loader and lab mapping profiles, compiled with the
// configuration sources by Fuzz/run-fuzz.sh. The input is a pipeline.json text, optionally followed
// by a NUL byte and a lab XML document that is read through the configuration's profiles.
import CytoModel
import Foundation
import Labs

@_cdecl("LLVMFuzzerTestOneInput")
public func configFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let all = unsafe Array(UnsafeBufferPointer(start: data, count: size))
    let split = all.firstIndex(of: 0) ?? all.count
    let config: PipelineConfiguration
    do {
        config = try PipelineConfiguration.decode(Data(all[..<split]))
    } catch {
        // Every refusal names a JSON path and says what is wrong.
        if !error.path.hasPrefix("$") || error.message.isEmpty { fatalError("uncoded configuration error") }
        return 0
    }
    _ = try? config.validate()
    var options = LabImportOptions()
    options.now = Date(timeIntervalSince1970: 1_717_000_000)
    options.maxBytes = 1 << 20
    for p in config.labs.profiles {
        do { try p.validate() } catch {
            if error.code != .labConfiguration { fatalError("a profile error that is not E-CONFIG") }
            continue
        }
        options.profiles.append(p)
    }
    guard split < all.count else { return 0 }
    let report = LabImporter.check(bytes: Array(all[(split + 1)...]), name: "fuzz", options: options)
    // Invariants: a rejected file hands over nothing; every value that reaches a result is finite.
    if report.status == .rejected && !report.results.isEmpty { fatalError("rejected file with results") }
    for r in report.results {
        for v in [r.copies, r.log10, r.limit, r.reportedValue] where v.map({ !$0.isFinite }) ?? false {
            fatalError("non-finite value reached a result")
        }
        // A censored result has a positive limit in copies/mL, unless it is an IU/mL value kept
        // unconverted (no IU factor for the assay), which says so.
        if [.belowLimit, .aboveLimit].contains(r.outcome) {
            let unconverted =
                r.reportedUnit == .iu && r.warnings.contains { $0.hasPrefix("W-UNIT-NOT-CONVERTED") }
            if let l = r.limit {
                if !(l > 0) { fatalError("censored result with a limit that is not positive") }
            } else if !unconverted {
                fatalError("censored result without a limit")
            }
        }
    }
    return 0
}

/// Runs one representative input before fuzzing, so that globals initialised once (the key
/// table, code catalogues, formatters) are not reported as leaks of the first input.
@_cdecl("LLVMFuzzerInitialize")
public func configFuzzInitialize(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>
) -> Int32 {
    let warmUp = #"""
        {"version": 1, "identity": {"patientKeyword": "$SRC"}, "gating": {"strategy": "x", "gates": {}},
         "records": {"monthDays": 0}, "qc": {"minBeads": "x"},
         "labs": {"profiles": [{"name": "p", "recordPath": "/B/R", "fields": {"patient": "@p", "collected": "@d",
           "result": "V", "qualifier": "V/@q", "lloq": "../@lo"}, "constants": {"testCode": "T"}, "testCodes": {"T": "copies"},
           "qualifierMap": {"LT": "below_limit"}, "dateFormat": "yyyy-MM-dd", "timeZone": "UTC"}]}}
        """#
    for text in [
        warmUp, "{", "[]", #"{"version": 1, "bogus": 1}"#, #"{"version": 1, "gating": {"mode": "x"}}"#,
    ] {
        var bytes = Array(text.utf8)
        bytes += [0] + Array(#"<B lo="50"><R p="P1" d="2024-01-02"><V q="LT">50</V></R><R p="P2" d="x"/></B>"#.utf8)
        _ = bytes.withUnsafeBufferPointer { unsafe configFuzz($0.baseAddress!, $0.count) }
    }
    return 0
}
