// libmeltap's C ABI (include/meltap.h): the C examples built with plain cc against
// .build/meltap-lib (scripts/build-lib) give `meltap file`'s frames bit for bit; bad input gives
// a message; meltap_analyzer_process makes no heap call after warm-up (rtguard).
import Foundation
import MelFiles
import MelServer
import MelSystem
import MelTransport
import MeltapC
import MeltapClient
import MeltapTestSupport
import Testing

/// The C library built by scripts/build-lib, and a C program built against it with
/// `cc -Wall -Werror $(pkg-config --cflags --libs meltap)`.
enum CLibrary {
    /// The folder of libmeltap.so and pkgconfig/meltap.pc: that of $MELTAP_LIB (the library's
    /// path, which scripts/test sets), else `make lib`'s .build/meltap-lib/lib.
    static let directory = ProcessInfo.processInfo.environment["MELTAP_LIB"].map {
        URL(fileURLWithPath: $0).deletingLastPathComponent().path
    } ?? packageRoot.appendingPathComponent(".build/meltap-lib/lib").path

    /// Throws with the remedy when `make lib` has not run.
    static func check() throws {
        guard FileManager.default.fileExists(atPath: directory + "/libmeltap.so") else {
            throw HarnessError("\(directory)/libmeltap.so is missing: run `make lib` (scripts/build-lib; scripts/test does).")
        }
    }

    /// Compiles `source` (relative to the package root) into `directory` and returns the program.
    static func compile(_ source: String, into directory: String) throws -> String {
        try check()
        let program = directory + "/" + URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
        let command = "cc -Wall -Werror -o '\(program)' '\(packageRoot.appendingPathComponent(source).path)' "
            + "$(PKG_CONFIG_PATH='\(Self.directory)/pkgconfig' pkg-config --cflags --libs meltap) -ldl"
        let result = try run("/bin/sh", ["-c", command])
        guard result.status == 0 else { throw HarnessError("\(command) failed:\n\(result.errors)") }
        return program
    }
}

