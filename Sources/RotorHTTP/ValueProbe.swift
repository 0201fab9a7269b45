import Foundation
import NIOHTTP1
import RotorCore

/// An HTTPS request that proves a credential works without changing anything, e.g.
/// `GET https://api.anthropic.com/v1/models` with `x-api-key: {field:apiKey}`. The expected status
/// means accepted; 401 and 403 mean the credential is refused; 429, 5xx (529 included) and no answer
/// are transient; any other status is a permanent surprise.
public struct ValueProbe: Sendable {
    public enum Verdict: Sendable, Equatable {
        case accepted
        case refused(status: Int)
        case transient(String)
        case unexpected(status: Int)
    }

    let url: OutboundURL
    let method: HTTPMethod
    let headers: [(name: String, value: ValueTemplate)]
    let body: ValueTemplate?
    let expectedStatus: Int
    let http: OutboundHTTP
    /// After finishSecret, check that the replaced value is refused (the old key was disabled).
    public let previousMustFail: Bool

    /// Where the probe goes, for messages: host and path, never a query.
    public var target: String { "\(method.rawValue) \(url.host)\(url.url.path)" }

    /// Sends the probe with `value` substituted.
    public func check(_ value: SecretValue, secret: SecretID) async throws(RotorError) -> Verdict {
        var rendered: [(String, String)] = []
        for (name, template) in headers { rendered.append((name, try template.render(value, secret: secret))) }
        let payload = try body.map { template throws(RotorError) in Array(try template.render(value, secret: secret).utf8) }
        let response: OutboundResponse
        do {
            response = try await http.send(method, url.url, headers: rendered, body: payload)
        } catch let failure as OutboundFailure {
            return .transient("no answer from \(url.host): \(failure)")
        } catch {
            return .transient("no answer from \(url.host): \(OutboundHTTP.describe(error))")
        }
        return Self.verdict(response.status, expected: expectedStatus)
    }

    static func verdict(_ status: Int, expected: Int) -> Verdict {
        switch status {
        case expected: .accepted
        case 401, 403: .refused(status: status)
        case 408, 429, 500...599: .transient("HTTP \(status)")
        default: .unexpected(status: status)
        }
    }
}

extension ValueProbe {
    /// The options every rotator takes for a probe; `probe-url` turns it on.
    public static let optionHelp: [String: String] = [
        "probe-url": "testSecret probe: https:// URL (plain http only to loopback) that answers the expected status for a working credential",
        "probe-method": "probe HTTP method (default GET)",
        "probe-header.*": "probe header, e.g. probe-header.x-api-key={field:apiKey}; {value} is the whole value",
        "probe-body": "probe request body, with {value} or {field:NAME}",
        "probe-expect": "probe status that means the credential works (default 200)",
        "probe-ca-file": "PEM file of the CA that signed the probe server's certificate (default: the system's roots)",
        "probe-timeout": "seconds the probe may take (default 10)",
        "probe-previous-must-fail": "after finishSecret, check that the replaced value is refused (401/403); warn if it still works (default false)",
    ]

    /// Whether `key` is one of the probe's options.
    public static func isProbeOption(_ key: String) -> Bool { key.hasPrefix("probe-") }

    /// `options` without the probe's.
    static func withoutProbeOptions(_ options: RotatorOptions) -> RotatorOptions {
        RotatorOptions(options.values.filter { !isProbeOption($0.key) })
    }

    /// The probe the options describe, or `nil` without `probe-url`.
    public static func make(_ options: RotatorOptions, kind: RotatorKind) throws(RotorError) -> ValueProbe? {
        guard let urlText = options["probe-url"] else {
            if let stray = options.keys.first(where: isProbeOption) {
                throw RotorError(.invalidOption, "option \(stray) of rotator \(kind) needs probe-url", remedy: "add probe-url=https://... or remove \(stray)")
            }
            return nil
        }
        guard !urlText.contains("{") else {
            throw RotorError(.invalidOption, "probe-url of rotator \(kind) may not contain a placeholder: URLs end up in logs and proxies",
                             remedy: "send the credential in a header (probe-header.NAME={value}) or the body")
        }
        let url = try OutboundURL(urlText, option: "probe-url", kind: kind)
        let methodText = (options["probe-method"] ?? "GET").uppercased()
        guard ["GET", "HEAD", "POST"].contains(methodText) else {
            throw RotorError(.invalidOption, "probe-method of rotator \(kind) must be GET, HEAD or POST", remedy: "a probe proves a credential; it changes nothing")
        }
        let method = HTTPMethod(rawValue: methodText)
        var headers: [(name: String, value: ValueTemplate)] = []
        for key in options.keys where key.hasPrefix("probe-header.") {
            let name = String(key.dropFirst("probe-header.".count))
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }),
                  !["host", "content-length", "transfer-encoding", "connection", "user-agent"].contains(name.lowercased()) else {
                throw RotorError(.invalidOption, "\(key.prefix(80)) of rotator \(kind) does not name a valid header")
            }
            headers.append((name, try ValueTemplate(options[key]!, option: key)))
        }
        let body = try options["probe-body"].map { text throws(RotorError) in try ValueTemplate(text, option: "probe-body") }
        guard headers.contains(where: { $0.value.usesValue }) || body?.usesValue == true else {
            throw RotorError(.invalidOption, "the probe of rotator \(kind) never sends the value",
                             remedy: "put {value} or {field:NAME} into a probe-header.NAME or probe-body option")
        }
        let reader = OptionReader(kind: kind, options: options)
        return ValueProbe(
            url: url, method: method, headers: headers, body: body,
            expectedStatus: try reader.int("probe-expect", default: 200, range: 100...599),
            http: OutboundHTTP(caFile: options["probe-ca-file"], timeout: .seconds(try reader.int("probe-timeout", default: 10, range: 1...120))),
            previousMustFail: try reader.bool("probe-previous-must-fail", default: false))
    }
}
