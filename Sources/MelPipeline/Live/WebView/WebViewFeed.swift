// The web view's side of the consumer thread: per stream a FrameSink that packs frames for
// browsers into a pending batch, and the batch format the page decodes (docs/web-view.md).
import Glibc
import MelDSP
import MelTransport
import NIOCore
import Synchronization

/// The frames of every stream on their way to the browsers.
///
/// `sink(for:)` gives `LiveSessionOptions.extraSinks` one `WebViewFrameSink` per stream (in
/// stream order); `WebViewServer` then takes each sink's batch every `WebViewServer.batchInterval`
/// on its own event loop and hands it to every browser's bounded queue. The consumer thread only
/// packs frames into a buffer under a mutex nobody holds for long, and only while a browser is
/// connected: a browser never slows the consumer, the callback or the socket subscribers.
public final class WebViewFeed: @unchecked Sendable {
    /// Browsers connected now (registered WebSocket connections). The sinks skip packing at 0.
    /// Relaxed: a frame more or less around a connection does not matter.
    let browserCount = Atomic<Int>(0)
    /// Per stream, in stream order; appended on the main thread while `LiveSession` is built,
    /// read-only afterwards.
    private(set) var sinks: [WebViewFrameSink] = []

    public init() {}

    /// The sink of the next stream (`LiveSessionOptions.extraSinks` calls it once per stream, in
    /// order).
    public func sink(for description: StreamDescription) -> any FrameSink {
        let sink = WebViewFrameSink(index: sinks.count,
                                    logarithmic: WebViewFrameSink.isLogarithmic(description.configuration.output), feed: self)
        sinks.append(sink)
        return sink
    }
}

/// One stream's frames for the browsers, packed as the frame batch (docs/web-view.md):
///
///     batch:  u8 kind = 1, u8 stream index, u16 frame count N, then N frames
///     frame:  u32 sequence (low 32 bits), u16 channel (0 = in_1), u8 flags (FrameFlags' low 8
///             bits), u8 0, u16 band count B, u16 0, f64 when the consumer popped the frame
///             (ms since the Unix epoch, CLOCK_REALTIME), f32 minimum, f32 maximum,
///             B × u8: band b's value ≈ minimum + q_b / 255 × (maximum − minimum)
///
/// all little-endian. Every frame is sent (no decimation); its values are quantised to 8 bits
/// between the frame's own finite minimum and maximum (a colour map has no more levels), so
/// that a frame costs 28 + B bytes instead of 28 + 4·B. For linear power and magnitude outputs
/// (`isLogarithmic`) minimum, maximum and levels are of log10(value) instead.
///
/// Threads: `consume` on the consumer thread; `take` on the web server's event loop.
final class WebViewFrameSink: FrameSink, @unchecked Sendable {
    /// Bytes a batch may grow to before frames are dropped (and counted): far above what 40 ms
    /// of any stream makes (16 channels of 1025 bins at 100 frames/s: 67 KB), reached only when
    /// the event loop stops taking batches.
    static let batchLimit = 1 << 20
    static let batchHeaderLength = 4
    static let frameHeaderLength = 28

    let index: Int
    /// Quantise log10(value) (floored at 1e-20) instead of the value: linear power and magnitude
    /// outputs, whose values span many decades. The page's `hello` says so (`colourScale`).
    let logarithmic: Bool
    private unowned let feed: WebViewFeed

    struct Batch {
        var bytes: [UInt8] = []
        var count = 0
        /// Frames not packed because the batch was full, since start.
        var dropped: UInt64 = 0
        /// A frame carried `reconfigured` since the last `take`: the page needs the stream's new
        /// description before the batch.
        var reconfigured = false
    }

    private let batch = Mutex(Batch())

    init(index: Int, logarithmic: Bool, feed: WebViewFeed) {
        self.index = index
        self.logarithmic = logarithmic
        self.feed = feed
    }

