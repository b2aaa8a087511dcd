// `meltap run --metrics`: a live instance (private dummy jackd, two streams, meltap-testsource)
// scraped over HTTP on loopback twice; the body is parsed as the Prometheus text format (every
// sample of a declared family, well-formed labels and values, cumulative histogram buckets) and
// its values checked against what the instance does.
import Foundation
import Glibc
import Testing
import MelSystem
import MeltapTestSupport

/// One sample line: `name{label="value",…} value`.
struct PrometheusSample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double
}

/// A strict reader of the Prometheus text exposition format (version 0.0.4), for tests.
struct PrometheusText {
    var types: [String: String] = [:]
    var samples: [PrometheusSample] = []

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    init(_ text: String) throws {
        guard text.hasSuffix("\n") else { throw ParseError(description: "the text does not end with a newline") }
        var seen = Set<String>()
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            func fail(_ why: String) -> ParseError { ParseError(description: "line \(number + 1): \(why): \(line)") }
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(String(parts[3])) else {
                    throw fail("bad TYPE line")
                }
                guard types[String(parts[2])] == nil else { throw fail("a second TYPE for the family") }
                types[String(parts[2])] = String(parts[3])
                continue
            }
            if line.hasPrefix("#") { continue }
            guard !line.isEmpty else { throw fail("empty line") }
            // name, optional {labels}, space, value
            var rest = Substring(line)
            let nameEnd = rest.firstIndex { $0 == "{" || $0 == " " } ?? rest.endIndex
            let name = String(rest[..<nameEnd])
            guard let first = name.first, first.isLetter || first == "_" || first == ":",
                  name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") }) else {
                throw fail("bad metric name")
            }
            rest = rest[nameEnd...]
            var labels: [String: String] = [:]
            if rest.first == "{" {
                rest = rest.dropFirst()
                while rest.first != "}" {
                    guard let equals = rest.firstIndex(of: "=") else { throw fail("label without =") }
                    let key = String(rest[..<equals])
                    guard !key.isEmpty, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                        throw fail("bad label name '\(key)'")
                    }
                    rest = rest[rest.index(after: equals)...]
                    guard rest.first == "\"" else { throw fail("label value not quoted") }
                    rest = rest.dropFirst()
                    var value = ""
                    while let character = rest.first, character != "\"" {
                        rest = rest.dropFirst()
                        if character == "\\" {
                            guard let escaped = rest.first else { throw fail("dangling escape") }
                            rest = rest.dropFirst()
                            switch escaped {
                            case "n": value.append("\n")
                            case "\\", "\"": value.append(escaped)
                            default: throw fail("bad escape \\\(escaped)")
                            }
                        } else {
                            value.append(character)
                        }
                    }
                    guard rest.first == "\"" else { throw fail("unterminated label value") }
                    rest = rest.dropFirst()
                    guard labels.updateValue(value, forKey: key) == nil else { throw fail("label \(key) twice") }
                    if rest.first == "," { rest = rest.dropFirst() }
                }
                rest = rest.dropFirst()
            }
            guard rest.first == " " else { throw fail("no space before the value") }
            let valueText = rest.dropFirst().split(separator: " ")[0]
            guard let value = Double(valueText) ?? (valueText == "+Inf" ? .infinity : valueText == "-Inf" ? -.infinity : nil)
            else { throw fail("bad value '\(valueText)'") }
            // Every sample belongs to a family declared before it.
            let family = ["_bucket", "_sum", "_count", "_total"].reduce(name) { family, suffix in
                types[family] == nil && name.hasSuffix(suffix) && types[String(name.dropLast(suffix.count))] != nil
                    ? String(name.dropLast(suffix.count)) : family
            }
            guard types[family] != nil else { throw fail("sample of an undeclared family") }
            let series = name + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            guard seen.insert(series).inserted else { throw fail("the same series twice") }
            samples.append(PrometheusSample(name: name, labels: labels, value: value))
        }
    }

    func values(_ name: String, _ labels: [String: String] = [:]) -> [Double] {
        samples.filter { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }.map(\.value)
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let found = values(name, labels)
        return found.count == 1 ? found[0] : nil
    }
}

/// GET `path` from 127.0.0.1:`port` over a plain socket (HTTP/1.1, Connection: close): the status
/// code, the headers (lower-cased names) and the body.
func httpGet(port: Int, path: String) throws -> (status: Int, headers: [String: String], body: String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket failed: errno \(errno)") }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw HarnessError("cannot connect to 127.0.0.1:\(port): errno \(errno)") }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8)
    guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { throw HarnessError("send failed") }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = retryingOnInterrupt { recv(fd, &chunk, chunk.count, 0) }
        if count > 0 { response += chunk[0..<count] } else if count == 0 { break } else {
            throw HarnessError("recv failed: errno \(errno)")
        }
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { throw HarnessError("no HTTP header end in: \(text)") }
    let head = text[..<split.lowerBound].components(separatedBy: "\r\n")
    let status = Int(head[0].split(separator: " ")[1]) ?? 0
    var headers: [String: String] = [:]
    for line in head.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return (status, headers, String(text[split.upperBound...]))
}

