// The frictions a newcomer met in the first hour (issue 24): sockets where the README says,
// one spelling for the output path and the feature type, the formats dataset mode takes, and
// messages that do not send you in circles. The built binaries on real files, real sockets and a
// private dummy jackd.
import CSndFile
import Foundation
import Glibc
import MelDSP
import MelFiles
import MelPipeline
import MeltapTestSupport
import Testing

@Suite(.serialized) struct FirstHourTests {
    typealias CLI = FileCommandTests

    // MARK: - Sockets

    /// The service recipe's `--socket-dir /run/user/UID/meltap` after a reboot: the directory is
    /// missing and `meltap run` makes it (0700, parents inside the runtime directory). Then
    /// `record` and `view` without `--socket` find the stream sockets (CLIENT.NAME.sock), as
    /// `status` does, and say which one they took.
    @Test func runMakesTheSocketDirectoryAndReadersFindStreamSockets() throws {
        let session = try JackSession()
        defer { session.finish() }
        let runtime = session.directory   // the session's XDG_RUNTIME_DIR
        let socketDirectory = runtime + "/meltap"
        try #require(access(socketDirectory, F_OK) != 0, "\(socketDirectory) exists before the run")
        _ = try session.startMeltap(["--inputs", "1", "--socket-dir", socketDirectory,
                                     "--stream", "kws=librosa@16000,n-mels=40", "--stream", "viz=librosa"],
                                    expectPort: "meltap:in_1")
        let kws = socketDirectory + "/meltap.kws.sock"
        #expect(eventually(timeout: 20) { access(kws, F_OK) == 0 }, "no socket at \(kws)")
        var info = stat()
        #expect(stat(socketDirectory, &info) == 0 && info.st_mode & 0o777 == 0o700,
                "the socket directory's mode is \(String(info.st_mode & 0o777, radix: 8)), not 700")

