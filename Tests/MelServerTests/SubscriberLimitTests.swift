// The publisher's limits, seen from a client: the subscriber cap, refusals on the wire, and the
// socket's mode from the first instant.
import Foundation
import Glibc
@testable import MelServer
import MeltapClient
import Testing
import MeltapTestSupport

@Suite struct SubscriberLimitTests {
    @Test func theSubscriberPastTheCapIsRefusedWithAMessage() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/cap.sock"
        let publisher = FramePublisher(socketPath: path, queueBound: 100, maximumSubscribers: 2)
        defer { publisher.stop() }
        try publisher.start(header: testHeader(channelCount: 1, bandCount: 4))
        let first = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(20))
        let second = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(20))
        let error = #expect(throws: MeltapClientError.self) {
            _ = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(20))
        }
        #expect(error?.code == .refused)
        #expect(error?.message.contains("already serves 2 subscribers") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("--max-subscribers") == true)
        #expect(publisher.subscriberCount == 2, "a refused connection was counted")

        // The two admitted ones still get frames; when one leaves, a newcomer is admitted.
        publisher.publish(metadata: syntheticMetadata(channel: 0, sequence: 0), values: [1, 2, 3, 4])
        #expect(try first.next()?.values == [1, 2, 3, 4])
        #expect(try second.next()?.values == [1, 2, 3, 4])
        second.close()
        #expect(eventually(every: 0.002) { publisher.subscriberCount == 1 })
        let third = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(20))
        publisher.publish(metadata: syntheticMetadata(channel: 0, sequence: 1), values: [5, 6, 7, 8])
        #expect(try third.next()?.values == [5, 6, 7, 8])
    }

    @Test func aSubscribeNamingAMissingChannelIsRefused() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/channels.sock"
        let publisher = FramePublisher(socketPath: path, queueBound: 100)
        defer { publisher.stop() }
        try publisher.start(header: testHeader(channelCount: 2, bandCount: 4))
        let error = #expect(throws: MeltapClientError.self) {
            let subscriber = try MeltapSubscriber(socketPath: path, channels: [1, 2], receiveTimeout: .seconds(20))
            while try subscriber.next() != nil {}
        }
        #expect(error?.code == .refused)
        #expect(error?.message.contains("channel index 2 does not exist") == true, "\(error?.message ?? "")")
        #expect(eventually(every: 0.002) { publisher.subscriberCount == 0 }, "the refused subscriber was not disconnected")
        // Channels that exist are fine.
        let good = try MeltapSubscriber(socketPath: path, channels: [1], receiveTimeout: .seconds(20))
        publisher.publish(metadata: syntheticMetadata(channel: 1, sequence: 0), values: [1, 2, 3, 4])
        #expect(try good.next()?.metadata.channel == 1)
    }

    /// A subscriber that shuts down its sending side after subscribing keeps receiving frames.
    @Test func aHalfClosedSubscriberKeepsReceiving() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/half.sock"
        let publisher = FramePublisher(socketPath: path, queueBound: 100)
        defer { publisher.stop() }
        try publisher.start(header: testHeader(channelCount: 2, bandCount: 3))
        let client = try RawClient(path: path)
        var subscribe: [UInt8] = []
        WireEncoder.appendSubscribe(channels: [1], to: &subscribe)
        client.send(subscribe)
        #expect(shutdown(client.descriptor, Int32(SHUT_WR)) == 0)
        #expect(eventually(every: 0.002) { publisher.subscribeMessageCount == 1 })
        for sequence in 0..<UInt64(10) {
            for channel: UInt32 in 0..<2 {
                publisher.publish(metadata: syntheticMetadata(channel: channel, sequence: sequence),
                                  values: syntheticValues(channel: channel, sequence: sequence, bandCount: 3))
            }
        }
        publisher.stop()  // delivers what is queued, then closes
        let received = try #require(client.readUntilClosed()).compactMap { message -> ReceivedFrame? in
            guard case .frame(let metadata, let values) = message else { return nil }
            return ReceivedFrame(metadata: metadata, values: values)
        }
        expectComplete(received, channels: [1], framesPerChannel: 10, bandCount: 3, "half-closed subscriber")
    }

    /// With umask 000 the socket still appears with its final mode, and no staging directory is left.
    @Test func theSocketAppearsWithItsModeWhateverTheUmask() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/mode.sock"
        let previous = umask(0)
        defer { umask(previous) }
        let publisher = FramePublisher(socketPath: path, fileMode: 0o640, queueBound: 10)
        try publisher.start(header: testHeader(channelCount: 1, bandCount: 4))
        var info = stat()
        #expect(lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFSOCK && info.st_mode & 0o777 == 0o640,
                "mode \(String(info.st_mode & 0o777, radix: 8))")
        let entries = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(entries == ["mode.sock"], "left beside the socket: \(entries)")
        publisher.stop()
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty, "the socket was not removed")
    }

    /// The review's polish items: what is wrong with a socket directory is said plainly.
    @Test func socketDirectoryProblemsAreNamed() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let shared = directory + "/shared", link = directory + "/link"
        #expect(mkdir(shared, 0o700) == 0 && chmod(shared, 0o1777) == 0 && symlink(shared, link) == 0)
        let sticky = #expect(throws: FramePublisherError.self) { try SocketPath.makePrivateDirectory(shared) }
        #expect(sticky?.message.contains("a shared directory like /tmp (mode 1777") == true, "\(sticky?.message ?? "")")
        let linked = #expect(throws: FramePublisherError.self) { try SocketPath.makePrivateDirectory(link) }
        #expect(linked?.message.contains("is a symbolic link to '\(shared)'") == true, "\(linked?.message ?? "")")

        let missing = FramePublisher(socketPath: directory + "/no/such/dir/x.sock", queueBound: 10)
        defer { missing.stop() }
        let bind = #expect(throws: FramePublisherError.self) {
            try missing.start(header: testHeader(channelCount: 1, bandCount: 4))
        }
        #expect(bind?.message.contains("the directory \(directory)/no/such/dir does not exist") == true, "\(bind?.message ?? "")")
        #expect(bind?.message.contains("mkdtemp") == false && bind?.message.contains("NIO") == false)
    }
}
