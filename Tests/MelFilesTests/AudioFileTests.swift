import Foundation
import Testing
@testable import MelFiles

/// AudioFileReader and AudioFileWriter on real files of every supported format.
@Suite struct AudioFileTests {
    /// A deterministic test signal: a sine per channel plus a ramp that hits extreme values.
    static func signal(frames: Int, channels: Int, bits: Int?) -> [Float] {
        var samples = [Float](repeating: 0, count: frames * channels)
        for t in 0..<frames {
            for c in 0..<channels {
                var x = 0.8 * sin(2 * Double.pi * Double(t) * Double(c + 1) * 441 / 44100)
                if t < 8 { x = [-1, 1 - 1e-9, 0.5, -0.5, 0, 1e-6, -1e-6, 0.25][t] }
                if let bits {
                    // Put the value on the format's grid so the round trip must be exact.
                    let scale = Double(1 << (bits - 1))
                    x = min((x * scale).rounded(), scale - 1) / scale
                }
                samples[t * channels + c] = Float(x)
            }
        }
        return samples
    }

    @Test(arguments: AudioFileWriter.Format.allCases, [1, 2, 5])
    func roundTrip(format: AudioFileWriter.Format, channels: Int) throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let path = "\(directory)/test.\(format.fileExtension)"
        let frames = 44100 / 2 + 17
        let bits = format == .wavPCM32 ? 24 : format.integerBits  // 32-bit: Float holds 24 bits exactly
        let samples = Self.signal(frames: frames, channels: channels, bits: bits)

        let writer = try AudioFileWriter(path: path, sampleRate: 44100, channelCount: channels, format: format)
        try writer.write(interleaved: Array(samples[0..<(1000 * channels)]))
        try writer.write(interleaved: Array(samples[(1000 * channels)...]))
        try writer.close()
        #expect(writer.framesWritten == Int64(frames))

        let reader = try AudioFileReader(path: path)
        #expect(reader.sampleRate == 44100)
        #expect(reader.channelCount == channels)
        let all = try reader.readAll()
        if format == .oggVorbis {
            // Lossy: length and energy only.
            #expect(abs(Int(reader.frameCount) - frames) <= 2048)
            let energyIn = samples.reduce(0) { $0 + Double($1 * $1) }
            let energyOut = all.reduce(0) { $0 + Double($1 * $1) }
            #expect(abs(energyOut / energyIn - 1) < 0.05, "energy in \(energyIn), out \(energyOut)")
            #expect(reader.formatDescription == "Ogg, Vorbis")
            return
        }
        #expect(reader.frameCount == Int64(frames))
        #expect(all.count == samples.count)
        let mismatches = zip(all, samples).enumerated().filter { $0.element.0 != $0.element.1 }
        #expect(mismatches.isEmpty, "first mismatches (index, read, written): \(mismatches.prefix(5).map { ($0.offset, $0.element.0, $0.element.1) })")
        let expectedDescription = [
            AudioFileWriter.Format.wavPCM16: "WAV, 16-bit integer", .wavPCM24: "WAV, 24-bit integer",
            .wavPCM32: "WAV, 32-bit integer", .wavFloat: "WAV, 32-bit float",
            .flac16: "FLAC, 16-bit integer", .flac24: "FLAC, 24-bit integer",
        ][format]
        #expect(reader.formatDescription == expectedDescription)

