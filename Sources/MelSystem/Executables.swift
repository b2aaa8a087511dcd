// Finding a program the way a shell does.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The first `name` in the directories of `searchPath` (a PATH value; this process's PATH, else
/// "/usr/bin:/bin", by default) that this process may execute (`access(2)` X_OK), or nil.
public func findExecutable(_ name: String, searchPath: String? = nil) -> String? {
    let directories = searchPath ?? getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
    for directory in directories.split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}
