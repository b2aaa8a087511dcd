// Dataset mode, step 2: analyse many files on several threads, resumably, and sum up.

import Foundation
import Glibc
import MelFiles
import Synchronization
import MelSystem

/// What the analysis of one file produced (or what a complete earlier output holds).
public struct DatasetOutcome: Sendable {
    /// Rows (frames) in the `.npy`.
    public var rows: Int
    /// Seconds of audio read: the input's sample frames over its own rate.
    public var audioSeconds: Double
    /// The resolved configuration written into the sidecar (hashed for the manifest).
    public var configuration: JSONValue

    public init(rows: Int, audioSeconds: Double, configuration: JSONValue) {
        self.rows = rows
        self.audioSeconds = audioSeconds
        self.configuration = configuration
    }

    /// From a sidecar that a finished analysis wrote; nil when it lacks the row count.
    init?(sidecar: FeatureSidecar) {
        guard sidecar.kind == .file, let rows = sidecar.rows else { return nil }
        let frames = Double(sidecar.file?.sampleFrames ?? 0)
        self.init(rows: rows, audioSeconds: frames / sidecar.inputSampleRate, configuration: sidecar.configuration)
    }
}

/// How a dataset run behaves.
public struct DatasetOptions: Sendable {
    /// Files analysed at once, one thread each (`--jobs`, at least 1).
    public var jobs: Int
    /// Analyse every file again, replacing complete outputs too (`--force`).
    public var force: Bool
    /// Where to write the JSON-lines manifest (`--manifest`), or nil for none.
    public var manifestPath: String?
    /// Draw the progress line on standard error (only when it is a terminal).
    public var showProgress: Bool
    /// Analyse only this share of the items (`--shard K/N`); its manifest starts with the shard's
    /// header line and gives each line's item position, for `ManifestMerge`.
    public var shard: DatasetShard?

    public init(jobs: Int, force: Bool = false, manifestPath: String? = nil, showProgress: Bool = true,
                shard: DatasetShard? = nil) {
        self.jobs = max(1, jobs)
        self.force = force
        self.manifestPath = manifestPath
        self.showProgress = showProgress
        self.shard = shard
    }
}

/// The end of a dataset run: counts, audio, time, and every failure with its reason.
public struct DatasetSummary: Sendable {
    public struct Failure: Sendable, Equatable {
        /// The input's path relative to its root (`a/b.wav`).
        public var relativePath: String
        /// What went wrong and what to do, as the analysis reported it.
        public var reason: String
        /// The outputs are complete but were made with other settings: running the same command
        /// again fails again; `--force` (or another output directory) is the way on.
        public var madeWithOtherSettings = false
    }

    public var outputDirectory: String
    public var total = 0
    /// Files analysed in this run.
    public var analysed = 0
    /// Files whose outputs were complete and newer than the input, left as they were.
    public var skipped = 0
    /// Files not started because a stop signal (SIGINT, SIGTERM) arrived.
    public var notStarted = 0
    public var failures: [Failure] = []
    /// Seconds of audio analysed in this run (skipped files not included).
    public var audioSeconds = 0.0
    /// Wall-clock seconds from the start of the run to its end.
    public var wallSeconds = 0.0
    public var jobs = 1
    /// Unfinished temporary files of an earlier, killed run that this run removed.
    public var removedTemporaries = 0
    /// The manifest written, if any.
    public var manifestPath: String?

    /// Whether every file has complete outputs now.
    public var succeeded: Bool { failures.isEmpty && notStarted == 0 }

    /// The summary for standard output, e.g. "300 files into feats/ in 12.3 s with 2 jobs: 298
    /// analysed (0.828 h of audio, 0.0672 h/s, 242× real time), 1 skipped, 1 failed."
    public var report: String {
        let hours = audioSeconds / 3600
        var parts = ["\(analysed) analysed"]
        if analysed > 0 {
            parts[0] += " (\(String(format: "%.3f", hours)) h of audio, "
                + "\(String(format: "%.4f", hours / max(wallSeconds, 1e-9))) h/s, "
                + "\(String(format: "%.0f", audioSeconds / max(wallSeconds, 1e-9)))× real time)"
        }
        if skipped > 0 { parts.append("\(skipped) skipped (complete and newer than the input)") }
        if !failures.isEmpty { parts.append("\(failures.count) failed") }
        if notStarted > 0 { parts.append("\(notStarted) not started (stopped by a signal)") }
        var text = "\(total) file\(total == 1 ? "" : "s") into \(outputDirectory) in \(String(format: "%.1f", wallSeconds)) s "
            + "with \(jobs) job\(jobs == 1 ? "" : "s"): " + parts.joined(separator: ", ") + "."
        if removedTemporaries > 0 {
            text += " Removed \(removedTemporaries) unfinished temporary file\(removedTemporaries == 1 ? "" : "s") of an interrupted run."
        }
        if let manifestPath { text += " Manifest: \(manifestPath)." }
        return text
    }

