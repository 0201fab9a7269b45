import Foundation
import RotorCore

/// A URL rotor may send a credential to: `https://`, or plain `http://` to a loopback address only
/// (127.0.0.0/8, ::1, localhost). No user name or password in the URL, no other scheme.
public struct OutboundURL: Sendable, Hashable, CustomStringConvertible {
    public let url: URL
    public var host: String { url.host ?? "" }
    public var description: String { url.absoluteString }

    /// - Parameters:
    ///   - text: the URL as configured.
    ///   - option: the option that named it, for the error.
    ///   - kind: the rotator whose option it is, for the error.
    public init(_ text: String, option: String, kind: RotatorKind) throws(RotorError) {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            throw RotorError(.invalidOption, "option \(option) of rotator \(kind) is not an absolute URL", remedy: "write \(option)=https://HOST/...")
        }
        guard url.user == nil, url.password == nil else {
            throw RotorError(.invalidOption, "option \(option) of rotator \(kind) carries credentials in the URL",
                             remedy: "remove user:password@ from the URL; credentials travel in headers only")
        }
        guard scheme == "https" || (scheme == "http" && Self.isLoopback(host)) else {
            throw RotorError(
                .invalidOption, "option \(option) of rotator \(kind) is \(scheme):// to \(host); requests carry credentials",
                remedy: "use https://, or plain http:// only to a loopback address (127.0.0.1, ::1, localhost)")
        }
        self.url = url
    }

    /// The URL with `path` appended (a leading `/` is expected), keeping a base path such as GHES's `/api/v3`.
    public func appending(path: String, query: String? = nil) -> URL {
        var base = url.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        return URL(string: base + path + (query.map { "?" + $0 } ?? ""))!
    }

    /// Whether `host` is a loopback address: an IP literal in 127.0.0.0/8, `::1`, or `localhost`.
    /// A name that merely starts like one (`127.0.0.1.example.net`) is not.
    public static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare.lowercased() == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, bare, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        return inet_pton(AF_INET6, bare, &v6) == 1 && withUnsafeBytes(of: &v6) { $0.elementsEqual([UInt8](repeating: 0, count: 15) + [1]) }
    }
}
