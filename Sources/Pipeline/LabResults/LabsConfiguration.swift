import Foundation

/// The `labs` section of `pipeline.json`: mapping profiles and the FHIR patient system.
public struct LabsConfiguration: Sendable, Codable {
    /// FHIR `Patient.identifier` system of the study subject id.
    public var patientIdentifierSystem: String?
    public var profiles: [MappingProfile] = []

    public init() {}


    /// Reads the `labs` section of a configuration file.
    public static func load(path: String) throws -> LabsConfiguration {
        struct File: Decodable { var labs: LabsConfiguration? }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONDecoder().decode(File.self, from: data).labs ?? LabsConfiguration()
    }
}
