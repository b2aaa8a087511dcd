// meltap-bench --resample RATE: the resampler's cost per channel (Resampler.process, as the JACK
// callback calls it), for every quality, and its heap calls under the rtguard counter.
import Glibc
import MelResample

/// Times `Resampler.process` on the synthetic signal at `--sample-rate` (default 48000 Hz) to
/// `rate` Hz, one channel, in `--block` blocks: best of `--repetitions` after a warm-up pass.
/// Prints one row per quality and exits (1 with `--check-allocations` when anything allocated).
func runResampleBench(_ o: BenchOptions, to rate: Double, counter: AllocationCounter?) -> Never {
    let inputRate = o.sampleRate ?? 48000
    let signal = syntheticSignal(count: Int(o.seconds * inputRate))
    print("meltap-bench: Resampler.process (\(ResamplerQuality.zita.libraryDescription); \(Resampler.libraryVersion)), \(Int(inputRate)) → \(Int(rate)) Hz, "
          + "one channel, blocks of \(o.blockLength) samples, thread CPU time, best of \(o.repetitions) after a warm-up pass")
    print([pad("resampler", 13, left: true), pad("look-ahead", 11), pad("us/block", 9), pad("%core/ch", 9),
           pad("x_realtime", 11), pad("allocations", 12)].joined(separator: " "))
    var total = 0
    for quality in ResamplerQuality.allCases {
        let resampler: Resampler
        do { resampler = try Resampler(inputRate: inputRate, outputRate: rate, quality: quality) } catch { fail("\(error)") }
        let capacity = resampler.outputCapacity(forInputCount: o.blockLength)
        let output = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
        output.initialize(repeating: 0, count: capacity)
        defer { output.deallocate() }
        var best = Double.infinity, allocations = 0, sink: Float = 0
        signal.withUnsafeBufferPointer { all in
            for repetition in 0...o.repetitions {
                resampler.reset()
                let before = counter?.allocations() ?? 0
                counter?.enter()
                let t0 = threadCPUSeconds()
                var start = 0
                while start < all.count {
                    let end = min(start + o.blockLength, all.count)
                    let made = resampler.process(UnsafeBufferPointer(rebasing: all[start..<end]), into: output,
                                                 capacity: capacity)
                    if made > 0 { sink += output[0] }
                    start = end
                }
                let dt = threadCPUSeconds() - t0
                counter?.leave()
                allocations += (counter?.allocations() ?? 0) - before
                if repetition > 0 { best = min(best, dt) }
            }
        }
        if sink.isNaN { print("(sink \(sink))") }
        total += allocations
        let seconds = Double(signal.count) / inputRate
        let blocks = Double((signal.count + o.blockLength - 1) / o.blockLength)
        print([pad(quality.rawValue, 13, left: true), pad(String(resampler.lookahead), 11),
               pad(fixed(best / blocks * 1e6, 1), 9), pad(fixed(100 * best / seconds, 2), 9),
               pad(fixed(seconds / best, 0), 11), pad(counter == nil ? "n/a" : String(allocations), 12)]
              .joined(separator: " "))
    }
    if o.checkAllocations {
        if counter == nil { failWithoutShim() }
        if total > 0 {
            printError("meltap-bench: \(total) heap calls inside Resampler.process; it must not allocate.")
            exit(1)
        }
    }
    exit(0)
}
