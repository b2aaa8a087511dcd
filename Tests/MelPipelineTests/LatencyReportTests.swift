@testable import MelPipeline
import Testing

/// `meltap run`'s frame-latency line: percentiles are bucket edges (50 µs), capped by the exact
/// maximum, so p99.9 never reads above max (issue 21, item 8).
@Suite struct LatencyReportTests {
    @Test("p99.9 never exceeds the maximum, even when the maximum lies inside its bucket")
    func percentilesAreCappedByTheMaximum() {
        var buckets = [Int](repeating: 0, count: 200)
        buckets[1] = 998  // 50–100 µs
        buckets[148] = 2  // 7400–7450 µs: the largest is 7440 µs, below the bucket's upper edge
        let report = FrameConsumer.latencyReport(buckets: buckets, maximumMicroseconds: 7440)
        #expect(report.contains("p50 0.10 ms"), "\(report)")
        #expect(report.contains("p99.9 7.44 ms, max 7.44 ms over 1000 frames"), "\(report)")
    }

    @Test("No frames: says so")
    func empty() {
        #expect(FrameConsumer.latencyReport(buckets: [0, 0], maximumMicroseconds: 0) == "frame latency: no frames measured")
    }
}
