// What the web view's page needs to draw one stream: its name, rate, width, the frequency axis
// of its bands and the unit of its values, from the stream's description (the same facts the
// stream header carries, docs/wire-format.md).
import Foundation
import MelDSP

/// One stream as the page's `hello` message describes it (docs/web-view.md).
struct WebViewStreamInfo: Encodable {
    var index: Int
    /// The `--stream` name; "" for the one stream of a plain run.
    var name: String
    var preset: String
    /// The analysis rate, Hz, and frames per second per channel.
    var sampleRate: Double
    var frameRate: Double
    var hopLength: Int
    var fftLength: Int
    /// Values per frame (`frameWidth`: the energy column included).
    var bandCount: Int
    var channelCount: Int
    /// The configuration's `output` (`db`, `log`, `whisper` …) and what its values are, in words.
    var output: String
    var unit: String
    /// "hz": `axis` holds each band's centre frequency in Hz; "band": the axis is the band
    /// index (Kaldi's bins, micro, openwakeword, MFCC coefficients), and `axis` is empty.
    var axisKind: String
    var axis: [Double]
    var clampRule: String
    /// "linear", or "log": the frame batches carry log10 of the values (docs/web-view.md).
    var colourScale: String

    init(index: Int, description: StreamDescription) {
        let c = description.configuration
        self.index = index
        name = description.name
        preset = c.preset
        sampleRate = c.sampleRate
        frameRate = c.frameRate
        hopLength = c.hopLength
        fftLength = c.fftLength
        bandCount = description.frameWidth
        channelCount = description.channelCount
        output = c.output.rawValue
        unit = Self.unit(c)
        let centres = Self.centreFrequencies(c, width: description.frameWidth)
        axisKind = centres == nil ? "band" : "hz"
        axis = centres ?? []
        clampRule = description.clampRule.userName
        colourScale = WebViewFrameSink.isLogarithmic(c.output) ? "log" : "linear"
    }

    /// The unit of a value of `c`'s frames, as the colour bar labels it.
    static func unit(_ c: MelConfiguration) -> String {
        switch c.output {
        case .power: return c.power == 1 ? "mel magnitude" : "mel power"
        case .db, .spectrogramDB: return c.power == 1 ? "dB (amplitude)" : "dB"
        case .log: return "ln(mel energy)"
        case .whisper: return "Whisper log-mel ((log10 + 4) / 4)"
        case .mfcc: return "MFCC"
        case .pcen: return "PCEN"
        case .micro: return "micro (uint16 × \(c.outputScale ?? 0.0390625))"
        case .openWakeWord: return "dB / 10 + 2"
        case .spectrogram: return c.power == 1 ? "|STFT|" : "|STFT|²"
        }
    }

    /// Each value's centre frequency in Hz, lowest band first: mel bands of the librosa and
    /// torchaudio filterbanks (the triangles' peaks, `n_mels + 2` points evenly spaced in mel
    /// from fmin to fmax, as `librosa.filters.mel` lays them), or the linear spectrum's bins
    /// (k · sr / n_fft). Nil where the page labels the band index instead: Kaldi's bins (whose
    /// triangles are laid on Kaldi's own grid, and the energy column with use-energy), micro,
    /// openwakeword and MFCC coefficients.
    static func centreFrequencies(_ c: MelConfiguration, width: Int) -> [Double]? {
        if c.output.isLinearSpectrum {
            return (0..<width).map { Double($0) * c.sampleRate / Double(c.fftLength) }
        }
        switch c.output {
        case .mfcc, .micro, .openWakeWord: return nil
        default: break
        }
        guard c.filterbank == .librosa || c.filterbank == .torchaudio, width == c.melBandCount else { return nil }
        let low = MelFilterbank.hzToMel(c.minimumFrequency, scale: c.melScale)
        let high = MelFilterbank.hzToMel(c.maximumFrequency, scale: c.melScale)
        let step = (high - low) / Double(c.melBandCount + 1)
        return (0..<width).map { MelFilterbank.melToHz(low + Double($0 + 1) * step, scale: c.melScale) }
    }
}
