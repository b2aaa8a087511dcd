// The default socket directory rule (`SocketDirectory`), with the environment and the file system
// passed in: every branch, whatever this machine has.
import MelSystem
import Testing

@Suite struct SocketDirectoryTests {
    static func resolve(_ runtime: String?, existing: Set<String>) -> String {
        SocketDirectory.resolve(runtimeDirectory: runtime, uid: 1000, isDirectory: { existing.contains($0) })
    }

    @Test func xdgRuntimeDirFirst() {
        #expect(Self.resolve("/run/user/1000", existing: ["/run/user/1000"]) == "/run/user/1000/meltap")
        #expect(Self.resolve("/scratch/rt/", existing: ["/scratch/rt/", "/run/user/1000"]) == "/scratch/rt/meltap")
    }

    /// Root over ssh, services and containers often have /run/user/UID without the variable: the
    /// README's `$XDG_RUNTIME_DIR/meltap` must not become `/meltap` there (issue 24).
    @Test func runUserWhenTheVariableIsUnsetOrStale() {
        #expect(Self.resolve(nil, existing: ["/run/user/1000"]) == "/run/user/1000/meltap")
        #expect(Self.resolve("", existing: ["/run/user/1000"]) == "/run/user/1000/meltap")
        #expect(Self.resolve("/gone", existing: ["/run/user/1000"]) == "/run/user/1000/meltap")
    }

    @Test func tmpLast() {
        #expect(Self.resolve(nil, existing: []) == "/tmp/meltap-1000")
        #expect(Self.resolve("/gone", existing: ["/run/user/0"]) == "/tmp/meltap-1000")
    }

    @Test func fileNames() {
        #expect(SocketDirectory.fileName(client: "meltap") == "meltap.sock")
        #expect(SocketDirectory.fileName(client: "box", stream: "kws") == "box.kws.sock")
    }
}
