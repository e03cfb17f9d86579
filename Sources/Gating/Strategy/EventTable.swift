import FCSParser

/// Decoded events as named columns: the input of every gating kernel.
///
/// Columns are `[Double]`, so 32-bit integer and double data stay exact and Gating-ML's
/// double-precision evaluation rules apply unchanged.
public struct EventTable: Sendable {
    /// `$PnN` of each column.
    public var channels: [String]
    /// `$PnS` of each column, when present.
    public var labels: [String?]
    public var columns: [[Double]]

    public init(channels: [String], labels: [String?]? = nil, columns: [[Double]]) {
        precondition(channels.count == columns.count, "one name per column")
        precondition(Set(columns.map(\.count)).count <= 1, "columns must have equal length")
        self.channels = channels
        self.labels = labels ?? Array(repeating: nil, count: channels.count)
        self.columns = columns
    }

    /// Builds a table from an FCS data set read by `FCSReader`.
    public init(_ events: FCSEvents) {
        self.init(
            channels: events.dataSet.parameters.map(\.name), labels: events.dataSet.parameters.map(\.label),
            columns: events.columns)
    }

    public var eventCount: Int { columns.first?.count ?? 0 }

    /// The column whose `$PnN` (or, failing that, `$PnS`) is `name`.
    public func column(named name: String) -> [Double]? {
        if let i = channels.firstIndex(of: name) { return columns[i] }
        if let i = labels.firstIndex(where: { $0 == name }) { return columns[i] }
        return nil
    }
}
