// MelSystem against the real system: pipes, files, links and sockets in a scratch directory.
import Foundation
import Glibc
import MelSystem
import Synchronization
import Testing

/// A fresh private directory under /tmp (short, so socket paths fit), removed by the caller.
private func scratch() -> String {
    var template = Array("/tmp/msys-XXXXXX".utf8CString)
    let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(result != nil, "mkdtemp failed: \(errnoText(errno))")
    return String(cString: result!)
}

@Suite struct MelSystemTests {
    @Test("SplitMix64 gives the reference sequence (seed 0: e220a8397b1dcdaf, 6e789e6aa1b965f4, 06c45d188009454f)")
    func splitMix64Reference() {
        var generator = SplitMix64(seed: 0)
        #expect([generator.next(), generator.next(), generator.next()]
                == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
        #expect(SplitMix64.mix(1_234_567 &+ 0x9E37_79B9_7F4A_7C15) == 0x599E_D017_FB08_FC85)
        var unit = SplitMix64(seed: 0)
        #expect(unit.nextUnit() == Double(UInt64(0xE220_A839_7B1D_CDAF) >> 11) * 0x1p-53)
    }

    @Test("retryingOnInterrupt calls again on EINTR only, and returns the first other result")
    func retryOnInterrupt() {
        var calls = 0
        let result = retryingOnInterrupt { () -> Int32 in
            calls += 1
            if calls < 3 { errno = EINTR; return -1 }
            return 5
        }
        #expect(result == 5 && calls == 3)
        calls = 0
        let failed = retryingOnInterrupt { () -> Int in
            calls += 1
            errno = EBADF
            return -1
        }
        #expect(failed == -1 && errno == EBADF && calls == 1)
    }

