// The C ABI's streaming analyzer: one channel of samples in, frames out, as the live client
// computes them.

import Foundation
import MelDSP
import MelOffline
import MelResample

/// One channel's streaming analysis behind `meltap_analyzer *`: the live path's `Resampler`
/// (when the input rate differs from the analysis rate) then its `MelAnalyzer` with the running
/// clamp, so its frames equal `meltap run`'s and `meltap file --clamp running`'s for the same
/// samples, however the input is split into chunks.
///
/// Life cycle: `init` resolves the configuration, plans the FFT and allocates every buffer;
/// `process` and `flush` never allocate; deinit frees. Not thread-safe: one thread at a time.
final class StreamAnalyzer {
    let analyzer: MelAnalyzer
    /// nil when the input runs at the analysis rate.
    let resampler: Resampler?
    let inputRate: Double
    let analysisRate: Double
    /// The resolved configuration as JSON text, NUL-terminated; owned here.
    let configurationJSON: UnsafeMutablePointer<CChar>
    /// The most samples one `process` call takes (2^40, about 265 days at 48 kHz): keeps the
    /// frame bound's arithmetic far from overflow.
    static let maximumCount = 1 << 40
    /// Input samples resampled per step: within `Resampler.maximumInputBlock`.
    static let stepLength = 4096
    /// The resampler's output for one step, `resampledCapacity` analysis-rate samples.
    private let resampled: UnsafeMutablePointer<Float>
    private let resampledCapacity: Int
    /// `analyzer` and `resampler` for the realtime path: used through `_withUnsafeGuaranteedRef`,
    /// which does no reference counting (the stored properties above keep them alive).
    private let analyzerReference: Unmanaged<MelAnalyzer>
    private let resamplerReference: Unmanaged<Resampler>?
    private let width: Int
    /// Whether `flush` has run: `process` then refuses until `reset`.
    private var flushed = false

    init(options: FileAnalysisOptions, inputRate: Double) throws(CallError) {
        guard inputRate >= Double(AnalysisRate.range.lowerBound), inputRate <= Double(AnalysisRate.range.upperBound) else {
            throw CallError("Please give the input sample rate in Hz from \(AnalysisRate.range.lowerBound) to "
                            + "\(AnalysisRate.range.upperBound), e.g. 48000; got \(inputRate).")
        }
        self.inputRate = inputRate
        analysisRate = options.analysisRate(inputRate: inputRate)
        let configuration = try options.resolvedConfiguration(analysisRate: analysisRate)
        do {
            analyzer = try MelAnalyzer(configuration: configuration, clampRule: .running)
        } catch {
            throw CallError("\(error)")
        }
        if analysisRate != inputRate {
            do {
                resampler = try Resampler(inputRate: inputRate, outputRate: analysisRate, quality: options.resampler)
            } catch {
                throw CallError("\(error)")
            }
        } else {
            resampler = nil
        }
        analyzerReference = Unmanaged.passUnretained(analyzer)
        resamplerReference = resampler.map { Unmanaged.passUnretained($0) }
        width = analyzer.frameWidth
        resampledCapacity = resampler.map {
            max($0.outputCapacity(forInputCount: Self.stepLength), $0.flushCapacity)
        } ?? 1
        resampled = .allocate(capacity: resampledCapacity)
        resampled.initialize(repeating: 0, count: resampledCapacity)  // touched: no page fault in process
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = (try? encoder.encode(configuration)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        configurationJSON = strdupStatic(json)
    }

    deinit {
        resampled.deallocate()
        configurationJSON.deallocate()
    }

    var frameWidth: Int { analyzer.frameWidth }

    /// The most frames `process` can write for `count` input samples, and `flush` for `count`
    /// 0: every analysis-rate sample the step and the resampler's tail may produce, plus one
    /// frame length of samples held back (the reflect prelude, the overlap), over the hop, plus
    /// two, plus the frames the analyzer holds for its flush (openwakeword's group of 8: 7; before
    /// they were counted, the capi fuzzer found a flush of 8 frames where this said 5, written
    /// past the caller's buffer).
    func maximumFrames(inputCount requested: Int) -> Int {
        let count = min(max(0, requested), Self.maximumCount)
        let hop = analyzer.configuration.hopLength
        let held = max(analyzer.configuration.fftLength, analyzer.configuration.windowLength)
        let steps = (count + Self.stepLength - 1) / Self.stepLength
        let samples = resampler.map { $0.outputCapacity(forInputCount: Self.stepLength) * steps } ?? count
        return (samples + (resampler?.flushCapacity ?? 0) + held) / hop + 2 + analyzer.maximumHeldFrames
    }

    /// Feeds `count` input samples; writes each completed frame (`frameWidth` floats) to
    /// `frames`, one after another, and returns how many. `frames` holds `maximumFrames` frames.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    func process(_ samples: UnsafePointer<Float>, count: Int, into frames: UnsafeMutablePointer<Float>) -> Int {
        var written = 0
        var offset = 0
        while offset < count {
            let step = min(Self.stepLength, count - offset)
            if let resamplerReference {
                let resampled = self.resampled, capacity = resampledCapacity
                let produced = resamplerReference._withUnsafeGuaranteedRef {
                    $0.process(UnsafeBufferPointer(start: samples + offset, count: step), into: resampled,
                               capacity: capacity)
                }
                written += analyse(UnsafePointer(resampled), count: produced, into: frames + written * width)
            } else {
                written += analyse(samples + offset, count: step, into: frames + written * width)
            }
            offset += step
        }
        return written
    }

