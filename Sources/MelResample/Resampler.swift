import CSampleRate
import CZitaResampler

/// The converters `Resampler` offers: zita-resampler's polyphase filter (Fons Adriaensen, written
/// for JACK applications) and libsamplerate's band-limited sinc interpolators (Julius O. Smith's
/// bandlimited interpolation; `src_get_description` names each).
///
/// Cost per channel at 48 → 16 kHz, measured in docs/performance.md ("Resampling"):
/// zita ≈ 0.1 %, sinc-best ≈ 2.8 %, sinc-medium ≈ 0.9 %, sinc-fastest ≈ 0.4 % of one core.
public enum ResamplerQuality: String, CaseIterable, Codable, Sendable {
    /// zita-resampler 1.8 with a filter half-length of 64 samples (at the lower of the two rates;
    /// zita's `hlen`), cutoff at 1 − 2.6 / 64 of that rate's Nyquist. The default: the closest to
    /// librosa's soxr_hq of all four and the cheapest (docs/parity.md, "Resampled input").
    /// Needs whole-number rates whose ratio zita accepts (see `Resampler.init`).
    case zita = "zita"
    /// `SRC_SINC_BEST_QUALITY`: 144 dB SNR, 96 % bandwidth.
    case sincBest = "sinc-best"
    /// `SRC_SINC_MEDIUM_QUALITY`: 121 dB SNR, 90 % bandwidth.
    case sincMedium = "sinc-medium"
    /// `SRC_SINC_FASTEST`: 97 dB SNR, 80 % bandwidth.
    case sincFastest = "sinc-fastest"

    /// The default for `meltap file` and `meltap run`.
    public static var standard: ResamplerQuality { .zita }

    /// zita-resampler's filter half-length for `.zita` (its `hlen`: 16 … 96; cost and accuracy grow
    /// with it; 64 measured in docs/performance.md against 32, 48 and 96).
    public static let zitaHalfLength: UInt32 = 64

    /// libsamplerate's converter type, or nil for zita.
    var converterType: Int32? {
        switch self {
        case .zita: return nil
        case .sincBest: return Int32(SRC_SINC_BEST_QUALITY)
        case .sincMedium: return Int32(SRC_SINC_MEDIUM_QUALITY)
        case .sincFastest: return Int32(SRC_SINC_FASTEST)
        }
    }

    /// The library's own one-line description of the converter (`src_get_description`), or, for
    /// zita, its name, version and half-length.
    public var libraryDescription: String {
        guard let converterType else {
            return "zita-resampler \(meltap_zita_major_version()).\(meltap_zita_minor_version()), "
                + "half-length \(Self.zitaHalfLength)"
        }
        return src_get_description(converterType).map { String(cString: $0) } ?? rawValue
    }

    /// The library behind the converter and its version, for sidecars and `status`.
    public var libraryVersion: String {
        switch self {
        case .zita: return "zita-resampler-\(meltap_zita_major_version()).\(meltap_zita_minor_version())"
        default: return src_get_version().map { String(cString: $0) } ?? "unknown"
        }
    }
}

