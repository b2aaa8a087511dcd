// Creating output files safely: never through a symbolic link, never over an existing file unless
// asked, and removing on failure only what this process created.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What to do when an output path already holds a file (`--force` chooses `.replace`).
public enum ExistingOutput: Sendable, Equatable {
    /// Refuse: the error names what is there and suggests `--force`.
    case refuse
    /// Replace a regular file. Symbolic links, directories and special files are refused anyway.
    case replace
}

/// Checks and creation for output paths (thin wrappers over `lstat`, `open`, `link`, `rename`).
public enum OutputPath {
    /// Throws unless `path` may be written under `existing`: nothing there, or (`.replace`) a
    /// regular file. Never follows a symbolic link at `path`: a link is refused and described.
    /// Call it for every output before doing any work, so a refusal costs nothing.
    public static func check(_ path: String, existing: ExistingOutput) throws {
        var info = stat()
        if lstat(path, &info) != 0 {
            let code = errno
            if code == ENOENT { return }
            throw FeatureFileError.cannotCreate(path: path, code: code)
        }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFREG else {
            let advice = kind == S_IFLNK
                ? "meltap does not write through links. Remove the link or choose another path."
                : "Choose another output path."
            throw FeatureFileError(message: "Cannot write \(path): it is \(describe(path, info)). \(advice)",
                                   code: EEXIST, rowsSaved: 0)
        }
        guard existing == .replace else {
            throw FeatureFileError(message: "\(path) already exists (a file of \(info.st_size) bytes); meltap "
                                   + "does not overwrite files unless you pass --force. Choose another output "
                                   + "path, or add --force to replace it.", code: EEXIST, rowsSaved: 0)
        }
    }

    /// Creates `path` as a new file, mode 0644 (less the umask), opened for writing. Uses
    /// `O_CREAT | O_EXCL | O_NOFOLLOW`, so it never opens an existing file or a link; with
    /// `.replace`, a regular file already there is unlinked first.
    /// - Returns: the descriptor (caller closes it) and the file's identity for `remove`.
    static func create(_ path: String, existing: ExistingOutput) throws -> (descriptor: Int32, file: CreatedFile) {
        try check(path, existing: existing)
        if existing == .replace, unlink(path) != 0, errno != ENOENT {
            throw FeatureFileError.cannotCreate(path: path, code: errno)
        }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            let code = errno
            if code == EEXIST || code == ELOOP {
                try check(path, existing: .refuse)  // something appeared meanwhile: say what
            }
            throw FeatureFileError.cannotCreate(path: path, code: code)
        }
        return (descriptor, CreatedFile(path: path, descriptor: descriptor))
    }

    /// Creates a new hidden temporary file beside `path` (`.NAME.tmp-<pid>-<random>`), exclusively.
    static func createTemporary(beside path: String) throws -> (descriptor: Int32, file: CreatedFile) {
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
        throw FeatureFileError.cannotCreate(path: path, code: lastError)
    }

    /// Moves the finished temporary file `temporary` to `path`. With `.refuse` it uses `link(2)`,
    /// which fails rather than replace a file that appeared meanwhile; with `.replace`,
    /// `rename(2)`, which replaces the name (a link there is replaced, not followed).
    /// On failure the temporary file is removed and nothing at `path` is touched.
    static func install(_ temporary: CreatedFile, at path: String, existing: ExistingOutput) throws {
        var code: Int32 = 0
        switch existing {
        case .replace:
            if rename(temporary.path, path) != 0 { code = errno }
        case .refuse:
            if link(temporary.path, path) != 0 { code = errno } else { unlink(temporary.path) }
        }
        guard code == 0 else {
            temporary.remove()
            if code == EEXIST { try check(path, existing: existing) }
            throw FeatureFileError(
                message: "Cannot move the finished file to \(path): \(errorText(code)); nothing was saved. Check "
                    + "that \(path) is not a directory and that you may write to \(directoryName(of: path)), then run again.",
                code: code, rowsSaved: 0)
        }
        syncDirectory(of: path)
    }

    /// What is at `path`, for messages: "a symbolic link to 'victim.txt'", "a directory" ….
    static func describe(_ path: String, _ info: stat) -> String {
        switch info.st_mode & S_IFMT {
        case S_IFLNK:
            var target = [UInt8](repeating: 0, count: 4096)
            let count = target.withUnsafeMutableBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { readlink(path, $0.baseAddress!, $0.count) }
            }
            return count < 0 ? "a symbolic link" : "a symbolic link to '\(String(decoding: target[0..<count], as: UTF8.self))'"
        case S_IFREG: return "a regular file"
        case S_IFDIR: return "a directory"
        case S_IFSOCK: return "a socket"
        case S_IFIFO: return "a named pipe"
        case S_IFCHR, S_IFBLK: return "a device"
        default: return "a special file"
        }
    }
}

/// A file this process created, identified by device and inode: `remove()` unlinks the path only
/// while it still names that file, so a failure never deletes something it did not make.
struct CreatedFile: Sendable {
    let path: String
    let device: UInt64
    let inode: UInt64

    init(path: String, descriptor: Int32) {
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

    /// Whether `path` still names the file created.
    var isInPlace: Bool {
        var info = stat()
        return lstat(path, &info) == 0 && UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// Unlinks `path` if it still names the file created; otherwise leaves it alone.
    func remove() {
        if isInPlace { unlink(path) }
    }
}
