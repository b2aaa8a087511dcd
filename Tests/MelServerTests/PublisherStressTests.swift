// A live FramePublisher on a real Unix socket under hostile clients: random bytes, huge declared
// lengths, 2,000 connect/close cycles, half-closed and stalled clients, all while frames are
// published. A good subscriber connected from the start must get every frame, in order, and the
// server must still accept and serve a newcomer at the end.
//
// No timed assertions: every wait is for a condition, and its limit only guards against a hang.
// The random choices come from one seed, printed with any failure; MELTAP_STRESS_SEED=<n>
// replays a run.
import Foundation
import Glibc
import MelServer
import MelTransport
import MeltapClient
import Synchronization
import Testing
import MelSystem
import MeltapTestSupport

/// What the hostile threads saw, read by the test thread after they end.
private final class StressRecord: Sendable {
    private let problems = Mutex<[String]>([])
    let refusals = Atomic<Int>(0)
    let cycles = Atomic<Int>(0)
    let hostileClosedByServer = Atomic<Int>(0)
    /// Hostile threads done; each adds 1 with releasing order after its last record write.
    let finished = Atomic<Int>(0)

    func fail(_ problem: String) { problems.withLock { $0.append(problem) } }
    var failures: [String] { problems.withLock { $0 } }
}

private func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

private func wirePrefix(type: UInt16, payloadLength: UInt32) -> [UInt8] {
    WireFormat.magic + le(WireFormat.version) + le(type) + le(payloadLength)
}

/// Sets SO_LINGER to 0, so that close() sends a reset instead of a FIN.
private func resetOnClose(_ descriptor: Int32) {
    var option = linger(l_onoff: 1, l_linger: 0)
    setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
}

/// The first message the server sends (its header, or a refusal); nil if the connection ended first.
private func firstMessage(_ client: RawClient) -> WireMessage? {
    client.read(until: { !$0.isEmpty }).first
}

/// Reads whatever `descriptor` holds now without waiting: bytes, and whether the peer closed.
private func drainNow(_ descriptor: Int32) -> (bytes: [UInt8], closed: Bool) {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { raw in
            retryingOnInterrupt { recv(descriptor, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT)) }
        }
        if count > 0 { bytes += buffer[0..<count]; continue }
        if count == 0 { return (bytes, true) }
        return (bytes, errno == ECONNRESET)
    }
}

@Suite struct PublisherStress {
    static let bandCount = 32
    static let channels: [UInt32] = [0, 1]
    /// Hostile connections kept open for the whole run (half-closed and stalled), well under the
    /// subscriber cap together with the churn's few transient ones.
    static let halfClosedCount = 16
    static let stalledCount = 4
    static let connectCycles = 2000

    @Test func goodSubscriberGetsEveryFrameWhileHostileClientsHammerTheServer() throws {
        let seed = ProcessInfo.processInfo.environment["MELTAP_STRESS_SEED"].flatMap { UInt64($0) }
            ?? UInt64.random(in: 0...UInt64.max)
        let label = "stress seed \(seed) (replay with MELTAP_STRESS_SEED=\(seed))"
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/stress.sock"
        // The cap is spelled out so that a change of default cannot make churn refusals appear;
        // this test keeps fewer than 32 connections open at once in any case.
        let publisher = FramePublisher(socketPath: path, queueBound: 1024, policy: .dropFrames,
                                       maximumSubscribers: 64)
        defer { publisher.stop() }
        let header = testHeader(channelCount: Self.channels.count, bandCount: Self.bandCount)
        try publisher.start(header: header)

        let good = FrameCollector(try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(120)))

