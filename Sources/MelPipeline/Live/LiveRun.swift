// What `meltap run` does with a resolved `RunConfiguration`, behind MelPipeline so that the CLI
// sees neither JACK nor any C target: the session options, the checks made before any JACK
// call, and the lines printed at start and at the end.

import Glibc
import MelDSP
import MelJack
import MelServer
import MelSystem

extension RunConfiguration {
    /// Each stream's name ("" for the one stream without `[[stream]]`/`--stream`) and features.
    public var streamFeatures: [(name: String, features: FeatureSettings)] {
        streams.isEmpty ? [("", features)] : streams.map { ($0.name, $0.features) }
    }

    /// Refuses, before any JACK call, an n_fft for which FFTW allocates on every frame (n_fft as
    /// the preset and overrides give it at 48000 Hz).
    /// - Throws: `PipelineError` naming the stream and the nearest sizes that work.
    public func checkRealtimeSafe() throws(PipelineError) {
        for (name, features) in streamFeatures {
            do {
                try MelConfiguration.checkRealtimeSafe(fftLength: features.overrides.resolvedFFTLength(
                    preset: features.preset ?? .librosa, sampleRate: 48000))
            } catch {
                throw PipelineError(name.isEmpty ? "\(error)" : "stream \(name): \(error)")
            }
        }
    }

    /// The socket-mode warning, or nil: mode bits that let every user connect.
    public var socketModeWarning: String? {
        let text = socketMode ?? "600"
        guard let mode = mode_t(text, radix: 8), mode & 0o002 != 0 else { return nil }
        return "socket mode \(text) lets every user on this machine connect and read the features; "
            + "600 or 660 keep them to you or your group."
    }
}

extension LiveSessionOptions {
    /// The live session a resolved configuration describes: client options, one stream per
    /// `[[stream]]` (or the one of `[features]`), sockets, dumps.
    /// - Parameter warn: told about degenerate settings (empty mel bands) whenever a stream's
    ///   configuration is built, also after a sample-rate change.
    public init(configuration c: RunConfiguration, warn: @escaping @Sendable (String) -> Void) {
        var client = JackClientOptions()
        client.name = c.clientName ?? "meltap"
        client.inputCount = c.inputs
        client.connectPatterns = c.connect ?? []
        client.ringCapacity = c.ringFrames ?? 4096
        client.xrunHold = (c.xrunHold ?? 0) / 1000
        client.wakesConsumer = c.consumerPoll == nil
        client.analysisSampleRate = c.streams.isEmpty ? c.features.requestedRate : nil
        client.resamplerQuality = c.resampler ?? .standard
        let specs = c.streamFeatures.map { name, features in
            let preset = features.preset ?? .librosa, overrides = features.overrides
            return JackStreamSpec(name: name, analysisSampleRate: features.requestedRate) { rate in
                let configuration = try overrides.resolve(preset: preset, sampleRate: rate)
                if let warning = configuration.emptyBandWarning { warn("warning: \(warning)") }
                return configuration
            }
        }
        self.init(client: client, streams: specs)
        socket = c.socket
        socketDirectory = c.socketDirectory
        socketMode = mode_t(c.socketMode ?? "600", radix: 8) ?? 0o600
        slowSubscriberPolicy = c.slowSubscriberPolicy
        maximumSubscribers = c.maxSubscribers ?? FramePublisher.defaultMaximumSubscribers
        let dumpFrames = c.dumpFrames
        dumpPath = { stream in dumpFrames.map { stream.name.isEmpty ? $0 : "\($0).\(stream.name)" } }
        if let consumerPoll = c.consumerPoll { consumerPollInterval = consumerPoll / 1000 }
    }
}

extension LiveSession {
    /// Installs the SIGINT/SIGTERM handlers (`StopSignal`) of a live run, which end it within 2 s
    /// whatever libjack does: the orderly stop gives up on a wedged client after 1.2 s
    /// (`JackClientOptions.stopDeadline`); past 1.8 s the process exits with status 1, which
    /// catches a libjack call on the main thread (opening or activating the client at start-up).
    public static func installStopSignals() {
        StopSignal.install()
        StopSignal.exitIfStillRunning(secondsAfterSignal: 1.8) {
            "meltap: did not stop within 1.8 s of the stop signal: a libjack call on the main thread does not "
                + "return (the JACK server does not answer); exiting with status 1. Check jackd's messages."
        }
    }

    /// The lines `meltap run` prints before the session starts: where each stream is served.
    public var socketReport: [String] {
        publishings.map { $0.name.isEmpty ? "meltap: publishing on \($0.socketPath)"
                                          : "meltap: stream \($0.name) publishing on \($0.socketPath)" }
    }

