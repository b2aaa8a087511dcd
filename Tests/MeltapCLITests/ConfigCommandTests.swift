// `meltap run --config FILE` and `--print-config`, through the built binary: a command line
// becomes a file and back, the command line overrides the file, a bad file stops meltap before it
// starts anything, and a file alone runs a live instance (a private dummy jackd it starts itself).
import Foundation
import Testing

@Suite(.serialized) struct ConfigCommandTests {
    static func write(_ text: String, in directory: URL, name: String = "meltap.toml") throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func commandLineBecomesAFileAndBack() throws {
        let dir = try FileCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let arguments = ["run", "--name", "box", "--inputs", "2", "--connect", "system:capture_.*", "--ring-frames", "8192",
                         "--xrun-hold", "12.5", "--socket-dir", dir.path, "--socket-mode", "660", "--max-subscribers", "9",
                         "--slow-subscriber", "disconnect", "--resampler", "sinc-fastest",
                         "--stream", "kws=kaldi@16000,n-mels=80,fmax=-400,use-energy", "--stream", "viz=librosa,output=db,top-db=none"]
        let printed = try FileCommandTests.meltap(arguments + ["--print-config"])
        try #require(printed.status == 0, "\(printed.stderr)")
        for line in ["name = \"box\"", "inputs = 2", "connect = [\"system:capture_.*\"]", "ring-frames = 8192",
                     "xrun-hold = 12.5", "dir = \"\(dir.path)\"", "mode = \"660\"", "max-subscribers = 9",
                     "slow-subscriber = \"disconnect\"", "resampler = \"sinc-fastest\"", "[[stream]]", "name = \"kws\"",
                     "preset = \"kaldi\"", "sample-rate = 16000", "n-mels = 80", "fmax = -400.0", "use-energy = true",
                     "output = \"db\"", "top-db = \"none\""] {
            #expect(printed.stdout.contains(line + "\n"), "missing \(line) in:\n\(printed.stdout)")
        }
        let file = try Self.write(printed.stdout, in: dir)
        let again = try FileCommandTests.meltap(["run", "--config", file, "--print-config"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout == printed.stdout)
    }

    @Test func commandLineOverridesTheFile() throws {
        let dir = try FileCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try Self.write("""
            [client]
            name = "fromfile"
            inputs = 2
            [sockets]
            path = "/tmp/fromfile.sock"
            [features]
            preset = "whisper"
            n-mels = 64
            """, in: dir)
        let result = try FileCommandTests.meltap(["run", "--config", file, "--inputs", "3", "--socket-dir", dir.path,
                                                  "--hop-length", "200", "--print-config"])
        try #require(result.status == 0, "\(result.stderr)")
        let out = result.stdout
        #expect(out.contains("name = \"fromfile\"\n") && out.contains("inputs = 3\n"), "\(out)")
        #expect(out.contains("dir = \"\(dir.path)\"\n") && !out.contains("fromfile.sock"), "\(out)")
        #expect(out.contains("preset = \"whisper\"\n") && out.contains("n-mels = 64\n") && out.contains("hop-length = 200\n"), "\(out)")
    }

    @Test func badFileNamesFileLineAndKeyAndStartsNothing() throws {
        let dir = try FileCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let socket = dir.appendingPathComponent("never.sock").path
        let file = try Self.write("""
            # comment
            [client]
            name = "x"
            start-server = true

            [sockets]
            path = "\(socket)"
            max-subscribers = 0
            """, in: dir)
        let result = try FileCommandTests.meltap(["run", "--config", file])
        #expect(result.status != 0)
        #expect(result.stderr.contains("\(file):8: sockets.max-subscribers: Please give max-subscribers from 1 to 4096; got 0."),
                "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: socket), "a socket was created for a bad configuration")
        #expect(!result.stdout.contains("started a private JACK server"), "\(result.stdout)")

        let missing = try FileCommandTests.meltap(["run", "--config", dir.appendingPathComponent("none.toml").path])
        #expect(missing.status != 0 && missing.stderr.contains("none.toml") && missing.stderr.contains("Check the path"),
                "\(missing.stderr)")
        // The file and the command line together: a socket path for several streams.
        let streams = try Self.write("[sockets]\npath = \"/tmp/one.sock\"\n", in: dir, name: "streams.toml")
        let both = try FileCommandTests.meltap(["run", "--config", streams, "--stream", "a=librosa", "--print-config"])
        #expect(both.status != 0 && both.stderr.contains("sockets.path") && both.stderr.contains("socket directory"),
                "\(both.stderr)")
    }

    /// A file alone runs meltap: it starts its own dummy jackd, names the client and serves on
    /// the socket the file gives, and stops after the file's duration.
    @Test func fileAloneRunsALiveInstance() throws {
        let dir = try FileCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let socket = dir.appendingPathComponent("conf.sock").path
        let file = try Self.write("""
            [client]
            name = "configured"
            inputs = 2
            start-server = true
            duration = 1.5

            [sockets]
            path = "\(socket)"

            [features]
            preset = "kaldi"
            n-mels = 40
            """, in: dir)
        let result = try FileCommandTests.meltap(["run", "--config", file],
                                                 environment: ["JACK_DEFAULT_SERVER": "meltap-conf-\(getpid())"])
        #expect(result.status == 0, "\(result.stderr)\(result.stdout)")
        #expect(result.stdout.contains("meltap: publishing on \(socket)"), "\(result.stdout)")
        #expect(result.stdout.contains("client configured, 2 input(s)"), "\(result.stdout)")
        #expect(result.stdout.contains("preset kaldi, 40 values per frame"), "\(result.stdout)")
        #expect(result.stdout.contains("meltap: stopped."), "\(result.stdout)")
    }
}
