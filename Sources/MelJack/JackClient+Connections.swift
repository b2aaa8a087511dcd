import CJack
import Glibc
import MelRealtime

/// The port-connection policy: `--connect` patterns, connections others made (remembered,
/// restored after a server restart), the wiring log and JACK's port lists. Supervisor thread
/// (and `start()`).
///
/// A source matching a pattern takes the first free input and keeps it while its port exists.
/// When the port is gone (its client quit, or it was unregistered or renamed) the input is free
/// again for the next matching source; a source that returns under its old name gets its old
/// input back if no other source took it meanwhile.
extension JackClient {
    /// Why `pattern` cannot be a `--connect` pattern, or nil when it can.
    ///
    /// JACK matches port names with POSIX extended regular expressions (jack2's
    /// `JackGraphManager::GetPortsAux`: `regcomp(REG_EXTENDED | REG_NOSUB)`, unanchored) and
    /// does not check that the pattern compiles, so this compiles it the same way and returns
    /// `regerror`'s reason. No JACK call: callable before any client exists.
    public static func connectPatternProblem(_ pattern: String) -> String? {
        var regex = regex_t()
        let rc = regcomp(&regex, pattern, REG_EXTENDED | REG_NOSUB)
        guard rc != 0 else {
            regfree(&regex)
            return nil
        }
        var buffer = [CChar](repeating: 0, count: 256)
        regerror(rc, &regex, &buffer, buffer.count)
        let reason = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "'\(pattern)' is not a valid regular expression (\(reason)). JACK reads POSIX "
            + "extended regular expressions, matched anywhere in the full port name: 'system:capture_.*', "
            + "'^ardour:Master/audio_out'; write a literal [ ( . as \\[ \\( \\."
    }

    /// Reads the sources connected to each input now, logs what changed since the last look
    /// ("connected SOURCE → meltap:in_N", "disconnected SOURCE → meltap:in_N") and keeps them
    /// for `inputSources`. Returns them, per channel, sorted.
    @discardableResult
    func observeConnections() -> [[String]] {
        guard state.pointee.client != nil else { return mutable.withLock { $0.connected } }
        var current: [[String]] = []
        for channel in 0..<channelCount {
            current.append(Self.strings(jack_port_get_connections(state.pointee.ports[channel])).sorted())
        }
        let previous = mutable.withLock { locked in
            defer { locked.connected = current }
            return locked.connected
        }
        let ours = portNames
        for channel in 0..<channelCount {
            let before = Set(previous[channel]), now = Set(current[channel])
            for name in previous[channel] where !now.contains(name) { options.log("disconnected \(name) → \(ours[channel])") }
            for name in current[channel] where !before.contains(name) { options.log("connected \(name) → \(ours[channel])") }
        }
        return current
    }

    /// After a port-connect notification: logs the changes and records which sources are
    /// connected to each input, so they can be restored after a server restart. A source that
    /// still exists but is no longer connected was disconnected on purpose and is forgotten (not
    /// within 2 s of a restart, while clients come back).
    func snapshotConnections() {
        guard let client = state.pointee.client else { return }
        let current = observeConnections().map(Set.init)
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

    /// Frees the inputs of `--connect` sources whose port is gone, gives every matching source
    /// without an input the first free one (its former input when that is free), connects them,
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
        let matched = Set(sources)
        var wanted: [(String, Int)] = []
        mutable.withLock { locked in
            for (source, channel) in locked.assignment where jack_port_by_name(client, source) == nil {
                locked.assignment[source] = nil
                locked.formerInputs[source] = channel
                locked.remembered[channel].remove(source)  // the assignment, not the memory, restores it
            }
            locked.reportedUnassigned.formIntersection(matched)
            for source in sources {
                if let channel = locked.assignment[source] { wanted.append((source, channel)); continue }
                let used = Set(locked.assignment.values)
                let former = locked.formerInputs[source].flatMap { used.contains($0) ? nil : $0 }
                guard let free = former ?? (0..<channelCount).first(where: { !used.contains($0) }) else {
                    if locked.reportedUnassigned.insert(source).inserted {
                        options.log("no free input for \(source); it takes the first input that frees up, "
                                    + "or start with more --inputs")
                    }
                    continue
                }
                locked.assignment[source] = free
                // At most one former owner per input is worth remembering: the input is taken now.
                locked.formerInputs = locked.formerInputs.filter { $0.value != free }
                locked.reportedUnassigned.remove(source)
                wanted.append((source, free))
            }
            for (channel, names) in locked.remembered.enumerated() {
                for name in names where !matched.contains(name) && jack_port_by_name(client, name) != nil {
                    wanted.append((name, channel))
                }
            }
        }
        for (source, channel) in wanted {
            let rc = libjack(.connect) { jack_connect(client, source, ours[channel]) }
            if rc != 0 && rc != EEXIST {
                options.log("cannot connect \(source) to \(ours[channel]) (error \(rc))")
            }
        }
    }

    /// Warns once for every `--connect` pattern that matches no output port now, listing the
    /// output ports there are (a typo shows at once; a source that appears later is still
    /// connected). Called by `start()`.
    func warnAboutUnmatchedPatterns() {
        guard let client = state.pointee.client else { return }
        let unmatched = options.connectPatterns.filter { pattern in
            libjack(.getPorts) { Self.outputPorts(client, matching: pattern) }.isEmpty
        }
        guard !unmatched.isEmpty else { return }
        let existing = libjack(.getPorts) { Self.outputPorts(client, matching: "") }
        let shown = existing.prefix(20).joined(separator: ", ")
        let list = existing.isEmpty ? "none"
            : existing.count > 20 ? "\(shown) and \(existing.count - 20) more (jack_lsp lists them)" : shown
        for pattern in unmatched {
            options.log("--connect '\(pattern)' matches no output port yet; meltap connects matching ports when "
                        + "they appear. Output ports now: \(list).")
        }
    }

    /// Output audio ports matching `pattern` ("" for all), sorted as JACK returns them.
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
