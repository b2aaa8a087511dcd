// Dataset mode, step 1: which audio files to analyse and where each one's features go.

import CSndFile
import Foundation
import Glibc
import MelFiles

/// One audio file of a dataset run and the two outputs it gets.
///
/// Paths mirror the input tree: `a/b.wav` under an input directory becomes
/// `OUTDIR/a/b.npy` and `OUTDIR/a/b.json`.
public struct DatasetItem: Sendable, Equatable {
    /// The audio file, as found (the input argument joined with the path below it).
    public let input: String
    /// The input's path relative to its root (the directory given, or the file argument itself),
    /// e.g. `a/b.wav`. Used in messages, the summary and the manifest.
    public let relativePath: String
    /// `OUTDIR/a/b.npy`.
    public let featurePath: String
    /// `OUTDIR/a/b.json`, the sidecar.
    public let sidecarPath: String
    /// The input's size in bytes when discovered: the weight of this file in the ETA.
    public let inputBytes: Int64

    public init(input: String, relativePath: String, featurePath: String, sidecarPath: String, inputBytes: Int64) {
        self.input = input
        self.relativePath = relativePath
        self.featurePath = featurePath
        self.sidecarPath = sidecarPath
        self.inputBytes = inputBytes
    }
}

/// Finding the audio files of a dataset run (`meltap file INPUT… -o OUTDIR`).
public enum DatasetInputs {
    /// Whether `inputs` call for dataset mode: more than one input, or one that is a directory.
    public static func isDataset(_ inputs: [String]) -> Bool {
        inputs.count > 1 || inputs.first.map(isDirectory) == true
    }

    /// Lower-case file name extensions of the formats this libsndfile reads (`SFC_GET_FORMAT_MAJOR`),
    /// plus the usual other spellings of the same containers (`wave`, `aiff`, `opus`, `oga`, and
    /// `mp3`/`mp2`/`mpga` for libsndfile's MPEG audio, listed as `m1a`).
    public static let audioExtensions: Set<String> = {
        var extensions: Set<String> = []
        var count: Int32 = 0
        _ = sf_command(nil, Int32(SFC_GET_FORMAT_MAJOR_COUNT), &count, Int32(MemoryLayout<Int32>.size))
        for index in 0..<count {
            var entry = SF_FORMAT_INFO()
            entry.format = index
            _ = sf_command(nil, Int32(SFC_GET_FORMAT_MAJOR), &entry, Int32(MemoryLayout<SF_FORMAT_INFO>.size))
            if let ext = entry.extension { extensions.insert(String(cString: ext).lowercased()) }
            // libsndfile names MPEG audio by its rare extension m1a; `meltap file` reads .mp3 (and
            // .mp2) through the same decoder.
            if entry.format == Int32(SF_FORMAT_MPEG) { extensions.formUnion(["mp3", "mp2", "mpga"]) }
        }
        extensions.formUnion(["wav", "wave", "aif", "aiff", "aifc"])
        if extensions.contains("oga") || extensions.contains("ogg") { extensions.formUnion(["ogg", "oga", "opus"]) }
        return extensions
    }()

    /// The items of a run, sorted by relative path.
    ///
    /// A directory is searched recursively for files whose extension libsndfile reads
    /// (`audioExtensions`); hidden files and folders (name starting with `.`) and anything under
    /// `outputDirectory` are left out. A file given by name is always taken: its relative path is
    /// the argument itself when that is relative and stays below the current directory
    /// (`a/b.wav`), else its name (`/data/b.wav` → `b.wav`).
    ///
    /// - Throws: `PipelineError` when an input does not exist, or two inputs would write the same
    ///   output (`a/b.wav` and `a/b.flac`): nothing has been written then.
    public static func discover(_ inputs: [String], outputDirectory: String) throws -> [DatasetItem] {
        let outputRoot = URL(fileURLWithPath: outputDirectory).standardizedFileURL.path
        var found: [(input: String, relative: String, bytes: Int64)] = []
        for argument in inputs {
            var info = stat()
            guard stat(argument, &info) == 0 else {
                throw PipelineError("Cannot find the input \(argument): \(String(cString: strerror(errno))). "
                                    + "Check the path; no file was analysed.")
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                found += try audioFiles(under: argument, skipping: outputRoot)
            } else {
                found.append((argument, relativeName(of: argument), Int64(info.st_size)))
            }
        }
        var items: [DatasetItem] = []
        var owner: [String: String] = [:]   // feature path -> the input that claimed it
        for file in found {
            let stem = (file.relative as NSString).deletingPathExtension
            let featurePath = outputDirectory.hasSuffix("/") ? outputDirectory + stem + ".npy" : outputDirectory + "/" + stem + ".npy"
            if let other = owner[featurePath] {
                if other == file.input { continue }  // the same file given twice
                throw PipelineError("\(other) and \(file.input) would both be written to \(featurePath). Rename or "
                                    + "move one of them, or analyse them into separate output directories.")
            }
            owner[featurePath] = file.input
            items.append(DatasetItem(input: file.input, relativePath: file.relative, featurePath: featurePath,
                                     sidecarPath: Sidecar.path(forFeatureFile: featurePath),
                                     inputBytes: file.bytes))
        }
        return items.sorted { $0.relativePath < $1.relativePath }
    }

    /// Audio files below `root`, with paths relative to it.
    private static func audioFiles(under root: String, skipping outputRoot: String) throws -> [(String, String, Int64)] {
        let rootURL = URL(fileURLWithPath: root)
        guard let walker = FileManager.default.enumerator(
            at: rootURL, includingPropertiesForKeys: [.isRegularFileKey, .fileSizeKey],
            options: [.skipsHiddenFiles]) else {
            throw PipelineError("Cannot list the directory \(root). Check that you may read it.")
        }
        let rootPath = rootURL.standardizedFileURL.path
        var files: [(String, String, Int64)] = []
        for case let url as URL in walker {
            let path = url.standardizedFileURL.path
            if path == outputRoot {
                walker.skipDescendants()
                continue
            }
            guard audioExtensions.contains(url.pathExtension.lowercased()) else { continue }
            let values = try? url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey])
            guard values?.isRegularFile == true else { continue }
            guard path.hasPrefix(rootPath) else { continue }
            var relative = String(path.dropFirst(rootPath.count))
            while relative.hasPrefix("/") { relative.removeFirst() }
            let input = root.hasSuffix("/") ? root + relative : root + "/" + relative
            files.append((input, relative, Int64(values?.fileSize ?? 0)))
        }
        return files
    }

    /// `a/b.wav` for `a/b.wav` or `./a/b.wav`; the last component for absolute paths or ones with `..`.
    static func relativeName(of argument: String) -> String {
        let components = argument.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        if argument.hasPrefix("/") || components.contains("..") || components.isEmpty {
            return (argument as NSString).lastPathComponent
        }
        return components.joined(separator: "/")
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }
}
