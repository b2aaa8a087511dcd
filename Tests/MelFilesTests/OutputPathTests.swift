// Output files are never clobbered without being asked, never written through a link, and a
// failed writer removes only what it created.
import Foundation
import Glibc
import Testing
@testable import MelFiles

@Suite struct OutputPathTests {
    /// A directory holding `victim.txt` ("secret") and `link.npy` → victim.txt.
    private func scratchWithVictim(_ name: String = #function) throws -> String {
        let directory = try makeScratchDirectory(name)
        try "secret\n".write(toFile: directory + "/victim.txt", atomically: false, encoding: .utf8)
        #expect(symlink("victim.txt", directory + "/link.npy") == 0)
        return directory
    }

    private func victim(_ directory: String) -> String? {
        try? String(contentsOfFile: directory + "/victim.txt", encoding: .utf8)
    }

    @Test(arguments: [NpyWriter.Mode.atomic, .growing], [ExistingOutput.refuse, .replace])
    func aLinkIsNeverWrittenThrough(mode: NpyWriter.Mode, existing: ExistingOutput) throws {
        let directory = try scratchWithVictim()
        defer { removeScratch(directory) }
        let error = #expect(throws: FeatureFileError.self) {
            let writer = try NpyWriter(path: directory + "/link.npy", trailingShape: [4], mode: mode, existing: existing)
            try writer.appendRows([1, 2, 3, 4])
            try writer.finish()
        }
        #expect(error?.message.contains("is a symbolic link to 'victim.txt'") == true, "\(error?.message ?? "")")
        #expect(victim(directory) == "secret\n", "the link's target was changed")
        var info = stat()
        #expect(lstat(directory + "/link.npy", &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK, "the link was removed")
        #expect(directoryEntries(directory) == ["link.npy", "victim.txt"], "something was left behind")
    }

    @Test(arguments: [NpyWriter.Mode.atomic, .growing])
    func anExistingFileIsRefusedUnlessReplacing(mode: NpyWriter.Mode) throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let path = directory + "/take.npy"
        try "old".write(toFile: path, atomically: false, encoding: .utf8)
        let error = #expect(throws: FeatureFileError.self) {
            _ = try NpyWriter(path: path, trailingShape: [2], mode: mode)
        }
        #expect(error?.message.contains("already exists") == true && error?.message.contains("--force") == true)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old", "the refused file was touched")

        let writer = try NpyWriter(path: path, trailingShape: [2], mode: mode, existing: .replace)
        try writer.appendRows([1, 2])
        #expect(try writer.finish() == 1)
        let array = try NpyArray.load(path: path)
        #expect(array.shape == [1, 2])
        #expect(directoryEntries(directory) == ["take.npy"])
    }

    @Test func aDirectoryOrPipeIsDescribed() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        #expect(mkdir(directory + "/d.npy", 0o755) == 0 && mkfifo(directory + "/p.npy", 0o644) == 0)
        for (name, what) in [("d.npy", "a directory"), ("p.npy", "a named pipe")] {
            let error = #expect(throws: FeatureFileError.self) {
                try OutputPath.check(directory + "/" + name, existing: .replace)
            }
            #expect(error?.message.contains("it is \(what)") == true, "\(error?.message ?? "")")
        }
    }

    /// A growing writer whose first write fails removes the file it created, but never a file
    /// someone put at the path after it (checked by inode).
    @Test func removalTouchesOnlyWhatWasCreated() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let path = directory + "/rec.npy"
        let writer = try NpyWriter(path: path, trailingShape: [2], mode: .growing)
        // Someone replaces the file under the writer's feet.
        #expect(unlink(path) == 0)
        try "theirs".write(toFile: path, atomically: false, encoding: .utf8)
        writer.remove()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "theirs", "a file the writer did not create was removed")

        let second = try NpyWriter(path: directory + "/mine.npy", trailingShape: [2], mode: .growing)
        second.remove()
        #expect(directoryEntries(directory) == ["rec.npy"], "the writer's own file was not removed")
    }

    @Test func audioWriterRefusesLinksAndExistingFiles() throws {
        let directory = try scratchWithVictim()
        defer { removeScratch(directory) }
        #expect(throws: AudioFileError.self) {
            _ = try AudioFileWriter(path: directory + "/link.npy", sampleRate: 16000, channelCount: 1, format: .wavPCM16,
                                    existing: .replace)
        }
        #expect(victim(directory) == "secret\n")
        #expect(throws: AudioFileError.self) {
            _ = try AudioFileWriter(path: directory + "/victim.txt", sampleRate: 16000, channelCount: 1, format: .wavPCM16)
        }
        #expect(victim(directory) == "secret\n")
    }
}
