// The offline driver: an audio file in, a .npy and its sidecar out.

import Foundation
import MelDSP
import MelFiles
import MelResample
import Synchronization

/// Analyses audio files into `.npy` feature files with their sidecars, as `meltap file` does.
///
/// The same `process` path as the live client: blocks of samples in, frames out. When the input
/// runs at another rate than the analysis, each channel's blocks go through the same `Resampler`
/// the JACK callback uses, block by block, and its tail is flushed at the end of the file. The
/// `.npy` goes to a temporary file that is renamed only when everything succeeded; on any failure
/// nothing of this file's outputs is left.
///
/// One analyzer serves any number of files, on any threads at once (dataset mode runs one per
/// worker): every `analyse` call owns its `MelAnalyzer`s, buffers and writers. The configuration
/// is resolved once per analysis rate and kept.
///
///     let analyzer = FileAnalyzer(options: FileAnalysisOptions(preset: .whisper))
///     let result = try analyzer.analyse("speech.wav", into: "speech.npy")
public final class FileAnalyzer: Sendable {
    public let options: FileAnalysisOptions
    /// Receives each warning and note about the configuration ("warning: …", "note: …") once.
    private let report: @Sendable (String) -> Void
    /// Per analysis rate, the configuration and its sidecar JSON; and the messages reported.
    private let resolved = Mutex<(configurations: [Double: Resolved], reported: Set<String>)>(([:], []))
    /// Per analysis rate, analyzers of finished analyses, reset, for the next file: a dataset run
    /// plans FFTW, builds the mel bank and allocates once per worker and channel instead of once
    /// per file (≈ 3 % of the CPU time of a run of 10 s files). At most one per channel of the
    /// analyses that ran at once. `MelAnalyzer.reset()` returns an analyzer to the state `init` leaves it in, and the
    /// FFT plan is the one a new analyzer would build (`RealFFT`: the same plan for the same
    /// length in every process), so a reused analyzer gives the same bits as a new one.
    private let spareAnalyzers = Mutex<[Double: [MelAnalyzer]]>([:])

    /// Sample frames read per block (per channel).
    public static let blockLength = 4096

    /// - Parameter report: receives each distinct warning (empty mel bands) and note (an n_fft
    ///   FFTW plans slowly) about the resolved configuration, once; `meltap file` prints them on
    ///   standard error. Called on the analysing thread.
    public init(options: FileAnalysisOptions, report: @escaping @Sendable (String) -> Void = { _ in }) {
        self.options = options
        self.report = report
    }

    private struct Resolved: Sendable {
        var configuration: MelConfiguration
        var json: JSONValue
        /// `json` as sidecar text, encoded once (`FeatureSidecar.ConfigurationText`).
        var sidecarText: FeatureSidecar.ConfigurationText
    }

    /// The configuration at `analysisRate` Hz, resolved on first use; reports its warnings.
    private func resolve(analysisRate: Double) throws -> Resolved {
        if let known = resolved.withLock({ $0.configurations[analysisRate] }) { return known }
        let configuration = try options.configuration(analysisRate: analysisRate)
        var messages: [String] = []
        if let warning = configuration.emptyBandWarning { messages.append("warning: \(warning)") }
        if let note = configuration.fftAllocationNote { messages.append("note: \(note)") }
        for message in messages where resolved.withLock({ $0.reported.insert(message).inserted }) {
            report(message)
        }
        guard let json = try? JSONValue(encoding: configuration) else {
            throw FeatureFileError(message: "Cannot encode the configuration as JSON for the sidecar. This is a bug in meltap; please report it.")
        }
        let entry = Resolved(configuration: configuration, json: json,
                             sidecarText: FeatureSidecar.ConfigurationText(configuration: json))
        resolved.withLock { $0.configurations[analysisRate] = entry }
        return entry
    }

    /// `count` analyzers for `configuration`: spare ones first (reset when they were returned),
    /// new ones for the rest.
    private func takeAnalyzers(_ count: Int, analysisRate: Double,
                               configuration: MelConfiguration) throws -> [MelAnalyzer] {
        var analyzers = spareAnalyzers.withLock { spare -> [MelAnalyzer] in
            let taken = Array((spare[analysisRate] ?? []).suffix(count))
            spare[analysisRate]?.removeLast(taken.count)
            return taken
        }
        while analyzers.count < count {
            analyzers.append(try MelAnalyzer(configuration: configuration, clampRule: options.clamp))
        }
        return analyzers
    }

