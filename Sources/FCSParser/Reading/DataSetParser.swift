/// Parses one data set's HEADER, TEXT, parameters and offsets. Every size and offset in the
/// file is treated as hostile: checked against the file size and against each other before
/// anything is allocated from it.
struct DataSetParser {
    let source: any ByteSource
    let size: Int64?
    let base: Int64
    let index: Int
    let options: FCSReader.Options

    static let maxTextBytes: Int64 = 100_000_000
    static let maxParameters = 100_000

    private var warnings: [FCSWarning] = []

    init(source: any ByteSource, size: Int64?, base: Int64, index: Int, options: FCSReader.Options) {
        self.source = source
        self.size = size
        self.base = base
        self.index = index
        self.options = options
    }

    private mutating func warn(
        _ code: FCSWarning.Code, _ message: String, byteOffset: Int64? = nil, keyword: String? = nil
    ) {
        warnings.append(FCSWarning(code, message, byteOffset: byteOffset, keyword: keyword))
    }

    private var setLabel: String { index == 0 ? "" : " of data set \(index + 1)" }

    /// The TEXT parsed so far (for the byte offsets of keyword errors).
    private var parsedText: FCSText?

    /// Parses the data set. Every error names a byte offset: a keyword's error the offset of
    /// its value in TEXT (else of TEXT), any other the data set's start.
    mutating func parse() throws(FCSError) -> (FCSDataSet, next: Int64?) {
        do {
            return try parseSegments()
        } catch {
            var e = error
            if e.byteOffset == nil {
                e.byteOffset = e.keyword.flatMap { parsedText?.valueOffset($0) } ?? textStart ?? base
            }
            throw e
        }
    }

    private var textStart: Int64?

