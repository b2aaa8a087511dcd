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
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes = (try? encoder.encode(configuration)) ?? Data()
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325        // FNV-1a 64 offset basis
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3         // FNV-1a 64 prime
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// Writes `--manifest OUT.jsonl`: one line per file with complete outputs (analysed or skipped),
/// in the order they finished:
/// `{"configHash":"…","frames":998,"input":"data/a/b.wav","path":"feats/a/b.npy","seconds":10}`.
///
/// Lines go to a hidden temporary file beside the manifest as they come (no result is kept in
/// memory); `finish()` moves it into place, replacing an earlier manifest. Not thread-safe: the
/// runner calls it under its lock.
final class ManifestWriter {
    let path: String
    private let temporary: CreatedFile
    private var descriptor: Int32
    private let encoder: JSONEncoder

    private struct Line: Encodable {
        var path: String, input: String, frames: Int, seconds: Double, configHash: String
    }

    init(path: String) throws {
        self.path = path
        var info = stat()
        if lstat(path, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG {
            throw PipelineError("Cannot write the manifest \(path): something other than a regular file is there "
                                + "(a directory or a link). Choose another path for --manifest.")
        }
        do {
            (descriptor, temporary) = try AtomicFile.createTemporary(beside: path)
        } catch {
            throw PipelineError("Cannot create the manifest \(path): \(errnoText(error.code)). "
                                + "Check that its directory exists and that you may write to it.")
        }
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    deinit {
        if descriptor >= 0 {
            close(descriptor)
            temporary.remove()
        }
    }

    func append(path featurePath: String, input: String, frames: Int, seconds: Double, configuration: JSONValue) throws {
        let line = Line(path: featurePath, input: input, frames: frames, seconds: seconds,
                        configHash: ConfigurationHash.of(configuration))
        var bytes = [UInt8](try encoder.encode(line))
        bytes.append(0x0A)
        try write(bytes)
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
                                + "The features are complete; run again with a writable --manifest path to list them.")
        }
    }

    private func write(_ bytes: [UInt8]) throws {
        let outcome = bytes.withUnsafeBytes { writeAll(descriptor, $0) }
        if !outcome.succeeded { throw failure(SystemCallError("write", outcome.errorCode)) }
    }

    private func failure(_ error: SystemCallError) -> PipelineError {
        PipelineError("Writing the manifest \(path) failed (\(error)). "
                      + "Free disk space or choose another --manifest path, then run again: complete features are skipped.")
    }
}
