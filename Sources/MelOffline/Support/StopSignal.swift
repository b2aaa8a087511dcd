import Foundation
import Glibc
import Synchronization
import MelSystem

/// SIGINT / SIGTERM as a stop request, for every long-running command (`run`, `record`, `view`).
///
/// The handler touches only an atomic flag and a semaphore (`sem_post` is async-signal-safe), both
/// created by `install()` before the handler can run. Poll `requested` between reads, or sleep in
/// `wait(seconds:)`.
public enum StopSignal {
    /// Whether SIGINT or SIGTERM arrived since `install()`.
    public static var requested: Bool { stopRequested.load(ordering: .relaxed) }

    /// Installs the handlers and unblocks the two signals: a parent may have started us with them
    /// blocked (test runners do), and threads created from here on inherit the unblocked mask.
    public static func install() {
        if stopSemaphore == nil {
            let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
            sem_init(semaphore, 0, 0)
            stopSemaphore = semaphore
            let deadline = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
            sem_init(deadline, 0, 0)
            deadlineSemaphore = deadline
        }
        _ = stopRequested.load(ordering: .relaxed)  // initialise the global before any handler runs
        signal(SIGINT, stopSignalHandler)
        signal(SIGTERM, stopSignalHandler)
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    }

    /// A backstop for the orderly stop: once SIGINT or SIGTERM arrives, a thread of its own
    /// waits `seconds` more and then, if the process is still running, prints `reason()` and
    /// ends it with status 1 (`_exit`: no exit handlers, which could wait on the same stuck
    /// call). For a stop held up by a call that never returns, e.g. libjack waiting for a JACK
    /// server that does not answer. Call once, after `install()`.
    public static func exitIfStillRunning(secondsAfterSignal seconds: Double, reason: @escaping @Sendable () -> String) {
        guard deadlineSemaphore != nil else { return }
        let thread = Thread {
            _ = retryingOnInterrupt { sem_wait(deadlineSemaphore!) }
            usleep(useconds_t(seconds * 1e6))
            let line = reason() + "\n"
            fflush(nil)
            _ = line.withCString { write(2, $0, strlen($0)) }
            _exit(1)
        }
        thread.name = "meltap-stop-deadline"
        thread.start()
    }

    /// Sleeps until a stop signal (true) or `seconds` pass (false); nil sleeps until the signal.
    /// Returns at once with true if the signal came before the call.
    @discardableResult
    public static func wait(seconds: Double?) -> Bool {
        guard let semaphore = stopSemaphore else { return false }
        let deadline = seconds.map { monotonicNow() + $0 }
        while !requested {
            var step = 0.5
            if let deadline {
                step = min(step, deadline - monotonicNow())
                if step <= 0 { return false }
            }
            MelSystem.wait(on: semaphore, seconds: step)
        }
        return true
    }
}

private let stopRequested = Atomic<Bool>(false)
/// Allocated by `StopSignal.install()` before the handler is installed.
nonisolated(unsafe) private var stopSemaphore: UnsafeMutablePointer<sem_t>?
/// Posted once per signal for `exitIfStillRunning`'s thread; allocated with `stopSemaphore`.
nonisolated(unsafe) private var deadlineSemaphore: UnsafeMutablePointer<sem_t>?

/// Async-signal-safe: one atomic store and two `sem_post`s.
private func stopSignalHandler(_ signal: Int32) {
    stopRequested.store(true, ordering: .relaxed)
    if let stopSemaphore { sem_post(stopSemaphore) }
    if let deadlineSemaphore { sem_post(deadlineSemaphore) }
}
