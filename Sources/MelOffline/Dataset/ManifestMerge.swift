// Dataset mode across machines: joining the shards' manifests into the one an unsharded run writes.

import Foundation

/// `meltap merge-manifests SHARD.jsonl… -o MANIFEST.jsonl`: joins the manifests of the N shards
/// of one run (`meltap file … --shard K/N`) into the manifest one unsharded run writes, byte for
/// byte and in the same order (the sorted input list).
///
/// Checks before anything is written: every file is a shard manifest (its header line), all have
/// the same N, inputs and settings, each K from 1 to N comes once, and each line's item belongs
/// to its shard and appears once. The output is written atomically (a temporary file renamed).
public enum ManifestMerge {
    /// What a merge wrote, for the summary line.
    public struct Result: Sendable, Equatable {
        /// N.
        public var shards: Int
        /// The inputs of the whole run.
        public var items: Int
        /// Lines written: inputs with complete features.
        public var lines: Int

        public var report: String {
            var text = "Merged \(shards) shard\(shards == 1 ? "" : "s") of \(items) input file\(items == 1 ? "" : "s"): \(lines) line\(lines == 1 ? "" : "s")."
            if lines < items {
                text += " \(items - lines) input\(items - lines == 1 ? " has" : "s have") no line: files that failed in their shard "
                    + "(its summary names them); run that shard's command again, then merge again."
            }
            return text
        }
    }

    /// Reads, checks and joins `paths` into `output`.
    /// - Throws: `PipelineError` saying which file is wrong and how; nothing is written then.
    @discardableResult
    public static func merge(_ paths: [String], into output: String) throws -> Result {
        guard !paths.isEmpty else {
            throw PipelineError("Please give the shard manifests to merge, e.g. meltap merge-manifests OUT/manifest.shard-*.jsonl -o OUT/manifest.jsonl.")
        }
        let shards = try paths.map(read)
        let first = shards[0]
        var byIndex: [Int: String] = [:]
        for shard in shards {
            let header = shard.header
            if header.count != first.header.count {
                throw PipelineError("\(shard.path) is shard \(header.index)/\(header.count) but \(first.path) is shard \(first.header.index)/\(first.header.count): "
                                    + "the shards of one run have the same N. Please merge the manifests of one run only.")
            }
            if header.items != first.header.items || header.inputs != first.header.inputs {
                throw PipelineError("\(shard.path) saw other input files than \(first.path) (\(header.items) against \(first.header.items) files, or other relative paths): "
                                    + "the corpus changed between shards, or they were given other inputs. Please run every shard with the same inputs.")
            }
            if header.settings != first.header.settings {
                throw PipelineError("\(shard.path) was made with other analysis settings than \(first.path): "
                                    + "please run every shard with the same flags (preset, feature options, channels, layout) and the same meltap version.")
            }
            if let other = byIndex[header.index] {
                throw PipelineError("Shard \(header.index)/\(header.count) is given twice: \(other) and \(shard.path). Please give each shard's manifest once.")
            }
            byIndex[header.index] = shard.path
        }
        let count = first.header.count
        let missing = (1...count).filter { byIndex[$0] == nil }
        if !missing.isEmpty {
            let names = missing.map { "\($0)/\(count)" }.joined(separator: ", ")
            throw PipelineError("Shard\(missing.count == 1 ? "" : "s") \(names) \(missing.count == 1 ? "is" : "are") missing "
                                + "(\(shards.count) of \(count) given). Please run meltap file with --shard \(missing[0])/\(count) "
                                + "(the same inputs, -o and flags as the others) for each missing shard, then merge all \(count) manifests. Nothing was written.")
        }
        var lines: [(item: Int, line: ManifestLine)] = []
        var seen: [Int: String] = [:]
        for shard in shards {
            for (number, line) in shard.lines {
                guard let item = line.item, (0..<first.header.items).contains(item) else {
                    throw PipelineError("Line \(number) of \(shard.path) has no item position below \(first.header.items). The file is damaged: please run its shard again.")
                }
                guard item % count == shard.header.index - 1 else {
                    throw PipelineError("Line \(number) of \(shard.path) lists item \(item), which belongs to shard \(item % count + 1)/\(count), not \(shard.header.index)/\(count). The file is damaged: please run its shard again.")
                }
                if let other = seen[item] {
                    throw PipelineError("Item \(item) (\(line.input)) is listed twice: in \(other) and line \(number) of \(shard.path). Please run its shard again.")
                }
                seen[item] = "line \(number) of \(shard.path)"
                var plain = line
                plain.item = nil
                lines.append((item, plain))
            }
        }
        lines.sort { $0.item < $1.item }
        let writer = try ManifestWriter(path: output, flag: "-o")
        for entry in lines { try writer.append(entry.line) }
        try writer.finish()
        return Result(shards: count, items: first.header.items, lines: lines.count)
    }

    private struct ShardFile {
        var path: String
        var header: ShardHeader
        /// (line number from 1, line).
        var lines: [(Int, ManifestLine)]
    }

    private static func read(_ path: String) throws -> ShardFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PipelineError("Cannot read the shard manifest \(path): it does not exist or may not be read. Check the path.")
        }
        let text = String(decoding: data, as: UTF8.self)
        let rows = text.split(separator: "\n", omittingEmptySubsequences: true)
        let decoder = JSONDecoder()
        struct HeaderLine: Decodable { var shard: ShardHeader }
        guard let top = rows.first, let header = try? decoder.decode(HeaderLine.self, from: Data(top.utf8)).shard else {
            throw PipelineError("\(path) is not a shard manifest: its first line is not a {\"shard\":…} header. "
                                + "Shard manifests are written by meltap file … --shard K/N; a manifest of an unsharded run needs no merge.")
        }
        var lines: [(Int, ManifestLine)] = []
        for (offset, row) in rows.enumerated().dropFirst() {
            guard let line = try? decoder.decode(ManifestLine.self, from: Data(row.utf8)) else {
                throw PipelineError("Line \(offset + 1) of \(path) is not a manifest line. The file is damaged: please run its shard again.")
            }
            lines.append((offset + 1, line))
        }
        return ShardFile(path: path, header: header, lines: lines)
    }
}