    /// The lines `meltap run` prints once the session runs: the client, its ports, and each
    /// stream's rate, preset, width and latencies.
    public var startReport: [String] {
        let inputs = "client \(client.clientName), \(client.channelCount) input(s) \(client.portNames.joined(separator: " "))"
        let descriptions = streams.map(\.description)
        var lines: [String]
        if descriptions.count == 1 && descriptions[0].name.isEmpty {
            lines = ["meltap: \(inputs), \(Self.describe(descriptions[0]))"]
        } else {
            lines = ["meltap: \(inputs), \(descriptions.count) stream(s)"]
            lines += descriptions.map { "meltap: stream \($0.name): \(Self.describe($0))" }
        }
        if let counts = client.hooks.rtguardCounts { lines.append("meltap: rtguard loaded (\(counts.allocations) allocations so far)") }
        return lines
    }

    /// Sleeps until SIGINT/SIGTERM or `duration` seconds (nil: no limit), looking every 0.5 s
    /// whether a libjack call of the client's supervisor has run past its limit.
    /// - Parameter report: told of a stalled call, once, before the wait ends.
    /// - Returns: that stalled call, or nil when the wait ended normally.
    public func waitForStop(duration: Double?, report: (String) -> Void) -> (call: String, seconds: Double)? {
        let deadline = duration.map { monotonicNow() + $0 }
        while true {
            let slice = deadline.map { min(0.5, $0 - monotonicNow()) } ?? 0.5
            if slice <= 0 || StopSignal.wait(seconds: slice) { return nil }
            if let stalled = client.stalledLibjackCall() {
                report("meltap: libjack has not returned from \(stalled.call) for \(Int(stalled.seconds)) s; stopping")
                return stalled
            }
        }
    }

    /// Why the run failed, after `stop()`: a libjack call that stalled during `waitForStop`
    /// (`stalled`), or one the stop gave up on; nil when it ended normally.
    public func stopFailure(stalled: (call: String, seconds: Double)?) -> PipelineError? {
        if let stalled {
            return PipelineError("libjack did not return from \(stalled.call) for \(Int(stalled.seconds)) s: the JACK server "
                                 + "does not answer (wedged, or stuck starting). meltap exits so that its supervisor "
                                 + "(systemd Restart=on-failure) starts it again; check jackd's messages.")
        }
        if let call = client.abandonedCall {
            return PipelineError("stopped without closing the JACK client: libjack did not return from \(call) "
                                 + "(the JACK server does not answer); check jackd's messages.")
        }
        return nil
    }

    /// The lines `meltap run` prints after `stop()`: counters, flagged frames, latencies, periods,
    /// callback durations, CPU since `usageAtStart`, and what to do about drops.
    public func stopReport(usageAtStart: ProcessCPU) -> [String] {
        let statistics = client.statistics()
        var lines = streams.filter { !$0.name.isEmpty }.map { stream in
            let counters = stream.counters
            return "meltap: stream \(stream.name): frames \(counters.frames), dropped \(counters.drops)"
        }
        lines += [
            "meltap: stopped. frames \(statistics.frames), written \(consumer.framesConsumed), dropped \(statistics.drops), "
                + "xruns \(statistics.xruns), restarts \(statistics.restarts), reconfigurations \(statistics.reconfigurations), "
                + "discontinuities \(statistics.discontinuities)",
            "meltap: flagged frames: xrun \(statistics.xrunFrames), discontinuity \(statistics.discontinuityFrames); "
                + "hold overflows \(statistics.holdOverflows); consumer wake-ups from the callback "
                + "\(statistics.consumerWakeups) in \(statistics.blocks) callbacks",
            "meltap: \(consumer.latencyReport)",
            "meltap: periods: last \(statistics.blockLength), largest \(statistics.largestBlockLength) samples; "
                + "capture latency \(client.captureLatency.lowerBound)…\(client.captureLatency.upperBound) samples",
            "meltap: \(statistics.callbackDurations)",
            "meltap: \(ProcessCPU.now().share(since: usageAtStart))",
        ]
        if statistics.drops > 0 {
            lines.append("meltap: frames were dropped because the consumer fell behind; raise --ring-frames.")
        }
        if let counts = client.hooks.rtguardCounts {
            lines.append("rtguard: allocations \(counts.allocations), frees \(counts.frees), realtime regions \(counts.regions)")
        }
        if let counts = client.hooks.rtguardBlockingCounts {
            lines.append("rtguard: in realtime regions: sem_post \(counts.posts) (at most \(counts.mostPostsInOneRegion) in one), "
                         + "mutex/condition calls \(counts.locks), other system-call wrappers \(counts.systemCalls)")
        }
        return lines
    }
}
