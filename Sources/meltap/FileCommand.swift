import ArgumentParser
import Foundation
import MelDSP
import MelFiles
import MelPipeline

struct FileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "file",
        abstract: "Compute mel features of audio files and save them as NumPy .npy files, one file or a whole dataset.",
        discussion: """
            meltap file reads WAV (16, 24 or 32-bit integer, or float), FLAC, Ogg Vorbis and Opus, MP3, AIFF \
            and the other formats of libsndfile, \
            runs the same DSP core as the live client, and writes a float32 .npy array that numpy.load reads. \
            Beside it goes OUT.json, the fully resolved configuration, so the features can be reproduced.

            Shapes: one channel gives (frames, bands). With --all-channels the shape is (frames, channels, bands): \
            frame t of every channel sits in row t, channels in file order. "bands" is the frame width: n_mels, \
            n_mfcc for --features mfcc, n_fft/2 + 1 for --features spectrogram and spectrogram-db, plus one leading energy \
            column with --use-energy. --layout bands-first writes (bands, frames) or (channels, bands, frames) instead.

            top_db (dB and MFCC output) and Whisper's clamp at the maximum minus 8 need the whole signal. By default \
            (--clamp global) they use the maximum over the file, exactly as the reference library does offline. \
            --clamp running uses the maximum so far instead, the causal rule of the live client, so the output \
            equals what meltap run sends for the same samples.

            The output is written to a temporary file and renamed at the end: if anything fails, nothing is left \
            behind and an existing OUT.npy is untouched.

            Dataset mode: given several inputs or a directory, -o names an output directory (created if needed). \
            Directories are searched recursively for the files meltap file reads, by extension \
            (\(DatasetInputs.audioExtensions.sorted().map { "." + $0 }.joined(separator: " ")); hidden \
            files are skipped), and relative paths are mirrored: DIR/a/b.wav gives OUTDIR/a/b.npy and OUTDIR/a/b.json. \
            --jobs files are analysed at once (default: one per core). On a terminal one line shows the files done, \
            hours of audio per second and the time left. A file that fails does not stop the others; the summary at \
            the end lists every failure with its reason, and the exit status is 1 if any file failed. Running the same \
            command again skips every file whose .npy and .json are complete and newer than the audio, and redoes the \
            rest: a run stopped by Ctrl-C, SIGKILL or a power cut leaves no partial .npy, only hidden temporary files \
            that the next run removes. --force analyses everything again. A complete output made with other settings \
            is reported as a failure rather than mixed in; use --force or another directory. Manifest lines follow the \
            sorted input list (by relative path), so two runs over the same files write the same manifest.

            Several machines: --shard K/N analyses only shard K of N (K from 1 to N): item i (from 0) of the sorted \
            input list belongs to shard i mod N + 1, so N processes given the same inputs, -o and flags share the \
            work with no coordination and together write exactly the files of one unsharded run. \
            --shard auto takes K and N from a Slurm job array (SLURM_ARRAY_TASK_ID minus SLURM_ARRAY_TASK_MIN, over \
            SLURM_ARRAY_TASK_STEP, plus 1; N is SLURM_ARRAY_TASK_COUNT). --shard auto/N takes K from a Slurm job array \
            or from a Kubernetes Indexed Job's JOB_COMPLETION_INDEX (0-based, so K is the index plus 1), and N from \
            the flag, since Kubernetes does not tell a pod the number of completions. Standard error says which shard \
            was taken and from where. Without --manifest, each shard writes OUTDIR/manifest.shard-K-of-N.jsonl; \
            meltap merge-manifests joins them into the manifest an unsharded run writes.

            Examples:
              meltap file speech.wav -o speech.npy --preset whisper
              meltap file take.flac -o take.npy --preset kaldi --n-mels 80 --fmax=-400 --framing kaldi-no-snip
              meltap file stereo.wav -o both.npy --all-channels --features db
              meltap file take48k.wav -o take.npy --preset whisper --sample-rate 16000 --save-audio take16k.wav
              meltap file corpus/ -o feats/ --preset whisper --jobs 8 --manifest feats/manifest.jsonl
              meltap file a.wav b.flac -o feats/ --preset kaldi --n-mels 80
              meltap file corpus/ -o feats/ --preset whisper --shard 2/4
              meltap merge-manifests feats/manifest.shard-*.jsonl -o feats/manifest.jsonl
            """)

    @Argument(help: ArgumentHelp(
        "The audio file to read (WAV, FLAC, Ogg Vorbis or Opus, MP3, AIFF …). Several files, or directories, analyse a dataset into the output directory -o.",
        valueName: "input"))
    var inputs: [String] = []

    /// `-o, --output`: one value, the output path. Before 0.2, `--output KIND` was the feature
    /// type (now `--features`); an array keeps both values of `-o OUT --output KIND` so that the
    /// old spelling still works for this version (`outputs()`).
    @Option(name: [.short, .long], help: ArgumentHelp(
        "Where to write the features (required): a .npy file for one input (the sidecar goes beside it with the extension .json), or a directory for several inputs or a directory of them. The feature type is --features.",
        valueName: "out.npy | outdir"))
    var output: [String] = []

    /// The old spelling of `-o` (before 0.2).
    @Option(name: .customLong("output-file"), help: .hidden)
    var outputFile: String?

    @Option(help: ArgumentHelp(
        "Dataset mode: how many files to analyse at once, one thread each. The default is the number of cores.",
        valueName: "n"))
    var jobs: Int?

    @Option(help: ArgumentHelp(
        "Dataset mode: also write a JSON-lines manifest here, one line per file with complete features: path (the .npy), input, frames, seconds of audio and configHash (a fingerprint of the resolved configuration).",
        valueName: "path.jsonl"))
    var manifest: String?

    @Option(help: ArgumentHelp(
        "Dataset mode: analyse only shard K of N of the sorted inputs (K from 1 to N), or take the shard from a Slurm job array (auto) or from a Slurm array or Kubernetes Indexed Job of N (auto/N). See the discussion below.",
        valueName: "K/N | auto | auto/N"))
    var shard: String?

    @OptionGroup(title: "Features") var dsp: DSPOptions

    @OptionGroup(title: "Sample rate") var resampling: ResampleOptions

    @Option(name: .customLong("save-audio"), help: ArgumentHelp(
        "Also write the samples the analysis saw as a WAV file at the analysis rate: after --sample-rate's resampling and --mono's mix, every analysed channel. 16-bit PCM for the micro and openwakeword presets (the int16 samples they analyse), 32-bit float otherwise, so that any reference library can be run on exactly these samples.",
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

    @Option(help: ArgumentHelp(
        "The order of the array's axes. frames-first (the default): (frames, bands), or (frames, channels, bands) with --all-channels, one row per frame; torch.from_numpy(x).unsqueeze(0) gives (1, frames, bands). bands-first: (bands, frames), or (channels, bands, frames), as librosa returns features; torch.from_numpy(x).unsqueeze(0) gives (1, bands, frames), the (batch, n_mels, time) input of a CNN, and (1, channels, bands, frames) with --all-channels. The sidecar's axisOrder key records it.",
        valueName: "frames-first|bands-first"))
    var layout: FeatureAxisOrder = .framesFirst

    @Flag(name: .customLong("no-progress"), help: "Do not draw a progress bar (dataset mode: the progress line), even on a terminal.")
    var noProgress = false

    @Flag(help: "Replace an output file (the .npy or its .json sidecar) that already exists. Without it, meltap refuses to overwrite anything. A symbolic link at an output path is refused either way: meltap never writes through links. In dataset mode, analyse every file again instead of skipping complete outputs (outputs older than their audio, or incomplete, are redone without it).")
    var force = false

    /// Several inputs, or a directory: `-o` is an output directory.
    var isDataset: Bool { DatasetInputs.isDataset(inputs) }

    /// The output path, and a feature type given with the old spelling `--output KIND`
    /// (`-o OUT.npy --output db`, or `--output-file OUT.npy --output db`).
    func outputs() throws -> (path: String, legacyFeatures: OutputKind?) {
        var paths = output + (outputFile.map { [$0] } ?? [])
        var legacyFeatures: OutputKind?
        if paths.count > 1, let index = paths.firstIndex(where: { OutputKind(rawValue: $0) != nil }),
           paths.filter({ OutputKind(rawValue: $0) != nil }).count == 1 {
            legacyFeatures = OutputKind(rawValue: paths.remove(at: index))
        }
        guard let path = paths.first else {
            throw ValidationError("Please give the output path with -o, e.g. meltap file speech.wav -o speech.npy (or -o OUTDIR for several files or a directory).")
        }
        guard paths.count == 1 else {
            throw ValidationError("Please give one output path; got \(paths.map { "'\($0)'" }.joined(separator: " and ")). (The feature type is --features.)")
        }
        return (path, legacyFeatures)
    }

    /// The output path (`-o`); valid after `validate()`.
    var outputPath: String { (try? outputs().path) ?? "" }

    /// Notes on standard error for the old spellings used.
    func printDeprecations() {
        if outputFile != nil { printDeprecation("--output-file", instead: "-o or --output") }
        if let legacy = try? outputs().legacyFeatures {
            printDeprecation("--output \(legacy.rawValue) for the feature type", instead: "--features \(legacy.rawValue)",
                             because: "--output now names the output path, as -o does.")
        }
    }

    func validate() throws {
        if inputs.isEmpty {
            throw ValidationError("Please give the audio file to analyse, e.g. meltap file speech.wav -o speech.npy (or several files or a directory with -o OUTDIR).")
        }
        let outputFile = try outputs().path
        if let jobs, jobs < 1 {
            throw ValidationError("Please give --jobs as 1 or more; got \(jobs).")
        }
        if isDataset {
            if outputFile.hasSuffix(".npy") {
                throw ValidationError("Please give -o an output directory when analysing several files or a directory; got '\(outputFile)', which looks like a .npy file.")
            }
            if saveAudio != nil {
                throw ValidationError("Please use --save-audio with a single input file: it names one WAV file.")
            }
            try validateChannels()
            return
        }
        if jobs != nil || manifest != nil {
            throw ValidationError("Please use --jobs and --manifest with several inputs or a directory (dataset mode); for one file they have no use.")
        }
        if shard != nil {
            throw ValidationError("Please use --shard with several inputs or a directory (dataset mode): it splits a dataset between processes.")
        }
        try validateChannels()
        if !outputFile.hasSuffix(".npy") {
            throw ValidationError("Please give an output path ending in .npy (a NumPy array file); got '\(outputFile)'.")
        }
        if let saveAudio, !saveAudio.lowercased().hasSuffix(".wav") {
            throw ValidationError("Please give --save-audio a path ending in .wav; got '\(saveAudio)'.")
        }
    }

    private func validateChannels() throws {
        if [channel != nil, allChannels, mono].filter({ $0 }).count > 1 {
            throw ValidationError("Please choose one of --channel, --all-channels and --mono.")
        }
        if let channel, channel < 1 {
            throw ValidationError("Please give --channel as 1 or more (1 is the first channel); got \(channel).")
        }
    }

    /// The flags as the offline driver's options.
    /// - Throws: `ValidationError` for a --db-ref or --top-db it cannot read.
    func analysisOptions() throws -> FileAnalysisOptions {
        let channels: ChannelSelection = allChannels ? .all : channel.map { .channel($0) } ?? (mono ? .average : .only)
        return FileAnalysisOptions(
            preset: dsp.preset, overrides: try dsp.overrides(legacyFeatures: outputs().legacyFeatures), sampleRate: resampling.sampleRate.map(Double.init),
            resampler: resampling.resampler, channels: channels, clamp: clamp, layout: layout, saveAudioPath: saveAudio)
    }

    func run() throws {
        printDeprecations()
        if isDataset { return try runDataset() }
        let started = Date()
        let analyzer = FileAnalyzer(options: try analysisOptions(), report: { printError($0) })
        let result: FileAnalysisResult
        do {
            result = try analyzer.analyse(inputs[0], into: outputPath, existing: force ? .replace : .refuse,
                                          progress: noProgress ? nil : FileProgressBar())
        } catch let error as MelConfigurationError {
            throw CleanExit.failure(error.description)
        } catch let error as AudioFileError {
            throw CleanExit.failure(error.description)
        } catch let error as FeatureFileError {
            throw CleanExit.failure(error.description)
        }
        print(result.report(seconds: Date().timeIntervalSince(started)))
    }
}

extension ClampRule: ExpressibleByArgument {
    /// On the command line the offline rule is called `global` (`ClampRule.userName`).
    public init?(argument: String) { self.init(userName: argument) }
    public static var allValueStrings: [String] { userNames }
    public var defaultValueDescription: String { userName }
    static var deferredAlias: ClampRule { .deferred }
}

/// Exits with a message on standard error and status 1.
enum CleanExit {
    static func failure(_ message: String) -> ExitCode {
        printError("meltap: error: \(message)")
        return ExitCode.failure
    }
}

// MARK: - Dataset mode

extension FileCommand {
    /// `meltap file INPUT… -o OUTDIR`: finds the files, runs `DatasetRunner`, prints the summary,
    /// and exits with status 1 if any file failed or the run was stopped.
    func runDataset() throws {
        let items: [DatasetItem]
        do {
            items = try DatasetInputs.discover(inputs, outputDirectory: outputPath)
        } catch let error as PipelineError {
            throw CleanExit.failure(error.description)
        }
        guard !items.isEmpty else {
            throw CleanExit.failure("No audio files found in \(inputs.joined(separator: ", ")): meltap looks for the extensions meltap file reads (\(DatasetInputs.audioExtensions.sorted().joined(separator: ", "))). Check the directory, or name the files.")
        }
        let environment = ProcessInfo.processInfo.environment
        var manifest = self.manifest
        let resolved: ResolvedShard?
        do {
            resolved = try shard.map { try DatasetShard.resolve($0, environment: environment) }
        } catch let error as PipelineError {
            throw CleanExit.failure(error.description)
        }
        if let resolved {
            manifest = manifest ?? (outputPath as NSString).appendingPathComponent(resolved.shard.manifestName)
            printError("meltap: shard \(resolved.shard) (from \(resolved.source)): \(resolved.shard.select(items).count) of \(items.count) files.")
        } else if let task = environment["SLURM_ARRAY_TASK_ID"] {
            printError("meltap: note: this is task \(task) of a Slurm job array, but every file is analysed. Add --shard auto to analyse only this task's share.")
        }
        HeapRetention.keepFreedMemory()
        // One analyzer for every file: it resolves the configuration once per analysis rate, and
        // prints each warning or note once per run.
        let analyzer = FileAnalyzer(options: try analysisOptions(), report: { printError($0) })
        let runner = DatasetRunner(
            items: items, outputDirectory: outputPath,
            options: DatasetOptions(jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount, force: force,
                                    manifestPath: manifest, showProgress: !noProgress, shard: resolved?.shard),
            analyzer: analyzer)
        let summary: DatasetSummary
        do {
            summary = try runner.run()
        } catch let error as PipelineError {
            throw CleanExit.failure(error.description)
        }
        print(summary.report)
        summary.failureLines.forEach { printError($0) }
        if let message = summary.failureMessage { throw CleanExit.failure(message) }
    }
}
