import Logging
import struct Foundation.Date
import struct Foundation.DateInterval

/// Runs one rotation step for a token the way Secrets Manager expects a rotation function to:
/// AWS's prologue (token known, already `AWSCURRENT` means done, otherwise it must be `AWSPENDING`),
/// then the step, idempotent under repetition with the same token. The one implementation of the
/// four steps: the engine wraps it with journal, lock, retry and rollback; the Lambda calls it directly.
public struct StepExecutor: Sendable {
    /// Where the executor runs, which decides the few rules that differ between rotor's own runs and
    /// a Lambda invoked by Secrets Manager.
    public struct Mode: Sendable, Equatable {
        /// createSecret may create the token's version (rotor's own runs). Invoked by Secrets Manager,
        /// the version already exists (RotateSecret made it) and an unknown token is an error.
        public var createsVersion: Bool
        /// The secret must have rotation enabled (AWS's prologue for a rotation function).
        public var requiresRotationEnabled: Bool
        /// rotor completes the labels itself after `AWSCURRENT` moves: it strips `AWSPENDING` and
        /// reads the labels back. Invoked by Secrets Manager, its backend does the clean-up.
        public var completesLabels: Bool
        /// The invocation's `RotationToken`, passed on to PutSecretValue.
        public var rotationToken: String?
        /// testSecret leaves ``StagingLabel/tested`` on the version it passed and finishSecret requires
        /// it: a stateless rotation function keeps that fact on the version. rotor's own runs know it
        /// from their journal.
        public var labelsTestedVersions: Bool

        /// rotor's own runs (CLI, daemon).
        public static let engine = Mode(
            createsVersion: true, requiresRotationEnabled: false, completesLabels: true, rotationToken: nil, labelsTestedVersions: false)

        /// A rotation function invoked by Secrets Manager.
        public static func lambda(rotationToken: String?) -> Mode {
            Mode(createsVersion: false, requiresRotationEnabled: true, completesLabels: false, rotationToken: rotationToken, labelsTestedVersions: true)
        }
    }

    public let store: any SecretStore
    public let mode: Mode

    public init(store: any SecretStore, mode: Mode) {
        self.store = store
        self.mode = mode
    }

    /// One step's inputs.
    public struct Request: Sendable {
        public var step: RotationStep
        public var secret: SecretID
        public var token: VersionID
        public var rotator: any Rotator
        /// The operator's new value, for the `manual` rotator.
        public var suppliedValue: SecretValue?
        public var logger: Logger
        public var now: Date
        /// The run made this token itself and this is its first attempt at createSecret: no earlier
        /// request with this token can exist, so the store may skip its token-reuse check.
        public var tokenIsFresh: Bool
        /// When earlier attempts of this step ran (``RotationContext/earlierAttempts``).
        public var earlierAttempts: [DateInterval]

        public init(
            step: RotationStep, secret: SecretID, token: VersionID, rotator: any Rotator, suppliedValue: SecretValue? = nil, logger: Logger, now: Date,
            tokenIsFresh: Bool = false, earlierAttempts: [DateInterval] = []
        ) {
            self.tokenIsFresh = tokenIsFresh
            self.earlierAttempts = earlierAttempts
            self.step = step
            self.secret = secret
            self.token = token
            self.rotator = rotator
            self.suppliedValue = suppliedValue
            self.logger = logger
            self.now = now
        }
    }

    /// Runs the step. Returns a note when the step had nothing to do, and the snapshot updated with
    /// what the step learnt and wrote. A thrown error leaves the caller's snapshot stale: start the
    /// next attempt from an empty one.
    public func run(_ request: Request, snapshot start: SecretSnapshot) async throws -> (note: String?, snapshot: SecretSnapshot) {
        let (note, snapshot, _) = try await runReporting(request, snapshot: start)
        return (note, snapshot)
    }

