import Foundation
import RotorLambda
import RotorPostgres

/// The Lambda `bootstrap` for the `provided.al2023` runtime: rotor as a Secrets Manager rotation
/// function. No SQLite here: Secrets Manager is the state.
@main
struct Bootstrap {
    static func main() async {
        await LambdaFunction.run(environment: ProcessInfo.processInfo.environment, rotators: .withPostgres)
    }
}
