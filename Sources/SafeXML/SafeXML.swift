// C interop with libxml2 (SAX2 push parser) and zlib (gzread for the pre-scan). Every XML input of
// CytoIngest (Gating-ML, lab XML, FlowJo workspaces) goes through this file.
@preconcurrency @unsafe import CLibXML2
import CZlib

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Limits applied to every XML input.
public struct XMLLimits: Sendable, Hashable {
    /// Largest (decompressed) document, in bytes.
    public var maxBytes: Int64 = 512 << 20
    /// Deepest element nesting.
    public var maxDepth = 128
    /// Longest text node or attribute value, in bytes.
    public var maxTextLength = 1 << 20
    public init() {}
}

/// An XML input that was refused or could not be parsed.
public struct XMLError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// The document declares a DOCTYPE or an ENTITY (refused before parsing: XXE, billion laughs).
        case doctype = "xml_doctype"
        /// Not well-formed (any parser error, including those libxml2 recovers from).
        case malformed = "xml_malformed"
        /// Over `XMLLimits.maxBytes`.
        case tooLarge = "xml_too_large"
        /// Over `XMLLimits.maxDepth`.
        case tooDeep = "xml_too_deep"
        /// A text node or attribute over `XMLLimits.maxTextLength`.
        case textTooLong = "xml_text_too_long"
        /// The file cannot be read.
        case io = "xml_io"
        /// Not UTF-8, not UTF-16 with a byte-order mark, or a declaration that contradicts the bytes.
        case encoding = "xml_encoding"
    }
    public var code: Code
    public var message: String
    public var file: String
    public var line: Int?

    public init(_ code: Code, _ message: String, file: String, line: Int? = nil) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(message) [\(code.rawValue)]"
    }
}

/// One attribute of an element (namespace declarations are not reported).
public struct XMLAttribute: Sendable, Hashable {
    public var localName: String
    public var namespace: String?
    public var value: String
}

/// What the streaming reader delivers.
public enum XMLEvent: Sendable, Hashable {
    case start(localName: String, namespace: String?, attributes: [XMLAttribute], line: Int)
    /// Also delivered for empty elements (`<a/>`), right after their start.
    case end(localName: String, namespace: String?)
    /// Text or CDATA content (white-space-only text included).
    case text(String)
}

/// The byte encoding of a document, as found by the pre-scan.
public enum XMLDocumentEncoding: String, Sendable, Hashable {
    case utf8
    case utf8WithBOM = "utf8-bom"
    case utf16LE = "utf16le-bom"
    case utf16BE = "utf16be-bom"
}

/// Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
struct UTF8Validator {
    private var need = 0
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF
    private(set) var valid = true

    mutating func feed(_ bytes: ArraySlice<UInt8>) {
        guard valid else { return }
        // Fast path: whole 8-byte words of ASCII.
        var start = bytes.startIndex
        if need == 0 {
            unsafe bytes.withUnsafeBytes { raw in
                var i = 0
                while i + 8 <= raw.count {
                    let w = unsafe raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                    if w & 0x8080_8080_8080_8080 != 0 { break }
                    i += 8
                }
                start += i
            }
        }
        for b in bytes[start...] {
            if need == 0 {
                switch b {
                case 0x00...0x7F: continue
                case 0xC2...0xDF: need = 1; lower = 0x80; upper = 0xBF
                case 0xE0: need = 2; lower = 0xA0; upper = 0xBF
                case 0xE1...0xEC, 0xEE...0xEF: need = 2; lower = 0x80; upper = 0xBF
                case 0xED: need = 2; lower = 0x80; upper = 0x9F
                case 0xF0: need = 3; lower = 0x90; upper = 0xBF
                case 0xF1...0xF3: need = 3; lower = 0x80; upper = 0xBF
                case 0xF4: need = 3; lower = 0x80; upper = 0x8F
                default: valid = false; return
                }
            } else {
                guard b >= lower && b <= upper else { valid = false; return }
                lower = 0x80
                upper = 0xBF
                need -= 1
            }
        }
    }

    var complete: Bool { valid && need == 0 }
}

