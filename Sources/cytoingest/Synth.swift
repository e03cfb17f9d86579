import ArgumentParser
import FCSParser
import Foundation
import Gating
import Synth

struct SynthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract:
            "Write a synthetic CD4/activation cohort with known truth (FCS, labels, lab XML, registry, Gating-ML, truth.json).",
        discussion: """
            The same options and seed give byte-identical output.

            Examples:
              cytoingest synth /tmp/cohort --seed 7 --patients 4 --months 6
              cytoingest synth /tmp/cohort --instruments 2 --drift strong --qc-faults 3
            """
    )

    @Argument(help: "Output folder (created).")
    var out: String
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Patients.") var patients: Int = 4
    @Option(help: "Monthly visits per patient (month 0 is the baseline).") var months: Int = 6
    @Option(help: "Events per file.") var events: Int = 20_000
    @Option(help: "FCS data type: F, I or D.") var datatype: String = "F"
    @Option(help: "Integer width: 16 or 32 (with --datatype I).") var bits: Int = 32
    @Option(name: .customLong("byte-order"), help: "little or big.") var byteOrder: String = "little"
    @Option(name: .customLong("fcs-version"), help: "3.0 (writes SPILL) or 3.1 (writes $SPILLOVER).") var fcsVersion:
        String = "3.1"
    @Option(help: "Channel naming: marker ($PnN = CD3) or detector ($PnN = FITC-A, marker in $PnS).") var naming:
        String = "marker"
    @Flag(help: "Write .fcs.gz files.") var gzip = false
    @Option(
        help:
            "Instrument drift between files: none, mild or strong (detector gains x0.6-1.6, scatter gains, staining shifts up to 0.3 decades when strong)."
    ) var drift: String = "none"
    @Option(help: "Cytometers: 1 or 2 (the second has other channel names, order and spillover).") var instruments:
        Int = 1
    @Option(name: .customLong("events-range"), help: "Events per file drawn from LO,HI (overrides --events).")
    var eventsRange: String?
    @Option(
        name: .customLong("qc-faults"),
        help: "Files with a QC fault (too few beads, too few lymphocytes, a clog), in turn.") var qcFaults: Int = 0
    @Option(
        help: "Doublets: lymphocytes (pairs of lymphocytes, 1.5 %) or any (any two particles, beads included, 3 %).")
    var doublets: String = "lymphocytes"
    @Flag(
        name: .customLong("debris-near-beads"),
        help: "A third of the debris scatters like the beads, some bright in two markers.")
    var debrisNearBeads = false
    @Flag(name: .customLong("dim-positives"), help: "CD25+ and HLA-DR+ 0.4 decades dimmer; a third of the CD4 T cells.")
    var dimPositives = false
    @Option(help: "Fluorochrome layout: standard or alternate (markers on other detectors).") var layout: String =
        "standard"
    @Option(
        name: .customLong("flowjo-workspace"),
        help: ArgumentHelp(
            "Instead of a cohort: write stand-in FCS files for this FlowJo workspace's samples (repeatable; same names, channels, spillover and time step, events spread over every gate; --events and --seed apply).",
            valueName: "wsp"))
    var flowJoWorkspaces: [String] = []

    func validate() throws {
        guard ["F", "I", "D"].contains(datatype.uppercased()) else {
            throw ValidationError("--datatype must be F, I or D")
        }
        guard [16, 32].contains(bits) else { throw ValidationError("--bits must be 16 or 32") }
        guard ["little", "big"].contains(byteOrder) else { throw ValidationError("--byte-order must be little or big") }
        guard ["3.0", "3.1"].contains(fcsVersion) else { throw ValidationError("--fcs-version must be 3.0 or 3.1") }
        guard SynthOptions.Naming(rawValue: naming) != nil else {
            throw ValidationError("--naming must be marker or detector")
        }
        guard SynthOptions.Drift(rawValue: drift) != nil else {
            throw ValidationError("--drift must be none, mild or strong")
        }
        guard [1, 2].contains(instruments) else { throw ValidationError("--instruments must be 1 or 2") }
        guard ["lymphocytes", "any"].contains(doublets) else {
            throw ValidationError("--doublets must be lymphocytes or any")
        }
        guard ["standard", "alternate"].contains(layout) else {
            throw ValidationError("--layout must be standard or alternate")
        }
        guard qcFaults >= 0, qcFaults <= patients * months else {
            throw ValidationError("--qc-faults must be 0 ... the number of files")
        }
        if let r = eventsRange {
            let parts = r.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 2, parts[0] >= 100, parts[0] <= parts[1], parts[1] <= 50_000_000 else {
                throw ValidationError("--events-range must be LO,HI with 100 <= LO <= HI <= 50000000")
            }
        }
        guard patients >= 1, patients <= 10_000, months >= 1, months <= 240, events >= 100, events <= 50_000_000 else {
            throw ValidationError("--patients 1...10000, --months 1...240, --events 100...50000000")
        }
    }

    var options: SynthOptions {
        var o = SynthOptions()
        o.seed = seed
        o.patients = patients
        o.months = months
        o.events = events
        o.dataType = FCSDataType(rawValue: datatype.uppercased())!
        o.bits = o.dataType == .integer ? bits : (o.dataType == .double ? 64 : 32)
        o.bigEndian = byteOrder == "big"
        o.fcsVersion = fcsVersion == "3.0" ? .fcs3_0 : .fcs3_1
        o.naming = SynthOptions.Naming(rawValue: naming)!
        o.gzip = gzip
        let d = SynthOptions.Drift(rawValue: drift)!
        o.drift = d == .none ? nil : d
        o.instruments = instruments == 1 ? nil : instruments
        o.eventsRange = eventsRange.map {
            $0.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        }
        o.qcFaults = qcFaults == 0 ? nil : qcFaults
        o.anyDoublets = doublets == "any" ? true : nil
        o.debrisNearBeads = debrisNearBeads ? true : nil
        o.dimPositives = dimPositives ? true : nil
        o.alternateLayout = layout == "alternate" ? true : nil
        return o
    }

    func run() async throws {
        let url = URL(fileURLWithPath: out)
        if !flowJoWorkspaces.isEmpty {
            var workspaces: [FlowJoWorkspace] = []
            for w in flowJoWorkspaces {
                do { workspaces.append(try FlowJoWorkspace.read(path: w)) } catch {
                    reportError(code: "GATING-\(error.code.rawValue)", file: w, error.message)
                    throw exitDataError
                }
            }
            let files: [FlowJoStandIns.File]
            do { files = try FlowJoStandIns.make(workspaces: workspaces, events: events, seed: seed) } catch {
                reportError(
                    code: "GATING-\(error.code.rawValue)", file: flowJoWorkspaces.joined(separator: ", "), error.message
                )
                throw exitDataError
            }
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            for f in files {
                try Data(f.bytes).write(to: url.appendingPathComponent(f.name), options: .atomic)
            }
            print("wrote \(files.count) stand-in FCS files (\(events) events each) to \(out)")
            return
        }
        let start = Date()
        let truth = try await CohortSynthesizer(options: options).write(to: url)
        let seconds = Date().timeIntervalSince(start)
        print(
            "wrote \(truth.files.count) FCS files (\(truth.patients.count) patients x \(months) months, \(eventsRange.map { "\($0) events" } ?? "\(events) events each")) to \(out) in \(String(format: "%.2f", seconds)) s"
        )
    }
}
