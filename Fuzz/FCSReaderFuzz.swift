// libFuzzer entry for the FCS reader. Compiled into one module with the FCSParser sources by
// Fuzz/run-fcs-fuzz.sh (swiftc -sanitize=fuzzer,address); not part of the SwiftPM package.
//
// The first input byte picks reader options, the rest is the file. Every public path that
// consumes file bytes runs: HEADER/TEXT parsing, offset resolution, every data set's events
// (stored and scaled, small blocks), spillover parsing.

@_cdecl("LLVMFuzzerTestOneInput")
public func fcsReaderFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let all = unsafe Array(UnsafeBufferPointer(start: data, count: size))
    let selector = all[0]
    let bytes = Array(all.dropFirst())
    var options = FCSReader.Options()
    options.allowTruncatedData = selector & 1 != 0
    options.textInterpretation = [.automatic, .standard, .emptyValues, .automatic][Int(selector >> 1) & 3]
    options.dataOffsets = [.automatic, .header, .text, .automatic][Int(selector >> 3) & 3]
    options.strictCRC = selector & 0x20 != 0
    options.maxDataSets = 16
    guard let reader = try? FCSReader(bytes: bytes, name: "fuzz", options: options) else { return 0 }
    for set in reader.dataSets {
        _ = try? set.spillover()
        _ = set.parameters.map { $0.name }
        let values: FCSReader.Values = selector & 0x40 != 0 ? .scaled : .stored
        guard
            var blocks = try? reader.events(dataSet: set.index, values: values, blockSize: 1 + Int(selector >> 7) * 63)
        else { continue }
        var seen = 0
        while let block = try? blocks.next() {
            for p in 0..<block.parameterCount { _ = block.column(p).first }
            seen += block.count
            if seen > 1_000_000 { break }
        }
    }
    return 0
}
