// The `meltap run --config` file: parsing, writing back (round trip), layering and errors that
// name the file, line and key.
import Foundation
import MelDSP
import MelPipeline
import Testing

@Suite struct RunConfigurationTests {
    static let complete = """
        # a headless box with two microphones
        [client]
        name = "array"
        inputs = 2
        connect = ["system:capture_1", "system:capture_2"]
        start-server = false
        ring-frames = 8192
        xrun-hold = 20
        consumer-poll = 2.5
        resampler = "sinc-medium"

        [sockets]
        dir = "/run/user/1000/meltap"
        mode = "660"
        max-subscribers = 8
        slow-subscriber = "disconnect"

        [metrics]
        listen = "127.0.0.1:9464"

        [[stream]]
        name = "kws"
        preset = "kaldi"
        sample-rate = 16000
        n-mels = 80
        fmax = -400
        use-energy = true

        [[stream]]
        name = "viz"
        preset = "librosa"
        output = "db"
        top-db = "none"
        """

    @Test func completeFileParses() throws {
        let c = try RunConfiguration.parse(Self.complete, file: "box.toml")
        #expect(c.clientName == "array")
        #expect(c.inputs == 2)
        #expect(c.connect == ["system:capture_1", "system:capture_2"])
        #expect(c.ringFrames == 8192)
        #expect(c.xrunHold == 20)
        #expect(c.consumerPoll == 2.5)
        #expect(c.resampler == .sincMedium)
        #expect(c.socketDirectory == "/run/user/1000/meltap")
        #expect(c.socketMode == "660")
        #expect(c.maxSubscribers == 8)
        #expect(c.slowSubscriberPolicy == .disconnect)
        #expect(c.metricsAddress == "127.0.0.1:9464")
        #expect(c.streams.map(\.name) == ["kws", "viz"])
        #expect(c.streams[0].features.preset == .kaldi)
        #expect(c.streams[0].features.sampleRate == 16000)
        #expect(c.streams[0].features.overrides.melBandCount == 80)
        #expect(c.streams[0].features.overrides.maximumFrequency == -400)
        #expect(c.streams[0].features.overrides.useEnergy == true)
        #expect(c.streams[1].features.overrides.output == .db)
        #expect(c.streams[1].features.overrides.topDB == -1)
    }

    @Test func writtenFileReadsBackEqual() throws {
        let parsed = try RunConfiguration.parse(Self.complete, file: "box.toml")
        let written = parsed.toml()
        let reread = try RunConfiguration.parse(written, file: "printed.toml")
        #expect(reread == parsed, "written:\n\(written)")
        #expect(reread.toml() == written)
        // Defaults filled in round-trip too, and so does one stream with every override.
        var single = RunConfiguration()
        single.features = .init(preset: .whisper, sampleRate: 16000)
        single.features.overrides.fftLength = 512
        single.features.overrides.hopLength = 160
        single.features.overrides.windowLength = 400
        single.features.overrides.window = .hannFloat32
        single.features.overrides.framing = .centerReflect
        single.features.overrides.minimumFrequency = 20.5
        single.features.overrides.maximumFrequency = 7999.25
        single.features.overrides.melScale = .htk
        single.features.overrides.melNorm = MelNorm.none
        single.features.overrides.power = 1
        single.features.overrides.topDB = 80
        single.features.overrides.fftPrecision = .double
        single.socket = "/tmp/odd \"name\"\\.sock"
        single.duration = 0.1 + 0.2
        let resolved = single.withDefaults()
        #expect(try RunConfiguration.parse(resolved.toml(), file: "x") == resolved, "written:\n\(resolved.toml())")
    }

    @Test func laterLayersWin() throws {
        let file = try RunConfiguration.parse("""
            [client]
            name = "fromfile"
            inputs = 2
            [sockets]
            path = "/tmp/a.sock"
            [features]
            preset = "kaldi"
            n-mels = 40
            """, file: "f.toml")
        var commandLine = RunConfiguration()
        commandLine.inputs = 4
        commandLine.socketDirectory = "/tmp/dir"
        commandLine.features.overrides.hopLength = 80
        let merged = file.overlaid(by: commandLine).withDefaults()
        #expect(merged.clientName == "fromfile")
        #expect(merged.inputs == 4)
        #expect(merged.socketDirectory == "/tmp/dir" && merged.socket == nil)
        #expect(merged.features.preset == .kaldi)
        #expect(merged.features.overrides.melBandCount == 40 && merged.features.overrides.hopLength == 80)
        #expect(merged.ringFrames == 4096 && merged.socketMode == "600" && merged.slowSubscriber == "drop")
        #expect(merged.problems().isEmpty, "\(merged.problems())")
    }

