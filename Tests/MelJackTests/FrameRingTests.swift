import Foundation
import MelTransport
import Synchronization
import Testing

@Suite struct FrameRingTests {
    @Test func capacityIsRoundedUpToAPowerOfTwo() {
        #expect(FrameRing(width: 3, minimumCapacity: 5).capacity == 8)
        #expect(FrameRing(width: 0, minimumCapacity: 1).capacity == 1)
        #expect(FrameRing(width: 1, minimumCapacity: 64).capacity == 64)
    }

    @Test func fullRingRefusesWithoutOverwriting() {
        let ring = FrameRing(width: 2, minimumCapacity: 4)
        var values: [Float] = [0, 0]
        for i in 0..<4 {
            values = [Float(i), Float(-i)]
            #expect(ring.tryPush(metadata: FrameMetadata(sequence: UInt64(i), channel: 0, frameTime: Int64(i)), values: values))
        }
        values = [99, 99]
        #expect(!ring.tryPush(metadata: FrameMetadata(sequence: 4, channel: 0, frameTime: 4), values: values))
        #expect(ring.count == 4)
        var out: [Float] = [0, 0]
        for i in 0..<4 {
            let metadata = out.withUnsafeMutableBufferPointer { ring.pop(into: $0.baseAddress!) }
            #expect(metadata?.sequence == UInt64(i))
            #expect(out == [Float(i), Float(-i)])
        }
        #expect(out.withUnsafeMutableBufferPointer { ring.pop(into: $0.baseAddress!) } == nil)
    }

