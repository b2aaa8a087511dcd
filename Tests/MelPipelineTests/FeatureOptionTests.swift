// The one table of feature options (`FeatureOption.all`): every surface that reads or writes a
// feature option (a `--stream` value, a `--config` file, the file written back, the layering of a
// command line over a file) goes through it and agrees with the others.
import Foundation
import MelDSP
import MelPipeline
import Testing

@Suite struct FeatureOptionTests {
    /// One value per option, as `--stream` writes it and as TOML writes it.
    static let samples: [(name: String, text: String, toml: String)] = [
        ("n-fft", "512", "512"), ("hop-length", "128", "128"), ("win-length", "400", "400"),
        ("window", "hamming", "\"hamming\""), ("framing", "none", "\"none\""), ("n-mels", "40", "40"),
        ("fmin", "20.5", "20.5"), ("fmax", "-400", "-400.0"), ("mel-scale", "htk", "\"htk\""),
        ("mel-norm", "none", "\"none\""), ("power", "1", "1.0"), ("output", "db", "\"db\""),
        ("n-mfcc", "13", "13"), ("top-db", "none", "\"none\""), ("db-ref", "max", "\"max\""),
        ("use-energy", "true", "true"), ("fft-precision", "double", "\"double\""),
    ]

    @Test func everyOptionHasASample() {
        #expect(Self.samples.map(\.name) == FeatureOption.names)
    }

    /// `--stream NAME=PRESET,key=value` and `key = value` in `[features]` set the same override,
    /// and only that one.
    @Test(arguments: samples.map { [$0.name, $0.text, $0.toml] })
    func streamAndFileAgree(sample: [String]) throws {
        let (name, text, toml) = (sample[0], sample[1], sample[2])
        // A file is checked as a whole: a dB reference needs a dB output.
        let needsDB = name == "db-ref"
        let stream = try RunConfiguration.StreamSettings.parse("s=librosa,\(name)=\(text)" + (needsDB ? ",output=db" : ""))
            .features.overrides
        let file = try RunConfiguration.parse("[features]\n\(name) = \(toml)\n" + (needsDB ? "output = \"db\"\n" : ""),
                                              file: "t.toml").features.overrides
        #expect(stream == file, "\(name): --stream \(stream) vs file \(file)")
        #expect(FeatureOption.values(of: stream).map(\.option.name) == (needsDB ? ["output", name] : [name]))
        #expect(stream != MelOverrides())
    }

    /// Every field of `MelOverrides` is set by some option (db-ref sets either of two): a field
    /// without a table entry would be unreachable from the command line, `--stream` and files.
    @Test func theTableCoversEveryOverride() throws {
        func setFields(_ overrides: MelOverrides) -> Set<String> {
            Set(Mirror(reflecting: overrides).children.compactMap { child in
                guard let label = child.label else { return nil }
                return Mirror(reflecting: child.value).children.isEmpty ? nil : label  // nil Optionals have no children
            })
        }
        let all = Self.samples.map { "\($0.name)=\($0.text)" }.joined(separator: ",")
        let first = try RunConfiguration.StreamSettings.parse("s=librosa,\(all)").features.overrides
        let second = try RunConfiguration.StreamSettings.parse("s=librosa,db-ref=2").features.overrides
        let fields = Set(Mirror(reflecting: MelOverrides()).children.compactMap(\.label))
        #expect(setFields(first).union(setFields(second)) == fields)
    }

    /// All options at once survive the file written back (`--print-config`) and layering.
    @Test func allOptionsRoundTripAndLayer() throws {
        let toml = "[features]\n" + Self.samples.map { "\($0.name) = \($0.toml)" }.joined(separator: "\n") + "\n"
        let parsed = try RunConfiguration.parse(toml, file: "t.toml")
        #expect(try RunConfiguration.parse(parsed.toml(), file: "printed") == parsed)
        #expect(FeatureOption.values(of: parsed.features.overrides).count == Self.samples.count)
        #expect(MelOverrides().overlaid(by: parsed.features.overrides) == parsed.features.overrides)
        #expect(parsed.features.overrides.overlaid(by: MelOverrides()) == parsed.features.overrides)
    }

    /// A bad value says which option and what to give, on every surface.
    @Test(arguments: [("n-mels", "many", "whole number"), ("window", "hanning", "hann-float32"),
                      ("top-db", "-3", "0 or more"), ("db-ref", "loud", "positive number"),
                      ("use-energy", "maybe", "true/false")])
    func badValues(name: String, text: String, phrase: String) {
        do {
            _ = try RunConfiguration.StreamSettings.parse("s=librosa,\(name)=\(text)")
            Issue.record("accepted \(name)=\(text)")
        } catch {
            #expect(error.description.contains("--\(name)") && error.description.contains(phrase), "\(error)")
        }
    }
}
