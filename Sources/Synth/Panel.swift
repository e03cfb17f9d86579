/// The CD4/activation panel of the synthetic cohort: channels, fluorochromes, spillover and the
/// populations with their scatter and marker expression.
public enum Panel {
    /// Markers in file order after the three scatter channels; Time comes last.
    public static let markers = ["CD45", "CD3", "CD4", "CD8", "HLA-DR", "CD25"]
    /// BD-style detector names for the markers (`--naming detector`).
    public static let detectors = ["PerCP-Cy5-5-A", "FITC-A", "APC-A", "PE-A", "PE-Cy7-A", "V450-A"]
    public static let scatter = ["FSC-A", "FSC-H", "SSC-A"]

    /// $PnN of every channel for a naming scheme.
    public static func channelNames(naming: SynthOptions.Naming) -> [String] {
        scatter + (naming == .marker ? markers : detectors) + ["Time"]
    }

    /// The channel carrying `marker` under a naming scheme and layout.
    public static func channel(_ marker: String, naming: SynthOptions.Naming, alternate: Bool = false) -> String {
        guard let i = markers.firstIndex(of: marker) else { return marker }
        return naming == .marker ? markers[i] : detectors[fluorochrome(of: i, alternate: alternate)]
    }

    /// The alternate fluorochrome layout (`--layout alternate`): marker `m` (in `markers` order)
    /// is carried by fluorochrome/detector `alternateLayout[m]`.
    public static let alternateLayout = [5, 3, 1, 0, 2, 4]

    /// The fluorochrome (and detector) index carrying marker `m`.
    public static func fluorochrome(of m: Int, alternate: Bool) -> Int { alternate ? alternateLayout[m] : m }

    /// The marker carried by fluorochrome (and detector) `d`.
    public static func marker(onDetector d: Int, alternate: Bool) -> Int {
        alternate ? alternateLayout.firstIndex(of: d)! : d
    }

    /// Spillover: rows are fluorochromes (markers), columns detectors, both in `markers` order.
    public static let spillover: [[Double]] = [
        // CD45 PerCP-Cy5.5 into:  PerCP, FITC, APC, PE, PE-Cy7, V450
        [1, 0, 0.02, 0.01, 0.18, 0],
        // CD3 FITC
        [0.03, 1, 0, 0.16, 0.01, 0],
        // CD4 APC
        [0.04, 0, 1, 0, 0.02, 0],
        // CD8 PE
        [0.12, 0.01, 0, 1, 0.04, 0],
        // HLA-DR PE-Cy7
        [0.02, 0, 0.05, 0.02, 1, 0],
        // CD25 V450
        [0, 0.03, 0, 0, 0, 1],
    ]

    /// The second cytometer (`--instruments 2`): other detector names, another channel order
    /// (markers in `$PnS`) and its own spillover.
    public static let instrument2Detectors = ["BL3-A", "BL1-A", "RL1-A", "YL1-A", "YL4-A", "VL1-A"]
    /// Column order of instrument 2's markers (indices into `markers`).
    public static let instrument2Order = [5, 1, 0, 3, 4, 2]
    public static let instrument2Spillover: [[Double]] = [
        [1, 0, 0.04, 0.02, 0.12, 0],
        [0.05, 1, 0, 0.22, 0.02, 0.01],
        [0.02, 0, 1, 0, 0.06, 0],
        [0.09, 0.02, 0, 1, 0.08, 0],
        [0.04, 0, 0.09, 0.03, 1, 0],
        [0, 0.06, 0, 0, 0, 1],
    ]

    public static func spillover(instrument: Int) -> [[Double]] { instrument == 2 ? instrument2Spillover : spillover }

    /// Population labels (the per-event label files hold these codes).
    public enum Population: UInt8, CaseIterable, Sendable, Codable {
        case debris = 0
        case doublet = 1
        case bead = 2
        case cd4T = 3
        case cd4TCD25 = 4
        case cd8T = 5
        case cd8THLADR = 6
        case dnT = 7
        case bCell = 8
        case nkCell = 9
        case monocyte = 10
        case granulocyte = 11

        public var name: String {
            switch self {
            case .debris: "debris"
            case .doublet: "doublet"
            case .bead: "bead"
            case .cd4T: "CD4 T CD25-"
            case .cd4TCD25: "CD4 T CD25+"
            case .cd8T: "CD8 T HLA-DR-"
            case .cd8THLADR: "CD8 T HLA-DR+"
            case .dnT: "double-negative T"
            case .bCell: "B cell"
            case .nkCell: "NK cell"
            case .monocyte: "monocyte"
            case .granulocyte: "granulocyte"
            }
        }

        public var isLymphocyte: Bool { [.cd4T, .cd4TCD25, .cd8T, .cd8THLADR, .dnT, .bCell, .nkCell].contains(self) }
    }

    /// log10 of the positive intensity of each marker (0 = negative) per population, in
    /// `markers` order; negatives are background N(0, 60).
    static func expression(_ p: Population) -> [Double] {
        switch p {
        //                     CD45  CD3  CD4  CD8  HLA-DR CD25
        case .cd4T: [3.8, 3.6, 3.5, 0, 0, 0]
        case .cd4TCD25: [3.8, 3.6, 3.5, 0, 0, 3.1]
        case .cd8T: [3.85, 3.6, 0, 3.7, 0, 0]
        case .cd8THLADR: [3.85, 3.6, 0, 3.7, 3.3, 0]
        case .dnT: [3.8, 3.5, 0, 0, 0, 0]
        case .bCell: [3.7, 0, 0, 0, 3.6, 0]
        case .nkCell: [3.6, 0, 0, 2.6, 0, 0]
        case .monocyte: [3.45, 0, 2.7, 0, 3.5, 0]
        case .granulocyte: [3.0, 0, 0, 0, 0, 0]
        case .debris: [1.5, 0, 0, 0, 0, 0]
        case .bead: [4.8, 4.8, 4.8, 4.8, 4.8, 4.8]
        case .doublet: []
        }
    }

    /// Scatter: FSC-A mean/sd, SSC-A mean/sd.
    static func scatter(_ p: Population) -> (fsc: Double, fscSD: Double, ssc: Double, sscSD: Double) {
        switch p {
        case .cd4T, .cd4TCD25, .cd8T, .cd8THLADR, .dnT, .bCell, .nkCell: (52000, 6000, 12000, 2500)
        case .monocyte: (85000, 9000, 46000, 6000)
        case .granulocyte: (95000, 11000, 115000, 18000)
        case .debris: (9000, 5000, 6000, 4000)
        case .bead: (30000, 1500, 62000, 2500)
        case .doublet: (0, 0, 0, 0)
        }
    }
}
