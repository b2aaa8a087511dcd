// Creating output files safely: never through a symbolic link, never over an existing file unless
// asked, and removing on failure only what this process created.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MelSystem

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
            throw FeatureFileError(message: "Cannot write \(path): it is \(describeFileKind(path, info)). \(advice)",
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

    /// Creates a new hidden temporary file beside `path` (`AtomicFile.createTemporary`).
    static func createTemporary(beside path: String) throws -> (descriptor: Int32, file: CreatedFile) {
        do {
            return try AtomicFile.createTemporary(beside: path)
        } catch {
            throw FeatureFileError.cannotCreate(path: path, code: error.code)
        }
    }

    /// Moves the finished temporary file `temporary` to `path` (`AtomicFile.install`): with
    /// `.refuse` by `link(2)`, which fails rather than replace a file that appeared meanwhile;
    /// with `.replace`, by `rename(2)`. On failure the temporary file is removed and nothing at
    /// `path` is touched.
    static func install(_ temporary: CreatedFile, at path: String, existing: ExistingOutput) throws {
        do {
            try AtomicFile.install(temporary, at: path, replacing: existing == .replace,
                                   sync: Durability.syncsEachFile)
        } catch {
            if error.code == EEXIST { try check(path, existing: existing) }
            throw FeatureFileError(
                message: "Cannot move the finished file to \(path): \(errnoText(error.code)); nothing was saved. Check "
                    + "that \(path) is not a directory and that you may write to \(directoryName(of: path)), then run again.",
                code: error.code, rowsSaved: 0)
        }
    }
}
