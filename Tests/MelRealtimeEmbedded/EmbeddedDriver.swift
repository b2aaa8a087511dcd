import MelDSP
import MelRealtime
import MelResample
import MelTransport
import MelSystem

/// Drives a `RealtimeEngine` block by block with no JACK server, deterministically: it plays a
/// server (a sample clock, periods, xruns, missed cycles, rate changes, restarts), a supervisor
/// (rebuilding analyzers after a rate change, as `JackClient.reconfigure` does) and a consumer
/// (draining every ring after each block, or not: a stalled consumer). Like swift-nio's
/// `EmbeddedChannel`, it runs the real code on the calling thread, one step per call.
///
/// It records what it fed (`epochs`: every sample of every channel, the server time it was
/// stamped with, whether it was damaged) so tests can check the engine's frames against the
/// truth: values against the offline analysis of the same input, flags against the samples
/// each frame's window holds.
package final class EmbeddedDriver {
    /// One stream: a configuration maker and its analysis rate (nil: the server's rate).
    package struct Stream {
        package var analysisSampleRate: Double?
        package var makeConfiguration: (Double) throws -> MelConfiguration

        package init(analysisSampleRate: Double? = nil, makeConfiguration: @escaping (Double) throws -> MelConfiguration) {
            self.analysisSampleRate = analysisSampleRate
            self.makeConfiguration = makeConfiguration
        }
    }

    /// One frame a consumer popped from a stream's ring.
    package struct Frame {
        package var metadata: FrameMetadata
        package var values: [Float]
        /// The epoch (`epochs` index) whose analyzers computed it.
        package var epoch: Int
    }

    /// The input of one stream start (activation, restart, reconfiguration) up to the next, as fed.
    package struct Epoch {
        /// The server's rate during it, Hz.
        package var inputRate: Double
        /// The analyzers' configurations, per stream.
        package var configurations: [MelConfiguration]
        /// Per channel: every sample fed since the epoch began (analyzer input sample 0 first).
        package var samples: [[Float]]
        /// Per fed sample: the server frame time it was stamped with (64-bit), and whether an
        /// xrun damaged it (the driver fed other samples than the source's).
        package var stamps: [Int64] = []
        package var damaged: [Bool] = []
        /// The first sequence number of the epoch's frames, per stream and channel (set when
        /// the first frame arrives).
        package var firstSequence: [[UInt64?]]
    }

    package let streams: [Stream]
    package let channelCount: Int
    package let holdSeconds: Double
    package let engine: RealtimeEngine
    package let rings: [FrameRing]
    /// The server's rate now, Hz, and the rate the current analyzers were built for.
    package private(set) var serverRate: Double
    package private(set) var analyzersRate: Double
    /// The current period, samples.
    package private(set) var blockLength: Int
    /// The server's clock: frame time of the next block's first sample, 64-bit (the engine gets
    /// it wrapped to 32 bits, as from `jack_last_frame_time`).
    package private(set) var clock: Int64
    /// The source's position: the next sample `signal` delivers, per channel.
    package private(set) var position: Int64 = 0
    /// The source: sample `position` of `channel`.
    package var signal: (_ channel: Int, _ position: Int64) -> Float
    /// Whether the consumer drains the rings after every block (false: a stalled consumer).
    package var drains = true
    /// Frames popped, per stream, in order.
    package private(set) var frames: [[Frame]]
    package private(set) var epochs: [Epoch] = []
    /// Reconfigurations the supervisor made.
    package private(set) var reconfigurations = 0

    private let buffers: UnsafeMutablePointer<UnsafePointer<Float>?>
    private let storage: UnsafeMutablePointer<Float>
    private var newEpochAtNextBlock = true

    /// - Parameters:
    ///   - clock: the server's frame time at the first block (near 2³² to test the wrap).
    ///   - ringCapacity: frames each ring holds before the engine drops.
    package init(streams: [Stream], channelCount: Int = 1, sampleRate: Double = 48000, blockLength: Int = 256,
                 holdSeconds: Double = 0, ringCapacity: Int = 4096, clock: Int64 = 1000,
                 spreadFrames: Bool = RealtimeEngine.spreadFramesByDefault,
                 signal: @escaping (Int, Int64) -> Float = EmbeddedDriver.noise) throws {
        self.streams = streams
        self.channelCount = channelCount
        self.holdSeconds = holdSeconds
        self.serverRate = sampleRate
        self.analyzersRate = sampleRate
        self.blockLength = blockLength
        self.clock = clock
        self.signal = signal
        let configurations = try streams.map { try $0.makeConfiguration($0.analysisSampleRate ?? sampleRate) }
        let parts = try AnalyzerSet.makeParts(configurations, inputRate: sampleRate, clampRule: .running,
                                              resamplerQuality: .standard, channelCount: channelCount)
        rings = parts.map { FrameRing(width: $0.analyzers[0].frameWidth, minimumCapacity: ringCapacity) }
        engine = RealtimeEngine(streams: parts, rings: rings, channelCount: channelCount, inputRate: sampleRate,
                                holdSeconds: holdSeconds, wakesConsumer: true, spreadFrames: spreadFrames)
        engine.noteBlockLength(UInt32(blockLength))
        frames = Array(repeating: [], count: streams.count)
        buffers = .allocate(capacity: channelCount)
        storage = .allocate(capacity: channelCount * realtimeMaximumBlockLength)
        storage.initialize(repeating: 0, count: channelCount * realtimeMaximumBlockLength)
        for channel in 0..<channelCount { buffers[channel] = UnsafePointer(storage + channel * realtimeMaximumBlockLength) }
        pendingConfigurations = configurations
    }

    deinit {
        engine.destroy()
        buffers.deallocate()
        storage.deallocate()
    }

    /// Configurations of the analyzers the engine adopts at its next stream start.
    private var pendingConfigurations: [MelConfiguration]

    /// Uniform noise in [-0.5, 0.5), a pure function of channel and position (SplitMix64).
    package static func noise(_ channel: Int, _ position: Int64) -> Float {
        let z = SplitMix64.mix(UInt64(bitPattern: position) &* 0x9E37_79B9_7F4A_7C15
                               &+ UInt64(channel) &* 0xD1B5_4A32_D192_ED03)
        return Float(z >> 40) / Float(1 << 24) - 0.5
    }

    // MARK: Server

    /// Runs `count` blocks of the current period (see `block`).
    package func run(blocks count: Int) {
        for _ in 0..<count { block() }
    }

    /// Runs blocks until the source has delivered at least `samples` more samples.
    package func run(samples: Int) {
        let end = position + Int64(samples)
        while position < end { block() }
    }

    /// One process cycle: the source's next `blockLength` samples, stamped with the clock, go to
    /// `process`; then the supervisor's round and the consumer's drain. `damaged`: the engine gets
    /// other samples than the source's for this block (what an xrun does to a cycle); the source
    /// moves on all the same. Report the xrun with `xrun()`, now or some blocks later.
    package func block(damaged: Bool = false) {
        if newEpochAtNextBlock {
            // The analyzers adopted at this block were built for `analyzersRate`.
            epochs.append(Epoch(inputRate: analyzersRate, configurations: pendingConfigurations,
                                samples: Array(repeating: [], count: channelCount),
                                firstSequence: Array(repeating: Array(repeating: nil, count: channelCount),
                                                     count: streams.count)))
            newEpochAtNextBlock = false
        }
        let current = epochs.count - 1
        for channel in 0..<channelCount {
            let buffer = storage + channel * realtimeMaximumBlockLength
            for k in 0..<blockLength {
                let sample = signal(channel, position + Int64(k))
                buffer[k] = damaged ? 0.25 - sample : sample
                epochs[current].samples[channel].append(buffer[k])
            }
        }
        for k in 0..<blockLength {
            epochs[current].stamps.append(clock + Int64(k))
            epochs[current].damaged.append(damaged)
        }
        engine.process(buffers: UnsafePointer(buffers), blockStart: UInt32(truncatingIfNeeded: clock), count: blockLength)
        clock += Int64(blockLength)
        position += Int64(blockLength)
        superviseRound()
        if drains { drain() }
    }

    /// The client misses `cycles` cycles (a stall): their input is lost and the clock moves on.
    package func miss(cycles: Int) {
        clock += Int64(cycles * blockLength)
        position += Int64(cycles * blockLength)
    }

    /// The server reports an xrun (JACK's xrun callback).
    package func xrun() { engine.noteXrun() }

    /// The period becomes `blockLength` (JACK's buffer-size callback, then blocks of the new
    /// length). `restamped`: the first block after the change is stamped previous start + new
    /// period, as jack2 does, so its start jumps by new − old although no sample is lost.
    package func changePeriod(to newLength: Int, restamped: Bool = false) {
        engine.noteBlockLength(UInt32(newLength))
        if restamped { clock += Int64(newLength - blockLength) }
        blockLength = newLength
    }

    /// The server's sample rate becomes `rate` Hz (JACK's sample-rate callback); the supervisor
    /// rebuilds the analyzers at its next round (after the next block).
    package func changeSampleRate(to rate: Double) {
        serverRate = rate
        engine.noteSampleRate(UInt32(rate))
    }

    /// The server goes away and another starts at `sampleRate` (default: the same) with its clock
    /// at `clock`: the supervisor prepares the engine as `JackClient.reconnectAfterShutdown` does.
    package func restartServer(sampleRate: Double? = nil, clock newClock: Int64 = 0) {
        engine.noteServerGone()
        // Acquiring: pairs with `noteServerGone`'s releasing store (as the supervisor does).
        _ = engine.shared.pointee.serverGone.exchange(false, ordering: .acquiring)
        let rate = sampleRate ?? serverRate
        engine.prepareForNewServer(sampleRate: UInt32(rate))
        serverRate = rate
        clock = newClock
        newEpochAtNextBlock = true
    }

    /// The supervisor's round after a block: free retired sets; rebuild analyzers when the
    /// server's rate differs from theirs and no handshake is under way (`JackClient.supervise`).
    private func superviseRound() {
        engine.collectRetired()
        let rate = Double(engine.shared.pointee.serverSampleRate.load(ordering: .relaxed))
        guard rate > 0, rate != analyzersRate, !engine.handshakeBusy else { return }
        do {
            let configurations = try streams.map { try $0.makeConfiguration($0.analysisSampleRate ?? rate) }
            let parts = try AnalyzerSet.makeParts(configurations, inputRate: rate, clampRule: .running,
                                                  resamplerQuality: .standard, channelCount: channelCount)
            engine.offer(AnalyzerSet.makeAll(parts, inputRate: rate, holdSeconds: holdSeconds), running: true)
            pendingConfigurations = configurations
            analyzersRate = rate
            reconfigurations += 1
            newEpochAtNextBlock = true
        } catch {
            analyzersRate = rate  // as JackClient: do not retry every round
        }
    }

    // MARK: Consumer

    /// Pops every ring empty into `frames`.
    package func drain() {
        for (stream, ring) in rings.enumerated() {
            var values = [Float](repeating: 0, count: max(1, ring.width))
            while let metadata = values.withUnsafeMutableBufferPointer({ ring.pop(into: $0.baseAddress!) }) {
                let epoch = epochFor(metadata, stream: stream)
                frames[stream].append(Frame(metadata: metadata, values: Array(values.prefix(ring.width)), epoch: epoch))
            }
        }
    }

    /// Per stream and channel: stream starts seen in popped frames so far.
    private var startsSeen: [[Int]] = []

    /// The epoch a popped frame was computed in. Per channel, a ring carries every frame of one
    /// epoch before the next epoch's, whose first frame carries `.serverRestart` or `.reconfigured`;
    /// an epoch too short to complete a frame (its input ends before the first window does) has
    /// none, and its flags go to the next epoch's first frame.
    private func epochFor(_ metadata: FrameMetadata, stream: Int) -> Int {
        if startsSeen.isEmpty { startsSeen = Array(repeating: Array(repeating: 0, count: channelCount), count: streams.count) }
        let channel = Int(metadata.channel)
        if !metadata.flags.isDisjoint(with: [.serverRestart, .reconfigured]) {
            var next = startsSeen[stream][channel] + 1
            while next < epochs.count - 1, ((try? offlineFrames(stream: stream, epoch: next, channel: channel)) ?? []).isEmpty {
                next += 1
            }
            startsSeen[stream][channel] = next
        }
        let epoch = startsSeen[stream][channel]
        if epochs[epoch].firstSequence[stream][channel] == nil { epochs[epoch].firstSequence[stream][channel] = metadata.sequence }
        return epoch
    }

    // MARK: Reports

    /// The engine's counters (relaxed loads: a report).
    package var counters: (frames: UInt64, drops: UInt64, xruns: UInt64, discontinuities: UInt64,
                           holdOverflows: UInt64, blocks: UInt64) {
        let shared = engine.shared
        return (shared.pointee.frames.load(ordering: .relaxed), shared.pointee.drops.load(ordering: .relaxed),
                shared.pointee.xruns.load(ordering: .relaxed), shared.pointee.discontinuities.load(ordering: .relaxed),
                shared.pointee.holdOverflows.load(ordering: .relaxed), shared.pointee.blocks.load(ordering: .relaxed))
    }

    /// One stream's frames of one channel.
    package func frames(stream: Int = 0, channel: Int) -> [Frame] {
        frames[stream].filter { $0.metadata.channel == UInt32(channel) }
    }

    /// Every frame the offline analysis computes from `epoch`'s input of `channel` for `stream`
    /// (a fresh resampler when the stream resamples, then a fresh analyzer, the input in one piece
    /// per resampler call): what the engine's frames of that epoch must equal bit for bit, index
    /// by index from the epoch's first frame.
    package func offlineFrames(stream: Int, epoch index: Int, channel: Int) throws -> [[Float]] {
        let epoch = epochs[index]
        let configuration = epoch.configurations[stream]
        var input = epoch.samples[channel]
        if configuration.sampleRate != epoch.inputRate {
            let resampler = try Resampler(inputRate: epoch.inputRate, outputRate: configuration.sampleRate)
            var output: [Float] = []
            var scratch = [Float](repeating: 0, count: resampler.outputCapacity(forInputCount: realtimeMaximumBlockLength))
            var offset = 0
            while offset < input.count {
                let piece = min(realtimeMaximumBlockLength, input.count - offset)
                let made = input[offset..<(offset + piece)].withUnsafeBufferPointer { source in
                    scratch.withUnsafeMutableBufferPointer {
                        resampler.process(source, into: $0.baseAddress!, capacity: $0.count)
                    }
                }
                output += scratch.prefix(made)
                offset += piece
            }
            input = output
        }
        let analyzer = try MelAnalyzer(configuration: configuration, clampRule: .running)
        var frame = [Float](repeating: 0, count: max(1, analyzer.frameWidth))
        var result: [[Float]] = []
        input.withUnsafeBufferPointer { samples in
            var offset = 0
            while offset < samples.count {
                let step = frame.withUnsafeMutableBufferPointer {
                    analyzer.process(UnsafeBufferPointer(rebasing: samples[offset...]), into: $0.baseAddress!)
                }
                offset += step.consumed
                if step.frameIndex >= 0 { result.append(Array(frame.prefix(analyzer.frameWidth))) }
                if step.consumed == 0 && step.frameIndex < 0 { break }
            }
        }
        return result
    }
}