    private mutating func parseSegments() throws(FCSError) -> (FCSDataSet, next: Int64?) {
        // HEADER
        let headerBytes = try source.readBytes(at: base, count: FCSHeader.length)
        if headerBytes.count < FCSHeader.length && index > 0 && headerBytes.count < 6 {
            throw FCSError(
                .nextDataOutOfBounds, "$NEXTDATA points to byte \(base), where no data set starts (end of file)",
                byteOffset: base, keyword: "$NEXTDATA")
        }
        let header = try FCSHeader.parse(headerBytes, base: base, warnings: &warnings)

        // TEXT
        guard let textRel = header.text else {
            throw FCSError(
                .textOutOfBounds, "the HEADER gives no TEXT offsets\(setLabel)", byteOffset: base + 10, segment: .header
            )
        }
        guard textRel.start >= Int64(FCSHeader.length), textRel.end > textRel.start else {
            throw FCSError(
                .textOutOfBounds,
                "TEXT offsets \(textRel) in the HEADER are impossible (TEXT must follow the 58-byte HEADER)",
                byteOffset: base + 10, segment: .header)
        }
        guard textRel.length <= Self.maxTextBytes else {
            throw FCSError(
                .textOutOfBounds,
                "TEXT claims \(textRel.length) bytes, more than the 99,999,999-byte limit of primary TEXT",
                byteOffset: base + 10, segment: .header)
        }
        let textAbs = FCSByteRange(start: base + textRel.start, end: base + textRel.end)
        if let size, textAbs.end >= size {
            throw FCSError(
                .textOutOfBounds,
                "TEXT ends at byte \(textAbs.end), past the end of the file (\(size) bytes); the file is truncated or the HEADER damaged",
                byteOffset: textAbs.start, segment: .text)
        }
        let textBytes = try source.readBytes(at: textAbs.start, count: Int(textAbs.length))
        guard textBytes.count == Int(textAbs.length) else {
            throw FCSError(
                .textOutOfBounds, "the file ends inside TEXT (at byte \(textAbs.start + Int64(textBytes.count)))",
                byteOffset: textAbs.start + Int64(textBytes.count), segment: .text)
        }
        let parsed = try TextSegmentParser.parse(
            textBytes, offset: textAbs.start, segment: .text, interpretation: options.textInterpretation,
            expectParameters: true)
        warnings += parsed.warnings
        var text = parsed.text
        parsedText = text
        textStart = textAbs.start

        // Supplemental TEXT
        if let stext = try optionalRange(text, "$BEGINSTEXT", "$ENDSTEXT"), stext != textRel {
            let abs = FCSByteRange(start: base + stext.start, end: base + stext.end)
            if stext.start < Int64(FCSHeader.length) || stext.end <= stext.start || stext.length > Self.maxTextBytes
                || (size.map { abs.end >= $0 } ?? false) || stext.overlaps(textRel)
            {
                warn(
                    .stextOutOfBounds,
                    "supplemental TEXT offsets \(stext) are outside the file or overlap TEXT; ignored",
                    byteOffset: abs.start, keyword: "$BEGINSTEXT")
            } else {
                let bytes = try source.readBytes(at: abs.start, count: Int(abs.length))
                do {
                    let s = try TextSegmentParser.parse(
                        bytes, offset: abs.start, segment: .supplementalText,
                        interpretation: options.textInterpretation,
                        expectParameters: false)
                    warnings += s.warnings
                    var conflicts = 0
                    for kw in s.text.keywords {
                        if let existing = text.keyword(kw.key) {
                            if existing.rawValue != kw.rawValue { conflicts += 1 }
                        } else {
                            text.append(kw)
                        }
                    }
                    if conflicts > 0 {
                        warn(
                            .stextConflict,
                            "\(conflicts) keyword(s) in supplemental TEXT differ from primary TEXT; primary kept",
                            byteOffset: abs.start)
                    }
                } catch {
                    warn(
                        .stextUnreadable, "supplemental TEXT could not be parsed (\(error.message)); ignored",
                        byteOffset: abs.start)
                }
            }
        }

        // Mode, type, counts
        let modeValue = text["$MODE"]?.trimmingSpaces.uppercased()
        if let mode = modeValue, mode != "L" {
            throw FCSError(
                .unsupportedMode,
                "$MODE \(printable(mode)) (histogram data) is not supported; only list mode (L) is read",
                byteOffset: textAbs.start, segment: .text, keyword: "$MODE")
        }
        if modeValue == nil && header.version != .fcs3_2 {
            warn(.missingMode, "$MODE is missing; list mode assumed", keyword: "$MODE")
        }
        guard let parValue = text["$PAR"] else {
            throw FCSError(
                .missingKeyword, "required keyword $PAR is missing\(setLabel)", byteOffset: textAbs.start,
                segment: .text, keyword: "$PAR")
        }
        guard let par = Int(parValue.trimmingSpaces), par >= 1, par <= Self.maxParameters else {
            throw FCSError(
                .badParameterCount, "$PAR must be a whole number from 1 to \(Self.maxParameters)",
                byteOffset: textAbs.start, segment: .text, keyword: "$PAR")
        }
        guard let typeValue = text["$DATATYPE"] else {
            throw FCSError(
                .missingKeyword, "required keyword $DATATYPE is missing\(setLabel)", byteOffset: textAbs.start,
                segment: .text, keyword: "$DATATYPE")
        }
        guard let dataType = FCSDataType(rawValue: typeValue.trimmingSpaces.uppercased()) else {
            throw FCSError(
                .unsupportedDataType, "$DATATYPE '\(printable(typeValue))' is not one of I, F, D, A",
                byteOffset: textAbs.start, segment: .text, keyword: "$DATATYPE")
        }
        var byteOrder: FCSByteOrder? = nil
        if let bo = text["$BYTEORD"] {
            byteOrder = FCSByteOrder(keyword: bo)
            if byteOrder == nil && dataType != .ascii {
                throw FCSError(
                    .unsupportedByteOrder,
                    "$BYTEORD '\(printable(bo))' is not a permutation such as 1,2,3,4 or 4,3,2,1",
                    byteOffset: textAbs.start, segment: .text, keyword: "$BYTEORD")
            }
            if let b = byteOrder, !b.isLittleEndian && !b.isBigEndian {
                warn(
                    .byteordPermutation, "$BYTEORD \(b) is a mixed byte order (allowed in FCS 3.0, not 3.1)",
                    keyword: "$BYTEORD")
            }
        } else if dataType != .ascii {
            throw FCSError(
                .missingKeyword, "required keyword $BYTEORD is missing\(setLabel)", byteOffset: textAbs.start,
                segment: .text, keyword: "$BYTEORD")
        }
        var eventCount: Int64? = nil
        if let tot = text["$TOT"] {
            guard let t = Int64(tot.trimmingSpaces), t >= 0 else {
                throw FCSError(
                    .badEventCount, "$TOT is not a whole number", byteOffset: textAbs.start, segment: .text,
                    keyword: "$TOT")
            }
            eventCount = t
        } else if header.version != .fcs2_0 {
            throw FCSError(
                .missingKeyword, "required keyword $TOT is missing\(setLabel)", byteOffset: textAbs.start,
                segment: .text, keyword: "$TOT")
        }

        // Parameters and row layout
        var parameters: [FCSParameter] = []
        var fields: [FieldLayout] = []
        var rowBytes = 0
        var delimited = false
        var widenedBits: [Int] = []
        var missingNames = 0
        var legacyF2 = 0
        var missingE = 0
        for n in 1...par {
            let nameValue = text["$P\(n)N"]?.trimmingSpaces
            if nameValue == nil || nameValue!.isEmpty { missingNames += 1 }
            let name = (nameValue?.isEmpty ?? true) ? "P\(n)" : nameValue!
            let label = text["$P\(n)S"].flatMap { $0.trimmingSpaces.isEmpty ? nil : $0.trimmingSpaces }
            let typeN: FCSDataType
            if let pt = text["$P\(n)DATATYPE"] {
                guard let t = FCSDataType(rawValue: pt.trimmingSpaces.uppercased()), t != .ascii, dataType != .ascii
                else {
                    throw FCSError(
                        .unsupportedDataType,
                        "$P\(n)DATATYPE '\(printable(pt))' is not one of I, F, D (and cannot mix with ASCII)",
                        byteOffset: textAbs.start, segment: .text, keyword: "$P\(n)DATATYPE")
                }
                typeN = t
            } else {
                typeN = dataType
            }
            guard let bitsValue = text["$P\(n)B"]?.trimmingSpaces else {
                throw FCSError(
                    .missingKeyword, "required keyword $P\(n)B is missing\(setLabel)", byteOffset: textAbs.start,
                    segment: .text, keyword: "$P\(n)B")
            }
            var bits: Int? = nil
            if bitsValue == "*" {
                guard typeN == .ascii else {
                    throw FCSError(
                        .unsupportedBitWidth, "$P\(n)B is '*' but the data are not ASCII", segment: .text,
                        keyword: "$P\(n)B")
                }
                delimited = true
            } else {
                guard let b = Int(bitsValue), b > 0, b <= 64 || typeN == .ascii, b <= 1024 else {
                    throw FCSError(
                        .unsupportedBitWidth, "$P\(n)B '\(printable(bitsValue))' is not a bit width from 1 to 64",
                        byteOffset: textAbs.start, segment: .text, keyword: "$P\(n)B")
                }
                bits = b
            }
            var range: Double? = nil
            if let r = text["$P\(n)R"] {
                if let v = Double(r.trimmingSpaces), v.isFinite {
                    range = v
                } else {
                    warn(.badRange, "$P\(n)R is not a number; no bit mask applied", keyword: "$P\(n)R")
                }
            } else {
                warn(.missingRange, "$P\(n)R is missing; no bit mask applied", keyword: "$P\(n)R")
            }
            var amp = FCSAmplification.linear
            if let e = text["$P\(n)E"] {
                let parts = e.split(separator: ",").map { $0.trimmingSpaces }
                if parts.count == 2, let f1 = Double(parts[0]), let f2 = Double(parts[1]), f1.isFinite, f2.isFinite,
                    f1 >= 0
                {
                    amp = FCSAmplification(decades: f1, zeroValue: f2)
                    if f1 > 0 && f2 == 0 {
                        amp.zeroValue = 1
                        legacyF2 += 1
                    }
                } else {
                    warn(.badAmplification, "$P\(n)E is not 'f1,f2'; read as linear", keyword: "$P\(n)E")
                }
            } else {
                missingE += 1
            }
            var gain: Double? = nil
            if let g = text["$P\(n)G"], let v = Double(g.trimmingSpaces), v.isFinite, v > 0 { gain = v }
            let isTime = name.lowercased() == "time" || (text["$P\(n)TYPE"]?.trimmingSpaces.lowercased() == "time")

            // Storage
            var width = 0
            var kind = FieldLayout.Kind.unsigned
            var mask: UInt64 = .max
            switch typeN {
            case .integer:
                let b = bits!
                if b % 8 == 0 {
                    width = b / 8
                } else {
                    width = (b + 7) / 8
                    if width == 1 || width == 3 { width = width == 1 ? 2 : 4 }  // CXP writes 10-bit values in 16-bit words
                    widenedBits.append(n)
                }
                mask = width >= 8 ? .max : (UInt64(1) << UInt64(width * 8)) - 1
                if let r = range, r >= 2 {
                    var k = 0
                    while k < 64 && pow2(k) < r { k += 1 }
                    if k < width * 8 { mask = (UInt64(1) << UInt64(k)) - 1 }
                }
                if b % 8 != 0 && b < 64 { mask &= (UInt64(1) << UInt64(b)) - 1 }
                kind = .unsigned
            case .float:
                if let b = bits, b != 32 {
                    warn(.floatBits, "$P\(n)B is \(b) for single-precision data; 32 used", keyword: "$P\(n)B")
                }
                width = 4
                kind = .float32
            case .double:
                if let b = bits, b != 64 {
                    warn(.doubleBits, "$P\(n)B is \(b) for double-precision data; 64 used", keyword: "$P\(n)B")
                }
                width = 8
                kind = .float64
            case .ascii:
                width = bits ?? 0
                kind = .asciiFixed
            }
            var order: [Int] = []
            if typeN != .ascii {
                guard let bo = byteOrder, let o = bo.order(forWidth: width) else {
                    throw FCSError(
                        .unsupportedByteOrder,
                        "$BYTEORD \(byteOrder?.keywordValue ?? "?") cannot apply to the \(width)-byte values of parameter \(n)",
                        byteOffset: textAbs.start, segment: .text, keyword: "$BYTEORD")
                }
                order = o
            }
            fields.append(FieldLayout(kind: kind, offset: rowBytes, width: width, order: order, mask: mask))
            rowBytes += width
            parameters.append(
                FCSParameter(
                    number: n, name: name, label: label, bits: bits, range: range, amplification: amp, gain: gain,
                    dataType: typeN, storageBytes: width,
                    mask: typeN == .integer && mask != (width >= 8 ? .max : (UInt64(1) << UInt64(width * 8)) - 1)
                        ? mask : nil,
                    isTime: isTime))
        }
        if delimited && parameters.contains(where: { $0.bits != nil }) {
            throw FCSError(
                .unsupportedBitWidth, "delimited ASCII needs $PnB '*' for every parameter", segment: .text,
                keyword: "$P1B")
        }
        if delimited { rowBytes = 0 }
        if missingNames > 0 {
            warn(.missingPnn, "\(missingNames) parameter(s) have no $PnN; named Pn")
        }
        if legacyF2 > 0 {
            warn(.pneZeroF2, "\(legacyF2) log parameter(s) have $PnE f2 = 0 (legacy); f2 = 1 used for scaled values")
        }
        if missingE > 0 && header.version != .fcs2_0 {
            warn(.missingPne, "\(missingE) parameter(s) have no $PnE; linear assumed")
        }
        let names = parameters.map(\.name)
        if Set(names).count != names.count {
            warn(.duplicatePnn, "some $PnN names repeat; refer to those parameters by number")
        }
        if dataType != .integer
            && parameters.contains(where: { $0.amplification.isLogarithmic && $0.dataType != .integer })
        {
            warn(
                .pneOnFloat,
                "$PnE is logarithmic on floating-point data (FCS 3.1 requires 0,0); not applied when scaling")
        }
        let layout = DataLayout(fields: fields, rowBytes: rowBytes, delimitedASCII: delimited)

        // DATA
        var (dataRange, events) = try resolveData(
            header: header, text: text, textRel: textRel, rowBytes: Int64(rowBytes), declaredEvents: eventCount,
            widenedBits: widenedBits)
        if delimited, let r = dataRange {
            let values = events.multipliedReportingOverflow(by: Int64(par))
            if values.overflow || values.partialValue > r.length {
                throw FCSError(
                    .badEventCount, "$TOT x $PAR values cannot fit in \(r.length) bytes of ASCII DATA",
                    byteOffset: r.start, segment: .data, keyword: "$TOT")
            }
        }
        guard events <= Int64(Int.max / 2) else {
            throw FCSError(.badEventCount, "$TOT is too large", keyword: "$TOT")
        }
        if events == 0 { dataRange = nil }

        // ANALYSIS
        var analysisRange: FCSByteRange? = nil
        var analysis: FCSText? = nil
        let analysisRel: FCSByteRange?
        if let h = header.analysis {
            analysisRel = h
        } else {
            analysisRel = try? optionalRange(text, "$BEGINANALYSIS", "$ENDANALYSIS")
        }
        if let a = analysisRel {
            let abs = FCSByteRange(start: base + a.start, end: base + a.end)
            if a.start < Int64(FCSHeader.length) || a.end < a.start || (size.map { abs.end >= $0 } ?? false)
                || a.overlaps(textRel) || a.length > Self.maxTextBytes
            {
                warn(
                    .analysisOutOfBounds, "ANALYSIS offsets \(a) lie outside the file or overlap TEXT; ignored",
                    byteOffset: abs.start)
            } else {
                analysisRange = abs
                let bytes = try source.readBytes(at: abs.start, count: Int(abs.length))
                if let first = bytes.first, first != 0x20, first != 0 {
                    if let r = try? TextSegmentParser.parse(
                        bytes, offset: abs.start, segment: .analysis, interpretation: options.textInterpretation,
                        expectParameters: false)
                    {
                        analysis = r.text
                    } else {
                        warn(
                            .analysisUnparsed, "ANALYSIS is not in keyword/value form; kept as bytes only",
                            byteOffset: abs.start)
                    }
                }
            }
        }

        // $TIMESTEP
        var timestep: Double? = nil
        if let ts = text["$TIMESTEP"] {
            if let v = Double(ts.trimmingSpaces), v.isFinite, v > 0 {
                timestep = v
            } else {
                warn(.badTimestep, "$TIMESTEP is not a positive number; time is not scaled", keyword: "$TIMESTEP")
            }
        }

        // CRC
        let lastEnd = [Optional(textAbs.end), dataRange?.end, analysisRange?.end].compactMap { $0 }.max()!
        let crc = size == nil ? FCSCRCStatus.notChecked : try checkCRC(lastEnd: lastEnd)

        // $NEXTDATA
        var next: Int64? = nil
        if let nd = text["$NEXTDATA"] {
            guard let v = Int64(nd.trimmingSpaces) else {
                throw FCSError(
                    .badKeywordValue, "$NEXTDATA is not a whole number", segment: .text, keyword: "$NEXTDATA")
            }
            if v != 0 {
                let (target, overflow) = base.addingReportingOverflow(v)
                if overflow || target < 0 || (size.map { target >= $0 } ?? false) {
                    throw FCSError(
                        .nextDataOutOfBounds, "$NEXTDATA points outside the file",
                        byteOffset: base, segment: .text, keyword: "$NEXTDATA")
                }
                if v < 0 {
                    warnings.append(
                        FCSWarning(
                            .nextdataNegative, "$NEXTDATA is negative (points back in the file)", keyword: "$NEXTDATA"))
                }
                next = target
            }
        }

        let set = FCSDataSet(
            index: index, offset: base, header: header, text: text, textInterpretation: parsed.interpretation,
            parameters: parameters, eventCount: Int(events), dataType: dataType, byteOrder: byteOrder,
            dataRange: dataRange, textRange: textAbs, analysisRange: analysisRange, analysis: analysis,
            timestep: timestep,
            crc: crc, warnings: warnings, layout: layout)
        return (set, next)
    }