/// Refuses `<!DOCTYPE` and `<!ENTITY` anywhere in a document (UTF-8, UTF-16 either order), and
/// documents over the size limit, by scanning the raw (decompressed) bytes before libxml2 sees
/// them (whole in-memory documents at once; files chunk by chunk through `XMLPrescanner`).
public enum XMLPrescan {
    static let patterns: [[UInt8]] = {
        var out: [[UInt8]] = []
        for word in ["<!DOCTYPE", "<!ENTITY"] {
            let ascii = Array(word.utf8)
            out.append(ascii)
            out.append(ascii.flatMap { [$0, 0] })
            out.append(ascii.flatMap { [0, $0] })
        }
        return out
    }()

    static func scan(_ chunk: ArraySlice<UInt8>) -> Bool {
        // Every pattern has '<' followed by '!' (ASCII), by 0 then '!' (UTF-16 LE), or preceded
        // by 0 and followed by 0 then '!' (UTF-16 BE): jump from '<' to '<' with memchr.
        let end = chunk.endIndex
        return unsafe chunk.withUnsafeBytes { raw -> Bool in
            guard let start = raw.baseAddress, raw.count > 1 else { return false }
            let base = chunk.startIndex
            let n = raw.count
            var i = 0
            while i + 1 < n {
                guard let hit = unsafe memchr(start + i, 0x3C, n - 1 - i) else { return false }
                i = unsafe start.distance(to: UnsafeRawPointer(hit))
                let next = unsafe raw[i + 1]
                if unsafe next == 0x21 || (next == 0 && i + 2 < n && raw[i + 2] == 0x21) {
                    for at in [base + i, base + i - 1] where at >= base {
                        for p in patterns where end - at >= p.count {
                            if chunk[at..<(at + p.count)].elementsEqual(p) { return true }
                        }
                    }
                }
                i += 1
            }
            return false
        }
    }

    /// Classifies the first bytes; UTF-16 without a byte-order mark is refused.
    static func encoding(of head: ArraySlice<UInt8>, name: String) throws(XMLError) -> XMLDocumentEncoding {
        let b = Array(head.prefix(4))
        if b.starts(with: [0xEF, 0xBB, 0xBF]) { return .utf8WithBOM }
        if b.starts(with: [0xFF, 0xFE]) { return .utf16LE }
        if b.starts(with: [0xFE, 0xFF]) { return .utf16BE }
        if b.count >= 2 && (b[0] == 0 || b[1] == 0) {
            throw XMLError(
                .encoding,
                "document looks like UTF-16 or UTF-32 without a byte-order mark; only UTF-8, or UTF-16 with a BOM, is accepted",
                file: name)
        }
        return .utf8
    }

    /// The declared encoding of an 8-bit document must be UTF-8 (or ASCII) when present.
    static func checkDeclaration(_ head: ArraySlice<UInt8>, name: String) throws(XMLError) {
        guard head.starts(with: Array("<?xml".utf8)) || head.dropFirst(3).starts(with: Array("<?xml".utf8)) else {
            return
        }
        let text = String(decoding: head.prefix(200), as: UTF8.self)
        guard let end = text.firstRange(of: "?>"), let r = text[..<end.lowerBound].firstRange(of: "encoding") else {
            return
        }
        let after = text[r.upperBound..<end.lowerBound].drop { $0 == " " || $0 == "=" }
        guard let quote = after.first, quote == "\"" || quote == "'" else { return }
        let value = after.dropFirst().prefix { $0 != quote }.lowercased()
        if !["utf-8", "utf8", "us-ascii", "ascii"].contains(value) {
            throw XMLError(
                .encoding,
                "the XML declaration names encoding \(value) but the bytes are 8-bit; only UTF-8 (or UTF-16 with a BOM) is accepted",
                file: name)
        }
    }

    /// Checks bytes in memory; returns the encoding.
    @discardableResult
    public static func check(_ bytes: [UInt8], name: String, limits: XMLLimits) throws(XMLError) -> XMLDocumentEncoding
    {
        var scanner = XMLPrescanner(name: name, limits: limits)
        try scanner.feed(bytes[...])
        try scanner.finish()
        return scanner.encoding ?? .utf8
    }
}

