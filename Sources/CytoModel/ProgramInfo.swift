/// Identity of this build, recorded with every stored result for provenance.
public enum ProgramInfo {
    public static let name = "cytoingest"
    public static let version = "0.1.0"
}
