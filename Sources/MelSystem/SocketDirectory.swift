// Where meltap's sockets live when no path is given: the one rule that `meltap run`, `view`,
// `record`, `status`, the Swift client, the C ABI (and through it the Python package and the
// Python examples, which read through the package) follow. There is no other copy.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The default socket directory and the file names in it.
///
/// The rule, first that applies:
/// 1. `$XDG_RUNTIME_DIR/meltap`, when `XDG_RUNTIME_DIR` is set to an existing directory;
/// 2. `/run/user/UID/meltap`, when `/run/user/UID` exists (the login manager's runtime
///    directory: root over ssh, services and containers often have it without the variable);
/// 3. `/tmp/meltap-UID`.
///
/// Nothing is created here; `meltap run` creates the directory (mode 0700) when it is missing.
public enum SocketDirectory {
    /// The rule in words, for `--help` and messages.
    public static let rule = "$XDG_RUNTIME_DIR/meltap, else /run/user/UID/meltap when /run/user/UID exists, else /tmp/meltap-UID"

    /// The directory by the rule above, for this process's environment and user.
    public static var `default`: String {
        resolve(runtimeDirectory: getenv("XDG_RUNTIME_DIR").map { String(cString: $0) }, uid: getuid(),
                isDirectory: isDirectory)
    }

    /// The rule itself, with the environment and the file system passed in (testable).
    public static func resolve(runtimeDirectory: String?, uid: uid_t, isDirectory: (String) -> Bool) -> String {
        if let runtime = runtimeDirectory, !runtime.isEmpty, isDirectory(runtime) {
            return (runtime.hasSuffix("/") ? String(runtime.dropLast()) : runtime) + "/meltap"
        }
        let userRuntime = "/run/user/\(uid)"
        if isDirectory(userRuntime) { return userRuntime + "/meltap" }
        return "/tmp/meltap-\(uid)"
    }

    /// `CLIENT.sock`, or `CLIENT.STREAM.sock` for a named stream (`meltap run --stream`).
    public static func fileName(client: String, stream: String = "") -> String {
        stream.isEmpty ? "\(client).sock" : "\(client).\(stream).sock"
    }

    /// The directories under which `meltap run` may create missing parents of a socket
    /// directory: the user's own runtime directory (`$XDG_RUNTIME_DIR`, `/run/user/UID`) and
    /// temporary directory (`$TMPDIR`, `/tmp`). Existing ones only, without a trailing '/'.
    public static var creatableRoots: [String] {
        var roots: [String] = []
        for name in ["XDG_RUNTIME_DIR", "TMPDIR"] {
            if let value = getenv(name).map({ String(cString: $0) }), value.hasPrefix("/"), value.count > 1 {
                roots.append(value.hasSuffix("/") ? String(value.dropLast()) : value)
            }
        }
        roots += ["/run/user/\(getuid())", "/tmp"]
        return roots.filter(isDirectory)
    }

    /// True when `path` is a directory (following links, as `stat(2)`).
    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }
}
