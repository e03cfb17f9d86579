import Foundation

// The store's logic is written once (`SQLRecordStore`) over this small interface; SQLite (GRDB)
// and PostgreSQL (postgres-nio) implement it. Statements use `?` placeholders; the PostgreSQL
// backend numbers them ($1, $2, ...). Values are bound, never spliced into the text.

/// A value bound to a statement or read from a row.
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
}

/// A Swift value a statement binds.
public protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

extension String: SQLBindable { public var sqlValue: SQLValue { .text(self) } }
extension Int: SQLBindable { public var sqlValue: SQLValue { .integer(Int64(self)) } }
extension Int64: SQLBindable { public var sqlValue: SQLValue { .integer(self) } }
extension Double: SQLBindable { public var sqlValue: SQLValue { .real(self) } }
/// Booleans are stored as 0/1 in both engines (the columns check it).
extension Bool: SQLBindable { public var sqlValue: SQLValue { .integer(self ? 1 : 0) } }
extension Optional: SQLBindable where Wrapped: SQLBindable {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

/// A Swift value a row's column decodes to.
public protocol SQLDecodable {
    static func decode(_ value: SQLValue) -> Self?
    /// True for Optional: a NULL decodes to nil instead of failing.
    static var acceptsNull: Bool { get }
}

extension SQLDecodable {
    public static var acceptsNull: Bool { false }
}

extension String: SQLDecodable {
    public static func decode(_ v: SQLValue) -> String? {
        if case .text(let s) = v { return s }
        return nil
    }
}
extension Int64: SQLDecodable {
    public static func decode(_ v: SQLValue) -> Int64? {
        switch v {
        case .integer(let i): i
        case .real(let d): Int64(exactly: d)
        default: nil
        }
    }
}
extension Int: SQLDecodable {
    public static func decode(_ v: SQLValue) -> Int? { Int64.decode(v).flatMap { Int(exactly: $0) } }
}
extension Double: SQLDecodable {
    public static func decode(_ v: SQLValue) -> Double? {
        switch v {
        case .integer(let i): Double(i)
        case .real(let d): d
        default: nil
        }
    }
}
extension Bool: SQLDecodable {
    public static func decode(_ v: SQLValue) -> Bool? {
        switch Int64.decode(v) {
        case 0: false
        case 1: true
        default: nil
        }
    }
}
extension Optional: SQLDecodable where Wrapped: SQLDecodable {
    public static var acceptsNull: Bool { true }
    public static func decode(_ v: SQLValue) -> Wrapped?? {
        if v == .null { return .some(nil) }
        return Wrapped.decode(v).map { .some($0) }
    }
}

/// A stored value that does not decode as the program expects (a damaged or foreign store).
public struct StoredValueError: Error, CustomStringConvertible {
    public var column: String
    public var expected: String
    public var description: String { "column \(column): the stored value is not a \(expected)" }
}

/// One row of a result, its columns by name.
public struct SQLRow {
    let names: [String: Int]
    public let values: [SQLValue]

    public init(names: [String: Int], values: [SQLValue]) {
        self.names = names
        self.values = values
    }

    public subscript<T: SQLDecodable>(_ column: String) -> T {
        get throws {
            guard let i = names[column] else {
                throw StoredValueError(column: column, expected: "column of the result")
            }
            let v = values[i]
            if v == .null && !T.acceptsNull { throw StoredValueError(column: column, expected: "\(T.self) (NULL)") }
            guard let decoded = T.decode(v) else { throw StoredValueError(column: column, expected: "\(T.self)") }
            return decoded
        }
    }

    /// The column names in result order (for the canonical dump).
    public var columnNames: [String] { names.sorted { $0.value < $1.value }.map(\.key) }
}

/// A connection inside a transaction (or a read).
public protocol SQLSession: AnyObject {
    /// Runs one statement; returns the number of rows it changed.
    @discardableResult func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int
    func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow]
    /// Runs one statement whose result is not needed: a server engine may send it without
    /// waiting (pipelined); its error, if any, is thrown by the next statement that waits, or by
    /// the commit, and fails the transaction the same way.
    func send(_ sql: String, _ arguments: [SQLValue]) throws
}

extension SQLSession {
    func send(_ sql: String, _ arguments: [any SQLBindable] = []) throws {
        try send(sql, arguments.map(\.sqlValue))
    }
    @discardableResult func execute(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> Int {
        try execute(sql, arguments.map(\.sqlValue))
    }
    func rows(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> [SQLRow] {
        try rows(sql, arguments.map(\.sqlValue))
    }
    func row(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> SQLRow? {
        try rows(sql, arguments.map(\.sqlValue)).first
    }
    /// The first column of every row.
    func column<T: SQLDecodable>(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> [T] {
        try rows(sql, arguments.map(\.sqlValue)).map { row in
            guard let v = row.values.first, let d = T.decode(v) else {
                throw StoredValueError(column: "1", expected: "\(T.self)")
            }
            return d
        }
    }
    func value<T: SQLDecodable>(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> T? {
        let values: [T] = try column(sql, arguments)
        return values.first
    }
}

/// The engines differ in a few words; everything else is the same SQL.
public enum SQLDialect: Sendable {
    case sqlite, postgres

    /// The database's clock in seconds since 1970 (leases are timed by one clock, the store's).
    var now: String {
        switch self {
        case .sqlite: "((julianday('now') - 2440587.5) * 86400.0)"
        case .postgres: "extract(epoch from clock_timestamp())::double precision"
        }
    }

    /// Locks the selected rows and skips rows other transactions hold (SQLite's writer is alone).
    var skipLocked: String {
        switch self {
        case .sqlite: ""
        case .postgres: " FOR UPDATE SKIP LOCKED"
        }
    }
}

/// A store's database: reads and write transactions.
public protocol SQLDatabase: AnyObject {
    var dialect: SQLDialect { get }
    /// Where the store is, for messages (a path, or host/database; never a password).
    var location: String { get }
    func read<T>(_ body: (any SQLSession) throws -> T) throws -> T
    /// One transaction: commits when `body` returns, rolls back when it throws.
    func write<T>(_ body: (any SQLSession) throws -> T) throws -> T
    /// The store failure an error of this engine is, if it is one.
    func failure(_ error: any Error) -> StoreFailure?
}
