// `meltap run --metrics ADDRESS:PORT`: the live session's counters in the Prometheus text format
// on http://ADDRESS:PORT/metrics, served by SwiftNIO's HTTP/1 server.
import MelJack
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import Synchronization

/// Serves `/metrics` for one live session until `stop()`.
///
/// Each scrape reads `LiveSession.status()` on the server's event-loop thread (atomics and
/// mutexes the JACK callback never takes), brings the swift-prometheus registry's counters and
/// gauges up to it, and writes the registry's text. The callback-duration histogram is appended
/// in the same text format by hand: its counts are filled on the realtime thread without
/// swift-prometheus (whose histograms take a lock per observation), so they are exported as the
/// cumulative counts they already are, at 4 bucket bounds per decade from 1 µs to 1 s.
public final class MetricsServer: @unchecked Sendable {
    public let host: String
    /// The port bound (the one asked for, or the kernel's choice for 0).
    public let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let channel: Channel
    private let exporter: MetricsExporter
    /// Set by the first `stop()`; relaxed: it guards nothing but itself.
    private let stopped = Atomic<Bool>(false)

    /// Binds `host:port` (port 0: any free port) and starts serving.
    /// - Throws: `PipelineError` saying what to do when the address cannot be bound.
    public init(host: String, port: Int, session: LiveSession) throws {
        let exporter = MetricsExporter(session: session)
        self.exporter = exporter
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(TextHTTPHandler { MetricsResponse.response(to: $0, exporter: exporter) })
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw PipelineError("Cannot serve metrics on \(host):\(port) (\(error)). Choose another --metrics "
                                + "ADDRESS:PORT (the port may be in use, or the address not this machine's).")
        }
        self.host = host
        self.port = channel.localAddress?.port ?? port
    }

    /// Closes the listening socket and every connection. Idempotent (a second `close().wait()`
    /// on a shut-down group would never return).
    public func stop() {
        guard stopped.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    /// The text a scrape gets now (tests and `--metrics` alike).
    public func scrape() -> String { exporter.scrape() }
}

/// The registry and the last values exported, so counters (which only go up in swift-prometheus)
/// are advanced by the difference since the previous scrape.
final class MetricsExporter: @unchecked Sendable {
    private let session: UncheckedLiveSession
    private let registry = PrometheusCollectorRegistry()
    /// Counters' last exported totals, by metric name and labels. Scrapes run on one event loop,
    /// but a mutex keeps `scrape()` callable from anywhere.
    private let last = Mutex<[String: UInt64]>([:])

    init(session: LiveSession) { self.session = UncheckedLiveSession(session: session) }