    /// The failures for standard error: "meltap: 2 of 300 files failed:" then one indented line
    /// per file with its reason; empty when none failed.
    public var failureLines: [String] {
        guard !failures.isEmpty else { return [] }
        return ["meltap: \(failures.count) of \(total) file\(total == 1 ? "" : "s") failed:"]
            + failures.map { "  \($0.relativePath): \($0.reason)" }
    }

    /// Why the run did not succeed and what to do, or nil when it did.
    public var failureMessage: String? {
        guard !succeeded else { return nil }
        let failed = failures.count
        let what = failures.isEmpty
            ? "the run was stopped before every file was analysed"
            : "\(failed) file\(failed == 1 ? "" : "s") failed (reasons above)"
        let otherSettings = failures.filter(\.madeWithOtherSettings).count
        let whose = otherSettings == failed
            ? (failed == 1 ? "Its outputs were" : "Their outputs were")
            : "\(otherSettings) of them \(otherSettings == 1 ? "has" : "have") outputs"
        let remedy = otherSettings == 0
            ? "Run the same command again to continue: complete outputs are skipped."
            : "\(whose) made with other settings, which running the same command again does not change: "
                + "add --force to replace them, or choose another output directory with -o."
        return "\(what). \(remedy)"
    }
}

/// Runs the analysis of a dataset's files on `options.jobs` threads, each file through one shared
/// `FileAnalyzer`.
///
/// - Skips a file whose `.npy` and `.json` are both there, regular files, no older than the
///   input, and whose sidecar records a finished analysis, unless `force`. Such an output made
///   with other settings (`FileAnalysisOptions.difference(from:)` says how they differ) is a
///   failure, not a silent mix.
/// - Analyses every other file, replacing what is there; the `.npy` is written atomically, so a
///   killed run leaves only hidden temporary files, which the next run removes.
/// - A failing file is recorded with its reason; the others go on.
/// - Memory: the item list, the failures, and what `jobs` analyses in flight hold. Results are
///   streamed to the manifest in item order (`ManifestOrder`): only a line that finished ahead of
///   an earlier file waits, one short line each.
/// - With `options.shard`, only the shard's share of `items` is analysed (`DatasetShard`).
public final class DatasetRunner: Sendable {
    /// The items this run analyses: all of them, or the shard's share, sorted.
    public let items: [DatasetItem]
    /// Each item's position in the whole sorted list (`items.indices` without a shard).
    public let positions: [Int]
    /// The items of the whole run, every shard's.
    public let allItemCount: Int
    /// The shard's manifest header (nil without a shard).
    let shardHeader: ShardHeader?
    public let outputDirectory: String
    public let options: DatasetOptions
    /// Analyses every file (its options are the run's settings; no `saveAudioPath`).
    public let analyzer: FileAnalyzer

    /// - Parameter items: every item of the run, sorted (`DatasetInputs.discover`); with
    ///   `options.shard`, the runner takes the shard's share.
    public init(items: [DatasetItem], outputDirectory: String, options: DatasetOptions, analyzer: FileAnalyzer) {
        let share = options.shard?.select(items) ?? Array(items.enumerated().map { ($0.offset, $0.element) })
        self.items = share.map(\.1)
        self.positions = share.map(\.0)
        self.allItemCount = items.count
        self.shardHeader = options.shard.map { shard in
            ShardHeader(index: shard.index, count: shard.count, items: items.count,
                        inputs: fingerprint(items.map(\.relativePath).joined(separator: "\n").utf8),
                        settings: fingerprint(String(reflecting: analyzer.options).utf8))
        }
        self.outputDirectory = outputDirectory
        self.options = options
        self.analyzer = analyzer
    }

    /// Shared by the workers, under one lock (held only to take an item or record a result).
    fileprivate struct State {
        var next = 0
        var summary: DatasetSummary
        var bytesDone: Int64 = 0      // inputs finished in this run (analysed or failed)
        var bytesSkipped: Int64 = 0
        var manifest: ManifestWriter?
        var manifestOrder = ManifestOrder()
        var manifestError: String?
    }

