import MelDSP
import Testing

/// The n_fft rule of Sources/MelDSP/Spectrum/FFTSizes.swift: which real-FFT lengths FFTW executes
/// without heap calls, the nearest such lengths, and the realtime check built on them. The rule
/// itself is measured against FFTW by MeltapCLITests/FFTSizeSweepTests.
@Suite struct FFTSizeTests {
    @Test(arguments: [16, 18, 20, 32, 64, 128, 256, 400, 512, 1024, 1102, 1200, 2048, 4096, 1 << 20])
    func commonSizesAreAllocationFree(length: Int) {
        #expect(RealFFT.isAllocationFree(length: length), "n_fft \(length) should be allocation-free")
        #expect(RealFFT.allocatingPrimeFactor(length: length) == nil)
    }

    @Test func everyPowerOfTwoIsAllocationFree() {
        var n = RealFFT.supportedLengths.lowerBound
        while n <= RealFFT.supportedLengths.upperBound {
            #expect(RealFFT.isAllocationFree(length: n), "2^\(n.trailingZeroBitCount)")
            n *= 2
        }
    }

    /// Every preset's n_fft, at the rates meltap is used with, passes the realtime check.
    @Test(arguments: MelPreset.allCases)
    func presetsAreRealtimeSafe(preset: MelPreset) throws {
        for rate in [8000.0, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 192000]
        where preset.requiredSampleRate.map({ $0 == rate }) ?? true {
            let c = try MelOverrides().resolve(preset: preset, sampleRate: rate)
            #expect(throws: Never.self, "\(preset) at \(rate) Hz, n_fft \(c.fftLength)") { try c.checkRealtimeSafe() }
            #expect(c.fftAllocationNote == nil)
        }
    }

    /// (n_fft, the prime factor of n/2 that makes FFTW allocate).
    @Test(arguments: [(74, 37), (82, 41), (94, 47), (2018, 1009), (4094, 89), (3182, 37), (3526, 41), (4042, 47),
                      (2020, 101), (1_048_574, 524_287)])
    func allocatingSizes(length: Int, prime: Int) {
        #expect(!RealFFT.isAllocationFree(length: length))
        #expect(RealFFT.allocatingPrimeFactor(length: length) == prime)
    }

