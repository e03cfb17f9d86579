// C interop with libxml2 (xmlTextReader) and zlib (gzread for the pre-scan). Every XML input of
// CytoIngest (Gating-ML, lab XML, FlowJo workspaces) goes through this file.
@preconcurrency @unsafe import CLibXML2
import CZlib

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
/// documents over the size limit, by scanning the raw (decompressed) bytes before any parsing.
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
        // Every pattern starts with '<' then '!' (or '<', 0, '!' in UTF-16 LE; 0, '<', 0, '!' in BE).
        let end = chunk.endIndex
        return unsafe chunk.withUnsafeBytes { raw -> Bool in
            let base = chunk.startIndex
            var i = 0
            let n = raw.count
            while i + 1 < n {
                let b = unsafe raw[i]
                // '!' must follow within two bytes; most '<' are element tags.
                if b == 0x3C || b == 0 {
                    let next = unsafe raw[i + 1]
                    let after = i + 2 < n ? unsafe raw[i + 2] : 0
                    if next == 0x21 || after == 0x21 || next == 0x3C {
                        let at = base + i
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
            throw XMLError(.encoding, "document looks like UTF-16 or UTF-32 without a byte-order mark; only UTF-8, or UTF-16 with a BOM, is accepted", file: name)
        }
        return .utf8
    }

    /// The declared encoding of an 8-bit document must be UTF-8 (or ASCII) when present.
    static func checkDeclaration(_ head: ArraySlice<UInt8>, name: String) throws(XMLError) {
        guard head.starts(with: Array("<?xml".utf8)) || head.dropFirst(3).starts(with: Array("<?xml".utf8)) else { return }
        let text = String(decoding: head.prefix(200), as: UTF8.self)
        guard let end = text.firstRange(of: "?>"), let r = text[..<end.lowerBound].firstRange(of: "encoding") else { return }
        let after = text[r.upperBound..<end.lowerBound].drop { $0 == " " || $0 == "=" }
        guard let quote = after.first, quote == "\"" || quote == "'" else { return }
        let value = after.dropFirst().prefix { $0 != quote }.lowercased()
        if !["utf-8", "utf8", "us-ascii", "ascii"].contains(value) {
            throw XMLError(.encoding, "the XML declaration names encoding \(value) but the bytes are 8-bit; only UTF-8 (or UTF-16 with a BOM) is accepted", file: name)
        }
    }

    /// Checks bytes in memory; returns the encoding.
    @discardableResult
    public static func check(_ bytes: [UInt8], name: String, limits: XMLLimits) throws(XMLError) -> XMLDocumentEncoding {
        if Int64(bytes.count) > limits.maxBytes {
            throw XMLError(.tooLarge, "document is larger than \(limits.maxBytes) bytes", file: name)
        }
        let enc = try encoding(of: bytes.prefix(4), name: name)
        if enc == .utf8 || enc == .utf8WithBOM {
            try checkDeclaration(bytes.prefix(256), name: name)
            var v = UTF8Validator()
            v.feed(bytes[...])
            if !v.complete { throw XMLError(.encoding, "document is not valid UTF-8", file: name) }
        }
        if scan(bytes[...]) {
            throw XMLError(.doctype, "document declares a DOCTYPE or ENTITY; refused (external entities and entity expansion are never processed)", file: name)
        }
        return enc
    }

    /// Checks a file (plain or gzip-compressed) in 1 MiB chunks; returns the encoding.
    @discardableResult
    public static func check(path: String, limits: XMLLimits) throws(XMLError) -> XMLDocumentEncoding {
        guard let gz = unsafe gzopen(path, "rb") else {
            throw XMLError(.io, "cannot open the file", file: path)
        }
        defer { unsafe gzclose(gz) }
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk + 32)
        var carry = 0
        var total: Int64 = 0
        var encoding: XMLDocumentEncoding? = nil
        var validator = UTF8Validator()
        while true {
            let n = unsafe buffer.withUnsafeMutableBytes { raw in
                unsafe gzread(gz, raw.baseAddress! + carry, UInt32(chunk))
            }
            if n < 0 { throw XMLError(.io, "the file cannot be read (corrupt gzip?)", file: path) }
            if n == 0 { break }
            total += Int64(n)
            if total > limits.maxBytes {
                throw XMLError(.tooLarge, "document is larger than \(limits.maxBytes) bytes", file: path)
            }
            let end = carry + Int(n)
            if encoding == nil {
                let enc = try Self.encoding(of: buffer[0..<end], name: path)
                if enc == .utf8 || enc == .utf8WithBOM { try checkDeclaration(buffer[0..<min(end, 256)], name: path) }
                encoding = enc
            }
            if encoding == .utf8 || encoding == .utf8WithBOM {
                validator.feed(buffer[carry..<end])
                if !validator.valid { throw XMLError(.encoding, "document is not valid UTF-8 (around byte \(total))", file: path) }
            }
            if scan(buffer[0..<end]) {
                throw XMLError(.doctype, "document declares a DOCTYPE or ENTITY; refused (external entities and entity expansion are never processed)", file: path)
            }
            // Keep the last 31 bytes so a pattern split across chunks is still found.
            carry = Swift.min(31, end)
            for k in 0..<carry { buffer[k] = buffer[end - carry + k] }
        }
        if (encoding == .utf8 || encoding == .utf8WithBOM) && !validator.complete {
            throw XMLError(.encoding, "document is not valid UTF-8 (it ends inside a character)", file: path)
        }
        return encoding ?? .utf8
    }
}

