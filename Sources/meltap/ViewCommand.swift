import ArgumentParser

struct ViewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "view", abstract: "Not yet.")
    func run() throws {}
}
