#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import MelSystem

/// A preallocated single-producer single-consumer ring of fixed-size frame slots.
///
/// Each slot holds one `FrameMetadata` and `width` float32 values. The producer is the JACK
/// realtime thread; the consumer is one ordinary thread. Both positions count pushes and pops
/// from 0 and never wrap in practice (`Int` is 64-bit); a slot index is `position & mask`.
///
/// Ownership: the ring owns its storage (allocated and prefaulted in `init`, freed in `deinit`).
/// Exactly one thread may call `tryPush` and exactly one (possibly other) thread may call `pop`
/// and `wait` at any one time; handing either role to another thread needs a happens-before
/// edge (a join, a semaphore) between the old and new owner.
public final class FrameRing: @unchecked Sendable {
    /// Values per slot (the analyzer's frame width).
    public let width: Int
    /// Slots in the ring, a power of two.
    public let capacity: Int
    private let mask: Int
    /// `capacity` metadata records.
    private let metadata: UnsafeMutablePointer<FrameMetadata>
    /// `capacity * width` floats, slot-major.
    private let values: UnsafeMutablePointer<Float>
    /// Pushes completed: written only by the producer, read by the consumer.
    private let head = Atomic<Int>(0)
    /// Pops completed: written only by the consumer, read by the producer.
    private let tail = Atomic<Int>(0)
    /// The consumer sleeps on it; the producer posts it at most once per `wakeConsumerIfWaiting`,
    /// and only while `consumerWaiting` is set.
    private let semaphore: UnsafeMutablePointer<sem_t>
    /// Set by the consumer just before it sleeps, cleared by whichever side sees it first.
    private let consumerWaiting = Atomic<Bool>(false)
    /// `sem_post` calls made by the producer (each one may enter the kernel); a report only.
    private let wakeCount = Atomic<UInt64>(0)

    /// Allocates and touches every byte of the ring so the realtime thread never page-faults.
    /// - Parameters:
    ///   - width: values per frame, ≥ 0.
    ///   - minimumCapacity: slots wanted, ≥ 1; rounded up to a power of two.
    public init(width: Int, minimumCapacity: Int) {
        precondition(width >= 0 && minimumCapacity >= 1, "FrameRing needs width ≥ 0 and capacity ≥ 1")
        var capacity = 1
        while capacity < minimumCapacity { capacity <<= 1 }
        self.width = width
        self.capacity = capacity
        self.mask = capacity - 1
        metadata = .allocate(capacity: capacity)
        metadata.initialize(repeating: FrameMetadata(sequence: 0, channel: 0, frameTime: 0), count: capacity)
        values = .allocate(capacity: max(1, capacity * width))
        // Prefault: writing every element maps every page now, not in the callback.
        values.initialize(repeating: 0, count: max(1, capacity * width))
        semaphore = .allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
        metadata.deallocate()
        values.deallocate()
    }

    /// Frames waiting to be popped (a snapshot; exact only on the consumer thread).
    public var count: Int {
        // Acquiring both: a snapshot for reporting, no data is read through it.
        head.load(ordering: .acquiring) - tail.load(ordering: .acquiring)
    }

    /// Copies one frame into the next free slot. Does not wake the consumer: the producer calls
    /// `wakeConsumerIfWaiting()` once after a batch of pushes (once per JACK callback).
    ///
    /// Returns false, without waiting or writing anything, when the ring is full: the caller
    /// counts the drop and flags the next frame with `.gap`.
    /// Real-time safe: no allocation, locks or system calls.
    /// - Parameters:
    ///   - values: `width` floats, read before this returns.
    @_noAllocation @_noLocks
    public func tryPush(metadata record: FrameMetadata, values source: UnsafePointer<Float>) -> Bool {
        guard let position = reserve() else { return false }
        metadata[position & mask] = record
        commit(position, values: source)
        return true
    }

