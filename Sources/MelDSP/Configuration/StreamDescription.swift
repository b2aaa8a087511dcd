/// What a consumer needs to know about one feature stream, whichever driver produces it (the JACK
/// client for `meltap run`, the file driver for `meltap file`): the configuration frames are
/// computed with, the input rate, the resampler between them, the channels, and the latency.
///
/// The stream header (docs/wire-format.md), the frame dump, the sidecars and `meltap status` are
/// all built from it. It lives in MelDSP, beside `MelConfiguration`, because it is plain data about
/// the analysis that every module can see without JACK or sockets: MelJack and MelPipeline's
/// file driver produce it, MelPipeline's sinks consume it. The resampler is named by its
/// `ResamplerQuality` raw value (MelDSP does not depend on MelResample).
public struct StreamDescription: Equatable, Sendable {
    /// The stream's name (`--stream NAME=…`); empty for the single stream of a plain run or a file.
    public var name: String
    /// The configuration at the analysis rate (`configuration.sampleRate`).
    public var configuration: MelConfiguration
    /// The rate of the input, Hz: the JACK server's, or the file's. Frame times count in it.
    public var inputSampleRate: Double
    /// The resampler's name (`zita`, `sinc-best` …), or nil when the input is analysed at its rate.
    public var resampler: String?
    /// The resampler's look-ahead in input samples (`Resampler.lookahead`); 0 without one.
    public var resamplerLookahead: Int
    /// Channels (input ports or file channels) analysed, one frame each per hop.
    public var channelCount: Int
    /// Values per frame as the stream carries them (the energy column included).
    public var frameWidth: Int
    /// The largest capture latency of the inputs, in input samples (JACK's latency callback); 0
    /// for a file.
    public var captureLatency: Int
    /// Analysis samples each frame is held before it is handed out (`--xrun-hold`); 0 for a file.
    public var holdLatency: Int
    /// Analysis samples a frame can be deferred by when frame bursts are spread over blocks (one
    /// period, docs/realtime.md); 0 for a file and with spreading off.
    public var deferralLatency: Int
    /// How the non-causal clamps are applied: `.running` live, `--clamp` for a file.
    public var clampRule: ClampRule

    public init(name: String = "", configuration: MelConfiguration, inputSampleRate: Double, resampler: String?,
                resamplerLookahead: Int, channelCount: Int, frameWidth: Int, captureLatency: Int = 0,
                holdLatency: Int = 0, deferralLatency: Int = 0, clampRule: ClampRule) {
        self.name = name
        self.configuration = configuration
        self.inputSampleRate = inputSampleRate
        self.resampler = resampler
        self.resamplerLookahead = resamplerLookahead
        self.channelCount = channelCount
        self.frameWidth = frameWidth
        self.captureLatency = captureLatency
        self.holdLatency = holdLatency
        self.deferralLatency = deferralLatency
        self.clampRule = clampRule
    }

    /// The analysis rate, Hz.
    public var sampleRate: Double { configuration.sampleRate }

    /// Input samples converted to analysis samples, rounded up.
    func analysisSamples(_ inputSamples: Double) -> Int {
        Int((inputSamples * configuration.sampleRate / inputSampleRate).rounded(.up))
    }

    /// The resampler's look-ahead in analysis samples, rounded up; 0 without one.
    public var resamplerLatency: Int { analysisSamples(Double(resamplerLookahead)) }

    /// The latency of a frame in analysis samples, from its reference instant until it can be
    /// handed out, as the stream header carries it (docs/wire-format.md, "latency"):
    ///
    ///     latency = ⌈capture × sr / input rate⌉ + ⌈look-ahead × sr / input rate⌉
    ///               + algorithmic latency + hold + deferral
    ///
    /// with the capture latency and the resampler's look-ahead in input samples, the algorithmic
    /// latency `MelConfiguration.algorithmicLatency`, and the hold and deferral in analysis samples.
    public var latency: Int {
        analysisSamples(Double(captureLatency)) + resamplerLatency + configuration.algorithmicLatency + holdLatency
            + deferralLatency
    }
}

extension ClampRule {
    /// The rule's name where users see it (`meltap file --clamp`, sidecars, stream headers):
    /// `.deferred` is "global" (the maximum over the whole signal), `.running` is "running".
    public var userName: String { self == .deferred ? "global" : "running" }

    /// The user names, in `--help` order.
    public static let userNames = ["global", "running"]

    /// The rule a user name stands for ("global", or "deferred" as the code calls it, and "running").
    public init?(userName: String) {
        switch userName {
        case "global", "deferred": self = .deferred
        case "running": self = .running
        default: return nil
        }
    }
}
