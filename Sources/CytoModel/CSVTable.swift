import Foundation

/// A small CSV table: the one reader of every CSV input (patient registry, CBC results, manual
/// gating worksheets). RFC 4180 quoting within a line (no embedded newlines), CRLF or LF, blank
/// lines and `#` comment lines skipped; the first remaining line is the header, read
/// case-insensitively. Errors name the line, never a field's value (it may identify a patient).
public struct CSVTable: Sendable {
    /// A row with its 1-based line number in the file.
    public struct Row: Sendable {
        public var line: Int
        public var fields: [String]
    }

    /// Why a text is not a CSV table.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var line: Int?
        public var message: String
        public var description: String { (line.map { "line \($0): " } ?? "") + message }
    }

    /// Lower-cased, trimmed header names.
    public var header: [String]
    /// Line number of the header.
    public var headerLine: Int
    public var rows: [Row]

    /// Parses `text`; throws on an unterminated quote or text after a closing quote, and when
    /// there is no header line.
    public init(text: String) throws(ParseError) {
        var lines: [(Int, String)] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.trimmed.isEmpty || line.hasPrefix("#") { continue }
            lines.append((i + 1, String(line)))
        }
        guard let first = lines.first else { throw ParseError(line: nil, message: "no header line") }
        header = try Self.fields(first.1, line: first.0).map { $0.trimmed.lowercased() }
        headerLine = first.0
        var rows: [Row] = []
        for (n, line) in lines.dropFirst() { rows.append(Row(line: n, fields: try Self.fields(line, line: n))) }
        self.rows = rows
    }

    /// The index of the first header column named one of `names` (lower case).
    public func column(_ names: String...) -> Int? { header.firstIndex { names.contains($0) } }

    /// The trimmed value of `row` in `column`, nil when absent or empty.
    public func value(_ row: Row, _ column: Int?) -> String? {
        guard let c = column, c < row.fields.count else { return nil }
        let v = row.fields[c].trimmed
        return v.isEmpty ? nil : v
    }

    /// One CSV record (RFC 4180 quotes; no embedded newlines).
    public static func fields(_ line: String, line number: Int) throws(ParseError) -> [String] {
        var out: [String] = []
        var field = ""
        var quoted = false
        var it = Array(line).makeIterator()
        var atStart = true
        while let c = it.next() {
            if quoted {
                if c == "\"" {
                    if let n = it.next() {
                        if n == "\"" {
                            field.append("\"")
                        } else if n == "," {
                            quoted = false
                            out.append(field)
                            field = ""
                            atStart = true
                        } else {
                            throw ParseError(line: number, message: "text after a closing quote")
                        }
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(c)
                }
                continue
            }
            if c == "\"" && atStart {
                quoted = true
                atStart = false
            } else if c == "," {
                out.append(field)
                field = ""
                atStart = true
            } else {
                field.append(c)
                atStart = false
            }
        }
        if quoted { throw ParseError(line: number, message: "unterminated quote") }
        out.append(field)
        return out
    }

    /// A field quoted for CSV output when it needs it.
    public static func quote(_ s: String) -> String {
        s.contains(",") || s.contains("\"") || s.contains("\n") || s.contains("\r")
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
