import Foundation
import TestSupport
import Testing

@testable import Pipeline

/// The loader and `docs/pipeline.schema.json` agree: the same keys in every section, and every
/// shipped configuration passes both.
@Suite("Configuration schema")
struct SchemaTests {
    static func schema() throws -> [String: Any] {
        let data = try Data(contentsOf: Paths.repoRoot.appendingPathComponent("docs/pipeline.schema.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Object paths and their keys: from the schema, and from the loader's table.
    static func schemaKeys(_ node: [String: Any], _ path: String = "$", into out: inout [String: Set<String>]) {
        if let properties = node["properties"] as? [String: Any] {
            if node["additionalProperties"] as? Bool == false { out[path] = Set(properties.keys) }
            for (k, v) in properties {
                if let child = v as? [String: Any] { schemaKeys(child, path + "." + k, into: &out) }
            }
        }
        if let items = node["items"] as? [String: Any] { schemaKeys(items, path + "[]", into: &out) }
    }

    static func loaderKeys(_ spec: ConfigurationKeys, _ path: String = "$", into out: inout [String: Set<String>]) {
        switch spec {
        case .object(let keys):
            out[path] = Set(keys.keys)
            for (k, v) in keys { loaderKeys(v, path + "." + k, into: &out) }
        case .array(let element): loaderKeys(element, path + "[]", into: &out)
        case .map(let value): loaderKeys(value, path + ".*", into: &out)
        case .populations, .value: break
        }
    }

    @Test("every closed section of the schema has exactly the loader's keys")
    func keysAgree() throws {
        var fromSchema: [String: Set<String>] = [:], fromLoader: [String: Set<String>] = [:]
        Self.schemaKeys(try Self.schema(), into: &fromSchema)
        Self.loaderKeys(ConfigurationKeys.root, into: &fromLoader)
        #expect(fromSchema.count >= 10)
        for (path, keys) in fromSchema where !path.hasSuffix(".flowjo") {
            #expect(
                fromLoader[path] == keys, "\(path): schema \(keys.sorted()), loader \(fromLoader[path]?.sorted() ?? [])"
            )
        }
    }

    @Test("every shipped configuration loads strictly and validates against the schema")
    func shippedConfigurations() throws {
        let shipped = [
            Paths.repoRoot.appendingPathComponent("pipeline.json"),
            Paths.fixtures.appendingPathComponent("cohort/pipeline.json"),
        ]
        for url in shipped { _ = try PipelineConfiguration.load(path: url.path) }
        // The official JSON Schema validator, where Python's jsonschema is installed (CI installs it).
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = """
            import json, sys, jsonschema
            schema = json.load(open(sys.argv[1]))
            jsonschema.Draft202012Validator.check_schema(schema)
            for f in sys.argv[2:]:
                jsonschema.validate(json.load(open(f)), schema)
            """
        p.arguments =
            ["python3", "-c", script, Paths.repoRoot.appendingPathComponent("docs/pipeline.schema.json").path]
            + shipped.map(\.path)
        let err = Pipe()
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        if message.contains("No module named 'jsonschema'") {
            print("SchemaTests: Python's jsonschema is not installed; the schema validation part is skipped")
            return
        }
        #expect(p.terminationStatus == 0, "\(message)")
    }
}
