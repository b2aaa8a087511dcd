import Glibc
import Synchronization

/// A preallocated histogram of durations with log-spaced buckets, written by one thread
/// (the realtime thread) and read by any other.
///
/// Buckets: 20 per decade from 100 ns to 10 s (bucket i holds durations up to
/// `upperBounds[i]` ns), plus one overflow bucket. Resolution is about 12 %: percentiles are
/// reported as the upper bound of their bucket; the maximum is exact.
struct DurationHistogram: ~Copyable {
    static let bucketsPerDecade = 20
    static let lowestBound = 100.0        // ns
    static let decades = 8                // up to 10 s
    let bucketCount: Int
    /// `bucketCount` upper bounds in ns, increasing; the last one is `UInt64.max` (overflow).
    let upperBounds: UnsafeMutablePointer<UInt64>
    /// `bucketCount` counts.
    let counts: UnsafeMutablePointer<Atomic<UInt64>>
    let maximum = Atomic<UInt64>(0)
    let total = Atomic<UInt64>(0)
    let samples = Atomic<UInt64>(0)

    init() {
        let count = Self.bucketsPerDecade * Self.decades + 1
        bucketCount = count
        upperBounds = .allocate(capacity: count)
        counts = .allocate(capacity: count)
        for index in 0..<count {
            let bound = Self.lowestBound * pow(10, Double(index) / Double(Self.bucketsPerDecade))
            upperBounds[index] = index == count - 1 ? UInt64.max : UInt64(bound.rounded(.up))
            (counts + index).initialize(to: Atomic<UInt64>(0))
        }
    }

    deinit {
        counts.deinitialize(count: bucketCount)
        counts.deallocate()
        upperBounds.deallocate()
    }

    /// Adds one duration. Single writer: the relaxed load-then-store pairs are not races.
    /// Real-time safe: no allocation, locks or system calls (a binary search over the bounds).
    @_noAllocation @_noLocks
    func record(nanoseconds: UInt64) {
        var low = 0
        var high = bucketCount - 1
        while low < high {
            let middle = (low + high) / 2
            if nanoseconds <= upperBounds[middle] { high = middle } else { low = middle + 1 }
        }
        // Relaxed: statistics, no data is published through these.
        counts[low].store(counts[low].load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        if nanoseconds > maximum.load(ordering: .relaxed) { maximum.store(nanoseconds, ordering: .relaxed) }
        total.store(total.load(ordering: .relaxed) &+ nanoseconds, ordering: .relaxed)
        samples.store(samples.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }

    /// The bucket counts (not cumulative) and the sum. Off the realtime thread only (allocates).
    func buckets() -> DurationBuckets {
        DurationBuckets(
            buckets: (0..<bucketCount).map { index in
                (upperBoundNanoseconds: index == bucketCount - 1 ? nil : upperBounds[index],
                 count: counts[index].load(ordering: .relaxed))
            },
            sumNanoseconds: total.load(ordering: .relaxed))
    }

    /// A snapshot. Off the realtime thread only (allocates).
    func summary() -> DurationSummary {
        var values = [UInt64](repeating: 0, count: bucketCount)
        for index in 0..<bucketCount { values[index] = counts[index].load(ordering: .relaxed) }
        let n = values.reduce(0, +)
        let maximumValue = maximum.load(ordering: .relaxed)
        func percentile(_ p: Double) -> Double {
            guard n > 0 else { return 0 }
            let rank = UInt64((p * Double(n)).rounded(.up))
            var seen: UInt64 = 0
            for index in 0..<bucketCount {
                seen += values[index]
                if seen >= max(1, rank) {
                    return Double(min(upperBounds[index], maximumValue)) / 1000
                }
            }
            return Double(maximumValue) / 1000
        }
        let totalValue = total.load(ordering: .relaxed)
        return DurationSummary(
            count: n, p50: percentile(0.5), p99: percentile(0.99), p999: percentile(0.999),
            maximum: Double(maximumValue) / 1000,
            mean: n > 0 ? Double(totalValue) / Double(n) / 1000 : 0)
    }
}

/// Callback durations, in microseconds. Percentiles are bucket upper bounds (±12 %), capped by
/// the exact maximum.
public struct DurationSummary: Sendable, Equatable, CustomStringConvertible {
    public var count: UInt64
    public var p50: Double
    public var p99: Double
    public var p999: Double
    public var maximum: Double
    public var mean: Double

    public var description: String {
        func f(_ v: Double) -> String {
            let scaled = (v * 10).rounded() / 10
            return "\(scaled)"
        }
        return "callbacks \(count): p50 ≤ \(f(p50)) µs, p99 ≤ \(f(p99)) µs, p99.9 ≤ \(f(p999)) µs, "
            + "max \(f(maximum)) µs, mean \(f(mean)) µs"
    }
}

/// The callback-duration histogram's buckets: 20 per decade from 100 ns to 10 s, then the
/// overflow bucket (upper bound nil). Counts are per bucket, not cumulative; they and the sum are
/// read one by one while the callback runs, so they may disagree by a callback or two.
public struct DurationBuckets: Sendable {
    public var buckets: [(upperBoundNanoseconds: UInt64?, count: UInt64)]
    public var sumNanoseconds: UInt64
}
