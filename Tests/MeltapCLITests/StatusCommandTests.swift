// `meltap status` against a live instance: a private dummy jackd, `meltap run` with two streams
// on two inputs fed by meltap-testsource, one Swift subscriber on one stream; the status must
// describe exactly that, and the subscriber must keep receiving frames while status is asked.
import Foundation
import Glibc
import MeltapClient
import Testing
import MeltapTestSupport

@Suite(.serialized) struct StatusCommandTests {
    /// Runs the built meltap with the session's JACK environment.
    static func meltap(_ session: JackSession, _ arguments: [String]) throws -> FileCommandTests.Run {
        try FileCommandTests.meltap(arguments, environment: ["JACK_DEFAULT_SERVER": session.serverName])
    }

    @Test func statusDescribesTheRunningInstance() throws {
        let session = try JackSession()
        defer { session.finish() }
        let meltap = try session.launch(try releaseBinary("meltap"), [
            "run", "--name", "stat", "--inputs", "2", "--socket-dir", session.directory,
            "--stream", "kws=whisper@16000", "--stream", "viz=librosa"], label: "meltap")
        guard eventually(timeout: 30, { meltap.output.contains("meltap: client") || !meltap.process.isRunning }),
              meltap.process.isRunning else {
            throw HarnessError("meltap run did not start: \(meltap.errors)\(meltap.output)")
        }
        _ = try session.startSource(["--outputs", "2", "--connect", "^stat:in_", "--signal", "noise"])
        let kws = session.path("stat.kws.sock"), viz = session.path("stat.viz.sock")
        let subscriber = try ThreadSubscriber(socket: viz)
        // Two seconds of frames, so every channel has a rate over a full second.
        #expect(eventually(timeout: 20) { subscriber.count >= 2 * 2 * 94 }, "the subscriber got \(subscriber.count) frames")
        let before = subscriber.count

        let result = try Self.meltap(session, ["status", "--socket", kws, "--json"])
        try #require(result.status == 0, "meltap status failed: \(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
                                  "not a JSON object: \(result.stdout)")
        #expect(object["version"] as? Int == 1)
        #expect(object["pid"] as? Int == Int(meltap.pid))
        #expect(object["client"] as? String == "stat")
        #expect((object["uptimeSeconds"] as? Double ?? 0) > 1)
        #expect(object["inputSampleRate"] as? Double == 48000 && object["blockLength"] as? Int == 256)
        let cpu = try #require(object["cpu"] as? [String: Any])
        #expect((cpu["shareOfOneCore"] as? Double ?? 0) > 0, "\(cpu)")
        let callbacks = try #require(object["callbacks"] as? [String: Any])
        let count = callbacks["count"] as? Int ?? 0
        #expect(count > 300, "\(count) callbacks in over 2 s of 5.3 ms periods")
        let p50 = callbacks["p50Microseconds"] as? Double ?? -1, p99 = callbacks["p99Microseconds"] as? Double ?? -1
        let p999 = callbacks["p999Microseconds"] as? Double ?? -1, maximum = callbacks["maximumMicroseconds"] as? Double ?? -1
        #expect(0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= maximum, "\(callbacks)")
        let period = callbacks["periodMicroseconds"] as? Double ?? 0
        #expect(abs(period - 256 / 48000 * 1e6) < 0.01)
        #expect(abs((callbacks["p99Share"] as? Double ?? -1) - p99 / period) < 1e-9)
        let buckets = try #require(callbacks["buckets"] as? [[String: Any]])
        #expect(buckets.last?["cumulativeCount"] as? Int ?? -1 >= count, "the histogram's total is below the count")

        let streams = try #require(object["streams"] as? [[String: Any]])
        #expect(streams.map { $0["name"] as? String } == ["kws", "viz"])
        let expected: [(preset: String, rate: Double, hop: Int, width: Int, resampler: String, subscribers: Int, socket: String)] = [
            ("whisper", 16000, 160, 80, "zita", 0, kws), ("librosa", 48000, 512, 128, "none", 1, viz)]
        for (stream, want) in zip(streams, expected) {
            #expect(stream["preset"] as? String == want.preset)
            #expect(stream["sampleRate"] as? Double == want.rate)
            #expect(stream["hopLength"] as? Int == want.hop && stream["frameWidth"] as? Int == want.width)
            #expect(stream["resampler"] as? String == want.resampler)
            #expect(stream["socket"] as? String == want.socket)
            // The status query itself is not counted as a subscriber.
            #expect(stream["subscribers"] as? Int == want.subscribers, "\(stream)")
            let channels = try #require(stream["channels"] as? [[String: Any]])
            #expect(channels.map { $0["port"] as? String } == ["stat:in_1", "stat:in_2"])
            let nominal = want.rate / Double(want.hop)
            for channel in channels {
                let rate = channel["frameRate"] as? Double ?? 0
                // The rate of the last full second: a loaded machine misses cycles, none adds any.
                #expect(rate > 0.5 * nominal && rate < 1.1 * nominal, "\(want.preset): \(rate) frames/s against \(nominal)")
                #expect((channel["frames"] as? Int ?? 0) > 0)
                #expect(channel["lostFrames"] as? Int == 0 && channel["gaps"] as? Int == 0, "\(channel)")
            }
            let frames = channels.reduce(0) { $0 + ($1["frames"] as? Int ?? 0) }
            #expect((stream["frames"] as? Int ?? 0) >= frames, "the ring pushed fewer frames than the consumer popped")
        }
        // The subscriber on viz kept receiving frames while its socket answered a status query.
        #expect(eventually(timeout: 5) { subscriber.count > before + 50 })

        // --all finds the instance once through its two sockets; the text names what was checked.
        let text = try Self.meltap(session, ["status", "--all", "--socket-dir", session.directory])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.components(separatedBy: "pid \(meltap.pid), client stat").count == 2, "\(text.stdout)")
        for line in ["stream kws: whisper at 16000 Hz, resampled with zita, hop 160, 80 values per frame",
                     "stream viz: librosa at 48000 Hz, hop 512, 128 values per frame", "subscribers 1,",
                     "stat:in_2: ", "callbacks ", "of the period", "of one core"] {
            #expect(text.stdout.contains(line), "missing \(line) in:\n\(text.stdout)")
        }
        #expect(meltap.stop(signal: SIGTERM, timeout: 10) == 0, "meltap run did not stop cleanly: \(meltap.errors)")
        #expect(meltap.output.contains("meltap: stopped."), "\(meltap.output)")
    }

    @Test func noInstanceIsAnErrorThatSaysWhere() throws {
        let dir = try FileCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = try FileCommandTests.meltap(["status", "--socket", dir.appendingPathComponent("none.sock").path])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("none.sock"), "\(missing.stderr)")
        let empty = try FileCommandTests.meltap(["status", "--all", "--socket-dir", dir.path])
        #expect(empty.status != 0 && empty.stderr.contains("No meltap sockets in \(dir.path)"), "\(empty.stderr)")
    }
}