    /// Runs every item and returns the summary. Installs the SIGINT/SIGTERM stop request: on a
    /// signal, files in progress are abandoned (nothing of them is left) and no new one starts.
    /// - Throws: `PipelineError` only before any file is analysed (`saveAudioPath` is set, the
    ///   output directory or the manifest cannot be created), or when the manifest cannot be finished.
    public func run() throws -> DatasetSummary {
        let started = monotonicNow()
        guard analyzer.options.saveAudioPath == nil else {
            throw PipelineError("Please save the analysed audio (saveAudioPath, --save-audio) of a single input file only: it names one WAV file.")
        }
        try DatasetRunner.makeDirectory(outputDirectory)
        var summary = DatasetSummary(outputDirectory: outputDirectory)
        summary.total = items.count
        summary.jobs = min(options.jobs, max(1, items.count))
        summary.manifestPath = options.manifestPath
        // A shard removes only its own outputs' temporaries: another shard's may belong to a live
        // process on another machine, whose pid means nothing here.
        summary.removedTemporaries = DatasetRunner.removeAbandonedTemporaries(
            under: outputDirectory, only: options.shard == nil ? nil : ownOutputs())
        let manifest = try options.manifestPath.map { try ManifestWriter(path: $0, header: shardHeader) }
        let state = Shared(State(summary: summary, manifest: manifest))
        StopSignal.install()
        // No fsync per output (`Durability`): on a busy disk each one waits for everyone's
        // writeback, which made a run of short files 2-3× slower. Renames stay atomic, so a killed
        // run leaves whole files only; a file a power cut left short fails the resume check
        // (`completeOutput`) and is analysed again.
        Durability.syncsEachFile = false
        defer { Durability.syncsEachFile = true }

        let progress = DatasetProgress(enabled: options.showProgress, totalFiles: items.count,
                                       totalBytes: items.reduce(0) { $0 + $1.inputBytes })
        let group = DispatchGroup()
        for _ in 0..<summary.jobs {
            group.enter()
            let thread = Thread { [self] in
                defer { group.leave() }
                worker(state)
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        while group.wait(timeout: .now() + 0.25) == .timedOut {
            let snapshot = state.lock.withLock { ($0.summary, $0.bytesDone, $0.bytesSkipped) }
            progress.draw(snapshot.0, bytesDone: snapshot.1, bytesSkipped: snapshot.2, elapsed: monotonicNow() - started)
        }
        progress.finish()

        var (result, writer, manifestError) = state.lock.withLock { state in
            for line in state.manifestOrder.rest() { state.write(line) }
            return (state.summary, state.manifest, state.manifestError)
        }
        if let manifestError { throw PipelineError(manifestError) }
        if let writer { try writer.finish() }
        writer = nil
        result.failures.sort { $0.relativePath < $1.relativePath }
        result.wallSeconds = monotonicNow() - started
        return result
    }

    /// One worker thread: takes items until none is left or a stop signal came.
    private func worker(_ shared: Shared) {
        while true {
            let index: Int? = shared.lock.withLock { state in
                guard state.next < items.count else { return nil }
                if StopSignal.requested {
                    state.summary.notStarted += items.count - state.next
                    state.next = items.count
                    return nil
                }
                defer { state.next += 1 }
                return state.next
            }
            guard let index else { return }
            let item = items[index]
            let result = process(item)
            shared.lock.withLock { state in
                var line: ManifestLine?
                switch result {
                case .analysed(let outcome):
                    state.summary.analysed += 1
                    state.summary.audioSeconds += outcome.audioSeconds
                    state.bytesDone += item.inputBytes
                    line = manifestLine(index, outcome)
                case .skipped(let outcome):
                    state.summary.skipped += 1
                    state.bytesSkipped += item.inputBytes
                    line = manifestLine(index, outcome)
                case .failed(let reason, let otherSettings):
                    state.summary.failures.append(.init(relativePath: item.relativePath, reason: reason,
                                                        madeWithOtherSettings: otherSettings))
                    state.bytesDone += item.inputBytes
                case .cancelled:
                    state.summary.notStarted += 1
                }
                for due in state.manifestOrder.finished(index, line) { state.write(due) }
            }
        }
    }

    /// The outputs this run writes, relative to the output directory: `a/b.npy`, `a/b.json`, and
    /// the manifest's name.
    private func ownOutputs() -> Set<String> {
        var names: Set<String> = []
        for path in items.flatMap({ [$0.featurePath, $0.sidecarPath] }) {
            names.insert(String(path.dropFirst(outputDirectory.count).drop { $0 == "/" }))
        }
        if let manifestPath = options.manifestPath { names.insert(baseName(of: manifestPath)) }
        return names
    }

    /// The manifest line of `items[index]`; a shard's gives the item's position in the whole run.
    private func manifestLine(_ index: Int, _ outcome: DatasetOutcome) -> ManifestLine {
        ManifestLine(path: items[index].featurePath, input: items[index].input, frames: outcome.rows,
                     seconds: outcome.audioSeconds, configHash: ConfigurationHash.of(outcome.configuration),
                     item: shardHeader == nil ? nil : positions[index])
    }

    /// The state and its lock, as one object the worker threads share.
    fileprivate final class Shared: Sendable {
        let lock: Mutex<State>
        init(_ state: sending State) { lock = Mutex(state) }
    }

    private enum ItemResult {
        case analysed(DatasetOutcome), skipped(DatasetOutcome), failed(String, otherSettings: Bool = false), cancelled
    }

    private func process(_ item: DatasetItem) -> ItemResult {
        if !options.force, let existing = DatasetRunner.completeOutput(of: item) {
            if let difference = analyzer.options.difference(from: existing.sidecar) {
                return .failed("\(item.featurePath) is complete but was made with other settings (\(difference)). "
                               + "Pass --force to replace it, or choose another output directory.", otherSettings: true)
            }
            return .skipped(existing.outcome)
        }
        do {
            try DatasetRunner.makeDirectory((item.featurePath as NSString).deletingLastPathComponent)
            let result = try analyzer.analyse(item.input, into: item.featurePath, existing: .replace,
                                              isCancelled: { StopSignal.requested })
            return .analysed(DatasetOutcome(rows: result.frames, audioSeconds: result.audioSeconds,
                                            configuration: result.sidecar.configuration))
        } catch {
            if StopSignal.requested { return .cancelled }
            return .failed("\(error)")
        }
    }

    /// The outputs of `item` when they are complete and no older than the input: both files
    /// regular, modified at or after the input, the sidecar that of a finished analysis, and the
    /// `.npy` exactly as long as the shape the sidecar gives.
    static func completeOutput(of item: DatasetItem) -> (sidecar: FeatureSidecar, outcome: DatasetOutcome)? {
        var input = stat(), features = stat(), sidecarInfo = stat()
        guard stat(item.input, &input) == 0,
              lstat(item.featurePath, &features) == 0, (features.st_mode & S_IFMT) == S_IFREG,
              lstat(item.sidecarPath, &sidecarInfo) == 0, (sidecarInfo.st_mode & S_IFMT) == S_IFREG,
              !isOlder(features.st_mtim, than: input.st_mtim), !isOlder(sidecarInfo.st_mtim, than: input.st_mtim),
              let sidecar = try? FeatureSidecar.read(path: item.sidecarPath),
              let outcome = DatasetOutcome(sidecar: sidecar),
              // Every byte there: a power cut after the rename can leave a name with fewer.
              Int(features.st_size) == NpyWriter.headerSize(dimensionCount: sidecar.rowShape.count + 1)
                + outcome.rows * sidecar.rowShape.reduce(1, *) * 4
        else { return nil }
        return (sidecar, outcome)
    }

    private static func isOlder(_ a: timespec, than b: timespec) -> Bool {
        a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec)
    }

    /// `mkdir -p`. - Throws: `PipelineError` naming the path and the cause.
    static func makeDirectory(_ path: String) throws {
        guard !path.isEmpty else { return }
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw PipelineError("Cannot use \(path) as an output directory: it is a file. Choose a directory with -o.")
            }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch where stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
            return  // made meanwhile by another process (shards sharing the output directory)
        } catch {
            throw PipelineError("Cannot create the output directory \(path): \(error.localizedDescription). "
                                + "Check that you may write to its parent, or choose another directory with -o.")
        }
    }

    /// Removes the hidden temporary files (`.NAME.npy.tmp-<pid>-<random>`, `.NAME.json.tmp-…`)
    /// that meltap processes no longer running left under `directory`: what SIGKILL or a power
    /// cut leaves of an atomic write. A live process's files are left alone.
    /// - Parameter only: when given, only the temporaries of these outputs (paths relative to
    ///   `directory`) are considered.
    /// - Returns: how many were removed.
    static func removeAbandonedTemporaries(under directory: String, only: Set<String>? = nil) -> Int {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return 0 }
        var removed = 0
        for case let relative as String in walker {
            let name = (relative as NSString).lastPathComponent
            guard name.hasPrefix("."), let range = name.range(of: ".tmp-", options: .backwards) else { continue }
            let before = name[..<range.lowerBound]
            guard before.hasSuffix(".npy") || before.hasSuffix(".json") || before.hasSuffix(".jsonl") else { continue }
            if let only, !only.contains(((relative as NSString).deletingLastPathComponent as NSString).appendingPathComponent(String(before.dropFirst()))) {
                continue
            }
            let fields = name[range.upperBound...].split(separator: "-")
            guard fields.count == 2, let pid = Int32(fields[0]), pid > 0 else { continue }
            if kill(pid, 0) == 0 || errno != ESRCH { continue }  // running (or not ours to judge)
            if unlink(directory + "/" + relative) == 0 { removed += 1 }
        }
        return removed
    }
}

extension DatasetRunner.State {
    mutating func write(_ line: ManifestLine) {
        guard manifestError == nil, let writer = manifest else { return }
        do {
            try writer.append(line)
        } catch {
            manifestError = "\(error)"
        }
    }
}