    /// ``run(_:snapshot:)``, with what the rotator's finishSecret hook reported for the audit log.
    public func runReporting(_ request: Request, snapshot start: SecretSnapshot) async throws -> (note: String?, snapshot: SecretSnapshot, audit: [RotatorAuditNote]) {
        // finishSecret moves AWSCURRENT: decide it on the labels as they are now, not as this run last
        // saw them (an operator may have removed AWSPENDING to abort, another tool may have relabelled).
        var snapshot = request.step == .finishSecret ? SecretSnapshot(values: start) : start
        let description = try await describe(request.secret, &snapshot)
        if let note = try prologue(request.step, description: description, token: request.token) {
            // AWSCURRENT moved but what follows it did not happen (an interrupted finishSecret).
            if request.step == .finishSecret {
                if mode.completesLabels { try await clearPending(request.token, &snapshot) } else { await clearTestedAfterPromotion(request, &snapshot) }
                return (note, snapshot, try await finishOnTarget(request, &snapshot))
            }
            return (note, snapshot, [])
        }
        let context = RotationContext(
            secret: request.secret, token: request.token, store: store, logger: request.logger, now: request.now, earlierAttempts: request.earlierAttempts)
        switch request.step {
        case .createSecret: return (try await createSecret(request, context, &snapshot), snapshot, [])
        case .setSecret: return (try await setSecret(request, context, &snapshot), snapshot, [])
        case .testSecret:
            try await testSecret(request, context, &snapshot)
            return (nil, snapshot, [])
        case .finishSecret:
            let audit = try await finishSecret(request, context, &snapshot)
            return (nil, snapshot, audit)
        }
    }

    /// The snapshot's description, or a fresh DescribeSecret.
    public func describe(_ id: SecretID, _ snapshot: inout SecretSnapshot) async throws -> SecretDescription {
        if let known = snapshot.description { return known }
        let description = try await store.describeSecret(id)
        snapshot.description = description
        return description
    }

    /// AWS's prologue. Returns a note when the step is already done.
    func prologue(_ step: RotationStep, description: SecretDescription, token: VersionID) throws(RotorError) -> String? {
        if mode.requiresRotationEnabled, description.rotationEnabled == false {
            throw RotorError(.invalidRequest, "secret is not enabled for rotation", secret: description.id, step: step,
                             remedy: "enable rotation on the secret (RotateSecret) before invoking the function")
        }
        guard let stages = description.versionIDsToStages[token] else {
            if step == .createSecret, mode.createsVersion { return nil }
            throw RotorError(
                .invalidRequest, "version \(token) has no stage for rotation", secret: description.id, step: step,
                remedy: mode.createsVersion ? "the pending version was removed outside rotor; run 'rotor rotate' again to start over"
                    : "start the rotation with RotateSecret, which creates the version; do not invoke the function by hand with a made-up token")
        }
        if stages.contains(.current) { return "version \(token) is already AWSCURRENT" }
        guard stages.contains(.pending) else {
            throw RotorError(
                .invalidRequest, "version \(token) is not set as AWSPENDING for rotation", secret: description.id, step: step,
                remedy: "another process moved the labels; inspect with 'rotor secret describe \(description.id)'")
        }
        return nil
    }

    private func createSecret(_ request: Request, _ context: RotationContext, _ snapshot: inout SecretSnapshot) async throws -> String? {
        // The token's version may exist without a value (Secrets Manager's RotateSecret placeholder).
        let tokenExists = snapshot.description?.versionIDsToStages[request.token] != nil
        let fillsFirst = tokenExists && fillsPlaceholderFirst(request, snapshot)
        if tokenExists, !fillsFirst, try await existingPending(request.token, &snapshot, secret: request.secret) != nil {
            return "pending value already exists"
        }
        // A new version needs a current one to follow (reading it would prove that; the labels do too).
        guard snapshot.holder(of: .current) != nil else {
            throw RotorError(.invalidRequest, "no version carries AWSCURRENT", secret: request.secret, step: .createSecret,
                             remedy: "put AWSCURRENT back on the last good version (runbooks/stuck-pending-version.md)")
        }
        let current = request.rotator.createReadsCurrent ? try await self.current(&snapshot, secret: request.secret) : nil
        let response = try await request.rotator.createSecret(CreateSecretRequest(current: current, suppliedValue: request.suppliedValue), context: context)
        do {
            try await store.putSecretValue(PutSecretValueInput(
                id: request.secret, token: request.token, value: response.newValue, stages: [.pending], rotationToken: mode.rotationToken,
                tokenIsNew: request.tokenIsFresh && !tokenExists))
        } catch let error as RotorError where fillsFirst && error.code == .tokenInUse {
            // Secrets Manager refuses a second value for a version: an earlier createSecret filled it.
            guard try await existingPending(request.token, &snapshot, secret: request.secret) != nil else { throw error }
            return "pending value already exists"
        }
        snapshot.applyPut(request.token, value: response.newValue, stages: [.pending], at: request.now, secret: request.secret)
        return nil
    }