    /// Resets `analyzers` and keeps them for the next file at `analysisRate` (the micro preset's
    /// are dropped: its frontend is not pooled).
    private func returnAnalyzers(_ analyzers: [MelAnalyzer], analysisRate: Double) {
        guard let first = analyzers.first, first.configuration.filterbank != .micro else { return }
        for analyzer in analyzers { analyzer.reset() }
        spareAnalyzers.withLock { $0[analysisRate, default: []].append(contentsOf: analyzers) }
    }

    /// Analyses `input` into `featurePath` (a `.npy`) and its sidecar beside it
    /// (`Sidecar.path(forFeatureFile:)`), and `options.saveAudioPath` if set.
    ///
    /// - Parameters:
    ///   - existing: whether outputs already there may be replaced; refused before any work.
    ///   - progress: told of the reading, on this thread; nil for none.
    ///   - isCancelled: polled once per block; true abandons the file (its outputs are removed)
    ///     and throws `CancellationError`.
    /// - Throws: `MelConfigurationError` (the options, the channels, an empty input),
    ///   `AudioFileError` (the input), `FeatureFileError` (the outputs); each message says what to do.
    @discardableResult
    public func analyse(_ input: String, into featurePath: String, existing: ExistingOutput = .refuse,
                        progress: FileAnalysisProgress? = nil,
                        isCancelled: () -> Bool = { false }) throws -> FileAnalysisResult {
        let sidecarPath = Sidecar.path(forFeatureFile: featurePath)
        try OutputPath.check(featurePath, existing: existing)  // refuse before any work
        try OutputPath.check(sidecarPath, existing: existing)
        if let saveAudio = options.saveAudioPath { try OutputPath.check(saveAudio, existing: existing) }
        let reader = try AudioFileReader(path: input)
        return try drive(reader, name: input, featurePath: featurePath, existing: existing, progress: progress,
                         isCancelled: isCancelled) { run, rows in
            let sidecar = FeatureSidecar.fileAnalysis(
                stream: run.stream, options: options, input: input, reader: reader, sampleFrames: run.samplesRead,
                configurationJSON: run.resolved.json, rowShape: rows.rowShape, frames: run.frames)
            do {
                try sidecar.write(to: sidecarPath, existing: existing, cache: run.resolved.sidecarText)
            } catch {
                try? FileManager.default.removeItem(atPath: featurePath)  // the file finish() just moved there
                throw error
            }
            return FileAnalysisResult(
                featurePath: featurePath, sidecarPath: sidecarPath, audioPath: options.saveAudioPath,
                shape: rows.shape(frames: run.frames), frames: run.frames,
                analysisRate: run.analysisRate, inputRate: run.inputRate, resampler: run.resampler,
                audioSeconds: Double(run.samplesRead) / run.inputRate, configuration: run.resolved.configuration,
                stream: run.stream, sidecar: sidecar)
        }
    }

    /// Analyses samples in memory exactly as `analyse(_:into:)` analyses a file holding them
    /// (the same blocks, resampler, analyzers, clamp and layout; a float WAV of `samples` gives
    /// the same bits), with no file written: the array is returned.
    ///
    /// - Parameters:
    ///   - samples: interleaved, `channelCount` per sample frame, at `sampleRate` Hz (-1 to 1).
    ///     Borrowed for the call only.
    ///   - name: names the signal in error messages ("the signal has 2 channels …").
    /// - Throws: as `analyse(_:into:)`: the options, the channels, no samples.
    public func analyse(samples: UnsafeBufferPointer<Float>, channelCount: Int = 1, sampleRate: Double,
                        name: String = "the signal", rejectingNonFinite: Bool = false) throws -> AnalysedSamples {
        let source = MemorySampleSource(samples: samples, channelCount: channelCount, sampleRate: sampleRate,
                                        rejectsNonFinite: rejectingNonFinite)
        return try drive(source, name: name, featurePath: nil, existing: .refuse, progress: nil,
                         isCancelled: { false }) { run, rows in
            AnalysedSamples(shape: rows.shape(frames: run.frames), values: rows.keptRows, analysisRate: run.analysisRate,
                            configuration: run.resolved.configuration, configurationJSON: run.resolved.json,
                            stream: run.stream)
        }
    }

