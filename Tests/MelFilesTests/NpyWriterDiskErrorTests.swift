import Foundation
import Testing
@testable import MelFiles

/// NpyWriter on a real full disk and under a real file-size limit.
///
/// Disk full: a 64 KiB tmpfs mounted for the test (needs root, which the project's container has;
/// without it the test fails and says so rather than skipping). File-size limit: a forked child sets
/// RLIMIT_FSIZE (process-wide, so never in the test process itself), ignores SIGXFSZ so write(2)
/// returns EFBIG, writes until the error and reports back through a pipe.
@Suite(.serialized) struct NpyWriterDiskErrorTests {
    /// Mounts a tmpfs of `kibibytes` at a fresh directory; records a failure if mounting is not permitted.
    static func mountSmallDisk(kibibytes: Int) throws -> String? {
        let directory = try makeScratchDirectory()
        let result = try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kibibytes)k", "tmpfs", directory])
        if result.status != 0 {
            Issue.record("Cannot mount a small tmpfs to simulate a full disk (\(result.standardError.trimmingCharacters(in: .whitespacesAndNewlines))). Run the tests as root, as in the project's container.")
            removeScratch(directory)
            return nil
        }
        return directory
    }

    static func unmount(_ directory: String) {
        _ = try? runProcess("/bin/umount", [directory])
        removeScratch(directory)
    }

    @Test func growingModeOnAFullDiskKeepsTheCompleteRowsLoadable() throws {
        guard let disk = try Self.mountSmallDisk(kibibytes: 64) else { return }
        defer { Self.unmount(disk) }
        let path = disk + "/rec.npy"
        let rowLength = 100  // 400-byte rows: the disk fills in the middle of a row
        let writer = try NpyWriter(path: path, trailingShape: [rowLength], mode: .growing)
        var appended = 0
        var thrown: FeatureFileError?
        do {
            while appended < 10_000 {
                try writer.appendRows(NpyWriterTests.rows(7, length: rowLength, start: appended))
                appended += 7
            }
        } catch let error as FeatureFileError {
            thrown = error
        }
        let error = try #require(thrown, "a 64 KiB disk cannot hold \(appended) rows")
        #expect(error.code == ENOSPC)
        #expect(error.message.contains("The disk is full while writing \(path)"))
        #expect(error.message.contains("free space and record again"))
        let saved = try #require(error.rowsSaved)
        #expect(error.message.contains("\(saved) frames were saved"))
        #expect(saved > 0 && saved <= appended + 7, "at most the rows passed so far, including the failing call")

        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(size == writer.headerSize + saved * rowLength * 4, "the partial row must be truncated")
        let array = try NpyArray.load(path: path)
        #expect(array.shape == [saved, rowLength])
        expectSameValues(array.values, NpyWriterTests.rows(saved, length: rowLength))

        // Every later call reports the same error.
        #expect(throws: error) { try writer.patchHeader() }
        #expect(throws: error) { try writer.finish() }
        writer.discard()

        if let python = pythonWithNumpy(), let loaded = try numpyLoad(path, python: python) {
            #expect(loaded.shape == [saved, rowLength])
        }
    }

    @Test func atomicModeOnAFullDiskLeavesNothing() throws {
        guard let disk = try Self.mountSmallDisk(kibibytes: 64) else { return }
        defer { Self.unmount(disk) }
        let path = disk + "/out.npy"
        let writer = try NpyWriter(path: path, trailingShape: [64], mode: .atomic)
        let error = #expect(throws: FeatureFileError.self) {
            for start in 0..<1000 {
                try writer.appendRows(NpyWriterTests.rows(1, length: 64, start: start))
            }
            try writer.finish()
        }
        #expect(error?.code == ENOSPC)
        #expect(error?.message.contains("nothing was saved") == true)
        #expect(directoryEntries(disk) == [])
        writer.discard()
        #expect(directoryEntries(disk) == [])
    }

    @Test func fileSizeLimitGivesEFBIGAndKeepsCompleteRows() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let path = directory + "/limited.npy"
        let rowLength = 10
        let limit = 128 + 40 * 1000 + 17  // header + 1000 rows + part of a row

        // Warm up the code the child runs, so it needs no lazy runtime set-up after fork().
        do {
            let warm = try NpyWriter(path: directory + "/warm.npy", trailingShape: [rowLength], mode: .growing)
            try warm.appendRows(NpyWriterTests.rows(2, length: rowLength))
            _ = FeatureFileError.writeFailed(path: path, code: EFBIG, rowsSaved: 1).message
            warm.discard()
        }
        let values = NpyWriterTests.rows(5000, length: rowLength)

        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        let child = fork()
        if child == 0 {
            // Child: only async-signal-safe-ish work on memory prepared above; report and _exit.
            close(pipeEnds[0])
            var limits = rlimit(rlim_cur: rlim_t(limit), rlim_max: rlim_t(limit))
            _ = setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limits)
            _ = signal(SIGXFSZ, SIG_IGN)
            var report: [Int64] = [-1, -1, -1]
            do {
                let writer = try NpyWriter(path: path, trailingShape: [rowLength], mode: .growing)
                try values.withUnsafeBufferPointer { try writer.appendRows($0) }
                try writer.finish()
                report = [0, 0, 0]
            } catch let error as FeatureFileError {
                report = [Int64(error.code), Int64(error.rowsSaved ?? -1), error.message.contains("file size limit") ? 1 : 0]
            } catch {}
            _ = report.withUnsafeBytes { write(pipeEnds[1], $0.baseAddress, $0.count) }
            _exit(0)
        }
        close(pipeEnds[1])
        #expect(child > 0)
        var report: [Int64] = [0, 0, 0]
        let got = report.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, $0.count) }
        close(pipeEnds[0])
        var status: Int32 = 0
        waitpid(child, &status, 0)
        #expect(got == 24, "the child must report its result")
        #expect(report[0] == Int64(EFBIG))
        #expect(report[1] == 1000, "1000 complete rows fit under the limit")
        #expect(report[2] == 1, "the message names the file size limit")

        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(size == 128 + 40 * 1000)
        let array = try NpyArray.load(path: path)
        #expect(array.shape == [1000, rowLength])
        expectSameValues(array.values, Array(values.prefix(1000 * rowLength)))
    }

    @Test func readOnlyDiskSaysSo() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let result = try runProcess("/bin/mount", ["-t", "tmpfs", "-o", "ro,size=16k", "tmpfs", directory])
        guard result.status == 0 else {
            Issue.record("Cannot mount a read-only tmpfs (\(result.standardError)). Run the tests as root, as in the project's container.")
            return
        }
        defer { _ = try? runProcess("/bin/umount", [directory]) }
        let error = #expect(throws: FeatureFileError.self) {
            try NpyWriter(path: directory + "/x.npy", trailingShape: [4], mode: .atomic)
        }
        #expect(error?.code == EROFS)
        #expect(error?.message.contains("read-only") == true)
        #expect(error?.message.contains("writable disk") == true)
    }

    /// Root ignores file permissions, so a forked child drops to user `nobody` before opening.
    @Test func permissionDeniedSaysSo() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        #expect(chmod(directory, 0o755) == 0)
        let path = directory + "/denied.npy"
        _ = FeatureFileError.cannotCreate(path: path, code: EACCES).message  // warm up before fork
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        let child = fork()
        if child == 0 {
            close(pipeEnds[0])
            var report: [Int64] = [-1, 0]
            if setgid(65534) == 0 && setuid(65534) == 0 {
                do {
                    let writer = try NpyWriter(path: path, trailingShape: [4], mode: .growing)
                    writer.discard()
                    report = [0, 0]
                } catch let error as FeatureFileError {
                    report = [Int64(error.code), error.message.contains("permission denied") && error.message.contains("Choose a directory you may write to") ? 1 : 0]
                } catch {}
            }
            _ = report.withUnsafeBytes { write(pipeEnds[1], $0.baseAddress, $0.count) }
            _exit(0)
        }
        close(pipeEnds[1])
        var report: [Int64] = [0, 0]
        let got = report.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, $0.count) }
        close(pipeEnds[0])
        var status: Int32 = 0
        waitpid(child, &status, 0)
        #expect(got == 16)
        #expect(report[0] == Int64(EACCES), "as user nobody, creating a file in a root-owned 0755 directory must fail")
        #expect(report[1] == 1, "the message says permission denied and what to do")
        #expect(directoryEntries(directory) == [])
    }

    /// A real SIGKILL after a patch: the file loads with exactly the patched rows.
    @Test func growingModeSurvivesSIGKILL() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let path = directory + "/killed.npy"
        let first = NpyWriterTests.rows(3000, length: 16)
        let more = NpyWriterTests.rows(2000, length: 16, start: 3000)
        do {  // warm up before fork
            let warm = try NpyWriter(path: directory + "/warm.npy", trailingShape: [16], mode: .growing)
            try warm.appendRows(first)
            try warm.patchHeader()
            warm.discard()
        }
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        let child = fork()
        if child == 0 {
            close(pipeEnds[0])
            var ready: UInt8 = 0
            if let writer = try? NpyWriter(path: path, trailingShape: [16], mode: .growing) {
                writer.patchInterval = .infinity
                if (try? writer.appendRows(first)) != nil, (try? writer.patchHeader()) != nil,
                   (try? writer.appendRows(more)) != nil {
                    ready = 1
                }
                _ = write(pipeEnds[1], &ready, 1)
                while true { pause() }  // killed here, writer never finished
            }
            _ = write(pipeEnds[1], &ready, 1)
            _exit(1)
        }
        close(pipeEnds[1])
        var ready: UInt8 = 0
        let got = read(pipeEnds[0], &ready, 1)
        close(pipeEnds[0])
        kill(child, SIGKILL)
        var status: Int32 = 0
        waitpid(child, &status, 0)
        #expect(got == 1 && ready == 1, "the child must have written its rows")
        let array = try NpyArray.load(path: path)
        #expect(array.shape == [3000, 16])
        expectSameValues(array.values, first)
        if let python = pythonWithNumpy(), let loaded = try numpyLoad(path, python: python) {
            #expect(loaded.shape == [3000, 16])
        }
    }
}
