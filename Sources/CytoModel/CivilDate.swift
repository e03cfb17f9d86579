/// Calendar dates as days since 1970-01-01 (proleptic Gregorian), without time zones: the one
/// calendar of CytoIngest (FCS `$DATE`, lab dates, monthly records, the synthetic cohort).
public enum CivilDate {
    public static let monthNames = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]

    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    public static func components(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// ISO `yyyy-mm-dd`.
    public static func iso(_ days: Int) -> String {
        let c = components(days)
        return pad(c.year, 4) + "-" + pad(c.month, 2) + "-" + pad(c.day, 2)
    }

    /// FCS `$DATE` form `dd-MMM-yyyy`.
    public static func fcs(_ days: Int) -> String {
        let c = components(days)
        return pad(c.day, 2) + "-" + monthNames[c.month - 1] + "-" + pad(c.year, 4)
    }

    /// FCS `$DATE` `dd-MMM-yyyy` (month name in any case; a 2-digit year is 1970–2069).
    public static func parseFCS(_ s: String) -> Int? {
        let parts = s.uppercased().split(separator: "-")
        guard parts.count == 3, let d = Int(parts[0]), let m = monthNames.firstIndex(of: String(parts[1])),
            var y = Int(parts[2])
        else { return nil }
        if parts[2].count == 2 { y += y < 70 ? 2000 : 1900 }
        guard d >= 1, d <= daysInMonth(year: y, month: m + 1) else { return nil }
        return days(year: y, month: m + 1, day: d)
    }

    private static func pad(_ v: Int, _ width: Int) -> String {
        let digits = "\(v)"
        return String(repeating: "0", count: Swift.max(0, width - digits.count)) + digits
    }
}