        let last = try reader.readChannel(channels - 1)
        #expect(last == stride(from: channels - 1, to: samples.count, by: channels).map { samples[$0] })
    }

    /// Integer samples written by an independent writer (Python's wave module) read as s / 2^(bits-1).
    @Test(arguments: [2, 3])
    func integerSamplesConvertExactly(bytesPerSample: Int) throws {
        guard let python = pythonWithNumpy() else { return }
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let path = directory + "/ints.wav"
        let bits = bytesPerSample * 8
        let top = 1 << (bits - 1)
        var ints = [-top, -top + 1, -1, 0, 1, top - 1, 12345, -777]
        for k in 0..<1000 { ints.append((k * 7919 * (bits == 16 ? 1 : 257)) % (2 * top) - top) }
        try runPython("""
        import sys, wave
        path, width = sys.argv[1], int(sys.argv[2])
        values = [int(v) for v in sys.argv[3].split(',')]
        with wave.open(path, 'wb') as w:
            w.setnchannels(1); w.setsampwidth(width); w.setframerate(16000)
            w.writeframes(b''.join(v.to_bytes(width, 'little', signed=True) for v in values))
        """, [path, String(bytesPerSample), ints.map(String.init).joined(separator: ",")], python: python)

        let reader = try AudioFileReader(path: path)
        #expect(reader.formatDescription == "WAV, \(bits)-bit integer")
        #expect(reader.sampleRate == 16000)
        let read = try reader.readAll()
        let expected = ints.map { Float($0) / Float(top) }
        #expect(read == expected)
        #expect(read.first == -1)
    }

    @Test func readInChunksMatchesReadAll() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let path = directory + "/chunks.wav"
        let samples = Self.signal(frames: 10_000, channels: 2, bits: 16)
        let writer = try AudioFileWriter(path: path, sampleRate: 48000, channelCount: 2, format: .wavPCM16)
        try writer.write(interleaved: samples)
        try writer.close()
        let reader = try AudioFileReader(path: path)
        var collected: [Float] = []
        var buffer = [Float](repeating: 0, count: 2 * 777)
        while true {
            let n = try buffer.withUnsafeMutableBufferPointer { try reader.read(into: $0.baseAddress!, frames: 777) }
            collected += buffer[0..<(2 * n)]
            if n < 777 { break }
        }
        #expect(collected == samples)
        #expect(try reader.readAll() == samples, "readAll starts from the beginning")
    }

    @Test func missingFileSaysSo() {
        let error = #expect(throws: AudioFileError.self) { try AudioFileReader(path: "/nonexistent/take.wav") }
        #expect(error?.message.contains("/nonexistent/take.wav") == true)
        #expect(error?.message.contains("does not exist") == true)
        #expect(error?.code == ENOENT)
    }

    @Test func garbageBytesSayNotAudioAndHowToConvert() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let path = directory + "/notes.wav"
        let bytes = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        let error = #expect(throws: AudioFileError.self) { try AudioFileReader(path: path) }
        #expect(error?.message.contains(path) == true)
        #expect(error?.message.contains("libsndfile says") == true)
        #expect(error?.message.contains("sox") == true)
    }

    @Test func truncatedHeaderSaysSo() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let path = directory + "/short.wav"
        #expect(FileManager.default.createFile(atPath: path, contents: Data("RIFF\u{0}\u{0}\u{0}\u{0}WAVEfmt ".utf8)))
        let error = #expect(throws: AudioFileError.self) { try AudioFileReader(path: path) }
        #expect(error?.message.contains("Convert it to WAV or FLAC") == true)
    }

    @Test func directorySaysSo() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let error = #expect(throws: AudioFileError.self) { try AudioFileReader(path: directory) }
        #expect(error?.message.contains("is a directory") == true)
    }

    /// Root may read anything, so a forked child drops to user `nobody` first.
    @Test func unreadableFileSaysPermissionDenied() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        #expect(chmod(directory, 0o755) == 0)
        let path = directory + "/secret.wav"
        let writer = try AudioFileWriter(path: path, sampleRate: 8000, channelCount: 1, format: .wavPCM16)
        try writer.write(interleaved: [0, 0.5])
        try writer.close()
        #expect(chmod(path, 0o600) == 0)
        _ = AudioFileError.cannotOpen(path: path, code: EACCES).message  // warm up before fork

        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        let child = fork()
        if child == 0 {
            _ = close(pipeEnds[0])
            var report: [Int64] = [-1, 0]
            if setgid(65534) == 0 && setuid(65534) == 0 {
                do {
                    _ = try AudioFileReader(path: path)
                    report = [0, 0]
                } catch let error as AudioFileError {
                    report = [Int64(error.code), error.message.contains("permission denied") && error.message.contains(path) ? 1 : 0]
                } catch {}
            }
            _ = report.withUnsafeBytes { write(pipeEnds[1], $0.baseAddress, $0.count) }
            _exit(0)
        }
        _ = close(pipeEnds[1])
        var report: [Int64] = [0, 0]
        let got = report.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, $0.count) }
        _ = close(pipeEnds[0])
        var status: Int32 = 0
        waitpid(child, &status, 0)
        #expect(got == 16)
        #expect(report[0] == Int64(EACCES))
        #expect(report[1] == 1, "the message names the file and says permission denied")
    }

    @Test func writerToMissingDirectorySaysSo() {
        let error = #expect(throws: AudioFileError.self) {
            try AudioFileWriter(path: "/nonexistent-meltap/x.wav", sampleRate: 48000, channelCount: 1, format: .wavPCM16)
        }
        #expect(error?.message.contains("does not exist") == true)
    }
}
