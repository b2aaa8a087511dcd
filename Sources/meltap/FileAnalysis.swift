import Foundation
import MelDSP
import MelFiles
import MelPipeline
import MelResample

/// Drives `MelAnalyzer`s over an audio file and writes the `.npy` and its sidecar.
///
/// The same `process` path as the live client: blocks of samples in, frames out. With
/// `--sample-rate`, each channel's blocks go through the same `Resampler` the JACK callback
/// uses, block by block, and its tail is flushed at the end of the file. Output goes to a
/// temporary file that is renamed only when everything succeeded.
///
/// One file per value: `meltap file IN -o OUT.npy` runs one, dataset mode runs one per input on
/// each worker thread (every analysis owns its analyzers, buffers and writer).
struct FileAnalysis {
    let command: FileCommand
    /// The audio file to read.
    let input: String
    /// The `.npy` to write; the sidecar goes beside it.
    let outputFile: String
    /// Whether an existing output may be replaced.
    let existing: ExistingOutput
    /// Dataset mode: no progress bar, no "Wrote" line.
    var quiet = false
    /// Polled once per block: true abandons the file (its temporary output is removed) and throws.
    var isCancelled: @Sendable () -> Bool = { false }

    /// Sample frames read per block (per channel).
    static let blockLength = 4096

    /// The resolved configuration at an analysis rate and its JSON for the sidecar (warnings and
    /// notes about it printed on stderr). Dataset mode replaces it with a cache per rate, which
    /// prints each warning once per run.
    var resolve: @Sendable (_ analysisRate: Double) throws -> (MelConfiguration, JSONValue)

    /// Resolves `command`'s configuration at `analysisRate`, reporting its warnings and notes.
    static func resolver(_ command: FileCommand, report: @escaping @Sendable (String) -> Void)
        -> @Sendable (Double) throws -> (MelConfiguration, JSONValue) {
        let shared = SharedCommand(command: command)
        return { analysisRate in
            let dsp = shared.command.dsp
            let configuration = try dsp.overrides().resolve(preset: dsp.preset, sampleRate: analysisRate)
            if let warning = configuration.emptyBandWarning { report("warning: \(warning)") }
            if let note = configuration.fftAllocationNote { report("note: \(note)") }
            guard let json = try? JSONValue(encoding: configuration) else {
                throw FeatureFileError(message: "Cannot encode the configuration as JSON for the sidecar. This is a bug in meltap; please report it.")
            }
            return (configuration, json)
        }
    }

    /// What one analysis wrote.
    struct Outcome {
        var rows: Int
        var audioSeconds: Double
        var configuration: JSONValue
    }

    init(command: FileCommand) {
        self.init(command: command, input: command.inputs[0], outputFile: command.outputFile,
                  existing: command.force ? .replace : .refuse)
    }

    init(command: FileCommand, input: String, outputFile: String, existing: ExistingOutput) {
        self.command = command
        self.input = input
        self.outputFile = outputFile
        self.existing = existing
        resolve = FileAnalysis.resolver(command, report: { printError($0) })
    }

