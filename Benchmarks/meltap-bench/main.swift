// meltap-bench: the DSP core's cost per hop, times real time, and heap calls per hop.
//
// Feeds a synthetic signal (the generator of Benchmarks/melbase/melbase.c: LCG noise + sine)
// through `MelAnalyzer.process` in blocks, as the JACK callback does, with ClampRule.running.
// Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so other work on a shared machine
// does not inflate them. Build in release (`swift build -c release`); see docs/performance.md.
import Glibc
import MelDSP

// MARK: - Options

/// Command-line options. Hand-parsed: this target depends on MelDSP only.
struct BenchOptions {
    /// Seconds of synthetic signal per configuration.
    var seconds = 60.0
    /// Run only this preset (all its rates), or the custom configuration built on it.
    var preset: MelPreset?
    /// Only this sample rate, in Hz.
    var sampleRate: Double?
    /// Minimum hops per repetition (the signal is lengthened to reach it).
    var minimumHops = 0
    /// Timed repetitions per configuration; the best is reported.
    var repetitions = 3
    /// Samples per `process` call (one JACK block), or per `processFrames` call with `--offline`.
    var blockLength = 256
    /// `--offline`: time `MelAnalyzer.processFrames` (the path of `meltap file` and libmeltap's
    /// analyses: whole blocks, frames computed where the samples are) instead of `process`.
    var offline = false
    /// Exit 1 when any heap call was counted, or when the rtguard shim is absent.
    var checkAllocations = false
    /// Overrides: when any is set, one custom configuration (preset + overrides) is run.
    var overrides = MelOverrides()
    var hasOverrides = false
    /// `--sweep-n-fft`: count heap calls for each of these n_fft values instead of timing (SizeSweep.swift).
    var sweepSizes: [Int]?
    var sweepFilter = SweepFilter.all
    /// `--resample RATE`: time the resampler to RATE Hz instead of the analyzer (ResampleBench.swift).
    var resampleTo: Double?

    static let usage = """
        Usage: meltap-bench [options]

        Measures meltap's DSP core (MelAnalyzer.process, running clamp) on a synthetic signal
        (LCG noise plus a sine, the generator of Benchmarks/melbase/melbase.c), one thread.
        Without options it runs the presets at 16 kHz and 48 kHz (whisper, micro and openwakeword
        at 16 kHz only) and a librosa-style 48 kHz configuration with a float32 FFT.

        Options:
          --seconds S          Seconds of signal per configuration (default 60).
          --preset P           Only this preset: librosa, torchaudio, kaldi, whisper, micro or openwakeword.
          --sample-rate SR     Only this sample rate, in Hz.
          --n-fft N            Override n_fft (with --preset: one custom configuration).
          --hop-length N       Override hop_length.
          --win-length N       Override win_length.
          --window W           Override the window (hann, hann-float32, hamming, povey, rectangular).
          --n-mels N           Override n_mels.
          --fft-precision P    Override the FFT precision: single or double.
          --hops N             Run at least N hops per repetition (10000 is a good allocation check).
          --repetitions N      Timed repetitions per configuration; the best is kept (default 3).
          --block N            Samples per process call (default 256; with --offline 4096).
          --offline            Time MelAnalyzer.processFrames, the offline path that meltap file,
                               meltap.features and libmeltap's analyses run (every frame of a
                               block at once, computed where the samples are), instead of
                               process, the realtime callback's path. Same frames, bit for bit.
          --check-allocations  Exit 1 if any heap call happened inside process, or if the
                               rtguard shim is absent (run with LD_PRELOAD=librtguard.so).
          --sweep-n-fft SIZES  Instead of timing, run a few hops (--hops, default 4) of every n_fft
                               in SIZES in this one process and print the heap calls inside process
                               for each, in single and double precision (or --fft-precision's), next
                               to what RealFFT.isAllocationFree predicts. SIZES: comma-separated
                               even numbers and ranges, 16-4096 meaning every even number from 16 to
                               4096. Uses --preset (default librosa), --sample-rate (default 48000),
                               --n-mels (default 8); win_length = n_fft, hop = n_fft/4. With
                               --check-allocations, exits 1 when any size disagrees with the rule.
          --sweep-filter F     With --sweep-n-fft, run only the sizes the rule calls
                               allocation-free, or allocating (default all).
          --resample RATE      Instead of the analyzer, time Resampler.process (zita, libsamplerate) for
                               every --resampler quality, from --sample-rate (default 48000) to
                               RATE Hz, one channel in --block blocks, and count its heap calls
                               (with --check-allocations, exit 1 on any).
          -h, --help           Show this help.
        """
}

