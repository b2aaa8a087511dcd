// Where the publisher's socket lives, and making that path safe to bind: default directory
// checks, stale-socket removal, live-server detection.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MelSystem

/// An error from the publisher: what went wrong and what to do.
public struct FramePublisherError: Error, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// Another process answers on the socket path.
        case addressInUse
        /// The socket path exists and is not a socket.
        case notASocket
        /// The socket path does not fit `sockaddr_un` (107 bytes).
        case pathTooLong
        /// The client name cannot be used in a file name.
        case invalidName
        /// The socket directory is not ours or is writable by others.
        case unsafeDirectory
        /// `start` called twice, or after `stop`.
        case invalidState
        /// A system call failed; the message names it and the errno text.
        case systemCall
        /// Binding the socket failed.
        case bindFailed
    }

    public var code: Code
    public var message: String
    public var description: String { message }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// Socket path helpers (thin wrappers over `lstat`, `mkdir`, `connect`, `unlink`).
enum SocketPath {
    /// `sun_path` holds 108 bytes including the terminating NUL.
    static let maximumLength = UnixSocketAddress.maximumPathLength

    /// The default socket directory, `SocketDirectory.default` (its doc states the rule); not
    /// created here.
    static func defaultDirectory() -> String { SocketDirectory.default }

    /// `<default directory>/<name>.sock`; creates the directory with mode 0700 and checks it is
    /// ours and not writable by group or others.
    static func defaultPath(clientName: String) throws -> String {
        guard !clientName.isEmpty, !clientName.contains("/"), clientName != ".", clientName != ".." else {
            throw FramePublisherError(.invalidName,
                                      "client name \"\(clientName)\" cannot be a file name; "
                                      + "use letters, digits, '-' or '_' (no '/')")
        }
        let directory = defaultDirectory()
        try makePrivateDirectory(directory)
        let path = directory + "/" + SocketDirectory.fileName(client: clientName)
        try checkLength(path)
        return path
    }

    /// Creates the socket directory `path` (`--socket-dir`) when it is missing, as
    /// `makePrivateDirectory` does (mode 0700 given to `mkdir`, so the umask can only take bits
    /// away and there is no moment with wider access). Missing parents are created too, each
    /// mode 0700, but only inside the user's own runtime or temporary directory
    /// (`SocketDirectory.creatableRoots`); elsewhere a missing parent is an error. A directory
    /// that exists is left as it is: its mode is the user's choice (group access for
    /// `--socket-mode 660`).
    static func createMissingDirectory(_ path: String) throws {
        var directory = path
        while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
        var missing: [String] = []
        var info = stat()
        var current = directory
        while lstat(current, &info) != 0 {
            let code = errno
            guard code == ENOENT else {
                throw FramePublisherError(.systemCall, "cannot inspect \(current): \(errnoText(code))")
            }
            missing.append(current)
            let parent = directoryName(of: current)
            if parent == current { break }
            current = parent
        }
        guard !missing.isEmpty else { return }
        if missing.count > 1 {
            let roots = SocketDirectory.creatableRoots
            guard roots.contains(where: { current == $0 || current.hasPrefix($0 == "/" ? "/" : $0 + "/") }) else {
                throw FramePublisherError(.systemCall,
                                          "the socket directory \(directory) is missing, and so is its parent "
                                          + "\(directoryName(of: directory)); meltap creates missing parents only inside "
                                          + "your runtime or temporary directory (\(roots.joined(separator: ", "))). "
                                          + "Create it (mkdir -p \(directoryName(of: directory))) or choose another --socket-dir")
            }
        }
        for missingDirectory in missing.reversed() { try makePrivateDirectory(missingDirectory) }
    }

    static func isDirectory(_ path: String) -> Bool { SocketDirectory.isDirectory(path) }

