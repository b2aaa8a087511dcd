// A status query (`meltap status`) takes none of the publisher's --max-subscribers places: it is
// answered when every place is taken, and one that is open does not keep a subscriber out.
import MelServer
import MeltapClient
import Testing
import MeltapTestSupport

@Suite struct StatusQueryLimitTests {
    static let document = Array(#"{"version":1}"#.utf8)

    /// A publisher with `maximumSubscribers` places that answers status requests with `document`.
    func startPublisher(_ path: String, maximumSubscribers: Int) throws -> FramePublisher {
        let publisher = FramePublisher(socketPath: path, queueBound: 100, maximumSubscribers: maximumSubscribers)
        publisher.setStatusSource { StatusQueryLimitTests.document }
        try publisher.start(header: testHeader(channelCount: 1, bandCount: 4))
        return publisher
    }

    @Test func statusIsAnsweredWhenEveryPlaceIsTaken() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/full.sock"
        let publisher = try startPublisher(path, maximumSubscribers: 2)
        defer { publisher.stop() }
        let first = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(20))
        let second = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(20))
        #expect(publisher.subscriberCount == 2)

        // Several queries in a row, each on its own connection, as `meltap status` makes them.
        for _ in 0..<3 {
            #expect(try MeltapSubscriber.requestStatus(socketPath: path, timeout: .seconds(20)) == Self.document)
        }
        #expect(publisher.subscriberCount == 2, "a status query was counted as a subscriber")

        // A third subscriber is still refused, with the message, and the two served still get frames.
        let refused = #expect(throws: MeltapClientError.self) {
            _ = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(20))
        }
        #expect(refused?.code == .refused)
        #expect(refused?.message.contains("already serves 2 subscribers") == true, "\(refused?.message ?? "")")
        publisher.publish(metadata: syntheticMetadata(channel: 0, sequence: 0), values: [1, 2, 3, 4])
        #expect(try first.next()?.values == [1, 2, 3, 4])
        #expect(try second.next()?.values == [1, 2, 3, 4])
    }

    @Test func anOpenStatusQueryLeavesItsPlaceToASubscriber() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/open.sock"
        let publisher = try startPublisher(path, maximumSubscribers: 2)
        defer { publisher.stop() }
        let first = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(20))

        // A status query that connected as a subscriber would (it got the header), asked, and is
        // still open: N − 1 subscribers plus a query in flight.
        let query = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(20))
        #expect(try query.requestStatus() == Self.document)
        #expect(publisher.subscriberCount == 1, "the open status query still counts as a subscriber")

        // The Nth subscriber is admitted and served.
        let second = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(20))
        #expect(publisher.subscriberCount == 2)
        publisher.publish(metadata: syntheticMetadata(channel: 0, sequence: 0), values: [5, 6, 7, 8])
        #expect(try first.next()?.values == [5, 6, 7, 8])
        #expect(try second.next()?.values == [5, 6, 7, 8])

        // The open query asks again and is answered; the (N+1)th subscriber is refused.
        #expect(try query.requestStatus() == Self.document)
        let refused = #expect(throws: MeltapClientError.self) {
            _ = try MeltapSubscriber(socketPath: path, receiveTimeout: .seconds(20))
        }
        #expect(refused?.code == .refused)
        query.close()
    }
}
