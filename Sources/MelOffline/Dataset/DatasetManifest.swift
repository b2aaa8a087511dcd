// Dataset mode, step 3: the manifest, one JSON line per feature file, for training loaders.

import Foundation
import Glibc
import MelFiles
import MelSystem

/// A short, stable fingerprint of a resolved configuration: FNV-1a (64 bits) of its JSON with
/// sorted keys, as 16 hex digits. Equal configurations give equal hashes, whether freshly
/// resolved or read back from a sidecar (numbers are held as `Double` either way).
public enum ConfigurationHash {
    public static func of(_ configuration: JSONValue) -> String {
        fingerprint((try? manifestEncoder().encode(configuration)) ?? Data())
    }
}

/// One line of a manifest: `{"configHash":"…","frames":998,"input":"data/a/b.wav","path":"feats/a/b.npy","seconds":10}`.
/// A shard's manifest adds `item`, the line's position in the whole run's sorted input list, so
/// that `ManifestMerge` can restore the order of an unsharded run.
struct ManifestLine: Codable, Equatable {
    var path: String, input: String, frames: Int, seconds: Double, configHash: String
    var item: Int?
}

/// The first line of a shard's manifest (`meltap file … --shard K/N`):
/// `{"shard":{"count":4,"index":2,"inputs":"…","items":12,"settings":"…"}}`.
///
/// `items` counts the whole run's inputs, `inputs` is the `ConfigurationHash`-style fingerprint
/// of their sorted relative paths, and `settings` that of the analysis options: shards that saw
/// another corpus, or ran with other flags, do not merge.
struct ShardHeader: Codable, Equatable {
    var index: Int, count: Int, items: Int, inputs: String, settings: String
}

private struct ShardHeaderLine: Codable { var shard: ShardHeader }

/// The manifest encoder: sorted keys, slashes as they are. Both the writer and the merge use it,
/// so a merged line is byte for byte the line an unsharded run writes.
private func manifestEncoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return encoder
}

/// FNV-1a (64 bits) of `bytes` as 16 hex digits: the configuration hash, and the fingerprint of a
/// shard's inputs and settings.
func fingerprint<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325        // FNV-1a 64 offset basis
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3         // FNV-1a 64 prime
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

/// Writes `--manifest OUT.jsonl`: one line per file with complete outputs (analysed or skipped),
/// in the order of the sorted input list, so that two runs over the same files write the same
/// manifest whatever the order files finish in.
///
/// Lines go to a hidden temporary file beside the manifest; `finish()` moves it into place,
/// replacing an earlier manifest. Memory: a line that finishes before the lines ahead of it waits
/// in `ManifestOrder` until they are written (at most the files finished while the slowest
/// file in flight ran). Not thread-safe: the runner calls it under its lock.
final class ManifestWriter {
    let path: String
    private let temporary: CreatedFile
    private var descriptor: Int32
    private let encoder = manifestEncoder()
    private let flag: String

    /// - Parameters:
    ///   - header: a shard's first line, or nil for an unsharded run.
    ///   - flag: the option that named `path`, for messages.
    init(path: String, header: ShardHeader? = nil, flag: String = "--manifest") throws {
        self.path = path
        self.flag = flag
        var info = stat()
        if lstat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG {
            throw PipelineError("Cannot write the manifest \(path): something other than a regular file is there "
                                + "(a directory or a link). Choose another path for \(flag).")
        }
        do {
            (descriptor, temporary) = try AtomicFile.createTemporary(beside: path)
        } catch {
            throw PipelineError("Cannot create the manifest \(path): \(errnoText(error.code)). "
                                + "Check that its directory exists and that you may write to it.")
        }
        if let header { try write(encoder.encode(ShardHeaderLine(shard: header))) }
    }

    deinit {
        if descriptor >= 0 {
            close(descriptor)
            temporary.remove()
        }
    }

    func append(_ line: ManifestLine) throws {
        try write(encoder.encode(line))
    }

    /// fsyncs and renames the manifest into place (`AtomicFile.finish`, `AtomicFile.install`).
    func finish() throws {
        let descriptor = self.descriptor
        self.descriptor = -1
        do {
            try AtomicFile.finish(descriptor, temporary, writing: UnsafeRawBufferPointer(start: nil, count: 0), sync: true)
        } catch {
            throw failure(error)
        }
        do {
            try AtomicFile.install(temporary, at: path, replacing: true, sync: false)
        } catch {
            throw PipelineError("Cannot move the manifest into place at \(path): \(errnoText(error.code)). "
                                + "Check that you may write there, or choose another path for \(flag).")
        }
    }

    /// Writes `json` and a newline.
    private func write(_ json: Data) throws {
        var bytes = [UInt8](json)
        bytes.append(0x0A)
        let outcome = bytes.withUnsafeBytes { writeAll(descriptor, $0) }
        if !outcome.succeeded { throw failure(SystemCallError("write", outcome.errorCode)) }
    }

    private func failure(_ error: SystemCallError) -> PipelineError {
        PipelineError("Writing the manifest \(path) failed (\(error)). "
                      + "Free disk space or choose another path for \(flag), then run again.")
    }
}

/// Puts manifest lines in the order of the run's item list when items finish in another order.
///
/// Each item is reported once, with its line or nil (failed, not started); a line is due when
/// every item before it has been reported. Not thread-safe: used under the runner's lock.
struct ManifestOrder {
    private var next = 0
    private var waiting: [Int: ManifestLine?] = [:]

    /// Records item `index` (0-based in the runner's list); returns the lines now due, in order.
    mutating func finished(_ index: Int, _ line: ManifestLine?) -> [ManifestLine] {
        waiting[index] = .some(line)
        var due: [ManifestLine] = []
        while let entry = waiting.removeValue(forKey: next) {
            if let entry { due.append(entry) }
            next += 1
        }
        return due
    }

    /// The lines still waiting behind an item that was never reported (a run stopped by a
    /// signal), in order.
    mutating func rest() -> [ManifestLine] {
        defer { waiting = [:] }
        return waiting.keys.sorted().compactMap { waiting[$0] ?? nil }
    }
}
