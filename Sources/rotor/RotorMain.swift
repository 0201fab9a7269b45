import RotorCLI
import RotorPlugins

/// Entry point. Not in main.swift: an async ArgumentParser root needs `@main` elsewhere.
@main
struct RotorMain {
    static func main() async {
        ProcessHardening.apply()
        await RotorCommand.main()
    }
}
