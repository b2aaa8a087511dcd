// Crash-safe whole-file output: a hidden temporary file beside the destination, fsync(2), then
// rename(2) (or link(2), to refuse replacing), then fsync of the directory.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call: which one, and its errno.
public struct SystemCallError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The C function, e.g. "open", "write", "fsync", "rename".
    public var call: String
    public var code: Int32
    public init(_ call: String, _ code: Int32) { self.call = call; self.code = code }
    public var description: String { "\(call): \(errnoText(code))" }
}

/// A file this process created, identified by device and inode: `remove()` unlinks the path only
/// while it still names that file, so a failure never deletes something it did not make.
public struct CreatedFile: Sendable {
    public let path: String
    public let device: UInt64
    public let inode: UInt64

    /// Records the identity of the open `descriptor` (`fstat(2)`) created at `path`.
    public init(path: String, descriptor: Int32) {
        self.path = path
        var info = stat()
        if fstat(descriptor, &info) == 0 {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        } else {
            device = 0
            inode = 0
        }
    }

    /// Whether `path` still names the file created (`lstat(2)`).
    public var isInPlace: Bool {
        var info = stat()
        return lstat(path, &info) == 0 && UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// Unlinks `path` if it still names the file created; otherwise leaves it alone.
    public func remove() {
        if isInPlace { unlink(path) }
    }
}

/// The temporary-file, fsync, rename sequence behind every file meltap writes whole.
public enum AtomicFile {
    /// Creates a new hidden file `.NAME.tmp-<pid>-<random>` beside `path` with
    /// `open(2)` (O_CREAT | O_EXCL | O_NOFOLLOW, mode 0644), trying 16 names.
    public static func createTemporary(beside path: String) throws(SystemCallError)
        -> (descriptor: Int32, file: CreatedFile) {
        let directory = directoryName(of: path)
        let prefix = directory == "." && !path.hasPrefix("./") ? "" : (directory == "/" ? "/" : directory + "/")
        var lastError: Int32 = EEXIST
        for _ in 0..<16 {
            let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
            let temporary = "\(prefix).\(baseName(of: path)).tmp-\(getpid())-\(suffix)"
            let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            if descriptor >= 0 { return (descriptor, CreatedFile(path: temporary, descriptor: descriptor)) }
            lastError = errno
            if lastError != EEXIST { break }
        }
        throw SystemCallError("open", lastError)
    }

    /// Moves the finished (closed) `temporary` to `path`. Replacing, with `rename(2)`, which
    /// replaces the name (a link there is replaced, not followed); otherwise with `link(2)`, which
    /// fails with EEXIST rather than replace a file that appeared meanwhile. On failure the
    /// temporary file is removed and nothing at `path` is touched. With `sync`, then fsyncs the
    /// directory so the new name survives a power cut.
    public static func install(_ temporary: CreatedFile, at path: String, replacing: Bool,
                               sync: Bool) throws(SystemCallError) {
        if replacing {
            if rename(temporary.path, path) != 0 {
                let code = errno
                temporary.remove()
                throw SystemCallError("rename", code)
            }
        } else {
            if link(temporary.path, path) != 0 {
                let code = errno
                temporary.remove()
                throw SystemCallError("link", code)
            }
            unlink(temporary.path)
        }
        if sync { syncDirectory(of: path) }
    }

    /// Writes `bytes` to the open temporary `descriptor`, fsyncs it when `sync`, and closes it
    /// whatever happens; on failure removes `temporary`.
    public static func finish(_ descriptor: Int32, _ temporary: CreatedFile, writing bytes: UnsafeRawBufferPointer,
                              sync: Bool) throws(SystemCallError) {
        let outcome = writeAll(descriptor, bytes)
        var failure: SystemCallError? = outcome.succeeded ? nil : SystemCallError("write", outcome.errorCode)
        if failure == nil && sync && fsync(descriptor) != 0 { failure = SystemCallError("fsync", errno) }
        close(descriptor)
        if let failure {
            temporary.remove()
            throw failure
        }
    }
}

/// fsyncs the directory holding `path` (`open(2)` O_DIRECTORY, `fsync(2)`), so a rename in it
/// survives a power cut. Best effort: a failure is ignored.
public func syncDirectory(of path: String) {
    let descriptor = open(directoryName(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if descriptor >= 0 {
        _ = fsync(descriptor)
        close(descriptor)
    }
}

/// The directory part of `path` ("." if none), like dirname(1).
public func directoryName(of path: String) -> String {
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return "." }
    if slash == trimmed.startIndex { return "/" }
    return String(trimmed[..<slash])
}

/// The last component of `path`, like basename(1).
public func baseName(of path: String) -> String {
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return String(trimmed) }
    return String(trimmed[trimmed.index(after: slash)...])
}