    func scrape() -> String {
        let status = session.session.status()
        return last.withLock { last in
            func counter(_ name: String, _ help: String, _ labels: [(String, String)], _ total: UInt64) {
                let key = name + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
                let previous = last[key] ?? 0
                let counter = registry.makeCounter(name: name, labels: labels, help: help)
                if total > previous { counter.increment(by: Int64(total - previous)) }
                last[key] = max(previous, total)
            }
            func gauge(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
                registry.makeGauge(name: name, labels: labels, help: help).set(value)
            }
            let client = [("client", status.client)]
            gauge("meltap_uptime_seconds", "Seconds since meltap run started its live session.", client, status.uptimeSeconds)
            gauge("meltap_input_sample_rate_hertz", "The JACK server's sample rate.", client, status.inputSampleRate)
            gauge("meltap_period_seconds", "The JACK period (block length / sample rate).", client,
                  status.callbacks.periodMicroseconds / 1e6)
            counter("meltap_xruns_total", "Xruns JACK reported.", client, status.xruns)
            counter("meltap_server_restarts_total", "JACK server restarts meltap survived.", client, status.restarts)
            counter("meltap_discontinuities_total", "JACK blocks that did not follow the previous block.", client,
                    status.discontinuities)
            counter("meltap_callbacks_total", "JACK process callbacks run.", client, status.callbacks.count)
            gauge("meltap_cpu_share", "CPU time of the meltap process over wall time since start (1 = one core).", client,
                  status.cpu.shareOfOneCore)
            for stream in status.streams {
                let name = stream.name.isEmpty ? "default" : stream.name
                let labels = client + [("stream", name)]
                gauge("meltap_stream_info", "One per stream; its labels describe it (value always 1).",
                      labels + [("preset", stream.preset), ("sample_rate", String(Int(stream.sampleRate))),
                                ("resampler", stream.resampler), ("hop_length", String(stream.hopLength)),
                                ("frame_width", String(stream.frameWidth))], 1)
                counter("meltap_frames_total", "Frames computed (pushed into the realtime ring), all channels.", labels,
                        stream.frames)
                counter("meltap_dropped_frames_total", "Frames dropped because the realtime ring was full.", labels,
                        stream.drops)
                gauge("meltap_subscribers", "Subscribers connected to the stream's socket.", labels, Double(stream.subscribers))
                counter("meltap_subscriber_dropped_frames_total", "Frames not delivered to some subscriber.", labels,
                        stream.subscriberDrops)
                for channel in stream.channels {
                    let channelLabels = labels + [("channel", String(channel.channel))]
                    counter("meltap_channel_frames_total", "Frames handed out for the channel.", channelLabels, channel.frames)
                    gauge("meltap_channel_frame_rate", "Frames per second for the channel over the last full second.",
                          channelLabels, channel.frameRate)
                    counter("meltap_channel_gaps_total", "Jumps of the channel's frame sequence.", channelLabels, channel.gaps)
                    counter("meltap_channel_lost_frames_total", "Frames lost in the channel's gaps.", channelLabels,
                            channel.lostFrames)
                    counter("meltap_channel_xrun_frames_total", "Frames of the channel flagged xrun.", channelLabels,
                            channel.xrunFrames)
                    counter("meltap_channel_discontinuity_frames_total", "Frames of the channel flagged discontinuity.",
                            channelLabels, channel.discontinuityFrames)
                }
            }
            var text = registry.emitToString()
            text += Self.histogramText(status)
            return text
        }
    }

    /// `meltap_callback_duration_seconds` as a Prometheus histogram: the cumulative counts at
    /// 1 µs … 1 s (4 bounds a decade, each an exact bound of meltap's 20-a-decade histogram).
    static func histogramText(_ status: LiveStatus) -> String {
        let name = "meltap_callback_duration_seconds"
        let client = "client=\"\(escape(status.client))\""
        var text = "# HELP \(name) Durations of the JACK process callback.\n# TYPE \(name) histogram\n"
        let buckets = status.callbacks.buckets
        // Bucket i of the realtime histogram ends at 100 ns × 10^(i/20): 1 µs is i = 20, 1 s is i = 140.
        for index in stride(from: 20, through: 140, by: 5) where index < buckets.count - 1 {
            let bound = buckets[index].upperBoundSeconds ?? .infinity
            text += "\(name)_bucket{\(client),le=\"\(bound)\"} \(buckets[index].cumulativeCount)\n"
        }
        let total = buckets.last?.cumulativeCount ?? 0
        text += "\(name)_bucket{\(client),le=\"+Inf\"} \(total)\n"
        text += "\(name)_sum{\(client)} \(status.callbacks.sumSeconds)\n"
        text += "\(name)_count{\(client)} \(total)\n"
        return text
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// Hands the session to the metrics event loop, which only calls `status()` on it.
struct UncheckedLiveSession: @unchecked Sendable {
    let session: LiveSession
}

/// GET /metrics → 200 with the text; anything else → 404 or 405 (served by `TextHTTPHandler`).
enum MetricsResponse {
    static func response(to head: HTTPRequestHead, exporter: MetricsExporter) -> TextHTTPResponse {
        let text = "text/plain; charset=utf-8"
        if head.method != .GET && head.method != .HEAD {
            return TextHTTPResponse(status: .methodNotAllowed, body: "meltap serves GET /metrics only.\n", contentType: text)
        } else if head.uri == "/metrics" || head.uri.hasPrefix("/metrics?") {
            return TextHTTPResponse(status: .ok, body: exporter.scrape(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        return TextHTTPResponse(status: .notFound, body: "Not found: meltap serves its metrics at /metrics.\n", contentType: text)
    }
}
