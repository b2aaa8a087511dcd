import ArgumentParser

struct FileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "file", abstract: "Not yet.")
    func run() throws {}
}
