// JACK's shared-memory registry has 8 server slots. A killed server keeps its slot, and jackd
// reclaims a dead slot only for its own name: with unique test-server names, 8 deaths make every
// later jackd fail. scripts/jack-reclaim-shm (run by scripts/test) frees them.
import Foundation
import Glibc
import MeltapTestSupport
import Testing

@Suite(.serialized) struct JackRegistryTests {
    /// Runs scripts/jack-reclaim-shm and returns its output.
    static func reclaim() throws -> String {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = packageRoot.appendingPathComponent("scripts/jack-reclaim-shm").path
        let child = try Child(script, [], environment: ProcessInfo.processInfo.environment, directory: directory, label: "reclaim")
        guard child.waitForExit(timeout: 20), child.process.terminationStatus == 0 else {
            throw HarnessError("jack-reclaim-shm failed: \(child.errors)")
        }
        return child.output
    }

    /// "… 3 live server(s) left alone." → 3.
    static func liveServers(_ output: String) throws -> Int {
        let words = output.split(separator: " ")
        guard let index = words.firstIndex(of: "live"), index > 0, let count = Int(words[index - 1]) else {
            throw HarnessError("unexpected jack-reclaim-shm output: \(output)")
        }
        return count
    }

    @Test("Killed servers fill JACK's 8 registry slots until scripts/jack-reclaim-shm frees them; live ones are kept")
    func killedServersAreReclaimed() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let live = try Self.liveServers(try Self.reclaim())
        try #require(live < 7, "\(live) JACK servers run on this machine: no room for the test")
        // One live server of ours, which the reclaim must leave alone; then dead ones in every other slot.
        let survivor = try JackServer(period: 256, directory: directory)
        defer { survivor.stop() }
        for _ in 0..<(8 - live - 1) {
            let server = try JackServer(period: 256, directory: directory)
            server.kill()
        }
        var refused: String?
        do {
            let extra = try JackServer(period: 256, directory: directory)
            extra.stop()
        } catch {
            refused = "\(error)"
        }
        #expect(refused?.contains("Too many servers already active") == true,
                "a ninth server started although 8 slots were taken: \(refused ?? "no error")")

        let output = try Self.reclaim()
        #expect(output.contains("freed \(8 - live - 1) slot(s)"), "\(output)")
        #expect(try Self.liveServers(output) == live + 1, "the live server's slot was not kept: \(output)")
        let next = try JackServer(period: 256, directory: directory)
        next.stop()
        #expect(survivor.ports().contains { $0.hasPrefix("system:") }, "the surviving server stopped answering")
    }
}
