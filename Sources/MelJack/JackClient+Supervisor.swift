import CJack
import Foundation
import Glibc
import MelDSP
import MelRealtime
import MelSystem

/// The supervisor thread (ours, not JACK's): rebuilds the analyzers after a sample-rate change,
/// reconnects after a server shutdown, and is the only thread that makes the server-bound libjack
/// calls after `start()` (each watched through `libjack(_:_:)`).
extension JackClient {
    func supervise() {
        /// When to read our inputs' connections (after a notification, once the graph settled),
        /// and whether a port-connect notification asked for it (else a port came or went).
        var readConnectionsAt: ContinuousClock.Instant?
        var connectionsChanged = false
        var lastRead = ContinuousClock.now
        while !stopping.load(ordering: .acquiring) {
            waitForWork(seconds: 0.1)
            if stopping.load(ordering: .acquiring) { break }
            // Acquiring: pairs with the shutdown callback's releasing store.
            if shared.pointee.serverGone.exchange(false, ordering: .acquiring) {
                reconnectAfterShutdown()
                readConnectionsAt = nil
                continue
            }
            collectRetired()
            if shared.pointee.connectionsChanged.exchange(false, ordering: .relaxed) {
                connectionsChanged = true
                readConnectionsAt = readConnectionsAt ?? .now + connectionSettleTime
            }
            if shared.pointee.portsChanged.exchange(false, ordering: .relaxed) {
                connectMatching()
                // A port that went away took its connections with it.
                readConnectionsAt = readConnectionsAt ?? .now + connectionSettleTime
            }
            if let at = readConnectionsAt, ContinuousClock.now >= at {
                readConnectionsAt = nil
                if connectionsChanged { snapshotConnections() } else { observeConnections() }
                connectionsChanged = false
                lastRead = .now
            } else if readConnectionsAt == nil, ContinuousClock.now - lastRead > .seconds(1) {
                // Once a second as well: a read that came before the graph settled is put right
                // without waiting for the next notification.
                observeConnections()
                lastRead = .now
            }
            let rate = Double(shared.pointee.serverSampleRate.load(ordering: .relaxed))
            if rate > 0, rate != mutable.withLock({ $0.inputSampleRate }) { reconfigure(rate: rate) }
        }
        // Here, not in stop(): a close that blocks on the server blocks this thread, which
        // stop() waits for with a deadline, never the thread that asked to stop.
        closeClient()
        mutable.withLock { $0.supervisorRunning = false }
    }

    /// How long after a connection or port notification the supervisor reads our connections:
    /// three periods, at least 50 ms. jack2 publishes connection changes in a double-buffered
    /// graph state that the server switches at its next cycle
    /// (`JackGraphManager`'s `JackAtomicState`), while port names change at once; read before the
    /// switch, a released port's ID that a new port took shows up under the new port's name.
    var connectionSettleTime: Duration {
        let rate = mutable.withLock { $0.inputSampleRate }
        let period = rate > 0 ? Double(blockLength) / rate : 0
        return .seconds(max(0.05, 3 * period))
    }

    /// Sleeps until a callback posts `supervisorWake` or `seconds` pass (`MelSystem.wait(on:seconds:)`).
    func waitForWork(seconds: Double) {
        MelSystem.wait(on: shared.pointee.supervisorWake, seconds: seconds)
    }

    /// Frees an analyzer set the realtime thread has let go of.
    func collectRetired() { state.pointee.engine.collectRetired() }

    /// Builds analyzers for a new sample rate and hands them to the realtime thread, which picks
    /// them up at its next block start without waiting.
    func reconfigure(rate: Double) {
        guard !state.pointee.engine.handshakeBusy else { return }  // next round
        let configurations: [MelConfiguration]
        let parts: [AnalyzerSet.Parts]
        do {
            configurations = try Self.makeConfigurations(streamSpecs, inputRate: rate)
            parts = try Self.makeParts(configurations, inputRate: rate, options: options, count: channelCount)
        } catch {
            options.log("sample rate changed to \(Int(rate)) Hz but the analyzer cannot be rebuilt: \(error)")
            mutable.withLock { $0.inputSampleRate = rate }  // do not retry every round
            return
        }
        for (index, part) in parts.enumerated() where part.analyzers[0].frameWidth != rings[index].width {
            options.log("sample rate changed to \(Int(rate)) Hz and the frame width would change "
                        + "(\(rings[index].width) → \(part.analyzers[0].frameWidth)); restart meltap to apply it.")
            mutable.withLock { $0.inputSampleRate = rate }
            return
        }
        let set = AnalyzerSet.makeAll(parts, inputRate: rate, holdSeconds: options.xrunHold)
        mutable.withLock {
            $0.configurations = configurations
            $0.inputSampleRate = rate
            $0.resamplerLookaheads = AnalyzerSet.lookaheads(parts)
            $0.reconfigurations += 1
        }
        state.pointee.engine.offer(set, running: state.pointee.client != nil && mutable.withLock({ $0.active }))
        options.log("sample rate is now \(Int(rate)) Hz; analyzers rebuilt")
    }