    @Test("writeAll moves 1 MiB through a 64 KiB pipe (short writes) intact; a closed reader gives EPIPE")
    func writeAllThroughAPipe() throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        let bytes = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        let reader = ends[0]
        let received = Mutex<[UInt8]>([])
        let done = DispatchSemaphore(value: 0)
        Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { raw in retryingOnInterrupt { read(reader, raw.baseAddress, raw.count) } }
                if count <= 0 { break }
                received.withLock { $0 += buffer[0..<count] }
            }
            done.signal()
        }.start()
        let outcome = bytes.withUnsafeBytes { writeAll(ends[1], $0) }
        close(ends[1])
        done.wait()
        close(reader)
        #expect(outcome == WriteOutcome(written: bytes.count, errorCode: 0))
        #expect(received.withLock { $0 } == bytes)

        try #require(pipe(&ends) == 0)
        close(ends[0])
        signal(SIGPIPE, SIG_IGN)
        let broken = bytes.withUnsafeBytes { writeAll(ends[1], $0) }
        close(ends[1])
        #expect(broken.errorCode == EPIPE && broken.written == 0 && !broken.succeeded)
    }

    @Test("writeAll(at:) writes at the offset without moving the file offset")
    func positionedWrite() throws {
        let directory = scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let descriptor = open(directory + "/f", O_RDWR | O_CREAT, 0o644)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        _ = Array("abcdefgh".utf8).withUnsafeBytes { writeAll(descriptor, $0) }
        let outcome = Array("XY".utf8).withUnsafeBytes { writeAll(descriptor, $0, at: 2) }
        #expect(outcome.succeeded && outcome.written == 2)
        #expect(lseek(descriptor, 0, SEEK_CUR) == 8)
        #expect(try String(contentsOfFile: directory + "/f", encoding: .utf8) == "abXYefgh")
    }

    @Test("AtomicFile: a refusing install leaves an existing file alone and removes the temporary; replacing swaps it")
    func atomicFile() throws {
        let directory = scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/out.json"
        try "old".write(toFile: path, atomically: false, encoding: .utf8)

        let (descriptor, temporary) = try AtomicFile.createTemporary(beside: path)
        #expect(directoryName(of: temporary.path) == directory)
        #expect(baseName(of: temporary.path).hasPrefix(".out.json.tmp-\(getpid())-"))
        try Array("new".utf8).withUnsafeBytes { try AtomicFile.finish(descriptor, temporary, writing: $0, sync: true) }
        #expect(temporary.isInPlace)
        let refused = #expect(throws: SystemCallError.self) {
            try AtomicFile.install(temporary, at: path, replacing: false, sync: true)
        }
        #expect(refused == SystemCallError("link", EEXIST))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old")
        #expect(!temporary.isInPlace && access(temporary.path, F_OK) != 0)

        let (second, replacement) = try AtomicFile.createTemporary(beside: path)
        try Array("new".utf8).withUnsafeBytes { try AtomicFile.finish(second, replacement, writing: $0, sync: false) }
        try AtomicFile.install(replacement, at: path, replacing: true, sync: true)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["out.json"])
    }

    @Test("CreatedFile.remove leaves a file that replaced the one it made")
    func createdFileRemovesOnlyItsOwn() throws {
        let directory = scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (descriptor, temporary) = try AtomicFile.createTemporary(beside: directory + "/x")
        close(descriptor)
        // Moved away, not unlinked: the inode stays in use, so the file put in its place has another.
        #expect(rename(temporary.path, directory + "/moved") == 0)
        try "someone else's".write(toFile: temporary.path, atomically: false, encoding: .utf8)
        temporary.remove()
        #expect(access(temporary.path, F_OK) == 0)
    }

    @Test("describeFileKind names what lstat found, with a link's target")
    func fileKinds() throws {
        let directory = scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "x".write(toFile: directory + "/file", atomically: false, encoding: .utf8)
        #expect(symlink("victim.txt", directory + "/link") == 0)
        #expect(mkfifo(directory + "/fifo", 0o600) == 0)
        let socketPath = directory + "/s"
        let address = try #require(UnixSocketAddress(path: socketPath))
        let descriptor = UnixSocketAddress.streamSocket()
        #expect(address.withSocketAddress { bind(descriptor, $0, $1) } == 0)
        close(descriptor)
        func kind(_ path: String) -> String {
            var info = stat()
            return lstat(path, &info) == 0 ? describeFileKind(path, info) : "missing"
        }
        #expect(kind(directory + "/file") == "a regular file")
        #expect(kind(directory) == "a directory")
        #expect(kind(directory + "/link") == "a symbolic link to 'victim.txt'")
        #expect(kind(directory + "/fifo") == "a named pipe")
        #expect(kind(socketPath) == "a socket")
        #expect(kind("/dev/null") == "a device")
    }

    @Test("UnixSocketAddress takes 107 bytes and refuses 108; connect reports the errno")
    func socketAddress() throws {
        #expect(UnixSocketAddress.maximumPathLength == 107)
        #expect(UnixSocketAddress(path: "/" + String(repeating: "a", count: 106)) != nil)
        #expect(UnixSocketAddress(path: "/" + String(repeating: "a", count: 107)) == nil)
        let directory = scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let address = try #require(UnixSocketAddress(path: directory + "/nobody.sock"))
        let descriptor = UnixSocketAddress.streamSocket()
        defer { close(descriptor) }
        #expect(address.connect(descriptor) == ENOENT)

        let listening = UnixSocketAddress.streamSocket()
        defer { close(listening) }
        let served = try #require(UnixSocketAddress(path: directory + "/served.sock"))
        #expect(served.withSocketAddress { bind(listening, $0, $1) } == 0 && listen(listening, 1) == 0)
        let client = UnixSocketAddress.streamSocket()
        defer { close(client) }
        #expect(served.connect(client) == 0)
        let message = Array("hello".utf8)
        #expect(message.withUnsafeBytes { sendAll(client, $0) }.succeeded)
    }

    @Test("wait(on:seconds:) returns true for a posted semaphore, false once the deadline passes")
    func semaphoreDeadline() {
        let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
        defer { sem_destroy(semaphore); semaphore.deallocate() }
        sem_post(semaphore)
        let posted = MelSystem.wait(on: semaphore, seconds: 10)
        let timedOut = MelSystem.wait(on: semaphore, seconds: 0.01)
        let past = MelSystem.wait(on: semaphore, seconds: -1)
        #expect(posted && !timedOut && !past)
        let deadline = realtimeDeadline(after: 2.75)
        #expect(deadline.tv_nsec >= 0 && deadline.tv_nsec < 1_000_000_000)
    }

    @Test("findExecutable looks in the given PATH only")
    func executables() {
        #expect(findExecutable("sh", searchPath: "/nonexistent:/bin") == "/bin/sh")
        #expect(findExecutable("sh", searchPath: "/nonexistent") == nil)
    }
}
