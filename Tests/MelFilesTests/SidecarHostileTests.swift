// Hostile sidecars: what the fuzzer (Fuzz/SidecarReaderFuzz.swift) found, kept as unit tests.
// The same inputs are in the fuzzer's corpus, Fuzz/corpus/sidecar/crash-*.
import Foundation
import Testing
import MelFiles

@Suite struct SidecarHostileTests {
    /// An old recording sidecar whose configuration's hopLength disagrees with its own and lies
    /// past Int's range: formatting the disagreement converted it with `Int(_:)`, which trapped.
    @Test func aConfigurationNumberPastIntInTheOldRecordingShapeIsAnError() {
        let json = """
            { "kind": "meltap-recording", "bandCount": 40, "trailingShape": [40], "layout": "(frames, bands)",
              "dtype": "float32", "sampleRate": 16000, "frameRate": 50, "hopLength": 320, "fftLength": 512,
              "latencySamples": 0, "clampRule": "running", "socket": "/tmp/x.sock",
              "channels": [{ "channel": 1, "port": "in_1", "source": "" }],
              "gaps": [], "xruns": [], "discontinuities": [], "reconfigurations": [],
              "configuration": { "hopLength": 3292233720368547758080, "fftLength": 512 } }
            """
        let error = #expect(throws: SidecarReadError.self) { _ = try FeatureSidecar.decode(Array(json.utf8)) }
        #expect(error?.key == "hopLength", "\(String(describing: error))")
        #expect(error?.message.contains("3.29") == true, "\(String(describing: error))")
    }

    /// Every crash input kept in the fuzzer's corpus now reads as an error, not a trap.
    @Test func everyCrashInputInTheCorpusIsAnError() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Fuzz/corpus/sidecar").standardized.path
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("crash-") }
        #expect(!names.isEmpty, "no crash-* inputs in \(directory)")
        for name in names.sorted() {
            let bytes = try #require(FileManager.default.contents(atPath: directory + "/" + name))
            #expect(throws: SidecarReadError.self, "\(name)") { _ = try FeatureSidecar.decode(Array(bytes)) }
        }
    }
}