    /// Whether the web view shows `output` on a logarithmic colour scale: the linear power or
    /// magnitude outputs (mel power, the linear spectrogram).
    static func isLogarithmic(_ output: OutputKind) -> Bool { output == .power || output == .spectrogram }

    /// The value as quantised: log10 of it (floored at 1e-20) for a logarithmic stream.
    @inline(__always)
    private func shown(_ value: Float) -> Float {
        logarithmic ? log10f(max(value, 1e-20)) : value
    }

    func consume(metadata: FrameMetadata, values: UnsafeBufferPointer<Float>) {
        guard feed.browserCount.load(ordering: .relaxed) > 0 else { return }
        let popped = wallClockMilliseconds()
        var minimum = Float.infinity, maximum = -Float.infinity
        for raw in values {
            let value = shown(raw)
            guard value.isFinite else { continue }
            minimum = min(minimum, value)
            maximum = max(maximum, value)
        }
        if minimum > maximum { (minimum, maximum) = (0, 0) }
        let scale = maximum > minimum ? 255 / (maximum - minimum) : 0
        batch.withLock { batch in
            if metadata.flags.contains(.reconfigured) { batch.reconfigured = true }
            guard batch.bytes.count + Self.frameHeaderLength + values.count <= Self.batchLimit else {
                batch.dropped += 1
                return
            }
            if batch.bytes.isEmpty { batch.bytes.reserveCapacity(8192) }
            batch.bytes.appendLittleEndian(UInt32(truncatingIfNeeded: metadata.sequence))
            batch.bytes.appendLittleEndian(UInt16(truncatingIfNeeded: metadata.channel))
            batch.bytes.append(UInt8(truncatingIfNeeded: metadata.flags.rawValue))
            batch.bytes.append(0)
            batch.bytes.appendLittleEndian(UInt16(clamping: values.count))
            batch.bytes.appendLittleEndian(UInt16(0))
            batch.bytes.appendLittleEndian(popped.bitPattern)
            batch.bytes.appendLittleEndian(minimum.bitPattern)
            batch.bytes.appendLittleEndian(maximum.bitPattern)
            for raw in values.prefix(Int(UInt16.max)) {
                let value = shown(raw)
                // Non-finite values: −inf and NaN at the bottom of the scale, +inf at the top.
                let level = value.isFinite ? ((value - minimum) * scale).rounded() : (value == .infinity ? 255 : 0)
                batch.bytes.append(UInt8(max(0, min(255, level))))
            }
            batch.count += 1
        }
    }

    /// The frames packed since the last call as one batch message, or nil when there are none;
    /// and whether one of them carried `reconfigured`. Event loop only.
    func take() -> (message: ByteBuffer?, reconfigured: Bool, frames: Int) {
        let (bytes, count, reconfigured) = batch.withLock { batch in
            defer {
                batch.bytes = []
                batch.count = 0
                batch.reconfigured = false
            }
            return (batch.bytes, batch.count, batch.reconfigured)
        }
        guard count > 0 else { return (nil, reconfigured, 0) }
        var buffer = ByteBufferAllocator().buffer(capacity: Self.batchHeaderLength + bytes.count)
        buffer.writeInteger(UInt8(1))
        buffer.writeInteger(UInt8(truncatingIfNeeded: index))
        buffer.writeInteger(UInt16(clamping: count), endianness: .little)
        buffer.writeBytes(bytes)
        return (buffer, reconfigured, count)
    }

    /// Frames dropped because the batch was full, since start.
    var dropped: UInt64 { batch.withLock { $0.dropped } }
}

extension Array where Element == UInt8 {
    /// Appends `value`'s bytes, least significant first.
    fileprivate mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

/// CLOCK_REALTIME in milliseconds since the Unix epoch: the clock a browser's `Date.now()` and
/// `performance.timeOrigin + performance.now()` read, so the page can measure how long a frame
/// took from the consumer to its pixel when it runs on the same machine.
func wallClockMilliseconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) * 1000 + Double(now.tv_nsec) / 1e6
}
