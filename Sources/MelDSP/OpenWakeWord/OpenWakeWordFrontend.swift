/// The fixed parameters of openWakeWord's melspectrogram model (`melspectrogram.tflite` as
/// pyopen-wakeword 1.1.0 bundles it), read from the model's weights and checked against it
/// (docs/presets.md, "openwakeword").
public enum OpenWakeWordParameters {
    /// `sr` of the int16 input, in Hz.
    public static var sampleRate: Int { @_noAllocation @_noLocks get { 16000 } }
    /// `n_fft`: the frame length, in samples; frames are snipped (no padding).
    public static var fftLength: Int { @_noAllocation @_noLocks get { 512 } }
    /// `hop_length`, in samples: 10 ms.
    public static var hopLength: Int { @_noAllocation @_noLocks get { 160 } }
    /// `win_length`: a periodic Hann of 400 samples, centred in the 512-sample frame (offset 56).
    public static var windowLength: Int { @_noAllocation @_noLocks get { 400 } }
    /// `n_mels`: Slaney-scale bands with Slaney norm.
    public static var melBandCount: Int { @_noAllocation @_noLocks get { 32 } }
    /// `fmin`, `fmax`, in Hz.
    public static var minimumFrequency: Double { @_noAllocation @_noLocks get { 60 } }
    public static var maximumFrequency: Double { @_noAllocation @_noLocks get { 3800 } }
    /// Frames per model call: `OpenWakeWordFeatures.process_streaming` runs the model on 1760
    /// samples every 1280, which is 8 frames on the continuous 160-sample grid. The floor is
    /// taken per group, groups counted from the stream's first sample.
    public static var groupLength: Int { @_noAllocation @_noLocks get { 8 } }
    /// The floor below the group's maximum, in dB: max(x, group max − 80).
    public static var floorDistance: Float { @_noAllocation @_noLocks get { 80 } }
    /// The caller's scaling of the model output, y = dB / 10 + 2: the divisor, in dB.
    public static var outputDivisor: Float { @_noAllocation @_noLocks get { 10 } }
    /// … and the offset added after it.
    public static var outputOffset: Float { @_noAllocation @_noLocks get { 2 } }
}

/// openWakeWord's features, one frame at a time: the melspectrogram model followed by
/// `x/10 + 2`, on the grid `OpenWakeWordFeatures.process_streaming` feeds the model.
///
/// Per frame of 512 samples: float → int16 (`MicroParameters.int16Sample`, the rule the micro
/// preset states), then at int16 scale the 400-sample periodic Hann at offset 56, power spectrum,
/// 32 Slaney mel bands (60–3800 Hz), 10·log10(max(x, 1e-10)); that part is the float pipeline
/// (`FloatFrameComputer`, float64 FFT, `.db` output with ref 1, amin 1e-10, no top_db). Then the
/// part only this preset has: each group of 8 frames (frames 8g … 8g + 7, counted from the
/// stream's first frame) is floored at its own maximum − 80 dB, and every value becomes
/// dB / 10 + 2.
///
/// A group's floor needs all 8 of its frames, so frames leave with a fixed delay of 7 frames:
/// computing frame k emits frame k − 7 (whose group is complete by then), one frame out per frame
/// in, with no bursts. The first 7 computations emit nothing; `drain` hands out the held frames of
/// the last complete group at the end of the input. Frames of an incomplete group at the end are
/// never emitted, as the reference never computes them. The delay, 7 hops, is part of
/// `MelConfiguration.algorithmicLatency`.
///
/// Owns its buffers (freed by `deallocate()`); the FFT belongs to the `RealFFT` the owner keeps
/// alive. `compute` and `drain` are real-time safe. A struct of pointers, so the realtime path does
/// no reference counting.
struct OpenWakeWordFrontend {
    /// The dB stage: window, float64 FFT, power, mel bank, 10·log10(max(x, 1e-10)).
    private let decibels: FloatFrameComputer
    /// The frame quantised to int16 and put back as k/32768 (exact), 512 floats. Owned.
    private let quantised: UnsafeMutablePointer<Float>
    /// The last 8 frames' dB values, frame k in row k mod 8 (8 × 32 floats). Owned.
    private let history: UnsafeMutablePointer<Float>
    private let state: UnsafeMutablePointer<State>

    private struct State {
        /// Frames computed since the last reset.
        var computed = 0
        /// Frames emitted since the last reset (computed − 7 while streaming).
        var emitted = 0
        /// The maximum dB value of the current, incomplete group so far.
        var groupMaximum = -Float.infinity
        /// The maximum of the last complete group: the floor of every frame still held from it.
        var completedMaximum = -Float.infinity
    }

