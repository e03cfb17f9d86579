import FCSParser

/// A spillover or spectrum matrix (Gating-ML 2.0 `spectrumMatrix`, FCS `$SPILLOVER`).
///
/// Rows are fluorochromes (sources), columns detectors: `matrix[f][d]` is the share of
/// fluorochrome `f` seen by detector `d`. When `invertedAlready` is true the matrix is the
/// compensation (unmixing) matrix itself, detectors x fluorochromes, and is used as given.
public struct SpilloverMatrix: Sendable, Hashable {
    /// The Gating-ML id, nil for the FCS file's matrix.
    public var id: String?
    /// Names of the compensated channels this matrix produces.
    public var fluorochromes: [String]
    /// Names of the measured channels it reads.
    public var detectors: [String]
    public var matrix: [[Double]]
    public var invertedAlready: Bool

    public init(
        id: String? = nil, fluorochromes: [String], detectors: [String], matrix: [[Double]],
        invertedAlready: Bool = false
    )
        throws(GatingError)
    {
        let rows = invertedAlready ? detectors.count : fluorochromes.count
        let cols = invertedAlready ? fluorochromes.count : detectors.count
        guard !fluorochromes.isEmpty, !detectors.isEmpty, matrix.count == rows, matrix.allSatisfy({ $0.count == cols })
        else {
            throw GatingError(
                .badGatingML,
                "spectrum matrix \(id ?? "") must be \(rows) x \(cols) (\(invertedAlready ? "detectors x fluorochromes" : "fluorochromes x detectors"))",
                element: id)
        }
        guard matrix.allSatisfy({ $0.allSatisfy(\.isFinite) }) else {
            throw GatingError(.badGatingML, "spectrum matrix \(id ?? "") has a non-finite coefficient", element: id)
        }
        guard fluorochromes.count <= detectors.count else {
            throw GatingError(
                .singularMatrix,
                "spectrum matrix \(id ?? "") has more fluorochromes than detectors; it cannot be unmixed", element: id)
        }
        self.id = id
        self.fluorochromes = fluorochromes
        self.detectors = detectors
        self.matrix = matrix
        self.invertedAlready = invertedAlready
    }

    /// The FCS file's square spillover matrix: compensated channels keep the detector names.
    public init(fcs: FCSSpillover) throws(GatingError) {
        try self.init(id: nil, fluorochromes: fcs.channels, detectors: fcs.channels, matrix: fcs.matrix)
    }

    /// The unmixing matrix `U`, detectors x fluorochromes, with compensated = observed x `U`
    /// (one row vector per event). Square: the inverse; non-square: the least-squares
    /// pseudo-inverse `S^T (S S^T)^-1`; `invertedAlready`: the matrix as given.
    /// - Throws: `GatingError.Code.singularMatrix`.
    public func unmixing() throws(GatingError) -> [[Double]] {
        if invertedAlready { return matrix }
        if fluorochromes.count == detectors.count {
            guard let inv = LinearAlgebra.inverse(matrix) else {
                throw GatingError(
                    .singularMatrix, "spillover matrix \(id ?? "from the FCS file") is singular and cannot be inverted",
                    element: id)
            }
            return inv
        }
        let t = LinearAlgebra.transpose(matrix)
        guard let inner = LinearAlgebra.inverse(LinearAlgebra.multiply(matrix, t)) else {
            throw GatingError(
                .singularMatrix, "spectrum matrix \(id ?? "") is rank-deficient; least-squares unmixing is impossible",
                element: id)
        }
        return LinearAlgebra.multiply(t, inner)
    }
}

/// A compensation ready to apply: the unmixing matrix of a `SpilloverMatrix`.
public struct Compensation: Sendable {
    public let spillover: SpilloverMatrix
    /// Detectors x fluorochromes.
    public let unmixing: [[Double]]

    public init(_ spillover: SpilloverMatrix) throws(GatingError) {
        self.spillover = spillover
        self.unmixing = try spillover.unmixing()
    }

    /// Compensates columns: `detectors` holds one column per detector (in
    /// `spillover.detectors` order), all of length `count`; returns one column per fluorochrome.
    public func apply(detectors: [ArraySlice<Double>], count: Int) -> [[Double]] {
        precondition(detectors.count == spillover.detectors.count && detectors.allSatisfy { $0.count >= count })
        return CompensationKernel.apply(columns: detectors, unmixing: unmixing, count: count)
    }
}
