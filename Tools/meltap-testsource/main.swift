// meltap-testsource: a JACK client for tests and the demo. It plays a generated signal (or a raw
// float32 file) into output ports and/or records its input ports, and writes exactly what it
// sent or received, with the JACK frame time of every block, so a test can rebuild the samples a
// meltap port saw at each frame time and compare live frames with an offline analysis.
//
// Usage:
//   meltap-testsource [--name testsource] [--outputs N] [--inputs N]
//       [--signal sine|chirp|noise|file:PATH] [--seed S] [--frequency HZ] [--amplitude A]
//       [--connect REGEX]... [--wait-connected] [--settle SECONDS]
//       [--record PATH] [--record-seconds S] [--exit-when-recorded] [--duration S]
//
// --connect: outputs: out_k is connected to the k-th input port matching REGEX; inputs: the
//   k-th output port matching REGEX is connected to in_k.
// --wait-connected: play silence (and record nothing) until every port has a connection, then
//   wait --settle seconds (default 0.3) and start. Otherwise start at once.
// Output k plays: sine at frequency·(k+1); chirp 50 Hz → 0.45·sr over 2 s offset by k·0.25 s;
//   noise seeded seed+k; a file: the same samples on every output.
// After the record is full, outputs play silence.
//
// Record file (little-endian): "MTSR", u32 version 1, u32 channels (outputs then inputs),
//   u32 sample rate, u64 block count, u64 samples per channel;
//   blocks: i64 frame time, u64 first sample, u32 count, u32 0;
//   then channels × samples float32, channel-major.
import CJack
import Foundation
import Glibc
import MelRealtime

let options = SourceOptions.parse(Array(CommandLine.arguments.dropFirst()))
let name = options.name
let outputCount = options.outputCount
let inputCount = options.inputCount
let signalName = options.signalName
let seed = options.seed
let frequency = options.frequency
let amplitude = options.amplitude
let patterns = options.patterns
let waitConnected = options.waitConnected
let settle = options.settle
let recordPath = options.recordPath
let recordSeconds = options.recordSeconds
let exitWhenRecorded = options.exitWhenRecorded
let duration = options.duration

let kind: SignalKind
var fileData: [Float] = []
switch signalName {
case "sine": kind = .sine
case "chirp": kind = .chirp
case "noise": kind = .noise
case let s where s.hasPrefix("file:"):
    kind = .file
    guard let data = FileManager.default.contents(atPath: String(s.dropFirst(5))) else {
        fail("cannot read \(s.dropFirst(5))")
    }
    fileData = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
default: fail("--signal must be sine, chirp, noise or file:PATH")
}

setenv("JACK_NO_START_SERVER", "1", 1)
var status = jack_status_t(0)
guard let client = meltap_jack_client_open(name, JackNoStartServer, &status) else {
    fail("no JACK server is running (JACK_DEFAULT_SERVER=\(ProcessInfo.processInfo.environment["JACK_DEFAULT_SERVER"] ?? "default")); start one with `jackd -d dummy -r 48000 -p 256 &`")
}
let sampleRate = Double(jack_get_sample_rate(client))
// Samples per channel played and recorded: --record-seconds, else 10 s, but never less than a
// whole --signal file when --record-seconds is not given (a file plays to its end).
let recordCapacity = recordSeconds.map { Int($0 * sampleRate) } ?? max(Int(10 * sampleRate), fileData.count)
let recordChannels = outputCount + inputCount
let blockCapacity = recordCapacity / 16 + 16

/// `count` elements (at least one) set to `value`, every page touched before activation: the
/// engine's own helper (MelRealtime), so the source's callback follows the same rule as meltap's.
func allocate<T>(_ count: Int, _ value: T) -> UnsafeMutablePointer<T> {
    .prefaulted(count: max(1, count), repeating: value)
}
let outputs = allocate(outputCount, OpaquePointer?.none)
let inputs = allocate(inputCount, OpaquePointer?.none)
let audioType = meltap_jack_default_audio_type()
for k in 0..<outputCount {
    guard let port = jack_port_register(client, "out_\(k + 1)", audioType, UInt(JackPortIsOutput.rawValue), 0) else {
        fail("cannot register out_\(k + 1)")
    }
    outputs[k] = port
}
for k in 0..<inputCount {
    guard let port = jack_port_register(client, "in_\(k + 1)", audioType, UInt(JackPortIsInput.rawValue), 0) else {
        fail("cannot register in_\(k + 1)")
    }
    inputs[k] = port
}
let noise = allocate(outputCount, UInt64(0))
for k in 0..<outputCount { noise[k] = (seed &+ UInt64(k)) &* 0x9E37_79B9_7F4A_7C15 | 1 }
let fileSamples = allocate(fileData.count, Float(0))
for (i, v) in fileData.enumerated() { fileSamples[i] = v }
let flags = UnsafeMutablePointer<SourceFlags>.allocate(capacity: 1)
flags.initialize(to: SourceFlags())
let state = UnsafeMutablePointer<SourceState>.allocate(capacity: 1)
state.initialize(to: SourceState(
    client: client, outputs: outputs, outputCount: outputCount, inputs: inputs, inputCount: inputCount,
    kind: kind, amplitude: amplitude, frequency: frequency, sampleRate: sampleRate, noiseState: noise,
    fileSamples: fileSamples, fileCount: fileData.count, recordChannels: recordChannels,
    record: allocate(recordChannels * recordCapacity, Float(0)), recordCapacity: recordCapacity,
    blockTimes: allocate(blockCapacity, Int64(0)), blockFirst: allocate(blockCapacity, 0),
    blockCounts: allocate(blockCapacity, 0), blockCapacity: blockCapacity, flags: flags))