    /// Above 2^17 only 2, 3, 5 and 7 are allowed: FFTW then buffers generic twiddle steps
    /// (`dftw-genericbuf`), which allocates; 132496 = 2·2³·7²·13² is the first size that does.
    @Test func longLengthsAllowOnlyPrimesUpToSeven() {
        #expect(RealFFT.isAllocationFree(length: 129_792))  // 2·2⁷·3·13², at most 2^17: fine
        #expect(RealFFT.allocatingPrimeFactor(length: 132_496) == 13)
        #expect(RealFFT.allocatingPrimeFactor(length: 2 * 43 * 2048) == 43)
        #expect(RealFFT.isAllocationFree(length: 2 * 3 * 5 * 7 * 2048))
        #expect(RealFFT.isAllocationFree(length: 200_000))
        let error = #expect(throws: MelConfigurationError.self) { try MelConfiguration.checkRealtimeSafe(fftLength: 132_496) }
        let message = error?.description ?? ""
        #expect(message.contains("132496/2 = 66248 has the prime factor 13") && message.contains("above 131072")
                && message.contains("132300 or 134400"), "\(message)")
    }

    /// Live analysis stops at 2^19: without SIMD codelets FFTW allocates for some longer
    /// lengths it otherwise handles without, 2^20 among them. Offline use is not limited.
    @Test func realtimeLengthLimit() throws {
        #expect(RealFFT.realtimeLengthLimit == 524_288)
        #expect(throws: Never.self) { try MelConfiguration.checkRealtimeSafe(fftLength: 524_288) }
        for n in [524_290, 1 << 20] {
            let error = #expect(throws: MelConfigurationError.self) { try MelConfiguration.checkRealtimeSafe(fftLength: n) }
            let message = error?.description ?? ""
            #expect(message.contains("n_fft \(n)") && message.contains("524288 or less") && message.contains("meltap file"),
                    "\(message)")
        }
        var o = MelOverrides()
        o.fftLength = 1 << 20
        #expect(try o.resolve(preset: .librosa, sampleRate: 48000).fftAllocationNote == nil)
        // Suggestions for a live size stay within the limit.
        let error = #expect(throws: MelConfigurationError.self) { try MelConfiguration.checkRealtimeSafe(fftLength: 524_286) }
        #expect(error?.description.contains("518616 or 524288") == true, "\(error?.description ?? "")")
    }

    /// 43 is the exception above 31: FFTW 3.3.10 transforms it with the stack-buffered generic
    /// solver, so 86 = 2·43 and 3698 = 2·43² are allocation-free.
    @Test(arguments: [62, 86, 172, 3698, 2 * 43 * 31]) func primesUpTo31AndFortyThree(length: Int) {
        #expect(RealFFT.isAllocationFree(length: length))
    }

    /// 2020 is not a neighbour of 2018: 2020/2 = 1010 = 2·5·101, and 101 allocates.
    @Test(arguments: [(2018, 2016, 2024), (74, 72, 76), (4094, 4092, 4096), (1_048_574, 1_037_232, 1_048_576),
                      (2048, 2046, 2052), (3182, 3174, 3190), (17, 16, 18), (16, nil, 18), (1 << 20, 1_037_232, nil),
                      (131_074, 131_072, 131_220), (132_496, 132_300, 134_400)]
          as [(Int, Int?, Int?)])
    func nearestAllocationFreeLengths(length: Int, below: Int?, above: Int?) {
        let near = RealFFT.nearestAllocationFreeLengths(around: length)
        #expect(near.below == below && near.above == above, "around \(length): got \(String(describing: near))")
        if let b = near.below { #expect(RealFFT.isAllocationFree(length: b) && b % 2 == 0) }
        if let a = near.above { #expect(RealFFT.isAllocationFree(length: a) && a % 2 == 0) }
    }

    /// Nothing allocation-free is skipped: between a size and its nearest allocation-free
    /// neighbours every even size allocates.
    @Test func nearestLengthsAreNearest() throws {
        for n in stride(from: 16, through: 8192, by: 2) where !RealFFT.isAllocationFree(length: n) {
            let near = RealFFT.nearestAllocationFreeLengths(around: n)
            let below = try #require(near.below), above = try #require(near.above)
            for m in stride(from: below + 2, to: above, by: 2) {
                #expect(!RealFFT.isAllocationFree(length: m), "\(m) lies between \(below) and \(above)")
            }
        }
    }

    @Test func realtimeCheckNamesTheNearbySizes() throws {
        var o = MelOverrides()
        o.fftLength = 2018
        let c = try o.resolve(preset: .librosa, sampleRate: 48000)  // offline use still accepts it
        let error = #expect(throws: MelConfigurationError.self) { try c.checkRealtimeSafe() }
        let message = error?.description ?? ""
        for part in ["n_fft 2018", "allocate", "2018/2 = 1009", "realtime", "2016 or 2024", "Use"] {
            #expect(message.contains(part), "message should mention \"\(part)\": \(message)")
        }
        let alone = #expect(throws: MelConfigurationError.self) { try MelConfiguration.checkRealtimeSafe(fftLength: 2018) }
        #expect(alone == error, "the check on n_fft alone must say the same")
    }

    @Test func realtimeCheckNamesTheOffendingPrimeFactor() {
        let error = #expect(throws: MelConfigurationError.self) { try MelConfiguration.checkRealtimeSafe(fftLength: 3182) }
        let message = error?.description ?? ""
        #expect(message.contains("3182/2 = 1591 has the prime factor 37") && message.contains("3174 or 3190"), "\(message)")
    }

    @Test func offlineNoteNamesTheNearbySizes() throws {
        var o = MelOverrides()
        o.fftLength = 2018
        let note = try #require(try o.resolve(preset: .librosa, sampleRate: 48000).fftAllocationNote)
        for part in ["n_fft 2018", "slower", "allocates", "2016 and 2024", "meltap run"] {
            #expect(note.contains(part), "note should mention \"\(part)\": \(note)")
        }
        #expect(!note.contains("\n"))
    }

    /// `resolvedFFTLength` is the n_fft `resolve` sets, for every way of choosing it.
    @Test(arguments: MelPreset.allCases)
    func resolvedFFTLengthMatchesResolve(preset: MelPreset) throws {
        // Their n_fft cannot change (MicroConfigurationTests, OpenWakeWordParityTests).
        guard preset != .micro && preset != .openWakeWord else { return }
        let rate = preset.requiredSampleRate ?? 44100
        for (fft, window) in [(nil, nil), (2018, nil), (nil, 300), (nil, 2018), (1024, 600), (4096, 4096)] as [(Int?, Int?)] {
            var o = MelOverrides()
            o.fftLength = fft
            o.windowLength = window
            let c = try o.resolve(preset: preset, sampleRate: rate)
            #expect(o.resolvedFFTLength(preset: preset, sampleRate: rate) == c.fftLength, "\(preset) n_fft \(fft as Any) win \(window as Any)")
        }
    }
}
