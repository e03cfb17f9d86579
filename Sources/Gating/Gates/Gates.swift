/// Which compensation a dimension uses (Gating-ML `compensation-ref`).
public enum CompensationSource: Sendable, Hashable, CustomStringConvertible {
    /// `uncompensated`.
    case none
    /// `FCS`: the data file's own `$SPILLOVER`/`SPILL` (no matrix: values as measured).
    case acquisitionSpillover
    /// A `spectrumMatrix` of the strategy, by id.
    case matrix(String)

    public init(reference: String) {
        switch reference {
        case "uncompensated": self = .none
        case "FCS": self = .acquisitionSpillover
        default: self = .matrix(reference)
        }
    }

    public var description: String {
        switch self {
        case .none: "uncompensated"
        case .acquisitionSpillover: "FCS"
        case .matrix(let id): id
        }
    }
}

/// What a gate dimension measures: a channel (or compensated fluorochrome), or a ratio of two.
public enum DimensionSource: Sendable, Hashable, CustomStringConvertible {
    /// `fcs-dimension`: a `$PnN`, or a fluorochrome of the dimension's matrix.
    case channel(String)
    /// `new-dimension`: a `fratio` transformation, by id.
    case ratio(String)

    public var description: String {
        switch self {
        case .channel(let n): n
        case .ratio(let id): "ratio:\(id)"
        }
    }
}

/// One axis of a gate: source, compensation, optional transformation, and for rectangles
/// the half-open range `min <= x < max` (nil = an infinite bound, so -inf is inside an open
/// low end, +inf outside an open high end, NaN never inside).
public struct Dimension: Sendable, Hashable {
    public var source: DimensionSource
    public var compensation: CompensationSource
    /// `transformation-ref`, by id.
    public var transformation: String?
    public var min: Double?
    public var max: Double?

    public init(
        _ source: DimensionSource, compensation: CompensationSource = .none, transformation: String? = nil,
        min: Double? = nil, max: Double? = nil
    ) {
        self.source = source
        self.compensation = compensation
        self.transformation = transformation
        self.min = min
        self.max = max
    }
}

/// A quadrant divider: one dimension cut at one or more values.
public struct Divider: Sendable, Hashable {
    public var id: String
    public var dimension: Dimension
    /// Cut points, ascending.
    public var values: [Double]

    public init(id: String, dimension: Dimension, values: [Double]) {
        self.id = id
        self.dimension = dimension
        self.values = values.sorted()
    }

    /// The interval index (0 ... values.count) that holds `x`: values[i-1] <= x < values[i].
    public func interval(of x: Double) -> Int {
        var i = 0
        while i < values.count && x >= values[i] { i += 1 }
        return i
    }
}

/// The geometry and logic of a gate.
public enum GateKind: Sendable, Hashable {
    /// n-D rectangle (1-D: a range). Each dimension `min <= x < max`.
    case rectangle([Dimension])
    /// 2-D polygon, even-odd rule, points on an edge or vertex inside.
    case polygon([Dimension], vertices: [[Double]])
    /// n-D ellipsoid `(x - mean)' covariance^-1 (x - mean) <= distanceSquare`.
    case ellipsoid([Dimension], mean: [Double], covariance: [[Double]], distanceSquare: Double)
    /// One quadrant of a `QuadrantGate`: for each listed divider, the interval holding the
    /// quadrant's location. Dividers not listed do not constrain.
    case quadrant(dividers: [Divider], positions: [String: Double])
    case and([GateReference])
    case or([GateReference])
    case not(GateReference)
}

/// An operand of a boolean gate.
public struct GateReference: Sendable, Hashable {
    public var id: String
    /// `use-as-complement`.
    public var complement: Bool
    public init(_ id: String, complement: Bool = false) {
        self.id = id
        self.complement = complement
    }
}

/// A gate of a strategy. Its identity is its id and its parent path (`GateID`).
public struct Gate: Sendable, Hashable {
    public var id: String
    /// `parent_id`: membership is restricted to the parent's.
    public var parentID: String?
    public var kind: GateKind
    /// For quadrants: the id of their `QuadrantGate`.
    public var quadrantGateID: String?

    public init(id: String, parentID: String? = nil, kind: GateKind, quadrantGateID: String? = nil) {
        self.id = id
        self.parentID = parentID
        self.kind = kind
        self.quadrantGateID = quadrantGateID
    }

    /// The dimensions the gate reads (none for booleans).
    public var dimensions: [Dimension] {
        switch kind {
        case .rectangle(let d), .polygon(let d, _), .ellipsoid(let d, _, _, _): d
        case .quadrant(let dividers, let positions): dividers.filter { positions[$0.id] != nil }.map(\.dimension)
        case .and, .or, .not: []
        }
    }

    /// Gates this one depends on (parent and boolean operands).
    public var dependencies: [String] {
        var out: [String] = parentID.map { [$0] } ?? []
        switch kind {
        case .and(let refs), .or(let refs): out += refs.map(\.id)
        case .not(let r): out.append(r.id)
        default: break
        }
        return out
    }
}

/// A gate's identity: its id and the ids of its ancestors (root first).
public struct GateID: Sendable, Hashable, CustomStringConvertible, Codable {
    public var name: String
    public var parentPath: [String]
    public init(name: String, parentPath: [String]) {
        self.name = name
        self.parentPath = parentPath
    }
    /// `/root/.../name`.
    public var description: String { "/" + (parentPath + [name]).joined(separator: "/") }
}

/// A gating strategy: transformations, compensation matrices and gates (Gating-ML 2.0 model).
public struct GatingStrategy: Sendable, Hashable {
    public var transformations: [String: Transformation]
    public var matrices: [String: SpilloverMatrix]
    /// Gates in document order.
    public var gates: [Gate]

    public init(
        transformations: [String: Transformation] = [:], matrices: [String: SpilloverMatrix] = [:], gates: [Gate] = []
    ) {
        self.transformations = transformations
        self.matrices = matrices
        self.gates = gates
    }

    public func gate(_ id: String) -> Gate? { gates.first { $0.id == id } }

    /// The gate's identity (id and ancestor path).
    public func gateID(_ id: String) -> GateID {
        var path: [String] = []
        var current = gate(id)?.parentID
        var guardCount = 0
        while let p = current, guardCount < gates.count {
            path.insert(p, at: 0)
            current = gate(p)?.parentID
            guardCount += 1
        }
        return GateID(name: id, parentPath: path)
    }
}
