import CJack
import MelRealtime

/// What every JACK callback receives as `arg`: the JACK side of the realtime path (the client,
/// its ports, the callback's timing) around the JACK-free `RealtimeEngine` that does the work.
///
/// Preallocated by `JackClient.init`, freed by its deinit. Plain values and pointers only, so the
/// callbacks do no reference counting and no exclusivity checks. Written by the realtime thread
/// (`buffers`) while the client is active; by the supervisor only while no client is active.
struct RealtimeState {
    /// The open client (`jack_client_t *`), nil while reconnecting.
    var client: OpaquePointer?
    /// `channelCount` input ports (`jack_port_t *`), channel order.
    let ports: UnsafeMutablePointer<OpaquePointer?>
    let channelCount: Int
    /// `channelCount` slots: the process callback's port buffers of the current block (prefaulted).
    let buffers: UnsafeMutablePointer<UnsafePointer<Float>?>
    /// The callback's work.
    let engine: RealtimeEngine
    /// Process-callback durations.
    let histogram: UnsafeMutablePointer<DurationHistogram>
    /// rtguard / RealtimeSanitizer hooks, nil when not preloaded.
    let hooks: RealtimeHooks

    // The engine's state under the names the supervisor's restart code uses
    // (`JackClient.reconnectAfterShutdown` sets them while no client is active).

    var laneCount: Int { engine.state.pointee.laneCount }
    var lanes: UnsafeMutablePointer<StreamLane> { engine.state.pointee.lanes }
    var set: UnsafeMutablePointer<AnalyzerSet> {
        get { engine.state.pointee.set }
        nonmutating set { engine.state.pointee.set = newValue }
    }
    var needsStreamStart: Bool {
        get { engine.state.pointee.needsStreamStart }
        nonmutating set { engine.state.pointee.needsStreamStart = newValue }
    }
    var streamStartFlags: UInt32 {
        get { engine.state.pointee.streamStartFlags }
        nonmutating set { engine.state.pointee.streamStartFlags = newValue }
    }
    var expectedBlockStart: Int64 {
        get { engine.state.pointee.expectedBlockStart }
        nonmutating set { engine.state.pointee.expectedBlockStart = newValue }
    }
}
