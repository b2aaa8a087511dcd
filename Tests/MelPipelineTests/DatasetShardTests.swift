import MelPipeline
import Testing

/// `DatasetShard`: the round-robin split and where K and N come from (flag, Slurm, Kubernetes).
@Suite struct DatasetShardTests {
    @Test(arguments: [1, 2, 3, 5, 7, 12, 13])
    func everyItemIsInExactlyOneShardInOrder(count: Int) throws {
        let items = Array(0..<31)
        var seen: [Int] = []
        for index in 1...count {
            let shard = try DatasetShard(index: index, count: count)
            let share = shard.select(items)
            #expect(share.map(\.position) == share.map(\.item), "positions are those in the whole list")
            #expect(share.allSatisfy { $0.position % count == index - 1 && shard.contains(position: $0.position) })
            #expect(share.map(\.position) == share.map(\.position).sorted())
            // Round-robin: shard sizes differ by at most one, the first shards taking the rest.
            #expect(share.count == items.count / count + (index - 1 < items.count % count ? 1 : 0))
            seen += share.map(\.item)
        }
        #expect(seen.sorted() == items)
    }

    @Test func nameAndText() throws {
        let shard = try DatasetShard(index: 2, count: 4)
        #expect(shard.description == "2/4")
        #expect(shard.manifestName == "manifest.shard-2-of-4.jsonl")
        #expect(try DatasetShard.resolve("2/4", environment: [:]) == ResolvedShard(shard: shard, source: "--shard 2/4"))
    }

    @Test(arguments: [
        ("auto", ["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4"], 1, 4),
        ("auto", ["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "4"], 4, 4),
        ("auto", ["SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "3", "SLURM_ARRAY_TASK_STEP": "2", "SLURM_ARRAY_TASK_COUNT": "3"], 3, 3),
        ("auto/5", ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "0"], 3, 5),
        ("auto/5", ["JOB_COMPLETION_INDEX": "0"], 1, 5),
        ("auto/5", ["JOB_COMPLETION_INDEX": "4"], 5, 5),
        // Slurm wins when both are set (a Slurm job started inside a pod).
        ("auto/2", ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2", "JOB_COMPLETION_INDEX": "0"], 2, 2),
        // The flag ignores the environment.
        ("3/8", ["SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2"], 3, 8),
    ] as [(String, [String: String], Int, Int)])
    func fromTheEnvironment(value: String, environment: [String: String], index: Int, count: Int) throws {
        let resolved = try DatasetShard.resolve(value, environment: environment)
        #expect(resolved.shard == (try DatasetShard(index: index, count: count)), "\(value) \(environment): \(resolved)")
    }

    @Test(arguments: [
        ("5/4", [:], "--shard 5/4: K must be between 1 and N"),
        ("0/1", [:], "K must be between 1 and N"),
        ("-1/3", [:], "K must be between 1 and N"),
        ("1/-2", [:], "N must be 1 or more"),
        ("1/x", [:], "N must be a whole number"),
        ("1/2/3", [:], "please give K/N"),
        ("auto/0", ["JOB_COMPLETION_INDEX": "0"], "N must be 1 or more"),
        ("auto", ["SLURM_ARRAY_TASK_ID": "1"], "SLURM_ARRAY_TASK_COUNT is not"),
        ("auto", ["SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"], "SLURM_ARRAY_TASK_ID is 'x'"),
        ("auto", ["SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "3", "SLURM_ARRAY_TASK_COUNT": "2"], "is not one of 2 evenly spaced"),
        ("auto", ["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_STEP": "3", "SLURM_ARRAY_TASK_COUNT": "2"], "is not one of 2 evenly spaced"),
        ("auto/3", ["JOB_COMPLETION_INDEX": "-1"], "is not below 3"),
        ("auto/3", ["JOB_COMPLETION_INDEX": "one"], "not a whole number"),
    ] as [(String, [String: String], String)])
    func badValuesSayWhatToGive(value: String, environment: [String: String], message: String) {
        #expect {
            try DatasetShard.resolve(value, environment: environment)
        } throws: { error in
            "\(error)".contains(message) && "\(error)".contains("--shard")
        }
    }
}