/// The pre-scan fed chunk by chunk, so that a reader checks each chunk before libxml2 sees it
/// (one pass over the input): size limit, encoding, UTF-8 validity, DOCTYPE/ENTITY.
struct XMLPrescanner {
    let name: String
    let limits: XMLLimits
    private(set) var encoding: XMLDocumentEncoding?
    private var total: Int64 = 0
    private var validator = UTF8Validator()
    /// The last bytes of the previous chunk, so that a pattern split across chunks is found.
    private var carry: [UInt8] = []

    init(name: String, limits: XMLLimits) {
        self.name = name
        self.limits = limits
    }

    private var isUTF8: Bool { encoding == .utf8 || encoding == .utf8WithBOM }

    mutating func feed(_ bytes: ArraySlice<UInt8>) throws(XMLError) {
        guard !bytes.isEmpty else { return }
        total += Int64(bytes.count)
        if total > limits.maxBytes {
            throw XMLError(.tooLarge, "document is larger than \(limits.maxBytes) bytes", file: name)
        }
        if encoding == nil {
            let enc = try XMLPrescan.encoding(of: bytes, name: name)
            if enc == .utf8 || enc == .utf8WithBOM { try XMLPrescan.checkDeclaration(bytes.prefix(256), name: name) }
            encoding = enc
        }
        if isUTF8 {
            validator.feed(bytes)
            if !validator.valid {
                throw XMLError(.encoding, "document is not valid UTF-8 (around byte \(total))", file: name)
            }
        }
        if XMLPrescan.scan(bytes) || (!carry.isEmpty && XMLPrescan.scan((carry + bytes.prefix(31))[...])) {
            throw XMLError(
                .doctype,
                "document declares a DOCTYPE or ENTITY; refused (external entities and entity expansion are never processed)",
                file: name)
        }
        carry = Array(bytes.suffix(31))
    }

    func finish() throws(XMLError) {
        if isUTF8 && !validator.complete {
            throw XMLError(.encoding, "document is not valid UTF-8 (it ends inside a character)", file: name)
        }
    }
}

/// The events of one fed chunk, written by libxml2's SAX2 callbacks. Names are pointers into the
/// parser's dictionary (stable for the parser's life); text and attribute values are copied into
/// `bytes`, so the chunk's input buffer can go.
@safe private struct SAXState {
    @safe struct Event {
        var kind: XMLCursorKind
        var name: UnsafeRawPointer?
        var namespace: UnsafeRawPointer?
        var line: Int
        /// Text: byte range in `bytes`. Start: attribute range in `attributes`.
        var start: Int
        var count: Int
    }
    @safe struct Attribute {
        var name: UnsafeRawPointer?
        var namespace: UnsafeRawPointer?
        var start: Int
        var count: Int
    }
    var events: [Event] = []
    var bytes: [UInt8] = []
    var attributes: [Attribute] = []
    /// The first error libxml2 reported, or a limit this reader enforces.
    var failure: (code: XMLError.Code, message: String, line: Int?)?
    var depth = 0
    var textRun = 0
    let limits: XMLLimits
    var context: xmlParserCtxtPtr?
    /// The reader's position in `events`, and whether the input is used up.
    var cursor = -1
    var ended = false

    init(limits: XMLLimits) { self.limits = limits }

    var line: Int { unsafe context.map { Int(unsafe xmlSAX2GetLineNumber(UnsafeMutableRawPointer($0))) } ?? 0 }

    /// Records the first failure (at `line`, else the parser's line) and stops the parser.
    mutating func fail(_ code: XMLError.Code, _ message: String, line: Int? = nil) {
        if failure == nil { failure = (code, message, line ?? self.line) }
        if let c = unsafe context { unsafe xmlStopParser(c) }
    }

    mutating func reset() {
        events.removeAll(keepingCapacity: true)
        bytes.removeAll(keepingCapacity: true)
        attributes.removeAll(keepingCapacity: true)
    }
}

/// The SAX2 callbacks: plain C functions, the state passed as user data.
private enum SAXCallbacks {
    /// The state lives in manually allocated memory: no reference counting and no dynamic
    /// exclusivity checks on the hottest path of every XML import.
    static func state(_ ctx: UnsafeMutableRawPointer?) -> UnsafeMutablePointer<SAXState>? {
        unsafe ctx?.assumingMemoryBound(to: SAXState.self)
    }

