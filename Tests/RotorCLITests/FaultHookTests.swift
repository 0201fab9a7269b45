import Foundation
import Testing

/// The crash tests' fault hook (`ROTOR_FAULT_KILL_AT`) must never reach a release build. The release
/// binaries themselves are checked by `make release-check` and `make lambda`; these tests keep the
/// source arrangement that guarantees it.
@Suite struct FaultHookTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let hookNames = ["ROTOR_FAULT_KILL_AT", "KillSwitch"]

    @Test func theFlagIsDefinedForDebugBuildsOnly() throws {
        let manifest = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let definitions = manifest.components(separatedBy: "\n").filter { $0.contains(".define(\"ROTOR_FAULT_INJECTION\"") }
        #expect(definitions.count == 1)
        #expect(definitions.allSatisfy { $0.contains(".when(configuration: .debug)") })
        for file in ["Package.swift", "Makefile", "scripts/lambda.sh", "scripts/release-check.sh", "scripts/bench.sh"] {
            let text = try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8)
            #expect(!text.contains("-DROTOR_FAULT_INJECTION") && !text.contains("-D ROTOR_FAULT_INJECTION"), "\(file) must not force the flag on")
        }
    }

    @Test func everyUseOfTheHookIsInsideTheFlag() throws {
        let sources = Self.root.appendingPathComponent("Sources")
        let files = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)).compactMap { $0 as? URL }
        var uses = 0
        for file in files where file.pathExtension == "swift" {
            let lines = try String(contentsOf: file, encoding: .utf8).components(separatedBy: "\n")
            for (number, guarded) in Self.guardedLines(lines) where Self.hookNames.contains(where: lines[number].contains) {
                uses += 1
                #expect(guarded, "\(file.lastPathComponent):\(number + 1) uses the fault hook outside #if ROTOR_FAULT_INJECTION")
            }
        }
        #expect(uses > 0, "the scan found the hook at all")
    }

    @Test func theDebugBinaryHasTheHookSoTheReleaseCheckMeansSomething() throws {
        let binary = try Data(contentsOf: CLI.binary)
        #expect(binary.range(of: Data("ROTOR_FAULT_KILL_AT".utf8)) != nil)
    }

    /// Each line's index and whether it sits inside an `#if ROTOR_FAULT_INJECTION` region (nesting counted).
    static func guardedLines(_ lines: [String]) -> [(Int, Bool)] {
        var stack: [Bool] = []
        return lines.enumerated().map { index, line in
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("#if") { stack.append(text == "#if ROTOR_FAULT_INJECTION") }
            if text.hasPrefix("#else") || text.hasPrefix("#elseif"), !stack.isEmpty { stack[stack.count - 1] = false }
            let guarded = stack.contains(true)
            if text.hasPrefix("#endif") { _ = stack.popLast() }
            return (index, guarded)
        }
    }
}
