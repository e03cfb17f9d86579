/// The one error type of the Gating module.
public struct GatingError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A Gating-ML element or attribute is unknown, missing or malformed.
        public static let badGatingML = Code(rawValue: "bad_gating_ml")
        /// The XML itself was refused or is not well-formed.
        public static let xml = Code(rawValue: "xml")
        /// A gate, transformation or matrix id is referenced but not defined.
        public static let unknownReference = Code(rawValue: "unknown_reference")
        /// The asked gate is not in the strategy.
        public static let gateNotFound = Code(rawValue: "gate_not_found")
        /// A dimension names a channel the data do not have.
        public static let unknownChannel = Code(rawValue: "unknown_channel")
        /// A compensation matrix cannot be inverted (or unmixed).
        public static let singularMatrix = Code(rawValue: "singular_matrix")
        /// Parents or boolean operands form a cycle.
        public static let cycle = Code(rawValue: "cycle")
        /// Transformation parameters out of their domain.
        public static let badTransform = Code(rawValue: "bad_transform")
        /// A gate's geometry is impossible (empty polygon, non-invertible covariance, ...).
        public static let badGate = Code(rawValue: "bad_gate")
        /// A FlowJo workspace element is unknown, missing or malformed.
        public static let badWorkspace = Code(rawValue: "bad_workspace")
    }

    public var code: Code
    public var message: String
    /// The Gating-ML element (or gate id) involved.
    public var element: String?
    /// The line in the Gating-ML file, when known.
    public var line: Int?
    public var file: String?

    public init(_ code: Code, _ message: String, element: String? = nil, line: Int? = nil, file: String? = nil) {
        self.code = code
        self.message = message
        self.element = element
        self.line = line
        self.file = file
    }

    public var description: String {
        var s = ""
        if let file { s += file + (line.map { ":\($0)" } ?? "") + ": " } else if let line { s += "line \(line): " }
        s += message
        s += " [\(code.rawValue)\(element.map { ", \($0)" } ?? "")]"
        return s
    }
}