    /// Creates `path` with mode 0700 if missing; then requires a real directory (not a symlink)
    /// owned by this user with no group/other write bit.
    static func makePrivateDirectory(_ path: String) throws {
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            let code = errno
            throw FramePublisherError(.systemCall,
                                      "cannot create the socket directory \(path): \(errnoText(code)); "
                                      + "pass --socket with a path in a writable directory")
        }
        var info = stat()
        guard lstat(path, &info) == 0 else {
            let code = errno
            throw FramePublisherError(.systemCall, "cannot inspect \(path): \(errnoText(code))")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw FramePublisherError(.unsafeDirectory,
                                      "the socket directory \(path) is \(describeFileKind(path, info)), not a directory; "
                                      + "meltap does not follow links there. Remove it or pass --socket")
        }
        guard info.st_uid == getuid() else {
            throw FramePublisherError(.unsafeDirectory,
                                      "socket directory \(path) belongs to uid \(info.st_uid), not to you "
                                      + "(uid \(getuid())); someone may be intercepting it. Pass --socket "
                                      + "with a directory you own")
        }
        guard info.st_mode & 0o022 == 0 else {
            let mode = String(info.st_mode & 0o7777, radix: 8)
            let what = info.st_mode & 0o1000 != 0
                ? "a shared directory like /tmp (mode \(mode): anyone may create files in it)"
                : "writable by group or others (mode \(mode))"
            throw FramePublisherError(.unsafeDirectory,
                                      "socket directory \(path) is \(what); run chmod 700 on it or pass --socket")
        }
    }

    static func checkLength(_ path: String) throws {
        guard path.utf8.count <= maximumLength else {
            throw FramePublisherError(.pathTooLong,
                                      "socket path \(path) is \(path.utf8.count) bytes; Unix sockets allow at "
                                      + "most \(maximumLength). Choose a shorter --socket or --name")
        }
    }

    /// Makes `path` free to bind: nothing there is fine; a socket nobody answers on (stale, left
    /// by a crashed server) is removed; a live server or a non-socket file is an error.
    static func prepareForBind(_ path: String) throws {
        try checkLength(path)
        var info = stat()
        if lstat(path, &info) != 0 {
            let code = errno
            if code == ENOENT { return }
            throw FramePublisherError(.systemCall, "cannot inspect socket path \(path): \(errnoText(code))")
        }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw FramePublisherError(.notASocket,
                                      "\(path) exists and is \(describeFileKind(path, info)), not a socket; refusing to "
                                      + "replace it. Choose another --socket or --name, or remove that file")
        }
        switch probe(path) {
        case 0:
            throw FramePublisherError(.addressInUse,
                                      "another meltap is serving at \(path); choose another --socket or "
                                      + "--name, or stop that one first")
        case ECONNREFUSED:
            // Stale socket from a process that exited without removing it.
            if unlink(path) != 0 && errno != ENOENT {
                let code = errno
                let blame = info.st_uid != getuid()
                    ? "it belongs to uid \(info.st_uid), not to you (uid \(getuid())); ask its owner to remove it"
                    : errnoText(code)
                throw FramePublisherError(.systemCall,
                                          "cannot remove the stale socket \(path): \(blame). Or choose another "
                                          + "--socket or --name")
            }
        case ENOENT:
            return
        case let code:
            throw FramePublisherError(.systemCall,
                                      "cannot check whether a server answers at \(path): \(errnoText(code)); "
                                      + "choose another --socket or --name")
        }
    }

    /// The socket's name inside the staging directory (short, so the staged path fits when the
    /// final one does).
    static let stagedName = "s"

    static func directoryName(of path: String) -> String {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        let directory = String(path[..<slash])
        return directory.isEmpty ? "/" : directory
    }

    /// Creates `<directory of path>/.meltap-XXXXXX` with mode 0700 (`mkdtemp`), where the socket
    /// is bound before it is published: nobody but this user can connect to it there.
    static func makeStagingDirectory(beside path: String) throws -> String {
        let template = directoryName(of: path) + "/.meltap-XXXXXX"
        guard template.utf8.count + 1 + stagedName.utf8.count <= maximumLength else {
            throw FramePublisherError(.pathTooLong,
                                      "socket directory \(directoryName(of: path)) is too long: meltap binds in a "
                                      + "private directory beside the socket first, and that path would exceed "
                                      + "\(maximumLength) bytes. Choose a --socket in a shorter directory")
        }
        var bytes = Array(template.utf8CString)
        let made = bytes.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else {
            let code = errno
            throw FramePublisherError(.systemCall, bindDirectoryProblem(path, code))
        }
        return String(decoding: bytes.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Removes the staging directory and anything left in it (the staged socket after a failure).
    static func removeStagingDirectory(_ directory: String) {
        unlink(directory + "/" + stagedName)
        rmdir(directory)
    }

    /// Makes the staged socket appear at `path` with `link(2)`, which never replaces an existing
    /// file: if another server bound `path` since `prepareForBind`, this one fails instead of
    /// stealing its name.
    static func publish(_ stagedPath: String, at path: String) throws {
        guard link(stagedPath, path) == 0 else {
            let code = errno
            if code == EEXIST {
                throw FramePublisherError(.addressInUse,
                                          "\(path) appeared while meltap was starting (another meltap?); "
                                          + "choose another --socket or --name")
            }
            throw FramePublisherError(.systemCall, "cannot create the socket at \(path): \(errnoText(code))")
        }
    }

    /// What stops this user from creating a socket for `path`, in words: a missing directory,
    /// one without write permission, a read-only file system.
    static func bindDirectoryProblem(_ path: String, _ code: Int32) -> String {
        let directory = directoryName(of: path)
        switch code {
        case ENOENT, ENOTDIR:
            return "cannot create the socket \(path): the directory \(directory) does not exist. "
                + "Create it, or choose a --socket in an existing directory"
        case EACCES, EPERM:
            var info = stat()
            var owner = ""
            if stat(directory, &info) == 0 {
                owner = " (owner uid \(info.st_uid), mode \(String(info.st_mode & 0o7777, radix: 8)))"
            }
            return "cannot create the socket \(path): you (uid \(getuid())) may not create files in "
                + "\(directory)\(owner). Choose a --socket in a directory you can write to"
        case EROFS:
            return "cannot create the socket \(path): \(directory) is on a read-only file system. "
                + "Choose a --socket elsewhere"
        default:
            return "cannot create the socket \(path) in \(directory): \(errnoText(code))"
        }
    }

    /// Tries to connect to the Unix socket at `path`; returns 0 when something answers, else errno.
    static func probe(_ path: String) -> Int32 {
        guard let address = UnixSocketAddress(path: path) else { return ENAMETOOLONG }
        let fd = UnixSocketAddress.streamSocket()
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        return address.connect(fd)
    }
}