    /// Invoked by Secrets Manager, the token's version is nearly always RotateSecret's empty
    /// placeholder: a rotator without a target fills it without reading it first, and reads only
    /// when Secrets Manager refuses because a retried createSecret already filled it. (Nothing can
    /// have used a value of a rotator without a target before testSecret; a rotator with a target
    /// always reads first, since setSecret may already have applied the value, and so does a
    /// version already tested: moto, unlike Secrets Manager, would let a put replace its value.)
    private func fillsPlaceholderFirst(_ request: Request, _ snapshot: SecretSnapshot) -> Bool {
        !mode.createsVersion && !request.rotator.hasTarget && snapshot.holder(of: .tested) != request.token
    }

    private func setSecret(_ request: Request, _ context: RotationContext, _ snapshot: inout SecretSnapshot) async throws -> String? {
        guard request.rotator.hasTarget else { return "rotator has no target to set" }
        // The target is about to change again: an earlier pass of testSecret no longer vouches for it.
        if mode.labelsTestedVersions { try await clearTested(request.token, &snapshot) }
        let current = try await self.current(&snapshot, secret: request.secret)
        let pending = try await pending(request.token, &snapshot, secret: request.secret)
        let previous = try await self.previous(&snapshot, secret: request.secret)
        _ = try await request.rotator.setSecret(SetSecretRequest(current: current, pending: pending, previous: previous), context: context)
        return nil
    }

    private func finishSecret(_ request: Request, _ context: RotationContext, _ snapshot: inout SecretSnapshot) async throws -> [RotatorAuditNote] {
        guard let currentID = snapshot.holder(of: .current) else {
            throw RotorError(.invalidRequest, "no version carries AWSCURRENT", secret: request.secret, step: .finishSecret,
                             remedy: "put AWSCURRENT back on the last good version (runbooks/stuck-pending-version.md)")
        }
        try await requirePromotable(request, currentID: currentID, &snapshot)
        let moveCurrent = UpdateVersionStageInput(id: request.secret, stage: .current, moveTo: request.token, removeFrom: currentID)
        guard mode.completesLabels else {
            try await updateStage(moveCurrent, &snapshot)
            await clearTestedAfterPromotion(request, &snapshot)
            return try await finishOnTarget(request, &snapshot)
        }
        // The prologue saw AWSPENDING on the token; strip it as Secrets Manager's backend does (a local
        // store applies both in one transaction), and rotor's tested label if a rotation function left it.
        var moves = [moveCurrent, UpdateVersionStageInput(id: request.secret, stage: .pending, removeFrom: request.token)]
        if snapshot.holder(of: .tested) == request.token { moves.append(UpdateVersionStageInput(id: request.secret, stage: .tested, removeFrom: request.token)) }
        try await store.updateSecretVersionStages(moves)
        for move in moves { snapshot.applyStage(move) }
        if store.labelsNeedReadBack { try await verifyFinished(request, &snapshot) }
        return try await finishOnTarget(request, &snapshot)
    }

    /// The rotator's finishSecret hook, once `AWSCURRENT` is on the token: consumers now read the new
    /// value, so the target may drop the replaced one. It runs again whenever finishSecret is repeated
    /// (a retry, a resumed run, Secrets Manager's second invocation), so a failure after the move is
    /// retried rather than forgotten; the hook must be idempotent.
    private func finishOnTarget(_ request: Request, _ snapshot: inout SecretSnapshot) async throws -> [RotatorAuditNote] {
        guard request.rotator.hasTarget else { return [] }
        let context = RotationContext(
            secret: request.secret, token: request.token, store: store, logger: request.logger, now: request.now, earlierAttempts: request.earlierAttempts)
        let promoted = try await current(&snapshot, secret: request.secret)
        let replaced = try await previous(&snapshot, secret: request.secret)
        return try await request.rotator.finishSecret(FinishSecretRequest(promoted: promoted, replaced: replaced), context: context).audit
    }