jack_set_process_callback(client, testSourceProcess, UnsafeMutableRawPointer(state))
jack_on_info_shutdown(client, testSourceShutdown, UnsafeMutableRawPointer(state))
guard jack_activate(client) == 0 else { fail("jack_activate failed") }

func portNames(_ list: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> [String] {
    guard let list else { return [] }
    defer { jack_free(list) }
    var names: [String] = []
    var i = 0
    while let p = list[i] { names.append(String(cString: p)); i += 1 }
    return names
}
let clientName = String(cString: jack_get_client_name(client))
for pattern in patterns {
    if outputCount > 0 {
        let targets = portNames(jack_get_ports(client, pattern, audioType, UInt(JackPortIsInput.rawValue)))
        for (k, target) in targets.prefix(outputCount).enumerated() {
            let rc = jack_connect(client, "\(clientName):out_\(k + 1)", target)
            if rc != 0 && rc != EEXIST { fail("cannot connect out_\(k + 1) to \(target) (\(rc))") }
        }
    }
    if inputCount > 0 {
        let sources = portNames(jack_get_ports(client, pattern, audioType, UInt(JackPortIsOutput.rawValue)))
            .filter { !$0.hasPrefix(clientName + ":") }
        for (k, source) in sources.prefix(inputCount).enumerated() {
            let rc = jack_connect(client, source, "\(clientName):in_\(k + 1)")
            if rc != 0 && rc != EEXIST { fail("cannot connect \(source) to in_\(k + 1) (\(rc))") }
        }
    }
}

installStopHandlers()

let started = Date()
func timedOut() -> Bool { duration.map { Date().timeIntervalSince(started) >= $0 } ?? false }
if waitConnected {
    let ports = (0..<outputCount).map { outputs[$0] } + (0..<inputCount).map { inputs[$0] }
    while !stopRequested() && !timedOut() && !ports.allSatisfy({ jack_port_connected($0) > 0 }) {
        usleep(10_000)
    }
    usleep(UInt32(settle * 1e6))
}
flags.pointee.armed.store(true, ordering: .relaxed)
print("meltap-testsource: playing as \(clientName) at \(Int(sampleRate)) Hz"); fflush(nil)
while !stopRequested() && !timedOut() {
    let finished = flags.pointee.finished.load(ordering: .acquiring)
    if finished == 2 { FileHandle.standardError.write(Data("meltap-testsource: the server went away\n".utf8)); break }
    if finished == 1 && exitWhenRecorded { break }
    usleep(10_000)
}
jack_deactivate(client)
jack_client_close(client)

if let recordPath {
    let s = state.pointee
    var out = Data("MTSR".utf8)
    func append<T>(_ value: T) { withUnsafeBytes(of: value) { out.append(contentsOf: $0) } }
    append(UInt32(1).littleEndian)
    append(UInt32(recordChannels).littleEndian)
    append(UInt32(sampleRate).littleEndian)
    append(UInt64(s.blockCount).littleEndian)
    append(UInt64(s.recorded).littleEndian)
    for b in 0..<s.blockCount {
        append(s.blockTimes[b].littleEndian)
        append(UInt64(s.blockFirst[b]).littleEndian)
        append(UInt32(s.blockCounts[b]).littleEndian)
        append(UInt32(0))
    }
    for channel in 0..<recordChannels {
        out.append(UnsafeBufferPointer(start: s.record + channel * recordCapacity, count: s.recorded))
    }
    guard FileManager.default.createFile(atPath: recordPath, contents: out) else { fail("cannot write \(recordPath)") }
    print("meltap-testsource: recorded \(s.recorded) samples in \(s.blockCount) blocks to \(recordPath)")
}
