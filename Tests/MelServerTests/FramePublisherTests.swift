// FramePublisher over real Unix sockets in a temp directory, fed synthetic frames from the test
// thread. Waits are by condition; their limits only guard against hangs.
import Foundation
import MelServer
import MelTransport
import MeltapClient
import Testing
import MeltapTestSupport

@Suite struct FramePublisherDelivery {
    @Test func sixtyFourSubscribersGetEveryFrameInOrder() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/many.sock"
        let bandCount = 16, framesPerChannel = 200, channels: [UInt32] = [0, 1]
        let publisher = FramePublisher(socketPath: path, queueBound: 100_000)
        defer { publisher.stop() }
        try publisher.start(header: testHeader(channelCount: 2, bandCount: bandCount))

        // Each subscriber has its header once init returns, so it is registered by then.
        let subscribers = try (0..<64).map { _ in
            try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(60))
        }
        #expect(publisher.subscriberCount == 64)
        for sequence in 0..<UInt64(framesPerChannel) {
            for channel in channels {
                let accepted = publisher.publish(metadata: syntheticMetadata(channel: channel, sequence: sequence),
                                                 values: syntheticValues(channel: channel, sequence: sequence,
                                                                         bandCount: bandCount))
                #expect(accepted)
            }
        }
        for (index, subscriber) in subscribers.enumerated() {
            #expect(subscriber.header == testHeader(channelCount: 2, bandCount: bandCount))
            var frames: [ReceivedFrame] = []
            for _ in 0..<(framesPerChannel * channels.count) {
                guard let frame = try subscriber.next() else { break }
                frames.append(frame)
            }
            expectComplete(frames, channels: channels, framesPerChannel: framesPerChannel, bandCount: bandCount,
                           "subscriber \(index)")
        }
        #expect(publisher.subscriberDropCount == 0)
    }

    /// Publishes frames `range` of channel 0, `batch` at a time, waiting after each batch until
    /// `healthy` has them all (so the publisher's own backlog never fills).
    func publishPaced(_ publisher: FramePublisher, _ range: Range<UInt64>, bandCount: Int, healthy: FrameCollector,
                      batch: Int = 16) {
        var sequence = range.lowerBound
        while sequence < range.upperBound {
            let end = min(sequence + UInt64(batch), range.upperBound)
            for s in sequence..<end {
                let accepted = publisher.publish(metadata: syntheticMetadata(channel: 0, sequence: s),
                                                 values: syntheticValues(channel: 0, sequence: s, bandCount: bandCount))
                #expect(accepted, "publish of frame \(s) was refused")
            }
            sequence = end
            let target = Int(end)
            #expect(eventually(every: 0.002) { healthy.frameCount >= target || healthy.isDone },
                    "healthy subscriber stuck at \(healthy.frameCount) of \(target) frames")
        }
    }

    @Test func stuckSubscriberLosesFramesWithGapFlagAndOthersGetEverything() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/stuck.sock"
        let bandCount = 64, total: UInt64 = 3000
        let publisher = FramePublisher(socketPath: path, queueBound: 32, policy: .dropFrames)
        defer { publisher.stop() }
        try publisher.start(header: testHeader(channelCount: 1, bandCount: bandCount))

        let healthy = FrameCollector(try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(60)))
        // Connected and registered, but nobody reads it until later: kernel buffer, then its
        // queue fill up. 3000 frames of 296 bytes are far more than both hold.
        let stuck = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(60))
        publishPaced(publisher, 0..<total, bandCount: bandCount, healthy: healthy)
        // Every publish returned while `stuck` was not read: publishing never waited for it.
        expectComplete(healthy.receivedFrames, channels: [0], framesPerChannel: Int(total), bandCount: bandCount,
                       "healthy subscriber")
        #expect(publisher.subscriberDropCount > 0, "the stuck subscriber should have lost frames")

        // Resume the stuck one; its next frame after the loss carries .gap and a jump in sequence.
        let resumed = FrameCollector(stuck)
        var next = total
        let sawGap = eventually(every: 0.002) {
            if resumed.receivedFrames.contains(where: { $0.metadata.flags.contains(.gap) }) { return true }
            if next < total + 20_000 {
                publishPaced(publisher, next..<(next + 1), bandCount: bandCount, healthy: healthy)
                next += 1
            }
            return false
        }
        #expect(sawGap, "stuck subscriber never saw a .gap frame")
        let frames = resumed.receivedFrames
        var previous: UInt64?
        for frame in frames {
            let sequence = frame.metadata.sequence
            #expect(frame.values == syntheticValues(channel: 0, sequence: sequence, bandCount: bandCount))
            if let previous {
                #expect(sequence > previous, "sequences must increase")
                let jumped = sequence != previous + 1
                #expect(jumped == frame.metadata.flags.contains(.gap),
                        "frame \(sequence) after \(previous): gap flag must mark exactly the jumps")
            } else {
                #expect(sequence == 0)
            }
            previous = sequence
        }
        expectComplete(healthy.receivedFrames, channels: [0], framesPerChannel: Int(next), bandCount: bandCount,
                       "healthy subscriber after resume")
    }

    @Test func stuckSubscriberIsDisconnectedUnderDisconnectPolicy() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/disc.sock"
        let bandCount = 64, total: UInt64 = 3000
        let publisher = FramePublisher(socketPath: path, queueBound: 32, policy: .disconnect)
        defer { publisher.stop() }
        try publisher.start(header: testHeader(channelCount: 1, bandCount: bandCount))

        let healthy = FrameCollector(try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(60)))
        let stuck = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(60))
        publishPaced(publisher, 0..<total, bandCount: bandCount, healthy: healthy)
        expectComplete(healthy.receivedFrames, channels: [0], framesPerChannel: Int(total), bandCount: bandCount,
                       "healthy subscriber")
        #expect(eventually(every: 0.002) { publisher.subscriberCount == 1 }, "stuck subscriber was not disconnected")

        // What the stuck one had buffered is intact and in order, then the stream ends.
        var received: UInt64 = 0
        while let frame = try stuck.next() {
            #expect(frame.metadata.sequence == received)
            #expect(!frame.metadata.flags.contains(.gap))
            received += 1
        }
        #expect(received > 0 && received < total, "stuck subscriber received \(received) of \(total)")
    }

    @Test func channelSubsetsAreFilteredByTheServer() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/subset.sock"
        let bandCount = 8, framesPerChannel = 50
        let publisher = FramePublisher(socketPath: path, queueBound: 10_000)
        defer { publisher.stop() }
        try publisher.start(header: testHeader(channelCount: 3, bandCount: bandCount))

        let raw = try RawClient(path: path)
        var subscribe: [UInt8] = []
        WireEncoder.appendSubscribe(channels: [1], to: &subscribe)
        raw.send(subscribe)
        let client = FrameCollector(try MeltapSubscriber(socketPath: path, channels: [0, 2],
                                                         receiveTimeout: .seconds(60)))
        let all = FrameCollector(try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(60)))
        #expect(eventually(every: 0.002) { publisher.subscribeMessageCount == 2 })
        for sequence in 0..<UInt64(framesPerChannel) {
            for channel: UInt32 in 0..<3 {
                publisher.publish(metadata: syntheticMetadata(channel: channel, sequence: sequence),
                                  values: syntheticValues(channel: channel, sequence: sequence, bandCount: bandCount))
            }
        }
        #expect(eventually(every: 0.002) { all.frameCount == 3 * framesPerChannel && client.frameCount == 2 * framesPerChannel })
        publisher.stop()

        // The raw client filters nothing itself: whatever arrived is what the server sent.
        let messages = raw.readUntilClosed() ?? []
        let rawFrames = messages.compactMap { message -> ReceivedFrame? in
            if case .frame(let metadata, let values) = message { return ReceivedFrame(metadata: metadata, values: values) }
            return nil
        }
        #expect(messages.first == .header(testHeader(channelCount: 3, bandCount: bandCount)))
        expectComplete(rawFrames, channels: [1], framesPerChannel: framesPerChannel, bandCount: bandCount, "raw [1]")
        expectComplete(client.receivedFrames, channels: [0, 2], framesPerChannel: framesPerChannel,
                       bandCount: bandCount, "client [0, 2]")
        expectComplete(all.receivedFrames, channels: [0, 1, 2], framesPerChannel: framesPerChannel,
                       bandCount: bandCount, "all channels")
    }

    @Test func garbageFromSubscribersNeverDisturbsOthers() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/garbage.sock"
        let bandCount = 8, framesPerChannel = 100
        let publisher = FramePublisher(socketPath: path, queueBound: 10_000)
        defer { publisher.stop() }
        try publisher.start(header: testHeader(channelCount: 1, bandCount: bandCount))
        let good = FrameCollector(try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(60)))

        var oversized: [UInt8] = [0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x10, 0x00]
        oversized += withUnsafeBytes(of: UInt32(0xFFFF_FFF0).littleEndian) { Array($0) }
        var badCount: [UInt8] = [0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x10, 0x00, 8, 0, 0, 0]
        badCount += [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]
        let closingPayloads: [[UInt8]] = [
            Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
            (0..<4096).map { _ in UInt8.random(in: 0...255) },
            oversized,
            badCount,
            [0x4D, 0x54, 0x41, 0x50, 0x09, 0x00, 0x10, 0x00, 0, 0, 0, 0],  // version 9
        ]
        let closers = try closingPayloads.map { payload in
            let client = try RawClient(path: path)
            client.send(payload)
            return client
        }
        // A client that sends half a message and goes quiet, and one that hangs up at once.
        let partial = try RawClient(path: path)
        partial.send([0x4D, 0x54, 0x41, 0x50, 0x01, 0x00, 0x10])
        do { _ = try RawClient(path: path) }

        for sequence in 0..<UInt64(framesPerChannel) {
            publisher.publish(metadata: syntheticMetadata(channel: 0, sequence: sequence),
                              values: syntheticValues(channel: 0, sequence: sequence, bandCount: bandCount))
        }
        for (index, client) in closers.enumerated() {
            #expect(client.readUntilClosed() != nil, "garbage client \(index) was not disconnected")
        }
        #expect(eventually(every: 0.002) { good.frameCount == framesPerChannel })
        expectComplete(good.receivedFrames, channels: [0], framesPerChannel: framesPerChannel, bandCount: bandCount,
                       "good subscriber")
        #expect(eventually(every: 0.002) { publisher.subscriberCount == 2 }, "expected the good and the partial client to remain")
        // The server still accepts and serves new subscribers.
        let late = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(60))
        publisher.publish(metadata: syntheticMetadata(channel: 0, sequence: 100),
                          values: syntheticValues(channel: 0, sequence: 100, bandCount: bandCount))
        #expect(try late.next()?.metadata.sequence == 100)
    }

    @Test func headerUpdatesAndStatsArriveInOrder() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/header.sock"
        let publisher = FramePublisher(socketPath: path, queueBound: 1000)
        defer { publisher.stop() }
        let first = testHeader(channelCount: 1, bandCount: 4)
        try publisher.start(header: first)
        let subscriber = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(60))
        #expect(subscriber.header == first)

        publisher.publish(metadata: syntheticMetadata(channel: 0, sequence: 0), values: [1, 2, 3, 4])
        let second = testHeader(channelCount: 2, bandCount: 6, sampleRate: 48000)
        try publisher.updateHeader(second)
        var reconfigured = syntheticMetadata(channel: 0, sequence: 0)
        reconfigured.flags = .reconfigured
        publisher.publish(metadata: reconfigured, values: [Float](repeating: 5, count: 6))
        publisher.publish(stats: StreamStats(frames: 2, drops: 3, xruns: 4, subscriberDrops: 99))

        #expect(try subscriber.nextEvent() == .frame(ReceivedFrame(metadata: syntheticMetadata(channel: 0, sequence: 0),
                                                                   values: [1, 2, 3, 4])))
        #expect(try subscriber.nextEvent() == .header(second))
        #expect(subscriber.header == second)
        #expect(try subscriber.nextEvent() == .frame(ReceivedFrame(metadata: reconfigured,
                                                                   values: [Float](repeating: 5, count: 6))))
        // subscriberDrops is the publisher's own count (0 here), not the caller's.
        #expect(try subscriber.nextEvent() == .stats(StreamStats(frames: 2, drops: 3, xruns: 4, subscriberDrops: 0)))
        // Late subscribers get the current header.
        let late = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(60))
        #expect(late.header == second)
        publisher.stop()
        #expect(try subscriber.nextEvent() == nil, "stop should end the stream")
    }

    @Test func periodicStatsComeFromTheSource() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/stats.sock"
        let publisher = FramePublisher(socketPath: path, queueBound: 100, statsInterval: .milliseconds(20),
                                       statsSource: { StreamStats(frames: 7, drops: 1, xruns: 2) })
        defer { publisher.stop() }
        try publisher.start(header: testHeader(channelCount: 1, bandCount: 4))
        let subscriber = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(60))
        #expect(try subscriber.nextEvent() == .stats(StreamStats(frames: 7, drops: 1, xruns: 2, subscriberDrops: 0)))
        #expect(subscriber.latestStats?.frames == 7)
    }
}

