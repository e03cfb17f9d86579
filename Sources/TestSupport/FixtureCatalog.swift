import Deflate
import FCSParser

/// One generated FCS fixture with what reading it must give.
public struct Fixture: Sendable {
    public enum Expectation: Sendable {
        /// Stored values per data set (columns), and warning codes that must be reported.
        case reads(dataSets: [[[Double]]], warnings: Set<String>)
        /// Reading must fail with this code.
        case error(FCSError.Code)
    }
    /// Path under `fixtures/fcs/`.
    public var path: String
    /// One line for `fixtures/README.md`.
    public var provenance: String
    public var bytes: [UInt8]
    public var expectation: Expectation
}

/// Every fixture under `fixtures/fcs`, generated deterministically by our writer (`pass/`) or by
/// `RawFCS` (`quirks/`, `fail/`). `swift test` checks the committed files equal these bytes;
/// `RECORD_FIXTURES=1 swift test --filter FixtureTests` rewrites them.
public enum FixtureCatalog {
    static func floats(_ rng: inout SeededRandom, _ n: Int, scale: Double = 1000) -> [Double] {
        (0..<n).map { _ in Double(Float(Double.random(in: -0.1...1, using: &rng) * scale)) }
    }

    static func ints(_ rng: inout SeededRandom, _ n: Int, bits: Int) -> [Double] {
        let maxValue: UInt64 = bits >= 53 ? (UInt64(1) << 53) - 1 : (UInt64(1) << UInt64(bits)) - 1
        return (0..<n).map { _ in Double(UInt64.random(in: 0...maxValue, using: &rng)) }
    }

    static func writer(
        _ path: String, _ provenance: String, columns: [[Double]], parameters: [FCSWriteParameter],
        options: FCSWriteOptions,
        warnings: Set<String> = []
    ) throws -> Fixture {
        Fixture(
            path: path, provenance: provenance,
            bytes: try FCSWriter.encode(columns: columns, parameters: parameters, options: options),
            expectation: .reads(dataSets: [columns], warnings: warnings))
    }