/// Collects the first error libxml2 reports; any error or warning fails the document.
private final class ErrorSink {
    var first: (message: String, line: Int)?
}

/// Streaming XML reader over libxml2's `xmlTextReader`, with `XML_PARSE_NONET` and never
/// NOENT, DTDLOAD, DTDATTR or HUGE. The document is pre-scanned: DOCTYPE/ENTITY refused.
/// Results must be used only after ``next()`` returned nil (clean end of document).
@safe public final class XMLEventReader {
    private let reader: OpaquePointer
    private let sink = ErrorSink()
    private let sinkRef: Unmanaged<ErrorSink>
    private let memory: UnsafeMutableRawBufferPointer?
    public let name: String
    public let limits: XMLLimits
    /// The byte encoding found by the pre-scan.
    public let encoding: XMLDocumentEncoding
    private var pendingEnd = false
    /// Names and namespace URIs come from libxml2's dictionary: the same name is the same
    /// pointer, so each is turned into a Swift string once.
    private var internKeys = unsafe [UnsafeRawPointer?](repeating: nil, count: 512)
    private var internValues = [String](repeating: "", count: 512)
    private var depth = 0
    private var finished = false

    /// NONET and NOCDATA; NOBLANKS drops the white space between elements (never text content).
    static let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOCDATA.rawValue | XML_PARSE_NOBLANKS.rawValue)

    /// Opens a file (gzip-compressed files are read transparently).
    public init(path: String, limits: XMLLimits = XMLLimits()) throws(XMLError) {
        self.encoding = try XMLPrescan.check(path: path, limits: limits)
        guard let r = unsafe xmlReaderForFile(path, nil, Self.options) else {
            throw XMLError(.io, "cannot open the file", file: path)
        }
        unsafe self.reader = unsafe r
        unsafe self.memory = nil
        self.name = path
        self.limits = limits
        unsafe self.sinkRef = unsafe Unmanaged.passRetained(sink)
        install()
    }

    /// Reads a document from memory; `name` is used in errors.
    public init(bytes: [UInt8], name: String, limits: XMLLimits = XMLLimits()) throws(XMLError) {
        self.encoding = try XMLPrescan.check(bytes, name: name, limits: limits)
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(1, bytes.count), alignment: 1)
        unsafe bytes.withUnsafeBytes { unsafe copy.copyMemory(from: $0) }
        guard let r = unsafe xmlReaderForMemory(copy.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(bytes.count), nil, nil, Self.options) else {
            unsafe copy.deallocate()
            throw XMLError(.malformed, "libxml2 could not start reading", file: name)
        }
        unsafe self.reader = unsafe r
        unsafe self.memory = unsafe copy
        self.name = name
        self.limits = limits
        unsafe self.sinkRef = unsafe Unmanaged.passRetained(sink)
        install()
    }

    private func install() {
        let handler: xmlStructuredErrorFunc = { ctx, error in
            guard let ctx = unsafe ctx, let error = unsafe error else { return }
            let sink = unsafe Unmanaged<ErrorSink>.fromOpaque(ctx).takeUnretainedValue()
            if sink.first == nil {
                let msg = unsafe error.pointee.message.map { unsafe String(cString: $0) } ?? "XML error"
                sink.first = (msg.trimmingCharacters(), Int(unsafe error.pointee.line))
            }
        }
        unsafe xmlTextReaderSetStructuredErrorHandler(reader, handler, sinkRef.toOpaque())
    }

    deinit {
        unsafe xmlFreeTextReader(reader)
        unsafe sinkRef.release()
        unsafe memory?.deallocate()
    }

    /// Line of the current node (the parser's line when the node has none).
    public var line: Int {
        if let node = unsafe xmlTextReaderCurrentNode(reader) {
            let l = unsafe xmlGetLineNo(node)
            if l > 0 { return Int(l) }
        }
        return Int(unsafe xmlTextReaderGetParserLineNumber(reader))
    }

    private func string(_ p: UnsafePointer<xmlChar>?) -> String? {
        guard let p = unsafe p else { return nil }
        return unsafe String(cString: p)
    }

    private func name(_ p: UnsafePointer<xmlChar>?) -> String? {
        guard let p = unsafe p else { return nil }
        let key = unsafe UnsafeRawPointer(p)
        // Names from xmlTextReaderConst* live in the reader's dictionary until the reader is
        // freed, so the pointer identifies the string for the reader's lifetime.
        let slot = Int(truncatingIfNeeded: UInt(bitPattern: Int(bitPattern: key)) >> 4) & 511
        if unsafe internKeys[slot] == key { return internValues[slot] }
        let s = unsafe String(cString: p)
        unsafe internKeys[slot] = key
        internValues[slot] = s
        return s
    }

    private func fail() throws(XMLError) -> Never {
        let e = sink.first
        throw XMLError(.malformed, "not well-formed XML: \(e?.message ?? "parse error")", file: name, line: e?.line ?? line)
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
    // The allocation-free layer under `next()`, for hot streaming readers (lab imports): the
    // reader stays on the current node, names compare as interned tokens, and only the strings
    // the caller asks for are made.

    /// Moves to the next element start, element end or text node; nil at a clean end of
    /// document. An empty element (`<a/>`) yields `.start` then `.end`.
    /// - Throws: `XMLError` on any parse error or limit.
    public func advance() throws(XMLError) -> XMLCursorKind? {
        if pendingEnd {
            pendingEnd = false
            depth -= 1
            return .end
        }
        if finished { return nil }
        while true {
            let rc = unsafe xmlTextReaderRead(reader)
            if sink.first != nil { try fail() }
            if rc < 0 { try fail() }
            if rc == 0 {
                finished = true
                if depth != 0 { try fail() }
                return nil
            }
            switch unsafe xmlTextReaderNodeType(reader) {
            case 1:  // element
                depth += 1
                if depth > limits.maxDepth {
                    throw XMLError(.tooDeep, "elements nest deeper than \(limits.maxDepth)", file: name, line: line)
                }
                pendingEnd = unsafe xmlTextReaderIsEmptyElement(reader) == 1
                return .start
            case 15:  // end element
                depth -= 1
                return .end
            case 3, 4, 13, 14:  // text, CDATA, whitespace, significant whitespace
                return .text
            case 10:  // DOCTYPE (the pre-scan already refuses it; defence in depth)
                throw XMLError(.doctype, "document declares a DOCTYPE; refused", file: name, line: line)
            case 5, 6:  // entity reference / entity: never expanded
                throw XMLError(.doctype, "document uses an entity reference; refused", file: name, line: line)
            default:
                continue  // comments, processing instructions, XML declaration
            }
        }
    }

    /// The token of a name in this reader's dictionary: equal to ``localNameToken`` or
    /// ``namespaceToken`` exactly when the names are equal.
    public func token(_ string: String) -> XMLNameToken {
        unsafe XMLNameToken(raw: UnsafeRawPointer(xmlTextReaderConstString(reader, string)))
    }

    /// The current element's local name as a token (after `.start` or `.end`).
    public var localNameToken: XMLNameToken {
        unsafe XMLNameToken(raw: UnsafeRawPointer(xmlTextReaderConstLocalName(reader)))
    }

    /// The current element's namespace URI as a token (nil token when it has none).
    public var namespaceToken: XMLNameToken {
        unsafe XMLNameToken(raw: UnsafeRawPointer(xmlTextReaderConstNamespaceUri(reader)))
    }

    /// The current element's local name.
    public var localName: String { unsafe name(unsafe xmlTextReaderConstLocalName(reader)) ?? "" }

    /// The current element's namespace URI.
    public var namespace: String? { unsafe name(unsafe xmlTextReaderConstNamespaceUri(reader)) }

    /// The current text node's content.
    /// - Throws: `XMLError.textTooLong` past ``XMLLimits/maxTextLength``.
    public func text() throws(XMLError) -> String {
        let value = unsafe string(unsafe xmlTextReaderConstValue(reader)) ?? ""
        if value.utf8.count > limits.maxTextLength {
            throw XMLError(.textTooLong, "a text node is longer than \(limits.maxTextLength) bytes", file: name, line: line)
        }
        return value
    }

    /// The value of the current element's attribute with this local name and no namespace.
    public func attribute(_ token: XMLNameToken) throws(XMLError) -> String? {
        guard unsafe xmlTextReaderHasAttributes(reader) == 1 else { return nil }
        defer { unsafe xmlTextReaderMoveToElement(reader) }
        while unsafe xmlTextReaderMoveToNextAttribute(reader) == 1 {
            guard unsafe xmlTextReaderConstNamespaceUri(reader) == nil, localNameToken == token else { continue }
            let value = unsafe string(unsafe xmlTextReaderConstValue(reader)) ?? ""
            if value.utf8.count > limits.maxTextLength {
                throw XMLError(.textTooLong, "an attribute value is longer than \(limits.maxTextLength) bytes", file: name, line: line)
            }
            return value
        }
        return nil
    }

    /// The current element's attributes (namespace declarations left out).
    public func attributes() throws(XMLError) -> [XMLAttribute] {
        var attributes: [XMLAttribute] = []
        guard unsafe xmlTextReaderHasAttributes(reader) == 1 else { return attributes }
        while unsafe xmlTextReaderMoveToNextAttribute(reader) == 1 {
            let ans = unsafe name(unsafe xmlTextReaderConstNamespaceUri(reader))
            if ans == "http://www.w3.org/2000/xmlns/" { continue }
            let value = unsafe string(unsafe xmlTextReaderConstValue(reader)) ?? ""
            if value.utf8.count > limits.maxTextLength {
                unsafe xmlTextReaderMoveToElement(reader)
                throw XMLError(.textTooLong, "an attribute value is longer than \(limits.maxTextLength) bytes", file: name, line: line)
            }
            unsafe attributes.append(XMLAttribute(localName: name(unsafe xmlTextReaderConstLocalName(reader)) ?? "", namespace: ans, value: value))
        }
        unsafe xmlTextReaderMoveToElement(reader)
        return attributes
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

    public init(localName: String, namespace: String?, attributes: [XMLAttribute], children: [XMLNode], text: String, line: Int) {
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
                stack.append(XMLNode(localName: name, namespace: ns, attributes: attrs, children: [], text: "", line: line))
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
