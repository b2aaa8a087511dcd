// The realtime side of meltap-testsource: callbacks (global functions, outside main.swift) and
// the preallocated state they use.
import CJack
import Glibc
import Synchronization

/// One-way flags between the main thread and the callback.
struct SourceFlags: ~Copyable {
    /// Set by the main thread: play and record from the next block.
    let armed = Atomic<Bool>(false)
    /// Set by the callback: the record is full (1) or the server went away (2).
    let finished = Atomic<Int32>(0)
}

/// What the source plays on each output.
enum SignalKind {
    /// Sine at `frequency · (channel + 1)` Hz.
    case sine
    /// Linear chirp from 50 Hz to 0.45·sr over 2 s, repeating; channel c starts c·0.25 s in.
    case chirp
    /// Uniform white noise in [-1, 1) from xorshift64*, seeded `seed + channel`.
    case noise
    /// A raw float32 mono file, the same on every channel, then silence.
    case file
}

/// Everything the process callback touches, preallocated before activation.
struct SourceState {
    var client: OpaquePointer?
    let outputs: UnsafeMutablePointer<OpaquePointer?>
    let outputCount: Int
    let inputs: UnsafeMutablePointer<OpaquePointer?>
    let inputCount: Int
    let kind: SignalKind
    let amplitude: Float
    let frequency: Double
    let sampleRate: Double
    /// Per output channel: noise state.
    let noiseState: UnsafeMutablePointer<UInt64>
    /// Samples generated per channel since arming (drives sine/chirp/file position).
    var generated: Int = 0
    /// The file's samples (kind .file).
    let fileSamples: UnsafeMutablePointer<Float>
    let fileCount: Int

    // Recording: channel-major, `recordCapacity` samples per recorded channel.
    let recordChannels: Int
    let record: UnsafeMutablePointer<Float>
    let recordCapacity: Int
    var recorded: Int = 0
    /// Blocks recorded: frame time (64-bit), first sample index, count.
    let blockTimes: UnsafeMutablePointer<Int64>
    let blockFirst: UnsafeMutablePointer<Int>
    let blockCounts: UnsafeMutablePointer<Int>
    let blockCapacity: Int
    var blockCount: Int = 0

    /// Frame time extension.
    var lastFrameTime32: UInt32 = 0
    var frameTime64: Int64 = 0
    var haveFrameTime = false

    let flags: UnsafeMutablePointer<SourceFlags>
}

@inline(__always)
private func sourceState(_ arg: UnsafeMutableRawPointer?) -> UnsafeMutablePointer<SourceState> {
    arg.unsafelyUnwrapped.assumingMemoryBound(to: SourceState.self)
}

/// xorshift64* → uniform float in [-1, 1).
@inline(__always)
func nextNoise(_ state: inout UInt64) -> Float {
    state ^= state >> 12
    state ^= state << 25
    state ^= state >> 27
    let value = state &* 2685821657736338717
    return Float(Double(value >> 40) / Double(1 << 24) * 2 - 1)
}

/// Process callback: write the signal (or silence) to the outputs, copy what was sent (or, for
/// inputs, received) into the preallocated record with the block's frame time.
func testSourceProcess(_ nframes: jack_nframes_t, _ arg: UnsafeMutableRawPointer?) -> Int32 {
    let s = sourceState(arg)
    let count = Int(nframes)
    let now = jack_last_frame_time(s.pointee.client)
    if !s.pointee.haveFrameTime {
        s.pointee.frameTime64 = Int64(now)
        s.pointee.haveFrameTime = true
    } else {
        s.pointee.frameTime64 += Int64(now &- s.pointee.lastFrameTime32)
    }
    s.pointee.lastFrameTime32 = now
    let flags = s.pointee.flags
    // Relaxed: the arm flag carries no data.
    let armed = flags.pointee.armed.load(ordering: .relaxed)
    let finished = flags.pointee.finished.load(ordering: .relaxed) != 0
    let recording = armed && !finished
        && s.pointee.recorded + count <= s.pointee.recordCapacity && s.pointee.blockCount < s.pointee.blockCapacity
    if armed && !recording && !finished {
        // Releasing: the record written so far is visible to whoever acquires the flag.
        flags.pointee.finished.store(1, ordering: .releasing)
    }
    let first = s.pointee.recorded

    for channel in 0..<s.pointee.outputCount {
        guard let raw = jack_port_get_buffer(s.pointee.outputs[channel], nframes) else { continue }
        let out = raw.assumingMemoryBound(to: Float.self)
        if !recording {
            for i in 0..<count { out[i] = 0 }
            continue
        }
        let amplitude = s.pointee.amplitude
        let rate = s.pointee.sampleRate
        for i in 0..<count {
            let n = s.pointee.generated + i
            var value: Float
            switch s.pointee.kind {
            case .sine:
                let phase = 2 * Double.pi * s.pointee.frequency * Double(channel + 1) * Double(n) / rate
                value = Float(sin(phase))
            case .chirp:
                let period = 2 * rate
                let t = (Double(n) + Double(channel) * 0.25 * rate).truncatingRemainder(dividingBy: period) / rate
                let f0 = 50.0, f1 = 0.45 * rate
                value = Float(sin(2 * Double.pi * (f0 * t + (f1 - f0) * t * t / 4)))
            case .noise:
                value = nextNoise(&s.pointee.noiseState[channel])
            case .file:
                value = n < s.pointee.fileCount ? s.pointee.fileSamples[n] : 0
            }
            out[i] = value * amplitude
        }
        (s.pointee.record + channel * s.pointee.recordCapacity + first).update(from: out, count: count)
    }
    for channel in 0..<s.pointee.inputCount where recording {
        guard let raw = jack_port_get_buffer(s.pointee.inputs[channel], nframes) else { continue }
        let input = raw.assumingMemoryBound(to: Float.self)
        let row = s.pointee.outputCount + channel
        (s.pointee.record + row * s.pointee.recordCapacity + first).update(from: input, count: count)
    }
    if recording {
        let b = s.pointee.blockCount
        s.pointee.blockTimes[b] = s.pointee.frameTime64
        s.pointee.blockFirst[b] = first
        s.pointee.blockCounts[b] = count
        s.pointee.blockCount = b + 1
        s.pointee.recorded = first + count
        s.pointee.generated += count
    }
    return 0
}

func testSourceShutdown(_ code: jack_status_t, _ reason: UnsafePointer<CChar>?, _ arg: UnsafeMutableRawPointer?) {
    sourceState(arg).pointee.flags.pointee.finished.store(2, ordering: .releasing)
}


/// SIGINT/SIGTERM set this (an atomic store is async-signal-safe); the main loop polls it.
private let stopFlag = Atomic<Bool>(false)

private func stopHandler(_ signal: Int32) { stopFlag.store(true, ordering: .relaxed) }

func installStopHandlers() {
    _ = stopFlag.load(ordering: .relaxed)  // initialise the global before a handler can run
    signal(SIGINT, stopHandler)
    signal(SIGTERM, stopHandler)
    var signals = sigset_t()  // a parent may have spawned us with these blocked
    sigemptyset(&signals)
    sigaddset(&signals, SIGINT)
    sigaddset(&signals, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &signals, nil)
}

func stopRequested() -> Bool { stopFlag.load(ordering: .relaxed) }