    /// `tryPush(metadata:values:)` with the metadata given field by field, for callers that
    /// carry performance annotations: `FrameMetadata`'s and `FrameFlags`' initialisers live in
    /// another file (another module for MelJack) where the checker cannot see their bodies.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    public func tryPush(sequence: UInt64, channel: UInt32, frameTime: Int64, rawFlags: UInt32,
                        values source: UnsafePointer<Float>) -> Bool {
        guard let position = reserve() else { return false }
        let slot = metadata + (position & mask)
        // Stored-property writes: direct, no initialiser call.
        slot.pointee.sequence = sequence
        slot.pointee.channel = channel
        slot.pointee.frameTime = frameTime
        // FrameFlags is a single UInt32 stored property: same layout, bit-cast is exact.
        slot.pointee.flags = unsafeBitCast(rawFlags, to: FrameFlags.self)
        commit(position, values: source)
        return true
    }

    /// The next push position, or nil when the ring is full.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    @inline(__always)
    private func reserve() -> Int? {
        // Relaxed: only this thread writes head.
        let position = head.load(ordering: .relaxed)
        // Acquiring: pairs with the consumer's releasing store of tail, so the consumer has
        // finished reading a slot before we overwrite it.
        let popped = tail.load(ordering: .acquiring)
        return position - popped >= capacity ? nil : position
    }

    /// Copies the values into slot `position` and publishes it.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    @inline(__always)
    private func commit(_ position: Int, values source: UnsafePointer<Float>) {
        if width > 0 {
            // A raw byte copy: Float is trivial, so no per-element (de)initialisation is needed.
            UnsafeMutableRawPointer(values + (position & mask) * width)
                .copyMemory(from: source, byteCount: width * MemoryLayout<Float>.stride)
        }
        // Releasing: publishes the slot's contents before the consumer can see the new head.
        head.store(position + 1, ordering: .releasing)
    }

    /// Wakes the consumer if, and only if, it has announced that it is about to sleep; then
    /// `sem_post` enters the kernel (a futex wake). Call it once after a batch of pushes: the
    /// JACK callback calls it at most once per period, so there is at most one system call per
    /// callback, and none while the consumer is busy draining.
    ///
    /// Lost wake-ups cannot happen: the consumer sets `consumerWaiting` and then checks for
    /// frames, the producer publishes frames and then checks `consumerWaiting`, each with a
    /// sequentially consistent fence between its store and its load, so at least one of them
    /// sees the other's store. (The consumer's wait also times out, as a backstop.)
    /// Real-time safe: no allocation or locks; at most one `sem_post`, only for a sleeping consumer.
    @_noAllocation @_noLocks
    public func wakeConsumerIfWaiting() {
        // Pairs with the fence in `wait`: orders our head store before the load below.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        // Relaxed load first: the common case (consumer awake) writes nothing shared.
        guard consumerWaiting.load(ordering: .relaxed),
              consumerWaiting.exchange(false, ordering: .relaxed) else { return }
        wakeCount.add(1, ordering: .relaxed)
        let semaphore = self.semaphore  // a local: capturing self in the closure would retain it
        _unsafePerformance { _ = sem_post(semaphore) }
    }

    /// `sem_post` calls made by `wakeConsumerIfWaiting` so far (each one a possible system call).
    public var wakeups: UInt64 { wakeCount.load(ordering: .relaxed) }

    /// Copies the oldest frame's values into `destination` (`width` floats) and returns its
    /// metadata, or returns nil when the ring is empty. Consumer thread only.
    public func pop(into destination: UnsafeMutablePointer<Float>) -> FrameMetadata? {
        // Relaxed: only this thread writes tail.
        let position = tail.load(ordering: .relaxed)
        // Acquiring: pairs with the producer's releasing store of head, so the slot's
        // contents are visible before we read them.
        let pushed = head.load(ordering: .acquiring)
        if position == pushed { return nil }
        let slot = position & mask
        let record = metadata[slot]
        if width > 0 {
            UnsafeMutableRawPointer(destination)
                .copyMemory(from: values + slot * width, byteCount: width * MemoryLayout<Float>.stride)
        }
        // Releasing: our reads of the slot happen before the producer may reuse it.
        tail.store(position + 1, ordering: .releasing)
        return record
    }

    /// Sleeps until frames are pushed (and the producer calls `wakeConsumerIfWaiting`) or
    /// `timeout` seconds pass, whichever is first. Returns at once, true, when frames are
    /// already waiting. Spurious wakeups are harmless: call `pop` in a loop.
    /// Uses `sem_timedwait` (`MelSystem.wait(on:seconds:)`, retried on EINTR). Consumer thread only.
    @discardableResult
    public func wait(timeout: Double) -> Bool { wait(timeout: timeout, alsoWatching: []) }

    /// `wait(timeout:)` for one consumer of several rings whose producer wakes it through this
    /// ring only (one `sem_post` per callback for all of them): after announcing the sleep it
    /// looks for frames in `others` too, so a frame pushed to any of them before the producer's
    /// `wakeConsumerIfWaiting()` on this ring is never missed (the same fence argument).
    /// Consumer thread only, and the consumer of every ring in `others`.
    @discardableResult
    public func wait(timeout: Double, alsoWatching others: [FrameRing]) -> Bool {
        // Announce the sleep, then look for frames (see `wakeConsumerIfWaiting`).
        consumerWaiting.store(true, ordering: .relaxed)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if head.load(ordering: .relaxed) != tail.load(ordering: .relaxed)
            || others.contains(where: { $0.head.load(ordering: .relaxed) != $0.tail.load(ordering: .relaxed) }) {
            consumerWaiting.store(false, ordering: .relaxed)
            return true
        }
        defer { consumerWaiting.store(false, ordering: .relaxed) }
        return MelSystem.wait(on: semaphore, seconds: timeout)
    }
}
