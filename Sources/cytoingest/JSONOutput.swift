import Foundation

/// The commands' JSON: pretty-printed, sorted keys, slashes as they are; optionally NaN and
/// infinities as the strings "nan", "inf", "-inf".
func jsonEncoder(nonFiniteAsStrings: Bool = false) -> JSONEncoder {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    if nonFiniteAsStrings {
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    }
    return e
}

/// An optional document field written as `null` when absent (synthesized coding omits absent
/// optionals), so a document's shape never depends on the data.
@propertyWrapper
struct Null<Value: Codable & Equatable>: Codable, Equatable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        wrappedValue = c.decodeNil() ? nil : try c.decode(Value.self)
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if let v = wrappedValue { try c.encode(v) } else { try c.encodeNil() }
    }
}
