// Dataset mode across machines: which share of the sorted input list one process analyses.

/// Shard K of N of a dataset run (`meltap file DIR -o OUT --shard K/N`).
///
/// The split is round-robin over the sorted input list (`DatasetInputs.discover`, by relative
/// path): item i (0-based) belongs to shard `i mod N + 1`. So K is 1-based, like "task 2 of 4",
/// and every process that sees the same corpus takes a disjoint share, with no coordination.
/// Round-robin rather than contiguous blocks because corpora are often sorted by speaker or
/// source, and long files cluster: each shard then gets a similar mix, and shards finish at
/// about the same time.
public struct DatasetShard: Sendable, Equatable, CustomStringConvertible {
    /// K, from 1 to `count`.
    public let index: Int
    /// N, 1 or more.
    public let count: Int

    /// - Throws: `PipelineError` unless `1 <= index <= count`.
    public init(index: Int, count: Int) throws {
        guard count >= 1 else {
            throw PipelineError("--shard \(index)/\(count): N must be 1 or more. Please give --shard K/N, e.g. --shard 1/4 for the first of 4 shards.")
        }
        guard (1...count).contains(index) else {
            throw PipelineError("--shard \(index)/\(count): K must be between 1 and N. K counts from 1 (--shard 1/\(count) is the first shard); "
                                + "for a 0-based index such as Kubernetes' JOB_COMPLETION_INDEX, use --shard auto/N.")
        }
        self.index = index
        self.count = count
    }

    /// "K/N".
    public var description: String { "\(index)/\(count)" }

    /// Whether the item at `position` (0-based) of the sorted list of all items is this shard's.
    public func contains(position: Int) -> Bool { position % count == index - 1 }

    /// This shard's items with their positions in the whole sorted list, in that order.
    public func select<Item>(_ items: [Item]) -> [(position: Int, item: Item)] {
        stride(from: index - 1, to: items.count, by: count).map { ($0, items[$0]) }
    }

    /// The default name of this shard's manifest inside the output directory:
    /// `manifest.shard-K-of-N.jsonl`.
    public var manifestName: String { "manifest.shard-\(index)-of-\(count).jsonl" }
}

/// Where a shard came from, for the line on standard error.
public struct ResolvedShard: Sendable, Equatable {
    public var shard: DatasetShard
    /// E.g. "--shard 2/4" or "SLURM_ARRAY_TASK_ID=5, SLURM_ARRAY_TASK_MIN=4, SLURM_ARRAY_TASK_COUNT=4".
    public var source: String

    public init(shard: DatasetShard, source: String) {
        self.shard = shard
        self.source = source
    }
}

