import Foundation
import Testing
@testable import MelFiles

/// The one sidecar schema: round trips, the two older shapes read from their literal JSON, and
/// one test per malformed document, each asserting the message names the key.
@Suite struct FeatureSidecarTests {
    static let configuration: JSONValue = .object([
        "preset": .string("micro"), "sampleRate": .number(16000), "hopLength": .number(320),
        "fftLength": .number(512), "output": .string("micro"), "outputScale": .number(0.0390625),
        "inputScale": .number(Double(Float(0.97))), "topDB": .null,
    ])

    static func fileSidecar() -> FeatureSidecar {
        FeatureSidecar(
            kind: .file, meltapVersion: "0.1.0", rowShape: [2, 40], rows: 148, sampleRate: 16000,
            inputSampleRate: 44100,
            resampler: .init(name: "sinc-medium", library: "libsamplerate-0.2.2", lookaheadInputSamples: 55),
            frameRate: 50, firstSampleOfFrame0: -256, clamp: "global",
            channels: [.init(channel: 1), .init(channel: 2)], configuration: configuration,
            file: .init(path: "/data/take.wav", format: "WAV (Microsoft), Signed 16 bit PCM", channelCount: 2,
                        sampleFrames: 132_300))
    }

    static func recordingSidecar() -> FeatureSidecar {
        var recording = FeatureSidecar.Recording()
        recording.start = .init(jackFrameTime: 1_234_567, sequence: 11, wallClock: "2025-01-31T12:00:00.123Z")
        recording.end = .init(framesReceived: 37, wallClock: "2025-01-31T12:00:01.000Z", reason: "stream ended")
        recording.gaps = [.init(channel: 2, fromSequence: 21, toSequence: 23, flags: 1, atRow: 10)]
        FeatureSidecar.Recording.extend(&recording.xruns, channel: 1, row: 3, sequence: 14)
        FeatureSidecar.Recording.extend(&recording.xruns, channel: 1, row: 4, sequence: 15)
        FeatureSidecar.Recording.extend(&recording.discontinuities, channel: 2, row: 7, sequence: 18)
        recording.reconfigurations = [.init(sampleRate: 16000, frameRate: 50, atRow: 12)]
        return FeatureSidecar(
            kind: .recording, meltapVersion: "0.1.0", rowShape: [2, 40], rows: 24, sampleRate: 16000,
            inputSampleRate: 48000, resampler: .init(name: "sinc-best"), frameRate: 50, firstSampleOfFrame0: nil,
            clamp: "running",
            channels: [.init(channel: 1, port: "in_1", source: "system:capture_1"), .init(channel: 3, port: "in_3")],
            configuration: configuration,
            stream: .init(socket: "/run/user/0/meltap/meltap.sock", latencySamples: 1100, channelCount: 4),
            recording: recording)
    }

    /// Decodes `json`, expecting a `SidecarReadError`; returns it.
    static func readError(_ json: String) -> SidecarReadError? {
        do {
            let sidecar = try FeatureSidecar.decode(Array(json.utf8))
            Issue.record("decoded a malformed sidecar: \(sidecar)")
            return nil
        } catch let error as SidecarReadError {
            return error
        } catch {
            Issue.record("threw \(type(of: error)), not SidecarReadError: \(error)")
            return nil
        }
    }