/// What went wrong setting up a resampler, and what to do about it.
public struct ResamplerError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A streaming sample-rate converter for one channel at a fixed ratio: zita-resampler or
/// libsamplerate (`SRC_STATE`), as `quality` says.
///
/// Life, in aubio's create / do / destroy shape: `init` creates the converter (`src_new` or
/// zita's `setup`, the only allocations) and prefaults it; `process(_:into:capacity:)` converts one block and may run
/// in the JACK process callback; `flush(into:capacity:)` drains the tail at the end of a file;
/// `reset()` starts a new stream; `deinit` frees it (`src_delete`).
///
/// **Timing.** Output sample k is the signal at input time k · inputRate / outputRate: sample 0
/// of the output sits on sample 0 of the input. libsamplerate removes its own filter delay, and zita's is
/// removed by feeding it `inpsize() / 2 − 1` zeros first (its documented alignment), so nothing
/// is trimmed here; the delay shows only as *latency*: output sample k is emitted once
/// the input reaches about k · inputRate / outputRate + `delayInputSamples` (`delay` output
/// samples behind the input; 64 / 143 / 46 / 20 at 48 → 16 kHz for zita / best / medium / fastest).
///
/// **Chunk invariance.** The output does not depend on how the input is split into blocks
/// (`ResamplerTests` checks blocks of 1, 7, 64, 256, 4096 and random sizes, bit for bit), so a
/// file driven block by block gives exactly what the callback computes live.
///
/// **End of input.** `flush` pads the input with zeros and emits the last outputs, exactly
extension Resampler.Engine {
    /// The one conversion loop, shared by `process`, `flush`, the prefault and the look-ahead
    /// measurement. Real-time safe: no allocation, locks or system calls (both libraries' process
    /// calls touch only the converter's own buffers).
    @_noAllocation @_noLocks
    func convert(ratio: Double, _ input: UnsafePointer<Float>, count: Int,
                                into output: UnsafeMutablePointer<Float>, capacity: Int) -> (consumed: Int, produced: Int) {
        let converter: OpaquePointer
        switch self {
        case .zita(let zita):
            // zita consumes the whole input unless the output fills first.
            var consumed = 0
            let produced = _unsafePerformance { meltap_zita_process(zita, input, count, output, capacity, &consumed) }
            return (consumed, produced)
        case .libsamplerate(let state):
            converter = state
        }
        var consumed = 0
        var produced = 0
        while consumed < count && produced < capacity {
            var data = SRC_DATA()
            data.data_in = input + consumed
            data.input_frames = count - consumed
            data.data_out = output + produced
            data.output_frames = capacity - produced
            data.src_ratio = ratio
            data.end_of_input = 0
            // libsamplerate's C code: allocation- and lock-free on an existing sinc converter.
            let status = _unsafePerformance { src_process(converter, &data) }
            if status != 0 { break }
            consumed += data.input_frames_used
            produced += data.output_frames_gen
            if data.input_frames_used == 0 && data.output_frames_gen == 0 { break }
        }
        return (consumed, produced)
    }

    /// Clears the converter's state in place (`src_reset`; zita: reset, then the alignment zeros).
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    func reset() {
        switch self {
        case .libsamplerate(let converter): _ = _unsafePerformance { src_reset(converter) }
        case .zita(let zita): _unsafePerformance { meltap_zita_reset(zita) }
        }
    }

}

/// ⌈inputCount · outputRate / inputRate⌉ in all (librosa's length).
///
/// Not thread-safe: one thread at a time (the realtime thread while a JACK client is active).
public final class Resampler {
    /// The converter, owned: freed in `deinit`.
    private let engine: Engine
    fileprivate enum Engine {
        /// libsamplerate's `SRC_STATE *`.
        case libsamplerate(OpaquePointer)
        /// zita-resampler behind the C shim (`meltap_zita *`).
        case zita(OpaquePointer)
    }
    /// `zeroBlock` zero samples: the padding `flush` feeds after the input. Owned; freed in `deinit`.
    private let zeros: UnsafeMutablePointer<Float>
    private let zeroBlockLength = 1024
    /// Input samples consumed and output samples emitted since `init` or `reset()`.
    private var inputConsumed = 0
    private var outputProduced = 0
    /// Output rate / input rate (libsamplerate's `src_ratio`).
    public let ratio: Double
    /// Input and output rates in Hz.
    public let inputRate: Double
    public let outputRate: Double
    public let quality: ResamplerQuality
    /// Input samples the converter must read past an output sample's instant before it emits
    /// that sample (its filter's look-ahead), measured in `init`: 192 / 430 / 138 / 59 at
    /// 48 → 16 kHz for zita / best / medium / fastest. The resampler's latency, in input samples.
    public let lookahead: Int

    /// libsamplerate's version string (`src_get_version`), e.g. "libsamplerate-0.2.2 …"
    /// (`ResamplerQuality.libraryVersion` names zita's for `.zita`).
    public static var libraryVersion: String {
        src_get_version().map { String(cString: $0) } ?? "unknown"
    }

    /// The largest block `init` prefaults for and `process` is sized for, in input samples
    /// (JACK's largest period).
    public static var maximumInputBlock: Int { 8192 }

