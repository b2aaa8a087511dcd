import MelTransport

/// Where a stream's frames go once the consumer has popped them off the realtime ring: a socket
/// publisher, a frame dump, an embedding program's own code.
///
/// Threads: `consume` and `finish` run on the consumer thread only, never the JACK callback, so a
/// sink may allocate and make system calls; it should not block for long, since every stream's
/// ring waits behind it.
public protocol FrameSink: AnyObject {
    /// One frame: `values` (the stream's frame width, float32) is valid only during the call.
    func consume(metadata: FrameMetadata, values: UnsafeBufferPointer<Float>)
    /// The consumer is stopping and has drained the rings: flush and close.
    func finish()
}

extension FrameSink {
    public func finish() {}
}
