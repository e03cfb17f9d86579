extension StringProtocol {
    /// The text without leading and trailing ASCII white space (space, tab, CR, LF). Much
    /// faster than Foundation's `trimmingCharacters(in:)`, which bridges through NSString.
    var trimmed: String {
        func isSpace(_ b: UInt8?) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        let whole = String(self)
        if !isSpace(whole.utf8.first) && !isSpace(whole.utf8.last) { return whole }
        let bytes = Array(whole.utf8)
        func space(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        var lo = 0
        var hi = bytes.count
        while lo < hi && space(bytes[lo]) { lo += 1 }
        while hi > lo && space(bytes[hi - 1]) { hi -= 1 }
        if lo == 0 && hi == bytes.count { return String(self) }
        return String(decoding: bytes[lo..<hi], as: UTF8.self)
    }
}