    /// The rotator's test of the pending value; a rotation function then labels the version as
    /// tested, and takes the label off when the test fails (the label means "passed last time").
    private func testSecret(_ request: Request, _ context: RotationContext, _ snapshot: inout SecretSnapshot) async throws {
        do {
            let pending = try await pending(request.token, &snapshot, secret: request.secret)
            _ = try await request.rotator.testSecret(TestSecretRequest(pending: pending), context: context)
        } catch {
            if mode.labelsTestedVersions {
                do { try await clearTested(request.token, &snapshot) } catch let cleanup {
                    request.logger.error("the version failed its test but still carries ROTOR_TESTED; remove it before invoking finishSecret by hand", metadata: [
                        "error": "\(RotorError.wrapping(cleanup).summary)"])
                }
            }
            throw error
        }
        if mode.labelsTestedVersions { try await markTested(request.token, &snapshot) }
    }

    /// `AWSCURRENT` moves only to a version that has a value and passed testSecret. rotor's own runs
    /// know the test from their journal and check the value (read only if the run has not seen it:
    /// a resumed or adopted rotation); a rotation function requires ``StagingLabel/tested``, which
    /// only a passed testSecret (which read the value) puts on. Refused, the labels stay as they are.
    private func requirePromotable(_ request: Request, currentID: VersionID, _ snapshot: inout SecretSnapshot) async throws {
        if mode.labelsTestedVersions {
            guard snapshot.holder(of: .tested) != request.token else { return }
            throw RotorError(
                .untestedVersion, "version \(request.token) has not passed testSecret (it does not carry \(StagingLabel.tested)); AWSCURRENT stays on version \(currentID)",
                secret: request.secret, step: .finishSecret,
                remedy: "invoke the steps in order (createSecret, setSecret, testSecret, finishSecret) with this token; see runbooks/lambda-deployment.md, 'Tested versions'")
        }
        guard try await existingPending(request.token, &snapshot, secret: request.secret) == nil else { return }
        throw RotorError(
            .untestedVersion, "version \(request.token) has no value: createSecret never filled it; AWSCURRENT stays on version \(currentID)",
            secret: request.secret, step: .finishSecret,
            remedy: "remove AWSPENDING from that version and rotate again (runbooks/stuck-pending-version.md)")
    }

    /// Puts ``StagingLabel/tested`` on the token's version, moving it off an older version that kept it.
    private func markTested(_ token: VersionID, _ snapshot: inout SecretSnapshot) async throws {
        guard let id = snapshot.description?.id, snapshot.holder(of: .tested) != token else { return }
        try await updateStage(UpdateVersionStageInput(id: id, stage: .tested, moveTo: token, removeFrom: snapshot.holder(of: .tested)), &snapshot)
    }

    /// After `AWSCURRENT` moved the rotation is done: a label that cannot be removed now (a throttled
    /// call) is logged and moves off with the next rotation's testSecret.
    private func clearTestedAfterPromotion(_ request: Request, _ snapshot: inout SecretSnapshot) async {
        do { try await clearTested(request.token, &snapshot) } catch {
            request.logger.warning("AWSCURRENT moved, but ROTOR_TESTED could not be removed; the next rotation's testSecret moves it", metadata: [
                "error": "\(RotorError.wrapping(error).summary)"])
        }
    }

    /// Removes ``StagingLabel/tested`` from the token's version if it carries it.
    private func clearTested(_ token: VersionID, _ snapshot: inout SecretSnapshot) async throws {
        guard let id = snapshot.description?.id, snapshot.holder(of: .tested) == token else { return }
        try await updateStage(UpdateVersionStageInput(id: id, stage: .tested, removeFrom: token), &snapshot)
    }

