import ArgumentParser
import Foundation
import MelDSP
import MelFiles

extension FeatureAxisOrder: ExpressibleByArgument {}

/// `meltap invert FEATURES.npy -o AUDIO.wav`: features back to sound (`FeatureInversion`).
struct InvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invert",
        abstract: "Turn a feature file back into audio (mel or spectrogram → WAV), as librosa's mel_to_audio does.",
        discussion: """
            meltap invert reads a .npy that meltap file or meltap record wrote and the .json sidecar beside it, \
            which says how the features were made. It undoes the output stage (dB, Whisper's scaling, the natural \
            log) to mel power or magnitude, turns the mel bands into a linear spectrum by non-negative least squares \
            against the same mel bank, and recovers the phase with Griffin-Lim (momentum 0.99, random initial phases \
            drawn from --seed), as librosa.feature.inverse.mel_to_audio does. A spectrogram output skips the least \
            squares. The result is a 32-bit float WAV at the analysis rate, one channel per channel of the features.

            The same file, --n-iter and --seed always give the same audio. Griffin-Lim recovers the sound, not the \
            waveform: phase is estimated, and what the features never held (detail between mel bands, level below \
            top_db, the level itself with --db-ref max or min) does not come back.

            Not invertible: MFCC (only the first coefficients of the dB bands are kept), PCEN (its per-band gain \
            history is not stored), the micro preset (noise reduction and gain control state) and the kaldi preset \
            (frames are pre-emphasised and DC-removed one by one). Invert a power or db file of the same audio.

            After writing, meltap analyses the WAV again with the same settings and prints the spectral \
            convergence ||S - S'|| / ||S|| of the features (0 is a perfect match).

            Examples:
              meltap file speech.wav -o speech.npy --features db
              meltap invert speech.npy -o speech-gl.wav
              meltap invert speech.npy -o speech-gl.wav --n-iter 100 --seed 7 --force
            """)

    @Argument(help: "The feature file (.npy) to invert; its sidecar (.json) must be beside it.")
    var features: String

    @Option(name: [.short, .long], help: ArgumentHelp("Where to write the audio (.wav; required).", valueName: "audio.wav"))
    var output: String?

    /// The old spelling of `-o` (before 0.2).
    @Option(name: .customLong("output-file"), help: .hidden)
    var legacyOutputFile: String?

    /// The output path (`-o`, or the old `--output-file`); valid after `validate()`.
    var outputFile: String { output ?? legacyOutputFile ?? "" }

    @Option(name: .customLong("n-iter"), help: "Griffin-Lim iterations. More give a closer match and take longer; librosa's default is 32.")
    var iterations: Int = 32

    @Option(help: "Seed of the random initial phases. The same seed gives the same audio.")
    var seed: UInt64 = 0

    @Flag(name: .customLong("no-progress"), help: "Do not draw a progress bar, even on a terminal.")
    var noProgress = false

    @Flag(help: "Replace the output file if it exists. Without it, meltap refuses to overwrite anything. A symbolic link at the output path is refused either way.")
    var force = false

    func validate() throws {
        if output != nil && legacyOutputFile != nil {
            throw ValidationError("Please give the output path once, with -o.")
        }
        if output == nil && legacyOutputFile == nil {
            throw ValidationError("Please give the audio file to write with -o, e.g. -o speech.wav.")
        }
        if !outputFile.lowercased().hasSuffix(".wav") {
            throw ValidationError("Please give an output path ending in .wav; got '\(outputFile)'.")
        }
        if !(1...10_000).contains(iterations) {
            throw ValidationError("Please give --n-iter from 1 to 10000; got \(iterations).")
        }
        if !features.hasSuffix(".npy") {
            throw ValidationError("Please give the .npy feature file that meltap file or meltap record wrote; got '\(features)'.")
        }
    }

    func run() throws {
        if legacyOutputFile != nil { printDeprecation("--output-file", instead: "-o or --output") }
        do {
            try invert()
        } catch let error as InversionError {
            throw CleanExit.failure("cannot invert \(features): \(error.description)")
        } catch let error as SidecarReadError {
            throw CleanExit.failure(error.description)
        } catch let error as NpyFormatError {
            throw CleanExit.failure("Cannot read \(features): \(error.description)")
        } catch let error as AudioFileError {
            throw CleanExit.failure(error.description)
        } catch let error as FeatureFileError {
            throw CleanExit.failure(error.description)
        } catch let error as MelConfigurationError {
            throw CleanExit.failure(error.description)
        }
    }

    private func invert() throws {
        let started = Date()
        let existing: ExistingOutput = force ? .replace : .refuse
        try OutputPath.check(outputFile, existing: existing)  // refuse before any work
        let sidecarPath = Sidecar.path(forFeatureFile: features)
        guard FileManager.default.fileExists(atPath: sidecarPath) else {
            throw InversionError("its sidecar \(sidecarPath) is missing, and without it meltap does not know how the "
                                 + "features were made. Keep the .json that meltap wrote beside the .npy.")
        }
        let sidecar = try FeatureSidecar.read(path: sidecarPath)
        let configuration: MelConfiguration
        do {
            configuration = try sidecar.configuration.decode(MelConfiguration.self)
        } catch {
            throw InversionError("the sidecar's configuration is not one this meltap understands (\(error)). "
                                 + "Invert it with the meltap version that wrote it.")
        }
        let inversion = try FeatureInversion(configuration: configuration)
        let array = try NpyArray.load(path: features)
        let channels = sidecar.rowShape.count == 2 ? sidecar.rowShape[0] : 1
        let width = sidecar.rowShape.last ?? 0
        guard width == inversion.frameWidth, array.count % max(1, width * channels) == 0 else {
            throw InversionError("the array's shape \(array.shape) does not match its sidecar (rows of \(sidecar.rowShape), "
                                 + "\(inversion.frameWidth) values per frame). Was the .npy replaced after it was written?")
        }
        let frames = array.count / (width * channels)
        guard frames >= 2 else {
            throw InversionError("it holds \(frames) frame(s); Griffin-Lim needs at least 2.")
        }
        let order = sidecar.axisOrder ?? .framesFirst
        let values = order.framesFirst(array.values, frames: frames, channels: channels, bands: width)

        let progress = InversionProgress(enabled: !noProgress, total: channels * iterations)
        var audio: [[Float]] = []
        var convergence: [Double] = []
        for c in 0..<channels {
            var single = [Float](repeating: 0, count: frames * width)
            for t in 0..<frames {
                for b in 0..<width { single[t * width + b] = values[(t * channels + c) * width + b] }
            }
            let samples = inversion.audio(features: single, iterations: iterations, seed: seed &+ UInt64(c)) { done, _ in
                progress.update(c * iterations + done)
            }
            audio.append(samples)
            convergence.append(try inversion.spectralConvergence(audio: samples, features: single))
        }
        progress.finish()

        let length = audio[0].count
        var interleaved = [Float](repeating: 0, count: length * channels)
        var clipped = 0
        for c in 0..<channels {
            for i in 0..<length {
                interleaved[i * channels + c] = audio[c][i]
                if abs(audio[c][i]) > 1 { clipped += 1 }
            }
        }
        let writer = try AudioFileWriter(path: outputFile, sampleRate: Int(configuration.sampleRate.rounded()),
                                         channelCount: channels, format: .wavFloat, existing: existing)
        do {
            try writer.write(interleaved: interleaved)
            try writer.close()
        } catch {
            try? writer.close()
            try? FileManager.default.removeItem(atPath: outputFile)  // never leave half a file
            throw error
        }
        let seconds = Date().timeIntervalSince(started)
        print("Wrote \(outputFile): \(length) samples × \(channels) channel(s), float32 WAV at "
              + "\(Int(configuration.sampleRate)) Hz (\(String(format: "%.2f", Double(length) / configuration.sampleRate)) s), "
              + "from \(frames) frames of \(configuration.output.rawValue) output in \(String(format: "%.2f", seconds)) s "
              + "(\(iterations) Griffin-Lim iterations, seed \(seed)). Spectral convergence "
              + convergence.map { String(format: "%.4f", $0) }.joined(separator: ", ") + ".")
        if configuration.dbReference == .max || configuration.dbReference == .min {
            printError("note: the features are in dB relative to the signal's \(configuration.dbReference!.rawValue), which "
                       + "the file does not keep; the audio's level is relative to 1 instead.")
        }
        if clipped > 0 {
            printError("note: \(clipped) samples are beyond ±1 (the float WAV keeps them); scale the audio down before "
                       + "converting it to integer PCM.")
        }
    }
}

/// A progress bar on standard error over Griffin-Lim iterations, drawn only on a terminal.
final class InversionProgress {
    private let enabled: Bool
    private let total: Int
    private var lastDrawn = Date.distantPast

    init(enabled: Bool, total: Int) {
        self.enabled = enabled && isatty(STDERR_FILENO) == 1
        self.total = total
    }

    func update(_ done: Int) {
        guard enabled, Date().timeIntervalSince(lastDrawn) > 0.1 || done == total else { return }
        lastDrawn = Date()
        let fraction = min(1, Double(done) / Double(max(1, total)))
        let filled = Int(fraction * 30)
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: 30 - filled)
        FileHandle.standardError.write(Data(String(format: "\r%@ %3.0f%%  Griffin-Lim iteration %d of %d", bar,
                                                   fraction * 100, done, total).utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