    /// Creates the converter for `inputRate` → `outputRate` Hz and prefaults it: runs zeros
    /// through it until every buffer and coefficient page it uses has been touched, then resets
    /// it (`src_reset` clears state without allocating), so the first `process` in a realtime
    /// callback takes no page fault and no heap call.
    /// - Throws: `ResamplerError` when the ratio is outside libsamplerate's 1/256 … 256, or
    ///   zita's (whole-number rates, out / gcd(in, out) ≤ 1000, out / in ≥ 1/64), or the
    ///   converter cannot be created.
    public init(inputRate: Double, outputRate: Double, quality: ResamplerQuality = .standard) throws {
        guard inputRate > 0, outputRate > 0, inputRate.isFinite, outputRate.isFinite else {
            throw ResamplerError("Please give positive sample rates; got \(inputRate) Hz → \(outputRate) Hz.")
        }
        let ratio = outputRate / inputRate
        guard src_is_valid_ratio(ratio) != 0 else {
            throw ResamplerError("Cannot resample \(Self.format(inputRate)) Hz to \(Self.format(outputRate)) Hz: "
                                 + "the ratio must lie between 1/256 and 256. Choose a --sample-rate closer to the input's.")
        }
        engine = try Self.makeEngine(inputRate: inputRate, outputRate: outputRate, quality: quality)
        zeros = .allocate(capacity: zeroBlockLength)
        zeros.initialize(repeating: 0, count: zeroBlockLength)
        self.ratio = ratio
        self.inputRate = inputRate
        self.outputRate = outputRate
        self.quality = quality
        Self.prefault(engine, ratio: ratio)
        lookahead = Self.measureLookahead(engine, ratio: ratio)
    }

    private static func makeEngine(inputRate: Double, outputRate: Double, quality: ResamplerQuality) throws -> Engine {
        guard let converterType = quality.converterType else {
            let whole = inputRate == inputRate.rounded() && outputRate == outputRate.rounded()
                && inputRate <= Double(UInt32.max) && outputRate <= Double(UInt32.max)
            guard whole, let zita = meltap_zita_create(UInt32(inputRate), UInt32(outputRate), ResamplerQuality.zitaHalfLength)
            else {
                throw ResamplerError("zita-resampler cannot convert \(format(inputRate)) Hz to \(format(outputRate)) Hz: it needs "
                                     + "whole-number rates, a ratio of at least 1/64, and an output rate that divided by "
                                     + "gcd(input, output) is at most 1000. Choose another --sample-rate, or "
                                     + "--resampler sinc-best, which takes any ratio from 1/256 to 256.")
            }
            return .zita(zita)
        }
        var error: Int32 = 0
        guard let converter = src_new(converterType, 1, &error) else {
            let reason = src_strerror(error).map { String(cString: $0) } ?? "error \(error)"
            throw ResamplerError("libsamplerate could not create a \(quality.rawValue) converter: \(reason).")
        }
        return .libsamplerate(converter)
    }

    deinit {
        switch engine {
        case .libsamplerate(let converter): src_delete(converter)
        case .zita(let zita): meltap_zita_destroy(zita)
        }
        zeros.deallocate()
    }

    /// Output samples `process` may write for `inputCount` input samples: at most
    /// ⌈inputCount · ratio⌉ + 1 (the output grid can gain one sample across a block boundary),
    /// plus a margin of 2 for rounding in libsamplerate's position arithmetic.
    public func outputCapacity(forInputCount inputCount: Int) -> Int {
        Int((Double(inputCount) * ratio).rounded(.up)) + 3
    }

    /// The latency in output samples: `lookahead` × ratio (143.3 / 46 / 19.7 at 48 → 16 kHz).
    public var delay: Double { Double(lookahead) * ratio }

    /// Output samples `flush` may write in all: the delay plus a few.
    public var flushCapacity: Int { Int(delay.rounded(.up)) + 2 * Int(ratio.rounded(.up)) + 8 }

