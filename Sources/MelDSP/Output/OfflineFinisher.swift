import CVectorMath

/// Applies the non-causal parts of an output stage once the whole signal has been seen:
/// librosa's `top_db` clamp at the global maximum (then the DCT for MFCC), and Whisper's clamp
/// at the global maximum − 8 followed by (x + 4)/4.
///
/// Use with frames from a `MelAnalyzer` built with `ClampRule.deferred`: the result equals the
/// reference's offline output. Live streams use `ClampRule.running` instead (see docs/presets.md,
/// "Streaming").
public struct OfflineFinisher: Sendable {
    public let configuration: MelConfiguration
    /// Values per frame going in (the analyzer's `frameWidth`).
    public let inputWidth: Int
    /// Values per frame coming out.
    public let outputWidth: Int

    public init(configuration: MelConfiguration) {
        self.configuration = configuration
        outputWidth = configuration.frameWidth
        inputWidth = OfflineFinisher.isNeeded(configuration) && configuration.output == .mfcc
            ? configuration.melBandCount + (configuration.useEnergy ? 1 : 0) : outputWidth
    }

    /// Whether `configuration` has a non-causal step.
    public static func isNeeded(_ c: MelConfiguration) -> Bool {
        c.output == .whisper || ((c.output.isDecibels || c.output == .mfcc) && c.topDB != nil)
            || relativeReference(c) != nil
    }

    /// `ref=np.max` / `np.min` on a dB output: a reference only the whole signal gives.
    static func relativeReference(_ c: MelConfiguration) -> DBReference? {
        c.output.isDecibels && (c.dbReference == .max || c.dbReference == .min) ? c.dbReference : nil
    }

    /// Finishes `frames` (row-major, `inputWidth` per frame) and returns `outputWidth` per frame.
    public func finish(_ frames: [Float]) -> [Float] {
        var finished = frames
        finish(inPlace: &finished)
        return finished
    }

    /// Finishes `frames` (row-major, `inputWidth` per frame) where they are: `outputWidth` per
    /// frame afterwards (the array shrinks for MFCC, whose DCT narrows each frame). No second
    /// array is made, which spares a long file's copy and its page faults (`meltap file` on 600 s
    /// of Whisper: 19 MB).
    public func finish(inPlace clamped: inout [Float]) {
        let values = clamped.withUnsafeMutableBufferPointer { finish(inPlace: $0) }
        clamped.removeLast(clamped.count - values)
    }

    /// Finishes the frames in `values` (row-major, `inputWidth` per frame) where they are.
    /// - Returns: the values they hold afterwards, from the start: `outputWidth` per frame.
    public func finish(inPlace values: UnsafeMutableBufferPointer<Float>) -> Int {
        let c = configuration
        guard OfflineFinisher.isNeeded(c) else { return values.count }
        let energyColumns = c.useEnergy ? 1 : 0
        let count = values.count / max(1, inputWidth)
        let distance = Float(c.topDB ?? MelConfiguration.whisperClampDistance)
        let whisper = c.output == .whisper
        guard let base = values.baseAddress, count > 0 else { return 0 }
        clamp: do {
            // The maximum over the band values (not the energy column), as float32 like numpy.
            var maximum = -Float.infinity, minimum = Float.infinity
            if whisper && energyColumns == 0 {
                // Whisper needs only the maximum (minus 8): SIMD8 over the whole array, same bits.
                maximum = Math.maximum(base, count: count * inputWidth)
            } else {
                for t in 0..<count {
                    let row = base + t * inputWidth
                    for i in energyColumns..<inputWidth {
                        maximum = max(maximum, row[i])
                        minimum = min(minimum, row[i])
                    }
                }
            }
            // librosa: ref_value = np.max(S) (np.min(S)) before the clamp; its dB is the
            // maximum (minimum) of the unreferenced dB values, as 10·log10(max(amin, ·)) is monotonic.
            if let reference = OfflineFinisher.relativeReference(c) {
                let shift = reference == .max ? maximum : minimum
                let floor = c.topDB.map { maximum - Float($0) } ?? -Float.infinity
                for t in 0..<count {
                    let row = base + t * inputWidth
                    for i in energyColumns..<inputWidth { row[i] = max(row[i], floor) - shift }
                }
                break clamp
            }
            let floor = maximum - distance
            if whisper && energyColumns == 0 && FrameKernels.avx2Available() {
                // The same (max(x, floor) + 4) / 4 over the whole array, eight lanes (same bits).
                meltap_whisper_clamp_scale_f32_avx2(base, count * inputWidth, floor)
                break clamp
            }
            for t in 0..<count {
                let row = base + t * inputWidth
                if whisper {
                    for i in energyColumns..<inputWidth { row[i] = (max(row[i], floor) + 4) / 4 }
                } else {
                    for i in energyColumns..<inputWidth { row[i] = max(row[i], floor) }
                }
            }
        }
        guard c.output == .mfcc else { return count * outputWidth }
        // The DCT narrows each frame: frame t moves to t · outputWidth ≤ t · inputWidth, over
        // values already read; its own input is copied out first, as the two may overlap.
        let stage = OutputStage(configuration: c, clampRule: .running)
        let row = UnsafeMutablePointer<Float>.allocate(capacity: inputWidth)
        defer { stage.deallocate(); row.deallocate() }
        for t in 0..<count {
            row.update(from: base + t * inputWidth, count: inputWidth)
            let out = base + t * outputWidth
            if energyColumns == 1 { out[0] = row[0] }
            stage.applyDCT(row + energyColumns, into: out + energyColumns)
        }
        return count * outputWidth
    }
}

extension MelAnalyzer {
    /// Runs the whole of `samples` through a fresh analyzer in blocks of `blockLength`,
    /// flushes, and (with `.deferred`) finishes: the reference's offline result, row-major
    /// (frames × `configuration.frameWidth`). For tests and short signals; `meltap file`
    /// streams instead.
    public static func analyze(_ samples: [Float], configuration: MelConfiguration,
                               clampRule: ClampRule = .deferred,
                               blockLengths: [Int] = [4096]) throws(MelConfigurationError) -> [Float] {
        let analyzer = try MelAnalyzer(configuration: configuration, clampRule: clampRule)
        var frames: [Float] = []
        var frame = [Float](repeating: 0, count: analyzer.frameWidth)
        var position = 0, block = 0
        while position < samples.count {
            let length = min(blockLengths[block % blockLengths.count], samples.count - position)
            block += 1
            samples.withUnsafeBufferPointer { all in
                var offset = position
                while offset < position + length {
                    let step = analyzer.process(UnsafeBufferPointer(rebasing: all[offset..<(position + length)]),
                                                into: &frame)
                    offset += step.consumed
                    if step.frameIndex >= 0 { frames.append(contentsOf: frame) }
                }
            }
            position += length
        }
        while try analyzer.flush(into: &frame) >= 0 { frames.append(contentsOf: frame) }
        return clampRule == .deferred ? OfflineFinisher(configuration: configuration).finish(frames) : frames
    }
}