    /// How `drive` ran, for its caller's sidecar and result.
    private struct Run {
        var frames: Int
        var samplesRead: Int64
        var inputRate: Double
        var analysisRate: Double
        var resolved: Resolved
        /// nil when the input was at the analysis rate.
        var resampler: ResamplerQuality?
        var stream: StreamDescription
    }

    /// The driver: reads `reader` block by block, resamples and analyses each channel, writes the
    /// rows (to `featurePath`, or keeps them when nil) and finishes them; then `complete` makes
    /// the result. Nothing of the outputs is left when anything, `complete` included, throws.
    private func drive<Source: SampleSource, Result>(
        _ reader: Source, name input: String, featurePath: String?, existing: ExistingOutput,
        progress: FileAnalysisProgress?, isCancelled: () -> Bool,
        complete: (Run, RowWriter) throws -> Result
    ) throws -> Result {
        let inputRate = reader.sampleRate
        let analysisRate = options.analysisRate(inputRate: inputRate)
        let resolved = try resolve(analysisRate: analysisRate)
        let configuration = resolved.configuration
        let channelCount = reader.channelCount
        let channels = try options.channels.sources(channelCount: channelCount, input: input)
        let extractor = ChannelExtractor(channelCount: channelCount,
                                         mixesDown: options.channels.mixesDown(channelCount: channelCount))
        let analyzers = try takeAnalyzers(channels.count, analysisRate: analysisRate, configuration: configuration)
        defer { returnAnalyzers(analyzers, analysisRate: analysisRate) }
        // One resampler per analysed channel, nil when the input is at the analysis rate already.
        let resamplers = try channels.map { _ in try options.makeResampler(inputRate: inputRate) }
        let resampling = resamplers.first ?? nil
        let width = analyzers[0].frameWidth
        let expectedFrames = reader.frameCount > 0 && reader.frameCount < Int64(Int32.max)
            ? Int(Double(reader.frameCount) * analysisRate / inputRate / Double(configuration.hopLength)) : nil
        let resampledCapacity = resampling.map {
            max($0.outputCapacity(forInputCount: Self.blockLength), $0.flushCapacity)
        } ?? 1
        // The most frames one piece (`MelAnalyzer.processFrames`) can complete: one per hop of the
        // longest piece, and one more.
        let pieceFrames = max(Self.blockLength, resampledCapacity) / configuration.hopLength + 2
        // Kept rows are reserved for the expected frames plus one piece's worth: the last piece
        // asks for room for `pieceFrames` rows, and a reservation without that slack would be
        // regrown (and copied whole) for it.
        let rows = try RowWriter(path: featurePath, existing: existing, configuration: configuration,
                                 clamp: options.clamp, layout: options.layout, channelCount: channels.count,
                                 keepsChannelAxis: options.channels.keepsChannelAxis, frameWidth: width,
                                 expectedFrames: expectedFrames.map { $0 + pieceFrames })
        var succeeded = false
        defer { if !succeeded { rows.discard() } }
        var interleaver = FrameInterleaver(channelCount: channels.count, frameWidth: width)

        progress?.started(totalSamples: reader.frameCount, sampleRate: inputRate)
        // Read buffers, owned here, reused for every block.
        let interleaved = UnsafeMutablePointer<Float>.allocate(capacity: Self.blockLength * channelCount)
        let block = UnsafeMutablePointer<Float>.allocate(capacity: Self.blockLength)
        let resampled = UnsafeMutablePointer<Float>.allocate(capacity: resampledCapacity)
        // The frames of one piece (or one tail frame) when they do not go straight into the kept rows.
        let pieceRows = UnsafeMutablePointer<Float>.allocate(capacity: pieceFrames * width)
        defer { interleaved.deallocate(); block.deallocate(); resampled.deallocate(); pieceRows.deallocate() }
        var samplesRead: Int64 = 0

        let audioOut = try options.saveAudioPath.map {
            try AnalysedAudioWriter(path: $0, sampleRate: Int(analysisRate), channelCount: channels.count,
                                    int16: configuration.analysesInt16Samples, existing: existing)
        }
        defer { if !succeeded { audioOut?.discard() } }

        // One channel whose rows are all kept (in memory, or for the deferred clamp): the
        // analyzer writes each frame straight into the next row, with no copies through
        // `pieceRows` and the interleaver (a frame is its row then).
        let inPlace = channels.count == 1 ? rows.rowsInPlace : nil
        /// Where the analyzer writes its next `frames` frames: the next kept rows, or `pieceRows`.
        func target(frames: Int) -> UnsafeMutablePointer<Float> { inPlace?.nextRow(width: frames * width) ?? pieceRows }
        /// Keeps the `frames` frames of channel `c` the analyzer just wrote to `target`.
        func keep(_ c: Int, frames: Int) {
            if let inPlace { inPlace.commitRow(width: frames * width); return }
            for f in 0..<frames {
                interleaver.append(UnsafeBufferPointer(start: pieceRows + f * width, count: width), channel: c)
            }
        }
        /// Feeds `count` analysis-rate samples of channel `c` to its analyzer, keeping its frames:
        /// every frame of the piece at once (`processFrames`), into consecutive rows.
        func analyse(_ c: Int, _ samples: UnsafePointer<Float>, _ count: Int) {
            audioOut?.append(UnsafeBufferPointer(start: samples, count: count), channel: c)
            let analyzer = analyzers[c]
            var offset = 0
            while offset < count {
                let piece = UnsafeBufferPointer(start: samples + offset, count: count - offset)
                let room = min(pieceFrames, piece.count / configuration.hopLength + 2)
                let done = analyzer.processFrames(piece, into: target(frames: room), maxFrames: room)
                offset += done.consumed
                keep(c, frames: done.frames)
            }
        }
        while true {
            if isCancelled() { throw CancellationError() }
            // Samples in memory are read where they are; a file's are read into `interleaved`.
            let n: Int
            var sourceBlock = UnsafePointer(interleaved)
            if let borrowed = try reader.borrow(frames: Self.blockLength) {
                n = borrowed.frames
                sourceBlock = borrowed.samples
            } else {
                n = try reader.read(into: interleaved, frames: Self.blockLength)
            }
            if n == 0 { break }
            samplesRead += Int64(n)
            for (c, source) in channels.enumerated() {
                let samples = extractor.samples(of: source, in: sourceBlock, count: n, scratch: block)
                if let resampler = resamplers[c] {
                    let produced = resampler.process(UnsafeBufferPointer(start: samples, count: n), into: resampled,
                                                     capacity: resampledCapacity)
                    analyse(c, resampled, produced)
                } else {
                    analyse(c, samples, n)
                }
            }
            try audioOut?.writeComplete()
            try interleaver.takeRows(rows.append)
            progress?.advanced(samplesRead: samplesRead)
        }
        guard samplesRead > 0 else {
            throw MelConfigurationError("\(input) holds no audio samples; there is nothing to analyse.")
        }
        for (c, analyzer) in analyzers.enumerated() {
            // The end of the input: the resampler's tail first (libsamplerate's end_of_input).
            if let resampler = resamplers[c] {
                while case let produced = resampler.flush(into: resampled, capacity: resampledCapacity), produced > 0 {
                    analyse(c, resampled, produced)
                }
            }
            while try analyzer.flush(into: target(frames: 1)) >= 0 { keep(c, frames: 1) }
        }
        try audioOut?.writeComplete()
        try audioOut?.close()
        try interleaver.takeRows(rows.append)
        progress?.finished()

        let frames = try rows.finish()
        // The stream as every consumer sees it (a live run's JACK client makes the same).
        let stream = StreamDescription(
            configuration: configuration, inputSampleRate: inputRate, resampler: resampling?.quality.rawValue,
            resamplerLookahead: resampling?.lookahead ?? 0, channelCount: channels.count, frameWidth: width,
            clampRule: options.clamp)
        let result = try complete(Run(frames: frames, samplesRead: samplesRead, inputRate: inputRate,
                                      analysisRate: analysisRate, resolved: resolved, resampler: resampling?.quality,
                                      stream: stream), rows)
        succeeded = true
        return result
    }
}