    /// Converts one block and returns the number of output samples written.
    ///
    /// Consumes all of `input` as long as `capacity` ≥ `outputCapacity(forInputCount:)`; with
    /// less, the outputs that did not fit are lost (a caller bug: the callback sizes for
    /// `maximumInputBlock` and splits longer periods).
    /// Real-time safe: no allocation, locks or system calls (`src_process` on a sinc converter
    /// built by `init` reads and writes only its own buffers; proven at run time by rtguard in
    /// `ResamplerTests` and over whole `meltap run`s).
    @_noAllocation @_noLocks
    public func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutablePointer<Float>,
                        capacity: Int) -> Int {
        guard let base = input.baseAddress else { return 0 }
        let (consumed, produced) = convert(base, count: input.count, into: output, capacity: capacity)
        inputConsumed += consumed
        outputProduced += produced
        return produced
    }

    /// Runs `src_process` until `count` input samples are consumed or `capacity` outputs written,
    /// and returns how many of each. Counts nothing in `inputConsumed` / `outputProduced`.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    private func convert(_ input: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Float>,
                         capacity: Int) -> (consumed: Int, produced: Int) {
        engine.convert(ratio: ratio, input, count: count, into: output, capacity: capacity)
    }

    /// Ends the input: pads it with zeros and emits the remaining outputs, so that the stream
    /// holds ⌈inputCount · outputRate / inputRate⌉ samples in all, as `librosa.resample` (soxr)
    /// returns. (libsamplerate's own `end_of_input` stops one sample short at 44.1 → 16 kHz.)
    /// Call repeatedly until it returns 0 (one call with `flushCapacity` is enough). After the
    /// last call, `reset()` before converting a new stream.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    public func flush(into output: UnsafeMutablePointer<Float>, capacity: Int) -> Int {
        let remaining = resampledLength(inputCount: inputConsumed, inputRate: inputRate, outputRate: outputRate)
            - outputProduced
        let wanted = min(capacity, remaining)
        guard wanted > 0 else { return 0 }
        let zeros = UnsafePointer(self.zeros)
        let zeroBlockLength = self.zeroBlockLength
        let feedLimit = 4 * (lookahead + zeroBlockLength)
        var produced = 0
        var fed = 0
        // The zeros are input that never happened: fed to the converter, not counted in
        // `inputConsumed`. Enough of them reach every remaining output (its look-ahead and more).
        while produced < wanted && fed < feedLimit {
            let step = convert(zeros, count: zeroBlockLength, into: output + produced, capacity: wanted - produced)
            if step.consumed == 0 && step.produced == 0 { break }
            fed += step.consumed
            produced += step.produced
        }
        outputProduced += produced
        return produced
    }

    /// Forgets all input: the next `process` starts a new stream at output sample 0.
    /// Real-time safe: no allocation, locks or system calls (`src_reset` clears buffers in place).
    @_noAllocation @_noLocks
    public func reset() {
        engine.reset()
        inputConsumed = 0
        outputProduced = 0
    }

    /// Feeds four `maximumInputBlock` blocks of zeros, so that the code and every page of the
    /// filter table the ratio reads are touched, then resets.
    ///
    /// `src_new` and `src_reset` clear the converter's whole buffer (≈ 440 KB per channel for
    /// best), so its pages are touched already. Measured with getrusage at 48 → 16 kHz and
    /// 16 → 48 kHz: without this, the first seconds of processing take 21 minor page faults
    /// (best); after it, 0 over 10 s of 256-sample blocks (8192 zeros were enough). zita's table
    /// (hlen × phases floats, shared between converters of one ratio) and buffer are read whole
    /// by the same four blocks.
    private static func prefault(_ engine: Engine, ratio: Double) {
        let block = maximumInputBlock
        let capacity = Int((Double(block) * ratio).rounded(.up)) + 3
        let zeros = UnsafeMutablePointer<Float>.allocate(capacity: block)
        zeros.initialize(repeating: 0, count: block)
        let output = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
        output.initialize(repeating: 0, count: capacity)
        defer { zeros.deallocate(); output.deallocate() }
        var fed = 0
        while fed < 4 * block {
            let step = engine.convert(ratio: ratio, zeros, count: block, into: output, capacity: capacity)
            if step.consumed == 0 { break }
            fed += step.consumed
        }
        engine.reset()
    }

    /// Feeds zeros one sample at a time until the first output appears: output 0 sits at input
    /// instant 0, so the inputs read beyond it are the look-ahead. Resets after.
    private static func measureLookahead(_ engine: Engine, ratio: Double) -> Int {
        var zero: Float = 0
        let capacity = Int(ratio.rounded(.up)) + 4
        let output = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
        defer { output.deallocate() }
        var fed = 0
        while fed < 1 << 16 {
            let step = engine.convert(ratio: ratio, &zero, count: 1, into: output, capacity: capacity)
            if step.consumed == 0 && step.produced == 0 { break }
            fed += step.consumed
            if step.produced > 0 { break }
        }
        engine.reset()
        return max(0, fed - 1)
    }

    static func format(_ rate: Double) -> String {
        rate == rate.rounded() ? String(Int(rate)) : String(rate)
    }
}

/// ⌈inputCount · outputRate / inputRate⌉, exactly when both rates are whole numbers of Hz
/// (librosa's and soxr's output length).
func resampledLength(inputCount: Int, inputRate: Double, outputRate: Double) -> Int {
    let input = Int(inputRate), output = Int(outputRate)
    if Double(input) == inputRate && Double(output) == outputRate {
        let (product, overflow) = inputCount.multipliedReportingOverflow(by: output)
        if !overflow { return (product + input - 1) / input }
    }
    let exact = Double(inputCount) * outputRate / inputRate
    let truncated = Int(exact)
    return Double(truncated) < exact ? truncated + 1 : truncated
}