extension DatasetShard {
    /// The shard a `--shard` value names: `K/N`, `auto` (a Slurm job array's task), or `auto/N`
    /// (a Slurm task, or a Kubernetes Indexed Job's pod, of N).
    ///
    /// `auto` reads, in this order:
    /// - Slurm: `SLURM_ARRAY_TASK_ID` and `SLURM_ARRAY_TASK_COUNT`; K = (ID − MIN) / STEP + 1 with
    ///   `SLURM_ARRAY_TASK_MIN` (0 if unset) and `SLURM_ARRAY_TASK_STEP` (1 if unset), so
    ///   `--array=0-3`, `--array=1-4` and `--array=0-30:10` all give K = 1…4.
    /// - Kubernetes: `JOB_COMPLETION_INDEX` (0-based), K = index + 1. Kubernetes does not tell a
    ///   pod the number of completions, so N must be given: `auto/N`.
    ///
    /// - Throws: `PipelineError` saying what is malformed or missing and what to give instead.
    public static func resolve(_ value: String, environment: [String: String]) throws -> ResolvedShard {
        let parts = value.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), parts.count == 2 || parts[0] == "auto" else {
            throw PipelineError("--shard \(value): please give K/N (e.g. --shard 2/4, K from 1 to N), auto (from a Slurm job array), or auto/N (from a Slurm job array or a Kubernetes Indexed Job of N).")
        }
        var total: Int?
        if parts.count == 2 {
            guard let count = Int(parts[1]) else {
                throw PipelineError("--shard \(value): N must be a whole number; please give --shard K/N, e.g. --shard 2/4.")
            }
            total = count
        }
        if parts[0] != "auto" {
            guard let index = Int(parts[0]), let total else {
                throw PipelineError("--shard \(value): K must be a whole number or auto; please give --shard K/N, e.g. --shard 2/4.")
            }
            return ResolvedShard(shard: try DatasetShard(index: index, count: total), source: "--shard \(value)")
        }
        if let total, total < 1 {
            throw PipelineError("--shard \(value): N must be 1 or more.")
        }
        if let id = environment["SLURM_ARRAY_TASK_ID"] {
            return try slurm(id: id, environment: environment, total: total)
        }
        if let index = environment["JOB_COMPLETION_INDEX"] {
            guard let zeroBased = Int(index) else {
                throw PipelineError("--shard auto: JOB_COMPLETION_INDEX is '\(index)', not a whole number.")
            }
            guard let total else {
                throw PipelineError("--shard auto: JOB_COMPLETION_INDEX=\(index) (a Kubernetes Indexed Job) gives this pod's index but not the number of pods: "
                                    + "please give it as --shard auto/N, N being the Job's completions.")
            }
            guard (0..<total).contains(zeroBased) else {
                throw PipelineError("--shard auto/\(total): JOB_COMPLETION_INDEX=\(index) is not below \(total). Please give N equal to the Job's completions.")
            }
            return ResolvedShard(shard: try DatasetShard(index: zeroBased + 1, count: total),
                                 source: "JOB_COMPLETION_INDEX=\(index) (0-based) and N=\(total) from --shard auto/\(total)")
        }
        throw PipelineError("--shard \(value): found neither SLURM_ARRAY_TASK_ID (a Slurm job array) nor JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) in the environment. "
                            + "Please give the shard as --shard K/N, e.g. --shard 2/4.")
    }

    private static func slurm(id: String, environment: [String: String], total: Int?) throws -> ResolvedShard {
        func number(_ name: String, default fallback: Int? = nil) throws -> Int {
            guard let text = environment[name] else {
                if let fallback { return fallback }
                throw PipelineError("--shard auto: SLURM_ARRAY_TASK_ID is set but \(name) is not. Please give the shard as --shard K/N.")
            }
            guard let value = Int(text) else {
                throw PipelineError("--shard auto: \(name) is '\(text)', not a whole number. Please give the shard as --shard K/N.")
            }
            return value
        }
        let task = try number("SLURM_ARRAY_TASK_ID"), minimum = try number("SLURM_ARRAY_TASK_MIN", default: 0)
        let step = max(1, try number("SLURM_ARRAY_TASK_STEP", default: 1))
        let count = try number("SLURM_ARRAY_TASK_COUNT", default: total)
        var source = "SLURM_ARRAY_TASK_ID=\(task)"
        if environment["SLURM_ARRAY_TASK_MIN"] != nil { source += ", SLURM_ARRAY_TASK_MIN=\(minimum)" }
        if step != 1 { source += ", SLURM_ARRAY_TASK_STEP=\(step)" }
        source += environment["SLURM_ARRAY_TASK_COUNT"] != nil ? ", SLURM_ARRAY_TASK_COUNT=\(count)" : " and N=\(count) from --shard auto/\(count)"
        if let total, total != count {
            throw PipelineError("--shard auto/\(total): the Slurm job array has \(count) tasks (SLURM_ARRAY_TASK_COUNT), not \(total). "
                                + "Please give --shard auto to take the count from Slurm, or make the two agree.")
        }
        let offset = task - minimum
        guard offset >= 0, offset % step == 0, offset / step < count else {
            throw PipelineError("--shard auto: Slurm task \(task) is not one of \(count) evenly spaced tasks from \(minimum) (\(source)). "
                                + "Please submit the array as --array=0-\(count - 1) (or 1-\(count)), or give --shard K/N yourself.")
        }
        return ResolvedShard(shard: try DatasetShard(index: offset / step + 1, count: count), source: source)
    }
}
