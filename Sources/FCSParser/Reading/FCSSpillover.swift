/// A spillover matrix from the TEXT segment: rows are fluorochromes, columns detectors, both in
/// `channels` order (FCS 3.1 `$SPILLOVER`: `n,name1,...,namen,m11,m12,...,mnn`).
public struct FCSSpillover: Sendable, Hashable {
    /// `$PnN` of each row/column, mapped from parameter numbers when the file used numbers.
    public var channels: [String]
    /// Row-major, `channels.count` x `channels.count`.
    public var matrix: [[Double]]
    /// The keyword it came from (`$SPILLOVER`, `SPILL`, `$SPILL`, `$COMP`).
    public var keyword: String
    /// Notes on how it was read (channel numbers mapped, labels matched), for warnings.
    public var notes: [String]

    public init(channels: [String], matrix: [[Double]], keyword: String = "$SPILLOVER") {
        self.channels = channels
        self.matrix = matrix
        self.keyword = keyword
        self.notes = []
    }

    /// The keyword value form `n,names...,values...` (FCS 3.1).
    public var keywordValue: String {
        var parts = ["\(channels.count)"] + channels
        for row in matrix { parts += row.map { formatNumber($0) } }
        return parts.joined(separator: ",")
    }

    static let keywords = ["$SPILLOVER", "SPILL", "$SPILL", "$COMP"]

    /// Reads the first spillover keyword present. Returns nil when none is present or it
    /// declares 0 channels.
    public init?(text: FCSText, parameters: [FCSParameter]) throws(FCSError) {
        guard let key = Self.keywords.first(where: { text.contains($0) }), let value = text[key] else { return nil }
        try self.init(keywordValue: value, keyword: key, parameters: parameters)
    }

    /// Parses a spillover keyword value against the data set's parameters.
    public init?(keywordValue value: String, keyword: String, parameters: [FCSParameter]) throws(FCSError) {
        let tokens = value.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: [" ", "\t", "\n", "\r"])
        }
        guard let first = tokens.first, let n = Int(first), n >= 0 else {
            throw FCSError(.badSpillover, "\(keyword) does not start with a channel count", keyword: keyword)
        }
        if n == 0 { return nil }
        guard n <= 4096 else {
            throw FCSError(
                .badSpillover, "\(keyword) declares \(n) channels, more than the file can hold", keyword: keyword)
        }
        var notes: [String] = []
        var names: [String]
        var valueTokens: ArraySlice<String>
        if tokens.count == 1 + n + n * n {
            names = Array(tokens[1...n])
            valueTokens = tokens[(n + 1)...]
        } else if tokens.count == 1 + n * n && keyword == "$COMP" && parameters.count >= n {
            names = parameters.prefix(n).map(\.name)
            valueTokens = tokens[1...]
            notes.append("$COMP has no channel names; applied to the first \(n) parameters")
        } else {
            throw FCSError(
                .badSpillover,
                "\(keyword) declares \(n) channels, so it needs \(1 + n + n * n) comma-separated fields, but it has \(tokens.count)",
                keyword: keyword)
        }
        // Channel-number form (BD Accuri C6 Plus, Beckman Navios): "1,2,3" instead of names.
        if names.allSatisfy({ Int($0).map { $0 >= 1 && $0 <= parameters.count } ?? false })
            && !names.contains(where: { name in parameters.contains(where: { $0.name == name }) })
        {
            names = names.map { parameters[Int($0)! - 1].name }
            notes.append("\(keyword) names channels by number; mapped to $PnN")
        }
        for (i, name) in names.enumerated() where !parameters.isEmpty {
            if parameters.contains(where: { $0.name == name }) { continue }
            if let p = parameters.first(where: { $0.label == name }) {
                names[i] = p.name
                notes.append("\(keyword) channel \(i + 1) matched a $PnS label; mapped to its $PnN")
                continue
            }
            if let p = parameters.first(where: { $0.name.lowercased() == name.lowercased() }) {
                names[i] = p.name
                continue
            }
            throw FCSError(
                .badSpillover,
                "\(keyword) channel \(i + 1) names no parameter of this data set (neither $PnN nor $PnS)",
                keyword: keyword)
        }
        if Set(names).count != names.count {
            throw FCSError(.badSpillover, "\(keyword) names a channel twice", keyword: keyword)
        }
        var matrix: [[Double]] = []
        var it = valueTokens.makeIterator()
        for r in 0..<n {
            var row: [Double] = []
            row.reserveCapacity(n)
            for c in 0..<n {
                guard let t = it.next(), let v = Double(t), v.isFinite else {
                    throw FCSError(
                        .badSpillover, "\(keyword) value at row \(r + 1), column \(c + 1) is not a finite number",
                        keyword: keyword)
                }
                row.append(v)
            }
            matrix.append(row)
        }
        self.channels = names
        self.matrix = matrix
        self.keyword = keyword
        self.notes = notes
    }
}

/// Shortest round-tripping decimal form of a double ("1", "0.25", "1e-07").
func formatNumber(_ v: Double) -> String {
    if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
    return "\(v)"
}

extension String {
    func trimmingCharacters(in set: Set<Character>) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

extension Substring {
    func trimmingCharacters(in set: Set<Character>) -> String { String(self).trimmingCharacters(in: set) }
}
