import Foundation
import Testing

/// `meltap file DIR -o OUT --shard K/N` and `meltap merge-manifests`, end to end with the built
/// binary: N shards run at once (N processes) write exactly the files, bytes and manifest of one
/// unsharded run.
@Suite(.serialized) struct DatasetShardTests {
    typealias CLI = FileCommandTests

    /// 12 files in nested folders, sorted by relative path as dataset mode sorts them. The first
    /// is the longest, so with several jobs it finishes last: a manifest written in the order
    /// files finish would not list it first.
    static let layout = [
        "a/b/long.wav", "a/b/s1.wav", "a/c.flac", "a/d.wav", "b/e.wav", "b/f/g.wav",
        "b/f/h.wav", "c.wav", "d/i.wav", "d/j.flac", "e.wav", "f/g/h/k.wav",
    ]

    /// Writes the corpus under `dir/corpus`.
    static func corpus(in dir: URL) throws -> URL {
        let corpus = dir.appendingPathComponent("corpus")
        for (i, relative) in layout.enumerated() {
            try DatasetModeTests.writeNoise(corpus.appendingPathComponent(relative).path, seconds: i == 0 ? 4 : 0.3 + 0.05 * Double(i),
                                            seed: UInt64(100 + i), format: relative.hasSuffix(".flac") ? .flac16 : .wavPCM16)
        }
        return corpus
    }

    /// Every regular file below `dir` with its bytes, by relative path, leaving out manifests.
    static func outputs(under dir: URL) throws -> [String: Data] {
        var found: [String: Data] = [:]
        for relative in DatasetModeTests.files(under: dir) where !relative.hasPrefix("manifest") {
            found[relative] = try Data(contentsOf: dir.appendingPathComponent(relative))
        }
        return found
    }

