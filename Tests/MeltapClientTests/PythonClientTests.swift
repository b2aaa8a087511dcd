// The Python example subscriber (Examples/meltap_subscriber.py) against a real publisher.
import Foundation
import MelServer
import MelTransport
import MeltapClient
import Testing
import MeltapTestSupport

@Suite struct PythonSubscriber {
    @Test func pythonSubscriberReceivesThePublishedFrames() throws {
        let python = try pythonExecutable()
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/py.sock"
        let bandCount = 12, framesPerChannel = 40
        let publisher = FramePublisher(socketPath: path, queueBound: 10_000)
        defer { publisher.stop() }
        try publisher.start(header: testHeader(channelCount: 3, bandCount: bandCount))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [packageRoot.appendingPathComponent("Examples/meltap_subscriber.py").path, path, "1", "3"]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        // The script subscribes to channels 0 and 2 right after connecting.
        #expect(eventually(every: 0.002) { publisher.subscribeMessageCount == 1 || !process.isRunning },
                "python subscriber did not connect")
        for sequence in 0..<UInt64(framesPerChannel) {
            for channel: UInt32 in 0..<3 {
                publisher.publish(metadata: syntheticMetadata(channel: channel, sequence: sequence),
                                  values: syntheticValues(channel: channel, sequence: sequence, bandCount: bandCount))
            }
        }
        // stop() delivers what is queued, then closes: the script sees end of stream and exits.
        publisher.stop()
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "python failed: \(String(decoding: stderr, as: UTF8.self))")

        // "CHANNEL SEQUENCE TIME FLAGS VALUE…", channels numbered from 1.
        let frames = String(decoding: stdout, as: UTF8.self).split(separator: "\n").map { line in
            let fields = line.split(separator: " ")
            let metadata = FrameMetadata(sequence: UInt64(fields[1])!, channel: UInt32(fields[0])! - 1,
                                         frameTime: Int64(fields[2])!,
                                         flags: FrameFlags(rawValue: UInt32(fields[3])!))
            return ReceivedFrame(metadata: metadata, values: fields.dropFirst(4).map { Float(Double($0)!) })
        }
        expectComplete(frames, channels: [0, 2], framesPerChannel: framesPerChannel, bandCount: bandCount,
                       "python subscriber")
    }

    @Test func recordAndPlotSavesTheRequestedSeconds() throws {
        let python = try pythonExecutable()
        let directory = makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let path = directory + "/rec.sock", out = directory + "/rec.npy"
        let bandCount = 10
        let publisher = FramePublisher(socketPath: path, queueBound: 10_000)
        defer { publisher.stop() }
        // Frame rate 100 Hz: 0.2 s is 20 frames.
        try publisher.start(header: testHeader(channelCount: 2, bandCount: bandCount))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [packageRoot.appendingPathComponent("Examples/record_and_plot.py").path, path,
                             "--seconds", "0.2", "--channel", "2", "--out", out]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        #expect(eventually(every: 0.002) { publisher.subscribeMessageCount == 1 || !process.isRunning })
        for sequence in 0..<UInt64(50) {
            for channel: UInt32 in 0..<2 {
                publisher.publish(metadata: syntheticMetadata(channel: channel, sequence: sequence),
                                  values: syntheticValues(channel: channel, sequence: sequence, bandCount: bandCount))
            }
        }
        let stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(stdout.contains("saved 20 frames x 10 bands to \(out)"), "observed: \(stdout)")
        // .npy v1: 128-byte header for this shape, then 20 × 10 float32.
        let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? nil
        #expect(size == 128 + 20 * bandCount * 4)
    }
}
