import CJack
import MelDSP
import MelRealtime
import MelResample
import MelTransport

/// What a `JackClient` reports: its configurations, names, latencies, counters and timings.
/// Any thread; each reads under the client's mutex or with relaxed atomic loads.
extension JackClient {
    /// The configuration frames are currently computed with (changes after a sample-rate change;
    /// frames computed with a new one carry `.reconfigured`).
    public var configuration: MelConfiguration { configuration(ofStream: 0) }

    /// The streams, in the order given.
    public var streams: [JackStream] { streamSpecs.indices.map { JackStream(client: self, index: $0) } }

    /// Stream `index`'s current configuration.
    public func configuration(ofStream index: Int) -> MelConfiguration { mutable.withLock { $0.configurations[index] } }

    /// The name JACK gave the client.
    public var clientName: String { mutable.withLock { $0.clientName } }

    /// Full names of our input ports, channel order (`meltap:in_1`…).
    public var portNames: [String] {
        let name = clientName
        return (1...channelCount).map { "\(name):in_\($0)" }
    }

    /// Per input, in channel order: the output ports connected to it, sorted, as the supervisor
    /// last saw them (it looks after every port-connect and port-registration notification).
    /// Any thread.
    public var inputSources: [[String]] { mutable.withLock { $0.connected } }

    /// The server's sample rate the frames' input arrives at, Hz (the configuration's
    /// `sampleRate` is the analysis rate; they differ when resampling).
    public var inputSampleRate: Double { mutable.withLock { $0.inputSampleRate } }

    /// The resampler converting the input to the analysis rate, or nil when they are equal.
    public var resampler: ResamplerQuality? { resampler(ofStream: 0) }

    /// Stream `index`'s resampler, or nil when its analysis rate is the server's.
    public func resampler(ofStream index: Int) -> ResamplerQuality? {
        mutable.withLock { $0.inputSampleRate != $0.configurations[index].sampleRate } ? options.resamplerQuality : nil
    }

    /// The resampler's latency in analysis samples (its look-ahead, rounded up); 0 without one.
    public var resamplerLatency: Int { resamplerLatency(ofStream: 0) }

    /// Stream `index`'s resampler latency in its analysis samples; 0 without one.
    public func resamplerLatency(ofStream index: Int) -> Int { description(ofStream: index).resamplerLatency }

    /// Analysis samples between a frame's reference instant and its last input sample
    /// (`MelConfiguration.algorithmicLatency`).
    public var algorithmicLatency: Int { algorithmicLatency(ofStream: 0) }

    /// Stream `index`'s algorithmic latency, in its analysis samples.
    public func algorithmicLatency(ofStream index: Int) -> Int { configuration(ofStream: index).algorithmicLatency }

    /// Stream `index` as its consumers see it: configuration, rates, resampler, channels and the
    /// latencies of `StreamDescription.latency` (capture latency as last reported by JACK).
    public func description(ofStream index: Int) -> StreamDescription {
        let (configuration, inputRate, lookahead) = mutable.withLock {
            ($0.configurations[index], $0.inputSampleRate, $0.resamplerLookaheads[index])
        }
        let resampled = inputRate != configuration.sampleRate
        return StreamDescription(
            name: streamSpecs[index].name, configuration: configuration, inputSampleRate: inputRate,
            resampler: resampled ? options.resamplerQuality.rawValue : nil, resamplerLookahead: lookahead,
            channelCount: channelCount, frameWidth: rings[index].width, captureLatency: captureLatency.upperBound,
            holdLatency: AnalyzerSet.holdSamples(seconds: options.xrunHold, sampleRate: configuration.sampleRate),
            deferralLatency: deferralLatency(ofStream: index), clampRule: .running)
    }

