// Hostile .npy files: what the fuzzer (Fuzz/NpyReaderFuzz.swift) found, kept as unit tests. The
// same inputs are in the fuzzer's corpus, Fuzz/corpus/npy/crash-*.
import Foundation
import Testing
import MelFiles

/// A version 1.0 file with `dictionary` as its header (padded to 128 bytes) and `data` after it.
private func npyFile(_ dictionary: String, data: [UInt8] = []) -> [UInt8] {
    var header = Array(dictionary.utf8)
    header += [UInt8](repeating: 0x20, count: 128 - 10 - 1 - header.count) + [0x0A]
    return [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.count), 0] + header + data
}

@Suite struct NpyArrayHostileTests {
    /// The element count of a shape overflowed Int and trapped (found by the fuzzer):
    /// 4611686018427387904 × 4 elements.
    @Test func aShapeWhoseElementCountOverflowsIsAnError() {
        let bytes = npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }")
        let error = #expect(throws: NpyFormatError.self) { _ = try NpyArray(data: bytes) }
        #expect(error?.message.contains("the header is corrupt") == true, "\(error?.message ?? "")")
    }

    /// The byte count (elements × item size) overflowed Int and trapped: 2^62 float32 elements.
    @Test func aShapeWhoseByteCountOverflowsIsTruncatedData() {
        let bytes = npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904,), }",
                            data: [0, 0, 0x80, 0x3F])
        let error = #expect(throws: NpyFormatError.self) { _ = try NpyArray(data: bytes) }
        #expect(error?.message.contains("truncated data") == true, "\(error?.message ?? "")")
    }

    /// A shape with a zero dimension holds no elements, however large the others.
    @Test func aZeroDimensionMakesAnEmptyArrayWhateverTheOthers() throws {
        let bytes = npyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 9223372036854775807), }")
        let array = try NpyArray(data: bytes)
        #expect(array.shape == [0, Int.max])
        #expect(array.count == 0)
    }

    /// Every crash input kept in the fuzzer's corpus now reads as an error, not a trap.
    @Test func everyCrashInputInTheCorpusIsAnError() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Fuzz/corpus/npy").standardized.path
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("crash-") }
        #expect(!names.isEmpty, "no crash-* inputs in \(directory)")
        for name in names.sorted() {
            let bytes = try #require(FileManager.default.contents(atPath: directory + "/" + name))
            #expect(throws: NpyFormatError.self, "\(name)") { _ = try NpyArray(data: Array(bytes)) }
        }
    }
}
