import MelDSP
import MelRealtimeEmbedded
import MelResample
import MelTransport
import Testing
import MelSystem

/// The realtime engine's frames and flags, driven block by block without JACK: the cases the
/// live jackd tests could only hope for (a stall, a buffer-size change, a restart) on demand, at
/// a precise block, and the ones jackd cannot produce at all. Every test checks every frame
/// (`check`): values bit for bit against the offline analysis of what was fed, no unflagged
/// frame holding a damaged or misplaced sample, sequence and frame-time steps.
@Suite struct EngineFlagTests {
    static let rate = 48000.0
    /// 100 ms, the hold the live tests run with.
    static let hold = 0.1
    static var holdSamples: Int { Int(hold * rate) }

    @Test("Live frames equal offline frames at any block length, with no flag", arguments: [1, 7, 64, 256, 1000, 4096, 8192])
    func blockLengths(blockLength: Int) throws {
        let driver = try EmbeddedDriver(streams: [.small()], channelCount: 2, blockLength: blockLength)
        driver.run(samples: 24000)
        for channel in 0..<2 {
            let report = try check(driver, channel: channel)
            #expect(report.frames >= 24000 / 128 - 2, "only \(report.frames) frames")
            #expect(report.compared == report.frames)
            #expect(report.xrun.isEmpty && report.discontinuity.isEmpty && report.gap.isEmpty)
        }
        #expect(driver.counters.discontinuities == 0)
    }

    /// The embedded `bufferSizeChanges`: periods change every few blocks, no sample is lost, and
    /// framing stays exact with no flag (jack1-style stamps: the clock follows the samples).
    @Test("Period changes mid-frame without a clock jump: framing exact, no flag")
    func periodChanges() throws {
        let driver = try EmbeddedDriver(streams: [.small(), .small(at: 16000)], blockLength: 256, holdSeconds: Self.hold)
        var generator = SplitMix64(seed: 7)
        for _ in 0..<120 {
            driver.changePeriod(to: [37, 64, 128, 256, 511, 1024, 2048][Int(generator.next() % 7)])
            driver.block()
        }
        for stream in 0..<2 {
            let report = try check(driver, stream: stream, channel: 0)
            #expect(report.frames > 100)
            #expect(report.xrun.isEmpty && report.discontinuity.isEmpty && report.gap.isEmpty)
        }
        #expect(driver.counters.discontinuities == 0)
    }

    /// jack2 stamps the first block after a buffer-size change previous start + new period: the
    /// clock jumps by new − old with no sample lost. Exactly the frames whose windows span the
    /// jump carry `.discontinuity`; the values stay those of the contiguous input.
    @Test("A restamped period change mid-frame flags exactly the frames spanning the jump", arguments: [(256, 1024), (1024, 64), (256, 37)])
    func restampedPeriodChange(lengths: (Int, Int)) throws {
        let driver = try EmbeddedDriver(streams: [.small()], blockLength: lengths.0, holdSeconds: Self.hold)
        driver.run(blocks: 20)
        let jump = 20 * lengths.0
        driver.changePeriod(to: lengths.1, restamped: true)
        driver.run(samples: 12000)
        let report = try check(driver, channel: 0)
        let expected = framesSpanning(jump, configuration: smallLibrosa(Self.rate), count: report.frames)
        #expect(!expected.isEmpty)
        #expect(report.discontinuity == expected)
        #expect(report.xrun.isEmpty)
        #expect(driver.counters.discontinuities == 1)
    }

    /// The embedded `stalledClientFlagsDamagedFrames`: the client misses cycles (SIGSTOP), JACK
    /// reports an xrun at the next block. Frames spanning the lost cycles carry `.discontinuity`,
    /// those within the lookback `.xrun`, every other frame is exact.
    @Test("Missed cycles: frames spanning the hole carry .discontinuity, the lookback .xrun, the rest are exact")
    func missedCycles() throws {
        let driver = try EmbeddedDriver(streams: [.small()], channelCount: 2, blockLength: 256, holdSeconds: Self.hold)
        driver.run(blocks: 60)
        for stall in 0..<3 {
            driver.miss(cycles: 2 + stall)
            driver.xrun()
            driver.run(blocks: 60)
        }
        for channel in 0..<2 {
            let report = try check(driver, channel: channel)
            // The analyzer input stays contiguous: the holes sit after 60, 120 and 180 blocks fed.
            let spanning = [60, 120, 180].map {
                framesSpanning($0 * 256, configuration: smallLibrosa(Self.rate), count: report.frames)
            }.reduce(Set<UInt64>()) { $0.union($1) }
            #expect(report.discontinuity == spanning)
            #expect(!report.xrun.isEmpty)
            #expect(report.frames - report.xrun.union(report.discontinuity).count > 100)
        }
        #expect(driver.counters.discontinuities == 3)
        #expect(driver.counters.xruns == 3)
    }

