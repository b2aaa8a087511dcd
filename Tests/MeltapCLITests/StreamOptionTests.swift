import Foundation
import Testing

/// `meltap run --stream NAME=PRESET[@RATE][,option=value…]`: one test per error, each naming the
/// stream and what to do, all before any JACK call.
@Suite struct StreamOptionTests {
    /// Runs `meltap run ARGUMENTS` with no JACK server reachable; returns status and stderr.
    static func run(_ arguments: [String]) throws -> (Int32, String) {
        let result = try FileCommandTests.meltap(["run"] + arguments,
                                                 environment: ["JACK_NO_START_SERVER": "1",
                                                               "JACK_DEFAULT_SERVER": "meltap-absent-\(getpid())"])
        return (result.status, result.stderr + result.stdout)
    }

    @Test("Errors name the stream and say how to fix it", arguments: [
        (["--stream", "kws"], ["--stream kws", "NAME=PRESET[@RATE]", "kws=kaldi@16000,n-mels=80"]),
        (["--stream", "k/ws=kaldi"], ["k/ws", "letters, digits"]),
        (["--stream", "=kaldi"], ["stream name ''"]),
        (["--stream", "kws=kaldy"], ["stream kws", "unknown preset 'kaldy'", "whisper"]),
        (["--stream", "kws=kaldi@16k"], ["stream kws", "@16000", "'16k'"]),
        (["--stream", "kws=kaldi@50"], ["stream kws", "1000 to 768000"]),
        (["--stream", "kws=kaldi,n-mel=80"], ["stream kws", "unknown option 'n-mel'", "n-mels"]),
        (["--stream", "kws=kaldi,n-mels"], ["stream kws", "n-mels needs a value", "n-mels=VALUE"]),
        (["--stream", "kws=kaldi,n-mels=many"], ["stream kws", "many"]),
        (["--stream", "kws=kaldi,top-db=-3"], ["stream kws", "top-db"]),
        (["--stream", "kws=kaldi,,n-mels=80"], ["stream kws", "empty option"]),
        (["--stream", "kws=kaldi,preset=whisper"], ["stream kws", "NAME=PRESET@RATE"]),
        (["--stream", "kws=kaldi,sample-rate=16000"], ["stream kws", "NAME=PRESET@RATE"]),
        (["--stream", "kws=kaldi,use-energy=maybe"], ["stream kws", "use-energy", "true/false"]),
        (["--stream", "a=kaldi", "--stream", "a=librosa"], ["'a' is used twice"]),
        (["--stream", "a=kaldi", "--socket", "/tmp/x.sock"], ["--socket-dir", "CLIENT.NAME.sock"]),
        (["--stream", "a=kaldi", "--n-mels", "40"], ["inside each --stream"]),
        (["--stream", "a=kaldi", "--sample-rate", "16000"], ["inside each --stream"]),
        (["--socket", "/tmp/x.sock", "--socket-dir", "/tmp"], ["either --socket or --socket-dir"]),
    ] as [([String], [String])])
    func errors(arguments: [String], expected: [String]) throws {
        let (status, text) = try Self.run(arguments)
        #expect(status != 0, "meltap run \(arguments) should fail: \(text)")
        #expect(text.contains("Please"), "\(text)")
        for part in expected { #expect(text.contains(part), "expected \"\(part)\" in: \(text)") }
        #expect(!text.contains("No JACK server"), "refused only at JACK: \(text)")
    }

    @Test("An n_fft for which FFTW allocates is refused per stream, before JACK")
    func realtimeUnsafeFFTSize() throws {
        let (status, text) = try Self.run(["--stream", "ok=librosa", "--stream", "big=librosa,n-fft=2018"])
        #expect(status != 0)
        #expect(text.contains("stream big") && text.contains("2016"), "\(text)")
    }

    @Test("Valid streams get as far as JACK")
    func validStreamsReachJack() throws {
        let (status, text) = try Self.run(["--stream", "kws=kaldi@16000,n-mels=80,fmax=-400,use-energy",
                                           "--stream", "viz=librosa,n-mels=64,top-db=none", "--duration", "1"])
        #expect(status != 0 && text.contains("No JACK server"), "expected only the JACK error: \(text)")
    }
}