    @Test func wrapsAroundManyTimesKeepingOrderAndContents() {
        let ring = FrameRing(width: 5, minimumCapacity: 3)  // capacity 4
        var out = [Float](repeating: 0, count: 5)
        var next = 0
        for round in 0..<1000 {
            let burst = round % 4 + 1
            for k in 0..<burst {
                let n = next + k
                let values = (0..<5).map { Float(n * 10 + $0) }
                #expect(ring.tryPush(sequence: UInt64(n), channel: UInt32(n % 3), frameTime: Int64(n) * 512,
                                     rawFlags: UInt32(n % 16), values: values))
            }
            for k in 0..<burst {
                let n = next + k
                let metadata = out.withUnsafeMutableBufferPointer { ring.pop(into: $0.baseAddress!) }
                #expect(metadata == FrameMetadata(sequence: UInt64(n), channel: UInt32(n % 3), frameTime: Int64(n) * 512,
                                                  flags: FrameFlags(rawValue: UInt32(n % 16))))
                #expect(out == (0..<5).map { Float(n * 10 + $0) })
            }
            next += burst
        }
    }

    /// A producer thread pushes 200 000 frames into a small ring while the consumer pops: every
    /// frame that was accepted arrives once, in order, intact; refusals equal the gaps.
    @Test func producerAndConsumerThreadsAgree() async throws {
        let ring = FrameRing(width: 16, minimumCapacity: 8)
        let total = 200_000
        let pushedFlags = UnsafeMutablePointer<Bool>.allocate(capacity: total)
        pushedFlags.initialize(repeating: false, count: total)
        defer { pushedFlags.deallocate() }
        let box = UncheckedBox(pushedFlags)
        let producer = Thread {
            var values = [Float](repeating: 0, count: 16)
            for n in 0..<total {
                for j in 0..<16 { values[j] = Float(n &+ j) }
                box.value[n] = ring.tryPush(metadata: FrameMetadata(sequence: UInt64(n), channel: 1, frameTime: Int64(n)),
                                            values: values)
                if n % 8 == 7 { ring.wakeConsumerIfWaiting() }
                if n % 64 == 0 { usleep(1) }
            }
            ring.wakeConsumerIfWaiting()
            box.done.signal()
        }
        producer.start()
        var received: [UInt64] = []
        var out = [Float](repeating: 0, count: 16)
        var producerDone = false
        while true {
            if !producerDone, box.done.wait(timeout: .now()) == .success { producerDone = true }
            var any = false
            while let metadata = out.withUnsafeMutableBufferPointer({ ring.pop(into: $0.baseAddress!) }) {
                any = true
                let n = Int(metadata.sequence)
                if out != (0..<16).map({ Float(n + $0) }) || metadata.frameTime != Int64(n) {
                    Issue.record("frame \(n) arrived corrupted: \(out)")
                }
                received.append(metadata.sequence)
            }
            if producerDone && !any { break }
            if !any { ring.wait(timeout: 0.01) }
        }
        let accepted = (0..<total).filter { pushedFlags[$0] }.map(UInt64.init)
        #expect(received == accepted)
        #expect(received.count > 0)
    }

    @Test func waitReturnsAtOnceWhenFramesWaitAndTimesOutOtherwise() {
        let ring = FrameRing(width: 1, minimumCapacity: 2)
        #expect(!ring.wait(timeout: 0.01))
        let value: [Float] = [1]
        #expect(ring.tryPush(metadata: FrameMetadata(sequence: 0, channel: 0, frameTime: 0), values: value))
        #expect(ring.wait(timeout: 5))
    }

    /// Nobody waits: the producer's wake is a plain load, no `sem_post`.
    @Test func noWakeupWithoutASleepingConsumer() {
        let ring = FrameRing(width: 1, minimumCapacity: 4)
        let value: [Float] = [1]
        for _ in 0..<3 {
            #expect(ring.tryPush(metadata: FrameMetadata(sequence: 0, channel: 0, frameTime: 0), values: value))
            ring.wakeConsumerIfWaiting()
        }
        #expect(ring.wakeups == 0)
    }

    /// The producer pushes in bursts and wakes once per burst (as the JACK callback does); the
    /// consumer sleeps with a 10 s timeout whenever the ring is empty. A lost wake-up would leave
    /// it asleep until the timeout: every wait must end by a wake, and there is at most one
    /// `sem_post` per burst. The last frame (sequence UInt64.max) ends the run; a push refused
    /// because the ring is full counts as a drop, as in the callback.
    @Test func burstsWakeTheConsumerWithoutLosingAWakeup() {
        let ring = FrameRing(width: 4, minimumCapacity: 64)
        let bursts = 2_000
        let accepted = Atomic<Int>(0)
        let producer = Thread {
            let values: [Float] = [1, 2, 3, 4]
            for n in 0..<bursts {
                for k in 0..<(n % 3 + 1) {
                    if ring.tryPush(metadata: FrameMetadata(sequence: UInt64(k), channel: 0, frameTime: 0), values: values) {
                        accepted.add(1, ordering: .relaxed)
                    }
                }
                ring.wakeConsumerIfWaiting()
                if n % 4 == 0 { usleep(50) }
            }
            while !ring.tryPush(metadata: FrameMetadata(sequence: .max, channel: 0, frameTime: 0), values: values) { usleep(100) }
            ring.wakeConsumerIfWaiting()
        }
        producer.start()
        var out = [Float](repeating: 0, count: 4)
        var received = 0, timeouts = 0, finished = false
        while !finished {
            while let metadata = out.withUnsafeMutableBufferPointer({ ring.pop(into: $0.baseAddress!) }) {
                if metadata.sequence == .max { finished = true } else { received += 1 }
            }
            if !finished && !ring.wait(timeout: 10) { timeouts += 1; break }
        }
        #expect(timeouts == 0, "the consumer slept through a push: a lost wake-up")
        #expect(received == accepted.load(ordering: .relaxed))
        #expect(ring.wakeups <= UInt64(bursts + 1))
        print("FrameRing: \(ring.wakeups) wake-ups for \(bursts) bursts, \(received) frames")
    }

    /// Several streams, one wake-up: the producer pushes into the second ring only (as a callback
    /// where only one stream completes a frame) and wakes through the first; the consumer sleeps on
    /// the first ring watching both. A frame in the watched ring must never wait for the timeout.
    @Test func aWatchedRingIsNeverSleptThrough() {
        let wake = FrameRing(width: 2, minimumCapacity: 64)
        let other = FrameRing(width: 5, minimumCapacity: 64)
        let bursts = 2_000
        let producer = Thread {
            let values: [Float] = [1, 2, 3, 4, 5]
            for n in 0..<bursts {
                while !other.tryPush(metadata: FrameMetadata(sequence: UInt64(n), channel: 0, frameTime: 0), values: values) {
                    usleep(100)
                }
                wake.wakeConsumerIfWaiting()
                if n % 4 == 0 { usleep(50) }
            }
        }
        producer.start()
        var out = [Float](repeating: 0, count: 5)
        var received = 0, timeouts = 0
        while received < bursts {
            while out.withUnsafeMutableBufferPointer({ other.pop(into: $0.baseAddress!) }) != nil { received += 1 }
            if received < bursts && !wake.wait(timeout: 10, alsoWatching: [other]) { timeouts += 1; break }
        }
        #expect(timeouts == 0, "the consumer slept through a push into the watched ring")
        #expect(received == bursts)
        #expect(wake.wakeups <= UInt64(bursts))
    }
}

final class UncheckedBox: @unchecked Sendable {
    let value: UnsafeMutablePointer<Bool>
    let done = DispatchSemaphore(value: 0)
    init(_ value: UnsafeMutablePointer<Bool>) { self.value = value }
}
