import CytoModel
import FCSParser
import Foundation
import Gating

/// Which instrument a file comes from, and how its channels and gates are read: a strategy and
/// panel per instrument, chosen by `$CYT`, `$CYTSN` or the channel set (`gating.instruments`),
/// the configuration's `gating.strategy` and `panel` otherwise.
public struct InstrumentProfile: Sendable {
    /// The profile's name, recorded with every sample (`default` for the configuration's own).
    public var name: String
    /// Wildcard patterns on `$CYT` and `$CYTSN`, and `$PnN`s the file must have (all that are set).
    public var cyt: String?
    public var cytsn: String?
    public var channels: [String]
    public var panel: Panel
    public var strategy: GatingStrategy
    public var strategySHA256: String

    public init(
        name: String, cyt: String? = nil, cytsn: String? = nil, channels: [String] = [], panel: Panel,
        strategy: GatingStrategy,
        strategySHA256: String
    ) {
        self.name = name
        self.cyt = cyt
        self.cytsn = cytsn
        self.channels = channels
        self.panel = panel
        self.strategy = strategy
        self.strategySHA256 = strategySHA256
    }

    /// Whether a data set comes from this instrument.
    public func matches(_ set: FCSDataSet) -> Bool {
        if let cyt, !Wildcard.matches(cyt, set.text["$CYT"]?.trimmed ?? "") { return false }
        if let cytsn, !Wildcard.matches(cytsn, set.text["$CYTSN"]?.trimmed ?? "") { return false }
        let names = Set(set.parameters.map { $0.name.lowercased() })
        return channels.allSatisfy { names.contains($0.lowercased()) }
    }

    /// The marker each channel is read as (`$PnN` when no pattern matches it), or why the panel
    /// cannot be applied: a channel matched by several markers, or a marker matching several
    /// channels (which would gate the wrong channel).
    public func channelNames(_ set: FCSDataSet) -> Result<[String], SampleRejection> {
        let markers = panel.markers.sorted { $0.key < $1.key }
        var names: [String] = []
        var used: [String: [String]] = [:]
        for p in set.parameters {
            let hits = markers.filter { _, patterns in
                patterns.contains { pattern in
                    Wildcard.matches(pattern, p.name) || (p.label.map { Wildcard.matches(pattern, $0) } ?? false)
                }
            }.map(\.key)
            if hits.count > 1 {
                return .failure(
                    SampleRejection(
                        code: .panelAmbiguous,
                        message:
                            "channel \(p.name)\(p.label.map { " ($PnS \($0))" } ?? "") matches the patterns of several markers (\(hits.joined(separator: ", "))) in panel \(name); make the patterns specific"
                    ))
            }
            if let m = hits.first { used[m, default: []].append(p.name) }
            names.append(hits.first ?? p.name)
        }
        for (marker, channels) in used.sorted(by: { $0.key < $1.key }) where channels.count > 1 {
            return .failure(
                SampleRejection(
                    code: .panelAmbiguous,
                    message:
                        "marker \(marker) matches several channels (\(channels.joined(separator: ", "))) in panel \(name); the file offers \(Self.describe(set))"
                ))
        }
        return .success(names)
    }

    /// `$PnN ($PnS)` of every channel, for messages.
    public static func describe(_ set: FCSDataSet) -> String {
        set.parameters.map { p in p.label.map { "\(p.name) (\($0))" } ?? p.name }.joined(separator: ", ")
    }
}
