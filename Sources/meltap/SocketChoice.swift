import Foundation
import Glibc
import MelPipeline
import MelServer
import MelSystem

/// Which socket a reader of a running `meltap run` (`view`, `record`, `status`) takes when it is
/// given no `--socket`, in the default socket directory (`SocketDirectory`).
enum SocketChoice {
    /// The client name `meltap run` uses without `--name`.
    static let defaultClient = "meltap"

    /// Every socket file in `directory` (`CLIENT.sock` and the stream sockets
    /// `CLIENT.NAME.sock`), sorted by name; empty when the directory is missing.
    static func sockets(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".sock") && !$0.hasPrefix(".") }.sorted().map { directory + "/" + $0 }
    }

    /// The socket to subscribe to: `socket` when given; else `meltap.sock` in the default
    /// directory; else, as `meltap status` looks, the first socket there, preferring the default
    /// client's stream sockets (`meltap.NAME.sock`). When the choice was not given, one line on
    /// standard error says which socket was taken and what else is there.
    /// - Throws: `CleanExit.failure` naming the directory when it holds no socket.
    static func subscriberSocket(_ socket: String?, command: String) throws -> String {
        if let socket { return socket }
        let directory = FramePublisher.defaultSocketDirectory
        let preferred = directory + "/" + SocketDirectory.fileName(client: defaultClient)
        let found = sockets(in: directory)
        let ownStreams = found.filter { $0.hasPrefix(directory + "/" + defaultClient + ".") }
        guard let chosen = found.contains(preferred) ? preferred : (ownStreams.first ?? found.first) else {
            throw CleanExit.failure("no meltap socket in \(directory) (the default socket directory: "
                                    + "\(SocketDirectory.rule)): no instance is running there. Start one with `meltap run`, "
                                    + "or give --socket with the path it printed.")
        }
        let others = found.filter { $0 != chosen }
        let rest = others.isEmpty ? "" : " (also there: " + others.map { ($0 as NSString).lastPathComponent }
            .joined(separator: ", ") + "; choose one with --socket)"
        printError("meltap \(command): using \(chosen)\(rest)")
        return chosen
    }
}
