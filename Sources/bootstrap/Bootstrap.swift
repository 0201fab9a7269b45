import Foundation
import RotorCore
import RotorLambda
import RotorPlugins
import RotorPostgres
import RotorGitHub
import RotorCognito
import RotorHTTP

/// The Lambda `bootstrap` for the `provided.al2023` runtime: rotor as a Secrets Manager rotation
/// function. No SQLite here: Secrets Manager is the state. Exec plug-ins come from the deployment
/// package (`plugins/` beside the bootstrap), a layer (`/opt/rotor/plugins`) or ROTOR_PLUGIN_PATH.
@main
struct Bootstrap {
    static func main() async {
        ProcessHardening.apply()
        let environment = ProcessInfo.processInfo.environment
        await LambdaFunction.run(environment: environment) {
            var registry = RotatorRegistry.withPostgres
            RotatorRegistry.gitHubDescriptors.forEach { registry.register($0) }
            RotatorRegistry.cognitoDescriptors(environment: environment).forEach { registry.register($0) }
            let packaged = (environment["LAMBDA_TASK_ROOT"] ?? "/var/task") + "/plugins"
            let directories = try PluginCatalog.searchPath(explicit: [packaged, "/opt/rotor/plugins"], environment: environment, home: nil)
            try await PluginCatalog(directories: directories, processEnvironment: environment).register(into: &registry)
            return registry.withProbes()
        }
    }
}