/// Runs `executable` to its end with standard input from the file `input` and standard output
/// into the file `output` (nil: returned as text) and returns its status, standard output and
/// standard error. (Files, not pipes: a child never blocks on a full pipe.)
@discardableResult
func run(_ executable: String, _ arguments: [String], input: String? = nil, output: String? = nil,
         environment: [String: String] = [:]) throws -> (status: Int32, output: String, errors: String) {
    let scratch = makeTemporaryDirectory()
    defer { removeDirectory(scratch) }
    let outputPath = output ?? scratch + "/stdout", errorPath = scratch + "/stderr"
    _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.standardInput = input.flatMap { FileHandle(forReadingAtPath: $0) } ?? FileHandle.nullDevice
    process.standardOutput = FileHandle(forWritingAtPath: outputPath)
    process.standardError = FileHandle(forWritingAtPath: errorPath)
    try process.run()
    process.waitUntilExit()
    let printed = output == nil ? (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" : ""
    return (process.terminationStatus, printed, (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "")
}

@Suite(.serialized) struct CABI {
    /// 1.5 s of a chirp plus noise at `rate` Hz (its first third 100 000 times quieter), as a float WAV and as raw float32.
    static func writeSignal(rate: Int, into directory: String) throws -> (wav: String, raw: String) {
        var random = SplitMix64(seed: UInt64(rate))
        let count = rate * 3 / 2
        let samples = (0..<count).map { i -> Float in
            let t = Double(i) / Double(rate)
            let noise = Double(random.next() >> 11) / Double(1 << 53) - 0.5
            // A quiet first third (about 90 dB down): top_db and Whisper's clamp bind, so the
            // running and global clamps give different frames.
            let loudness = i < count / 3 ? 1e-5 : 1.0
            return Float(loudness * (0.4 * sin(2 * .pi * (200 + 900 * t) * t) + 0.05 * noise))
        }
        let wav = directory + "/in\(rate).wav", raw = directory + "/in\(rate).f32"
        let writer = try AudioFileWriter(path: wav, sampleRate: rate, channelCount: 1, format: .wavFloat)
        try writer.write(interleaved: samples)
        try writer.close()
        try samples.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: raw)) }
        return (wav, raw)
    }

    /// `meltap file`'s flags for a C options text ("n-mels=80,fmax=-400" → --n-mels 80 --fmax=-400).
    static func flags(_ options: String) -> [String] {
        options.split(separator: ",").map { "--" + $0 }
    }

    /// The float32 bytes of `meltap file`'s array (the .npy's data, after its header).
    static func npyValues(_ path: String) throws -> Data {
        let array = try NpyArray.load(path: path)
        return array.values.withUnsafeBytes { Data($0) }
    }

    @Test(arguments: [
        ("whisper", ""), ("librosa", "n-mels=64,output=db"), ("kaldi", "sample-rate=16000,n-mels=80,fmax=-400"),
        ("torchaudio", "sample-rate=22050,resampler=sinc-medium"), ("micro", ""),
    ])
    func examplesGiveMeltapFilesFramesBitForBit(preset: String, options: String) throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let features = try CLibrary.compile("Examples/c/features.c", into: directory)
        let meltap = try releaseBinary("meltap")
        for rate in [48000, 44100] {
            let signal = try Self.writeSignal(rate: rate, into: directory)
            var byClamp: [String: Data] = [:]
            defer {
                // The quiet third makes the clamps bind: the comparison can tell the rules apart.
                if preset == "whisper" || options.contains("output=db") {
                    #expect(byClamp["running"] != byClamp["global"], "\(preset) at \(rate) Hz: the clamps agree")
                }
            }
            for clamp in ["running", "global"] {
                let npy = directory + "/\(clamp).npy"
                let made = try run(meltap, ["file", signal.wav, "-o", npy, "--force", "--no-progress", "--preset", preset,
                                            "--clamp", clamp] + Self.flags(options))
                try #require(made.status == 0, "meltap file failed: \(made.errors)")
                let expected = try Self.npyValues(npy)
                byClamp[clamp] = expected
                if clamp == "running" {
                    // The analyzer, fed in chunks of 1, 7, 4096 samples and random sizes (0).
                    for chunk in [1, 7, 4096, 0] {
                        let out = directory + "/stream\(chunk).f32"
                        let streamed = try run(features, ["stream", preset, options, "\(rate)", "\(chunk)"],
                                               input: signal.raw, output: out)
                        try #require(streamed.status == 0, "features stream failed: \(streamed.errors)")
                        let observed = try Data(contentsOf: URL(fileURLWithPath: out))
                        #expect(observed == expected, """
                            \(preset) \(options) at \(rate) Hz, chunks of \(chunk): \(observed.count / 4) values \
                            streamed, \(expected.count / 4) from meltap file --clamp running; they differ
                            """)
                    }
                }
                let out = directory + "/file.f32"
                let analysed = try run(features, ["file", signal.wav, preset, options + (options.isEmpty ? "" : ",")
                                                  + "clamp=\(clamp)"], output: out)
                try #require(analysed.status == 0, "features file failed: \(analysed.errors)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == expected,
                        "\(preset) \(options) at \(rate) Hz: meltap_file_analyze differs from meltap file --clamp \(clamp)")
            }
        }
    }

    @Test func fileResultCarriesTheShapeAndSidecar() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let signal = try Self.writeSignal(rate: 16000, into: directory)
        let result = try #require(meltapFileAnalyze(signal.wav, "whisper", "layout=bands-first"),
                                  "\(String(cString: meltapLastError()))")
        defer { meltapFileResultDestroy(result) }
        #expect(meltapFileResultDimensions(result) == 2)
        #expect(meltapFileResultDimension(result, 0) == 80)
        #expect(meltapFileResultCount(result) == 80 * meltapFileResultDimension(result, 1))
        let sidecar = String(cString: try #require(meltapFileResultSidecar(result)))
        #expect(sidecar.contains("\"axisOrder\"") && sidecar.contains("bands-first"), "sidecar: \(sidecar.prefix(400))")
    }

    @Test(arguments: [("whisper", ""), ("librosa", "n-mels=64,output=db"), ("kaldi", "sample-rate=16000,layout=bands-first"),
                      ("micro", "")])
    func samplesInMemoryGiveMeltapFilesArrayBitForBit(preset: String, options: String) throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let meltap = try releaseBinary("meltap")
        for rate in [48000, 16000] {
            let signal = try Self.writeSignal(rate: rate, into: directory)
            let npy = directory + "/expected.npy"
            let made = try run(meltap, ["file", signal.wav, "-o", npy, "--force", "--no-progress", "--preset", preset]
                                   + Self.flags(options))
            try #require(made.status == 0, "meltap file failed: \(made.errors)")
            let expected = try NpyArray.load(path: npy)
            let samples = try Data(contentsOf: URL(fileURLWithPath: signal.raw))
            for call in 0..<2 {  // the second call reuses the cached analyzer
                let result = try #require(samples.withUnsafeBytes {
                    meltapAnalyzeSamples($0.bindMemory(to: Float.self).baseAddress, $0.count / 4, Double(rate), preset, options)
                }, "\(String(cString: meltapLastError()))")
                defer { meltapFileResultDestroy(result) }
                let shape = (0..<meltapFileResultDimensions(result)).map { meltapFileResultDimension(result, $0) }
                let values = Array(UnsafeBufferPointer(start: meltapFileResultData(result), count: meltapFileResultCount(result)))
                #expect(shape == expected.shape, "\(preset) \(options) at \(rate) Hz, call \(call)")
                #expect(values.withUnsafeBytes { Data($0) } == expected.values.withUnsafeBytes { Data($0) },
                        "\(preset) \(options) at \(rate) Hz, call \(call): meltap_analyze_samples differs from meltap file")
            }
        }
        var one: Float = 0
        #expect(Self.failure(meltapAnalyzeSamples(nil, 10, 16000, nil, nil) == nil, "NULL samples").contains("no samples"))
        #expect(Self.failure(meltapAnalyzeSamples(&one, 0, 16000, nil, nil) == nil, "no samples").contains("at least one"))
        #expect(Self.failure(meltapAnalyzeSamples(&one, 1, 999, nil, nil) == nil, "rate").contains("from 1000 to 768000"))
        #expect(Self.failure(meltapAnalyzeSamples(&one, 1, 16000, "nope", nil) == nil, "preset").contains("Unknown preset"))
        // NaN and infinity are refused, wherever they are: in the first block, at a block's last
        // sample, deep in a long signal, the very last sample; the message names the first one.
        var noisy = (0..<100_000).map { Float(sin(Double($0) * 0.05)) * 0.3 }
        for (index, value) in [(0, Float.nan), (4095, .infinity), (4096, -.infinity), (73_333, .nan),
                               (99_999, -.nan)] {
            let kept = noisy[index]
            noisy[index] = value
            let message = Self.failure(meltapAnalyzeSamples(noisy, noisy.count, 16000, "whisper", nil) == nil,
                                       "a \(value) at \(index)")
            #expect(message.contains("sample \(index) is \(value), not a finite number"), "\(message)")
            noisy[index] = kept
        }
        noisy[500] = .greatestFiniteMagnitude  // finite: analysed
        let large = meltapAnalyzeSamples(noisy, noisy.count, 16000, "whisper", nil)
        #expect(large != nil, "\(String(cString: meltapLastError()))")
        meltapFileResultDestroy(large)
    }

    /// `meltap_analyzer_max_frames` bounds what process and flush write, for every preset at
    /// input rates that resample and ones that do not: flush into a buffer of exactly
    /// max_frames(0) frames followed by a sentinel region, which must stay untouched. The capi
    /// fuzzer found openwakeword at 22050 Hz flushing more frames than max_frames(0) said (the 7
    /// frames it holds for its group were not counted), writing past the caller's buffer.
    @Test func maxFramesBoundsProcessAndFlush() throws {
        let sentinel: Float = -12345
        for preset in ["openwakeword", "whisper", "librosa", "kaldi", "micro", "torchaudio"] {
            for rate in [22050.0, 16000, 44100, 48000, 8000] {
                for count in [0, 1, 399, 1280, 4095, 10_007] {
                    let analyzer = try #require(meltapAnalyzerCreate(preset, nil, rate), "\(preset) at \(rate)")
                    defer { meltapAnalyzerDestroy(analyzer) }
                    let width = meltapAnalyzerFrameWidth(analyzer)
                    let samples = (0..<count).map { Float(sin(Double($0) * 0.01)) * 0.3 }
                    let processMax = meltapAnalyzerMaxFrames(analyzer, count)
                    var frames = [Float](repeating: sentinel, count: (processMax + 16) * width)
                    let processed = meltapAnalyzerProcess(analyzer, samples, count, &frames, processMax)
                    #expect(processed >= 0 && processed <= processMax, "\(preset) at \(rate), \(count): process")
                    #expect(frames[(processMax * width)...].allSatisfy { $0 == sentinel },
                            "\(preset) at \(rate), \(count): process wrote past max_frames")
                    let flushMax = meltapAnalyzerMaxFrames(analyzer, 0)
                    frames = [Float](repeating: sentinel, count: (flushMax + 16) * width)
                    let flushed = meltapAnalyzerFlush(analyzer, &frames, flushMax)
                    #expect(flushed <= flushMax, "\(preset) at \(rate), \(count): flush gave \(flushed) > \(flushMax)")
                    #expect(frames[(flushMax * width)...].allSatisfy { $0 == sentinel },
                            "\(preset) at \(rate), \(count): flush wrote past max_frames(0) = \(flushMax)")
                }
            }
        }
    }

    /// Calls `body`, expects it to fail, and returns the message `meltap_last_error` gives.
    static func failure(_ failed: Bool, _ what: String) -> String {
        #expect(failed, "\(what) should fail")
        return String(cString: meltapLastError())
    }

    @Test func badInputGivesAMessageThatSaysWhatToDo() throws {
        func create(_ preset: String?, _ options: String?, _ rate: Double) -> String {
            let analyzer = meltapAnalyzerCreate(preset, options, rate)
            defer { meltapAnalyzerDestroy(analyzer) }
            return Self.failure(analyzer == nil, "create(\(preset ?? "NULL"), \(options ?? "NULL"), \(rate))")
        }
        #expect(create("nope", nil, 48000).contains("Unknown preset 'nope'; choose one of librosa"))
        #expect(create(nil, "n-melz=80", 48000).contains("Unknown option 'n-melz'"))
        #expect(create(nil, "n-mels=eighty", 48000) == "Please give n-mels as a whole number; got 'eighty'.")
        #expect(create(nil, "n-mels=80,,", 48000).contains("empty option"))
        #expect(create(nil, "window=hann,window", 48000).contains("Please give option window a value"))
        #expect(create(nil, "sample-rate=100", 48000).contains("from 1000 to 768000"))
        #expect(create(nil, nil, 0).contains("Please give the input sample rate in Hz"))
        #expect(create(nil, nil, .nan).contains("Please give the input sample rate in Hz"))
        #expect(create(nil, nil, 1e300).contains("Please give the input sample rate in Hz"))
        #expect(create(nil, nil, -.infinity).contains("Please give the input sample rate in Hz"))
        #expect(create(nil, "clamp=global", 48000).contains("meltap_file_analyze"))
        #expect(create(nil, "mono", 48000).contains("applies to whole files"))
        #expect(create(nil, "n-fft=8,n-mels=128", 16000).isEmpty == false)
        #expect(create("librosa", "sample-rate=44100,resampler=zita", 1001).contains("zita-resampler cannot convert"))

        // A working analyzer, then NULL pointers, negative and zero sizes, a small buffer.
        let analyzer = try #require(meltapAnalyzerCreate("librosa", "", 16000))
        defer { meltapAnalyzerDestroy(analyzer) }
        let width = meltapAnalyzerFrameWidth(analyzer)
        #expect(width == 128)
        let samples = [Float](repeating: 0.1, count: 4096)
        var frames = [Float](repeating: 0, count: meltapAnalyzerMaxFrames(analyzer, 4096) * width)
        #expect(meltapAnalyzerProcess(analyzer, nil, 0, nil, 0) == 0)  // nothing to do is no error
        #expect(Self.failure(meltapAnalyzerProcess(analyzer, nil, 10, &frames, 100) == -1, "NULL samples")
            .contains("samples pointer is NULL"))
        #expect(Self.failure(meltapAnalyzerProcess(analyzer, samples, -1, &frames, 100) == -1, "count -1")
            .contains("give 0 or more"))
        #expect(Self.failure(meltapAnalyzerProcess(analyzer, samples, .max, &frames, .max) == -1, "count Int.max")
            .contains("give them in smaller chunks"))
        #expect(meltapAnalyzerMaxFrames(analyzer, .max) > 0 && meltapAnalyzerMaxFrames(analyzer, -5) > 0)
        #expect(Self.failure(meltapAnalyzerProcess(analyzer, samples, 4096, &frames, 1) == -1, "small buffer")
            .contains("Size it with meltap_analyzer_max_frames"))
        #expect(Self.failure(meltapAnalyzerProcess(analyzer, samples, 4096, nil, 1000) == -1, "NULL frames")
            .contains("Size it with meltap_analyzer_max_frames"))
        #expect(Self.failure(meltapAnalyzerProcess(nil, samples, 4096, &frames, 1000) == -1, "NULL analyzer")
            .contains("the analyzer is NULL"))
        #expect(Self.failure(meltapAnalyzerFrameWidth(nil) == -1, "NULL width").contains("the analyzer is NULL"))
        #expect(meltapAnalyzerConfigJSON(nil) == nil)
        let json = String(cString: try #require(meltapAnalyzerConfigJSON(analyzer)))
        #expect(json.contains("\"melBandCount\":128"), "configuration: \(json.prefix(300))")
        // A too-short input for reflect padding (torchaudio's center-reflect) fails at flush.
        let short = try #require(meltapAnalyzerCreate("torchaudio", nil, 16000))
        defer { meltapAnalyzerDestroy(short) }
        #expect(meltapAnalyzerProcess(short, samples, 3, &frames, meltapAnalyzerMaxFrames(short, 3)) == 0)
        #expect(!Self.failure(meltapAnalyzerFlush(short, &frames, meltapAnalyzerMaxFrames(short, 0)) == -1,
                              "flush of 3 samples").isEmpty)
        // After a flush, process refuses until reset.
        #expect(meltapAnalyzerFlush(analyzer, &frames, meltapAnalyzerMaxFrames(analyzer, 0)) >= 0)
        #expect(Self.failure(meltapAnalyzerProcess(analyzer, samples, 16, &frames, 100) == -1, "after flush")
            .contains("meltap_analyzer_reset"))
        meltapAnalyzerReset(analyzer)
        #expect(meltapAnalyzerProcess(analyzer, samples, 16, &frames, 100) >= 0)

        // Files and subscribers.
        #expect(Self.failure(meltapFileAnalyze(nil, nil, nil) == nil, "NULL path").contains("path is NULL"))
        #expect(Self.failure(meltapFileAnalyze("/nonexistent.wav", nil, nil) == nil, "missing file")
            .contains("/nonexistent.wav"))
        #expect(Self.failure(meltapFileAnalyze("/nonexistent.wav", nil, "channel=1,mono") == nil, "two channel keys")
            .contains("Please choose one of channel, all-channels and mono"))
        #expect(Self.failure(meltapFileWrite("/nonexistent.wav", "out.txt", nil, nil, 0) == -1, "not .npy")
            .contains("ending in .npy"))
        #expect(Self.failure(meltapSubscriberConnect("/nonexistent/m.sock", nil, 0, 100) == nil, "no socket")
            .contains("no meltap socket at /nonexistent/m.sock"))
        #expect(Self.failure(meltapSubscriberConnect("/tmp/x.sock", nil, 3, 100) == nil, "NULL channels")
            .contains("channel list is NULL"))
        #expect(Self.failure(meltapSubscriberNext(nil, 0, nil, 0, nil, nil, nil, nil) == -1, "NULL subscriber")
            .contains("the subscriber is NULL"))
        #expect(meltapABIVersion() == 100)
        #expect(String(cString: meltapPresets()) == "librosa,torchaudio,kaldi,whisper,micro,openwakeword")
        #expect(String(cString: meltapVersionString()) == "0.1.0")
    }

    /// `meltap_default_socket_path`: the rule of `SocketDirectory`, the sizes as documented, and
    /// subscribe.c without SOCKET connecting there (a publisher at the default path).
    @Test func defaultSocketPathAndTheExampleWithoutSocket() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let length = meltapDefaultSocketPath("box", "kws", nil, 0)
        var buffer = [CChar](repeating: 1, count: length + 1)
        #expect(meltapDefaultSocketPath("box", "kws", &buffer, length) == length)
        #expect(buffer[0] == 1, "a buffer one byte short is left untouched")
        #expect(meltapDefaultSocketPath("box", "kws", &buffer, length + 1) == length)
        #expect(String(cString: buffer) == SocketDirectory.default + "/box.kws.sock")
        #expect(meltapDefaultSocketPath(nil, nil, &buffer, buffer.count) > 0 && String(cString: buffer).hasSuffix("/meltap.sock"))

        let subscribe = try CLibrary.compile("Examples/c/subscribe.c", into: directory)
        let runtime = directory + "/runtime"
        try FileManager.default.createDirectory(atPath: runtime + "/meltap", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let publisher = FramePublisher(socketPath: runtime + "/meltap/meltap.sock", queueBound: 100)
        defer { publisher.stop() }
        try publisher.start(header: testHeader(channelCount: 1, bandCount: 4))
        let child = try Child(subscribe, [], environment: ["XDG_RUNTIME_DIR": runtime], directory: directory, label: "subscribe")
        defer { _ = child.stop(signal: SIGKILL, timeout: 5) }
        #expect(eventually(every: 0.002) { publisher.subscriberCount == 1 }, "subscribe.c did not connect to the default socket")
        publisher.stop()
        #expect(child.waitForExit(timeout: 20))
        #expect(child.output.hasPrefix("header: 4 bands, 1 channels"), "\(child.output.prefix(200)) \(child.errors)")
    }

    @Test func subscribeExampleReceivesThePublishedFrames() throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let subscribe = try CLibrary.compile("Examples/c/subscribe.c", into: directory)
        let path = directory + "/c.sock"
        let bandCount = 12, framesPerChannel = 30
        let publisher = FramePublisher(socketPath: path, queueBound: 10_000)
        defer { publisher.stop() }
        try publisher.start(header: testHeader(channelCount: 2, bandCount: bandCount))
        let child = try Child(subscribe, [path], environment: [:], directory: directory, label: "subscribe")
        defer { _ = child.stop(signal: SIGKILL, timeout: 5) }
        #expect(eventually(every: 0.002) { publisher.subscriberCount == 1 }, "subscribe.c did not connect")
        for sequence in 0..<UInt64(framesPerChannel) {
            for channel: UInt32 in 0..<2 {
                publisher.publish(metadata: syntheticMetadata(channel: channel, sequence: sequence),
                                  values: syntheticValues(channel: channel, sequence: sequence, bandCount: bandCount))
            }
        }
        publisher.stop()  // delivers what is queued, then closes: the example sees the end
        #expect(child.waitForExit(timeout: 20))
        let lines = child.output.split(separator: "\n")
        #expect(lines.first?.hasPrefix("header: 12 bands, 2 channels, 16000 Hz") == true, "\(child.output.prefix(200))")
        // "frame SEQ channel CH time T flags F values V0 V1"
        let frames = lines.dropFirst().map { line -> ReceivedFrame in
            let f = line.split(separator: " ")
            let metadata = FrameMetadata(sequence: UInt64(f[1])!, channel: UInt32(f[3])!, frameTime: Int64(f[5])!,
                                         flags: FrameFlags(rawValue: UInt32(f[7])!))
            let values = syntheticValues(channel: metadata.channel, sequence: metadata.sequence, bandCount: bandCount)
            #expect(Float(String(f[9]))! == values[0] && Float(String(f[10]))! == values[1], "values of \(line)")
            return ReceivedFrame(metadata: metadata, values: values)
        }
        expectComplete(frames, channels: [0, 1], framesPerChannel: framesPerChannel, bandCount: bandCount, "subscribe.c")
    }

    @Test(arguments: [("whisper", "", 48000.0), ("librosa", "output=db", 44100.0), ("kaldi", "", 16000.0),
                      ("micro", "", 16000.0)])
    func processMakesNoHeapCallAfterWarmUp(preset: String, options: String, rate: Double) throws {
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let probe = try CLibrary.compile("Tests/MeltapCTests/Support/process_probe.c", into: directory)
        let rtguard = directory + "/librtguard.so"
        let built = try run("/bin/sh", ["-c", "cc -O2 -shared -fPIC -o '\(rtguard)' '"
                                        + packageRoot.appendingPathComponent("Tools/rtguard/rtguard.c").path + "'"])
        try #require(built.status == 0, "rtguard: \(built.errors)")
        let calls = 2000
        let probed = try run(probe, [preset, options, "\(Int(rate))", "\(calls)"], environment: ["LD_PRELOAD": rtguard])
        try #require(probed.status == 0, "process_probe failed: \(probed.errors)")
        // "calls N regions R allocs A frees F locks L syscalls S frames M"
        let f = probed.output.split(separator: " ").map(String.init)
        let counts = Dictionary(uniqueKeysWithValues: stride(from: 0, to: f.count - 1, by: 2).map {
            (f[$0], Int(f[$0 + 1].trimmingCharacters(in: .whitespacesAndNewlines))!)
        })
        print("rtguard \(preset) \(options) at \(Int(rate)) Hz: \(probed.output)", terminator: "")
        #expect(counts["regions"] == calls, "rtguard saw \(counts["regions"] ?? -1) regions")
        #expect(counts["frames"]! > calls / 4, "too few frames to prove anything: \(probed.output)")
        #expect(counts["allocs"] == 0 && counts["frees"] == 0 && counts["locks"] == 0 && counts["syscalls"] == 0,
                "heap, lock or system calls inside meltap_analyzer_process: \(probed.output)")
    }
}