    /// Stream `index`'s deferral latency, in its analysis samples: with frame bursts spread
    /// (`RealtimeEngine` `spreadFrames`, the default) a block may leave part of its analysis to the
    /// start of the next, so a frame can complete one period later; 0 when spreading is off.
    /// Counted with the period current when asked (0 before activation).
    public func deferralLatency(ofStream index: Int) -> Int {
        guard state.pointee.engine.spreadsFrames else { return 0 }
        let rate = mutable.withLock { $0.inputSampleRate }
        return Int((Double(blockLength) * configuration(ofStream: index).sampleRate / rate).rounded(.up))
    }

    /// Analysis samples each frame is held in the realtime thread before it is pushed (`xrunHold`).
    public var holdLatency: Int { holdLatency(ofStream: 0) }

    /// Stream `index`'s hold latency, in its analysis samples.
    public func holdLatency(ofStream index: Int) -> Int {
        AnalyzerSet.holdSamples(seconds: options.xrunHold, sampleRate: configuration(ofStream: index).sampleRate)
    }

    /// Stream `index`'s frames pushed and dropped (relaxed loads: a report).
    public func counters(ofStream index: Int) -> (frames: UInt64, drops: UInt64) {
        let counters = state.pointee.lanes[index].counters
        return (counters.pointee.frames.load(ordering: .relaxed), counters.pointee.drops.load(ordering: .relaxed))
    }

    /// The current JACK period in samples, from the buffer-size callback (0 before activation).
    /// One atomic load: cheap enough for a per-wake-up caller, unlike `statistics()`.
    public var blockLength: Int { Int(shared.pointee.blockLength.load(ordering: .relaxed)) }

    /// Capture latency of our inputs as last reported by the latency callback, in samples.
    public var captureLatency: ClosedRange<Int> {
        let low = Int(shared.pointee.captureLatencyMinimum.load(ordering: .relaxed))
        let high = Int(shared.pointee.captureLatencyMaximum.load(ordering: .relaxed))
        return low...max(low, high)
    }

    /// JACK's estimate of when the sample at `frameTime` was (or will be) captured, and JACK's
    /// clock now, both in microseconds of `jack_get_time` (CLOCK_MONOTONIC on Linux). Nil while
    /// no client is open. For latency reports off the realtime thread.
    public func captureTime(ofFrameTime frameTime: Int64) -> (sample: UInt64, now: UInt64)? {
        guard let client = state.pointee.client else { return nil }
        // jack_nframes_t is 32-bit and wraps; JACK resolves the wrap against its current cycle.
        return (jack_frames_to_time(client, jack_nframes_t(truncatingIfNeeded: frameTime)), jack_get_time())
    }

    /// The callback-duration histogram's buckets now (for Prometheus and `meltap status`). Any
    /// thread but the callback's (allocates).
    public func callbackDurationHistogram() -> DurationBuckets {
        state.pointee.histogram.pointee.buckets()
    }

    /// A snapshot of the counters and the callback-duration histogram.
    public func statistics() -> JackStatistics {
        let (restarts, reconfigurations) = mutable.withLock { ($0.restarts, $0.reconfigurations) }
        let s = shared
        return JackStatistics(
            frames: s.pointee.frames.load(ordering: .relaxed), drops: s.pointee.drops.load(ordering: .relaxed),
            xruns: s.pointee.xruns.load(ordering: .relaxed), blocks: s.pointee.blocks.load(ordering: .relaxed),
            discontinuities: s.pointee.discontinuities.load(ordering: .relaxed),
            xrunFrames: s.pointee.xrunFrames.load(ordering: .relaxed),
            discontinuityFrames: s.pointee.discontinuityFrames.load(ordering: .relaxed),
            holdOverflows: s.pointee.holdOverflows.load(ordering: .relaxed),
            consumerWakeups: ring.wakeups,
            restarts: restarts, reconfigurations: reconfigurations,
            blockLength: blockLength,
            largestBlockLength: Int(s.pointee.largestBlockLength.load(ordering: .relaxed)),
            callbackDurations: state.pointee.histogram.pointee.summary())
    }
}