/// The array of `FileAnalyzer.analyse(samples:…)`: what `analyse(_:into:)` writes to the `.npy`.
/// Not `Sendable`: `values` is the driver's own store, handed over whole (`KeptRows.takeValues`).
public struct AnalysedSamples {
    /// The array's shape in the layout: (frames, bands), (frames, channels, bands), or bands first.
    public var shape: [Int]
    /// The values in C order, `shape`'s product floats (`values.count`).
    public var values: KeptRows
    /// The rate in Hz the analysis ran at.
    public var analysisRate: Double
    public var configuration: MelConfiguration
    /// `configuration` as the sidecar records it.
    public var configurationJSON: JSONValue
    public var stream: StreamDescription
}

/// Interleaved samples the driver reads block by block: an audio file, or samples in memory.
protocol SampleSource: AnyObject {
    /// Hz.
    var sampleRate: Double { get }
    var channelCount: Int { get }
    /// Sample frames in all, as far as known (a file's header), or 0.
    var frameCount: Int64 { get }
    /// Reads up to `frames` sample frames into `buffer` (`frames * channelCount` floats).
    /// - Returns: the sample frames read; 0 at the end.
    func read(into buffer: UnsafeMutablePointer<Float>, frames: Int) throws -> Int
    /// The next up to `frames` sample frames where they already are, for sources in memory
    /// (nil: use `read`). The pointer is valid until the next call; 0 frames at the end.
    func borrow(frames: Int) throws -> (samples: UnsafePointer<Float>, frames: Int)?
}