    @discardableResult
    func run() throws -> Outcome {
        let started = Date()
        let sidecarPath = Sidecar.path(forFeatureFile: outputFile)
        try OutputPath.check(outputFile, existing: existing)  // refuse before any work
        try OutputPath.check(sidecarPath, existing: existing)
        if let saveAudio = command.saveAudio { try OutputPath.check(saveAudio, existing: existing) }
        let reader = try AudioFileReader(path: input)
        let inputRate = reader.sampleRate
        let analysisRate = command.resampling.analysisRate(inputRate: inputRate, preset: command.dsp.preset)
        let (configuration, configurationJSON) = try resolve(analysisRate)
        let channels: [Int]
        if command.allChannels {
            channels = Array(0..<reader.channelCount)
        } else if let channel = command.channel {
            guard channel <= reader.channelCount else {
                throw MelConfigurationError("\(input) has \(reader.channelCount) channel(s); --channel \(channel) does not exist. Choose 1 to \(reader.channelCount).")
            }
            channels = [channel - 1]
        } else if reader.channelCount == 1 || command.mono {
            channels = [0]
        } else {
            throw MelConfigurationError("\(input) has \(reader.channelCount) channels. Choose one with --channel N, all with --all-channels, or their average with --mono.")
        }
        let mixDown = command.mono && reader.channelCount > 1
        let clamp = command.clamp
        let finisher = OfflineFinisher(configuration: configuration)
        let finishing = clamp == .deferred && OfflineFinisher.isNeeded(configuration)
        // Bands-first files are written transposed at the end, so their rows are kept too.
        let deferred = finishing || command.layout == .bandsFirst
        let analyzers = try channels.map { _ in try MelAnalyzer(configuration: configuration, clampRule: clamp) }
        // One resampler per analysed channel, nil when the input is at the analysis rate already.
        let resamplers = try channels.map { _ in try command.resampling.makeResampler(inputRate: inputRate, preset: command.dsp.preset) }
        let resampling = resamplers.first ?? nil
        let width = analyzers[0].frameWidth
        let outputWidth = configuration.frameWidth
        let trailingShape = command.allChannels ? [channels.count, outputWidth] : [outputWidth]
        let writer = try NpyWriter(path: outputFile, trailingShape: trailingShape, mode: .atomic,
                                   existing: existing)
        var succeeded = false
        defer { if !succeeded { writer.discard() } }

        // Frames per channel not yet written (a row needs every channel's frame t).
        var pending = [[Float]](repeating: [], count: channels.count)
        var deferredRows: [Float] = []   // whole-file rows when the clamp needs the global maximum
        var row: [Float] = []
        if deferred, reader.frameCount > 0, reader.frameCount < Int64(Int32.max) {
            // Room for the whole file's rows up front (the header's length; a wrong one only costs
            // a regrowth): no copy of everything so far while reading.
            let frames = Double(max(0, reader.frameCount)) * analysisRate / inputRate / Double(configuration.hopLength)
            deferredRows.reserveCapacity((Int(frames) + 4) * width * channels.count)
        }
        func emitRows() throws {
            if channels.count == 1 {
                // One channel: its frames, whole ones only, are the rows already.
                guard !pending[0].isEmpty else { return }
                if deferred { deferredRows.append(contentsOf: pending[0]) } else { try writer.appendRows(pending[0]) }
                pending[0].removeAll(keepingCapacity: true)
                return
            }
            let ready = pending.map { $0.count / width }.min() ?? 0
            guard ready > 0 else { return }
            row.removeAll(keepingCapacity: true)
            for t in 0..<ready {
                for c in 0..<channels.count { row.append(contentsOf: pending[c][(t * width)..<((t + 1) * width)]) }
            }
            for c in 0..<channels.count { pending[c].removeFirst(ready * width) }
            if deferred { deferredRows.append(contentsOf: row) } else { try writer.appendRows(row) }
        }

        let progress = ProgressBar(enabled: !command.noProgress && !quiet, totalFrames: reader.frameCount,
                                   sampleRate: reader.sampleRate)
        // Read buffers, owned here, reused for every block.
        let channelCount = reader.channelCount
        let interleaved = UnsafeMutablePointer<Float>.allocate(capacity: FileAnalysis.blockLength * channelCount)
        let block = UnsafeMutablePointer<Float>.allocate(capacity: FileAnalysis.blockLength)
        let framePointer = UnsafeMutablePointer<Float>.allocate(capacity: width)
        let resampledCapacity = resampling.map {
            max($0.outputCapacity(forInputCount: FileAnalysis.blockLength), $0.flushCapacity)
        } ?? 1
        let resampled = UnsafeMutablePointer<Float>.allocate(capacity: resampledCapacity)
        defer { interleaved.deallocate(); block.deallocate(); framePointer.deallocate(); resampled.deallocate() }
        let frameBuffer = UnsafeBufferPointer(start: framePointer, count: width)
        var framesRead: Int64 = 0

        // --save-audio: the analysed samples of every channel, written interleaved block by block.
        let audioOut = try command.saveAudio.map {
            try AudioFileWriter(path: $0, sampleRate: Int(analysisRate), channelCount: channels.count,
                                format: configuration.preset == "micro" ? .wavPCM16 : .wavFloat, existing: existing)
        }
        var audioSucceeded = false
        defer {
            if let audioOut, !audioSucceeded {
                try? audioOut.close()
                try? FileManager.default.removeItem(atPath: audioOut.path)
            }
        }
        var analysed = [[Float]](repeating: [], count: channels.count)
        func writeAnalysedAudio() throws {
            guard let audioOut else { return }
            let count = analysed.map(\.count).min() ?? 0
            guard count > 0 else { return }
            var samples = [Float](repeating: 0, count: count * channels.count)
            for c in 0..<channels.count {
                for i in 0..<count { samples[i * channels.count + c] = analysed[c][i] }
                analysed[c].removeFirst(count)
            }
            try audioOut.write(interleaved: samples)
        }
        /// Feeds `count` analysis-rate samples of channel `c` to its analyzer, keeping its frames.
        func analyse(_ c: Int, _ samples: UnsafePointer<Float>, _ count: Int) {
            if audioOut != nil { analysed[c].append(contentsOf: UnsafeBufferPointer(start: samples, count: count)) }
            let analyzer = analyzers[c]
            var offset = 0
            while offset < count {
                let step = analyzer.process(UnsafeBufferPointer(start: samples + offset, count: count - offset),
                                            into: framePointer)
                offset += step.consumed
                if step.frameIndex >= 0 { pending[c].append(contentsOf: frameBuffer) }
            }
        }
        while true {
            if isCancelled() { throw CancellationError() }
            let n = try reader.read(into: interleaved, frames: FileAnalysis.blockLength)
            if n == 0 { break }
            framesRead += Int64(n)
            for (c, source) in channels.enumerated() {
                // One channel's samples, contiguous (a mono file is used in place).
                let samples: UnsafePointer<Float>
                if channelCount == 1 {
                    samples = UnsafePointer(interleaved)
                } else if mixDown {
                    let divisor = Float(channelCount)
                    for i in 0..<n {
                        let frameStart = interleaved + i * channelCount
                        var sum: Float = 0
                        for k in 0..<channelCount { sum += frameStart[k] }
                        block[i] = sum / divisor
                    }
                    samples = UnsafePointer(block)
                } else {
                    for i in 0..<n { block[i] = interleaved[i * channelCount + source] }
                    samples = UnsafePointer(block)
                }
                if let resampler = resamplers[c] {
                    let produced = resampler.process(UnsafeBufferPointer(start: samples, count: n), into: resampled,
                                                     capacity: resampledCapacity)
                    analyse(c, resampled, produced)
                } else {
                    analyse(c, samples, n)
                }
            }
            try writeAnalysedAudio()
            try emitRows()
            progress.update(framesRead)
        }
        guard framesRead > 0 else {
            throw MelConfigurationError("\(input) holds no audio samples; there is nothing to analyse.")
        }
        for (c, analyzer) in analyzers.enumerated() {
            // The end of the input: the resampler's tail first (libsamplerate's end_of_input).
            if let resampler = resamplers[c] {
                while case let produced = resampler.flush(into: resampled, capacity: resampledCapacity), produced > 0 {
                    analyse(c, resampled, produced)
                }
            }
            while try analyzer.flush(into: framePointer) >= 0 { pending[c].append(contentsOf: frameBuffer) }
        }
        try writeAnalysedAudio()
        try audioOut?.close()
        try emitRows()
        progress.finish()

        if deferred {
            // Channels are finished separately: the reference clamps each signal at its own maximum.
            var finished: [Float]
            if !finishing {
                finished = deferredRows
            } else if channels.count == 1 {
                finished = finisher.finish(deferredRows)  // the rows are that channel's frames already
            } else {
                let rowsCount = deferredRows.count / (width * channels.count)
                var rows = [Float](repeating: 0, count: rowsCount * outputWidth * channels.count)
                for c in 0..<channels.count {
                    var single = [Float](); single.reserveCapacity(rowsCount * width)
                    for t in 0..<rowsCount {
                        let base = (t * channels.count + c) * width
                        single.append(contentsOf: deferredRows[base..<(base + width)])
                    }
                    let done = finisher.finish(single)
                    for t in 0..<rowsCount {
                        let target = (t * channels.count + c) * outputWidth
                        rows.replaceSubrange(target..<(target + outputWidth),
                                             with: done[(t * outputWidth)..<((t + 1) * outputWidth)])
                    }
                }
                finished = rows
            }
            let frames = finished.count / max(1, writer.rowLength)
            if command.layout == .bandsFirst {
                finished = command.layout.arrange(framesFirst: finished, frames: frames, channels: channels.count,
                                                  bands: outputWidth)
                writer.finalShape = command.layout.shape(frames: frames, rowShape: trailingShape)
            }
            try writer.appendRows(finished)
        }
        let rows = try writer.finish()  // frames: every layout appends rows of one frame's size
        let shape = command.layout.shape(frames: rows, rowShape: trailingShape)
        let sidecarChannels: [FeatureSidecar.Channel] = command.allChannels || !mixDown
            ? channels.map { FeatureSidecar.Channel(channel: $0 + 1) }
            : [FeatureSidecar.Channel(averageOf: Array(1...reader.channelCount))]
        let sidecar = FeatureSidecar(
            kind: .file, meltapVersion: meltapVersion, rowShape: trailingShape, rows: rows,
            sampleRate: analysisRate, inputSampleRate: inputRate,
            resampler: resampling.map {
                .init(name: $0.quality.rawValue, library: Resampler.libraryVersion, lookaheadInputSamples: $0.lookahead)
            },
            frameRate: configuration.frameRate, firstSampleOfFrame0: -configuration.leftPadding,
            clamp: clamp == .deferred ? "global" : "running", channels: sidecarChannels,
            configuration: configurationJSON,
            file: .init(path: URL(fileURLWithPath: input).standardizedFileURL.path,
                        format: reader.formatDescription, channelCount: reader.channelCount, sampleFrames: framesRead),
            axisOrder: command.layout)
        do {
            try sidecar.write(to: sidecarPath, existing: existing)
        } catch {
            try? FileManager.default.removeItem(atPath: outputFile)  // the file finish() just moved there
            throw error
        }
        succeeded = true
        audioSucceeded = true
        let seconds = Date().timeIntervalSince(started)
        let audioSeconds = Double(framesRead) / reader.sampleRate
        let outcome = Outcome(rows: rows, audioSeconds: audioSeconds, configuration: configurationJSON)
        if quiet { return outcome }
        print("Wrote \(outputFile): \(shape.map(String.init).joined(separator: " × ")) float32, "
              + "\(configuration.preset) preset, \(configuration.output.rawValue) output at "
              + "\(Int(analysisRate)) Hz"
              + (resampling.map { " (resampled from \(Int(inputRate)) Hz, \($0.quality.rawValue))" } ?? "")
              + (command.saveAudio.map { " and the analysed audio to \($0)" } ?? "")
              + ", from \(String(format: "%.2f", audioSeconds)) s of audio in "
              + "\(String(format: "%.2f", seconds)) s (\(String(format: "%.0f", audioSeconds / max(seconds, 1e-9)))× real time).")
        return outcome
    }
}

/// A progress bar on standard error, drawn only on a terminal and for inputs over 10 s.
final class ProgressBar {
    private let enabled: Bool
    private let totalFrames: Int64
    private let sampleRate: Double
    private var lastDrawn = Date.distantPast

    init(enabled: Bool, totalFrames: Int64, sampleRate: Double) {
        self.enabled = enabled && isatty(STDERR_FILENO) == 1 && totalFrames > Int64(10 * sampleRate)
        self.totalFrames = totalFrames
        self.sampleRate = sampleRate
    }

    func update(_ frames: Int64) {
        guard enabled, Date().timeIntervalSince(lastDrawn) > 0.1 else { return }
        lastDrawn = Date()
        let fraction = min(1, Double(frames) / Double(max(1, totalFrames)))
        let filled = Int(fraction * 30)
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: 30 - filled)
        FileHandle.standardError.write(String(format: "\r%@ %3.0f%%  %.1f of %.1f s", bar, fraction * 100,
                                              Double(frames) / sampleRate, Double(totalFrames) / sampleRate).data(using: .utf8)!)
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!)
    }
}