    /// A cycle damaged at block 20, reported `delay` blocks later (JACK's notification thread is
    /// late): the engine marks [fed − max(hold, 4 periods), fed + period) at the reporting block,
    /// and with a hold as long as the lookback every frame touching it carries `.xrun`, and only those.
    @Test("An xrun at a precise block flags exactly the frames overlapping its damage span", arguments: [0, 1, 2, 4])
    func xrunAtBlock(delay: Int) throws {
        let length = 256
        let driver = try EmbeddedDriver(streams: [.small()], blockLength: length, holdSeconds: Self.hold)
        driver.run(blocks: 20)
        driver.block(damaged: true)
        driver.run(blocks: delay - 1 < 0 ? 0 : delay - 1)
        if delay == 0 { driver.xrun(); driver.run(blocks: 1) } else { driver.xrun() }
        driver.run(blocks: 60)
        let report = try check(driver, channel: 0)
        let reported = (20 + max(delay, 1)) * length  // input fed when the engine learns of it
        let from = reported - max(Self.holdSamples, 4 * length)
        let received = sequences(driver.frames(channel: 0))
        let expected = framesOverlapping(from, reported + length, configuration: smallLibrosa(Self.rate),
                                         count: report.frames).intersection(received)
        #expect(report.xrun == expected, "flagged \(report.xrun.sorted()), expected \(expected.sorted())")
        #expect(report.discontinuity.isEmpty)
    }

