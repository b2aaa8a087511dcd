// The offline driver: frames of each channel in, rows of every channel's frame t out.

/// Gathers each analysed channel's frames and hands out rows: row t holds frame t of every
/// channel, channels in order. Channels run ahead of one another by up to a block, so frames
/// wait here until every channel has produced frame t.
///
/// Memory: the frames not yet in a row (at most about a block's worth per channel) and one row
/// buffer, both reused.
struct FrameInterleaver {
    /// Values per frame of one channel (`MelAnalyzer.frameWidth`).
    let frameWidth: Int
    /// Per channel, its frames not yet handed out, row-major.
    private var pending: [[Float]]
    /// The rows being handed out (several channels only).
    private var rows: [Float] = []

    init(channelCount: Int, frameWidth: Int) {
        self.frameWidth = frameWidth
        pending = [[Float]](repeating: [], count: channelCount)
    }

    /// Keeps one frame (`frameWidth` values) of `channel`.
    mutating func append(_ frame: UnsafeBufferPointer<Float>, channel: Int) {
        pending[channel].append(contentsOf: frame)
    }

    /// Hands the rows every channel has complete to `body`, row-major (one call, nothing when
    /// none is complete), and forgets them.
    mutating func takeRows(_ body: ([Float]) throws -> Void) rethrows {
        if pending.count == 1 {
            // One channel: its frames, whole ones only, are the rows already.
            guard !pending[0].isEmpty else { return }
            try body(pending[0])
            pending[0].removeAll(keepingCapacity: true)
            return
        }
        let ready = pending.map { $0.count / frameWidth }.min() ?? 0
        guard ready > 0 else { return }
        rows.removeAll(keepingCapacity: true)
        for t in 0..<ready {
            for c in pending.indices { rows.append(contentsOf: pending[c][(t * frameWidth)..<((t + 1) * frameWidth)]) }
        }
        for c in pending.indices { pending[c].removeFirst(ready * frameWidth) }
        try body(rows)
    }
}
