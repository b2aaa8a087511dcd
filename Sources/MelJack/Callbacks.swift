// JACK callbacks: global functions (not closures from main.swift, which would be @MainActor
// and crash when JACK calls them from its threads). Each receives the client's
// `RealtimeState` pointer as `arg`, and only passes JACK's values to its `RealtimeEngine`:
// the block's port buffers and frame time, and the server's events.
import CJack
import Glibc
import MelRealtime
import MelSystem
import Synchronization

@inline(__always)
private func realtimeState(_ arg: UnsafeMutableRawPointer?) -> UnsafeMutablePointer<RealtimeState> {
    // The pointer was registered by JackClient, which outlives the JACK client.
    arg.unsafelyUnwrapped.assumingMemoryBound(to: RealtimeState.self)
}

/// Process callback (realtime thread): hands the block's port buffers and its frame time to the
/// engine, and times it.
/// Real-time safe: no allocation or locks. System calls: the engine's at most one `sem_post`;
/// `clock_gettime` is a vDSO call.
@_noAllocation @_noLocks
func meltapProcess(_ blockLength: jack_nframes_t, _ arg: UnsafeMutableRawPointer?) -> Int32 {
    let state = realtimeState(arg)
    let hooks = state.pointee.hooks
    _unsafePerformance { hooks.enter?() }
    let started = monotonicNanoseconds()
    let client = state.pointee.client
    let now = _unsafePerformance { jack_last_frame_time(client) }
    let buffers = state.pointee.buffers
    for channel in 0..<state.pointee.channelCount {
        let port = state.pointee.ports[channel]
        let raw = _unsafePerformance { jack_port_get_buffer(port, blockLength) }
        if let raw { buffers[channel] = UnsafePointer(raw.assumingMemoryBound(to: Float.self)) } else { buffers[channel] = nil }
    }
    state.pointee.engine.process(buffers: UnsafePointer(buffers), blockStart: now, count: Int(blockLength))
    state.pointee.histogram.pointee.record(nanoseconds: monotonicNanoseconds() &- started)
    _unsafePerformance { hooks.leave?() }
    return 0
}

/// Buffer-size callback: the engine records the new period only (everything is preallocated for
/// 8192). jack2 calls it in the realtime thread at activation, so it is held to the same rules.
/// Real-time safe: no allocation, locks or system calls.
@_noAllocation @_noLocks
func meltapBufferSize(_ blockLength: jack_nframes_t, _ arg: UnsafeMutableRawPointer?) -> Int32 {
    let state = realtimeState(arg)
    let hooks = state.pointee.hooks
    _unsafePerformance { hooks.enter?() }
    state.pointee.engine.noteBlockLength(blockLength)
    _unsafePerformance { hooks.leave?() }
    return 0
}

/// Xrun callback (notification thread): count it and flag the next frames.
func meltapXrun(_ arg: UnsafeMutableRawPointer?) -> Int32 {
    realtimeState(arg).pointee.engine.noteXrun()
    return 0
}

/// Sample-rate callback (notification thread): the supervisor rebuilds the analyzers.
func meltapSampleRate(_ rate: jack_nframes_t, _ arg: UnsafeMutableRawPointer?) -> Int32 {
    realtimeState(arg).pointee.engine.noteSampleRate(rate)
    return 0
}

/// Port-registration callback (notification thread), for ports appearing and going: the
/// supervisor frees the inputs of sources that went and rescans the `--connect` patterns, off
/// this thread (connecting from inside a notification would deadlock the server).
func meltapPortRegistration(_ port: jack_port_id_t, _ registered: Int32, _ arg: UnsafeMutableRawPointer?) {
    let shared = realtimeState(arg).pointee.engine.shared
    shared.pointee.portsChanged.store(true, ordering: .relaxed)
    shared.pointee.wakeSupervisor()
}

