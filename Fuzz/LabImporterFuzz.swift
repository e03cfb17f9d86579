// libFuzzer entry for the HIV RNA importer (neutral, FHIR, mapped formats), compiled with the
// LabResults sources by Fuzz/run-fuzz.sh. The first byte picks the options.
import CytoModel
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func labImporterFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let all = unsafe Array(UnsafeBufferPointer(start: data, count: size))
    var options = LabImportOptions()
    // The LIS layout (child elements) and the batch layout (attributes, ancestor attributes,
    // qualifiers, file limits) of docs/lab-profiles.md.
    options.profiles = [.vendorGenericLIS, batchProfile]
    options.now = Date(timeIntervalSince1970: 1_717_000_000)
    if all[0] & 1 != 0 { options.enrolledPatients = ["P001", "P002"] }
    if all[0] & 2 != 0 { options.patientIdentifierSystem = "urn:x-synthetic:study-subject" }
    options.maxBytes = 1 << 20
    let report = LabImporter.check(bytes: Array(all.dropFirst()), name: "fuzz", options: options)
    // Invariants: a rejected file hands over nothing; every value that reaches a result is finite.
    if report.status == .rejected && !report.results.isEmpty { fatalError("rejected file with results") }
    for r in report.results {
        for v in [r.copies, r.log10, r.limit, r.reportedValue] where v.map({ !$0.isFinite }) ?? false {
            fatalError("non-finite value reached a result")
        }
    }
    return 0
}

let batchProfile = MappingProfile(
    name: "viral-load-batch", recordPath: "/ViralLoadBatch/Result",
    fields: MappingProfile.Fields(
        patient: "@patientId", specimen: "@specimenId", collected: "@collectionDate", resulted: "../@runDate",
        result: "Value", qualifier: "Value/@qualifier", unit: "../@units", status: "@status", assay: "../@assay",
        lloq: "../@lowerLimit", uloq: "../@upperLimit"),
    constants: MappingProfile.Constants(testCode: "HIV1-RNA"),
    qualifierMap: ["LT": .belowLimit, "GT": .aboveLimit, "ND": .notDetected, "EQ": .quantified],
    dateFormat: "yyyy-MM-dd", timeZone: "UTC", testCodes: ["HIV1-RNA": .copies])
