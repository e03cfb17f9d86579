import Foundation

extension StringProtocol {
    /// The text without leading and trailing ASCII white space (space, tab, CR, LF). Much
    /// faster than Foundation's `trimmingCharacters(in:)`, which bridges through NSString.
    public var trimmed: String {
        let whole = String(self)
        let bytes = whole.utf8.span
        func space(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        var lo = 0
        var hi = bytes.count
        while lo < hi && space(bytes[lo]) { lo += 1 }
        while hi > lo && space(bytes[hi - 1]) { hi -= 1 }
        if lo == 0 && hi == bytes.count { return whole }
        let u = whole.utf8
        return String(
            decoding: u[u.index(u.startIndex, offsetBy: lo)..<u.index(u.startIndex, offsetBy: hi)], as: UTF8.self)
    }
}

extension StringProtocol {
    /// The value after XML Schema's `whiteSpace="collapse"` (every type but `xs:string`):
    /// tabs, line feeds and carriage returns become spaces, runs of spaces become one, and
    /// leading and trailing spaces go. `" true "` is the boolean true.
    public var xsdCollapsed: String {
        var out = ""
        var pendingSpace = false
        for c in self.unicodeScalars {
            if c == " " || c == "\t" || c == "\n" || c == "\r" {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.unicodeScalars.append(" ") }
                pendingSpace = false
                out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

/// A finite number as JSON and CSV readers take it back exactly: integral values without a
/// fraction, others in Swift's shortest round-trip form.
public func exactDecimal(_ v: Double) -> String {
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    return "\(v)"
}

/// A number in its shortest plain form: integral values without a fraction, others with six
/// significant digits.
public func formatShort(_ v: Double) -> String {
    if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
    return String(format: "%.6g", v)
}
