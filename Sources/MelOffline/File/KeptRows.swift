// The offline driver: rows kept in memory until the end of a file.

import Glibc

/// Float values in one `malloc`'d block that grows (`realloc`) as rows arrive: the rows a file
/// analysis keeps for its deferred clamp, its bands-first layout, or its caller in memory.
/// `takeValues()` hands the block itself to the caller (the C ABI's result), so an array
/// analysed in memory reaches numpy without a copy of its values or the page faults of a
/// second block.
///
/// Ownership: owns the block until `takeValues()`; freed in deinit otherwise. Not thread-safe.
public final class KeptRows {
    /// The values so far; nil while nothing is allocated.
    private var base: UnsafeMutablePointer<Float>?
    /// Values held.
    public private(set) var count = 0
    /// Values the block has room for.
    private var capacity = 0

    /// An empty store with room for `capacity` values. From 4 MiB on, the block's pages are
    /// advised as transparent huge pages (madvise(2), `MADV_HUGEPAGE`; the kernel's default mode
    /// is `madvise`): a 600 s Whisper file keeps 19 MB of rows, and first touching them 4 KiB at a
    /// time was about 4 100 page faults, 11 % of `meltap file`'s CPU time in a KVM guest (task
    /// clock 85.0 → 75.5 ms, docs/performance.md). Advice only: where the kernel gives no huge
    /// pages, nothing changes.
    public init(reserving capacity: Int) {
        if capacity > 0 { grow(to: capacity) }
    }

    deinit { free(base) }

    /// The values held, to read or change in place (valid until the next append).
    var values: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: count) }

    /// Appends `values` after the ones held.
    public func append(_ values: UnsafeBufferPointer<Float>) {
        guard let source = values.baseAddress, !values.isEmpty else { return }
        if count + values.count > capacity { grow(to: max(count + values.count, capacity * 2)) }
        (base! + count).initialize(from: source, count: values.count)
        count += values.count
    }

    /// Room for `width` more values after the ones held, for a producer to write the next row in
    /// place (the analyzer's frame, with no copy through a frame buffer); `commitRow` keeps it.
    /// The pointer is valid until the next `nextRow` or `append` (growing may move the block).
    func nextRow(width: Int) -> UnsafeMutablePointer<Float> {
        if count + width > capacity { grow(to: max(count + width, capacity * 2)) }
        return base! + count
    }

    /// Keeps the row `nextRow(width:)` gave room for.
    func commitRow(width: Int) { count += width }

    /// Keeps the first `count` values (a shrinking finish, such as the MFCC's DCT).
    func truncate(to newCount: Int) { count = min(count, max(0, newCount)) }

    /// Replaces every value with `values` (the rare paths that rearrange the rows in an array).
    func replace(with values: [Float]) {
        count = 0
        values.withUnsafeBufferPointer { append($0) }
    }

    /// The values as an array (a copy), for the rare paths that rearrange them.
    var array: [Float] { Array(values) }

    /// Hands over the block: the caller owns `count` values and frees the pointer with `free`
    /// (nil when nothing was kept). The store is empty afterwards.
    public func takeValues() -> UnsafeMutablePointer<Float>? {
        defer { base = nil; count = 0; capacity = 0 }
        return base
    }

    private func grow(to newCapacity: Int) {
        let bytes = newCapacity * MemoryLayout<Float>.stride
        guard let raw = realloc(base.map(UnsafeMutableRawPointer.init), bytes) else {
            fatalError("meltap: out of memory keeping \(bytes) bytes of feature rows")
        }
        base = raw.bindMemory(to: Float.self, capacity: newCapacity)
        capacity = newCapacity
        if bytes >= 4 << 20 {
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let start = (Int(bitPattern: raw) + page - 1) / page * page
            let end = (Int(bitPattern: raw) + bytes) / page * page
            _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_HUGEPAGE)
        }
    }
}
