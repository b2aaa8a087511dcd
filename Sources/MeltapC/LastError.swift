// The C ABI's error channel: the last failure's message, per thread.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The thread-specific slot holding the calling thread's last error message: a `strdup`ed C
/// string owned by the slot, freed when replaced or when the thread exits.
private let lastErrorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

/// Records `message` as this thread's last error (`meltap_last_error`). Off the realtime path:
/// it allocates; only failing calls reach it.
func setLastError(_ message: String) {
    let previous = pthread_getspecific(lastErrorKey)
    pthread_setspecific(lastErrorKey, strdup(message))
    free(previous)
}

/// `meltap_last_error`: the message of the last call that failed on this thread, or "" when
/// none has. The pointer stays valid until the next failing call on this thread.
@c(meltap_last_error)
public func meltapLastError() -> UnsafePointer<CChar> {
    if let message = pthread_getspecific(lastErrorKey) {
        return UnsafePointer(message.assumingMemoryBound(to: CChar.self))
    }
    return emptyMessage
}

/// The "" returned when no call has failed on this thread; static, never freed.
private nonisolated(unsafe) let emptyMessage: UnsafePointer<CChar> = {
    let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
    pointer.initialize(to: 0)
    return UnsafePointer(pointer)
}()

/// A failure of a C ABI call: the message `meltap_last_error` returns, saying what to do.
struct CallError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// `text` as a Swift string, or nil for a NULL pointer.
func string(_ text: UnsafePointer<CChar>?) -> String? { text.map { String(cString: $0) } }