/// Writes `text` to standard error (fd 2; the C `stderr` global is not concurrency-safe in Swift 6).
func printError(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.append(UInt8(ascii: "\n"))
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// `--check-allocations` without the rtguard shim preloaded: say how to load it and exit 1.
func failWithoutShim() -> Never {
    printError("meltap-bench: --check-allocations needs the rtguard shim: build Tools/rtguard/rtguard.c as "
               + "librtguard.so and run with LD_PRELOAD=/path/to/librtguard.so.")
    exit(1)
}

func fail(_ message: String) -> Never {
    printError("meltap-bench: \(message)")
    exit(2)
}

func parseOptions(_ arguments: [String]) -> BenchOptions {
    var o = BenchOptions()
    var blockGiven = false
    var i = 0
    func value(_ name: String) -> String {
        i += 1
        guard i < arguments.count else { fail("\(name) needs a value. Run meltap-bench --help for the options.") }
        return arguments[i]
    }
    func number<T: LosslessStringConvertible & Comparable>(_ name: String, minimum: T) -> T {
        let text = value(name)
        guard let x = T(text), x >= minimum else {
            fail("\(name) must be a number of at least \(minimum); got '\(text)'.")
        }
        return x
    }
    while i < arguments.count {
        let a = arguments[i]
        switch a {
        case "--seconds": o.seconds = number(a, minimum: 0.1)
        case "--preset":
            let text = value(a)
            guard let p = MelPreset(rawValue: text) else {
                fail("Unknown preset '\(text)'. Choose librosa, torchaudio, kaldi, whisper, micro or openwakeword.")
            }
            o.preset = p
        case "--sample-rate": o.sampleRate = number(a, minimum: 1.0)
        case "--n-fft": o.overrides.fftLength = number(a, minimum: 16); o.hasOverrides = true
        case "--hop-length", "--hop": o.overrides.hopLength = number(a, minimum: 1); o.hasOverrides = true
        case "--win-length": o.overrides.windowLength = number(a, minimum: 1); o.hasOverrides = true
        case "--n-mels": o.overrides.melBandCount = number(a, minimum: 1); o.hasOverrides = true
        case "--window":
            let text = value(a)
            guard let w = WindowKind(rawValue: text) else {
                fail("--window must be one of \(WindowKind.allCases.map(\.rawValue).joined(separator: ", ")); got '\(text)'.")
            }
            o.overrides.window = w
            o.hasOverrides = true
        case "--fft-precision":
            let text = value(a)
            guard let p = FFTPrecision(rawValue: text) else { fail("--fft-precision must be single or double; got '\(text)'.") }
            o.overrides.fftPrecision = p
            o.hasOverrides = true
        case "--hops": o.minimumHops = number(a, minimum: 0)
        case "--repetitions": o.repetitions = number(a, minimum: 1)
        case "--block": o.blockLength = number(a, minimum: 1); blockGiven = true
        case "--offline": o.offline = true
        case "--check-allocations": o.checkAllocations = true
        case "--resample": o.resampleTo = number(a, minimum: 1.0)
        case "--sweep-n-fft":
            let text = value(a)
            guard let sizes = parseSizeList(text), !sizes.isEmpty else {
                fail("--sweep-n-fft takes even numbers and ranges separated by commas, such as 16-4096,8192; got '\(text)'.")
            }
            o.sweepSizes = sizes
        case "--sweep-filter":
            let text = value(a)
            guard let f = SweepFilter(rawValue: text) else {
                fail("--sweep-filter must be all, allocation-free or allocating; got '\(text)'.")
            }
            o.sweepFilter = f
        case "-h", "--help": print(BenchOptions.usage); exit(0)
        default: fail("Unknown option '\(a)'. Run meltap-bench --help for the options.")
        }
        i += 1
    }
    if let sizes = o.sweepSizes {
        if o.preset == .micro {
            fail("--sweep-n-fft does not apply to the micro preset: its FFT is fixed (512 points, fixed point, no FFTW).")
        }
        if o.overrides.fftLength != nil || o.overrides.hopLength != nil || o.overrides.windowLength != nil {
            fail("--sweep-n-fft sets n_fft, win_length and hop_length itself; drop --n-fft, --win-length and --hop-length.")
        }
        if let bad = sizes.first(where: { !RealFFT.supportedLengths.contains($0) }) {
            fail("--sweep-n-fft: n_fft must be from \(RealFFT.supportedLengths.lowerBound) to "
                 + "\(RealFFT.supportedLengths.upperBound); got \(bad).")
        }
        switch o.sweepFilter {
        case .all: break
        case .allocationFree: o.sweepSizes = sizes.filter { RealFFT.isAllocationFree(length: $0) }
        case .allocating: o.sweepSizes = sizes.filter { !RealFFT.isAllocationFree(length: $0) }
        }
        if o.sweepSizes!.isEmpty { fail("--sweep-filter \(o.sweepFilter.rawValue) leaves no size of --sweep-n-fft to run.") }
    } else if o.sweepFilter != .all {
        fail("--sweep-filter needs --sweep-n-fft.")
    }
    if o.hasOverrides && o.preset == nil && o.sweepSizes == nil { fail("Overrides such as --n-fft need a --preset to start from.") }
    if o.hasOverrides && o.sampleRate == nil && o.sweepSizes == nil { fail("Overrides such as --n-fft need a --sample-rate.") }
    if o.offline && !blockGiven { o.blockLength = 4096 }  // FileAnalyzer.blockLength
    if o.blockLength > MelConfiguration.maximumBlockLength {
        fail("--block must be at most \(MelConfiguration.maximumBlockLength) samples (JACK's largest period).")
    }
    return o
}

// MARK: - Configurations

/// One configuration to measure.
struct BenchCase {
    /// Short name without spaces (scripts/bench-peers parses the table).
    var name: String
    var configuration: MelConfiguration
}

func cases(for o: BenchOptions) -> [BenchCase] {
    func resolve(_ p: MelPreset, _ sr: Double, _ overrides: MelOverrides) -> MelConfiguration {
        do { return try overrides.resolve(preset: p, sampleRate: sr) } catch { fail(error.description) }
    }
    if o.hasOverrides, let p = o.preset, let sr = o.sampleRate {
        return [BenchCase(name: "\(p.rawValue)-custom", configuration: resolve(p, sr, o.overrides))]
    }
    var list: [BenchCase] = []
    for p in MelPreset.allCases where o.preset == nil || o.preset == p {
        for sr in [16000.0, 48000.0] where o.sampleRate == nil || o.sampleRate == sr {
            if let required = p.requiredSampleRate, sr != required { continue }  // whisper, micro: 16 kHz only
            list.append(BenchCase(name: p.rawValue, configuration: resolve(p, sr, MelOverrides())))
        }
    }
    // librosa-style 48 kHz (n_fft 2048, hop 512, 128 mels) with a float32 FFT: the precision
    // the C baseline uses by default.
    if o.preset == nil || o.preset == .librosa, o.sampleRate == nil || o.sampleRate == 48000 {
        var single = MelOverrides()
        single.fftLength = 2048
        single.hopLength = 512
        single.melBandCount = 128
        single.fftPrecision = .single
        list.append(BenchCase(name: "librosa-f32fft", configuration: resolve(.librosa, 48000, single)))
    }
    if let sr = o.sampleRate, list.isEmpty {
        fail("No configuration runs at \(sr) Hz with these options (whisper, micro and openwakeword run at 16000 Hz only).")
    }
    return list
}

// MARK: - Signal and allocation counter

/// melbase.c's signal: 0.3·sin(0.05·i) + LCG noise in ±0.05, float32.
func syntheticSignal(count: Int) -> [Float] {
    var x = [Float](repeating: 0, count: count)
    var s: UInt32 = 1
    for i in 0..<count {
        s = s &* 1664525 &+ 1013904223
        x[i] = 0.3 * sinf(Float(i) * 0.05) + (Float(s >> 8) / 16777216.0 - 0.5) * 0.1
    }
    return x
}

/// The rtguard shim's counters, looked up at run time (present only under LD_PRELOAD).
struct AllocationCounter {
    typealias Hook = @convention(c) () -> Void
    typealias Count = @convention(c) () -> Int
    let enter: Hook
    let leave: Hook
    let allocations: Count
    /// `rtguard_frees`; nil with an older shim that lacks it.
    let frees: Count?

    /// Nil when the process was not started with LD_PRELOAD=librtguard.so.
    static func find() -> AllocationCounter? {
        // RTLD_DEFAULT is ((void *) 0) on glibc: search the global symbol scope.
        guard let e = dlsym(nil, "rtguard_enter"), let l = dlsym(nil, "rtguard_leave"),
              let a = dlsym(nil, "rtguard_allocs") else { return nil }
        return AllocationCounter(enter: unsafeBitCast(e, to: Hook.self), leave: unsafeBitCast(l, to: Hook.self),
                                 allocations: unsafeBitCast(a, to: Count.self),
                                 frees: dlsym(nil, "rtguard_frees").map { unsafeBitCast($0, to: Count.self) })
    }
}

/// CPU time of this thread, in seconds. CPU time rather than wall time: on a shared machine the
/// time other processes hold the core is not ours (melbase and bench_peers.py measure the same way).
func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

// MARK: - Measurement

struct BenchResult {
    var hops: Int
    var bestSeconds: Double
    var signalSeconds: Double
    /// Heap calls counted over all repetitions, or nil when the shim is absent.
    var allocations: Int?
    var measuredHops: Int
}

/// Feeds `signal` through a fresh analyzer `repetitions` times (after one warm-up pass) and keeps
/// the fastest pass.
func measure(_ c: MelConfiguration, signal: [Float], options o: BenchOptions,
             counter: AllocationCounter?) -> BenchResult {
    let analyzer: MelAnalyzer
    do { analyzer = try MelAnalyzer(configuration: c, clampRule: .running) } catch { fail(error.description) }
    // One frame (process), or every frame a block can complete (processFrames).
    let rowCapacity = o.blockLength / c.hopLength + 2
    let frame = UnsafeMutablePointer<Float>.allocate(capacity: analyzer.frameWidth * rowCapacity)
    frame.initialize(repeating: 0, count: analyzer.frameWidth * rowCapacity)
    defer { frame.deallocate() }
    var best = Double.infinity, hops = 0, allocations = 0, measuredHops = 0
    var sink: Float = 0
    signal.withUnsafeBufferPointer { all in
        for repetition in 0...o.repetitions {
            analyzer.reset()
            let before = counter?.allocations() ?? 0
            counter?.enter()
            let t0 = threadCPUSeconds()
            var start = 0, frames = 0
            while start < all.count {
                let end = min(start + o.blockLength, all.count)
                var block = UnsafeBufferPointer(rebasing: all[start..<end])
                while !block.isEmpty {
                    if o.offline {
                        let done = analyzer.processFrames(block, into: frame, maxFrames: rowCapacity)
                        if done.frames > 0 { frames += done.frames; sink += frame[0] }
                        block = UnsafeBufferPointer(rebasing: block[done.consumed...])
                        continue
                    }
                    let step = analyzer.process(block, into: frame)
                    if step.frameIndex >= 0 { frames += 1; sink += frame[0] }
                    block = UnsafeBufferPointer(rebasing: block[step.consumed...])
                }
                start = end
            }
            let dt = threadCPUSeconds() - t0
            counter?.leave()
            allocations += (counter?.allocations() ?? 0) - before
            measuredHops += frames
            if repetition > 0 { best = min(best, dt) }  // repetition 0 warms caches and branch predictors
            hops = frames
        }
    }
    if sink.isNaN { print("(sink \(sink))") }  // keeps the frames observable to the optimiser
    return BenchResult(hops: hops, bestSeconds: best, signalSeconds: Double(signal.count) / c.sampleRate,
                       allocations: counter == nil ? nil : allocations, measuredHops: measuredHops)
}

// MARK: - Main

let options = parseOptions(Array(CommandLine.arguments.dropFirst()))
let counter = AllocationCounter.find()
if let sizes = options.sweepSizes { runSweep(options, sizes: sizes, counter: counter) }
if let rate = options.resampleTo { runResampleBench(options, to: rate, counter: counter) }
let list = cases(for: options)

func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return left ? s + fill : fill + s
}
/// `x` with `digits` decimals (no Foundation in this target).
func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return String(x) }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((abs(x) * scale).rounded())
    let whole = String(scaled / Int(scale)), sign = x < 0 && scaled > 0 ? "-" : ""
    guard digits > 0 else { return sign + whole }
    let fraction = String(scaled % Int(scale))
    return sign + whole + "." + String(repeating: "0", count: digits - fraction.count) + fraction
}

