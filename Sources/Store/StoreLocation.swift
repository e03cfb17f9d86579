import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where the store is: an SQLite file (the embedded default) or a PostgreSQL database.
public enum StoreLocation: Sendable, Hashable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresSettings)

    /// `postgres://` or `postgresql://` URLs name a PostgreSQL database; anything else is a path.
    public static func parse(_ text: String) throws -> StoreLocation {
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            return .postgres(try PostgresSettings(url: text))
        }
        return .sqlite(path: text)
    }

    /// For messages: the path, or the URL without any password.
    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let p): p.description
        }
    }
}

/// A configuration or URL problem of a PostgreSQL store (says what to do).
public struct StoreSettingsError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// How to reach a PostgreSQL store (`store.postgres` in pipeline.json, or `--database
/// postgres://user@host:port/database?sslmode=require`). The password is never here: it comes from
/// `passwordFile`, `PGPASSWORD`, or the password file libpq reads (`PGPASSFILE`, else `~/.pgpass`).
public struct PostgresSettings: Sendable, Hashable, Codable, CustomStringConvertible {
    /// libpq's `sslmode` values. `require` encrypts without checking the certificate (as libpq
    /// does); `verify-ca` checks it against the trusted roots; `verify-full` also checks the host
    /// name. `prefer` (libpq's default) uses TLS when the server offers it.
    public enum SSLMode: String, Sendable, Hashable, Codable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String = "localhost"
    public var port: Int = 5432
    public var database: String = ""
    public var user: String = ""
    public var sslmode: SSLMode = .prefer
    /// PEM file of the certificate authorities to trust (verify-ca, verify-full); default: the
    /// system's.
    public var sslrootcert: String?
    /// A file holding the password (a mounted secret); must not be readable by others.
    public var passwordFile: String?
    public var connectTimeoutSeconds: Double = 10
    /// How the sessions appear in `pg_stat_activity` (workers add their name). Not configured.
    public var applicationName = "cytoingest"

    public init(host: String = "localhost", port: Int = 5432, database: String, user: String) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
    }

    enum CodingKeys: String, CodingKey {
        case host, port, database, user, sslmode, sslrootcert, passwordFile, connectTimeoutSeconds
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        host = try c.decodeIfPresent(String.self, forKey: .host) ?? "localhost"
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? 5432
        database = try c.decode(String.self, forKey: .database)
        user = try c.decode(String.self, forKey: .user)
        sslmode = try c.decodeIfPresent(SSLMode.self, forKey: .sslmode) ?? .prefer
        sslrootcert = try c.decodeIfPresent(String.self, forKey: .sslrootcert)
        passwordFile = try c.decodeIfPresent(String.self, forKey: .passwordFile)
        connectTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .connectTimeoutSeconds) ?? 10
        try validate()
    }

    /// Ports, names and timeouts a server can be reached with.
    public func validate() throws {
        guard (1...65535).contains(port) else { throw StoreSettingsError("port \(port) is not a TCP port (1-65535)") }
        guard !host.isEmpty else { throw StoreSettingsError("the host is empty") }
        guard !database.isEmpty else { throw StoreSettingsError("no database named") }
        guard !user.isEmpty else { throw StoreSettingsError("no user named") }
        guard connectTimeoutSeconds > 0, connectTimeoutSeconds.isFinite else {
            throw StoreSettingsError("connectTimeoutSeconds must be a positive number of seconds")
        }
    }

    /// `postgres://user@host:port/database?sslmode=...&sslrootcert=...&passwordFile=...`.
    public init(url text: String) throws {
        guard let url = URLComponents(string: text), url.scheme == "postgres" || url.scheme == "postgresql" else {
            throw StoreSettingsError("not a PostgreSQL URL: expected postgres://user@host:port/database")
        }
        if url.password != nil {
            throw StoreSettingsError(
                "the URL holds a password: never put one on the command line (it shows in ps and shell history); use PGPASSWORD, ~/.pgpass or store.postgres.passwordFile"
            )
        }
        self.init(
            host: url.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost", port: url.port ?? 5432,
            database: String(url.path.drop(while: { $0 == "/" })).removingPercentEncoding ?? "",
            user: url.user?.removingPercentEncoding ?? "")
        for item in url.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw StoreSettingsError(
                        "sslmode=\(value) is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslmode = mode
            case "sslrootcert": sslrootcert = value
            case "passwordFile": passwordFile = value
            case "connect_timeout":
                guard let t = Double(value) else {
                    throw StoreSettingsError("connect_timeout=\(value) is not a number")
                }
                connectTimeoutSeconds = t
            default:
                throw StoreSettingsError(
                    "unknown URL parameter \(item.name): sslmode, sslrootcert, passwordFile and connect_timeout are understood"
                )
            }
        }
        try validate()
    }

    public var description: String {
        "postgres://\(user)@\(host):\(port)/\(database)\(sslmode == .prefer ? "" : "?sslmode=\(sslmode.rawValue)")"
    }

    /// The password: `passwordFile`, else `PGPASSWORD`, else the first matching line of the
    /// password file (`PGPASSFILE`, else `~/.pgpass`; ignored, as libpq does, unless it is
    /// readable by its owner only). Nil when none is set (trust, peer or certificate auth).
    public func password(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        if let file = passwordFile {
            try Self.requirePrivate(file, what: "the password file")
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw StoreSettingsError("cannot read the password file \(file)")
            }
            return String(text.prefix { $0 != "\n" && $0 != "\r" })
        }
        if let p = environment["PGPASSWORD"], !p.isEmpty { return p }
        let passfile =
            environment["PGPASSFILE"] ?? (environment["HOME"].map { $0 + "/.pgpass" } ?? NSHomeDirectory() + "/.pgpass")
        guard FileManager.default.fileExists(atPath: passfile) else { return nil }
        do { try Self.requirePrivate(passfile, what: "the password file") } catch { return nil }
        guard let text = try? String(contentsOfFile: passfile, encoding: .utf8) else { return nil }
        return Self.pgpassLookup(text, host: host, port: port, database: database, user: user)
    }

    /// A file of secrets must be readable by its owner only (as libpq requires of ~/.pgpass).
    static func requirePrivate(_ path: String, what: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw StoreSettingsError("cannot read \(what) \(path)") }
        if st.st_mode & 0o077 != 0 {
            throw StoreSettingsError(
                "\(what) \(path) can be read by others (mode \(String(st.st_mode & 0o777, radix: 8))): chmod 0600 it")
        }
    }

    /// The password of the first line of a `.pgpass` text that matches (libpq's format:
    /// `host:port:database:user:password`, `*` matches anything, `\:` and `\\` escape).
    public static func pgpassLookup(
        _ text: String, host: String, port: Int, database: String, user: String
    )
        -> String?
    {
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            var fields: [String] = []
            var current = ""
            var escaped = false
            for ch in line {
                if escaped {
                    current.append(ch)
                    escaped = false
                } else if ch == "\\" {
                    escaped = true
                } else if ch == ":" && fields.count < 4 {
                    fields.append(current)
                    current = ""
                } else {
                    current.append(ch)
                }
            }
            fields.append(current)
            guard fields.count == 5 else { continue }
            let wanted = [host, String(port), database, user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }
}
