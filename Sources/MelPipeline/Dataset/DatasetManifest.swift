// Dataset mode, step 3: the manifest, one JSON line per feature file, for training loaders.

import Foundation
import Glibc
import MelFiles

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
    private let temporaryPath: String
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
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        temporaryPath = (directory.isEmpty ? "" : directory + "/")
            + ".\(name).tmp-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw PipelineError("Cannot create the manifest \(path): \(String(cString: strerror(errno))). "
                                + "Check that its directory exists and that you may write to it.")
        }
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    deinit {
        if descriptor >= 0 {
            close(descriptor)
            unlink(temporaryPath)
        }
    }

    func append(path featurePath: String, input: String, frames: Int, seconds: Double, configuration: JSONValue) throws {
        let line = Line(path: featurePath, input: input, frames: frames, seconds: seconds,
                        configHash: ConfigurationHash.of(configuration))
        var bytes = [UInt8](try encoder.encode(line))
        bytes.append(0x0A)
        try write(bytes)
    }

    /// fsyncs and renames the manifest into place.
    func finish() throws {
        if fsync(descriptor) != 0 { throw failure("fsync") }
        close(descriptor)
        descriptor = -1
        if rename(temporaryPath, path) != 0 {
            let code = errno
            unlink(temporaryPath)
            throw PipelineError("Cannot move the manifest into place at \(path): \(String(cString: strerror(code))). "
                                + "The features are complete; run again with a writable --manifest path to list them.")
        }
    }

    private func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw failure("write")
                }
                offset += n
            }
        }
    }

    private func failure(_ call: String) -> PipelineError {
        PipelineError("Writing the manifest \(path) failed (\(call): \(String(cString: strerror(errno)))). "
                      + "Free disk space or choose another --manifest path, then run again: complete features are skipped.")
    }
}