    /// The configuration the dB stage runs: `c` (the openwakeword preset) with a plain dB output.
    static func decibelConfiguration(_ c: MelConfiguration) -> MelConfiguration {
        var d = c
        d.output = .db
        d.topDB = nil
        d.referencePower = 1
        d.amin = 1e-10
        d.dbReference = nil
        d.floorGroupLength = nil
        d.outputDivisor = nil
        d.outputOffset = nil
        return d
    }

    /// `workspace` must be built for `decibelConfiguration(c)` (`FrameWorkspace.forAnalyzer(of: c)`)
    /// and outlive the frontend.
    init(configuration c: MelConfiguration, workspace: FrameWorkspace) {
        decibels = FloatFrameComputer(configuration: Self.decibelConfiguration(c), clampRule: .running,
                                      workspace: workspace)
        precondition(decibels.width == OpenWakeWordParameters.melBandCount, "openwakeword: 32 bands expected")
        quantised = .allocate(capacity: OpenWakeWordParameters.fftLength)
        quantised.initialize(repeating: 0, count: OpenWakeWordParameters.fftLength)
        let historyCount = OpenWakeWordParameters.groupLength * OpenWakeWordParameters.melBandCount
        history = .allocate(capacity: historyCount)
        history.initialize(repeating: 0, count: historyCount)
        state = .allocate(capacity: 1)
        state.initialize(to: State())
    }

    /// Frees the buffers. The owner calls this exactly once.
    func deallocate() {
        decibels.deallocate()
        quantised.deallocate()
        history.deallocate()
        state.deallocate()
    }

    /// Forgets every held frame; the next frame is frame 0 of group 0.
    func reset() {
        decibels.reset()
        state.pointee = State()
    }

    /// Computes the frame of the 512 float samples at `samples` and, once 8 frames are in,
    /// writes frame (computed − 7) to `out` (32 values) and returns its index; else -1.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    func compute(_ samples: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) -> Int {
        let n = OpenWakeWordParameters.fftLength, bands = OpenWakeWordParameters.melBandCount
        let group = OpenWakeWordParameters.groupLength
        let q = quantised
        // int16 and back, exactly (k / 32768); the dB stage's window carries the × 32768.
        for i in 0..<n { q[i] = Float(MicroParameters.int16Sample(samples[i])) * (1 / 32768) }
        let s = state
        let k = s.pointee.computed
        let row = history + (k % group) * bands
        decibels.compute(q, into: row)
        var maximum = k % group == 0 ? -Float.infinity : s.pointee.groupMaximum
        for b in 0..<bands { maximum = max(maximum, row[b]) }
        s.pointee.groupMaximum = maximum
        if k % group == group - 1 { s.pointee.completedMaximum = maximum }
        s.pointee.computed = k + 1
        guard k + 1 >= group else { return -1 }
        return emit(into: out)
    }

    /// At the end of the input: writes the next held frame of a complete group to `out` and
    /// returns its index, or -1 when none is left. Call until it returns -1.
    /// Real-time safe: no allocation, locks or system calls.
    @_noAllocation @_noLocks
    func drain(into out: UnsafeMutablePointer<Float>) -> Int {
        let s = state
        let complete = s.pointee.computed / OpenWakeWordParameters.groupLength * OpenWakeWordParameters.groupLength
        guard s.pointee.emitted < complete else { return -1 }
        return emit(into: out)
    }

    /// Frames the reference gives for `frameCount` frames on the grid: whole groups only.
    static func emittedFrameCount(_ frameCount: Int) -> Int {
        frameCount / OpenWakeWordParameters.groupLength * OpenWakeWordParameters.groupLength
    }

    /// Writes held frame `emitted` (its group complete, its row not yet overwritten), floored at
    /// the group's maximum − 80 dB and scaled by dB / 10 + 2.
    @_noAllocation @_noLocks
    @inline(__always)
    private func emit(into out: UnsafeMutablePointer<Float>) -> Int {
        let s = state
        let index = s.pointee.emitted
        // Frame `index` is at most 7 frames old, so its group is the last complete one.
        let bands = OpenWakeWordParameters.melBandCount
        let row = history + (index % OpenWakeWordParameters.groupLength) * bands
        let floor = s.pointee.completedMaximum - OpenWakeWordParameters.floorDistance
        let divisor = OpenWakeWordParameters.outputDivisor, offset = OpenWakeWordParameters.outputOffset
        for b in 0..<bands { out[b] = max(row[b], floor) / divisor + offset }
        s.pointee.emitted = index + 1
        return index
    }
}
