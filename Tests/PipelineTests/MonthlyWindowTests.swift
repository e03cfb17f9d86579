import CytoModel
import Foundation
import Records
import Testing

/// Monthly windows tile for any month length, and an empty month says exactly why.
@Suite("Monthly windows and reasons")
struct MonthlyWindowTests {
    typealias T = MonthlyRecordTests

    @Test("windows tile for any monthDays: every day from the first window on is in exactly one window")
    func tilingProperty() {
        // A fixed-seed sweep of month lengths (fractional, short and long), plus the study's
        // and the calendar's.
        var g = SystemRandomNumberGenerator()
        var lengths: [Double] = [28, 30.4375, 29.530588, 7, 14, 31, 365.25 / 12]
        for _ in 0..<200 { lengths.append(Double.random(in: 3...60, using: &g)) }
        for d in lengths {
            let b = MonthlyRecordBuilder(rules: RecordRules(monthDays: d))
            var owner: [Int: Int] = [:]
            for m in 1...80 {
                let (lo, hi) = b.window(m)
                #expect(lo <= hi, "monthDays \(d): window \(m) is empty")
                #expect(b.window(m + 1).0 == hi + 1, "monthDays \(d): gap or overlap after month \(m)")
                for day in lo...hi {
                    #expect(owner.updateValue(m, forKey: day) == nil, "monthDays \(d): day \(day) in two windows")
                }
                // The target day is inside its own window.
                let target = Int((d * Double(m)).rounded())
                #expect(lo <= target && target <= hi, "monthDays \(d): target \(target) outside [\(lo), \(hi)]")
            }
            let first = b.window(1).0, last = b.window(80).1
            #expect(owner.count == last - first + 1)
        }
        #expect(MonthlyRecordBuilder(rules: RecordRules(monthDays: 28)).window(1) == (14, 41))
        #expect(MonthlyRecordBuilder(rules: RecordRules(monthDays: 30.4375)).window(1) == (15, 45))
    }

    @Test("calendar months (30.4375): visits on days 45, 106, 167, 228 and 319 each land in a monthly record")
    func calendarMonthsKeepEveryVisit() {
        let days = [45, 106, 167, 228, 319]
        let samples = days.map { T.sample($0, cd4: Double(300 + $0)) }
        let patient = RegistryPatient(id: "P1", day0: 20000, cycleStarts: [20000], doseMIUPerDay: 12)
        let recs = MonthlyRecordBuilder(rules: RecordRules(monthDays: 30.4375)).build(
            patients: [patient], samples: samples, labs: [])
        let chosen = Set(recs.flatMap(\.sources))
        for d in days { #expect(chosen.contains("f\(d).fcs"), "the visit on day \(d) is in no monthly record") }
    }

    @Test("why a month is empty: not collected, file rejected (code), excluded by QC, on-infusion only")
    func exactReasons() throws {
        let p = T.patient  // cycles start on days 0, 56, 112; on-infusion = cycle days 1-7
        let samples = [
            T.sample(-5, cd4: 300),
            T.sample(58, cd4: 800, file: "oninf.fcs"),  // month 2: only an on-infusion sample
            T.sample(84, cd4: 500),
        ]
        var lowBeads = T.sample(112, cd4: 0, flags: [.lowBeads], file: "beads.fcs")
        lowBeads.cd4Abs = nil
        lowBeads.cd8Abs = nil
        let rejections = [
            SampleRejection(code: .lowLymphocytes, message: "", patient: "P1", collectedDays: 20000 + 28),
            SampleRejection(code: .fcs("E-TRUNCATED"), message: "", patient: "P1", collectedDays: 20000 + 140),
            SampleRejection(code: .panelAmbiguous, message: "", patient: "P2", collectedDays: 20000 + 170),
        ]
        let recs = MonthlyRecordBuilder(rules: T.rules).build(
            patients: [p], samples: samples + [lowBeads], labs: [], rejections: rejections)
        func r(_ m: Int) throws -> MonthlyRecord { try #require(recs.first { $0.month == m }) }
        #expect(try r(1).missing.contains("cd4: excluded by QC (QC-LOW-LYMPHOCYTES)"))
        #expect(try r(2).missing.contains("cd4: on-infusion only"))
        #expect(try r(2).cd4Abs == nil && r(2).onInfusionCd4Abs == 800)
        // Every on-infusion value is kept with its source, never as the month's value.
        let o = try r(2).onInfusion
        #expect(o.cd4Pct == 30 && o.cd8Abs == 500 && o.cd8HladrPct == 10 && o.cd4Cd25Pct == 5)
        #expect(o.sources == ["oninf.fcs"] && o.cd4Collected == "d58")
        #expect(try r(3).missing.filter { $0.hasPrefix("cd4") }.isEmpty)
        // The sample stands, its absolute count does not.
        #expect(try r(4).cd4Pct == 30 && r(4).missing.contains("cd4Abs: excluded by QC (LOW-BEADS)"))
        #expect(try r(5).missing.contains("cd4: file rejected (FCS-E-TRUNCATED)"))
        // Another patient's rejection says nothing about this one: no month 6.
        #expect(recs.map(\.month).max() == 5)
        #expect(try r(3).missing.contains("hivRna: not collected"))
    }
}
