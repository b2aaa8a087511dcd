// Sidecar JSON files: the metadata that describes a feature file, written beside it.

import Foundation
import MelSystem

/// Writes the JSON sidecar that describes a feature file: `X.npy` is described by `X.json`.
public enum Sidecar {
    /// The sidecar path for a feature file: `.npy` replaced by `.json` (`.json` appended otherwise).
    ///
    /// `"out/take1.npy"` → `"out/take1.json"`; `"out/take1"` → `"out/take1.json"`.
    public static func path(forFeatureFile featurePath: String) -> String {
        if featurePath.hasSuffix(".npy") {
            return String(featurePath.dropLast(4)) + ".json"
        }
        return featurePath + ".json"
    }

    /// Encodes `value` as pretty-printed JSON with sorted keys and writes it atomically to `path`
    /// (a new temporary file `.NAME.tmp-<pid>-<random>` in the same directory, fsynced, then moved).
    ///
    /// - Parameter existing: whether a regular file at `path` may be replaced (a writer rewriting
    ///   its own sidecar passes `.replace`). A link at `path` is replaced by `.replace`, never followed.
    /// - Throws: `FeatureFileError` if encoding fails or the file cannot be written; no partial file is left.
    public static func write<T: Encodable>(_ value: T, to path: String, existing: ExistingOutput = .refuse) throws {
        var bytes = try encode(value, for: path)
        bytes.append(0x0A)
        try writeFileAtomically(bytes, to: path, existing: existing)
    }

    /// `value` as the sidecar's JSON text (pretty-printed, sorted keys, slashes unescaped), without
    /// the final newline. `path` is for the error message.
    static func encode<T: Encodable>(_ value: T, for path: String) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            return [UInt8](try encoder.encode(value))
        } catch {
            throw FeatureFileError(message: "Cannot encode the sidecar \(path) as JSON: \(error). This is a bug in meltap; please report it.")
        }
    }

    /// Writes `bytes` to `path` through a temporary file in the same directory, fsync(2) and
    /// rename(2) (`AtomicFile`).
    static func writeFileAtomically(_ bytes: [UInt8], to path: String, existing: ExistingOutput) throws {
        if existing == .refuse { try OutputPath.check(path, existing: .refuse) }
        let (fd, temporary) = try OutputPath.createTemporary(beside: path)
        let failure: SystemCallError? = bytes.withUnsafeBytes { raw in
            do throws(SystemCallError) {
                try AtomicFile.finish(fd, temporary, writing: raw, sync: Durability.syncsEachFile)
                return nil
            } catch {
                return error
            }
        }
        if let failure {
            throw FeatureFileError.writeFailed(path: path, code: failure.code, rowsSaved: nil, atomic: true)
        }
        try OutputPath.install(temporary, at: path, existing: existing)
    }
}