@Suite(.serialized) struct MetricsTests {
    @Test func scrapeParsesAsPrometheusTextAndCountsTheRun() throws {
        let session = try JackSession()
        defer { session.finish() }
        let meltap = try session.launch(try releaseBinary("meltap"), [
            "run", "--name", "prom", "--inputs", "2", "--socket-dir", session.directory, "--metrics", "127.0.0.1:0",
            "--stream", "kws=whisper@16000", "--stream", "viz=librosa"], label: "meltap")
        guard eventually(timeout: 30, { meltap.output.contains("meltap: metrics on") || !meltap.process.isRunning }),
              meltap.process.isRunning else {
            throw HarnessError("meltap run did not start: \(meltap.errors)\(meltap.output)")
        }
        let url = try #require(meltap.output.split(separator: "\n").first { $0.hasPrefix("meltap: metrics on http://127.0.0.1:") })
        let port = try #require(Int(url.split(separator: ":").last?.split(separator: "/").first ?? ""), "no port in \(url)")
        _ = try session.startSource(["--outputs", "2", "--connect", "^prom:in_", "--signal", "noise"])
        let subscriber = try ThreadSubscriber(socket: session.path("prom.kws.sock"))
        #expect(eventually(timeout: 20) { subscriber.count >= 2 * 100 }, "the subscriber got \(subscriber.count) frames")

        let first = try httpGet(port: port, path: "/metrics")
        try #require(first.status == 200, "\(first)")
        #expect(first.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true, "\(first.headers)")
        let scrape = try PrometheusText(first.body)
        #expect(scrape.types["meltap_frames_total"] == "counter")
        #expect(scrape.types["meltap_subscribers"] == "gauge")
        #expect(scrape.types["meltap_callback_duration_seconds"] == "histogram")
        // Stream labels: preset, rate and resampler of each stream.
        #expect(scrape.value("meltap_stream_info", ["client": "prom", "stream": "kws", "preset": "whisper",
                                                    "sample_rate": "16000", "resampler": "zita"]) == 1)
        #expect(scrape.value("meltap_stream_info", ["stream": "viz", "preset": "librosa", "sample_rate": "48000",
                                                    "resampler": "none"]) == 1)
        #expect(scrape.value("meltap_subscribers", ["stream": "kws"]) == 1)
        #expect(scrape.value("meltap_subscribers", ["stream": "viz"]) == 0)
        for stream in ["kws", "viz"] {
            let frames = try #require(scrape.value("meltap_frames_total", ["stream": stream]))
            let perChannel = scrape.values("meltap_channel_frames_total", ["stream": stream])
            #expect(perChannel.count == 2 && perChannel.allSatisfy { $0 > 0 }, "\(stream): \(perChannel)")
            #expect(frames >= perChannel.reduce(0, +), "\(stream): ring frames \(frames) < handed out \(perChannel)")
            #expect(scrape.value("meltap_dropped_frames_total", ["stream": stream]) == 0)
            for channel in ["1", "2"] {
                #expect(scrape.value("meltap_channel_lost_frames_total", ["stream": stream, "channel": channel]) == 0)
                #expect(scrape.value("meltap_channel_xrun_frames_total", ["stream": stream, "channel": channel]) != nil)
            }
        }
        #expect(scrape.value("meltap_xruns_total") != nil && scrape.value("meltap_cpu_share").map { $0 > 0 } == true)
        #expect(scrape.value("meltap_period_seconds").map { abs($0 - 256.0 / 48000) < 1e-9 } == true)
        // The histogram: cumulative buckets with increasing bounds, ending at +Inf = _count.
        let buckets = scrape.samples.filter { $0.name == "meltap_callback_duration_seconds_bucket" }
        let bounds = buckets.map { $0.labels["le"].flatMap { $0 == "+Inf" ? Double.infinity : Double($0) } ?? .nan }
        #expect(buckets.count >= 10 && bounds.last == .infinity, "\(bounds)")
        #expect(zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 }, "bounds not increasing: \(bounds)")
        #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0.value <= $1.value }, "buckets not cumulative")
        let count = try #require(scrape.value("meltap_callback_duration_seconds_count"))
        #expect(buckets.last?.value == count && count > 100)
        let sum = try #require(scrape.value("meltap_callback_duration_seconds_sum"))
        #expect(sum > 0 && sum / count < 256.0 / 48000, "mean callback \(sum / count) s is not under one period")

        // A second scrape: counters moved on with the stream, and never back.
        usleep(1_000_000)
        let second = try PrometheusText(try httpGet(port: port, path: "/metrics").body)
        for stream in ["kws", "viz"] {
            let before = scrape.value("meltap_frames_total", ["stream": stream]) ?? 0
            let after = second.value("meltap_frames_total", ["stream": stream]) ?? 0
            #expect(after > before, "\(stream): frames_total went from \(before) to \(after)")
        }
        #expect((second.value("meltap_callback_duration_seconds_count") ?? 0) > count)

        let missing = try httpGet(port: port, path: "/other")
        #expect(missing.status == 404 && missing.body.contains("/metrics"))
        // The endpoint does not keep meltap from stopping cleanly on SIGTERM.
        #expect(meltap.stop(signal: SIGTERM, timeout: 10) == 0, "meltap run did not stop cleanly: \(meltap.errors)")
        #expect(meltap.output.contains("meltap: stopped."), "\(meltap.output)")
    }

    @Test func metricsAreOffUnlessAskedAndBadAddressesAreRefused() throws {
        let bad = try FileCommandTests.meltap(["run", "--metrics", "localhost"])
        #expect(bad.status != 0 && bad.stderr.contains("Please give --metrics as ADDRESS:PORT"), "\(bad.stderr)")
        let help = try FileCommandTests.meltap(["run", "--help"])
        #expect(help.stdout.contains("Off unless given"))
    }
}
