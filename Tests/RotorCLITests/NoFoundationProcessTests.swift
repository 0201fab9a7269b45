import Foundation
import Testing

/// Foundation's `Process.run` on Linux over-reads a buffer while it lists `/proc/self/fd` and now and
/// then crashes the whole test process (a CI run died of it in a webhook test). Tests start children
/// with `ChildProcess`; rotor's own code with `PluginProcess`. This keeps it so.
@Suite struct NoFoundationProcessTests {
    @Test func noSourceOrTestStartsAFoundationProcess() throws {
        var files: [URL] = []
        for folder in ["Sources", "Tests", "bench"] {
            let root = FaultHookTests.root.appendingPathComponent(folder)
            files += try #require(FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)).compactMap { $0 as? URL }
        }
        var scanned = 0
        for file in files where file.pathExtension == "swift" && !file.path.contains("/.build") {
            scanned += 1
            for (number, line) in try String(contentsOf: file, encoding: .utf8).components(separatedBy: "\n").enumerated() {
                let code = line.components(separatedBy: "//").first ?? ""
                let starts = code.range(of: #"(^|[^A-Za-z_])(Foundation\.)?Process\(\)"#, options: .regularExpression) != nil
                #expect(!starts, "\(file.lastPathComponent):\(number + 1) starts a Foundation Process; use ChildProcess")
            }
        }
        #expect(scanned > 50, "the scan found the sources at all")
    }
}
