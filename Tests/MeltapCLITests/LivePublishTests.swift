// `meltap run` publishing on its socket, end to end: a private dummy jackd, the built meltap and
// meltap-testsource, the Swift client (MeltapClient) and the Python example client.
import CJack
import Foundation
import Glibc
import MeltapTestSupport
import MelDSP
import MelFiles
import MeltapClient
import Testing

// MARK: Subscribers on threads

/// A Swift subscriber on its own thread, collecting frames (and, with a JACK client, latency
/// samples) until the server closes the stream.
final class ThreadSubscriber: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [ReceivedFrame] = []
    private var latencies: [Double] = []
    private var captureLatencies: [Double] = []
    private var measuring = false
    private let done = DispatchSemaphore(value: 0)
    private(set) var failure: String?

    /// - Parameter jack: a JACK client of the same server, to convert frame times to JACK's
    ///   microsecond clock (`jack_frames_to_time`) and read it at receipt (`jack_get_time`).
    init(socket: String, channels: [Int]? = nil, jack: OpaquePointer? = nil, fftLength: Int64 = 2048) throws {
        let owned = Handoff((try MeltapSubscriber(socketPath: socket, channels: channels), jack))
        let period = jack.map { jack_get_buffer_size($0) } ?? 1
        let anchor = jack.map { jack_last_frame_time($0) } ?? 0
        let periodMicroseconds = jack_time_t(period) * 1_000_000 / jack_time_t(jack.map { jack_get_sample_rate($0) } ?? 48000)
        let thread = Thread { [self] in
            let (subscriber, jack) = owned.value
            do {
                while let frame = try subscriber.next() {
                    var latency: (delivery: Double, capture: Double)?
                    if let jack {
                        let now = jack_get_time()
                        // The frame's last sample L was handed to meltap in the cycle starting at
                        // frame time C (cycles start at anchor + k·period); JACK dates that cycle's
                        // wakeup as frames_to_time(C). The dummy driver "captures" a cycle's block
                        // during the period before it, so L itself was captured by
                        // frames_to_time(L + 1) − one period.
                        let last = jack_nframes_t(truncatingIfNeeded: frame.metadata.frameTime + fftLength - 1)
                        let cycle = last &- ((last &- anchor) % period)
                        let delivered = jack_frames_to_time(jack, cycle)
                        let captured = jack_frames_to_time(jack, last &+ 1) &- periodMicroseconds
                        latency = (Double(Int64(bitPattern: now &- delivered)) / 1000,
                                   Double(Int64(bitPattern: now &- captured)) / 1000)
                    }
                    lock.withLock {
                        collected.append(frame)
                        if measuring, let latency {
                            latencies.append(latency.delivery)
                            captureLatencies.append(latency.capture)
                        }
                    }
                }
            } catch {
                lock.withLock { failure = "\(error)" }
            }
            done.signal()
        }
        thread.start()
    }

    var frames: [ReceivedFrame] { lock.withLock { collected } }
    var count: Int { lock.withLock { collected.count } }
    /// Milliseconds from the wakeup of the JACK cycle that delivered a frame's last sample to its
    /// receipt, recorded while `measuring` was on.
    var latencyMilliseconds: [Double] { lock.withLock { latencies } }
    /// Milliseconds from the (simulated) capture of a frame's last sample to its receipt.
    var captureLatencyMilliseconds: [Double] { lock.withLock { captureLatencies } }
    func measure(_ on: Bool) { lock.withLock { measuring = on } }

    /// Waits up to `timeout` s for the stream to end.
    func join(timeout: Double) -> Bool { done.wait(timeout: .now() + timeout) == .success }
}