    /// One test per error: the message names the file, the line and the key, and says what to do.
    @Test(arguments: [
        ("[client]\nname = \"a\"\ninptus = 2\n", 3, "client.inptus", "Unknown key"),
        ("[client]\ninputs = \"two\"\n", 2, "client.inputs", "whole number"),
        ("[client]\ninputs = 0\n", 2, "client.inputs", "from 1 to 64"),
        ("\n\n[sockets]\nmode = \"999\"\n", 4, "sockets.mode", "octal"),
        ("[sockets]\nmode = 600\n", 2, "sockets.mode", "string"),
        ("[sockets]\nmode = \"400\"\n", 2, "sockets.mode", "owner write"),
        ("[sockets]\nslow-subscriber = \"wait\"\n", 2, "sockets.slow-subscriber", "drop"),
        ("[metrics]\nlisten = \"localhost\"\n", 2, "metrics.listen", "ADDRESS:PORT"),
        ("[client]\nresampler = \"sinc-great\"\n", 2, "client.resampler", "sinc-best"),
        ("[clients]\nname = \"a\"\n", 1, "clients", "[client]"),
        // A value the preset cannot take: at the key's line, not the table's (issue 24).
        ("[features]\npreset = \"whisper\"\nn-mels = 0\n", 3, "features.n-mels", "n_mels"),
        ("[client]\ninputs = 1\n\n[[stream]]\nname = \"kws\"\npreset = \"librosa\"\nn-fft = 512\n\n# the bands\nn-mels = 0\n",
         10, "stream[0].n-mels", "n_mels"),
        ("[[stream]]\nname = \"a\"\n\n[[stream]]\nname = \"b\"\nwindow = \"hanning\"\n", 6, "stream[1].window", "hann"),
        ("[[stream]]\nname = \"a\"\n[[stream]]\nname = \"a\"\n", 4, "stream[1].name", "twice"),
        ("[[stream]]\npreset = \"kaldi\"\n", 1, "stream[0]", "name"),
        ("[[stream]]\nname = \"a b\"\n", 2, "stream[0].name", "letters"),
        ("[features]\nn-mels = 40\n[[stream]]\nname = \"a\"\n", 1, "features", "inside each [[stream]]"),
        ("[client]\nconnect = [\n  \"a\",\n  3,\n]\n", 2, "client.connect", "item 2"),
        ("[client]\nconnect = [\n  \"a\",\n]\nname = 5\n", 5, "client.name", "string"),
        ("[client]\nname = \"a\"\nname = \"b\"\n", 3, "", "TOML"),
        ("[client\n", 1, "", "TOML"),
    ])
    func errorsNameFileLineAndKey(text: String, line: Int, key: String, phrase: String) {
        do {
            let parsed = try RunConfiguration.parse(text, file: "conf/meltap.toml")
            Issue.record("accepted:\n\(text)\nas \(parsed)")
        } catch {
            #expect(error.file == "conf/meltap.toml")
            #expect(error.line == line, "\(error)")
            #expect(error.key == key, "\(error)")
            #expect(error.message.contains(phrase), "\(error)")
            #expect(error.description.hasPrefix("conf/meltap.toml:\(line):"), "\(error)")
        }
    }

    /// Every TOML example in docs/config.md is a file meltap accepts, and round-trips.
    @Test func documentedExamplesParse() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("docs/config.md"), encoding: .utf8)
        let blocks = doc.components(separatedBy: "```toml\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        #expect(blocks.count == 2)
        for block in blocks {
            let parsed = try RunConfiguration.parse(block, file: "docs/config.md")
            #expect(try RunConfiguration.parse(parsed.toml(), file: "printed") == parsed)
        }
    }

    @Test func missingFileSaysSo() {
        #expect(throws: RunConfigurationError.self) { try RunConfiguration.load(path: "/nonexistent/meltap.toml") }
        do { _ = try RunConfiguration.load(path: "/nonexistent/meltap.toml") } catch {
            #expect(error.description.contains("/nonexistent/meltap.toml") && error.description.contains("Check the path"))
        }
    }
}
