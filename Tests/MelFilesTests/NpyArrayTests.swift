import Foundation
import Testing
@testable import MelFiles

/// NpyArray reads files that numpy itself wrote.
@Suite struct NpyArrayTests {
    @Test func readsFilesNumpyWrote() throws {
        guard let python = pythonWithNumpy() else { return }
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let script = """
        import sys, numpy as np
        from numpy.lib import format as F
        d = sys.argv[1]
        np.save(d + '/f4.npy', (np.arange(12, dtype='<f4').reshape(3, 4) / 7).astype('<f4'))
        np.save(d + '/f8.npy', np.array([[0.1, 1/3], [2.5e-300, -7.0]], dtype='<f8'))
        np.save(d + '/i2.npy', np.array([-32768, 0, 32767, 5], dtype='<i2'))
        np.save(d + '/u2.npy', np.array([[0, 1], [65535, 40000]], dtype='<u2'))
        np.save(d + '/f4_3d.npy', np.arange(24, dtype='<f4').reshape(2, 3, 4))
        np.save(d + '/empty.npy', np.zeros((0, 5), dtype='<f4'))
        with open(d + '/v2.npy', 'wb') as f:
            F.write_array(f, np.full((2, 3), 3.5, dtype='<f4'), version=(2, 0))
        np.save(d + '/fortran.npy', np.asfortranarray(np.ones((2, 3), dtype='<f4')))
        np.save(d + '/big.npy', np.ones(3, dtype='>f4'))
        np.save(d + '/int32.npy', np.ones(3, dtype='<i4'))
        """
        try runPython(script, [directory], python: python)

        let f4 = try NpyArray.load(path: directory + "/f4.npy")
        #expect(f4.shape == [3, 4])
        #expect(f4.descr == "<f4")
        #expect(f4.values == (0..<12).map { Float($0) / 7 })

        let f8 = try NpyArray.load(path: directory + "/f8.npy")
        #expect(f8.shape == [2, 2])
        #expect(f8.doubles == [0.1, 1.0 / 3.0, 2.5e-300, -7.0], "float64 must stay exact")
        #expect(f8.values == [Float(0.1), Float(1.0 / 3.0), 0, -7])

        let i2 = try NpyArray.load(path: directory + "/i2.npy")
        #expect(i2.shape == [4])
        #expect(i2.values == [-32768, 0, 32767, 5])

        let u2 = try NpyArray.load(path: directory + "/u2.npy")   // the micro preset's golden frames
        #expect(u2.shape == [2, 2] && u2.descr == "<u2")
        #expect(u2.doubles == [0, 1, 65535, 40000])

        let threeD = try NpyArray.load(path: directory + "/f4_3d.npy")
        #expect(threeD.shape == [2, 3, 4])
        #expect(threeD.values == (0..<24).map { Float($0) })

        let empty = try NpyArray.load(path: directory + "/empty.npy")
        #expect(empty.shape == [0, 5])
        #expect(empty.values.isEmpty)

        let v2 = try NpyArray.load(path: directory + "/v2.npy")
        #expect(v2.shape == [2, 3])
        #expect(v2.values == [Float](repeating: 3.5, count: 6))
    }

    @Test func rejectsUnsupportedFilesSayingWhatToDo() throws {
        guard let python = pythonWithNumpy() else { return }
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        try runPython("""
        import sys, numpy as np
        d = sys.argv[1]
        np.save(d + '/fortran.npy', np.asfortranarray(np.ones((2, 3), dtype='<f4')))
        np.save(d + '/big.npy', np.ones(3, dtype='>f4'))
        np.save(d + '/int32.npy', np.ones(3, dtype='<i4'))
        """, [directory], python: python)

        func message(_ name: String) -> String {
            do {
                _ = try NpyArray.load(path: "\(directory)/\(name)")
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        #expect(message("fortran.npy").contains("Fortran order"))
        #expect(message("fortran.npy").contains("ascontiguousarray"))
        #expect(message("big.npy").contains("'>f4'"))
        #expect(message("int32.npy").contains("convert the array"))
        #expect(message("missing.npy").contains("does not exist"))

        _ = FileManager.default.createFile(atPath: directory + "/text.npy", contents: Data("hello, not numpy".utf8))
        #expect(message("text.npy").contains("not a .npy file"))
    }

    @Test func rejectsTruncatedData() throws {
        var bytes = NpyWriterTestBytes.header(shape: "(4, 2)") + [UInt8](repeating: 0, count: 4 * 4 * 2 - 1)
        #expect(throws: NpyFormatError.self) { try NpyArray(data: bytes) }
        bytes.append(0)
        #expect(try NpyArray(data: bytes).shape == [4, 2])
    }
}

/// Hand-made .npy bytes, independent of NpyWriter.
enum NpyWriterTestBytes {
    static func header(shape: String, descr: String = "<f4") -> [UInt8] {
        var dictionary = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
        while (10 + dictionary.utf8.count + 1) % 64 != 0 { dictionary += " " }
        dictionary += "\n"
        let length = dictionary.utf8.count
        return [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(dictionary.utf8)
    }
}
