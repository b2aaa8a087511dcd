import Glibc
import MelDSP
import MelTransport

/// Writes a stream's frames to a meltap frame dump (`MelTransport.FrameDump`), for tests and
/// debugging (`meltap run --dump-frames`).
public final class FrameDumpWriter: FrameSink {
    public let path: String
    /// Owned; closed by `finish()`.
    private var file: UnsafeMutablePointer<FILE>?
    /// One record, reused between frames.
    private var record: [UInt8] = []

    /// Creates (truncates) `path` and writes the header for `stream`: frame width, channels and
    /// analysis rate.
    /// - Throws: `PipelineError` saying which path could not be created and why.
    public init(path: String, stream: StreamDescription) throws {
        self.path = path
        guard let file = fopen(path, "wb") else {
            throw PipelineError("Cannot create \(path) (\(String(cString: strerror(errno)))). "
                                + "Check the directory exists and is writable.")
        }
        self.file = file
        let header = FrameDump.encode(FrameDump.Header(width: stream.frameWidth, channelCount: stream.channelCount,
                                                       sampleRate: stream.sampleRate))
        fwrite(header, 1, header.count, file)
    }

    deinit { finish() }

    public func consume(metadata: FrameMetadata, values: UnsafeBufferPointer<Float>) {
        guard let file else { return }
        record.removeAll(keepingCapacity: true)
        FrameDump.appendRecord(metadata: metadata, values: values, to: &record)
        fwrite(record, 1, record.count, file)
    }

    public func finish() {
        if let file { fclose(file) }
        file = nil
    }
}
