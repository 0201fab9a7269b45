#if canImport(Glibc)
import Glibc
#endif

/// What rotor's processes do first: other processes of the same user (a plug-in among them) may
/// not read this one's memory or environment (`/proc/PID/environ`, ptrace: the master key, cloud
/// credentials), and a crash writes no core dump holding values. Plug-ins are still trusted code:
/// they run as the same user (runbooks/plugin-rotators.md).
public enum ProcessHardening {
    public static func apply() {
        _ = systemPrctl(4 /* PR_SET_DUMPABLE */, 0, 0, 0, 0)
    }
}

/// glibc's prctl(2), declared with fixed arguments (Swift cannot call C variadic functions).
@_silgen_name("prctl")
private func systemPrctl(_ option: Int32, _ arg2: UInt, _ arg3: UInt, _ arg4: UInt, _ arg5: UInt) -> Int32
