// Whole-buffer writes: write(2), pwrite(2) and send(2) repeated over short counts and EINTR.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a whole-buffer write ended: bytes that reached the descriptor, and 0 or the errno that
/// stopped it (EIO when the call wrote nothing and reported no error).
public struct WriteOutcome: Sendable, Equatable {
    /// Bytes written before the end or the failure.
    public var written: Int
    /// 0 when every byte was written, else the errno of the failed call.
    public var errorCode: Int32
    public var succeeded: Bool { errorCode == 0 }

    public init(written: Int, errorCode: Int32) {
        self.written = written
        self.errorCode = errorCode
    }
}

/// Writes all of `bytes` to `descriptor` with `write(2)`, retrying on EINTR and short writes.
public func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> WriteOutcome {
    transferAll(bytes) { base, count, _ in write(descriptor, base, count) }
}

/// Writes all of `bytes` at `offset` of `descriptor` with `pwrite(2)`, retrying on EINTR and
/// short writes; the file offset of `descriptor` is not moved.
public func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> WriteOutcome {
    transferAll(bytes) { base, count, done in pwrite(descriptor, base, count, off_t(offset + done)) }
}

/// Sends all of `bytes` on the socket `descriptor` with `send(2)` and MSG_NOSIGNAL (a closed peer
/// gives EPIPE, not SIGPIPE), retrying on EINTR and short sends. A send timeout shows as EAGAIN.
public func sendAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> WriteOutcome {
    transferAll(bytes) { base, count, _ in send(descriptor, base, count, Int32(MSG_NOSIGNAL)) }
}

/// The loop behind `writeAll` and `sendAll`: `call(base, count, done)` moves up to `count` bytes
/// from `base`, the `done` bytes before having gone already.
@inline(__always)
private func transferAll(_ bytes: UnsafeRawBufferPointer,
                         _ call: (UnsafeRawPointer, Int, Int) -> Int) -> WriteOutcome {
    var done = 0
    while done < bytes.count {
        let count = retryingOnInterrupt { call(bytes.baseAddress! + done, bytes.count - done, done) }
        if count < 0 { return WriteOutcome(written: done, errorCode: errno) }
        if count == 0 { return WriteOutcome(written: done, errorCode: EIO) }
        done += count
    }
    return WriteOutcome(written: done, errorCode: 0)
}