    /// Starts `meltap ARGUMENTS` with its output going to files; `wait` gives status and stderr.
    static func start(_ arguments: [String], in dir: URL, environment: [String: String] = [:]) throws -> () -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.meltap)
        process.arguments = arguments
        process.currentDirectoryURL = dir
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SLURM_") && $0.key != "JOB_COMPLETION_INDEX" }
            .merging(environment) { $1 }
        let errPath = dir.appendingPathComponent("stderr-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: errPath.path, contents: nil)
        let err = try FileHandle(forWritingTo: errPath)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        return {
            process.waitUntilExit()
            try? err.close()
            let text = (try? String(contentsOf: errPath, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(at: errPath)
            return (process.terminationStatus, text)
        }
    }

    /// Runs `meltap ARGUMENTS` in `dir` to the end.
    static func meltap(_ arguments: [String], in dir: URL, environment: [String: String] = [:]) throws -> (status: Int32, stderr: String) {
        try start(arguments, in: dir, environment: environment)()
    }

    static let options = ["--preset", "whisper", "--no-progress"]

    @Test func fourShardsAtOnceEqualOneUnshardedRun() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try Self.corpus(in: dir)

        // One unsharded run into "out", moved aside to "full": the shards then write the same
        // paths (the manifest names OUT/…), so every byte can be compared as it is.
        let whole = try Self.meltap(["file", "corpus", "-o", "out", "--jobs", "3", "--manifest", "out/manifest.jsonl"] + Self.options, in: dir)
        #expect(whole.status == 0, "unsharded run failed: \(whole.stderr)")
        try FileManager.default.moveItem(at: dir.appendingPathComponent("out"), to: dir.appendingPathComponent("full"))

        let waits = try (1...4).map { k in
            try Self.start(["file", "corpus", "-o", "out", "--jobs", "2", "--shard", "\(k)/4"] + Self.options, in: dir)
        }
        for (k, wait) in zip(1..., waits) {
            let (status, stderr) = wait()
            #expect(status == 0, "shard \(k)/4 failed: \(stderr)")
            #expect(stderr.contains("meltap: shard \(k)/4 (from --shard \(k)/4): 3 of 12 files."), "shard \(k): \(stderr)")
        }
        let full = try Self.outputs(under: dir.appendingPathComponent("full"))
        let sharded = try Self.outputs(under: dir.appendingPathComponent("out"))
        #expect(full.count == 24, "12 .npy and 12 .json: \(full.keys.sorted())")
        #expect(sharded.keys.sorted() == full.keys.sorted(), "the shards' union has the unsharded run's files")
        for (name, bytes) in full.sorted(by: { $0.key < $1.key }) {
            #expect(sharded[name] == bytes, "\(name) differs between the sharded and the unsharded run")
        }

        // Each shard lists its own share, round-robin over the sorted inputs.
        var listed: [String] = []
        for k in 1...4 {
            let text = try String(contentsOf: dir.appendingPathComponent("out/manifest.shard-\(k)-of-4.jsonl"), encoding: .utf8)
            let lines = text.split(separator: "\n")
            #expect(lines.first?.hasPrefix("{\"shard\":{\"count\":4,\"index\":\(k),") == true, "header: \(lines.first ?? "")")
            let inputs = try lines.dropFirst().map { line in
                (try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any])["input"] as! String
            }
            let expected = Self.layout.enumerated().filter { $0.offset % 4 == k - 1 }.map { "corpus/" + $0.element }
            #expect(inputs == expected, "shard \(k)/4 lists its items in order")
            listed += inputs
        }
        #expect(listed.sorted() == Self.layout.map { "corpus/" + $0 }, "every input in exactly one shard")

        let merge = try Self.meltap(["merge-manifests"] + (1...4).reversed().map { "out/manifest.shard-\($0)-of-4.jsonl" }
                                    + ["-o", "out/manifest.jsonl"], in: dir)
        #expect(merge.status == 0, "merge failed: \(merge.stderr)")
        let merged = try Data(contentsOf: dir.appendingPathComponent("out/manifest.jsonl"))
        let unsharded = try Data(contentsOf: dir.appendingPathComponent("full/manifest.jsonl"))
        #expect(merged == unsharded, "merged:\n\(String(decoding: merged, as: UTF8.self))\nunsharded:\n\(String(decoding: unsharded, as: UTF8.self))")
        // The unsharded manifest follows the sorted inputs, whatever order the files finished in.
        let order = String(decoding: unsharded, as: UTF8.self).split(separator: "\n").map { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["input"] as? String ?? ""
        }
        #expect(order == Self.layout.map { "corpus/" + $0 })
    }

    @Test func theShardComesFromSlurmOrKubernetes() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try Self.corpus(in: dir)
        func analysed(_ out: String) -> [String] {
            DatasetModeTests.files(under: dir.appendingPathComponent(out)).filter { $0.hasSuffix(".npy") }
        }
        func share(_ k: Int, of n: Int) -> [String] {
            Self.layout.enumerated().filter { $0.offset % n == k - 1 }
                .map { ($0.element as NSString).deletingPathExtension + ".npy" }.sorted()
        }

        // A Slurm array submitted as --array=5-7: task 6 is the second of three.
        let slurm = try Self.meltap(["file", "corpus", "-o", "slurm", "--shard", "auto"] + Self.options, in: dir, environment: [
            "SLURM_ARRAY_TASK_ID": "6", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_MAX": "7", "SLURM_ARRAY_TASK_COUNT": "3"])
        #expect(slurm.status == 0, "\(slurm.stderr)")
        #expect(slurm.stderr.contains("shard 2/3 (from SLURM_ARRAY_TASK_ID=6, SLURM_ARRAY_TASK_MIN=5, SLURM_ARRAY_TASK_COUNT=3): 4 of 12 files."), "\(slurm.stderr)")
        #expect(analysed("slurm") == share(2, of: 3))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("slurm/manifest.shard-2-of-3.jsonl").path))

        // With a step (--array=0-30:10): task 20 is the third of four.
        let stepped = try Self.meltap(["file", "corpus", "-o", "stepped", "--shard", "auto/4"] + Self.options, in: dir, environment: [
            "SLURM_ARRAY_TASK_ID": "20", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_STEP": "10", "SLURM_ARRAY_TASK_COUNT": "4"])
        #expect(stepped.status == 0 && stepped.stderr.contains("shard 3/4 (from SLURM_ARRAY_TASK_ID=20"), "\(stepped.stderr)")
        #expect(analysed("stepped") == share(3, of: 4))

        // A Kubernetes Indexed Job of 4 completions: index 3 (0-based) is shard 4/4.
        let kubernetes = try Self.meltap(["file", "corpus", "-o", "k8s", "--shard", "auto/4"] + Self.options, in: dir,
                                         environment: ["JOB_COMPLETION_INDEX": "3"])
        #expect(kubernetes.status == 0 && kubernetes.stderr.contains("shard 4/4 (from JOB_COMPLETION_INDEX=3 (0-based)"), "\(kubernetes.stderr)")
        #expect(analysed("k8s") == share(4, of: 4))

        // Inside an array without --shard: every file, and a note saying how to shard.
        let unsharded = try Self.meltap(["file", "corpus", "-o", "all"] + Self.options, in: dir,
                                        environment: ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "4"])
        #expect(unsharded.status == 0 && unsharded.stderr.contains("Add --shard auto"), "\(unsharded.stderr)")
        #expect(analysed("all").count == 12)
    }

    @Test(arguments: [
        (["--shard", "5/4"], [:], "--shard 5/4: K must be between 1 and N"),
        (["--shard", "0/4"], [:], "--shard 0/4: K must be between 1 and N. K counts from 1"),
        (["--shard", "1/0"], [:], "--shard 1/0: N must be 1 or more"),
        (["--shard", "two/4"], [:], "K must be a whole number or auto"),
        (["--shard", "2"], [:], "please give K/N"),
        (["--shard", "auto"], [:], "found neither SLURM_ARRAY_TASK_ID"),
        (["--shard", "auto"], ["JOB_COMPLETION_INDEX": "1"], "please give it as --shard auto/N"),
        (["--shard", "auto/4"], ["JOB_COMPLETION_INDEX": "4"], "JOB_COMPLETION_INDEX=4 is not below 4"),
        (["--shard", "auto/4"], ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "3"], "the Slurm job array has 3 tasks"),
        (["--shard", "auto"], ["SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"], "is not one of 4 evenly spaced tasks"),
    ] as [([String], [String: String], String)])
    func aBadShardIsRefusedBeforeAnyFileIsWritten(flags: [String], environment: [String: String], message: String) throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try Self.corpus(in: dir)
        let run = try Self.meltap(["file", "corpus", "-o", "out"] + flags + Self.options, in: dir, environment: environment)
        #expect(run.status != 0)
        #expect(run.stderr.contains(message), "expected '\(message)' in: \(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("out").path), "nothing written")
    }

    @Test func moreShardsThanFilesLeaveEmptyShardsThatStillMerge() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try Self.corpus(in: dir)
        let whole = try Self.meltap(["file", "corpus", "-o", "out", "--manifest", "whole.jsonl"] + Self.options, in: dir)
        #expect(whole.status == 0, "\(whole.stderr)")
        for k in 1...14 {
            let run = try Self.meltap(["file", "corpus", "-o", "out", "--shard", "\(k)/14"] + Self.options, in: dir)
            #expect(run.status == 0 && run.stderr.contains("shard \(k)/14 (from --shard \(k)/14): \(k <= 12 ? 1 : 0) of 12 files."), "\(run.stderr)")
        }
        let empty = try String(contentsOf: dir.appendingPathComponent("out/manifest.shard-14-of-14.jsonl"), encoding: .utf8)
        #expect(empty.split(separator: "\n").count == 1 && empty.hasPrefix("{\"shard\":"), "only the header: \(empty)")
        let merge = try Self.meltap(["merge-manifests"] + (1...14).map { "out/manifest.shard-\($0)-of-14.jsonl" } + ["-o", "merged.jsonl"], in: dir)
        #expect(merge.status == 0, "\(merge.stderr)")
        #expect(try Data(contentsOf: dir.appendingPathComponent("merged.jsonl")) == Data(contentsOf: dir.appendingPathComponent("whole.jsonl")))
    }

    /// A shard removes the abandoned temporaries of its own outputs only: another shard's may be
    /// a live process on another machine, whose pid means nothing here.
    @Test func aShardRemovesOnlyItsOwnAbandonedTemporaries() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try Self.corpus(in: dir)
        let folder = dir.appendingPathComponent("out/a/b")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // No process has pid 999999999 (above any pid_max): both look abandoned.
        let own = folder.appendingPathComponent(".long.npy.tmp-999999999-1a2b")      // a/b/long.wav: item 0, shard 1/4
        let other = folder.appendingPathComponent(".s1.npy.tmp-999999999-3c4d")      // a/b/s1.wav: item 1, shard 2/4
        for file in [own, other] { try Data("partial".utf8).write(to: file) }
        let run = try Self.meltap(["file", "corpus", "-o", "out", "--shard", "1/4"] + Self.options, in: dir)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: own.path), "shard 1's own temporary is removed")
        #expect(FileManager.default.fileExists(atPath: other.path), "shard 2's temporary is left alone")
    }

    @Test func shardNeedsDatasetMode() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try Self.corpus(in: dir)
        let run = try Self.meltap(["file", "corpus/c.wav", "-o", "c.npy", "--shard", "1/2"], in: dir)
        #expect(run.status != 0 && run.stderr.contains("Please use --shard with several inputs or a directory"), "\(run.stderr)")
    }

    @Test func mergeRefusesShardsThatDoNotBelongTogether() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try Self.corpus(in: dir)
        for k in 1...4 {
            let run = try Self.meltap(["file", "corpus", "-o", "out", "--shard", "\(k)/4"] + Self.options, in: dir)
            #expect(run.status == 0, "\(run.stderr)")
        }
        let other = try Self.meltap(["file", "corpus", "-o", "kaldi", "--shard", "2/4", "--preset", "kaldi", "--no-progress"], in: dir)
        #expect(other.status == 0, "\(other.stderr)")
        let three = try Self.meltap(["file", "corpus", "-o", "three", "--shard", "2/3"] + Self.options, in: dir)
        #expect(three.status == 0, "\(three.stderr)")
        let plain = try Self.meltap(["file", "corpus", "-o", "plain", "--manifest", "plain/manifest.jsonl"] + Self.options, in: dir)
        #expect(plain.status == 0, "\(plain.stderr)")

        let shard = { (k: Int) in "out/manifest.shard-\(k)-of-4.jsonl" }
        let cases: [([String], String)] = [
            ([shard(1), shard(2), shard(4)], "Shard 3/4 is missing (3 of 4 given). Please run meltap file with --shard 3/4"),
            ([shard(1)], "Shards 2/4, 3/4, 4/4 are missing"),
            ([shard(1), shard(2), shard(3), shard(4), shard(2)], "Shard 2/4 is given twice"),
            ([shard(1), "kaldi/manifest.shard-2-of-4.jsonl", shard(3), shard(4)], "was made with other analysis settings"),
            ([shard(1), "three/manifest.shard-2-of-3.jsonl"], "the shards of one run have the same N"),
            (["plain/manifest.jsonl"], "is not a shard manifest"),
            ([shard(1), "out/nowhere.jsonl"], "Cannot read the shard manifest out/nowhere.jsonl"),
        ]
        for (inputs, message) in cases {
            let run = try Self.meltap(["merge-manifests"] + inputs + ["-o", "merged.jsonl"], in: dir)
            #expect(run.status != 0 && run.stderr.contains(message), "\(inputs): expected '\(message)' in: \(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("merged.jsonl").path), "\(inputs): nothing written")
        }

        // A shard's manifest whose corpus changed: one more file before shard 4 ran.
        try DatasetModeTests.writeNoise(dir.appendingPathComponent("corpus/g.wav").path, seconds: 0.3, seed: 999)
        let late = try Self.meltap(["file", "corpus", "-o", "late", "--shard", "4/4"] + Self.options, in: dir)
        #expect(late.status == 0, "\(late.stderr)")
        let changed = try Self.meltap(["merge-manifests", shard(1), shard(2), shard(3), "late/manifest.shard-4-of-4.jsonl",
                                       "-o", "merged.jsonl"], in: dir)
        #expect(changed.status != 0 && changed.stderr.contains("saw other input files than"), "\(changed.stderr)")

        // A line moved into another shard's manifest.
        var lines = try String(contentsOfFile: dir.appendingPathComponent(shard(2)).path, encoding: .utf8).split(separator: "\n")
        lines.append(try String(contentsOfFile: dir.appendingPathComponent(shard(1)).path, encoding: .utf8).split(separator: "\n")[1])
        try (lines.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("moved.jsonl"), atomically: true, encoding: .utf8)
        let moved = try Self.meltap(["merge-manifests", shard(1), "moved.jsonl", shard(3), shard(4), "-o", "merged.jsonl"], in: dir)
        #expect(moved.status != 0 && moved.stderr.contains("which belongs to shard 1/4, not 2/4"), "\(moved.stderr)")
    }
}
