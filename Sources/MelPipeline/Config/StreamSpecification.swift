import MelDSP

extension RunConfiguration.StreamSettings {
    /// Parses one `meltap run --stream NAME=PRESET[@RATE][,option=value…]`: a named feature stream
    /// computed from the same input ports as every other stream, served on its own socket.
    ///
    /// The options are `FeatureOption.all` (meltap file's feature options without the dashes:
    /// `n-mels=80`, `fmax=-400`, `use-energy`), read and checked by the same table as the flags
    /// and a `--config` file's `[[stream]]` keys.
    /// - Throws: `PipelineError` naming the stream and what to fix.
    public static func parse(_ text: String) throws(PipelineError) -> Self {
        func fail(_ message: String) -> PipelineError { PipelineError("Please fix --stream \(text): \(message)") }
        guard let equals = text.firstIndex(of: "=") else {
            throw fail("write it as NAME=PRESET[@RATE][,option=value…], e.g. kws=kaldi@16000,n-mels=80.")
        }
        let name = String(text[..<equals])
        guard RunConfiguration.isValidStreamName(name) else {
            throw fail("the stream name '\(name)' must be letters, digits, '-' or '_' (it becomes part of the socket file name).")
        }
        let fields = text[text.index(after: equals)...].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        var presetName = fields[0]
        var sampleRate: Int?
        if let at = presetName.firstIndex(of: "@") {
            let rateText = String(presetName[presetName.index(after: at)...])
            presetName = String(presetName[..<at])
            guard let rate = Int(rateText), AnalysisRate.range.contains(rate) else {
                throw fail("stream \(name): the rate after '@' must be in Hz from \(AnalysisRate.range.lowerBound) to "
                           + "\(AnalysisRate.range.upperBound), e.g. @16000; got '\(rateText)'.")
            }
            sampleRate = rate
        }
        guard let preset = MelPreset(rawValue: presetName) else {
            throw fail("stream \(name): unknown preset '\(presetName)'; choose one of "
                       + MelPreset.allCases.map(\.rawValue).joined(separator: ", ") + ".")
        }
        var overrides = MelOverrides()
        for field in fields.dropFirst() {
            let parts = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let key = parts[0]
            guard !key.isEmpty else { throw fail("stream \(name): an empty option (two commas, or a trailing comma).") }
            if key == "preset" || key == "sample-rate" {
                throw fail("stream \(name): give the \(key == "preset" ? "preset" : "rate") in NAME=PRESET@RATE, not as an option.")
            }
            guard let option = FeatureOption.named(key) else {
                throw fail("stream \(name): unknown option '\(key)'; the options are "
                           + FeatureOption.names.joined(separator: ", ") + " (meltap file's, without the dashes).")
            }
            let value: FeatureOption.Value
            if case .flag = option.kind, parts.count == 1 {
                value = .flag(true)  // a bare `use-energy`
            } else {
                guard parts.count == 2, !parts[1].isEmpty else {
                    throw fail("stream \(name): option \(key) needs a value, as \(key)=VALUE.")
                }
                value = option.value(fromText: parts[1])
            }
            // Spelled as the flag, as when --stream went through the flags.
            if let problem = option.apply(value, to: &overrides, spelledAs: "--" + key) { throw fail("stream \(name): \(problem)") }
        }
        return Self(name: name, features: .init(preset: preset, sampleRate: sampleRate, overrides: overrides))
    }
}