        let npy = session.path("take.npy")
        let record = try CLI.meltap(["record", "-o", npy, "--duration", "1"], environment: session.environment)
        #expect(record.status == 0, "\(record.stderr)")
        #expect(record.stderr.contains("meltap record: using \(kws) (also there: meltap.viz.sock; choose one with --socket)"),
                "\(record.stderr)")
        #expect(try NpyArray.load(path: npy).shape.last == 40, "recorded from the kws stream (40 bands)")

        let view = try CLI.meltap(["view", "--duration", "0.5", "--columns", "20"], environment: session.environment)
        #expect(view.status == 0, "\(view.stderr)")
        #expect(view.stderr.contains("meltap view: using \(kws)"), "\(view.stderr)")

        // Missing parents are made only inside the runtime or temporary directory.
        let outside = CLI.packageRoot.appendingPathComponent(".build/socket-test-\(getpid())/a/meltap").path
        defer { try? FileManager.default.removeItem(atPath: CLI.packageRoot.appendingPathComponent(".build/socket-test-\(getpid())").path) }
        let refused = try session.launch(try releaseBinary("meltap"),
                                         ["run", "--name", "other", "--socket-dir", outside, "--duration", "5"], label: "refused")
        #expect(refused.waitForExit(timeout: 30) && refused.process.terminationStatus != 0)
        #expect(refused.errors.contains("meltap creates missing parents only inside your runtime or temporary directory")
                && refused.errors.contains("mkdir -p"), "\(refused.errors)")
        #expect(access(outside, F_OK) != 0)
    }

    /// Without an instance, the readers name the directory they looked in and the rule.
    @Test func readersNameTheDirectoryTheyLookedIn() throws {
        let runtime = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: runtime) }
        for command in ["view", "record"] {
            let arguments = command == "record" ? [command, "-o", runtime.path + "/x.npy"] : [command]
            let run = try CLI.meltap(arguments, environment: ["XDG_RUNTIME_DIR": runtime.path])
            #expect(run.status != 0)
            #expect(run.stderr.contains("no meltap socket in \(runtime.path)/meltap")
                    && run.stderr.contains("/run/user/UID/meltap"), "\(command): \(run.stderr)")
        }
    }

    // MARK: - One spelling

    static func noise(_ path: String, seconds: Double = 1) throws {
        try DatasetModeTests.writeNoise(path, seconds: seconds, seed: 7)
    }

    /// `-o` and `--output` name the output path; `--features` the feature type. The old
    /// spellings still work for this version, give the same bytes and print a note.
    @Test func outputAndFeaturesSpellings() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("a.wav").path
        try Self.noise(wav)
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

        // The command: `--output out.npy` is the output path.
        let new = try CLI.meltap(["file", wav, "--output", path("new.npy"), "--features", "db"])
        #expect(new.status == 0 && new.stderr.isEmpty, "\(new.stderr)")
        let short = try CLI.meltap(["file", wav, "-o", path("short.npy"), "--features", "db"])
        #expect(short.status == 0)
        let reference = try Data(contentsOf: URL(fileURLWithPath: path("new.npy")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path("short.npy"))) == reference)

        for (old, name) in [(["--output-file", path("old1.npy"), "--output", "db"], "old1.npy"),
                            (["-o", path("old2.npy"), "--output", "db"], "old2.npy")] {
            let run = try CLI.meltap(["file", wav] + old)
            #expect(run.status == 0, "\(old): \(run.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: path(name))) == reference, "\(old) gives other bytes")
            #expect(run.stderr.contains("meltap: note: --output db for the feature type is deprecated")
                    && run.stderr.contains("write --features db instead"), "\(old): \(run.stderr)")
        }
        let oldFile = try CLI.meltap(["file", wav, "--output-file", path("old3.npy")])
        #expect(oldFile.status == 0 && oldFile.stderr.contains("--output-file is deprecated")
                && oldFile.stderr.contains("write -o or --output instead"), "\(oldFile.stderr)")

        let twice = try CLI.meltap(["file", wav, "-o", path("x.npy"), "--output", path("y.npy")])
        #expect(twice.status != 0 && twice.stderr.contains("Please give one output path"), "\(twice.stderr)")
        let clash = try CLI.meltap(["file", wav, "-o", path("x.npy"), "--output", "db", "--features", "log"])
        #expect(clash.status != 0 && clash.stderr.contains("Please give the feature type once, with --features"),
                "\(clash.stderr)")

        // invert: -o, --output, and the old --output-file.
        let db = path("new.npy")
        for (flag, name) in [("--output", "i1.wav"), ("--output-file", "i2.wav")] {
            let run = try CLI.meltap(["invert", db, flag, path(name), "--n-iter", "2"])
            #expect(run.status == 0, "\(flag): \(run.stderr)")
            #expect((flag == "--output-file") == run.stderr.contains("--output-file is deprecated"), "\(flag): \(run.stderr)")
        }
    }

    /// The text after `--option <value>` in `--help`, up to the next option, on one line.
    static func helpParagraph(_ help: String, _ option: String) -> String {
        let lines = help.components(separatedBy: "\n")
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(option + " ") }) else { return "" }
        var paragraph = [lines[start]]
        for line in lines[(start + 1)...] {
            // The next option starts at two spaces; its description's lines are indented further.
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || line.hasPrefix("  -") { break }
            paragraph.append(trimmed)
        }
        return paragraph.joined(separator: " ")
    }

    /// Every feature type is described, not only listed: `micro (…)` as well as `db (…)`.
    @Test func everyFeatureTypeIsDescribed() throws {
        for command in ["file", "run"] {
            let help = try CLI.meltap([command, "--help"]).stdout
            let paragraph = Self.helpParagraph(help, "--features")
            #expect(!paragraph.isEmpty, "\(command) --help has no --features")
            for kind in OutputKind.allCases {
                #expect(paragraph.contains(kind.rawValue + " ("), "\(command) --help lists \(kind.rawValue) without saying what it is")
            }
        }
    }

    /// `run --help`'s `--stream` keys come from the one option table (db-ref was missing once).
    @Test func streamHelpListsEveryOption() throws {
        let paragraph = Self.helpParagraph(try CLI.meltap(["run", "--help"]).stdout, "--stream")
            .replacingOccurrences(of: "- ", with: "-")   // a key broken at its dash by the wrapping
        for name in FeatureOption.names {
            #expect(paragraph.contains(name), "run --help's --stream lacks \(name): \(paragraph)")
        }
    }

    /// `meltap --version`: the version and the git commit it was built from.
    @Test func versionNamesTheCommit() throws {
        let run = try CLI.meltap(["--version"])
        #expect(run.status == 0)
        let git = try CLI.run("/usr/bin/git", ["-C", CLI.packageRoot.path, "rev-parse", "--short=12", "HEAD"])
        try #require(git.status == 0, "not a git checkout: \(git.stderr)")
        let commit = git.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(run.stdout.hasPrefix("meltap \(meltapVersion) (git commit \(commit)"), "\(run.stdout)")
    }

    // MARK: - Formats and messages

    /// Writes `seconds` of a 440 Hz tone as MP3 with libsndfile (the library meltap reads with).
    static func writeMP3(_ path: String, seconds: Double = 1, sampleRate: Int32 = 16000) throws {
        var info = SF_INFO()
        info.samplerate = sampleRate
        info.channels = 1
        info.format = Int32(SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III)
        let file = try #require(sf_open(path, Int32(SFM_WRITE), &info), "libsndfile cannot write MP3 here")
        let samples = (0..<Int(seconds * Double(sampleRate))).map { Float(0.3 * sin(2 * Double.pi * 440 * Double($0) / 16000)) }
        #expect(sf_writef_float(file, samples, sf_count_t(samples.count)) == samples.count)
        sf_close(file)
    }

    /// A folder holding only an MP3 is a dataset (it was "No audio files found"), and --help
    /// lists the extensions, .mp3 among them.
    @Test func datasetModeTakesMP3() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let corpus = dir.appendingPathComponent("corpus")
        try FileManager.default.createDirectory(at: corpus, withIntermediateDirectories: true)
        let mp3 = corpus.appendingPathComponent("speech.mp3").path
        try Self.writeMP3(mp3)
        let single = dir.appendingPathComponent("single.npy").path
        #expect(try CLI.meltap(["file", mp3, "-o", single]).status == 0)
        let out = dir.appendingPathComponent("out")
        let run = try CLI.meltap(["file", corpus.path, "-o", out.path])
        #expect(run.status == 0 && run.stdout.contains("1 analysed"), "\(run.stdout) \(run.stderr)")
        #expect(try Data(contentsOf: out.appendingPathComponent("speech.npy")) == Data(contentsOf: URL(fileURLWithPath: single)),
                "dataset mode and single-file mode differ on an MP3")
        let help = try CLI.meltap(["file", "--help"]).stdout.replacingOccurrences(of: "\n", with: " ")
        #expect(help.contains(".mp3") && help.contains(".flac") && help.contains(".ogg"), "\(help)")
    }

    /// Outputs made with other settings: the summary sends you to --force, not round again.
    @Test func summarySuggestsForceForOtherSettings() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let corpus = dir.appendingPathComponent("corpus")
        for i in 0..<2 { try DatasetModeTests.writeNoise(corpus.appendingPathComponent("f\(i).wav").path, seconds: 1, seed: UInt64(i)) }
        let out = dir.appendingPathComponent("out").path
        #expect(try CLI.meltap(["file", corpus.path, "-o", out, "--n-mels", "40"]).status == 0)
        let other = try CLI.meltap(["file", corpus.path, "-o", out, "--n-mels", "64"])
        #expect(other.status == 1)
        #expect(other.stderr.contains("Their outputs were made with other settings") && other.stderr.contains("add --force")
                && !other.stderr.contains("Run the same command again"), "\(other.stderr)")
        let forced = try CLI.meltap(["file", corpus.path, "-o", out, "--n-mels", "64", "--force"])
        #expect(forced.status == 0 && forced.stdout.contains("2 analysed"), "\(forced.stdout)")
    }

    /// `meltap-testsource --signal file:PATH` plays the whole file, however long, without
    /// --record-seconds (it went silent after 10 s).
    @Test func testSourcePlaysAFileToItsEnd() throws {
        let session = try JackSession()
        defer { session.finish() }
        let rate = 48000
        let seconds = 12
        let samples = (0..<(seconds * rate)).map { Float(0.25 * sin(2 * Double.pi * 300 * Double($0) / Double(rate))) }
        let raw = session.path("tone.f32")
        try samples.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: raw)) }
        let record = session.path("source.rec")
        let source = try session.startSource(["--outputs", "1", "--signal", "file:" + raw, "--record", record,
                                              "--exit-when-recorded", "--amplitude", "1"])
        #expect(source.waitForExit(timeout: 120) && source.process.terminationStatus == 0, "\(source.errors)")
        let sent = try SourceRecord(path: record).samples[0]
        #expect(sent.count >= samples.count, "recorded \(sent.count) samples of \(samples.count)")
        let tail = sent[(samples.count - rate)..<samples.count]   // the file's last second
        #expect(tail.map { abs($0) }.max() ?? 0 > 0.2, "the file's last second was not played")
        #expect(Array(sent.prefix(samples.count)) == samples, "the source did not play the file sample for sample")
    }
}