    /// Without a hold, a frame completed before the late report is pushed already: it escapes
    /// unflagged with damaged samples (what `--xrun-hold` is for). Exactly those escape.
    @Test("Without a hold, exactly the frames completed before a late report escape the flag")
    func xrunWithoutHold() throws {
        let length = 256
        let driver = try EmbeddedDriver(streams: [.small()], blockLength: length, holdSeconds: 0)
        driver.run(blocks: 20)
        driver.block(damaged: true)
        driver.run(blocks: 1)
        driver.xrun()  // reported at block 22
        driver.run(blocks: 30)
        let report = try check(driver, channel: 0, soundness: false)
        let configuration = smallLibrosa(Self.rate)
        let reported = 22 * length
        let touching = framesOverlapping(20 * length, 21 * length, configuration: configuration, count: report.frames)
        let escaped = touching.subtracting(report.xrun)
        let completedBefore = frames(configuration, count: report.frames) { first, span in first + span <= reported }
        #expect(!escaped.isEmpty)
        #expect(escaped == touching.intersection(completedBefore))
        #expect(report.xrun == framesOverlapping(reported - 4 * length, reported + length, configuration: configuration,
                                                 count: report.frames).subtracting(completedBefore))
    }

    /// Two damaged cycles 12 periods apart, inside one 20 ms hold window, each reported a block
    /// later: the second report comes while frames flagged by the first are still held. Both
    /// spans are logged; exactly the frames touching either carry `.xrun` (each span alone misses some).
    @Test("Two xruns in one hold window: exactly the frames touching either span are flagged")
    func twoXrunsInOneHold() throws {
        let length = 64
        let hold = 0.02
        let lookback = max(Int(hold * Self.rate), 4 * length)
        let driver = try EmbeddedDriver(streams: [.small()], blockLength: length, holdSeconds: hold)
        driver.run(blocks: 100)
        driver.block(damaged: true)
        driver.xrun()
        driver.run(blocks: 11)
        driver.block(damaged: true)
        driver.xrun()
        driver.run(blocks: 100)
        let report = try check(driver, channel: 0)
        let configuration = smallLibrosa(Self.rate)
        let received = sequences(driver.frames(channel: 0))
        let spans = [101 * length, 113 * length].map {
            framesOverlapping($0 - lookback, $0 + length, configuration: configuration, count: report.frames)
                .intersection(received)
        }
        #expect(report.xrun == spans[0].union(spans[1]))
        #expect(!spans[1].isSubset(of: spans[0]) && !spans[0].isSubset(of: spans[1]))
        #expect(report.frames - report.xrun.count > 60, "frames outside both spans stay clean")
    }

    /// The consumer stops draining: the ring (16 frames) fills, the engine drops and counts, and
    /// the next frame pushed on the channel carries `.gap` with the sequence jumping by the drops.
    @Test("A stalled consumer: drops counted, the next frame carries .gap, sequence jumps by the drops")
    func stalledConsumer() throws {
        let driver = try EmbeddedDriver(streams: [.small()], channelCount: 2, blockLength: 256, ringCapacity: 16)
        driver.drains = false
        driver.run(blocks: 30)
        driver.drains = true
        driver.run(blocks: 30)
        let drops = driver.counters.drops
        #expect(drops > 0)
        var missingTotal: UInt64 = 0
        for channel in 0..<2 {
            let report = try check(driver, channel: channel)
            #expect(report.gap.count == 1)
            // Both channels share the stream's ring; each one's sequence skips its own drops.
            let received = driver.frames(channel: channel)
            let missing = (received.last!.metadata.sequence + 1) - UInt64(received.count)
            missingTotal += missing
            let gapIndex = received.firstIndex { $0.metadata.flags.contains(.gap) }
            #expect(gapIndex.map { received[$0].metadata.sequence == UInt64($0) + missing } == true)
        }
        #expect(missingTotal == drops, "sequence numbers skipped: \(missingTotal), drops counted: \(drops)")
        #expect(driver.frames[0].count + Int(drops) == Int(driver.counters.frames + drops))
    }

    /// The server's rate changes from 48 to 44.1 kHz: the supervisor rebuilds both streams'
    /// analyzers (one at the server's rate, one resampled to 16 kHz), the engine adopts them at a
    /// block start; the first frame after carries `.reconfigured|.discontinuity`, sequence
    /// numbers continue, every frame equals the offline analysis of its epoch.
    @Test("A sample-rate change: one reconfigured frame per stream and channel, both epochs exact")
    func sampleRateChange() throws {
        let driver = try EmbeddedDriver(streams: [.small(), .small(at: 16000)], channelCount: 2, blockLength: 256,
                                        holdSeconds: Self.hold)
        driver.run(blocks: 40)
        driver.changeSampleRate(to: 44100)
        driver.run(blocks: 60)
        #expect(driver.reconfigurations == 1)
        for stream in 0..<2 {
            for channel in 0..<2 {
                let report = try check(driver, stream: stream, channel: channel)
                #expect(report.reconfigured.count == 1)
                #expect(report.reconfigured.isSubset(of: report.discontinuity))
                #expect(driver.frames(stream: stream, channel: channel).filter { $0.epoch == 1 }.count > 20)
            }
        }
    }

    /// A second rate change while the first set is still pending: the supervisor waits for the
    /// handshake (the engine adopts the first set, the supervisor frees the old one), then hands
    /// over the second. Two stream starts, each flagged, every epoch exact.
    @Test("A rate change while a set is pending: handed over after the first, both flagged, all exact")
    func rateChangeWithPendingSet() throws {
        // Periods of 512: the 44.1 kHz analyzers run one block. The server-rate stream completes
        // frames from it (its first centred frame needs 256 samples); the 16 kHz stream does not:
        // 512 samples resample to 186, less the resampler's delay (64 output samples for zita),
        // short of the 256 its first frame needs. Both premises are checked below, so a resampler
        // with another delay cannot silently turn this into a different case.
        let driver = try EmbeddedDriver(streams: [.small(), .small(at: 16000)], blockLength: 512, holdSeconds: Self.hold)
        driver.run(blocks: 10)
        driver.changeSampleRate(to: 44100)
        driver.block()  // the supervisor's round offers the 44.1 kHz set: pending
        #expect(driver.engine.handshakeBusy)
        driver.changeSampleRate(to: 96000)
        driver.run(blocks: 40)
        #expect(driver.reconfigurations == 2)
        #expect(driver.epochs.map(\.inputRate) == [48000, 44100, 96000])
        #expect(try !driver.offlineFrames(stream: 0, epoch: 1, channel: 0).isEmpty)
        #expect(try driver.offlineFrames(stream: 1, epoch: 1, channel: 0).isEmpty)
        // The 16 kHz stream's resampler (44.1 → 16 kHz) completes no frame from one block: its
        // second start's flags land on the 96 kHz epoch's first frame.
        for (stream, starts) in [(0, 2), (1, 1)] {
            let report = try check(driver, stream: stream, channel: 0)
            #expect(report.reconfigured.count == starts)
            #expect(driver.frames(stream: stream, channel: 0).filter { $0.epoch == 2 }.count > 5)
        }
    }

    /// The embedded `serverRestart`: the server goes away and comes back with its clock at 0.
    /// Frames held from before go out first, unchanged; the first new frame carries
    /// `.serverRestart|.discontinuity`, no `.gap`, and the next sequence number; its frame time is
    /// in the new server's epoch.
    @Test("A server restart: held frames first and unchanged, then .serverRestart, sequence continues")
    func serverRestart() throws {
        let driver = try EmbeddedDriver(streams: [.small()], channelCount: 2, blockLength: 256, holdSeconds: Self.hold)
        driver.run(blocks: 40)
        driver.restartServer(clock: 0)
        driver.run(blocks: 60)
        let configuration = smallLibrosa(Self.rate)
        for channel in 0..<2 {
            let report = try check(driver, channel: channel)
            let live = driver.frames(channel: channel)
            guard let restart = live.firstIndex(where: { $0.metadata.flags.contains(.serverRestart) }) else {
                Issue.record("no frame carries .serverRestart")
                continue
            }
            #expect(report.restart.count == 1)
            #expect(restart > 20 && live.count - restart > 20)
            #expect(live[restart].metadata.flags == [.serverRestart, .discontinuity])
            #expect(live[restart].metadata.sequence == live[restart - 1].metadata.sequence + 1)
            #expect(live[restart].metadata.frameTime == Int64(-configuration.leftPadding))
            #expect(live[..<restart].allSatisfy { $0.metadata.flags.isEmpty }, "held frames went out unchanged")
        }
    }

    /// A restart while reconfigured sets are pending: the engine adopts them on the new server
    /// (as `JackClient.reconnectAfterShutdown` does), and the frames are the new sets' from the
    /// first block.
    @Test("A restart with a pending set: the set is adopted on the new server, frames exact")
    func restartWithPendingSet() throws {
        let driver = try EmbeddedDriver(streams: [.small(), .small(at: 16000)], blockLength: 256, holdSeconds: Self.hold)
        driver.run(blocks: 30)
        driver.changeSampleRate(to: 44100)
        driver.block()
        #expect(driver.engine.handshakeBusy)
        driver.restartServer(sampleRate: 44100, clock: 5000)
        driver.run(blocks: 40)
        #expect(driver.epochs.map(\.inputRate) == [48000, 44100])
        for stream in 0..<2 {
            let report = try check(driver, stream: stream, channel: 0)
            #expect(report.restart.count == 1)
        }
        #expect(!driver.engine.handshakeBusy)
    }

    /// JACK's frame time is 32 bits and wraps every 2³² samples (25 h at 48 kHz): frame times
    /// are extended to 64 bits and continue, with no discontinuity.
    @Test("The 32-bit frame clock wraps without a discontinuity")
    func clockWrap() throws {
        let start = Int64(UInt32.max) - 3000
        let driver = try EmbeddedDriver(streams: [.small()], blockLength: 256, clock: start)
        driver.run(blocks: 60)
        let report = try check(driver, channel: 0)
        #expect(report.discontinuity.isEmpty)
        #expect(driver.counters.discontinuities == 0)
        #expect(driver.frames(channel: 0).last!.metadata.frameTime > Int64(UInt32.max))
    }

    /// The 8 × 3 layout of the realtime proof, embedded: three streams (two at 16 kHz sharing one
    /// resampler per channel, one at the server's rate), a damaged cycle. Every stream flags the
    /// frames built from it (through the resampler's reach for the 16 kHz ones) and no frame far
    /// from it; every frame equals its stream's offline analysis.
    @Test("Three streams sharing a resampler: an xrun flags each stream's frames around it; all exact")
    func streamsShareResampler() throws {
        let streams: [EmbeddedDriver.Stream] = [
            .init(analysisSampleRate: 16000) { MelPreset.whisper.configuration(sampleRate: $0) },
            .small(at: 16000),
            .small(),
        ]
        let length = 256
        let driver = try EmbeddedDriver(streams: streams, channelCount: 3, blockLength: length, holdSeconds: Self.hold)
        driver.run(blocks: 30)
        driver.block(damaged: true)
        driver.xrun()
        driver.run(blocks: 60)
        for (stream, spec) in streams.enumerated() {
            let configuration = try spec.makeConfiguration(spec.analysisSampleRate ?? Self.rate)
            let ratio = Self.rate / configuration.sampleRate
            // Input samples the resampler's filter reaches either side of an output's instant.
            let reach = ratio == 1 ? 0 : try Resampler(inputRate: Self.rate, outputRate: configuration.sampleRate).lookahead + 1
            for channel in 0..<3 {
                let report = try check(driver, stream: stream, channel: channel)
                // Analysis samples computed from the damaged input block (inclusive bounds, rounded out).
                let damagedFrom = Int((Double(30 * length) / ratio).rounded(.down))
                let damagedTo = Int((Double(31 * length) / ratio).rounded(.up))
                let touching = framesOverlapping(damagedFrom, damagedTo, configuration: configuration, count: report.frames)
                #expect(!touching.isEmpty && touching.isSubset(of: report.xrun),
                        "stream \(stream): \(touching.subtracting(report.xrun).sorted()) not flagged")
                // The damage span starts one hold before the report, ends a period after it.
                let farFrom = Int(Double(31 * length - Self.holdSamples - reach) / ratio) - 1
                let farTo = Int(Double(32 * length + reach) / ratio) + 1
                let far = frames(configuration, count: report.frames) { first, span in first + span < farFrom || first > farTo }
                #expect(report.xrun.isDisjoint(with: far), "stream \(stream): frames far from the damage flagged")
            }
        }
    }

    /// Frame-burst spreading (`RealtimeEngine` `spreadFrames`): 24 channels in 32-sample periods
    /// (hop 128) complete 24 frames of the first stream in one block of every four, over the
    /// budget of 16 (twice the average of 6 + 2, at least 16), so blocks defer part of their
    /// analysis to the next. Through an xrun, a restamped period change, a rate change and a
    /// server restart, every frame equals the one computed without spreading:
    /// values bit for bit, sequence, channel and frame time. Flags are the same, except that a
    /// deferred frame may also carry `.xrun` (an xrun reported while it waited damages it).
    @Test("Spread frame bursts: the same frames, times and flags as without spreading, one block later at most")
    func spreadFramesAreTheSameFrames() throws {
        func drive(spreading: Bool) throws -> EmbeddedDriver {
            let driver = try EmbeddedDriver(streams: [.small(), .small(at: 16000)], channelCount: 24, blockLength: 32,
                                            holdSeconds: Self.hold, spreadFrames: spreading)
            driver.run(blocks: 200)
            driver.miss(cycles: 3)
            driver.xrun()
            driver.run(blocks: 200)
            driver.changePeriod(to: 48, restamped: true)
            driver.run(blocks: 100)
            driver.changeSampleRate(to: 44100)
            driver.run(blocks: 150)
            driver.restartServer()
            driver.run(blocks: 150)
            driver.drain()
            return driver
        }
        let spread = try drive(spreading: true)
        let whole = try drive(spreading: false)
        #expect(spread.engine.shared.pointee.deferredFeeds.load(ordering: .relaxed) > 0, "no block deferred anything")
        #expect(whole.engine.shared.pointee.deferredFeeds.load(ordering: .relaxed) == 0)
        let spreadBurst = spread.engine.shared.pointee.largestFrameBurst.load(ordering: .relaxed)
        let wholeBurst = whole.engine.shared.pointee.largestFrameBurst.load(ordering: .relaxed)
        #expect(spreadBurst < wholeBurst, "largest burst \(spreadBurst) spread, \(wholeBurst) not")
        for stream in 0..<2 {
            for channel in 0..<24 {
                let a = spread.frames(stream: stream, channel: channel)
                let b = whole.frames(stream: stream, channel: channel)
                // The last blocks' deferred samples are still in the backlog: at most a block's frames.
                #expect(a.count <= b.count && b.count - a.count <= 2, "stream \(stream) channel \(channel)")
                for (x, y) in zip(a, b) {
                    #expect(x.values == y.values && x.metadata.sequence == y.metadata.sequence
                            && x.metadata.frameTime == y.metadata.frameTime && x.epoch == y.epoch)
                    #expect(x.metadata.flags.subtracting(.xrun) == y.metadata.flags.subtracting(.xrun)
                            && x.metadata.flags.isSuperset(of: y.metadata.flags))
                }
                _ = try check(spread, stream: stream, channel: channel)
            }
        }
    }
}
