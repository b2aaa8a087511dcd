import ArgumentParser
import Foundation
import MelDSP
import MelFiles

struct FileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "file",
        abstract: "Compute mel features of an audio file and save them as a NumPy .npy file.",
        discussion: """
            meltap file reads WAV (16, 24 or 32-bit integer, or float), FLAC and Ogg Vorbis through libsndfile, \
            runs the same DSP core as the live client, and writes a float32 .npy array that numpy.load reads. \
            Beside it goes OUT.json, the fully resolved configuration, so the features can be reproduced.

            Shapes: one channel gives (frames, bands). With --all-channels the shape is (frames, channels, bands): \
            frame t of every channel sits in row t, channels in file order. "bands" is the frame width: n_mels, \
            n_mfcc for --output mfcc, plus one leading energy column with --use-energy.

            top_db (dB and MFCC output) and Whisper's clamp at the maximum minus 8 need the whole signal. By default \
            (--clamp global) they use the maximum over the file, exactly as the reference library does offline. \
            --clamp running uses the maximum so far instead, the causal rule of the live client, so the output \
            equals what meltap run sends for the same samples.

            The output is written to a temporary file and renamed at the end: if anything fails, nothing is left \
            behind and an existing OUT.npy is untouched.

            Examples:
              meltap file speech.wav -o speech.npy --preset whisper
              meltap file take.flac -o take.npy --preset kaldi --n-mels 80 --fmax=-400 --framing kaldi-no-snip
              meltap file stereo.wav -o both.npy --all-channels --output db
              meltap file take48k.wav -o take.npy --preset whisper --sample-rate 16000 --save-audio take16k.wav
            """)

    @Argument(help: "The audio file to read (WAV, FLAC or Ogg Vorbis).")
    var input: String

    @Option(name: [.short, .customLong("output-file")], help: "Where to write the features (.npy). The sidecar goes beside it with the extension .json.")
    var outputFile: String

    @OptionGroup(title: "Features") var dsp: DSPOptions

    @OptionGroup(title: "Sample rate") var resampling: ResampleOptions

    @Option(name: .customLong("save-audio"), help: ArgumentHelp(
        "Also write the samples the analysis saw as a WAV file at the analysis rate: after --sample-rate's resampling and --mono's mix, every analysed channel. 16-bit PCM for the micro preset (the int16 samples it analyses), 32-bit float otherwise, so that any reference library can be run on exactly these samples.",
        valueName: "path.wav"))
    var saveAudio: String?

    @Option(help: "Analyse only this channel of a multichannel file, 1 being the first.")
    var channel: Int?

    @Flag(name: .customLong("all-channels"), help: "Analyse every channel; the output gets shape (frames, channels, bands).")
    var allChannels = false

    @Flag(help: "Average all channels into one before analysis, as librosa.load(mono=True) does.")
    var mono = false

    @Option(help: "How top_db and Whisper's clamp are applied: global (the reference's offline result, the default) or running (the live client's causal rule).")
    var clamp: ClampRule = .deferredAlias

    @Flag(name: .customLong("no-progress"), help: "Do not draw a progress bar, even on a terminal.")
    var noProgress = false

    @Flag(help: "Replace an output file (the .npy or its .json sidecar) that already exists. Without it, meltap refuses to overwrite anything. A symbolic link at an output path is refused either way: meltap never writes through links.")
    var force = false

    func validate() throws {
        if [channel != nil, allChannels, mono].filter({ $0 }).count > 1 {
            throw ValidationError("Please choose one of --channel, --all-channels and --mono.")
        }
        if let channel, channel < 1 {
            throw ValidationError("Please give --channel as 1 or more (1 is the first channel); got \(channel).")
        }
        if !outputFile.hasSuffix(".npy") {
            throw ValidationError("Please give an output path ending in .npy (a NumPy array file); got '\(outputFile)'.")
        }
        if let saveAudio, !saveAudio.lowercased().hasSuffix(".wav") {
            throw ValidationError("Please give --save-audio a path ending in .wav; got '\(saveAudio)'.")
        }
    }

    func run() throws {
        do {
            try FileAnalysis(command: self).run()
        } catch let error as MelConfigurationError {
            throw CleanExit.failure(error.description)
        } catch let error as AudioFileError {
            throw CleanExit.failure(error.description)
        } catch let error as FeatureFileError {
            throw CleanExit.failure(error.description)
        }
    }
}

extension ClampRule: ExpressibleByArgument {
    /// On the command line the offline rule is called `global`.
    public init?(argument: String) {
        switch argument {
        case "global", "deferred": self = .deferred
        case "running": self = .running
        default: return nil
        }
    }

    public static var allValueStrings: [String] { ["global", "running"] }
    public var defaultValueDescription: String { self == .deferred ? "global" : "running" }
    static var deferredAlias: ClampRule { .deferred }
}

/// Exits with a message on standard error and status 1.
enum CleanExit {
    static func failure(_ message: String) -> ExitCode {
        printError("meltap: error: \(message)")
        return ExitCode.failure
    }
}