    public static func all() throws -> [Fixture] {
        var out: [Fixture] = []
        var rng = SeededRandom(seed: 20_261_126)
        let n = 40

        // MARK: pass/: written by FCSWriter
        func opts(
            _ v: FCSVersion, _ t: FCSDataType, _ bo: FCSByteOrder, delimiter: UInt8 = UInt8(ascii: "|")
        ) -> FCSWriteOptions {
            var o = FCSWriteOptions()
            o.version = v
            o.dataType = t
            o.byteOrder = bo
            o.delimiter = delimiter
            o.add("$CYT", "CytoIngest fixture")
            return o
        }
        let names4 = ["FSC-A", "SSC-A", "CD4", "Time"]
        let p4 = names4.map { FCSWriteParameter(name: $0, label: $0 == "CD4" ? "CD4 FITC" : nil) }

        var o = opts(.fcs3_1, .float, .littleEndian)
        o.spillover = FCSSpillover(channels: ["SSC-A", "CD4"], matrix: [[1, 0.05], [0.12, 1]])
        out.append(
            try writer(
                "pass/f32_le_fcs3.1.fcs", "FCSWriter: float32 little-endian, FCS3.1, $SPILLOVER",
                columns: names4.map { _ in floats(&rng, n) }, parameters: p4, options: o))
        o = opts(.fcs3_0, .float, .bigEndian)
        o.spillover = FCSSpillover(channels: ["CD4", "SSC-A"], matrix: [[1, 0.2], [0, 1]])
        out.append(
            try writer(
                "pass/f32_be_fcs3.0_spill.fcs", "FCSWriter: float32 big-endian, FCS3.0, SPILL keyword (BD style)",
                columns: names4.map { _ in floats(&rng, n) }, parameters: p4, options: o))
        out.append(
            try writer(
                "pass/f64_le_fcs3.1.fcs", "FCSWriter: float64 little-endian",
                columns: names4.map { _ in (0..<n).map { _ in Double.random(in: -1e6...1e6, using: &rng) } },
                parameters: p4, options: opts(.fcs3_1, .double, .littleEndian)))
        out.append(
            try writer(
                "pass/f64_be_fcs3.1.fcs", "FCSWriter: float64 big-endian",
                columns: names4.map { _ in (0..<n).map { _ in Double.random(in: -1e6...1e6, using: &rng) } },
                parameters: p4, options: opts(.fcs3_1, .double, .bigEndian)))
        for (bits, bo, v) in [
            (8, FCSByteOrder.littleEndian, FCSVersion.fcs3_1), (16, .littleEndian, .fcs3_1), (16, .bigEndian, .fcs3_0),
            (24, .bigEndian, .fcs3_1), (32, .littleEndian, .fcs3_1), (32, .bigEndian, .fcs3_1),
            (64, .littleEndian, .fcs3_1),
        ] {
            let params = names4.map { FCSWriteParameter(name: $0, bits: bits) }
            let endian = bo.isLittleEndian ? "le" : "be"
            out.append(
                try writer(
                    "pass/i\(bits)_\(endian)_fcs\(v.number).fcs",
                    "FCSWriter: \(bits)-bit unsigned integers, \(endian == "le" ? "little" : "big")-endian, \(v.rawValue)",
                    columns: names4.map { _ in ints(&rng, n, bits: bits) }, parameters: params,
                    options: opts(v, .integer, bo)))
        }
        // Mixed widths in one event (Stratedigm style).
        let mixedBits = [16, 32, 16, 32]
        out.append(
            try writer(
                "pass/i_mixed_16_32_le.fcs", "FCSWriter: integers of mixed 16/32-bit widths in one event",
                columns: mixedBits.map { ints(&rng, n, bits: $0) },
                parameters: zip(names4, mixedBits).map { FCSWriteParameter(name: $0, bits: $1) },
                options: opts(.fcs3_1, .integer, .littleEndian)))
        // $PnR masks: 16-bit words with flag bits above a 10-bit range (Coulter System II).
        do {
            let values = (0..<n).map { _ in Double(UInt64.random(in: 0...1023, using: &rng)) }
            let flagged = values.map { $0 + Double(UInt64.random(in: 1...63, using: &rng) << 10) }
            let params = [
                FCSWriteParameter(name: "FS", bits: 16, range: 1024),
                FCSWriteParameter(name: "SS", bits: 16, range: 65536),
            ]
            let other = ints(&rng, n, bits: 16)
            let bytes = try FCSWriter.encode(
                columns: [flagged, other], parameters: params, options: opts(.fcs3_1, .integer, .littleEndian))
            out.append(
                Fixture(
                    path: "pass/i16_masked_pnr1024.fcs",
                    provenance: "FCSWriter: 16-bit words with flags in bits 10-15; $PnR 1024 masks them", bytes: bytes,
                    expectation: .reads(dataSets: [[values, other]], warnings: [])))
        }
        out.append(
            try writer(
                "pass/i32_byteord_3412_fcs3.0.fcs",
                "FCSWriter: 32-bit integers with the mixed $BYTEORD 3,4,1,2 (allowed by FCS 3.0)",
                columns: names4.map { _ in ints(&rng, n, bits: 32) },
                parameters: names4.map { FCSWriteParameter(name: $0, bits: 32) },
                options: opts(.fcs3_0, .integer, FCSByteOrder(keyword: "3,4,1,2")!), warnings: ["byteord_permutation"]))
        do {
            let params = [
                FCSWriteParameter(name: "FSC-A", bits: 16, dataType: .integer),
                FCSWriteParameter(name: "CD4", dataType: .float),
                FCSWriteParameter(name: "CD8", dataType: .double),
                FCSWriteParameter(name: "Time", bits: 32, dataType: .integer),
            ]
            out.append(
                try writer(
                    "pass/mixed_types_fcs3.2.fcs", "FCSWriter: FCS3.2 with $PnDATATYPE mixing I16, F, D and I32",
                    columns: [
                        ints(&rng, n, bits: 16), floats(&rng, n),
                        (0..<n).map { _ in Double.random(in: 0...1, using: &rng) }, ints(&rng, n, bits: 32),
                    ],
                    parameters: params, options: opts(.fcs3_2, .float, .littleEndian)))
        }
        do {
            let a = names4.map { _ in floats(&rng, 25) }
            let b = [ints(&rng, 30, bits: 16), ints(&rng, 30, bits: 16)]
            let bytes = try FCSWriter.encode(dataSets: [
                (a, p4, opts(.fcs3_1, .float, .bigEndian)),
                (
                    b, [FCSWriteParameter(name: "FL1", bits: 16), FCSWriteParameter(name: "FL2", bits: 16)],
                    opts(.fcs3_1, .integer, .littleEndian)
                ),
            ])
            out.append(
                Fixture(
                    path: "pass/two_datasets.fcs",
                    provenance: "FCSWriter: two data sets chained by $NEXTDATA (float32 BE, then int16 LE)",
                    bytes: bytes, expectation: .reads(dataSets: [a, b], warnings: [])))
        }
        do {
            var c = opts(.fcs3_1, .float, .littleEndian)
            c.crc = true
            let cols = names4.map { _ in floats(&rng, n) }
            out.append(
                try writer(
                    "pass/crc_fcs3.1.fcs", "FCSWriter: with the optional CRC-16 after DATA", columns: cols,
                    parameters: p4, options: c))
        }
        out.append(
            try writer(
                "pass/empty_fcs3.1.fcs", "FCSWriter: a data set with $TOT 0", columns: names4.map { _ in [] },
                parameters: p4, options: opts(.fcs3_1, .float, .littleEndian)))
        do {
            var c = opts(.fcs3_1, .float, .littleEndian, delimiter: UInt8(ascii: "\\"))
            c.add("$COM", "path C:\\data\\run1 with \\\\ doubled")
            c.add("$FIL", "sample\\01.fcs")
            out.append(
                try writer(
                    "pass/delimiter_backslash.fcs", "FCSWriter: backslash delimiter escaped inside values",
                    columns: names4.map { _ in floats(&rng, 10) }, parameters: p4, options: c))
            var f = opts(.fcs3_1, .float, .bigEndian, delimiter: 0x0C)
            f.add("$SRC", "form\u{0C}feed")
            out.append(
                try writer(
                    "pass/delimiter_formfeed.fcs",
                    "FCSWriter: form-feed delimiter (as FACSDiva exports), escaped in a value",
                    columns: names4.map { _ in floats(&rng, 10) }, parameters: p4, options: f))
        }

        // MARK: quirks/: non-compliant files real writers produce, read with a warning
        let base3: [(String, String)] = [
            ("$BYTEORD", "1,2,3,4"), ("$DATATYPE", "I"), ("$MODE", "L"), ("$NEXTDATA", "0"), ("$PAR", "3"),
        ]
        let qnames = ["FS", "SS", "FL1"]
        let qcols: [[UInt64]] = (0..<3).map { _ in (0..<20).map { _ in UInt64.random(in: 0...1023, using: &rng) } }
        let qexpect = qcols.map { $0.map { Double($0) } }
        let qdata = RawFCS.integerRows(qcols, widths: [2, 2, 2], bigEndian: false)
        func quirk(
            _ path: String, _ provenance: String, warnings: Set<String>, expect: [[[Double]]]? = nil,
            _ build: (inout RawFCS) -> Void
        ) -> Fixture {
            var r = RawFCS()
            r.keywords =
                base3 + [("$TOT", "20")]
                + RawFCS.parameterKeywords(names: qnames, bits: ["16", "16", "16"], ranges: [1024, 1024, 1024])
            r.data = qdata
            build(&r)
            return Fixture(
                path: path, provenance: provenance, bytes: r.build(),
                expectation: .reads(dataSets: expect ?? [qexpect], warnings: warnings))
        }
        out.append(
            quirk(
                "quirks/fcs2.0_header_offsets_no_tot.fcs",
                "RawFCS: FCS2.0, DATA offsets only in HEADER, no $TOT (derived from the DATA length), $BYTEORD 1,2",
                warnings: ["missing_tot"]
            ) {
                $0.version = "FCS2.0"
                $0.textOffsets = false
                $0.keywords =
                    [("$BYTEORD", "1,2"), ("$DATATYPE", "I"), ("$MODE", "L"), ("$PAR", "3")]
                    + RawFCS.parameterKeywords(names: qnames, bits: ["16", "16", "16"], ranges: [1024, 1024, 1024])
            })
        out.append(
            quirk(
                "quirks/header_data_start_inside_text.fcs",
                "RawFCS: HEADER DATA start lies inside TEXT (Stratedigm); TEXT offsets are right",
                warnings: ["data_offsets_disagree"]
            ) {
                $0.headerDataShift = (-40, -40)
            })
        out.append(
            quirk(
                "quirks/text_data_start_inside_text.fcs",
                "RawFCS: $BEGINDATA lies inside TEXT (BD Accuri C6); HEADER offsets are right",
                warnings: ["data_offsets_disagree"]
            ) {
                $0.textDataShift = (-40, -40)
            })
        out.append(
            quirk(
                "quirks/enddata_one_past_end.fcs",
                "RawFCS: HEADER and $ENDDATA one byte past DATA, at the file size (MACSQuant, Accuri, Partec)",
                warnings: ["data_end_off_by_one"]
            ) {
                $0.textDataShift = (0, 1)
                $0.headerDataShift = (0, 1)
            })
        out.append(
            quirk(
                "quirks/header_data_offsets_zero.fcs",
                "RawFCS: HEADER DATA offsets 0 (the form for files over 99,999,999 bytes); TEXT gives them",
                warnings: []
            ) {
                $0.headerDataZero = true
            })
        out.append(
            quirk(
                "quirks/header_data_end_99999999.fcs", "RawFCS: HEADER DATA end written as 99999999 (FlowJo)",
                warnings: ["header_data_end_99999999"]
            ) {
                $0.headerFieldOverrides[3] = "99999999"
            })
        out.append(
            quirk(
                "quirks/supplemental_text.fcs",
                "RawFCS: supplemental TEXT ($BEGINSTEXT) carrying $SRC and a conflicting $CYT",
                warnings: ["stext_conflict"]
            ) {
                $0.keywords.append(("$CYT", "Primary"))
                $0.supplementalText = [("$SRC", "specimen-7"), ("$CYT", "Supplemental")]
            })
        out.append(
            quirk(
                "quirks/analysis_segment.fcs", "RawFCS: ANALYSIS segment between TEXT and DATA (Partec, Coulter)",
                warnings: []
            ) {
                $0.analysisText = [("GATE1", "lymphocytes"), ("COUNT", "1234")]
            })
        out.append(
            quirk(
                "quirks/text_padding.fcs",
                "RawFCS: spaces and a NUL after the final TEXT delimiter inside the HEADER's TEXT range (Attune, DIVA)",
                warnings: ["text_padding"]
            ) {
                $0.textPadding = Array("      ".utf8) + [0]
            })
        out.append(
            quirk(
                "quirks/cxp_10bit_in_16bit_words.fcs", "RawFCS: $PnB 10 with 16-bit storage (Beckman CXP bug)",
                warnings: ["bits_widened"]
            ) {
                $0.keywords =
                    base3 + [("$TOT", "20")]
                    + RawFCS.parameterKeywords(names: qnames, bits: ["10", "10", "10"], ranges: [1024, 1024, 1024])
            })
        out.append(
            quirk(
                "quirks/padded_numbers.fcs", "RawFCS: numeric keywords padded with spaces and zeros (DIVA, Summit)",
                warnings: []
            ) {
                $0.keywords =
                    [
                        ("$BYTEORD", "1,2,3,4"), ("$DATATYPE", "I"), ("$MODE", "L"), ("$NEXTDATA", " 0"),
                        ("$PAR", "003 "), ("$TOT", "00000020              "),
                    ]
                    + RawFCS.parameterKeywords(names: qnames, bits: [" 16", "16 ", "016"], ranges: [1024, 1024, 1024])
            })
        out.append(
            quirk("quirks/fcs3.2_no_mode.fcs", "RawFCS: FCS3.2 without $MODE (no longer required)", warnings: []) {
                $0.version = "FCS3.2"
                $0.keywords =
                    [
                        ("$BYTEORD", "1,2,3,4"), ("$DATATYPE", "I"), ("$NEXTDATA", "0"), ("$PAR", "3"), ("$TOT", "20"),
                        ("$CYT", "x"),
                    ]
                    + RawFCS.parameterKeywords(names: qnames, bits: ["16", "16", "16"], ranges: [1024, 1024, 1024])
            })
        // Raw TEXT bodies: empty values, a missing final delimiter, a doubled final delimiter, Latin-1.
        func textBody(_ pairs: [(String, String)], dataStart: Int, dataEnd: Int) -> String {
            (pairs + [("$BEGINDATA", RawFCS.padded(dataStart)), ("$ENDDATA", RawFCS.padded(dataEnd))]).map {
                "\($0.0)/\($0.1)"
            }.joined(separator: "/")
        }
        let plain =
            base3 + [("$TOT", "20")]
            + RawFCS.parameterKeywords(names: qnames, bits: ["16", "16", "16"], ranges: [1024, 1024, 1024])
        func rawBody(
            _ path: String, _ provenance: String, warnings: Set<String>, body: (Int, Int) -> [UInt8]
        ) -> Fixture {
            // Two passes: the body length fixes the DATA offset.
            var r = RawFCS()
            r.data = qdata
            r.rawTextBody = body(0, 0)
            let start = 58 + 1 + r.rawTextBody!.count
            r.rawTextBody = body(start, start + qdata.count - 1)
            return Fixture(
                path: path, provenance: provenance, bytes: r.build(),
                expectation: .reads(dataSets: [qexpect], warnings: warnings))
        }
        out.append(
            rawBody(
                "quirks/empty_values_doubled_delimiter.fcs",
                "RawFCS: empty values written as doubled delimiters (CellQuest, Attune v1, Partec)",
                warnings: ["text_empty_values"]
            ) { s, e in
                Array(
                    ("$INST//$COM//" + textBody(plain + [("$P1S", "FSC"), ("$SMNO", "x")], dataStart: s, dataEnd: e)
                        + "/$P2S//$P3S//").utf8)
            })
        out.append(
            rawBody(
                "quirks/missing_final_delimiter.fcs",
                "RawFCS: TEXT whose last value is not followed by the delimiter (Cytek Aurora)",
                warnings: ["text_missing_final_delimiter"]
            ) { s, e in
                Array((textBody(plain, dataStart: s, dataEnd: e) + "/$CYT/Aurora").utf8)
            })
        out.append(
            rawBody(
                "quirks/trailing_double_delimiter.fcs", "RawFCS: TEXT ending with a doubled delimiter (BD Accuri C6)",
                warnings: ["text_trailing_double_delimiter"]
            ) { s, e in
                Array((textBody(plain, dataStart: s, dataEnd: e) + "//").utf8)
            })
        out.append(
            rawBody(
                "quirks/latin1_value.fcs", "RawFCS: a Latin-1 byte (0xAA) in CREATOR (CellQuest on the Mac)",
                warnings: []
            ) { s, e in
                Array(("CREATOR/CELLQuest").utf8) + [0xAA]
                    + Array((" 3.3/" + textBody(plain, dataStart: s, dataEnd: e) + "/").utf8)
            })
        // ASCII data.
        do {
            let cols: [[UInt64]] = (0..<3).map { _ in (0..<12).map { _ in UInt64.random(in: 0...99999, using: &rng) } }
            var fixed: [UInt8] = []
            var delimited: [UInt8] = []
            for r in 0..<12 {
                for p in 0..<3 {
                    let s = String(cols[p][r])
                    fixed += Array((String(repeating: " ", count: 5 - s.count) + s).utf8)
                    delimited += Array((s + (p == 2 ? "\r\n" : (r % 2 == 0 ? "," : " "))).utf8)
                }
            }
            var a = RawFCS()
            a.keywords =
                [
                    ("$BYTEORD", "1,2,3,4"), ("$DATATYPE", "A"), ("$MODE", "L"), ("$NEXTDATA", "0"), ("$PAR", "3"),
                    ("$TOT", "12"),
                ]
                + RawFCS.parameterKeywords(names: qnames, bits: ["5", "5", "5"], ranges: [100000, 100000, 100000])
            a.data = fixed
            out.append(
                Fixture(
                    path: "quirks/ascii_fixed_width.fcs",
                    provenance: "RawFCS: $DATATYPE A, fixed width ($PnB = 5 characters)", bytes: a.build(),
                    expectation: .reads(dataSets: [cols.map { $0.map { Double($0) } }], warnings: [])))
            a.keywords =
                [("$DATATYPE", "A"), ("$MODE", "L"), ("$NEXTDATA", "0"), ("$PAR", "3"), ("$TOT", "12")]
                + RawFCS.parameterKeywords(names: qnames, bits: ["*", "*", "*"], ranges: [100000, 100000, 100000])
            a.data = delimited
            out.append(
                Fixture(
                    path: "quirks/ascii_delimited.fcs",
                    provenance: "RawFCS: $DATATYPE A, delimited ($PnB = *), separators space, comma, CR LF",
                    bytes: a.build(), expectation: .reads(dataSets: [cols.map { $0.map { Double($0) } }], warnings: []))
            )
        }

        // MARK: fail/: broken files, each rejected with its own code
        func fail(
            _ path: String, _ provenance: String, _ code: FCSError.Code, _ build: (inout RawFCS) -> Void
        ) -> Fixture {
            var r = RawFCS()
            r.keywords = plain
            r.data = qdata
            build(&r)
            return Fixture(path: path, provenance: provenance, bytes: r.build(), expectation: .error(code))
        }
        out.append(
            Fixture(
                path: "fail/not_fcs.fcs", provenance: "bytes of a PNG signature: not FCS",
                bytes: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + [UInt8](repeating: 0, count: 64),
                expectation: .error(.notFCS)))
        out.append(
            fail("fail/version_4.0.fcs", "RawFCS: version FCS4.0", .unsupportedVersion) { $0.version = "FCS4.0" })
        out.append(
            fail("fail/truncated_header.fcs", "RawFCS: cut inside the HEADER", .truncatedHeader) { $0.truncateTo = 30 })
        out.append(
            fail(
                "fail/header_offset_not_numeric.fcs", "RawFCS: a HEADER offset field reads '12ab    '", .badHeaderOffset
            ) { $0.headerFieldOverrides[1] = "12ab    " })
        out.append(fail("fail/text_past_eof.fcs", "RawFCS: cut inside TEXT", .textOutOfBounds) { $0.truncateTo = 120 })
        out.append(
            fail("fail/truncated_data.fcs", "RawFCS: cut inside DATA", .truncatedData) { $0.truncateTo = 58 + 1 + 400 })
        out.append(
            fail("fail/par_zero.fcs", "RawFCS: $PAR 0", .badParameterCount) {
                $0.keywords = [
                    ("$BYTEORD", "1,2,3,4"), ("$DATATYPE", "I"), ("$MODE", "L"), ("$NEXTDATA", "0"), ("$PAR", "0"),
                    ("$TOT", "20"),
                ]
            })
        out.append(
            fail("fail/huge_tot.fcs", "RawFCS: $TOT 10^12 in a small file", .dataLengthMismatch) {
                $0.keywords =
                    base3 + [("$TOT", "1000000000000")]
                    + RawFCS.parameterKeywords(names: qnames, bits: ["16", "16", "16"], ranges: [1024, 1024, 1024])
            })
        out.append(
            fail("fail/mode_histogram.fcs", "RawFCS: $MODE C (correlated histograms)", .unsupportedMode) {
                $0.keywords = $0.keywords.map { $0.0 == "$MODE" ? ("$MODE", "C") : $0 }
            })
        out.append(
            fail("fail/datatype_unknown.fcs", "RawFCS: $DATATYPE X", .unsupportedDataType) {
                $0.keywords = $0.keywords.map { $0.0 == "$DATATYPE" ? ("$DATATYPE", "X") : $0 }
            })
        out.append(
            fail("fail/byteord_invalid.fcs", "RawFCS: $BYTEORD 1,2,2,4", .unsupportedByteOrder) {
                $0.keywords = $0.keywords.map { $0.0 == "$BYTEORD" ? ("$BYTEORD", "1,2,2,4") : $0 }
            })
        out.append(
            fail("fail/bits_65.fcs", "RawFCS: $P1B 65", .unsupportedBitWidth) {
                $0.keywords = $0.keywords.map { $0.0 == "$P1B" ? ("$P1B", "65") : $0 }
            })
        out.append(
            fail("fail/missing_par.fcs", "RawFCS: no $PAR", .missingKeyword) {
                $0.keywords = $0.keywords.filter { $0.0 != "$PAR" }
            })
        out.append(
            fail("fail/bad_delimiter.fcs", "RawFCS: TEXT starting with a letter", .badDelimiter) {
                $0.delimiter = UInt8(ascii: "A")
            })
        out.append(
            fail("fail/odd_text_fields.fcs", "RawFCS: TEXT with a keyword and no value", .malformedText) {
                $0.rawTextBody = Array("$PAR/3/$TOT/".utf8) + Array("20/$ORPHAN/".utf8)
            })
        out.append(
            fail(
                "fail/data_offsets_inside_text.fcs",
                "RawFCS: HEADER and TEXT DATA offsets both inside TEXT (overlapping segments)", .dataOutOfBounds
            ) {
                $0.headerDataShift = (-100, -100)
                $0.textDataShift = (-100, -100)
            })
        out.append(
            fail("fail/nextdata_past_eof.fcs", "RawFCS: $NEXTDATA beyond the end of the file", .nextDataOutOfBounds) {
                $0.keywords = $0.keywords.map { $0.0 == "$NEXTDATA" ? ("$NEXTDATA", "999999") : $0 }
            })
        do {
            // Two data sets; the second's $NEXTDATA leads back to the first.
            var r1 = RawFCS()
            r1.keywords = plain.map { $0.0 == "$NEXTDATA" ? ("$NEXTDATA", RawFCS.padded(0)) : $0 }
            r1.data = qdata
            let len = r1.build().count
            r1.keywords = plain.map { $0.0 == "$NEXTDATA" ? ("$NEXTDATA", RawFCS.padded(len)) : $0 }
            var r2 = RawFCS()
            r2.keywords = plain.map { $0.0 == "$NEXTDATA" ? ("$NEXTDATA", "-" + String(len)) : $0 }
            r2.data = qdata
            out.append(
                Fixture(
                    path: "fail/nextdata_loop.fcs",
                    provenance: "RawFCS: two data sets whose $NEXTDATA offsets form a loop",
                    bytes: r1.build() + r2.build(), expectation: .error(.nextDataLoop)))
        }
        do {
            let good = out.first { $0.path == "pass/f32_le_fcs3.1.fcs" }!.bytes
            var gz = try gzip(good)
            out.append(
                Fixture(
                    path: "pass/f32_le_fcs3.1.fcs.gz", provenance: "gzip (zlib, level 9) of pass/f32_le_fcs3.1.fcs",
                    bytes: gz, expectation: out.first { $0.path == "pass/f32_le_fcs3.1.fcs" }!.expectation))
            gz[gz.count / 2] ^= 0xFF
            gz[gz.count / 2 + 1] ^= 0xFF
            out.append(
                Fixture(
                    path: "fail/corrupt.fcs.gz",
                    provenance: "pass/f32_le_fcs3.1.fcs.gz with two bytes flipped mid-stream", bytes: gz,
                    expectation: .error(.gzip)))
        }
        return out
    }

    /// Gzip-compresses bytes with zlib (no time stamp, so the output is reproducible).
    public static func gzip(_ input: [UInt8]) throws -> [UInt8] { try Gzip.compress(input, level: 9) }
}