    /// The JSON text of `sidecar` as the writer writes it, as a mutable object.
    static func object(_ sidecar: FeatureSidecar) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(sidecar)) as! [String: Any]
    }

    static func text(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    // MARK: Round trips

    @Test("A file sidecar and a recording sidecar are written and read back unchanged", arguments: [0, 1])
    func roundTrip(which: Int) throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let sidecar = which == 0 ? Self.fileSidecar() : Self.recordingSidecar()
        let path = directory + "/take.json"
        try sidecar.write(to: path)
        let read = try FeatureSidecar.read(path: path)
        #expect(read == sidecar)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains("\"schema\" : \"meltap.features/2\""), "\(text)")
        #expect(read.shape == [sidecar.rows!] + sidecar.rowShape)
        #expect(read.outputScale == 0.0390625 && read.preset == "micro")
        #expect(read.configuration["topDB"] == .null && read.configuration["inputScale"]?.doubleValue == Double(Float(0.97)))
        // Absent optionals are absent keys, not nulls.
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        if which == 0 {
            #expect(object["recording"] == nil && object["stream"] == nil)
        } else {
            #expect(object["firstSampleOfFrame0"] == nil && object["file"] == nil)
            #expect((object["resampler"] as? [String: Any])?.keys.sorted() == ["name"])
            #expect(((object["channels"] as? [[String: Any]])?[1])?["source"] == nil)
        }
        // A recording rewrites its own sidecar.
        var later = sidecar
        later.rows = 1
        try later.write(to: path, existing: .replace)
        #expect(try FeatureSidecar.read(path: path).rows == 1)
    }

    /// The spliced configuration text (`write(to:existing:cache:)`) gives the bytes of a whole
    /// encoding: on the first file (checked), on later ones (spliced), with a nested object, an
    /// array and another file's fields; a sidecar of another configuration is encoded whole; a
    /// configuration the splice cannot reproduce is encoded whole.
    @Test func cachedConfigurationTextWritesTheSameBytes() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        var configuration = FeatureSidecarTests.configuration.objectValue ?? [:]
        configuration["pcen"] = .object(["gain": .number(0.98), "bias": .number(2), "eps": .number(1e-6)])
        configuration["fmax"] = .array([.number(1), .null])
        let cache = FeatureSidecar.ConfigurationText(configuration: .object(configuration))
        var sidecar = FeatureSidecarTests.fileSidecar()
        sidecar.configuration = .object(configuration)
        var other = sidecar
        other.configuration = FeatureSidecarTests.configuration
        for (k, rows) in [148, 3, 1_000_000].enumerated() {
            for value in [sidecar, other] {
                var value = value
                value.rows = rows
                value.file?.path = "/data/take\(k) \"quoted\"/x.wav"
                let whole = directory + "/whole.json", cached = directory + "/cached.json"
                try value.write(to: whole, existing: .replace)
                try value.write(to: cached, existing: .replace, cache: cache)
                let a = try Data(contentsOf: URL(fileURLWithPath: whole))
                let b = try Data(contentsOf: URL(fileURLWithPath: cached))
                #expect(a == b, "file \(k): \(String(decoding: b, as: UTF8.self))")
            }
            #expect(cache.isSplicing, "the check on the first sidecar failed: every sidecar is encoded whole")
        }
        // An empty array pretty-prints differently nested (its blank line is not indented), so the
        // check turns splicing off there; the bytes stay those of a whole encoding either way.
        configuration["fmax"] = .array([])
        let emptyArrayCache = FeatureSidecar.ConfigurationText(configuration: .object(configuration))
        sidecar.configuration = .object(configuration)
        for rows in [1, 2] {
            sidecar.rows = rows
            try sidecar.write(to: directory + "/whole.json", existing: .replace)
            try sidecar.write(to: directory + "/cached.json", existing: .replace, cache: emptyArrayCache)
            #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/whole.json"))
                    == Data(contentsOf: URL(fileURLWithPath: directory + "/cached.json")))
        }
    }

    @Test func extendJoinsConsecutiveRowsOfAChannel() {
        var ranges: [FeatureSidecar.Recording.FlaggedRows] = []
        FeatureSidecar.Recording.extend(&ranges, channel: 1, row: 0, sequence: 5)
        FeatureSidecar.Recording.extend(&ranges, channel: 2, row: 0, sequence: 5)
        FeatureSidecar.Recording.extend(&ranges, channel: 1, row: 1, sequence: 6)
        FeatureSidecar.Recording.extend(&ranges, channel: 1, row: 2, sequence: 9)  // a gap: new range
        #expect(ranges == [.init(channel: 1, fromRow: 0, toRow: 2, fromSequence: 5, toSequence: 7),
                           .init(channel: 2, fromRow: 0, toRow: 1, fromSequence: 5, toSequence: 6),
                           .init(channel: 1, fromRow: 2, toRow: 3, fromSequence: 9, toSequence: 10)])
    }

    // MARK: The older shapes

    /// What `meltap file` wrote before the schema had a version (FeatureFileSidecar), resampled.
    static let legacyFile = """
        {
          "channels" : "mono-average",
          "clamp" : "global",
          "configuration" : { "fftLength" : 400, "hopLength" : 160, "preset" : "whisper", "sampleRate" : 16000 },
          "dtype" : "float32",
          "firstSampleOfFrame0" : -200,
          "frameRate" : 100,
          "layout" : "(frames, bands)",
          "meltapVersion" : "0.1.0",
          "preset" : "whisper",
          "resampler" : { "library" : "libsamplerate-0.2.2", "lookaheadInputSamples" : 55, "name" : "sinc-medium" },
          "sampleRate" : 16000,
          "shape" : [ 31, 80 ],
          "source" : {
            "channelCount" : 2,
            "format" : "WAV (Microsoft), Signed 16 bit PCM",
            "path" : "/tmp/s.wav",
            "sampleFrames" : 4410,
            "sampleRate" : 44100
          }
        }
        """

    @Test func readsTheOldFileShape() throws {
        let sidecar = try FeatureSidecar.decode(Array(Self.legacyFile.utf8))
        #expect(sidecar.schema == FeatureSidecar.currentSchema && sidecar.kind == .file)
        #expect(sidecar.meltapVersion == "0.1.0" && sidecar.preset == "whisper")
        #expect(sidecar.rows == 31 && sidecar.rowShape == [80] && sidecar.layout == "(frames, bands)")
        #expect(sidecar.sampleRate == 16000 && sidecar.inputSampleRate == 44100 && sidecar.frameRate == 100)
        #expect(sidecar.resampler == .init(name: "sinc-medium", library: "libsamplerate-0.2.2", lookaheadInputSamples: 55))
        #expect(sidecar.firstSampleOfFrame0 == -200 && sidecar.clamp == "global")
        #expect(sidecar.channels == [.init(averageOf: [1, 2])])
        #expect(sidecar.file == .init(path: "/tmp/s.wav", format: "WAV (Microsoft), Signed 16 bit PCM",
                                      channelCount: 2, sampleFrames: 4410))
        #expect(sidecar.configuration["hopLength"]?.doubleValue == 160)
        #expect(sidecar.stream == nil && sidecar.recording == nil)

        // Before --sample-rate: no source.sampleRate and no resampler; `all` and a channel number.
        var old = try JSONSerialization.jsonObject(with: Data(Self.legacyFile.utf8)) as! [String: Any]
        var source = old["source"] as! [String: Any]
        source["sampleRate"] = nil
        old["source"] = source
        old["resampler"] = nil
        old["channels"] = "all"
        old["shape"] = [31, 2, 80]
        old["layout"] = "(frames, channels, bands)"
        let all = try FeatureSidecar.decode(Array(try Self.text(old).utf8))
        #expect(all.inputSampleRate == 16000 && all.resampler == nil)
        #expect(all.channels == [.init(channel: 1), .init(channel: 2)] && all.rowShape == [2, 80])
        old["channels"] = "2"
        old["shape"] = [31, 80]
        old["layout"] = "(frames, bands)"
        #expect(try FeatureSidecar.decode(Array(try Self.text(old).utf8)).channels == [.init(channel: 2)])
    }

    /// What `meltap record` wrote before the schema had a version (RecordingSidecar).
    static let legacyRecording = """
        {
          "bandCount" : 40,
          "channels" : [
            { "channel" : 1, "port" : "in_1", "source" : "" },
            { "channel" : 2, "port" : "in_2", "source" : "system:capture_2" }
          ],
          "clampRule" : "running",
          "configuration" : { "fftLength" : 512, "hopLength" : 320, "inputSampleRate" : 48000, "preset" : "micro",
                              "resampler" : "sinc-best", "sampleRate" : 16000 },
          "discontinuities" : [ { "channel" : 2, "fromRow" : 7, "fromSequence" : 18, "toRow" : 8, "toSequence" : 19 } ],
          "dtype" : "float32",
          "end" : { "framesReceived" : 37, "reason" : "stream ended", "rows" : 15, "wallClock" : "2025-01-31T12:00:01.000Z" },
          "fftLength" : 512,
          "frameRate" : 50,
          "gaps" : [ { "atRow" : 10, "channel" : 1, "flags" : 1, "fromSequence" : 21, "toSequence" : 23 } ],
          "hopLength" : 320,
          "kind" : "meltap-recording",
          "latencySamples" : 1100,
          "layout" : "(frames, channels, bands)",
          "reconfigurations" : [ { "atRow" : 12, "frameRate" : 50, "sampleRate" : 16000 } ],
          "sampleRate" : 16000,
          "socket" : "/run/user/0/meltap/meltap.sock",
          "start" : { "jackFrameTime" : 1234567, "sequence" : 11, "wallClock" : "2025-01-31T12:00:00.123Z" },
          "trailingShape" : [ 2, 40 ],
          "xruns" : [ { "channel" : 1, "fromRow" : 3, "fromSequence" : 14, "toRow" : 5, "toSequence" : 16 } ]
        }
        """

    @Test func readsTheOldRecordingShape() throws {
        let sidecar = try FeatureSidecar.decode(Array(Self.legacyRecording.utf8))
        #expect(sidecar.kind == .recording && sidecar.meltapVersion == nil)
        #expect(sidecar.rows == 15 && sidecar.rowShape == [2, 40] && sidecar.layout == "(frames, channels, bands)")
        #expect(sidecar.sampleRate == 16000 && sidecar.inputSampleRate == 48000 && sidecar.frameRate == 50)
        #expect(sidecar.resampler == .init(name: "sinc-best") && sidecar.clamp == "running")
        #expect(sidecar.firstSampleOfFrame0 == nil)
        #expect(sidecar.channels == [.init(channel: 1, port: "in_1"),
                                     .init(channel: 2, port: "in_2", source: "system:capture_2")])
        #expect(sidecar.stream == .init(socket: "/run/user/0/meltap/meltap.sock", latencySamples: 1100))
        // The header's two extra keys leave the configuration: it is held as file sidecars hold it.
        #expect(sidecar.configuration["inputSampleRate"] == nil && sidecar.configuration["resampler"] == nil)
        #expect(sidecar.configuration["hopLength"]?.doubleValue == 320 && sidecar.preset == "micro")
        let recording = try #require(sidecar.recording)
        #expect(recording.start == .init(jackFrameTime: 1_234_567, sequence: 11, wallClock: "2025-01-31T12:00:00.123Z"))
        #expect(recording.end == .init(framesReceived: 37, wallClock: "2025-01-31T12:00:01.000Z", reason: "stream ended"))
        #expect(recording.gaps == [.init(channel: 1, fromSequence: 21, toSequence: 23, flags: 1, atRow: 10)])
        #expect(recording.xruns == [.init(channel: 1, fromRow: 3, toRow: 5, fromSequence: 14, toSequence: 16)])
        #expect(recording.discontinuities == [.init(channel: 2, fromRow: 7, toRow: 8, fromSequence: 18, toSequence: 19)])
        #expect(recording.reconfigurations == [.init(sampleRate: 16000, frameRate: 50, atRow: 12)])

        // A recording killed before it ended (no `end`, no `start`), from a server without --sample-rate.
        var old = try JSONSerialization.jsonObject(with: Data(Self.legacyRecording.utf8)) as! [String: Any]
        old["end"] = nil
        old["start"] = nil
        var configuration = old["configuration"] as! [String: Any]
        configuration["inputSampleRate"] = nil
        configuration["resampler"] = nil
        old["configuration"] = configuration
        let killed = try FeatureSidecar.decode(Array(try Self.text(old).utf8))
        #expect(killed.rows == nil && killed.recording?.end == nil && killed.recording?.start == nil)
        #expect(killed.inputSampleRate == 16000 && killed.resampler == nil)
    }

    // MARK: Malformed documents: each message names the key

    @Test func aMissingNestedKeyIsNamed() throws {
        var object = try Self.object(Self.recordingSidecar())
        var recording = object["recording"] as! [String: Any]
        var gaps = recording["gaps"] as! [[String: Any]]
        gaps[0]["toSequence"] = nil
        recording["gaps"] = gaps
        object["recording"] = recording
        let error = Self.readError(try Self.text(object))
        #expect(error?.key == "recording.gaps[0].toSequence", "\(String(describing: error))")
        #expect(error?.description.contains("key `recording.gaps[0].toSequence` is missing") == true, "\(String(describing: error))")
    }

    @Test func aWrongTypeIsNamed() throws {
        var object = try Self.object(Self.fileSidecar())
        object["sampleRate"] = "16 kHz"
        let error = Self.readError(try Self.text(object))
        #expect(error?.key == "sampleRate" && error?.message.contains("expected a number") == true, "\(String(describing: error))")

        object = try Self.object(Self.fileSidecar())
        object["kind"] = "stream"
        let kind = Self.readError(try Self.text(object))
        #expect(kind?.key == "kind", "\(String(describing: kind))")
    }

    @Test func anotherSchemaVersionIsRefusedWithAdvice() throws {
        var object = try Self.object(Self.fileSidecar())
        object["schema"] = "meltap.features/3"
        let error = Self.readError(try Self.text(object))
        #expect(error?.key == "schema" && error?.message.contains("meltap version that wrote it") == true,
                "\(String(describing: error))")
        object["schema"] = 2
        #expect(Self.readError(try Self.text(object))?.key == "schema")
    }

    @Test func inconsistentKeysAreNamed() throws {
        var object = try Self.object(Self.fileSidecar())
        object["channels"] = [["channel": 1]]
        let channels = Self.readError(try Self.text(object))
        #expect(channels?.key == "channels" && channels?.message.contains("rowShape [2, 40]") == true,
                "\(String(describing: channels))")

        object = try Self.object(Self.fileSidecar())
        object["channels"] = [["channel": 1], ["channel": 3]]  // the file has 2
        #expect(Self.readError(try Self.text(object))?.key == "channels[1]")

        object = try Self.object(Self.fileSidecar())
        object["channels"] = [["channel": 1], ["channel": 2, "averageOf": [1, 2]]]
        #expect(Self.readError(try Self.text(object))?.key == "channels[1]")

        object = try Self.object(Self.fileSidecar())
        object["layout"] = "(frames, bands)"
        #expect(Self.readError(try Self.text(object))?.key == "layout")

        object = try Self.object(Self.fileSidecar())
        object["file"] = nil
        #expect(Self.readError(try Self.text(object))?.key == "file")

        object = try Self.object(Self.recordingSidecar())
        object["recording"] = nil
        #expect(Self.readError(try Self.text(object))?.key == "recording")

        object = try Self.object(Self.fileSidecar())
        object["configuration"] = "{}"
        #expect(Self.readError(try Self.text(object))?.key == "configuration")
    }

    @Test func olderShapesNameTheirKeysToo() throws {
        var old = try JSONSerialization.jsonObject(with: Data(Self.legacyRecording.utf8)) as! [String: Any]
        old["configuration"] = "not json"  // what the old recorder kept when the header's JSON did not parse
        let configuration = Self.readError(try Self.text(old))
        #expect(configuration?.key == "configuration", "\(String(describing: configuration))")
        old = try JSONSerialization.jsonObject(with: Data(Self.legacyRecording.utf8)) as! [String: Any]
        old["socket"] = nil
        let socket = Self.readError(try Self.text(old))
        #expect(socket?.key == "socket" && socket?.message.contains("old recording shape") == true, "\(String(describing: socket))")

        var file = try JSONSerialization.jsonObject(with: Data(Self.legacyFile.utf8)) as! [String: Any]
        file["channels"] = "left"
        #expect(Self.readError(try Self.text(file))?.key == "channels")
    }

    @Test func documentsThatAreNoSidecarSaySo() {
        let notJSON = Self.readError("{\"schema\": ")
        #expect(notJSON?.key == nil && notJSON?.message.contains("not valid JSON") == true, "\(String(describing: notJSON))")
        #expect(Self.readError("[1, 2]")?.message.contains("an array at the top level") == true)
        let unknown = Self.readError("{\"sampleRate\": 16000}")
        #expect(unknown?.key == "schema" && unknown?.message.contains("is missing") == true, "\(String(describing: unknown))")
    }

    @Test func readNamesTheFile() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let missing = #expect(throws: SidecarReadError.self) { try FeatureSidecar.read(path: directory + "/none.json") }
        #expect(missing?.description.contains("none.json") == true, "\(String(describing: missing))")
        try "{\"sampleRate\": 1}".write(toFile: directory + "/bad.json", atomically: false, encoding: .utf8)
        let bad = #expect(throws: SidecarReadError.self) { try FeatureSidecar.read(path: directory + "/bad.json") }
        #expect(bad?.path == directory + "/bad.json" && bad?.key == "schema")
    }
}
