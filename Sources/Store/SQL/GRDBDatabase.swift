import Foundation
import GRDB

/// `SQLDatabase` on a GRDB queue (SQLite). Statements are compiled once per connection (GRDB's
/// statement cache), so a statement run per lab result is prepared once per file.
final class GRDBDatabase: SQLDatabase {
    let queue: DatabaseQueue
    let location: String
    var dialect: SQLDialect { .sqlite }

    init(queue: DatabaseQueue, location: String) {
        self.queue = queue
        self.location = location
    }

    final class Session: SQLSession {
        let db: Database
        init(_ db: Database) { self.db = db }

        static func value(_ v: SQLValue) -> DatabaseValue {
            switch v {
            case .null: .null
            case .integer(let i): i.databaseValue
            case .real(let d): d.databaseValue
            case .text(let s): s.databaseValue
            }
        }

        static func value(_ v: DatabaseValue) -> SQLValue {
            switch v.storage {
            case .null: .null
            case .int64(let i): .integer(i)
            case .double(let d): .real(d)
            case .string(let s): .text(s)
            case .blob(let b): .text(String(decoding: b, as: UTF8.self))
            }
        }

        func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
            try db.cachedStatement(sql: sql).execute(arguments: StatementArguments(arguments.map(Self.value)))
            return db.changesCount
        }

        func send(_ sql: String, _ arguments: [SQLValue]) throws { _ = try execute(sql, arguments) }

        func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
            let statement = try db.cachedStatement(sql: sql)
            let names = Dictionary(
                statement.columnNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
            var out: [SQLRow] = []
            let cursor = try Row.fetchCursor(statement, arguments: StatementArguments(arguments.map(Self.value)))
            while let row = try cursor.next() {
                out.append(SQLRow(names: names, values: row.databaseValues.map(Self.value)))
            }
            return out
        }
    }

    func read<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try queue.read { try body(Session($0)) }
    }

    func write<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try queue.write { try body(Session($0)) }
    }

    func failure(_ error: any Error) -> StoreFailure? { StoreFailure(error, path: location) }
}
