// A small subscriber: prints one line per frame from a running `meltap run`.
// Usage: swift-subscriber [SOCKET] [CHANNEL ...]
//   swift run swift-subscriber /run/user/1000/meltap/meltap.sock 0
// Without SOCKET: meltap.sock in the default socket directory (MeltapSubscriber.defaultSocketPath).
import Foundation
import MeltapClient

var arguments = CommandLine.arguments.dropFirst()
if arguments.first == "-h" || arguments.first == "--help" {
    print("Usage: swift-subscriber [SOCKET] [CHANNEL ...]\n"
          + "SOCKET is the path `meltap run` prints when it starts (default: \(MeltapSubscriber.defaultSocketPath()));\n"
          + "CHANNELs are 0-based (default: all).")
    exit(0)
}
let socketPath = arguments.first.map { Int($0) == nil } == true ? arguments.removeFirst() : MeltapSubscriber.defaultSocketPath()
let channels = arguments.compactMap { Int($0) }

do {
    let subscriber = try MeltapSubscriber(socketPath: socketPath, channels: channels.isEmpty ? nil : channels)
    func describe(_ header: StreamHeader) -> String {
        "\(header.sampleRate) Hz, \(header.bandCount) bands, \(header.frameRate) frames/s, "
            + "channels \(header.channels.map(\.name)), live clamp rule \(header.clampRule)"
    }
    print("header: " + describe(subscriber.header))
    while let event = try subscriber.nextEvent() {
        switch event {
        case .header(let header):
            print("header: " + describe(header))
        case .frame(let frame):
            let m = frame.metadata
            let head = frame.values.prefix(4).map { String(format: "%.3f", $0) }.joined(separator: " ")
            print("channel \(m.channel) seq \(m.sequence) time \(m.frameTime) flags \(m.flags.rawValue): \(head) …")
        case .stats(let stats):
            print("stats: frames \(stats.frames) drops \(stats.drops) xruns \(stats.xruns) "
                  + "subscriber drops \(stats.subscriberDrops)")
        }
    }
    print("stream ended")
} catch {
    print("swift-subscriber: \(error)")
    exit(1)
}
