// `meltap status`'s side of the status message: asking an instance over its socket, and the
// status as lines of text.

import Foundation
import MeltapClient

extension LiveStatus {
    /// Connects to the `meltap run` serving `socketPath`, asks for its status (a status message of
    /// the wire format, docs/wire-format.md) and decodes it; waits at most `timeout` seconds.
    /// - Throws: the client's connection error, or `PipelineError` when the answer is no status
    ///   document this version reads.
    public static func request(socketPath path: String, timeout: Double) throws -> LiveStatus {
        let json = try MeltapSubscriber.requestStatus(socketPath: path, timeout: .milliseconds(Int(timeout * 1000)))
        do {
            return try decode(json)
        } catch {
            throw PipelineError("the status from \(path) is not a meltap status document (\(error)); "
                                + "is the instance a newer meltap? Try `meltap status --json` of the same version.")
        }
    }

    /// The status as `meltap status` prints it: the instance, its callbacks, then per stream its
    /// rate, counters and channels. Durations in µs and as shares of the period.
    public var text: String {
        func f(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }
        func percent(_ share: Double) -> String { f(share * 100, 2) + " %" }
        let c = callbacks
        var lines = [
            "meltap \(meltapVersion) pid \(pid), client \(client), up \(f(uptimeSeconds)) s; JACK at "
                + "\(Int(inputSampleRate)) Hz, period \(blockLength) samples (\(f(c.periodMicroseconds / 1000, 2)) ms)",
            "  xruns \(xruns), server restarts \(restarts), discontinuities \(discontinuities); CPU "
                + "\(percent(cpu.shareOfOneCore)) of one core (\(f(cpu.userSeconds, 2)) s user, "
                + "\(f(cpu.systemSeconds, 2)) s system)",
            "  callbacks \(c.count): p50 \(f(c.p50Microseconds)) µs (\(percent(c.p50Share)) of the period), "
                + "p99 \(f(c.p99Microseconds)) µs (\(percent(c.p99Share))), p99.9 \(f(c.p999Microseconds)) µs "
                + "(\(percent(c.p999Share))), max \(f(c.maximumMicroseconds)) µs (\(percent(c.maximumShare)))",
        ]
        for stream in streams {
            let resampled = stream.resampler == "none" ? "" : ", resampled with \(stream.resampler)"
            lines.append("  stream \(stream.name.isEmpty ? "(single)" : stream.name): \(stream.preset) at "
                         + "\(Int(stream.sampleRate)) Hz\(resampled), hop \(stream.hopLength), \(stream.frameWidth) values per frame; "
                         + "socket \(stream.socket)")
            lines.append("    frames \(stream.frames), dropped \(stream.drops), subscribers \(stream.subscribers), "
                         + "subscriber drops \(stream.subscriberDrops)")
            for channel in stream.channels {
                let wiring = channel.sources.map { $0.isEmpty ? "not connected; " : "connected to \($0.joined(separator: ", ")); " } ?? ""
                lines.append("    \(channel.port): \(wiring)\(f(channel.frameRate, 2)) frames/s, \(channel.frames) frames, "
                             + "gaps \(channel.gaps) (\(channel.lostFrames) frames lost), xrun frames \(channel.xrunFrames), "
                             + "discontinuity frames \(channel.discontinuityFrames)")
            }
        }
        return lines.joined(separator: "\n")
    }
}
