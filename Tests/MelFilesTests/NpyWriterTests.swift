import Foundation
import Testing
@testable import MelFiles

/// NpyWriter: round trips through NpyArray and numpy, atomic and growing modes, errors on real disks.
@Suite struct NpyWriterTests {
    /// Rows of `length` values with distinct, exactly representable contents.
    static func rows(_ count: Int, length: Int, start: Int = 0) -> [Float] {
        (0..<(count * length)).map { Float(start * length + $0) * 0.25 - 100 }
    }

    @Test(arguments: [[7], [1], [2, 5], [3, 2, 4], []])
    func roundTripThroughNpyArrayAndNumpy(trailingShape: [Int]) throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let path = directory + "/features.npy"
        let rowLength = trailingShape.reduce(1, *)
        let rowCount = 5000  // more than one 64 KiB buffer for the wider shapes
        let values = Self.rows(rowCount, length: rowLength)

        let writer = try NpyWriter(path: path, trailingShape: trailingShape, mode: .atomic)
        #expect(writer.headerSize % 64 == 0)
        // Feed in uneven pieces, some splitting rows, to exercise the buffer and partial rows.
        var offset = 0
        var piece = 1
        while offset < values.count {
            let end = min(values.count, offset + piece)
            try values[offset..<end].withUnsafeBufferPointer { try writer.appendRows($0) }
            offset = end
            piece = piece * 3 % 9973 + 1
        }
        #expect(writer.rowCount == rowCount)
        #expect(try writer.finish() == rowCount)

        let array = try NpyArray.load(path: path)
        #expect(array.shape == [rowCount] + trailingShape)
        #expect(array.descr == "<f4")
        expectSameValues(array.values, values)

        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(size == writer.headerSize + values.count * 4)

        guard let python = pythonWithNumpy(), let loaded = try numpyLoad(path, python: python) else { return }
        #expect(loaded.shape == [rowCount] + trailingShape)
        #expect(loaded.dtype == "<f4")
        expectSameValues(loaded.values, values.map(Double.init))
    }

    @Test func headerHasRoomForTwentyDigitsPerDimension() throws {
        #expect(NpyWriter.headerSize(dimensionCount: 2) == 128)
        #expect(NpyWriter.headerSize(dimensionCount: 3) == 192)
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let writer = try NpyWriter(path: directory + "/h.npy", trailingShape: [Int.max / 2], mode: .atomic)
        let header = writer.headerBytes(rows: Int.max)
        #expect(header.count == writer.headerSize)
        #expect(header.last == 0x0A)
        #expect(String(decoding: header, as: UTF8.self).contains("(\(Int.max), \(Int.max / 2))"))
        writer.discard()
    }

    @Test func atomicModeLeavesOnlyTheFinalFile() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let path = directory + "/take.npy"
        let writer = try NpyWriter(path: path, trailingShape: [4], mode: .atomic)
        try writer.appendRows(Self.rows(10, length: 4))
        let entries = directoryEntries(directory)
        #expect(entries.count == 1 && entries[0].hasPrefix(".take.npy.tmp-\(getpid())-"),
                "while writing, only the hidden temporary file exists: \(entries)")
        try writer.finish()
        #expect(directoryEntries(directory) == ["take.npy"])
        #expect(try NpyArray.load(path: path).shape == [10, 4])
    }

    @Test func atomicModeDiscardAndDeinitLeaveNothing() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let discarded = try NpyWriter(path: directory + "/a.npy", trailingShape: [4], mode: .atomic)
        try discarded.appendRows(Self.rows(100, length: 4))
        discarded.discard()
        #expect(directoryEntries(directory) == [])

        do {
            let abandoned = try NpyWriter(path: directory + "/b.npy", trailingShape: [4], mode: .atomic)
            try abandoned.appendRows(Self.rows(100_000, length: 4))
            #expect(directoryEntries(directory).count == 1)
        }
        #expect(directoryEntries(directory) == [], "deinit without finish() must remove the temporary file")
    }

    /// What a SIGKILL leaves is the file as it is on disk now: copy it without finishing the writer.
    @Test func growingModeFileLoadsWithThePatchedRowsAtAnyMoment() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let path = directory + "/live.npy"
        let writer = try NpyWriter(path: path, trailingShape: [3, 8], mode: .growing)
        writer.patchInterval = .infinity  // only explicit patches in this test

        // Fresh file: zero rows, loadable.
        let snapshot0 = directory + "/snapshot0.npy"
        try FileManager.default.copyItem(atPath: path, toPath: snapshot0)
        #expect(try NpyArray.load(path: snapshot0).shape == [0, 3, 8])

        let first = Self.rows(1234, length: 24)
        try writer.appendRows(first)
        try writer.patchHeader()
        #expect(writer.patchedRowCount == 1234)
        // More rows and a partial row, not patched: some reach the disk, the header does not claim them.
        try writer.appendRows(Self.rows(4000, length: 24, start: 1234) + [1, 2, 3])

        let snapshot = directory + "/snapshot.npy"
        try FileManager.default.copyItem(atPath: path, toPath: snapshot)
        let size = try FileManager.default.attributesOfItem(atPath: snapshot)[.size] as? Int ?? 0
        #expect(size > writer.headerSize + 1234 * 24 * 4, "unpatched data should already be on disk")
        let array = try NpyArray.load(path: snapshot)
        #expect(array.shape == [1234, 3, 8])
        expectSameValues(array.values, Array(first))

        if let python = pythonWithNumpy(), let loaded = try numpyLoad(snapshot, python: python) {
            #expect(loaded.shape == [1234, 3, 8])
            expectSameValues(loaded.values, first.map(Double.init))
        }

        // finish() drops the partial row and claims all complete rows.
        #expect(try writer.finish() == 5234)
        let final = try NpyArray.load(path: path)
        #expect(final.shape == [5234, 3, 8])
        #expect(Array(final.values.suffix(24)) == Array(Self.rows(1, length: 24, start: 5233)))
    }

    @Test func growingModePatchesAutomaticallyAfterTheInterval() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let path = directory + "/auto.npy"
        let writer = try NpyWriter(path: path, trailingShape: [2], mode: .growing)
        writer.patchInterval = 0  // every append is "at least 0 s after the last patch"
        try writer.appendRows(Self.rows(3, length: 2))
        #expect(writer.patchedRowCount == 3)
        #expect(try NpyArray.load(path: path).shape == [3, 2])
        writer.patchInterval = .infinity
        try writer.appendRows(Self.rows(3, length: 2))
        #expect(writer.patchedRowCount == 3)
        writer.discard()  // growing mode keeps what was recorded
        #expect(try NpyArray.load(path: path).shape == [6, 2])
    }

    @Test func missingDirectorySaysSoAndWhatToDo() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        for mode in [NpyWriter.Mode.atomic, .growing] {
            let error = #expect(throws: FeatureFileError.self) {
                try NpyWriter(path: directory + "/no/such/dir/x.npy", trailingShape: [4], mode: mode)
            }
            #expect(error?.code == ENOENT)
            #expect(error?.message.contains("does not exist") == true)
            #expect(error?.message.contains("mkdir -p \(directory)/no/such/dir") == true)
        }
    }

    @Test func directoryAsOutputSaysSo() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let error = #expect(throws: FeatureFileError.self) {
            try NpyWriter(path: directory, trailingShape: [4], mode: .growing)
        }
        #expect(error?.message.contains("is a directory") == true)
    }
}