extension SampleSource {
    func borrow(frames: Int) throws -> (samples: UnsafePointer<Float>, frames: Int)? { nil }
}

/// Samples in memory held a NaN or an infinity (`FileAnalyzer.analyse(samples:…,
/// rejectingNonFinite: true)`), which would make every later frame of a clamped preset NaN.
public struct NonFiniteSampleError: Error, CustomStringConvertible {
    /// The sample's index in the caller's buffer (interleaved, for several channels).
    public var index: Int
    public var value: Float
    public var description: String {
        "sample \(index) is \(value), not a finite number; please replace NaN and infinite samples (e.g. with 0) first."
    }
}

extension AudioFileReader: SampleSource {}

/// Samples in memory read as a file is. Borrows `samples`: the caller keeps them alive and
/// unchanged while the driver runs. Not thread-safe.
final class MemorySampleSource: SampleSource {
    let samples: UnsafeBufferPointer<Float>
    let channelCount: Int
    let sampleRate: Double
    /// Whether `borrow` throws `NonFiniteSampleError` for a block holding NaN or infinity. The
    /// check runs block by block just before the block is analysed, so it reads samples the
    /// analysis is about to read anyway (a separate pass first would stream them from memory twice).
    let rejectsNonFinite: Bool
    /// Samples (not frames) read so far.
    private var position = 0

    init(samples: UnsafeBufferPointer<Float>, channelCount: Int, sampleRate: Double, rejectsNonFinite: Bool = false) {
        self.samples = samples
        self.channelCount = max(1, channelCount)
        self.sampleRate = sampleRate
        self.rejectsNonFinite = rejectsNonFinite
    }

    var frameCount: Int64 { Int64(samples.count / channelCount) }

    func read(into buffer: UnsafeMutablePointer<Float>, frames: Int) -> Int {
        let n = min(frames, (samples.count - position) / channelCount)
        guard n > 0, let base = samples.baseAddress else { return 0 }
        buffer.update(from: base + position, count: n * channelCount)
        position += n * channelCount
        return n
    }

    /// The samples themselves, not a copy (`read` copies them).
    func borrow(frames: Int) throws -> (samples: UnsafePointer<Float>, frames: Int)? {
        let n = max(0, min(frames, (samples.count - position) / channelCount))
        guard let base = samples.baseAddress else { return nil }  // empty: `read` says 0
        if rejectsNonFinite,
           let bad = firstNonFiniteIndex(UnsafeBufferPointer(start: base + position, count: n * channelCount)) {
            throw NonFiniteSampleError(index: position + bad, value: base[position + bad])
        }
        defer { position += n * channelCount }
        return (base + position, n)
    }
}
