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
