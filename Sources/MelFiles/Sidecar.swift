// Sidecar JSON files: the metadata that describes a feature file, written beside it.

import Foundation

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
    /// (a temporary file `.NAME.tmp-<pid>` in the same directory, fsynced, then renamed).
    ///
    /// - Throws: `FeatureFileError` if encoding fails or the file cannot be written; no partial file is left.
    public static func write<T: Encodable>(_ value: T, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do {
            data = try encoder.encode(value)
        } catch {
            throw FeatureFileError(message: "Cannot encode the sidecar \(path) as JSON: \(error). This is a bug in meltap; please report it.")
        }
        var bytes = [UInt8](data)
        bytes.append(0x0A)
        try writeFileAtomically(bytes, to: path)
    }

    /// Writes `bytes` to `path` through a temporary file in the same directory and rename(2).
    static func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = NpyWriter.temporaryPath(for: path)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FeatureFileError.cannotCreate(path: path, code: errno) }
        var failure: Int32 = 0
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += n
            }
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        close(fd)
        if failure == 0 && rename(temporary, path) != 0 { failure = errno }
        if failure != 0 {
            unlink(temporary)
            throw FeatureFileError.writeFailed(path: path, code: failure, rowsSaved: nil, atomic: true)
        }
        syncDirectory(of: path)
    }
}
