import Foundation
import RotorCore

/// The status page's HTML: server-rendered, one inline style sheet, no script and no outside asset.
/// Every text from state (ids, errors from remote systems, alert messages) is escaped.
enum StatusPageHTML {
    static func escaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static func date(_ date: Date?) -> String { date.map { escaped($0.formatted(.iso8601)) } ?? "&mdash;" }

    static func page(_ title: String, _ body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escaped(title))</title>
        <style>
        body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse;width:100%}
        th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4}
        .active{color:#1a7f37}.failed,.quarantined{color:#b42318;font-weight:600}.rotating{color:#9a6700}
        form.filters{margin:.5rem 0 1rem}code{font-size:12px}.error{color:#b42318}
        </style></head><body>
        \(body)
        </body></html>
        """
    }

    static func login(failed: Bool) -> String {
        page("rotor: sign in", """
            <h1>rotor</h1>
            <form method="post" action="/login">
            <p><label for="token">API token</label> <input id="token" name="token" type="password" autocomplete="current-password" required></p>
            \(failed ? #"<p class="error" id="login-error">That token is not this daemon's.</p>"# : "")
            <p><button type="submit">Sign in</button></p>
            </form>
            """)
    }

    struct Row {
        var secret: ManagedSecret
        var entry: ScheduleEntry?
        var lastAccess: LastAccess?
        var alerts: [AlertRecord]
    }

    static func secrets(_ rows: [Row], environments: [String], environment: String?, status: String?, next: String?) -> String {
        let options = { (values: [String], chosen: String?) in
            (["<option value=\"\">all</option>"] + values.map { "<option\($0 == chosen ? " selected" : "")>\(escaped($0))</option>" }).joined()
        }
        let statuses = ["active", "rotating", "failed", "quarantined"]
        let body = rows.map { row in
            let secret = row.secret
            let alerts = row.alerts.map { escaped($0.kind) }.joined(separator: "<br>")
            return """
                <tr><td><a href="/secrets\(escaped(secret.id.rawValue))">\(escaped(secret.id.rawValue))</a></td><td>\(escaped(secret.rotator.rawValue))</td>
                <td class="\(secret.status.rawValue)">\(secret.status.rawValue)</td><td>\(date(secret.lastRotatedAt))</td><td>\(date(row.entry?.nextDueAt))</td>
                <td>\(secret.failedRuns)</td><td>\(secret.lastError.map { escaped(String($0.prefix(200))) } ?? "")</td>
                <td>\(date(row.lastAccess?.at))\(row.lastAccess.map { "<br>" + escaped($0.reader) } ?? "")</td><td>\(alerts)</td></tr>
                """
        }.joined(separator: "\n")
        let encoded = { (text: String) in escaped(text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~/"))) ?? "") }
        var query = ""
        if let environment { query += "&environment=\(encoded(environment))" }
        if let status { query += "&status=\(encoded(status))" }
        return page("rotor: secrets", """
            <h1>Secrets</h1>
            <form class="filters" method="get" action="/">
            <label>environment <select name="environment">\(options(environments, environment))</select></label>
            <label>status <select name="status">\(options(statuses, status))</select></label>
            <button type="submit">Filter</button>
            </form>
            <table id="secrets"><thead><tr><th>secret</th><th>rotator</th><th>status</th><th>last rotation</th><th>next rotation</th>
            <th>failures</th><th>last error</th><th>last access</th><th>alerts (24 h)</th></tr></thead>
            <tbody>
            \(body.isEmpty ? "<tr><td colspan=\"9\">No secret matches.</td></tr>" : body)
            </tbody></table>
            \(next.map { "<p><a id=\"next\" href=\"/?after=\(encoded($0))\(query)\">next page</a></p>" } ?? "")
            <form method="post" action="/logout"><button type="submit">Sign out</button></form>
            """)
    }

    static func secret(_ row: Row, history: [RotationRecord]) -> String {
        let secret = row.secret
        let rotations = history.map { rotation in
            let steps = rotation.steps.map { "\(escaped($0.step.rawValue)) \(escaped($0.outcome.rawValue))" }.joined(separator: ", ")
            return """
                <tr><td><code>\(escaped(rotation.token.rawValue))</code></td><td>\(date(rotation.startedAt))</td><td>\(date(rotation.endedAt))</td>
                <td>\(escaped(rotation.outcome.rawValue))</td><td>\(escaped(rotation.trigger))</td><td>\(steps)</td>
                <td>\(rotation.error.map { escaped(String($0.prefix(300))) } ?? "")</td></tr>
                """
        }.joined(separator: "\n")
        let alerts = row.alerts.map { "<li>\(date($0.createdAt)) \(escaped($0.kind))</li>" }.joined()
        return page("rotor: \(secret.id.rawValue)", """
            <p><a href="/">all secrets</a></p>
            <h1>\(escaped(secret.id.rawValue))</h1>
            <table id="summary">
            <tr><th>rotator</th><td>\(escaped(secret.rotator.rawValue))</td></tr>
            <tr><th>status</th><td class="\(secret.status.rawValue)">\(secret.status.rawValue)</td></tr>
            <tr><th>last rotation</th><td>\(date(secret.lastRotatedAt))</td></tr>
            <tr><th>next rotation</th><td>\(date(row.entry?.nextDueAt))</td></tr>
            <tr><th>failures</th><td>\(secret.failedRuns)</td></tr>
            <tr><th>last error</th><td>\(secret.lastError.map { escaped(String($0.prefix(500))) } ?? "")</td></tr>
            <tr><th>last access</th><td>\(date(row.lastAccess?.at)) \(row.lastAccess.map { escaped($0.reader) } ?? "")</td></tr>
            </table>
            <h2>Alerts (24 h)</h2><ul id="alerts">\(alerts.isEmpty ? "<li>none</li>" : alerts)</ul>
            <h2>Rotations</h2>
            <table id="history"><thead><tr><th>version</th><th>started</th><th>ended</th><th>outcome</th><th>trigger</th><th>steps</th><th>error</th></tr></thead>
            <tbody>\(rotations.isEmpty ? "<tr><td colspan=\"7\">None yet.</td></tr>" : rotations)</tbody></table>
            """)
    }
}