    /// Reads the labels back: something may have changed them between rotor's own calls (a late
    /// copy of an earlier request, which moto answers by resetting the version's labels; another
    /// tool or an operator). rotor does not fight it: a token that is not `AWSCURRENT` alone fails
    /// the step with the labels it found, so the run never reports a success that did not happen.
    private func verifyFinished(_ request: Request, _ snapshot: inout SecretSnapshot) async throws {
        snapshot = SecretSnapshot(values: snapshot)
        let description = try await describe(request.secret, &snapshot)
        let stages = description.versionIDsToStages[request.token] ?? []
        guard !(stages.contains(.current) && !stages.contains(.pending)) else { return }
        let labels = description.versionIDsToStages.filter { !$0.value.isEmpty }
            .map { "\($0.key): \($0.value.map(\.rawValue).sorted().joined(separator: ","))" }.sorted().joined(separator: "; ")
        throw RotorError(
            .invalidRequest, "the labels changed under rotor during finishSecret: version \(request.token) carries \(stages.map(\.rawValue).sorted()), not AWSCURRENT alone (labels now: \(labels.isEmpty ? "none" : labels))",
            secret: request.secret, step: .finishSecret,
            remedy: "find what else moves this secret's labels; then put AWSCURRENT back on the right version (runbooks/stuck-pending-version.md, 'Labels changed under rotor')")
    }

    /// Removes `AWSPENDING` from `token`'s version if it still carries it, and rotor's tested label
    /// (a rotation function's, on a rotation rotor adopted).
    public func clearPending(_ token: VersionID, _ snapshot: inout SecretSnapshot) async throws {
        try await clearTested(token, &snapshot)
        guard let id = snapshot.description?.id, snapshot.holder(of: .pending) == token else { return }
        try await updateStage(UpdateVersionStageInput(id: id, stage: .pending, removeFrom: token), &snapshot)
    }

    private func updateStage(_ input: UpdateVersionStageInput, _ snapshot: inout SecretSnapshot) async throws {
        try await store.updateSecretVersionStage(input)
        snapshot.applyStage(input)
    }

    // MARK: Value reads. Current and pending must exist; previous may be absent. Any other error
    // (throttling, access denied, a network failure) is thrown, never taken for "no value".

    /// The `AWSCURRENT` value.
    func current(_ snapshot: inout SecretSnapshot, secret: SecretID) async throws -> SecretValue {
        if let id = snapshot.holder(of: .current), let known = snapshot.values[id] { return known }
        let read = try await store.getSecretValue(secret, .current)
        if snapshot.holder(of: .current) == read.versionID { snapshot.remember(read.value, of: read.versionID) }
        return read.value
    }

    /// The token's `AWSPENDING` value.
    func pending(_ token: VersionID, _ snapshot: inout SecretSnapshot, secret: SecretID) async throws -> SecretValue {
        if let known = snapshot.values[token] { return known }
        let value = try await store.getSecretValue(secret, .pending(token)).value
        snapshot.remember(value, of: token)
        return value
    }

    /// The token's `AWSPENDING` value, or `nil` when it has none (a placeholder, or no such version).
    func existingPending(_ token: VersionID, _ snapshot: inout SecretSnapshot, secret: SecretID) async throws -> SecretValue? {
        try await optionalValue(.pending(token), of: token, &snapshot, secret: secret)
    }

    /// The `AWSPREVIOUS` value, or `nil` when no version carries that label.
    func previous(_ snapshot: inout SecretSnapshot, secret: SecretID) async throws -> SecretValue? {
        guard let id = snapshot.holder(of: .previous) else { return nil }
        return try await optionalValue(VersionSelector(versionID: id, stage: .previous), of: id, &snapshot, secret: secret)
    }

    /// A value that may be absent: ``RotorError/Code/versionNotFound`` becomes `nil`; every other error is thrown.
    private func optionalValue(
        _ selector: VersionSelector, of version: VersionID, _ snapshot: inout SecretSnapshot, secret: SecretID
    ) async throws -> SecretValue? {
        if let known = snapshot.values[version] { return known }
        if snapshot.missing.contains(version) { return nil }
        do {
            let value = try await store.getSecretValue(secret, selector).value
            snapshot.remember(value, of: version)
            return value
        } catch let error as RotorError where error.code == .versionNotFound {
            snapshot.remember(nil, of: version)
            return nil
        }
    }
}