    /// Feeds analysis-rate samples to the analyzer, as `FileAnalyzer` does.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    private func analyse(_ samples: UnsafePointer<Float>, count: Int, into frames: UnsafeMutablePointer<Float>) -> Int {
        var written = 0
        var offset = 0
        while offset < count {
            let output = frames + written * width
            let step = analyzerReference._withUnsafeGuaranteedRef {
                $0.process(UnsafeBufferPointer(start: samples + offset, count: count - offset), into: output)
            }
            offset += step.consumed
            if step.frameIndex >= 0 { written += 1 }
        }
        return written
    }

    /// Ends the input: the resampler's tail, then the analyzer's tail frames (right padding), as
    /// `meltap file` ends a file. Returns the frames written.
    func flush(into frames: UnsafeMutablePointer<Float>) throws(CallError) -> Int {
        var written = 0
        if let resampler {
            while case let produced = resampler.flush(into: resampled, capacity: resampledCapacity), produced > 0 {
                written += analyse(UnsafePointer(resampled), count: produced, into: frames + written * frameWidth)
            }
        }
        do {
            while try analyzer.flush(into: frames + written * frameWidth) >= 0 { written += 1 }
        } catch {
            throw CallError("\(error)")
        }
        flushed = true
        return written
    }

    var isFlushed: Bool { flushed }

    /// Forgets all input: the next sample starts a new stream.
    func reset() {
        analyzer.reset()
        resampler?.reset()
        flushed = false
    }
}

// MARK: - C entry points