/// Port-connect callback (notification thread): the supervisor snapshots our connections so it
/// can restore them after a server restart.
func meltapPortConnect(_ a: jack_port_id_t, _ b: jack_port_id_t, _ connected: Int32,
                       _ arg: UnsafeMutableRawPointer?) {
    let shared = realtimeState(arg).pointee.engine.shared
    shared.pointee.connectionsChanged.store(true, ordering: .relaxed)
    shared.pointee.wakeSupervisor()
}

/// Latency callback (notification thread): refresh the capture latency of our inputs.
func meltapLatency(_ mode: jack_latency_callback_mode_t, _ arg: UnsafeMutableRawPointer?) {
    guard mode == JackCaptureLatency else { return }
    let state = realtimeState(arg)
    var low = UInt32.max
    var high: UInt32 = 0
    for channel in 0..<state.pointee.channelCount {
        guard let port = state.pointee.ports[channel] else { continue }
        var range = jack_latency_range_t()
        jack_port_get_latency_range(port, JackCaptureLatency, &range)
        low = min(low, range.min)
        high = max(high, range.max)
    }
    let shared = state.pointee.engine.shared
    shared.pointee.captureLatencyMinimum.store(low == UInt32.max ? 0 : low, ordering: .relaxed)
    shared.pointee.captureLatencyMaximum.store(high, ordering: .relaxed)
}

/// Info-shutdown callback (server gone; libjack's notification thread, or its process thread
/// on a failed cycle): record which thread, set a flag and wake the supervisor.
func meltapShutdown(_ code: jack_status_t, _ reason: UnsafePointer<CChar>?, _ arg: UnsafeMutableRawPointer?) {
    // Releasing: published before the flag the supervisor acquires (in `noteServerGone`).
    shutdownThread.store(meltap_gettid(), ordering: .releasing)
    realtimeState(arg).pointee.engine.noteServerGone()
}

/// The kernel thread ID of the libjack thread that last delivered a shutdown; 0 before any. That
/// thread goes on handling the server's last notifications, holding libjack's synchro mutex
/// while it does, until the server closes its socket; the supervisor waits for it to end before
/// `jack_client_close`, which would cancel it asynchronously, mutex and all (JackRestartTests).
/// Process-wide: with several clients in one process, a supervisor may wait for another
/// client's thread, which ends the same way (the wait is bounded).
let shutdownThread = Atomic<pid_t>(0)

/// While set, JACK's own error messages are dropped (the supervisor polls `jack_client_open`
/// while the server is down, and each failed attempt would print four lines).
let jackMessagesQuiet = Atomic<Bool>(false)

/// JACK error function: prefix and print to stderr with `write` (three calls).
///
/// No allocation and no lock, so that the calling thread may be cancelled inside it: libjack
/// calls it on its notification thread after a server shutdown ("Cannot read socket",
/// "CheckRes error"…), and `jack_client_close` cancels that thread with
/// PTHREAD_CANCEL_ASYNCHRONOUS. A thread cancelled inside malloc would leave the allocator
/// locked for every other thread (docs/realtime.md, "Restarts never hang meltap").
@_noAllocation @_noLocks
func meltapJackMessage(_ message: UnsafePointer<CChar>?) {
    // The global is initialised by JackClient.init before this function is installed.
    guard let message, !_unsafePerformance({ jackMessagesQuiet.load(ordering: .relaxed) }) else { return }
    var length = 0
    while message[length] != 0 { length += 1 }
    let prefix: StaticString = "jack: ", newline: StaticString = "\n"
    _unsafePerformance {  // write(2) is the system call itself: no allocation or lock in user space
        _ = write(2, prefix.utf8Start, prefix.utf8CodeUnitCount)
        _ = write(2, message, length)
        _ = write(2, newline.utf8Start, newline.utf8CodeUnitCount)
    }
}

/// JACK info function: info chatter (connections, buffer sizes) is dropped.
func meltapJackInfo(_ message: UnsafePointer<CChar>?) {}