@Suite struct FramePublisherSocketFile {
    func mode(_ path: String) -> mode_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o777 : nil
    }

    @Test func defaultModeIs0600AndSocketIsRemovedOnStop() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/mode.sock"
        let publisher = FramePublisher(socketPath: path, queueBound: 10)
        try publisher.start(header: testHeader(channelCount: 1, bandCount: 4))
        #expect(mode(path) == 0o600)
        publisher.stop()
        #expect(access(path, F_OK) != 0, "socket file should be removed on stop")
        publisher.stop()  // twice is fine
    }

    @Test func groupModeWhenAsked() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/group.sock"
        let publisher = FramePublisher(socketPath: path, fileMode: 0o660, queueBound: 10)
        defer { publisher.stop() }
        try publisher.start(header: testHeader(channelCount: 1, bandCount: 4))
        #expect(mode(path) == 0o660)
    }

    @Test func staleSocketIsReplaced() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/stale.sock"
        // A socket file nobody listens on, as a crashed server leaves behind.
        #expect(makeStaleSocket(at: path))
        #expect(access(path, F_OK) == 0)

        let publisher = FramePublisher(socketPath: path, queueBound: 10)
        defer { publisher.stop() }
        try publisher.start(header: testHeader(channelCount: 1, bandCount: 4))
        let subscriber = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(60))
        #expect(subscriber.header.bandCount == 4)
    }

    @Test func liveServerConflictSaysWhatToDo() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/live.sock"
        let first = FramePublisher(socketPath: path, queueBound: 10)
        defer { first.stop() }
        try first.start(header: testHeader(channelCount: 1, bandCount: 4))
        let second = FramePublisher(socketPath: path, queueBound: 10)
        defer { second.stop() }
        do {
            try second.start(header: testHeader(channelCount: 1, bandCount: 4))
            Issue.record("second server at the same path should fail")
        } catch let error as FramePublisherError {
            #expect(error.code == .addressInUse)
            #expect(error.message.contains("another meltap is serving at \(path)"))
            #expect(error.message.contains("--socket") && error.message.contains("--name"))
        }
        second.stop()
        // The failed second server must not have removed the first one's socket.
        let subscriber = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(60))
        #expect(subscriber.header.bandCount == 4)
    }

    @Test func refusesToReplaceAFileThatIsNotASocket() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/plain.sock"
        #expect(FileManager.default.createFile(atPath: path, contents: Data("keep me".utf8)))
        let publisher = FramePublisher(socketPath: path, queueBound: 10)
        defer { publisher.stop() }
        #expect { try publisher.start(header: testHeader(channelCount: 1, bandCount: 4)) } throws: { error in
            guard let error = error as? FramePublisherError else { return false }
            return error.code == .notASocket && error.message.contains("not a socket")
        }
        #expect(FileManager.default.contents(atPath: path) == Data("keep me".utf8))
    }

    @Test func defaultSocketPathIsPrivate() throws {
        let path = try FramePublisher.defaultSocketPath(clientName: "meltap-test")
        #expect(path.hasSuffix("/meltap-test.sock"))
        let directory = String(path.dropLast("/meltap-test.sock".count))
        var info = stat()
        #expect(lstat(directory, &info) == 0)
        #expect(info.st_uid == getuid())
        #expect(info.st_mode & 0o022 == 0)
        #expect(throws: FramePublisherError.self) { _ = try FramePublisher.defaultSocketPath(clientName: "a/b") }
    }

    @Test func clientErrorsSayWhatToDo() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        #expect { _ = try MeltapSubscriber(socketPath: directory + "/missing.sock") } throws: { error in
            guard let error = error as? MeltapClientError else { return false }
            return error.code == .socketMissing && error.message.contains("meltap run")
        }
        if getuid() != 0 {  // root ignores file modes
            let path = directory + "/locked.sock"
            let publisher = FramePublisher(socketPath: path, fileMode: 0o000, queueBound: 10)
            defer { publisher.stop() }
            try publisher.start(header: testHeader(channelCount: 1, bandCount: 4))
            #expect { _ = try MeltapSubscriber(socketPath: path) } throws: { error in
                guard let error = error as? MeltapClientError else { return false }
                return error.code == .permissionDenied && error.message.contains("permission denied")
            }
        }
    }
}
