import ArgumentParser
import MelPipeline

struct MergeManifestsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-manifests",
        abstract: "Join the manifests of a sharded dataset run into the manifest one unsharded run writes.",
        discussion: """
            Each shard of meltap file DIR -o OUTDIR --shard K/N writes its own manifest (by default \
            OUTDIR/manifest.shard-K-of-N.jsonl), whose first line names the shard. This command checks that the \
            manifests belong together (the same N, each K from 1 to N once, the same input files and settings, no \
            file listed twice), says what is missing otherwise and writes nothing, and else writes the manifest one \
            unsharded run with --manifest writes, byte for byte and in the same order. The output is written to a \
            temporary file and renamed into place.

            Example:
              meltap merge-manifests feats/manifest.shard-*.jsonl -o feats/manifest.jsonl
            """)

    @Argument(help: ArgumentHelp("The shard manifests, one per shard.", valueName: "shard.jsonl"))
    var manifests: [String] = []

    @Option(name: [.short, .long], help: ArgumentHelp("Where to write the merged manifest (replaced if it exists).", valueName: "manifest.jsonl"))
    var output: String

    func run() throws {
        do {
            print(try ManifestMerge.merge(manifests, into: output).report)
        } catch let error as PipelineError {
            throw CleanExit.failure(error.description)
        }
    }
}
