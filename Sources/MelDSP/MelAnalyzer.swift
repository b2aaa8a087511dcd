// CONTRACT STUB: the real implementation replaces this file. Signatures are final.

/// What one call to `process` did.
public struct MelStep: Sendable, Equatable {
    /// Input samples consumed by this call.
    public var consumed: Int
    /// The index of the frame written to the output buffer, or -1 when none was completed.
    public var frameIndex: Int
}

/// How the non-causal clamps (`top_db`, Whisper's max − 8) are applied.
public enum ClampRule: String, Codable, Sendable {
    /// Clamp at the running maximum over the frames so far: causal, used live.
    case running
    /// Emit unclamped values; `OfflineFinisher` clamps at the global maximum at the end
    /// (bit-for-bit the reference's offline result).
    case deferred
}

/// The streaming mel analyzer for one channel: window → FFT → power → mel → output stage.
public final class MelAnalyzer: @unchecked Sendable {
    public let configuration: MelConfiguration
    public let clampRule: ClampRule
    /// Values per emitted frame.
    public var frameWidth: Int { 0 }

    public init(configuration: MelConfiguration, clampRule: ClampRule = .running) throws(MelConfigurationError) {
        self.configuration = configuration
        self.clampRule = clampRule
    }

    /// Consumes samples until one frame completes or the input runs out.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    public func process(_ samples: UnsafeBufferPointer<Float>, into frame: UnsafeMutablePointer<Float>) -> MelStep {
        MelStep(consumed: samples.count, frameIndex: -1)
    }

    /// Ends the input: call repeatedly; each call writes one tail frame and returns its index,
    /// or returns -1 when no frames remain.
    public func flush(into frame: UnsafeMutablePointer<Float>) throws(MelConfigurationError) -> Int { -1 }

    /// Forgets all input; the next sample starts a new stream.
    public func reset() {}

    /// The input-sample index of frame `index`'s first sample (negative inside the left padding).
    public func firstSample(ofFrame index: Int) -> Int { 0 }
}

public struct MelConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