    private func pow2(_ k: Int) -> Double { Double(sign: .plus, exponent: k, significand: 1) }

    /// Reads a pair of offset keywords; nil when absent or both zero.
    private func optionalRange(_ text: FCSText, _ a: String, _ b: String) throws(FCSError) -> FCSByteRange? {
        guard let s = text[a], let e = text[b] else { return nil }
        guard let sv = Int64(s.trimmingSpaces), let ev = Int64(e.trimmingSpaces), sv >= 0, ev >= 0 else {
            throw FCSError(.badKeywordValue, "\(a)/\(b) are not whole numbers", segment: .text, keyword: a)
        }
        if sv == 0 && ev == 0 { return nil }
        return FCSByteRange(start: sv, end: ev)
    }

    private enum Verdict {
        case fits(plusOne: Bool)
        case truncated(available: Int64)
        case bad(String)
    }

    /// Chooses the DATA range among the HEADER and TEXT candidates (see `Options.DataOffsets`).
    private mutating func resolveData(
        header: FCSHeader, text: FCSText, textRel: FCSByteRange, rowBytes: Int64, declaredEvents: Int64?,
        widenedBits: [Int]
    ) throws(FCSError) -> (FCSByteRange?, Int64) {
        var headerCandidate = header.data
        if let h = headerCandidate, h.end == 99_999_999 {
            warn(
                .headerDataEnd99999999,
                "HEADER DATA end is 99999999 (a FlowJo quirk for large files); TEXT offsets used", byteOffset: base + 34
            )
            headerCandidate = nil
        }
        var textCandidate: FCSByteRange? = nil
        do {
            textCandidate = try optionalRange(text, "$BEGINDATA", "$ENDDATA")
        } catch {
            if headerCandidate == nil { throw error }
            warn(.badTextDataOffsets, "$BEGINDATA/$ENDDATA are not numbers; HEADER offsets used", keyword: "$BEGINDATA")
        }
        if declaredEvents == 0 {
            return (nil, 0)
        }
        // FCS 2.0 without $TOT: derive the count from the DATA length.
        var events = declaredEvents
        if events == nil {
            guard let c = headerCandidate ?? textCandidate, rowBytes > 0, c.length >= 0 else {
                throw FCSError(.missingKeyword, "$TOT is missing and the DATA length cannot give it", keyword: "$TOT")
            }
            events = c.length / rowBytes
            warn(.missingTot, "$TOT is missing; \(events!) events derived from the DATA length", keyword: "$TOT")
        }
        let tot = events!
        let expected: Int64?
        if rowBytes > 0 {
            let (e, overflow) = tot.multipliedReportingOverflow(by: rowBytes)
            if overflow {
                throw FCSError(.badEventCount, "$TOT x bytes per event overflows", segment: .text, keyword: "$TOT")
            }
            expected = e
        } else {
            expected = nil
        }
        let minimumStart = Int64(FCSHeader.length)

        func evaluate(_ c: FCSByteRange) -> Verdict {
            if c.start < minimumStart { return .bad("starts inside the HEADER") }
            if c.overlaps(textRel) { return .bad("lies inside TEXT") }
            let absStart = base + c.start
            if let size, absStart > size { return .bad("starts past the end of the file") }
            if let size, absStart == size, (expected ?? 1) > 0 { return .truncated(available: 0) }
            guard let expected else {
                if c.end < c.start { return .bad("ends before it starts") }
                if let size, base + c.end > size { return .bad("ends past the end of the file") }
                return .fits(plusOne: size.map { base + c.end == $0 } ?? false)
            }
            let len = c.length
            guard len == expected || len == expected + 1 else {
                return .bad("holds \(len) bytes where $TOT x \(rowBytes) bytes per event needs \(expected)")
            }
            if let size, absStart + expected > size {
                return .truncated(available: (size - absStart) / rowBytes)
            }
            return .fits(plusOne: len == expected + 1)
        }

        let hv = headerCandidate.map(evaluate)
        let tv = textCandidate.map(evaluate)
        var chosen: FCSByteRange?
        var chosenPlusOne = false
        var truncatedAt: (FCSByteRange, Int64)? = nil

        func describe(_ name: String, _ c: FCSByteRange?, _ v: Verdict?) -> String {
            guard let c, let v else { return "\(name) gives none" }
            switch v {
            case .fits: return "\(name) says \(c)"
            case .truncated(let a): return "\(name) says \(c) but the file holds only \(a) complete events"
            case .bad(let why): return "\(name) says \(c), which \(why)"
            }
        }
        let both = describe("HEADER", headerCandidate, hv) + "; " + describe("$BEGINDATA/$ENDDATA", textCandidate, tv)

        switch options.dataOffsets {
        case .header, .text:
            let (c, v) = options.dataOffsets == .header ? (headerCandidate, hv) : (textCandidate, tv)
            let name = options.dataOffsets == .header ? "HEADER" : "TEXT"
            guard let c, let v else {
                throw FCSError(
                    .dataOutOfBounds,
                    "the DATA offsets of \(name) were asked for but \(name) gives none",
                    segment: .data)
            }
            switch v {
            case .fits(let p):
                chosen = c
                chosenPlusOne = p
            case .truncated(let a): truncatedAt = (c, a)
            case .bad(let why):
                throw FCSError(
                    .dataOutOfBounds, "\(name) DATA offsets \(c) cannot be used: the range \(why)",
                    byteOffset: base + c.start, segment: .data)
            }
            if chosen != nil, let h = headerCandidate, let t = textCandidate, h.start != t.start {
                warn(.dataOffsetsDisagree, "\(both); used \(name) as asked", byteOffset: base + c.start)
            }
        case .automatic:
            switch (hv, tv) {
            case (.fits(let ph), .fits(let pt)):
                chosen = headerCandidate
                chosenPlusOne = ph
                if headerCandidate!.start != textCandidate!.start {
                    warn(
                        .dataOffsetsDisagree, "\(both); both fit, HEADER used (TEXT's can be chosen)",
                        byteOffset: base + headerCandidate!.start)
                } else {
                    chosenPlusOne = ph || pt
                }
            case (.fits(let p), _):
                chosen = headerCandidate
                chosenPlusOne = p
                if textCandidate != nil {
                    warn(
                        .dataOffsetsDisagree, "\(both); HEADER used (TEXT's can be chosen)",
                        byteOffset: base + headerCandidate!.start)
                }
            case (_, .fits(let p)):
                chosen = textCandidate
                chosenPlusOne = p
                if headerCandidate != nil {
                    warn(
                        .dataOffsetsDisagree, "\(both); TEXT used (HEADER's can be chosen)",
                        byteOffset: base + textCandidate!.start)
                }
            default:
                if case .truncated(let a) = hv {
                    truncatedAt = (headerCandidate!, a)
                } else if case .truncated(let a) = tv {
                    truncatedAt = (textCandidate!, a)
                }
                if truncatedAt == nil {
                    if headerCandidate == nil && textCandidate == nil {
                        throw FCSError(
                            .dataOutOfBounds, "neither the HEADER nor $BEGINDATA/$ENDDATA give DATA offsets",
                            byteOffset: base + 26, segment: .header)
                    }
                    let code: FCSError.Code
                    if !widenedBits.isEmpty {
                        code = .unsupportedBitWidth
                    } else if case .bad(let why)? = hv ?? tv, why.hasPrefix("holds") {
                        code = .dataLengthMismatch
                    } else {
                        code = .dataOutOfBounds
                    }
                    throw FCSError(
                        code, "no DATA offsets fit the file: \(both)",
                        byteOffset: base + (headerCandidate ?? textCandidate)!.start, segment: .data)
                }
            }
        }
        if let (c, available) = truncatedAt, chosen == nil {
            let absStart = base + c.start
            guard options.allowTruncatedData else {
                throw FCSError(
                    .truncatedData,
                    "the file is truncated: DATA needs \(expected ?? 0) bytes from byte \(absStart) but the file has \(size.map { $0 - absStart } ?? 0); it holds \(available) of \(tot) events (they can be read on request)",
                    byteOffset: size, segment: .data)
            }
            warn(.truncatedData, "the file is truncated: \(available) of \(tot) events read", byteOffset: size)
            return (FCSByteRange(start: absStart, end: absStart + available * rowBytes - 1), available)
        }
        guard let c = chosen else { return (nil, 0) }
        if chosenPlusOne {
            warn(
                .dataEndOffByOne, "DATA end offset is one byte past the last data byte (a common writer bug)",
                byteOffset: base + c.end)
        }
        if !widenedBits.isEmpty {
            warn(
                .bitsWidened,
                "$PnB is not a multiple of 8 for parameter(s) \(widenedBits.map(String.init).joined(separator: ",")); values read from whole bytes (16-bit words for 10-bit CXP data) and masked to $PnB bits"
            )
        }
        let absStart = base + c.start
        let length = expected ?? c.length
        return (FCSByteRange(start: absStart, end: absStart + length - 1), tot)
    }