    static func handler() -> xmlSAXHandler {
        var h = unsafe xmlSAXHandler()
        unsafe h.initialized = XML_SAX2_MAGIC
        unsafe h.startElementNs = { ctx, localname, _, uri, _, _, count, _, attributes in
            guard let b = unsafe SAXCallbacks.state(ctx), unsafe b.pointee.failure == nil else { return }
            unsafe b.pointee.depth += 1
            unsafe b.pointee.textRun = 0
            if unsafe b.pointee.depth > b.pointee.limits.maxDepth {
                return unsafe b.pointee.fail(.tooDeep, unsafe "elements nest deeper than \(b.pointee.limits.maxDepth)")
            }
            let first = unsafe b.pointee.attributes.count
            if let attributes = unsafe attributes {
                for i in 0..<Int(count) {
                    guard let start = unsafe attributes[5 * i + 3], let end = unsafe attributes[5 * i + 4] else {
                        continue
                    }
                    let n = unsafe end - start
                    if unsafe n > b.pointee.limits.maxTextLength {
                        return unsafe b.pointee.fail(
                            .textTooLong,
                            unsafe "an attribute value is longer than \(b.pointee.limits.maxTextLength) bytes")
                    }
                    let at = unsafe b.pointee.bytes.count
                    unsafe b.pointee.bytes.append(contentsOf: UnsafeBufferPointer(start: start, count: n))
                    unsafe b.pointee.attributes.append(
                        .init(
                            name: UnsafeRawPointer(attributes[5 * i]),
                            namespace: UnsafeRawPointer(attributes[5 * i + 2]), start: at, count: n))
                }
            }
            unsafe b.pointee.events.append(
                .init(
                    kind: .start, name: UnsafeRawPointer(localname), namespace: UnsafeRawPointer(uri),
                    line: b.pointee.line, start: first, count: b.pointee.attributes.count - first))
        }
        unsafe h.endElementNs = { ctx, localname, _, uri in
            guard let b = unsafe SAXCallbacks.state(ctx), unsafe b.pointee.failure == nil else { return }
            unsafe b.pointee.depth -= 1
            unsafe b.pointee.textRun = 0
            unsafe b.pointee.events.append(
                .init(
                    kind: .end, name: UnsafeRawPointer(localname), namespace: UnsafeRawPointer(uri), line: 0, start: 0,
                    count: 0))
        }
        unsafe h.characters = { ctx, chars, len in
            guard let b = unsafe SAXCallbacks.state(ctx), unsafe b.pointee.failure == nil, let chars = unsafe chars,
                len > 0
            else { return }
            let n = Int(len)
            unsafe b.pointee.textRun += n
            if unsafe b.pointee.textRun > b.pointee.limits.maxTextLength {
                return unsafe b.pointee.fail(
                    .textTooLong, unsafe "a text node is longer than \(b.pointee.limits.maxTextLength) bytes")
            }
            // Adjacent pieces of one text node become one event.
            if let last = unsafe b.pointee.events.last, last.kind == .text,
                unsafe last.start + last.count == b.pointee.bytes.count
            {
                unsafe b.pointee.events[b.pointee.events.count - 1].count += n
            } else {
                unsafe b.pointee.events.append(
                    .init(kind: .text, name: nil, namespace: nil, line: 0, start: b.pointee.bytes.count, count: n))
            }
            unsafe b.pointee.bytes.append(contentsOf: UnsafeBufferPointer(start: chars, count: n))
        }
        unsafe h.ignorableWhitespace = unsafe h.characters
        // Defence in depth: the pre-scan already refuses DOCTYPE and ENTITY.
        unsafe h.internalSubset = { ctx, _, _, _ in
            unsafe SAXCallbacks.state(ctx)?.pointee.fail(.doctype, "document declares a DOCTYPE; refused")
        }
        unsafe h.reference = { ctx, _ in
            unsafe SAXCallbacks.state(ctx)?.pointee.fail(.doctype, "document uses an entity reference; refused")
        }
        unsafe h.serror = { ctx, error in
            guard let b = unsafe SAXCallbacks.state(ctx), let error = unsafe error, unsafe b.pointee.failure == nil
            else { return }
            let msg = unsafe error.pointee.message.map { unsafe String(cString: $0) } ?? "XML error"
            unsafe b.pointee.fail(
                .malformed, "not well-formed XML: \(msg.trimmingCharacters())", line: Int(unsafe error.pointee.line))
        }
        return unsafe h
    }
}

