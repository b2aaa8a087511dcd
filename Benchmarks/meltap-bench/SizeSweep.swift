// meltap-bench --sweep-n-fft: heap calls inside MelAnalyzer.process for many n_fft values in one
// process, checked against RealFFT.isAllocationFree (the rule `meltap run` enforces).
import Glibc
import MelDSP

/// Parses "16-4096,5000,8192-8200": comma-separated even n_fft values and ranges, a range meaning
/// every even number from its first to its last value. Returns nil on a malformed list.
func parseSizeList(_ text: String) -> [Int]? {
    var sizes: [Int] = []
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
        let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(bounds.count), let first = Int(bounds[0]), let last = Int(bounds[bounds.count - 1]),
              first <= last else { return nil }
        var n = first + (first & 1)
        while n <= last { sizes.append(n); n += 2 }
    }
    return sizes
}

/// Which sizes of the list to run, by what the rule says of them.
enum SweepFilter: String {
    case all
    case allocationFree = "allocation-free"
    case allocating
}

/// One size × precision of the sweep.
struct SweepResult {
    var fftLength: Int
    var precision: FFTPrecision
    var frames: Int
    var allocations: Int
    var frees: Int
    /// `RealFFT.isAllocationFree(length:)`.
    var ruleSaysFree: Bool
    var agrees: Bool { ruleSaysFree == (allocations == 0 && frees == 0) }
}

/// Runs `hops` hops of every size in `sizes` × `precisions` under the rtguard counter: the
/// analyzer (FFTW plan included) is built outside the counted region, only `process` is counted.
/// Configurations: `preset` at `sampleRate`, win_length = n_fft, hop = n_fft/4, `melBandCount` bands.
func sweepSizes(_ sizes: [Int], precisions: [FFTPrecision], preset: MelPreset, sampleRate: Double,
                melBandCount: Int, hops: Int, blockLength: Int, counter: AllocationCounter?) -> [SweepResult] {
    guard let largest = sizes.max() else { return [] }
    let signal = syntheticSignal(count: hops * max(1, largest / 4) + largest)
    var results: [SweepResult] = []
    results.reserveCapacity(sizes.count * precisions.count)
    for n in sizes {
        for precision in precisions {
            var overrides = MelOverrides()
            overrides.fftLength = n
            overrides.windowLength = n
            overrides.hopLength = max(1, n / 4)
            overrides.melBandCount = melBandCount
            overrides.fftPrecision = precision
            let configuration: MelConfiguration, analyzer: MelAnalyzer
            do {
                configuration = try overrides.resolve(preset: preset, sampleRate: sampleRate)
                analyzer = try MelAnalyzer(configuration: configuration, clampRule: .running)
            } catch {
                fail("n_fft \(n): \(error.description)")
            }
            let count = hops * configuration.hopLength + configuration.frameLength
            let frame = UnsafeMutablePointer<Float>.allocate(capacity: analyzer.frameWidth)
            frame.initialize(repeating: 0, count: analyzer.frameWidth)
            defer { frame.deallocate() }
            let allocationsBefore = counter?.allocations() ?? 0, freesBefore = counter?.frees?() ?? 0
            var frames = 0
            signal.withUnsafeBufferPointer { all in
                counter?.enter()
                var start = 0
                while start < count {
                    var block = UnsafeBufferPointer(rebasing: all[start..<min(start + blockLength, count)])
                    while !block.isEmpty {
                        let step = analyzer.process(block, into: frame)
                        if step.frameIndex >= 0 { frames += 1 }
                        block = UnsafeBufferPointer(rebasing: block[step.consumed...])
                    }
                    start += blockLength
                }
                counter?.leave()
            }
            results.append(SweepResult(
                fftLength: n, precision: precision, frames: frames,
                allocations: (counter?.allocations() ?? 0) - allocationsBefore,
                frees: (counter?.frees?() ?? 0) - freesBefore,
                ruleSaysFree: RealFFT.isAllocationFree(length: n)))
        }
    }
    return results
}

/// The sweep mode's output: one line per size and precision, then a summary per precision.
/// With `check`, exits 1 when the shim is absent or any result disagrees with the rule.
func runSweep(_ o: BenchOptions, sizes: [Int], counter: AllocationCounter?) -> Never {
    let preset = o.preset ?? .librosa
    // The kaldi preset always transforms in float32 (MelAnalyzer ignores fftPrecision for it).
    let precisions: [FFTPrecision] = preset == .kaldi ? [.single] : o.overrides.fftPrecision.map { [$0] } ?? [.single, .double]
    let sampleRate = o.sampleRate ?? preset.requiredSampleRate ?? 48000
    let hops = o.minimumHops > 0 ? o.minimumHops : 4
    print("meltap-bench sweep: \(sizes.count) n_fft values x \(precisions.map(\.rawValue).joined(separator: ", ")); "
          + "preset \(preset.rawValue) at \(Int(sampleRate)) Hz, win_length = n_fft, hop = n_fft/4, "
          + "\(hops) hops each; heap calls inside process only (rtguard)")
    if counter == nil { print("allocations: not measured (run with LD_PRELOAD=librtguard.so)") }
    let t0 = threadCPUSeconds()
    let results = sweepSizes(sizes, precisions: precisions, preset: preset, sampleRate: sampleRate,
                             melBandCount: o.overrides.melBandCount ?? 8, hops: hops, blockLength: o.blockLength,
                             counter: counter)
    let seconds = threadCPUSeconds() - t0
    for r in results {
        // Fixed words, one size per line: scripts/fft-size-sweep and FFTSizeSweepTests parse it.
        print("n_fft \(r.fftLength) \(r.precision.rawValue) frames \(r.frames) allocations \(r.allocations) "
              + "frees \(r.frees) rule \(r.ruleSaysFree ? "free" : "allocating")"
              + (counter != nil && !r.agrees ? " MISMATCH" : ""))
    }
    var mismatches = 0
    for precision in precisions {
        let mine = results.filter { $0.precision == precision }
        let allocating = mine.filter { $0.allocations > 0 || $0.frees > 0 }
        let wrong = mine.filter { !$0.agrees }
        mismatches += wrong.count
        print("summary \(precision.rawValue): \(mine.count) sizes, \(allocating.count) allocate, "
              + "\(mine.count - allocating.count) do not; the rule predicts \(mine.filter { !$0.ruleSaysFree }.count) "
              + "allocating; mismatches \(counter == nil ? "n/a" : String(wrong.count))"
              + (wrong.isEmpty || counter == nil ? "" : ": " + wrong.map { String($0.fftLength) }.joined(separator: " ")))
    }
    print("sweep took \(fixed(seconds, 1)) s of CPU")
    if o.checkAllocations {
        if counter == nil { failWithoutShim() }
        if mismatches > 0 {
            printError("meltap-bench: \(mismatches) size(s) disagree with RealFFT.isAllocationFree (see the MISMATCH "
                       + "lines): a size the rule accepts allocated, or one it refuses did not. Fix the rule in "
                       + "Sources/MelDSP/Spectrum/FFTSizes.swift.")
            exit(1)
        }
        print("allocation check passed: every size allocates exactly as RealFFT.isAllocationFree predicts")
    }
    exit(0)
}
