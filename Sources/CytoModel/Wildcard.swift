import Foundation

/// Case-insensitive `*` wildcard patterns: the one matcher of marker patterns
/// (`panel.markers`) and file globs (`inputs`).
public enum Wildcard {
    /// Whether `text` matches `pattern`, where `*` stands for any run of characters (none
    /// included) and everything else is compared case-insensitively.
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        if !pattern.contains("*") { return pattern.lowercased() == text.lowercased() }
        let parts = pattern.lowercased().split(separator: "*", omittingEmptySubsequences: false)
        var rest = Substring(text.lowercased())
        guard rest.hasPrefix(parts[0]) else { return false }
        rest = rest.dropFirst(parts[0].count)
        for part in parts.dropFirst().dropLast() {
            guard let r = rest.range(of: part) else { return false }
            rest = rest[r.upperBound...]
        }
        return rest.hasSuffix(parts.last!)
    }
}
