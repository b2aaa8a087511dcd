import MelTransport
import Synchronization

/// Frames computed but not yet pushed, per channel: a FIFO of fixed slots, so that an xrun
/// reported after a frame was computed can still flag it (`JackClientOptions.xrunHold`).
/// With no hold, frames pass through it within the same callback.
///
/// Ownership: allocated and prefaulted by `RealtimeEngine.init`, freed by its `destroy`; touched
/// only by the realtime thread while the engine runs.
package struct FrameHold {
    /// Slots per channel.
    package let capacity: Int
    /// Values per frame.
    package let width: Int
    /// channels × capacity × width floats, channel-major.
    package let values: UnsafeMutablePointer<Float>
    /// channels × capacity: frame time, raw flags, analyzer index of the first sample.
    package let frameTime: UnsafeMutablePointer<Int64>
    package let flags: UnsafeMutablePointer<UInt32>
    package let firstSample: UnsafeMutablePointer<Int64>
    /// Per channel: slot of the oldest held frame, and how many are held.
    package let oldest: UnsafeMutablePointer<Int>
    package let count: UnsafeMutablePointer<Int>

    init(channels: Int, capacity: Int, width: Int) {
        self.capacity = capacity
        self.width = width
        let slots = channels * capacity
        values = .prefaulted(count: max(1, slots * width), repeating: 0)
        frameTime = .prefaulted(count: slots, repeating: 0)
        flags = .prefaulted(count: slots, repeating: 0)
        firstSample = .prefaulted(count: slots, repeating: 0)
        oldest = .prefaulted(count: channels, repeating: 0)
        count = .prefaulted(count: channels, repeating: 0)
    }

    func deallocate() {
        values.deallocate(); frameTime.deallocate(); flags.deallocate(); firstSample.deallocate()
        oldest.deallocate(); count.deallocate()
    }
}

/// Counters of one stream, written by the realtime thread, read by others (relaxed: reports).
package struct LaneCounters: ~Copyable {
    /// Frames of this stream pushed into its ring.
    package let frames = Atomic<UInt64>(0)
    /// Frames of this stream its ring had no room for.
    package let drops = Atomic<UInt64>(0)
}

/// One stream's realtime state: its ring, hold, per-channel sequence numbers and flags, its
/// analysis-sample clock and its damage log. Preallocated by `RealtimeEngine.init`; written by the
/// realtime thread while the engine runs, by the supervisor only while it does not.
package struct StreamLane {
    /// Destination ring; the engine's builder keeps the object alive.
    package let ring: Unmanaged<FrameRing>
    /// Computed frames waiting to be pushed.
    package let hold: FrameHold
    /// Per channel: the next frame's sequence number.
    package let sequence: UnsafeMutablePointer<UInt64>
    /// Per channel: flags for the next frame computed (raw `FrameFlags`: a new stream's flags).
    package let pendingFlags: UnsafeMutablePointer<UInt32>
    /// Per channel: flags for the next frame pushed (`.gap` after a drop).
    package let pushFlags: UnsafeMutablePointer<UInt32>
    /// Stretches damaged by xruns (in this stream's analysis samples), and the next slot.
    package let damage: DamageLog
    package var nextDamageSlot: Int = 0
    /// Analyzer input samples fed since the stream started (same for every channel), in this
    /// stream's analysis samples.
    package var samplesFed: Int64 = 0
    /// Analysis-sample index at which the block times last jumped: frames whose first sample lies
    /// before it but complete after it span the jump and carry `.discontinuity`.
    package var lastJumpIndex: Int64 = .min
    /// Analysis samples produced for the channel being processed, and the most for any channel
    /// in this block (scratch of one callback).
    package var channelProduced: Int = 0
    package var blockProduced: Int = 0
    /// Frames and drops of this stream.
    package let counters: UnsafeMutablePointer<LaneCounters>
    /// Analysis samples a block delivered but the frame budget left unanalysed, per channel
    /// (`backlogCapacity` floats each, channel-major), analysed first thing in the next block
    /// (see `spreadFrames`); and how many each channel holds.
    package let backlog: UnsafeMutablePointer<Float>
    package let backlogCount: UnsafeMutablePointer<Int>
    /// Floats per channel in `backlog`: one largest period's analysis samples.
    package let backlogCapacity: Int

    init(ring: FrameRing, channels: Int, holdCapacity: Int, backlogCapacity: Int) {
        self.ring = .passUnretained(ring)
        hold = FrameHold(channels: channels, capacity: holdCapacity, width: ring.width)
        sequence = .prefaulted(count: channels, repeating: 0)
        pendingFlags = .prefaulted(count: channels, repeating: 0)
        pushFlags = .prefaulted(count: channels, repeating: 0)
        damage = DamageLog()
        self.backlogCapacity = backlogCapacity
        backlog = .prefaulted(count: max(1, channels * backlogCapacity), repeating: 0)
        backlogCount = .prefaulted(count: channels, repeating: 0)
        counters = .allocate(capacity: 1)
        counters.initialize(to: LaneCounters())
    }

    func deallocate() {
        hold.deallocate(); damage.deallocate()
        sequence.deallocate(); pendingFlags.deallocate(); pushFlags.deallocate()
        backlog.deallocate(); backlogCount.deallocate()
        counters.deinitialize(count: 1)
        counters.deallocate()
    }
}
