import ArgumentParser
import MelPipeline

@main
struct Meltap: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "meltap",
        abstract: "Compute mel spectrogram frames live from JACK, or offline from audio files.",
        version: "meltap \(meltapVersion) (git commit \(meltapCommit))",
        subcommands: [FileCommand.self, MergeManifestsCommand.self, RunCommand.self, RecordCommand.self, ViewCommand.self, StatusCommand.self, InvertCommand.self])
}
