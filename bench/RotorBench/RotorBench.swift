import Foundation
import Logging
import RotorCore
import RotorRotators
import RotorStorage

/// Full rotations per second on the embedded store with durable state (SQLite WAL), for each
/// `synchronous` setting, sequentially and with concurrent rotations of different secrets.
@main
struct RotorBench {
    static func main() async throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "scheduler" {
            try await SchedulerBench.run(sizes: arguments.dropFirst().compactMap(Int.init).nilIfEmpty ?? [1_000, 100_000, 1_000_000])
            return
        }
        if arguments.first == "batch" || arguments.first == "batch-aws" {
            let count = arguments.dropFirst().first.flatMap(Int.init) ?? 1000
            if arguments.first == "batch" { try await BatchBench.runEmbedded(count: count) } else { try await BatchBench.runAWS(count: count) }
            return
        }
        if arguments.first == "consumers" {
            try await ConsumerBench.run(arguments: Array(arguments.dropFirst()))
            return
        }
        if arguments.first == "daemons" {
            try await DaemonScalingBench.run(secrets: arguments.dropFirst().first.flatMap(Int.init) ?? 600)
            return
        }
        if arguments.first == "daemon-worker" {
            try await DaemonScalingBench.worker()
            return
        }
        if arguments.first == "postgres" {
            try await PostgresBench.run(rotations: arguments.dropFirst().first.flatMap(Int.init) ?? 50)
            return
        }
        if arguments.first == "aws" {
            arguments.removeFirst()
            let rotations = arguments.first.flatMap(Int.init) ?? 200
            if arguments.contains("--lambda") {
                try await AWSBench.runLambda(rotations: rotations)
            } else {
                try await AWSBench.run(rotations: rotations, writesPerSecond: arguments.contains("--no-rate-limit") ? .infinity : 50)
            }
            return
        }
        if arguments.first == "row", arguments.count >= 3, let synchronous = SQLiteSynchronous(rawValue: arguments[1]), let concurrency = Int(arguments[2]) {
            // One run of one row, for profiling: `rotor-bench row FULL 4 [ROTATIONS]`.
            let result = try await run(rotations: arguments.dropFirst(3).first.flatMap(Int.init) ?? 2000, secrets: 100, concurrency: concurrency, synchronous: synchronous)
            print(String(format: "%.0f rotations/s, %.1f commits/rotation", result.perSecond, result.commitsPerRotation))
            return
        }
        let rotations = arguments.first.flatMap(Int.init) ?? 2000
        print("rotor-bench: full rotations (createSecret, setSecret, testSecret, finishSecret) of random-password secrets")
        print("embedded AES-256-GCM store + SQLite state (WAL), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(rotations) rotations per run, median of 3 runs per row")
        print("machine limit: raw SQLite commits/s (one-row insert per transaction, same directory, same setting)")
        print("")
        print("synchronous  concurrency  rotations/s  commits/rotation  raw commits/s  commit share  ms/rotation(p50)  ms/rotation(p99)")
        for synchronous in SQLiteSynchronous.allCases {
            let raw = try await RawCommitRate.measure(synchronous: synchronous)
            for concurrency in [1, 4] {
                // The median of three runs: this machine's speed wanders from one second to the next.
                var runs: [Result] = []
                for _ in 0..<3 { runs.append(try await run(rotations: rotations, secrets: 100, concurrency: concurrency, synchronous: synchronous)) }
                let result = runs.sorted { $0.perSecond < $1.perSecond }[1]
                // The share of the machine's raw commit rate the rotations' commits use.
                let share = result.perSecond * result.commitsPerRotation / raw
                print(String(
                    format: "%-11@  %11d  %11.0f  %16.1f  %13.0f  %11.0f%%  %16.2f  %16.2f",
                    synchronous.rawValue as NSString, concurrency, result.perSecond, result.commitsPerRotation, raw, share * 100,
                    result.p50 * 1000, result.p99 * 1000))
            }
        }
        print("(every step's intent is durable before its side effect; a step's end is committed with the next")
        print(" step's intent, the rotation's start with the first, the lock's renewal with each and its release")
        print(" with the run's end; setSecret and testSecret of a rotator without a target change nothing outside,")
        print(" so they are journaled whole with the next write; finishSecret's two label moves are one")
        print(" transaction of the embedded store)")
    }

    struct Result { let perSecond: Double; let commitsPerRotation: Double; let p50: Double; let p99: Double }

    static func run(rotations: Int, secrets: Int, concurrency: Int, synchronous: SQLiteSynchronous) async throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rotor-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try EmbeddedSecretStore(
            url: directory.appendingPathComponent("store.sqlite"),
            keySource: .environmentOrFile(environment: [:], keyFile: directory.appendingPathComponent("master.key")), synchronous: synchronous)
        let state = try SQLiteStateStore(url: directory.appendingPathComponent("state.sqlite"), synchronous: synchronous)
        let engine = RotationEngine(
            store: store, state: state, rotators: .builtIn,
            logger: Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() })
        let ids = try (0..<secrets).map { try SecretID("/prod/bench/db-credentials/user-\($0)") }
        for id in ids {
            try await engine.createManagedSecret(id, rotator: "random-password", options: RotatorOptions(["length": "32"]), initialValue: SecretValue(string: "initial"))
        }
        let clock = ContinuousClock()
        let commitsBefore = SQLiteWriteTransactions.count
        let start = clock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var latencies: [Double] = []
                    var index = worker
                    while index < rotations {
                        let id = ids[(index / concurrency * concurrency + worker) % secrets]
                        let began = clock.now
                        let report = try await engine.rotate(id, trigger: "bench")
                        guard report.succeeded else { throw report.error ?? RotorError(.stepFailed, "rotation failed") }
                        latencies.append((clock.now - began).seconds)
                        index += concurrency
                    }
                    return latencies
                }
            }
            return try await group.reduce(into: [Double]()) { $0 += $1 }.sorted()
        }
        let elapsed = (clock.now - start).seconds
        return Result(
            perSecond: Double(rotations) / elapsed, commitsPerRotation: Double(SQLiteWriteTransactions.count - commitsBefore) / Double(rotations),
            p50: latencies[latencies.count / 2], p99: latencies[min(latencies.count - 1, latencies.count * 99 / 100)])
    }
}

extension Array {
    var nilIfEmpty: Self? { isEmpty ? nil : self }
}
