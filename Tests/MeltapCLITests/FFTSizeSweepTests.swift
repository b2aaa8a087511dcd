import Foundation
import MelDSP
import Testing

/// The n_fft rule (`RealFFT.isAllocationFree`, Sources/MelDSP/Spectrum/FFTSizes.swift) against
/// FFTW itself: the release-built benchmark runs every even n_fft from 16 to 4096, a few hops each,
/// in float32 and float64, under the rtguard heap-call counter (`meltap-bench --sweep-n-fft`,
/// the sweep of scripts/fft-size-sweep). Sizes the rule accepts must make no heap call inside
/// `process`; sizes it refuses must make some, so the test also fails when the rule is stricter
/// than FFTW, or the counter is not counting.
@Suite(.serialized) struct FFTSizeSweepTests {
    struct Row { var fftLength: Int; var precision: String; var frames: Int; var allocations: Int; var frees: Int }

    @Test func everySizeFrom16To4096AllocatesExactlyAsTheRuleSays() throws {
        let started = Date()
        let (status, output) = try RealtimeAllocationTests.benchUnderShim(["--sweep-n-fft", "16-4096", "--hops", "4",
                                                                           "--check-allocations"])
        let seconds = Date().timeIntervalSince(started)

        // "n_fft 2018 single frames 7 allocations 21 frees 21 rule allocating"
        let rows = output.split(separator: "\n").compactMap { line -> Row? in
            let w = line.split(separator: " ").map(String.init)
            guard w.count >= 11, w[0] == "n_fft", let n = Int(w[1]), let frames = Int(w[4]),
                  let allocations = Int(w[6]), let frees = Int(w[8]) else { return nil }
            return Row(fftLength: n, precision: w[2], frames: frames, allocations: allocations, frees: frees)
        }
        print(output.split(separator: "\n").filter { !$0.hasPrefix("n_fft") }.joined(separator: "\n"))
        print("sweep of \(rows.count) size × precision runs took \(Int(seconds.rounded())) s")
        #expect(!output.contains("not measured"), "the shim was not active:\n\(output.suffix(2000))")
        #expect(rows.count == 2041 * 2, "expected every even n_fft from 16 to 4096 in two precisions; got \(rows.count) rows")

        var accepted = 0, refused = 0
        for row in rows {
            #expect(row.frames >= 4, "n_fft \(row.fftLength) \(row.precision): only \(row.frames) frames ran")
            if RealFFT.isAllocationFree(length: row.fftLength) {
                accepted += 1
                #expect(row.allocations == 0 && row.frees == 0,
                        "n_fft \(row.fftLength) (\(row.precision)) is accepted by RealFFT.isAllocationFree but made \(row.allocations) allocations and \(row.frees) frees in \(row.frames) frames")
            } else {
                refused += 1
                #expect(row.allocations > 0,
                        "n_fft \(row.fftLength) (\(row.precision)) is refused by RealFFT.isAllocationFree but made no allocation in \(row.frames) frames")
            }
        }
        #expect(accepted == 726 * 2 && refused == 1315 * 2, "accepted \(accepted), refused \(refused) (size × precision)")
        // A few refused sizes by name, at least one allocation per frame: if these stop
        // allocating, the counter or the sweep is broken, not FFTW.
        for n in [74, 2018, 2020, 3182, 4094] {
            for precision in ["single", "double"] {
                let row = try #require(rows.first { $0.fftLength == n && $0.precision == precision }, "no row for n_fft \(n) \(precision)")
                #expect(row.allocations >= row.frames && row.frees == row.allocations,
                        "n_fft \(n) (\(precision)): \(row.allocations) allocations, \(row.frees) frees in \(row.frames) frames")
            }
        }
        #expect(status == 0, "meltap-bench --sweep-n-fft --check-allocations failed:\n\(output.suffix(3000))")
    }
}

/// `meltap run` refuses an n_fft that makes FFTW allocate on every frame before it touches JACK;
/// `meltap file` accepts it with a note.
@Suite(.serialized) struct RealtimeFFTSizeCommandTests {
    /// Runs the meltap binary (see `FileCommandTests.meltap`) where no JACK server can be reached:
    /// the default server name is one nobody uses, and JACK may not start one.
    static func meltapWithoutJack(_ arguments: [String]) throws -> FileCommandTests.Run {
        try FileCommandTests.meltap(arguments, environment: [
            "JACK_NO_START_SERVER": "1", "JACK_DEFAULT_SERVER": "meltap-no-such-server-\(getpid())"])
    }

    @Test func runRefusesAnAllocatingSizeWithoutJack() throws {
        // No server is running under this name and none may be started: had meltap reached JACK,
        // it would fail with a connection error instead of the n_fft message.
        let run = try Self.meltapWithoutJack(["run", "--n-fft", "2018", "--duration", "1"])
        #expect(run.status != 0, "meltap run --n-fft 2018 must fail")
        let text = run.stderr + run.stdout
        for part in ["n_fft 2018", "allocate", "2016 or 2024", "realtime"] {
            #expect(text.contains(part), "the refusal should mention \"\(part)\": \(text)")
        }
        #expect(!text.contains("No JACK server") && !text.contains("Cannot open a JACK client"),
                "meltap reached JACK before refusing: \(text)")
    }

    @Test func runAcceptsTheSuggestedSizesUntilJack() throws {
        // 2016 passes the check, so meltap goes on to JACK and fails there (no server).
        let run = try Self.meltapWithoutJack(["run", "--n-fft", "2016", "--duration", "1"])
        let text = run.stderr + run.stdout
        #expect(run.status != 0 && text.contains("JACK"), "expected a JACK connection error: \(text)")
        #expect(!text.contains("allocate memory on every frame"), "\(text)")
    }

    @Test func fileAcceptsAnAllocatingSizeWithANote() throws {
        let dir = try FileCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("signal.wav").path, out = dir.appendingPathComponent("out.npy").path
        try FileCommandTests.writeSignal(16000, to: wav)
        let run = try FileCommandTests.meltap(["file", wav, "-o", out, "--n-fft", "2018", "--n-mels", "40"])
        #expect(run.status == 0, "meltap file --n-fft 2018 failed: \(run.stderr)")
        let notes = run.stderr.split(separator: "\n").filter { $0.hasPrefix("note:") }
        #expect(notes.count == 1, "expected one note line: \(run.stderr)")
        let note = notes.first.map(String.init) ?? ""
        for part in ["n_fft 2018", "slower", "2016 and 2024"] {
            #expect(note.contains(part), "the note should mention \"\(part)\": \(note)")
        }
        #expect(FileManager.default.fileExists(atPath: out))
    }
}
