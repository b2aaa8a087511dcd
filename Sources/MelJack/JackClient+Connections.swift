import CJack
import Glibc
import MelRealtime

/// The port-connection policy: `--connect` patterns (one source per input, sticky), connections
/// others made (remembered, restored after a server restart), and JACK's port lists. Supervisor
/// thread (and `start()`).
extension JackClient {
    /// Records which sources are connected to each input, so they can be restored after a
    /// server restart. A source that still exists but is no longer connected was disconnected
    /// on purpose and is forgotten (not within 2 s of a restart, while clients come back).
    func snapshotConnections() {
        guard let client = state.pointee.client else { return }
        var current: [Set<String>] = []
        for channel in 0..<channelCount {
            current.append(Set(Self.strings(jack_port_get_connections(state.pointee.ports[channel]))))
        }
        mutable.withLock { locked in
            let settled = ContinuousClock.now - locked.lastRestart > .seconds(2)
            for channel in 0..<channelCount {
                if settled {
                    for name in locked.remembered[channel] where !current[channel].contains(name) {
                        if jack_port_by_name(client, name) != nil { locked.remembered[channel].remove(name) }
                    }
                }
                locked.remembered[channel].formUnion(current[channel])
            }
        }
    }

    /// Connects every output port matching a `--connect` pattern (one source per input, sticky),
    /// and restores remembered connections whose source exists.
    func connectMatching() {
        guard let client = state.pointee.client else { return }
        let ours = portNames
        var sources: [String] = []
        for pattern in options.connectPatterns {
            for name in libjack(.getPorts, { Self.outputPorts(client, matching: pattern) }) where !sources.contains(name) {
                sources.append(name)
            }
        }
        var wanted: [(String, Int)] = []
        mutable.withLock { locked in
            for source in sources {
                if let channel = locked.assignment[source] { wanted.append((source, channel)); continue }
                let used = Set(locked.assignment.values)
                if let free = (0..<channelCount).first(where: { !used.contains($0) }) {
                    locked.assignment[source] = free
                    wanted.append((source, free))
                } else if locked.reportedUnassigned.insert(source).inserted {
                    options.log("no free input for \(source); start with more --inputs to take it")
                }
            }
            for (channel, names) in locked.remembered.enumerated() {
                for name in names where jack_port_by_name(client, name) != nil { wanted.append((name, channel)) }
            }
        }
        for (source, channel) in wanted {
            let rc = libjack(.connect) { jack_connect(client, source, ours[channel]) }
            if rc != 0 && rc != EEXIST {
                options.log("cannot connect \(source) to \(ours[channel]) (error \(rc))")
            }
        }
    }

    /// Output audio ports matching `pattern`, sorted as JACK returns them.
    static func outputPorts(_ client: OpaquePointer, matching pattern: String) -> [String] {
        strings(jack_get_ports(client, pattern, meltap_jack_default_audio_type(), UInt(JackPortIsOutput.rawValue)))
    }

    /// Copies and frees a NULL-terminated `const char **` returned by JACK.
    static func strings(_ list: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> [String] {
        guard let list else { return [] }
        defer { jack_free(list) }
        var result: [String] = []
        var index = 0
        while let name = list[index] { result.append(String(cString: name)); index += 1 }
        return result
    }
}
