import CytoModel
import Foundation

/// The `labs` section of `pipeline.json`: mapping profiles and the FHIR patient system.
public struct LabsConfiguration: Sendable, Codable {
    /// FHIR `Patient.identifier` system of the study subject id.
    public var patientIdentifierSystem: String?
    public var profiles: [MappingProfile] = []

    public init() {}

}