    /// The server went away: close, then poll `jack_client_open` with backoff (0.1 s doubling to
    /// 1 s) until a server is back; re-register, reactivate and reconnect. The next frames carry
    /// `.serverRestart|.discontinuity` (a new frame-time epoch; sequence numbers continue).
    func reconnectAfterShutdown() {
        options.log("the JACK server went away; waiting for it to come back")
        mutable.withLock { $0.active = false }
        if let old = state.pointee.client {
            waitForShutdownThread()
            libjack(.clientClose) { _ = jack_client_close(old) }
            state.pointee.client = nil
        }
        var delay = 0.1
        jackMessagesQuiet.store(true, ordering: .relaxed)
        defer { jackMessagesQuiet.store(false, ordering: .relaxed) }
        while !stopping.load(ordering: .acquiring) {
            if let client = try? libjack(.clientOpen, { try Self.openClient(name: options.name) }) {
                if stopping.load(ordering: .acquiring) {  // stop() came while the open waited
                    libjack(.clientClose) { _ = jack_client_close(client) }
                    return
                }
                // No client is active: the realtime state is ours to change. The engine computes
                // the frames the last block deferred, adopts pending sets, resets every analyzer
                // and starts a new frame-time epoch (`.serverRestart|.discontinuity`).
                state.pointee.engine.prepareForNewServer(sampleRate: jack_get_sample_rate(client))
                state.pointee.client = client
                do { try registerPortsAndCallbacks(client) } catch {
                    options.log("\(error)")
                    libjack(.clientClose) { _ = jack_client_close(client) }
                    state.pointee.client = nil
                    continue
                }
                guard libjack(.activate, { jack_activate(client) }) == 0 else {
                    options.log("jack_activate failed after the restart; retrying")
                    libjack(.clientClose) { _ = jack_client_close(client) }
                    state.pointee.client = nil
                    continue
                }
                let name = String(cString: jack_get_client_name(client))
                mutable.withLock {
                    $0.active = true; $0.restarts += 1; $0.clientName = name; $0.lastRestart = .now
                    // The old server's connections went with it (not logged one by one).
                    $0.connected = Array(repeating: [], count: channelCount)
                }
                options.log("reconnected to the JACK server as \(name)")
                connectMatching()
                return
            }
            waitForWork(seconds: delay)  // stop() wakes it
            delay = min(delay * 2, 1)
        }
    }

    /// Waits (at most 5 s, or until `stop()`) for the libjack thread that delivered the shutdown
    /// to end by itself.
    ///
    /// jackd stopped by SIGTERM sends the shutdown notification first and then its last ones
    /// (clients and ports going away) before it closes the socket. libjack's notification thread
    /// handles each while holding its global synchro mutex (JackLibClient::ClientNotifyImp), and
    /// `jack_client_close` ends that thread with an asynchronous `pthread_cancel`: cancelled in
    /// there, the mutex stays locked, and the same `jack_client_close` blocks on it for good
    /// (JackClient::Close) — the hung restart of issue 21. Once the server closes the socket,
    /// the thread's read fails and it returns by itself; closing after that cancels nothing.
    func waitForShutdownThread() {
        // Acquiring: pairs with the callback's releasing store (made before the flag was set).
        let thread = shutdownThread.load(ordering: .acquiring)
        guard thread != 0 else { return }
        let task = "/proc/self/task/\(thread)"  // gone as soon as the thread has exited
        let deadline = ContinuousClock.now + .seconds(5)
        while access(task, F_OK) == 0 && ContinuousClock.now < deadline && !stopping.load(ordering: .acquiring) {
            waitForWork(seconds: 0.01)
        }
        if access(task, F_OK) == 0 && !stopping.load(ordering: .acquiring) {
            options.log("libjack's notification thread is still running 5 s after the server went away; closing anyway")
        }
    }

    /// Registers `in_1`… and every callback. The client must be inactive.
}