/// Streaming XML reader over libxml2's SAX2 push parser, with `XML_PARSE_NONET` and never
/// NOENT, DTDLOAD, DTDATTR or HUGE; no entity is ever declared or expanded. Every byte is
/// pre-scanned before libxml2 sees it: DOCTYPE/ENTITY refused. Input is fed in 256 KiB chunks; a chunk's events are
/// delivered only when the chunk parsed cleanly. Results must be used only after ``next()``
/// returned nil (clean end of document).
@safe public final class XMLEventReader {
    @safe private enum Source {
        case file(gzFile)
        case memory(UnsafeMutableRawBufferPointer, offset: Int)
    }
    private var source: Source
    private let state: UnsafeMutablePointer<SAXState>
    private var context: xmlParserCtxtPtr?
    private var chunk: [UInt8]
    private var prescanner: XMLPrescanner?
    public let name: String
    public let limits: XMLLimits
    /// The byte encoding found by the pre-scan.
    public let encoding: XMLDocumentEncoding
    /// Names and namespace URIs come from libxml2's dictionary: the same name is the same
    /// pointer, so each is turned into a Swift string once.
    private var internKeys = unsafe [UnsafeRawPointer?](repeating: nil, count: 512)
    private var internValues = [String](repeating: "", count: 512)

