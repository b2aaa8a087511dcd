import Dispatch
import Foundation
import MelJack
import MelTransport

/// Pops frames off every stream's realtime ring on its own thread and hands each to the stream's
/// sinks (publisher, frame dump …). Also measures each frame's latency: from the capture of the
/// frame's last sample (JACK's clock) to the moment it is popped here, just before the sinks see it.
///
/// One thread for all streams: the realtime thread wakes it through the first stream's ring (at
/// most one `sem_post` per callback), and it watches every ring before it sleeps.
public final class FrameConsumer: @unchecked Sendable {
    private let client: JackClient
    private let streams: [JackStream]
    private let rings: [FrameRing]
    /// Per stream, in stream order: where its frames go. Fixed at construction.
    private let sinks: [[any FrameSink]]
    /// Per stream: one frame's values, `rings[i].width` floats. Owned.
    private let values: [UnsafeMutablePointer<Float>]
    private let done = DispatchSemaphore(value: 0)
    private let stopping = ManagedFlag()
    /// Seconds the consumer sleeps at most between looks at the rings.
    private let pollInterval: Double
    /// Frames popped so far; read it after `stop()` (consumer thread before).
    public private(set) var framesConsumed = 0
    /// Frame latencies in 50 µs buckets up to 1 s (the last bucket holds the rest); consumer thread.
    private var latencyBuckets = [Int](repeating: 0, count: 20_001)
    private var latencyMaximum: UInt64 = 0

    /// - Parameters:
    ///   - sinks: per stream of `client.streams`, in order, the sinks that receive its frames.
    ///   - pollInterval: seconds between looks at the rings when nobody wakes the consumer.
    public init(client: JackClient, sinks: [[any FrameSink]], pollInterval: Double) {
        precondition(sinks.count == client.streams.count, "one list of sinks per stream")
        self.client = client
        streams = client.streams
        rings = client.rings
        self.sinks = sinks
        self.pollInterval = pollInterval
        values = rings.map { UnsafeMutablePointer<Float>.allocate(capacity: max(1, $0.width)) }
    }

    deinit { for buffer in values { buffer.deallocate() } }

    public func start() {
        let thread = Thread { [self] in
            let others = Array(rings.dropFirst())
            while true {
                let last = stopping.isSet
                for index in rings.indices { drain(index) }
                if last { break }
                rings[0].wait(timeout: pollInterval, alsoWatching: others)
            }
            for streamSinks in sinks { for sink in streamSinks { sink.finish() } }
            done.signal()
        }
        thread.name = "meltap-consumer"
        thread.start()
    }

    /// Stops after draining what the rings hold and finishing every sink. Call after the JACK
    /// client stopped.
    public func stop() {
        stopping.set()
        done.wait()
    }

    /// "frame latency (last sample captured → popped for publishing): p50 … ms, p99 …, max …, N frames".
    /// Read after `stop()`.
    public var latencyReport: String {
        Self.latencyReport(buckets: latencyBuckets, maximumMicroseconds: latencyMaximum)
    }

    /// The report for `buckets` (frames per 50 µs of latency, the last bucket open-ended) and the
    /// exact maximum. A percentile is its bucket's upper edge, capped by the maximum: the report
    /// never puts p99.9 above the largest latency measured.
    static func latencyReport(buckets: [Int], maximumMicroseconds: UInt64) -> String {
        let total = buckets.reduce(0, +)
        guard total > 0 else { return "frame latency: no frames measured" }
        let maximum = Double(maximumMicroseconds) / 1000
        func percentile(_ p: Double) -> Double {
            let target = Int((Double(total) * p).rounded(.up))
            var seen = 0
            for (index, count) in buckets.enumerated() {
                seen += count
                if seen >= max(1, target) { return min(Double(index + 1) * 0.05, maximum) }
            }
            return maximum
        }
        return "frame latency (last sample captured → popped for publishing): "
            + String(format: "p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms over %d frames",
                     percentile(0.5), percentile(0.99), percentile(0.999), maximum, total)
    }

    private func drain(_ index: Int) {
        let ring = rings[index]
        guard ring.count > 0 else { return }
        let values = self.values[index]
        let frame = UnsafeBufferPointer(start: values, count: ring.width)
        let configuration = streams[index].configuration
        // Frame times are JACK frames: the window's span in them, at the server's rate.
        let inputRate = client.inputSampleRate
        let span = Int64((Double(configuration.frameLength) * inputRate / configuration.sampleRate).rounded(.up))
        let periodMicroseconds = Int64((Double(client.blockLength) / inputRate * 1e6).rounded())
        while let metadata = ring.pop(into: values) {
            framesConsumed += 1
            // JACK dates sample f of a cycle's block at frames_to_time(f), inside the period in
            // which the block is processed; the dummy driver (like a sound card) captured it one
            // period earlier. So the frame's last sample L was captured at frames_to_time(L + 1)
            // minus one period (as LivePublishTests measures at the subscriber).
            if let times = client.captureTime(ofFrameTime: metadata.frameTime + span) {
                let captured = Int64(bitPattern: times.sample) - periodMicroseconds
                let microseconds = UInt64(max(0, Int64(bitPattern: times.now) - captured))
                latencyMaximum = max(latencyMaximum, microseconds)
                latencyBuckets[min(latencyBuckets.count - 1, Int(microseconds / 50))] += 1
            }
            for sink in sinks[index] { sink.consume(metadata: metadata, values: frame) }
        }
    }
}

/// A thread-safe one-way flag.
final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
