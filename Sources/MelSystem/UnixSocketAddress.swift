// The address of a Unix-domain socket (sockaddr_un), and connect(2) to it.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A filesystem path as a `sockaddr_un`. `sun_path` holds 108 bytes with the terminating NUL,
/// so a path may have at most `maximumPathLength` (107) bytes.
public struct UnixSocketAddress: Sendable {
    /// Longest path, in bytes of UTF-8, that fits `sun_path` with its NUL.
    public static let maximumPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    public let path: String
    private var address = sockaddr_un()

    /// Nil when `path` is longer than `maximumPathLength` bytes.
    public init?(path: String) {
        let bytes = Array(path.utf8)
        guard bytes.count <= Self.maximumPathLength else { return nil }
        self.path = path
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
    }

    /// Calls `body` with the address as a `sockaddr` and its length, for bind(2) and connect(2).
    public func withSocketAddress<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Result) rethrows -> Result {
        try withUnsafePointer(to: address) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
    }

    /// `socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)`: the descriptor, or -1 with errno set.
    public static func streamSocket() -> Int32 {
        #if canImport(Glibc)
        socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
    }

    /// `connect(2)` of `descriptor` to this address, retried on EINTR: 0, or the errno.
    public func connect(_ descriptor: Int32) -> Int32 {
        let result = retryingOnInterrupt {
            withSocketAddress { address, length in
                #if canImport(Glibc)
                Glibc.connect(descriptor, address, length)
                #else
                Darwin.connect(descriptor, address, length)
                #endif
            }
        }
        return result == 0 ? 0 : errno
    }
}