    /// NONET and NOCDATA; NOBLANKS drops the white space between elements (never text content).
    static let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOCDATA.rawValue | XML_PARSE_NOBLANKS.rawValue)
    static let chunkSize = 256 << 10

    /// Opens a file (gzip-compressed files are read transparently).
    public init(path: String, limits: XMLLimits = XMLLimits()) throws(XMLError) {
        guard let gz = unsafe gzopen(path, "rb") else { throw XMLError(.io, "cannot open the file", file: path) }
        unsafe gzbuffer(gz, UInt32(Self.chunkSize))
        // The first chunk is pre-scanned before the parser exists: the encoding comes from it.
        var chunk = [UInt8](repeating: 0, count: Self.chunkSize)
        let n = unsafe chunk.withUnsafeMutableBytes { raw in unsafe gzread(gz, raw.baseAddress!, UInt32(raw.count)) }
        var scanner = XMLPrescanner(name: path, limits: limits)
        do throws(XMLError) {
            if n < 0 { throw XMLError(.io, "the file cannot be read (corrupt gzip?)", file: path) }
            try scanner.feed(chunk[0..<Int(n)])
            if n == 0 { try scanner.finish() }
        } catch {
            unsafe gzclose(gz)
            throw error
        }
        self.encoding = scanner.encoding ?? .utf8
        self.prescanner = scanner
        unsafe self.source = .file(gz)
        self.name = path
        self.limits = limits
        unsafe self.state = UnsafeMutablePointer<SAXState>.allocate(capacity: 1)
        unsafe state.initialize(to: SAXState(limits: limits))
        self.chunk = chunk
        unsafe try begin(
            unsafe chunk.withUnsafeBytes { raw in
                unsafe start(
                    UnsafeBufferPointer(start: raw.baseAddress!.assumingMemoryBound(to: CChar.self), count: Int(n)))
            })
    }

    /// Reads a document from memory; `name` is used in errors.
    public init(bytes: [UInt8], name: String, limits: XMLLimits = XMLLimits()) throws(XMLError) {
        self.encoding = try XMLPrescan.check(bytes, name: name, limits: limits)
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(1, bytes.count), alignment: 1)
        unsafe bytes.withUnsafeBytes { unsafe copy.copyMemory(from: $0) }
        unsafe self.source = .memory(UnsafeMutableRawBufferPointer(rebasing: copy[0..<bytes.count]), offset: 0)
        self.name = name
        self.limits = limits
        unsafe self.state = UnsafeMutablePointer<SAXState>.allocate(capacity: 1)
        unsafe state.initialize(to: SAXState(limits: limits))
        self.chunk = []
        self.prescanner = nil
        unsafe try begin(try withNextBytes(max: Self.chunkSize) { unsafe start($0) })
    }

    /// Creates the push parser on the first chunk (libxml2 detects the encoding from its first
    /// four bytes) and parses the rest of that chunk.
    private func start(_ first: UnsafeBufferPointer<CChar>) -> xmlParserCtxtPtr? {
        var handler = unsafe SAXCallbacks.handler()
        guard
            let ctxt = unsafe xmlCreatePushParserCtxt(
                &handler, UnsafeMutableRawPointer(state), first.baseAddress, Int32(Swift.min(4, first.count)), name)
        else { return nil }
        unsafe xmlCtxtUseOptions(ctxt, Self.options)
        unsafe state.pointee.context = unsafe ctxt
        if first.count > 4 { unsafe xmlParseChunk(ctxt, first.baseAddress! + 4, Int32(first.count - 4), 0) }
        return unsafe ctxt
    }

    /// Keeps the parser `start` made, or throws what stopped it.
    private func begin(_ ctxt: xmlParserCtxtPtr?) throws(XMLError) {
        guard let ctxt = unsafe ctxt else { throw XMLError(.malformed, "libxml2 could not start reading", file: name) }
        unsafe self.context = unsafe ctxt
        unsafe try check(ctxt)
    }

    /// Calls `body` with up to `max` bytes from the source (empty at its end), without copying.
    private func withNextBytes<R>(max: Int, _ body: (UnsafeBufferPointer<CChar>) -> R) throws(XMLError) -> R {
        switch source {
        case .file(let gz):
            let n = Int(
                unsafe chunk.withUnsafeMutableBytes { raw in
                    unsafe gzread(gz, raw.baseAddress!, UInt32(Swift.min(max, raw.count)))
                })
            if n < 0 { throw XMLError(.io, "the file cannot be read (corrupt gzip?)", file: name) }
            // Each chunk is pre-scanned before libxml2 sees it.
            if n == 0 { try prescanner?.finish() } else { try prescanner?.feed(chunk[0..<n]) }
            return unsafe chunk.withUnsafeBytes { raw in
                unsafe body(UnsafeBufferPointer(start: raw.baseAddress!.assumingMemoryBound(to: CChar.self), count: n))
            }
        case .memory(let m, let offset):
            let n = Swift.min(max, m.count - offset)
            unsafe source = .memory(m, offset: offset + n)
            return unsafe body(
                UnsafeBufferPointer(
                    start: m.baseAddress.map { unsafe ($0 + offset).assumingMemoryBound(to: CChar.self) }, count: n))
        }
    }

    /// Feeds one chunk (or the end) to the parser.
    private func feed() throws(XMLError) {
        guard let ctxt = unsafe context else { return }
        unsafe state.pointee.reset()
        unsafe state.pointee.cursor = 0
        let (rc, empty) = try unsafe withNextBytes(max: Self.chunkSize) { c in
            (unsafe xmlParseChunk(ctxt, c.baseAddress, Int32(c.count), c.isEmpty ? 1 : 0), c.isEmpty)
        }
        if empty { unsafe state.pointee.ended = true }
        unsafe try check(ctxt, rc)
    }

    /// Throws the first failure of the chunks fed so far.
    private func check(_ ctxt: xmlParserCtxtPtr, _ rc: Int32 = 0) throws(XMLError) {
        if let f = unsafe state.pointee.failure { throw XMLError(f.code, f.message, file: name, line: f.line) }
        if unsafe rc != 0 || ctxt.pointee.wellFormed == 0 {
            throw unsafe XMLError(.malformed, "not well-formed XML: parse error", file: name, line: state.pointee.line)
        }
        if unsafe state.pointee.ended && state.pointee.depth != 0 {
            throw unsafe XMLError(
                .malformed, "not well-formed XML: the document ended inside an element", file: name,
                line: state.pointee.line)
        }
    }

    deinit {
        if let c = unsafe context {
            if let doc = unsafe c.pointee.myDoc { unsafe xmlFreeDoc(doc) }
            unsafe xmlFreeParserCtxt(c)
        }
        unsafe state.deinitialize(count: 1)
        unsafe state.deallocate()
        switch source {
        case .file(let gz): unsafe gzclose(gz)
        case .memory(let m, _): unsafe m.deallocate()
        }
    }

    private func name(_ p: UnsafeRawPointer?) -> String? {
        guard let key = unsafe p else { return nil }
        // Names live in the parser's dictionary until the parser is freed, so the pointer
        // identifies the string for the reader's lifetime.
        let slot = Int(truncatingIfNeeded: UInt(bitPattern: Int(bitPattern: key)) >> 4) & 511
        if unsafe internKeys[slot] == key { return internValues[slot] }
        let s = unsafe String(cString: key.assumingMemoryBound(to: CChar.self))
        unsafe internKeys[slot] = key
        internValues[slot] = s
        return s
    }

    private var current: SAXState.Event? {
        unsafe state.pointee.cursor >= 0 && state.pointee.cursor < state.pointee.events.count
            ? state.pointee.events[state.pointee.cursor] : nil
    }

    /// Line of the current element start (the parser's line otherwise).
    public var line: Int {
        if let e = current, e.kind != .text { return e.line }
        return unsafe state.pointee.line
    }

    /// The next event, or nil at a clean end of document.
    /// - Throws: `XMLError` on any parse error or limit.
    public func next() throws(XMLError) -> XMLEvent? {
        guard let kind = try advance() else { return nil }
        switch kind {
        case .start:
            return .start(localName: localName, namespace: namespace, attributes: try attributes(), line: line)
        case .end:
            return .end(localName: localName, namespace: namespace)
        case .text:
            return .text(try text())
        }
    }

    // MARK: Cursor
    //
    // The allocation-free layer under `next()`, for hot streaming readers (lab imports): names
    // compare as interned tokens, and only the strings the caller asks for are made.

    /// Moves to the next element start, element end or text node; nil at a clean end of
    /// document. An empty element (`<a/>`) yields `.start` then `.end`. Text may come in more
    /// than one `.text` event; concatenate them.
    /// - Throws: `XMLError` on any parse error or limit.
    public func advance() throws(XMLError) -> XMLCursorKind? {
        unsafe state.pointee.cursor += 1
        while unsafe state.pointee.cursor >= state.pointee.events.count {
            if unsafe state.pointee.ended { return nil }
            try feed()
        }
        return unsafe state.pointee.events[state.pointee.cursor].kind
    }

    /// The token of a name in this reader's dictionary: equal to ``localNameToken`` or
    /// ``namespaceToken`` exactly when the names are equal.
    public func token(_ string: String) -> XMLNameToken {
        guard let c = unsafe context else { return unsafe XMLNameToken(raw: nil) }
        return unsafe XMLNameToken(raw: UnsafeRawPointer(xmlDictLookup(c.pointee.dict, string, -1)))
    }

    /// The current element's local name as a token (after `.start` or `.end`).
    public var localNameToken: XMLNameToken { unsafe XMLNameToken(raw: current?.name) }

    /// The current element's namespace URI as a token (nil token when it has none).
    public var namespaceToken: XMLNameToken { unsafe XMLNameToken(raw: current?.namespace) }

    /// The current element's local name.
    public var localName: String { unsafe name(current?.name) ?? "" }

    /// The current element's namespace URI.
    public var namespace: String? { unsafe name(current?.namespace) }

    /// The current text node's content.
    public func text() throws(XMLError) -> String {
        guard let e = current, e.kind == .text else { return "" }
        return string(e.start, e.count)
    }

    private func string(_ start: Int, _ count: Int) -> String {
        unsafe state.pointee.bytes.withUnsafeBufferPointer {
            unsafe String(decoding: UnsafeBufferPointer(rebasing: $0[start..<(start + count)]), as: UTF8.self)
        }
    }

    /// An attribute value. libxml2's SAX2 keeps `&` (from `&amp;` or `&#38;`) as the character
    /// reference `&#38;` in attribute values when entities are not substituted (and they never
    /// are here); this turns it back into `&`.
    private func attributeString(_ start: Int, _ count: Int) -> String {
        let s = string(start, count)
        guard s.utf8.contains(UInt8(ascii: "&")) else { return s }
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        let u = Array(s.utf8)
        var i = 0
        while i < u.count {
            if u[i] == UInt8(ascii: "&"), i + 4 < u.count, u[i + 1] == UInt8(ascii: "#"), u[i + 2] == UInt8(ascii: "3"),
                u[i + 3] == UInt8(ascii: "8"),
                u[i + 4] == UInt8(ascii: ";")
            {
                out.append(UInt8(ascii: "&"))
                i += 5
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value of the current element's attribute with this local name and no namespace.
    public func attribute(_ token: XMLNameToken) throws(XMLError) -> String? {
        guard let e = current, e.kind == .start else { return nil }
        for i in e.start..<(e.start + e.count) {
            let a = unsafe state.pointee.attributes[i]
            if unsafe a.namespace == nil && a.name == token.raw { return attributeString(a.start, a.count) }
        }
        return nil
    }

    /// The current element's attributes (namespace declarations are not attributes).
    public func attributes() throws(XMLError) -> [XMLAttribute] {
        guard let e = current, e.kind == .start, e.count > 0 else { return [] }
        var result: [XMLAttribute] = []
        result.reserveCapacity(e.count)
        for i in e.start..<(e.start + e.count) {
            let a = unsafe state.pointee.attributes[i]
            unsafe result.append(
                XMLAttribute(
                    localName: name(a.name) ?? "", namespace: name(a.namespace),
                    value: attributeString(a.start, a.count)))
        }
        return result
    }
}

/// A name interned in one reader's dictionary; compare only tokens of the same reader.
@safe public struct XMLNameToken: Equatable {
    let raw: UnsafeRawPointer?
    public static func == (a: XMLNameToken, b: XMLNameToken) -> Bool { unsafe a.raw == b.raw }
}

/// What ``XMLEventReader/advance()`` moved to.
public enum XMLCursorKind: Sendable, Hashable {
    case start, end, text
}

/// A small element tree built from the streaming reader, for documents that are read whole
/// (Gating-ML strategies, FlowJo workspaces).
public struct XMLNode: Sendable, Hashable {
    public var localName: String
    public var namespace: String?
    public var attributes: [XMLAttribute]
    public var children: [XMLNode]
    /// Concatenated direct text content.
    public var text: String
    public var line: Int

    public init(
        localName: String, namespace: String?, attributes: [XMLAttribute], children: [XMLNode], text: String, line: Int
    ) {
        self.localName = localName
        self.namespace = namespace
        self.attributes = attributes
        self.children = children
        self.text = text
        self.line = line
    }

    /// The value of the attribute with this local name (and namespace, when given).
    public func attribute(_ localName: String, namespace: String? = nil) -> String? {
        attributes.first { $0.localName == localName && (namespace == nil || $0.namespace == namespace) }?.value
    }

    /// Direct children with this local name (and namespace, when given).
    public func children(_ localName: String, namespace: String? = nil) -> [XMLNode] {
        children.filter { $0.localName == localName && (namespace == nil || $0.namespace == namespace) }
    }

    public func child(_ localName: String, namespace: String? = nil) -> XMLNode? {
        children.first { $0.localName == localName && (namespace == nil || $0.namespace == namespace) }
    }

    /// Parses a whole document into a tree. At most `maxNodes` elements.
    public static func parse(_ reader: XMLEventReader, maxNodes: Int = 1_000_000) throws(XMLError) -> XMLNode {
        var stack: [XMLNode] = []
        var root: XMLNode?
        var count = 0
        while let event = try reader.next() {
            switch event {
            case .start(let name, let ns, let attrs, let line):
                count += 1
                if count > maxNodes {
                    throw XMLError(.tooLarge, "more than \(maxNodes) elements", file: reader.name, line: line)
                }
                stack.append(
                    XMLNode(localName: name, namespace: ns, attributes: attrs, children: [], text: "", line: line))
            case .end:
                let node = stack.removeLast()
                if stack.isEmpty { root = node } else { stack[stack.count - 1].children.append(node) }
            case .text(let t):
                if !stack.isEmpty { stack[stack.count - 1].text += t }
            }
        }
        guard let root else { throw XMLError(.malformed, "the document has no root element", file: reader.name) }
        return root
    }
}

extension String {
    /// The string without leading and trailing white space.
    package func trimmingCharacters() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
