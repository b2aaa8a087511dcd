// Writing audio files through libsndfile: for tests and the demo's generated example file.

import CSndFile

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MelSystem

/// An audio file open for writing: WAV (16/24/32-bit integer, 32-bit float), FLAC (16/24-bit) or
/// Ogg Vorbis, any number of channels.
///
/// Integer formats quantise exactly: a float `x` on the grid `k / 2^(bits-1)` is stored as the integer
/// `k` (rounded to nearest otherwise, clipped to the format's range), so `AudioFileReader` reads back
/// the same float. libsndfile's own float-to-int path scales by `2^(bits-1) - 1` and would not.
///
/// Owns the libsndfile handle; call `close()` to finish the file (deinit closes too, ignoring errors).
public final class AudioFileWriter: @unchecked Sendable {
    /// Container and encoding of the file to write.
    public enum Format: Sendable, Equatable, CaseIterable {
        case wavPCM16, wavPCM24, wavPCM32, wavFloat, flac16, flac24, oggVorbis

        /// The libsndfile format code (major | subtype).
        public var libsndfileFormat: Int32 {
            switch self {
            case .wavPCM16: return Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
            case .wavPCM24: return Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_24)
            case .wavPCM32: return Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_32)
            case .wavFloat: return Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT)
            case .flac16: return Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16)
            case .flac24: return Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_24)
            case .oggVorbis: return Int32(SF_FORMAT_OGG | SF_FORMAT_VORBIS)
            }
        }

        /// Bits per sample for integer formats, nil for float and lossy formats.
        public var integerBits: Int? {
            switch self {
            case .wavPCM16, .flac16: return 16
            case .wavPCM24, .flac24: return 24
            case .wavPCM32: return 32
            case .wavFloat, .oggVorbis: return nil
            }
        }

        /// The usual file name extension: "wav", "flac" or "ogg".
        public var fileExtension: String {
            switch self {
            case .wavPCM16, .wavPCM24, .wavPCM32, .wavFloat: return "wav"
            case .flac16, .flac24: return "flac"
            case .oggVorbis: return "ogg"
            }
        }
    }

    /// The path being written.
    public let path: String
    /// Format chosen at creation.
    public let format: Format
    /// Number of interleaved channels.
    public let channelCount: Int
    /// Sample rate in Hz.
    public let sampleRate: Int
    /// Sample frames (samples per channel) written so far.
    public private(set) var framesWritten: Int64 = 0

    private var file: OpaquePointer?
    /// The descriptor libsndfile writes through (it does not close it: `close()` does).
    private var descriptor: Int32 = -1
    private var scratch: [Int32] = []

    /// Creates `path` as a new file (`OutputPath.create`: never through a link; an existing regular
    /// file only with `existing: .replace`).
    ///
    /// - Throws: `AudioFileError` if the path is taken, the directory is missing or not writable, or
    ///   libsndfile rejects the combination (e.g. a sample rate FLAC does not allow).
    public init(path: String, sampleRate: Int, channelCount: Int, format: Format,
                existing: ExistingOutput = .refuse) throws {
        precondition(channelCount >= 1 && sampleRate >= 1)
        self.path = path
        self.format = format
        self.channelCount = channelCount
        self.sampleRate = sampleRate
        var info = SF_INFO()
        info.samplerate = Int32(sampleRate)
        info.channels = Int32(channelCount)
        info.format = format.libsndfileFormat
        guard sf_format_check(&info) != 0 else {
            throw AudioFileError(message: "Cannot write \(path): libsndfile does not support \(AudioFileReader.describe(format: info.format)) with \(channelCount) channels at \(sampleRate) Hz. Choose another format or sample rate.")
        }
        // Create the file ourselves (exclusive, no links, a precise errno), then hand it to libsndfile.
        let descriptor: Int32
        let created: CreatedFile
        do {
            (descriptor, created) = try OutputPath.create(path, existing: existing)
        } catch let error as FeatureFileError {
            throw AudioFileError(message: error.message, code: error.code)
        }
        guard let handle = sf_open_fd(descriptor, Int32(SFM_WRITE), &info, 0) else {
            closeDescriptor(descriptor)
            created.remove()
            throw AudioFileError(message: "Cannot write \(path): libsndfile says \"\(String(cString: sf_strerror(nil)))\". Check the path and free space, then try again.", libsndfileCode: sf_error(nil))
        }
        file = handle
        self.descriptor = descriptor
        if format == .oggVorbis {
            var quality = 0.6  // 0…1, higher is better; about 190 kbit/s stereo at 44.1 kHz
            _ = sf_command(handle, Int32(SFC_SET_VBR_ENCODING_QUALITY), &quality, Int32(MemoryLayout<Double>.size))
        }
    }

    deinit {
        if let file { sf_close(file) }
        if descriptor >= 0 { closeDescriptor(descriptor) }
    }

    /// Appends interleaved samples (`count` a multiple of `channelCount`), nominally in [-1, 1).
    ///
    /// - Throws: `AudioFileError` if libsndfile writes fewer samples than given (disk full, I/O error).
    public func write(interleaved samples: [Float]) throws {
        guard let file else { preconditionFailure("AudioFileWriter: \(path) is already closed") }
        precondition(samples.count % channelCount == 0, "sample count \(samples.count) is not a multiple of \(channelCount) channels")
        let frames = samples.count / channelCount
        let written: Int
        if let bits = format.integerBits {
            // Quantise to the format's grid ourselves, then hand libsndfile left-aligned 32-bit ints
            // (its int path shifts right by 32 - bits: exact for our values).
            let scale = Double(1 << (bits - 1))
            let maximum = scale - 1
            let shift = Int32(32 - bits)
            scratch.removeAll(keepingCapacity: true)
            scratch.reserveCapacity(samples.count)
            for x in samples {
                let q = min(max((Double(x) * scale).rounded(.toNearestOrEven), -scale), maximum)
                scratch.append(Int32(q) << shift)
            }
            written = Int(scratch.withUnsafeBufferPointer { sf_writef_int(file, $0.baseAddress, sf_count_t(frames)) })
        } else {
            written = Int(samples.withUnsafeBufferPointer { sf_writef_float(file, $0.baseAddress, sf_count_t(frames)) })
        }
        framesWritten += Int64(max(written, 0))
        if written != frames {
            throw AudioFileError(message: "Writing \(path) stopped after \(framesWritten) sample frames: libsndfile says \"\(String(cString: sf_strerror(file)))\". Free disk space and try again.", libsndfileCode: sf_error(file))
        }
    }

    /// Finishes the file (writes headers, flushes encoders). Safe to call more than once.
    public func close() throws {
        guard let file else { return }
        self.file = nil
        let code = sf_close(file)
        closeDescriptor(descriptor)
        descriptor = -1
        if code != 0 {
            throw AudioFileError(message: "Closing \(path) failed: libsndfile error \(code) (\(String(cString: sf_error_number(code)))). The file may be incomplete; free disk space and write it again.", libsndfileCode: code)
        }
    }
}

/// close(2), reachable from types that have their own `close()`.
private func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}
