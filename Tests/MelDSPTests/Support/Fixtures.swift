import Foundation
import MelDSP
import MelFiles
import Testing

/// Golden vectors in `Fixtures` (generator: Fixtures/make_vectors.py; see Fixtures/README.md).
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func load(_ sampleRate: Int, _ name: String) throws -> NpyArray {
        try NpyArray.load(path: directory.appendingPathComponent("\(sampleRate)/\(name).npy").path)
    }

    /// The 1.5 s test signal (three sines, a chirp, noise, digital silence) as float in [-1, 1).
    static func signal(_ sampleRate: Int) throws -> [Float] { try load(sampleRate, "signal_f32").values }
}

/// How a reference array is laid out.
enum Layout {
    /// (bands, frames): librosa, torchaudio, Whisper.
    case bandsByFrames
    /// (frames, bands): Kaldi.
    case framesByBands
}

/// How an error is measured against a tolerance.
enum Metric: CustomStringConvertible {
    /// |observed − expected|.
    case absolute
    /// |observed − expected| / (|expected| + 1e-6 · frame peak): relative error, with weak
    /// entries judged against their frame's peak (the generator's `frame_rel_err`).
    case relative

    var description: String { self == .absolute ? "abs" : "rel" }
}

struct ParityResult {
    var worst: Double
    var frame: Int
    var band: Int
    var expected: Double
    var observed: Double
}

/// Compares `observed` (row-major frames × width) with `expected` and records a failure that
/// prints expected, observed and error at the worst entry. Returns the worst error.
@discardableResult
func expectParity(_ observed: [Float], _ expected: NpyArray, layout: Layout, metric: Metric, tolerance: Double,
                  label: String, frameLimit: Int? = nil,
                  sourceLocation: SourceLocation = #_sourceLocation) -> Double {
    let (frames, width): (Int, Int) = layout == .bandsByFrames
        ? (expected.shape[1], expected.shape[0]) : (expected.shape[0], expected.shape[1])
    let usedFrames = frameLimit ?? frames
    #expect(observed.count >= usedFrames * width, "\(label): got \(observed.count / max(1, width)) frames of \(width), expected \(usedFrames)",
            sourceLocation: sourceLocation)
    guard observed.count >= usedFrames * width else { return .infinity }
    if frameLimit == nil {
        #expect(observed.count == frames * width, "\(label): got \(observed.count / width) frames, expected \(frames)",
                sourceLocation: sourceLocation)
    }
    func reference(_ t: Int, _ b: Int) -> Double {
        layout == .bandsByFrames ? expected.doubles[b * frames + t] : expected.doubles[t * width + b]
    }
    var result = ParityResult(worst: 0, frame: 0, band: 0, expected: 0, observed: 0)
    for t in 0..<usedFrames {
        var peak = 0.0
        for b in 0..<width { peak = max(peak, abs(reference(t, b))) }
        for b in 0..<width {
            let e = reference(t, b), o = Double(observed[t * width + b])
            let error = metric == .absolute ? abs(o - e) : abs(o - e) / (abs(e) + 1e-6 * peak + 1e-300)
            if error > result.worst || error.isNaN {
                result = ParityResult(worst: error.isNaN ? .infinity : error, frame: t, band: b, expected: e, observed: o)
            }
        }
    }
    print("PARITY \(label): worst \(metric) error \(String(format: "%.3g", result.worst)) (tolerance \(tolerance))")
    #expect(result.worst <= tolerance,
            "\(label): frame \(result.frame) band \(result.band): expected \(result.expected), observed \(result.observed), \(metric) error \(result.worst) > \(tolerance)",
            sourceLocation: sourceLocation)
    return result.worst
}