/// Opens a (never activated) JACK client on the session's server for its clock.
func openClockClient(_ session: JackSession) throws -> OpaquePointer {
    setenv("JACK_DEFAULT_SERVER", session.serverName, 1)
    setenv("JACK_NO_START_SERVER", "1", 1)
    var status = jack_status_t(0)
    guard let client = meltap_jack_client_open("latency-probe", JackNoStartServer, &status) else {
        throw HarnessError("cannot open a JACK client on \(session.serverName) (status \(status.rawValue))")
    }
    return client
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

/// Contiguous sequences per channel (every frame delivered).
func sequencesAreContiguous(_ frames: [ReceivedFrame]) -> Bool {
    var last: [UInt32: UInt64] = [:]
    for frame in frames {
        if let previous = last[frame.metadata.channel], frame.metadata.sequence != previous + 1 { return false }
        last[frame.metadata.channel] = frame.metadata.sequence
    }
    return true
}

// MARK: Tests

@Suite(.serialized) struct LivePublishTests {
    @Test("The Swift and Python clients receive frames equal to the offline analysis of the samples sent")
    func clientsReceiveOfflineFrames() throws {
        let session = try JackSession()
        defer { session.finish() }
        let socket = session.path("m.sock")
        let meltap = try session.startMeltap(["--inputs", "2", "--preset", "librosa", "--xrun-hold", "100"], socket: socket)
        #expect(meltap.output.contains("meltap: publishing on \(socket)"))
        let swift = try ThreadSubscriber(socket: socket)
        let python = try session.launch(try pythonExecutable(), [packageRoot.appendingPathComponent("Examples/meltap_subscriber.py").path,
                                                           socket, "1", "2"], label: "python")
        usleep(500_000)
        let record = session.path("source.bin")
        let source = try session.startSource(["--outputs", "2", "--signal", "noise", "--seed", "11", "--connect", "meltap:in_.*",
                                              "--wait-connected", "--record", record, "--record-seconds", "3", "--exit-when-recorded"])
        #expect(source.waitForExit(timeout: 60), "the test source did not finish: \(source.errors)")
        usleep(500_000)
        #expect(meltap.stop(signal: SIGINT) == 0, "meltap: \(meltap.errors)")
        #expect(swift.join(timeout: 20), "the Swift subscriber did not see the stream end")
        #expect(python.waitForExit(timeout: 20), "the Python subscriber did not see the stream end")
        let recorded = try SourceRecord(path: record)

        // Python prints "channel sequence frame_time flags v0 v1 …", channels from 1 (float32 values
        // printed exactly as float64).
        var pythonFrames: [ReceivedFrame] = []
        for line in python.output.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4, let channel = UInt32(fields[0]), channel >= 1, let sequence = UInt64(fields[1]),
                  let time = Int64(fields[2]), let flags = UInt32(fields[3]) else { continue }
            pythonFrames.append(ReceivedFrame(metadata: FrameMetadata(sequence: sequence, channel: channel - 1, frameTime: time,
                                                                      flags: FrameFlags(rawValue: flags)),
                                              values: fields[4...].map { Float(Double($0)!) }))
        }
        let swiftFrames = swift.frames
        let minimum = 3 * 48000 / 512 / 4
        for channel in 0..<2 {
            let mine = swiftFrames.filter { $0.metadata.channel == UInt32(channel) }
            let compared = try compareLiveWithOffline(live: mine, record: recorded, recordChannel: channel, silenceBefore: true,
                                                  silenceAfter: false, configuration: librosaConfiguration())
            #expect(compared >= minimum, "Swift client, channel \(channel + 1): only \(compared) frames compared")
            // Python connected after the Swift client: from its first frame on, both saw the same
            // frames with the same flags; its unflagged frames equal the offline analysis.
            let theirs = pythonFrames.filter { $0.metadata.channel == UInt32(channel) }
            let pythonFirst = theirs.first?.metadata.sequence ?? .max
            let mineFromThere = mine.filter { $0.metadata.sequence >= pythonFirst }
            #expect(theirs.map(\.metadata) == mineFromThere.map(\.metadata),
                    "channel \(channel + 1): the Python client's sequences, times or flags differ from the Swift client's")
            let comparedPython = try compareLiveWithOffline(live: theirs, record: recorded, recordChannel: channel, silenceBefore: true,
                                                  silenceAfter: false, configuration: librosaConfiguration())
            #expect(comparedPython >= minimum, "Python client, channel \(channel + 1): only \(comparedPython) frames compared")
        }
    }

    @Test("64 subscribers, one stopped for 10 s: the others get every frame, the stopped one a gap; latency p50/p99")
    func sixtyFourSubscribers() throws {
        let session = try JackSession()
        defer { session.finish() }
        let socket = session.path("m.sock")
        let meltap = try session.startMeltap(["--inputs", "1", "--preset", "librosa"], socket: socket)
        let source = try session.startSource(["--outputs", "1", "--signal", "noise", "--connect", "meltap:in_.*", "--duration", "60"])
        _ = source
        let jack = try openClockClient(session)
        defer { jack_client_close(jack) }

        // One subscriber alone.
        let first = try ThreadSubscriber(socket: socket, jack: jack)
        usleep(1_000_000)
        first.measure(true)
        usleep(4_000_000)
        first.measure(false)
        let alone = first.latencyMilliseconds, aloneCapture = first.captureLatencyMilliseconds

        // 62 more Swift subscribers and one Python subscriber: 64.
        var others: [ThreadSubscriber] = []
        for _ in 0..<62 { others.append(try ThreadSubscriber(socket: socket, jack: jack)) }
        let python = try session.launch(try pythonExecutable(), [packageRoot.appendingPathComponent("Examples/meltap_subscriber.py").path,
                                                           socket], label: "python")
        usleep(1_000_000)
        let swift = [first] + others
        for subscriber in swift { subscriber.measure(true) }
        usleep(4_000_000)
        for subscriber in swift { subscriber.measure(false) }
        let crowded = swift.flatMap(\.latencyMilliseconds), crowdedCapture = swift.flatMap(\.captureLatencyMilliseconds)

        kill(python.pid, SIGSTOP)
        usleep(10_000_000)
        kill(python.pid, SIGCONT)
        usleep(3_000_000)
        #expect(meltap.stop(signal: SIGINT) == 0, "meltap: \(meltap.errors)")
        for subscriber in swift { #expect(subscriber.join(timeout: 20)) }
        #expect(python.waitForExit(timeout: 20), "the Python subscriber did not see the stream end")

        for (index, subscriber) in swift.enumerated() {
            let frames = subscriber.frames
            #expect(frames.count > 500, "subscriber \(index): only \(frames.count) frames")
            #expect(sequencesAreContiguous(frames), "subscriber \(index) missed frames")
            #expect(subscriber.failure == nil, "subscriber \(index): \(subscriber.failure ?? "")")
        }
        // "channel sequence time flags …": the frame after each jump carries the gap flag.
        let received = python.output.split(separator: "\n").compactMap { line -> (sequence: UInt64, flags: FrameFlags)? in
            let fields = line.split(separator: " ", maxSplits: 4)
            guard fields.count > 3, let sequence = UInt64(fields[1]), let flags = UInt32(fields[3]) else { return nil }
            return (sequence, FrameFlags(rawValue: flags))
        }
        let sequences = received.map(\.sequence)
        let jumps = zip(sequences, sequences.dropFirst()).filter { $1 != $0 + 1 }
        #expect(!jumps.isEmpty, "the stopped subscriber saw no sequence jump in \(sequences.count) frames")
        #expect(jumps.allSatisfy { $1 > $0 }, "sequences went backwards: \(jumps.prefix(3))")
        for (index, frame) in received.enumerated().dropFirst() where frame.sequence != received[index - 1].sequence + 1 {
            #expect(frame.flags.contains(.gap), "the frame after the jump to \(frame.sequence) does not carry the gap flag")
        }
        func summary(_ values: [Double]) -> String {
            String(format: "p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d frames)", percentile(values, 0.5), percentile(values, 0.99),
                   values.max() ?? .nan, values.count)
        }
        print("latency from the cycle delivering a frame's last sample to receipt: 1 subscriber \(summary(alone)); "
              + "64 subscribers \(summary(crowded))")
        print("latency from the capture of a frame's last sample to receipt: 1 subscriber \(summary(aloneCapture)); "
              + "64 subscribers \(summary(crowdedCapture))")
        print("python subscriber: \(sequences.count) frames, jumps \(jumps.prefix(5).map { "\($0)→\($1)" })")
        #expect(!alone.isEmpty && !crowded.isEmpty)
    }
}