        // Half-closed: subscribe to channel 0, then shut down the sending side and never read.
        // Stalled: half a prefix, then silence. Both stay connected for the whole run.
        var halfClosed: [RawClient] = []
        for _ in 0..<Self.halfClosedCount {
            let client = try RawClient(path: path)
            var subscribe: [UInt8] = []
            WireEncoder.appendSubscribe(channels: [0], to: &subscribe)
            client.send(subscribe)
            #expect(shutdown(client.descriptor, Int32(SHUT_WR)) == 0)
            halfClosed.append(client)
        }
        var stalled: [RawClient] = []
        for _ in 0..<Self.stalledCount {
            let client = try RawClient(path: path)
            client.send([0x4D, 0x54, 0x41, 0x50, 0x01])
            stalled.append(client)
        }
        #expect(eventually(every: 0.002) { publisher.subscribeMessageCount == Self.halfClosedCount },
                "\(label): the half-closed clients' subscriptions never arrived")

        let record = StressRecord()
        let hostile = [
            Thread { Self.sendHostileBytes(path: path, header: header, seed: seed, record: record)
                     record.finished.add(1, ordering: .releasing) },  // releasing: its record writes come first
            Thread { Self.churn(path: path, publisher: publisher, header: header, seed: seed &+ 1, record: record)
                     record.finished.add(1, ordering: .releasing) },
        ]
        hostile.forEach { $0.start() }

        // Publish in batches while the hostile threads run, each batch once the good subscriber
        // has the one before, so the publisher's own backlog never fills: any loss is a bug.
        var published: UInt64 = 0
        var batches = 0
        func publishBatch(_ frames: UInt64) {
            for sequence in published..<(published + frames) {
                for channel in Self.channels {
                    let accepted = publisher.publish(
                        metadata: syntheticMetadata(channel: channel, sequence: sequence),
                        values: syntheticValues(channel: channel, sequence: sequence, bandCount: Self.bandCount))
                    #expect(accepted, "\(label): publish of frame \(sequence) channel \(channel) was refused")
                }
            }
            published += frames
            batches += 1
            if batches % 64 == 0 { publisher.publish(stats: StreamStats(frames: published)) }
            let target = Int(published) * Self.channels.count
            #expect(eventually(every: 0.002) { good.frameCount >= target || good.isDone },
                    "\(label): good subscriber stuck at \(good.frameCount) of \(target) frames")
        }
        // acquiring: pairs with the threads' releasing add, so their records are visible after.
        while record.finished.load(ordering: .acquiring) < hostile.count && !good.isDone {
            if published < 40_000 {
                publishBatch(16)
            } else {
                // Enough frames held in memory; keep the stream alive (the subscriber's receive
                // timeout is a hang guard) at a trickle until the hostile threads are done.
                publishBatch(1)
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        #expect(eventually(timeout: 600, every: 0.002) { record.finished.load(ordering: .acquiring) == hostile.count },
                "\(label): hostile threads did not finish")
        for failure in record.failures { Issue.record(Comment(rawValue: "\(label): \(failure)")) }
        #expect(record.cycles.load(ordering: .relaxed) == Self.connectCycles, "\(label): cycles")
        #expect(record.refusals.load(ordering: .relaxed) == 0,
                "\(label): \(record.refusals.load(ordering: .relaxed)) churn connections were refused below the cap")
        #expect(good.error == nil && !good.isDone, "\(label): good subscriber ended: \(good.error ?? "closed")")

        // The half-closed clients were served what fit, as a valid stream: the header, then
        // channel 0 only, sequences rising, every jump flagged .gap. They never read: what the
        // kernel holds for them is the start of their stream.
        for (index, client) in halfClosed.enumerated() {
            let (bytes, _) = drainNow(client.descriptor)
            var decoder = WireDecoder()
            decoder.append(bytes)
            var messages: [WireMessage] = []
            do {
                while let message = try decoder.next() { messages.append(message) }
            } catch {
                Issue.record("\(label): half-closed client \(index) got bytes that do not decode: \(error)")
            }
            #expect(messages.first == .header(header), "\(label): half-closed client \(index) got no header first")
            var previous: UInt64?
            for case .frame(let metadata, let values) in messages {
                #expect(metadata.channel == 0, "\(label): half-closed client \(index) got channel \(metadata.channel)")
                #expect(values == syntheticValues(channel: 0, sequence: metadata.sequence, bandCount: Self.bandCount))
                let expected = previous.map { $0 + 1 } ?? 0
                #expect(metadata.sequence >= expected, "\(label): half-closed client \(index): sequence went back")
                #expect(metadata.flags.contains(.gap) == (metadata.sequence != expected),
                        "\(label): half-closed client \(index): frame \(metadata.sequence) where \(expected) was next: .gap must mark exactly the jumps")
                previous = metadata.sequence
            }
        }

        // Everyone but the good subscriber leaves; the server must forget them all.
        halfClosed.removeAll()
        stalled.removeAll()
        #expect(eventually(every: 0.002) { publisher.subscriberCount == 1 },
                "\(label): \(publisher.subscriberCount) subscribers remain; only the good one should")

        // The server still accepts: a newcomer gets the header and every frame from now on.
        let newcomer = FrameCollector(try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(120)))
        let before = published
        publishBatch(200)
        #expect(eventually(every: 0.002) { newcomer.frameCount >= 200 * Self.channels.count || newcomer.isDone })
        let late = newcomer.receivedFrames
        #expect(late.count == 200 * Self.channels.count, "\(label): newcomer got \(late.count) frames")
        for channel in Self.channels {
            let sequences = late.filter { $0.metadata.channel == channel }.map(\.metadata.sequence)
            #expect(sequences == Array(before..<published), "\(label): newcomer channel \(channel) sequences")
        }

        expectComplete(good.receivedFrames, channels: Self.channels, framesPerChannel: Int(published),
                       bandCount: Self.bandCount, label)
        print("stress: \(published) frames × \(Self.channels.count) channels all delivered while "
              + "\(record.hostileClosedByServer.load(ordering: .relaxed)) hostile connections were closed by the "
              + "server and \(record.cycles.load(ordering: .relaxed)) connect/close cycles ran (\(label))")
        publisher.stop()
        #expect(eventually(every: 0.002) { good.isDone }, "\(label): stop did not end the good subscriber's stream")
        #expect(good.error == nil, "\(label): good subscriber: \(good.error ?? "")")
    }

    /// A client that hangs up before the server has written it the header must not keep its
    /// place: the header write fails inside `channelActive`, and NIO runs `channelInactive` from
    /// within it. Once, such clients stayed counted for good, and a few hundred quick
    /// connect/close cycles filled --max-subscribers, turning every later subscriber away.
    @Test func clientsThatHangUpAtOnceDoNotKeepTheirPlace() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/hangup.sock"
        let publisher = FramePublisher(socketPath: path, queueBound: 16, maximumSubscribers: 4)
        defer { publisher.stop() }
        try publisher.start(header: testHeader(channelCount: 1, bandCount: 4))
        for round in 0..<300 {
            do { _ = try RawClient(path: path) }  // connect, then close at once
            if round % 3 == 0 {
                let client = try RawClient(path: path)
                client.send([1, 2, 3])  // garbage, then close
            }
        }
        #expect(eventually(every: 0.002) { publisher.subscriberCount == 0 },
                "\(publisher.subscriberCount) subscribers are still counted after every client hung up")
        // No slot is held: a subscriber is admitted and served.
        let subscriber = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(120))
        publisher.publish(metadata: syntheticMetadata(channel: 0, sequence: 0), values: [1, 2, 3, 4])
        #expect(try subscriber.next()?.values == [1, 2, 3, 4])
    }

    /// Garbage, huge declared lengths and broken messages, one connection at a time. Every
    /// connection whose bytes are invalid must be closed by the server.
    fileprivate static func sendHostileBytes(path: String, header: StreamHeader, seed: UInt64, record: StressRecord) {
        var random = SplitMix64(seed: seed)
        /// Connects, sends `bytes` (in `pieces` sends), and if `mustClose`, reads until the server closes.
        func attack(_ what: String, _ bytes: [UInt8], pieces: Int = 1, mustClose: Bool) {
            let client: RawClient
            do { client = try RawClient(path: path) } catch {
                return record.fail("\(what): connect failed: \(error)")
            }
            let step = max(1, (bytes.count + pieces - 1) / pieces)
            for start in stride(from: 0, to: bytes.count, by: step) {
                client.send(Array(bytes[start..<min(bytes.count, start + step)]))
            }
            guard mustClose else { return }
            // Header, maybe, then the end: EOF or a reset (the server closed with our bytes unread).
            // nil means the 60 s receive guard expired: the server kept a bad connection open.
            guard let messages = client.readUntilClosed() else {
                return record.fail("\(what): the server did not close the connection")
            }
            if let first = messages.first, first != .header(header) {
                record.fail("\(what): the first message was \(first), not the header")
            }
            record.hostileClosedByServer.add(1, ordering: .relaxed)  // a statistic
        }

        // Random bytes that cannot start a message (first byte not 'M'): always closed.
        for round in 0..<300 {
            var bytes = (0..<Int.random(in: 1...8192, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            if bytes[0] == 0x4D { bytes[0] = 0x4E }
            attack("random garbage \(round)", bytes, pieces: Int.random(in: 1...8, using: &random), mustClose: true)
        }
        // Random bytes behind a valid magic and version: any outcome but a crash; we hang up.
        for round in 0..<300 {
            let bytes = WireFormat.magic + le(WireFormat.version)
                + (0..<Int.random(in: 0...4096, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            attack("random after prefix \(round)", bytes, pieces: Int.random(in: 1...4, using: &random), mustClose: false)
        }
        // Huge declared lengths, of every type, whole or a byte at a time: refused from the prefix.
        let lengths: [UInt32] = [0xFFFF_FFFF, 0x8000_0000, 16 << 20, (16 << 20) + 1, 1 << 20, (64 << 10) + 1]
        let types: [UInt16] = [1, 2, 3, 4, 16, 0x7777]
        for length in lengths {
            for type in types {
                attack("length \(length) type \(type)", wirePrefix(type: type, payloadLength: length), mustClose: true)
                attack("length \(length) type \(type) bytewise", wirePrefix(type: type, payloadLength: length),
                       pieces: 12, mustClose: true)
            }
        }
        // Broken messages: wrong version, a subscribe whose count disagrees, a missing channel.
        attack("version 2", WireFormat.magic + le(UInt16(2)) + le(UInt16(16)) + le(UInt32(4)) + le(UInt32(0)),
               mustClose: true)
        attack("subscribe count", wirePrefix(type: 16, payloadLength: 8) + le(UInt32(0xFFFF_FFFF)) + le(UInt32(0)),
               mustClose: true)
        var missing: [UInt8] = []
        WireEncoder.appendSubscribe(channels: [99], to: &missing)
        attack("subscribe to channel 99", missing, mustClose: true)
        // Valid messages a server does not take (header, frame, stats): ignored; we hang up.
        var valid: [UInt8] = []
        try? WireEncoder.appendHeader(header, to: &valid)
        WireEncoder.appendFrame(syntheticMetadata(channel: 0, sequence: 7), values: [1, 2, 3], to: &valid)
        WireEncoder.appendStats(StreamStats(frames: 1), to: &valid)
        attack("server-side messages from a client", valid, pieces: 5, mustClose: false)
    }

    /// 2,000 connect/close cycles: hang up at once, after the header, with a reset after a
    /// subscribe, or in the middle of a prefix. Every 10 cycles, one that reads the header (the
    /// server accepts in order, so every earlier connection has been seen) and a wait until the
    /// closed ones are gone: at most about 30 connections are ever open on the server.
    fileprivate static func churn(path: String, publisher: FramePublisher, header: StreamHeader, seed: UInt64,
                      record: StressRecord) {
        var random = SplitMix64(seed: seed)
        var subscribe: [UInt8] = []
        WireEncoder.appendSubscribe(channels: [1], to: &subscribe)
        let settled = halfClosedCount + stalledCount + 4  // the long-lived ones, good, a few in flight
        for cycle in 0..<connectCycles {
            let client: RawClient
            do { client = try RawClient(path: path) } catch {
                return record.fail("cycle \(cycle): connect failed: \(error)")
            }
            let barrier = cycle % 10 == 9
            switch barrier ? 1 : Int.random(in: 0...3, using: &random) {
            case 0:
                break  // hang up at once, maybe before the server accepted
            case 1:
                switch firstMessage(client) {
                case .header(let received)? where received == header: break
                case .refusal?: record.refusals.add(1, ordering: .relaxed)  // a statistic
                case let other: record.fail("cycle \(cycle): first message \(String(describing: other))")
                }
            case 2:
                client.send(subscribe)
                resetOnClose(client.descriptor)
            default:
                client.send(Array(wirePrefix(type: 16, payloadLength: 4)[0..<Int.random(in: 1...11, using: &random)]))
            }
            record.cycles.add(1, ordering: .relaxed)  // a statistic
            guard barrier else { continue }
            let settledDown = eventually(every: 0.002) { publisher.subscriberCount <= settled }
            if !settledDown {
                return record.fail("cycle \(cycle): \(publisher.subscriberCount) subscribers remain connected "
                                   + "after their clients closed")
            }
        }
    }
}