print("meltap-bench: MelAnalyzer.\(options.offline ? "processFrames" : "process"), blocks of \(options.blockLength) samples, ClampRule.running, "
      + "one thread, thread CPU time, best of \(options.repetitions) after a warm-up pass")
let header = [pad("config", 15, left: true), pad("sr", 6), pad("n_fft", 6), pad("hop", 5), pad("mels", 5),
              pad("fft", 4), pad("output", 7), pad("hops", 7), pad("ns/hop", 9), pad("x_realtime", 11),
              pad("allocs/hop", 11)]
print(header.joined(separator: " "))
var totalAllocations = 0
var allocationLines: [String] = []
for item in list {
    let c = item.configuration
    let samples = max(Int(options.seconds * c.sampleRate), options.minimumHops * c.hopLength + c.frameLength)
    let signal = syntheticSignal(count: samples)
    let r = measure(c, signal: signal, options: options, counter: counter)
    let nsPerHop = r.bestSeconds * 1e9 / Double(max(1, r.hops))
    let allocationsPerHop = r.allocations.map { fixed(Double($0) / Double(max(1, r.measuredHops)), 3) } ?? "n/a"
    let row = [pad(item.name, 15, left: true), pad(String(Int(c.sampleRate)), 6), pad(String(c.fftLength), 6),
               pad(String(c.hopLength), 5), pad(String(c.melBandCount), 5),
               pad(c.filterbank == .micro ? "i16" : c.fftPrecision == .double && c.filterbank != .kaldi ? "f64" : "f32", 4),
               pad(c.output.rawValue, 7), pad(String(r.hops), 7), pad(fixed(nsPerHop, 0), 9),
               pad(fixed(r.signalSeconds / r.bestSeconds, 0), 11), pad(allocationsPerHop, 11)]
    print(row.joined(separator: " "))
    if let a = r.allocations {
        totalAllocations += a
        allocationLines.append("\(item.name) @ \(Int(c.sampleRate)) Hz: allocations: \(a) over \(r.measuredHops) hops")
    }
}
if counter == nil {
    print("allocations: not measured (run with LD_PRELOAD=librtguard.so)")
} else {
    for line in allocationLines { print(line) }
}
if options.checkAllocations {
    if counter == nil { failWithoutShim() }
    if totalAllocations > 0 {
        printError("meltap-bench: \(totalAllocations) heap calls inside MelAnalyzer.process; it must not allocate. "
                   + "Run with RTGUARD_ABORT=1 for a backtrace of the first.")
        exit(1)
    }
    print("allocation check passed: no heap calls inside process")
}
