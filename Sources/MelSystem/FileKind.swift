// What is at a path, in words, for error messages.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What `info` (from `lstat(2)` of `path`) says is there: "a regular file", "a directory",
/// "a symbolic link to 'victim.txt'" (the target read with `readlink(2)`), "a socket" ….
public func describeFileKind(_ path: String, _ info: stat) -> String {
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