    /// Verifies an optional CRC (8 ASCII characters right after the last segment).
    private mutating func checkCRC(lastEnd: Int64) throws(FCSError) -> FCSCRCStatus {
        let field = try source.readBytes(at: lastEnd + 1, count: 8)
        guard field.count == 8,
            field.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x46) || ($0 >= 0x61 && $0 <= 0x66) })
        else {
            return .absent
        }
        let stored = String(decoding: field, as: UTF8.self)
        if stored == "00000000" { return .notComputed }
        var crc = CRC16()
        var at = base
        while at <= lastEnd {
            let chunk = try source.readBytes(at: at, count: Int(Swift.min(Int64(1 << 20), lastEnd - at + 1)))
            if chunk.isEmpty { break }
            crc.update(chunk)
            at += Int64(chunk.count)
        }
        if let v = UInt32(stored, radix: 16), v == UInt32(crc.value) { return .verified }
        if let v = UInt32(stored), v == UInt32(crc.value) { return .verified }
        if options.strictCRC {
            throw FCSError(
                .crcMismatch, "the data set's CRC does not match its bytes; the file is corrupt",
                byteOffset: lastEnd + 1, segment: .crc)
        }
        warn(
            .crcMismatch, "the CRC after the last segment does not match (CRC-16/CCITT); the file may be corrupt",
            byteOffset: lastEnd + 1)
        return .mismatch(stored: stored, computed: crc.value)
    }
}

/// CRC-16/CCITT (polynomial 0x1021, initial value 0xFFFF), as the FCS standard names for the
/// optional data set CRC.
struct CRC16 {
    private(set) var value: UInt16 = 0xFFFF
    private static let table: [UInt16] = (0..<256).map { i -> UInt16 in
        var c = UInt16(i) << 8
        for _ in 0..<8 { c = (c & 0x8000) != 0 ? (c << 1) ^ 0x1021 : c << 1 }
        return c
    }
    mutating func update(_ bytes: [UInt8]) {
        var v = value
        for b in bytes {
            v = (v << 8) ^ Self.table[Int(UInt8(truncatingIfNeeded: v >> 8) ^ b)]
        }
        value = v
    }
}