/// The `StreamAnalyzer` behind a handle; nil for NULL.
private func streamAnalyzer(_ handle: OpaquePointer?) -> StreamAnalyzer? {
    handle.map { Unmanaged<StreamAnalyzer>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
}

/// `meltap_analyzer_create`: see include/meltap.h.
@c(meltap_analyzer_create)
public func meltapAnalyzerCreate(_ preset: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?,
                                 _ inputRate: Double) -> OpaquePointer? {
    do {
        let parsed = try FileAnalysisOptions.parse(preset: string(preset), options: string(options), use: .stream)
        let analyzer = try StreamAnalyzer(options: parsed, inputRate: inputRate)
        return OpaquePointer(Unmanaged.passRetained(analyzer).toOpaque())
    } catch {
        setLastError(error.message)
        return nil
    }
}

/// `meltap_analyzer_destroy`: see include/meltap.h.
@c(meltap_analyzer_destroy)
public func meltapAnalyzerDestroy(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<StreamAnalyzer>.fromOpaque(UnsafeRawPointer(handle)).release()
}

/// `meltap_analyzer_frame_width`: see include/meltap.h.
@c(meltap_analyzer_frame_width)
public func meltapAnalyzerFrameWidth(_ handle: OpaquePointer?) -> Int {
    guard let analyzer = streamAnalyzer(handle) else {
        setLastError("meltap_analyzer_frame_width: the analyzer is NULL; create one with meltap_analyzer_create.")
        return -1
    }
    return analyzer.frameWidth
}

/// `meltap_analyzer_max_frames`: see include/meltap.h.
@c(meltap_analyzer_max_frames)
public func meltapAnalyzerMaxFrames(_ handle: OpaquePointer?, _ count: Int) -> Int {
    guard let analyzer = streamAnalyzer(handle) else {
        setLastError("meltap_analyzer_max_frames: the analyzer is NULL; create one with meltap_analyzer_create.")
        return -1
    }
    return analyzer.maximumFrames(inputCount: count)
}

/// `meltap_analyzer_analysis_rate`: see include/meltap.h.
@c(meltap_analyzer_analysis_rate)
public func meltapAnalyzerAnalysisRate(_ handle: OpaquePointer?) -> Double {
    streamAnalyzer(handle)?.analysisRate ?? 0
}

/// `meltap_analyzer_config_json`: see include/meltap.h.
@c(meltap_analyzer_config_json)
public func meltapAnalyzerConfigJSON(_ handle: OpaquePointer?) -> UnsafePointer<CChar>? {
    guard let analyzer = streamAnalyzer(handle) else {
        setLastError("meltap_analyzer_config_json: the analyzer is NULL; create one with meltap_analyzer_create.")
        return nil
    }
    return UnsafePointer(analyzer.configurationJSON)
}

/// `meltap_analyzer_process`: see include/meltap.h. Real-time safe on success: no allocation,
/// locks or system calls (its failures record a message, which allocates).
@c(meltap_analyzer_process)
public func meltapAnalyzerProcess(_ handle: OpaquePointer?, _ samples: UnsafePointer<Float>?, _ count: Int,
                                  _ frames: UnsafeMutablePointer<Float>?, _ frameCapacity: Int) -> Int {
    guard let analyzer = streamAnalyzer(handle) else {
        setLastError("meltap_analyzer_process: the analyzer is NULL; create one with meltap_analyzer_create.")
        return -1
    }
    guard count > 0 else {
        if count < 0 { setLastError("meltap_analyzer_process: the sample count is \(count); give 0 or more.") }
        return count < 0 ? -1 : 0
    }
    guard let samples else {
        setLastError("meltap_analyzer_process: the samples pointer is NULL with a count of \(count).")
        return -1
    }
    guard count <= StreamAnalyzer.maximumCount else {
        setLastError("meltap_analyzer_process: \(count) samples in one call is more than \(StreamAnalyzer.maximumCount); "
                     + "give them in smaller chunks.")
        return -1
    }
    guard !analyzer.isFlushed else {
        setLastError("meltap_analyzer_process: the analyzer was flushed; call meltap_analyzer_reset to start a new stream.")
        return -1
    }
    let needed = analyzer.maximumFrames(inputCount: count)
    guard let frames, frameCapacity >= needed else {
        setLastError("meltap_analyzer_process: the frame buffer holds \(frames == nil ? 0 : frameCapacity) frames; "
                     + "\(count) samples may give up to \(needed). Size it with meltap_analyzer_max_frames.")
        return -1
    }
    return analyzer.process(samples, count: count, into: frames)
}

/// `meltap_analyzer_flush`: see include/meltap.h.
@c(meltap_analyzer_flush)
public func meltapAnalyzerFlush(_ handle: OpaquePointer?, _ frames: UnsafeMutablePointer<Float>?,
                                _ frameCapacity: Int) -> Int {
    guard let analyzer = streamAnalyzer(handle) else {
        setLastError("meltap_analyzer_flush: the analyzer is NULL; create one with meltap_analyzer_create.")
        return -1
    }
    guard !analyzer.isFlushed else { return 0 }
    let needed = analyzer.maximumFrames(inputCount: 0)
    guard let frames, frameCapacity >= needed else {
        setLastError("meltap_analyzer_flush: the frame buffer holds \(frames == nil ? 0 : frameCapacity) frames; "
                     + "the flush may give up to \(needed). Size it with meltap_analyzer_max_frames(analyzer, 0).")
        return -1
    }
    do {
        return try analyzer.flush(into: frames)
    } catch {
        setLastError(error.message)
        return -1
    }
}

/// `meltap_analyzer_reset`: see include/meltap.h.
@c(meltap_analyzer_reset)
public func meltapAnalyzerReset(_ handle: OpaquePointer?) {
    streamAnalyzer(handle)?.reset()
}
