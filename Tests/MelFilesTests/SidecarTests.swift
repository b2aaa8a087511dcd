import Foundation
import Testing
@testable import MelFiles

@Suite struct SidecarTests {
    struct Example: Codable, Equatable {
        var sampleRate: Double
        var path: String
        var bands: Int
        var names: [String]
    }

    @Test func pathReplacesNpyWithJson() {
        #expect(Sidecar.path(forFeatureFile: "out/take1.npy") == "out/take1.json")
        #expect(Sidecar.path(forFeatureFile: "/a.b/take") == "/a.b/take.json")
        #expect(Sidecar.path(forFeatureFile: "x.NPY") == "x.NPY.json")
    }

    @Test func writesPrettySortedJsonAtomically() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let path = directory + "/take.json"
        let value = Example(sampleRate: 48000, path: "a/b.wav", bands: 128, names: ["x", "y"])
        try Sidecar.write(value, to: path)
        #expect(directoryEntries(directory) == ["take.json"], "no temporary file is left")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasSuffix("}\n"))
        #expect(text.contains("\n  \"bands\" : 128,"), "pretty-printed")
        let keys = ["bands", "names", "path", "sampleRate"].map { text.range(of: "\"\($0)\"")!.lowerBound }
        #expect(keys == keys.sorted(), "keys are sorted")
        #expect(text.contains("\"a/b.wav\""), "slashes are not escaped")
        #expect(try JSONDecoder().decode(Example.self, from: Data(text.utf8)) == value)

        // An existing sidecar is refused by default and replaced when asked.
        #expect(throws: FeatureFileError.self) {
            try Sidecar.write(Example(sampleRate: 1, path: "", bands: 1, names: []), to: path)
        }
        try Sidecar.write(Example(sampleRate: 1, path: "", bands: 1, names: []), to: path, existing: .replace)
        #expect(directoryEntries(directory) == ["take.json"], "no temporary file is left")
        #expect(try JSONDecoder().decode(Example.self, from: Data(contentsOf: URL(fileURLWithPath: path))).bands == 1)
    }

    @Test func missingDirectorySaysSo() {
        let error = #expect(throws: FeatureFileError.self) {
            try Sidecar.write(["a": 1], to: "/nonexistent-meltap-dir/x.json")
        }
        #expect(error?.message.contains("does not exist") == true)
    }
}
