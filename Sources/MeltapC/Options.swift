// The C ABI's options: a preset name and "key=value,…" text, read by the CLI's one option table.

import MelDSP
import MelFiles
import MelOffline
import MelResample

/// Where a set of options is used: the keys beyond the feature options differ.
enum OptionUse {
    /// `meltap_analyzer_create`: a stream, analysed with the live client's running clamp.
    case stream
    /// `meltap_file_*`: a whole file, as `meltap file`.
    case file
}

extension FileAnalysisOptions {
    /// Reads a preset name (NULL or "" for librosa, `meltap file`'s default) and an options text
    /// (NULL or "" for none): comma-separated `key=value` pairs with `meltap file`'s long option
    /// names without the dashes, as `meltap run --stream` takes them (`n-mels=80,fmax=-400`,
    /// a bare `use-energy`). The feature options are `FeatureOption.all`, read and checked by that
    /// table; beside them `sample-rate` and `resampler` (both uses), and for files `clamp`,
    /// `layout`, `channel`, `all-channels` and `mono`. Ranges that depend on the preset and the
    /// rate are checked when the configuration is resolved (`MelOverrides.resolve`).
    /// - Throws: `CallError` saying which key or value to fix.
    static func parse(preset presetText: String?, options text: String?, use: OptionUse) throws(CallError) -> Self {
        var options = FileAnalysisOptions()
        let presetName = presetText.flatMap { $0.isEmpty ? nil : $0 } ?? MelPreset.librosa.rawValue
        guard let preset = MelPreset(rawValue: presetName) else {
            throw CallError("Unknown preset '\(presetName)'; choose one of "
                            + MelPreset.allCases.map(\.rawValue).joined(separator: ", ") + ".")
        }
        options.preset = preset
        if use == .stream { options.clamp = .running }
        var channelKeys: [String] = []
        let fields = (text ?? "").split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for field in fields where !(fields.count == 1 && field.isEmpty) {
            let parts = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let key = parts[0]
            let value = parts.count == 2 ? parts[1] : nil
            guard !key.isEmpty else {
                throw CallError("Please remove the empty option in '\(text ?? "")' (two commas, or a trailing comma).")
            }
            func needValue() throws(CallError) -> String {
                guard let value, !value.isEmpty else { throw CallError("Please give option \(key) a value, as \(key)=VALUE.") }
                return value
            }
            func fileOnly() throws(CallError) {
                if use == .stream {
                    throw CallError("Option \(key) applies to whole files (meltap_file_analyze, meltap_file_write) "
                                    + "only; an analyzer takes one channel and uses the running clamp.")
                }
            }
            switch key {
            case "preset":
                throw CallError("Please give the preset as its own argument, not as an option.")
            case "sample-rate":
                let rateText = try needValue()
                guard let rate = Int(rateText) else {
                    throw CallError("Please give sample-rate in Hz as a whole number, e.g. 16000; got '\(rateText)'.")
                }
                if let problem = AnalysisRate.problem(rate, name: "sample-rate") { throw CallError(problem) }
                options.sampleRate = Double(rate)
            case "resampler":
                let name = try needValue()
                guard let quality = ResamplerQuality(rawValue: name) else {
                    throw CallError("Please give resampler as one of "
                                    + ResamplerQuality.allCases.map(\.rawValue).joined(separator: ", ") + "; got '\(name)'.")
                }
                options.resampler = quality
            case "clamp":
                let name = try needValue()
                guard let rule = ClampRule(userName: name) else {
                    throw CallError("Please give clamp as global or running; got '\(name)'.")
                }
                if use == .stream && rule != .running {
                    throw CallError("An analyzer uses the running clamp (the live client's causal rule); for the "
                                    + "whole-file clamp analyse the file with meltap_file_analyze.")
                }
                options.clamp = rule
            case "layout":
                try fileOnly()
                let name = try needValue()
                guard let layout = FeatureAxisOrder(rawValue: name) else {
                    throw CallError("Please give layout as frames-first or bands-first; got '\(name)'.")
                }
                options.layout = layout
            case "channel":
                try fileOnly()
                let channelText = try needValue()
                guard let channel = Int(channelText), channel >= 1 else {
                    throw CallError("Please give channel as 1 or more (1 is the first channel); got '\(channelText)'.")
                }
                options.channels = .channel(channel)
                channelKeys.append(key)
            case "all-channels", "mono":
                try fileOnly()
                guard value == nil || value == "true" else {
                    throw CallError("Please give \(key) with no value (or \(key)=true); got '\(field)'.")
                }
                options.channels = key == "mono" ? .average : .all
                channelKeys.append(key)
            default:
                guard let option = FeatureOption.named(key) else {
                    throw CallError("Unknown option '\(key)'; the options are "
                                    + (FeatureOption.names + ["sample-rate", "resampler", "clamp"]
                                        + (use == .file ? ["layout", "channel", "all-channels", "mono"] : []))
                                        .joined(separator: ", ") + " (meltap file's, without the dashes).")
                }
                let optionValue: FeatureOption.Value
                if case .flag = option.kind, value == nil {
                    optionValue = .flag(true)  // a bare `use-energy`
                } else {
                    optionValue = option.value(fromText: try needValue())
                }
                if let problem = option.apply(optionValue, to: &options.overrides, spelledAs: key) {
                    throw CallError(problem)
                }
            }
        }
        if channelKeys.count > 1 {
            throw CallError("Please choose one of channel, all-channels and mono; got \(channelKeys.joined(separator: " and ")).")
        }
        return options
    }

    /// The configuration at `analysisRate` Hz, with `MelOverrides.resolve`'s checks.
    func resolvedConfiguration(analysisRate: Double) throws(CallError) -> MelConfiguration {
        do {
            return try configuration(analysisRate: analysisRate)
        } catch {
            throw CallError("\(error)")
        }
    }
}
