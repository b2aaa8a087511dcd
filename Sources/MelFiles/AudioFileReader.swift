// Reading audio files through libsndfile (WAV, AIFF, FLAC, Ogg Vorbis/Opus, MP3 in libsndfile ≥ 1.1, …).

import CSndFile

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MelSystem

/// An audio file open for reading, decoded to interleaved `Float` samples by libsndfile.
///
/// Samples are normalised to [-1, 1) (`SFC_SET_NORM_FLOAT`): integer formats convert exactly,
/// a 16-bit sample `s` reads as `Float(s) / 32768`, a 24-bit one as `Float(s) / 8388608`, a 32-bit
/// one as `Float(s) / 2147483648` (with `Float(s)` rounded to 24 significant bits).
///
/// Note on words: libsndfile's *frames* (`frameCount`, `read(into:frames:)`) are sample frames, one
/// sample per channel at one instant; they are not meltap's STFT frames.
///
/// Owns the libsndfile handle and closes it in deinit. Not thread-safe: use from one thread at a
/// time (it may move between threads, hence `@unchecked Sendable`).
public final class AudioFileReader: @unchecked Sendable {
    /// The path the file was opened from.
    public let path: String
    /// Sample rate in Hz.
    public let sampleRate: Double
    /// Number of interleaved channels (≥ 1).
    public let channelCount: Int
    /// Length in sample frames (samples per channel), as reported by the file's header.
    public let frameCount: Int64
    /// Container and encoding, e.g. "WAV, 24-bit integer" or "FLAC, 16-bit integer".
    public let formatDescription: String
    /// The libsndfile format code (`SF_INFO.format`: major format | subtype | endianness).
    public let format: Int32

    private let file: OpaquePointer
    /// 16-bit PCM WAV: samples are read as Int16 (libsndfile reads them straight into this
    /// buffer) and converted here, eight at a time, rather than by libsndfile's one-at-a-time
    /// `(float) s * (1.0f / 0x8000)` (pcm.c), 7 % of `meltap file`'s CPU time on a 600 s file.
    /// The same exact values: `Float(s)` is exact and the scale is a power of two. Nil for every
    /// other format. Owned; grown to the largest read.
    private var pcm16: UnsafeMutablePointer<Int16>?
    private var pcm16Capacity = 0
    private let readsPCM16: Bool

    /// Opens `path` for reading.
    ///
    /// - Throws: `AudioFileError` naming the file, the cause (missing, permission, not audio,
    ///   unsupported encoding) as libsndfile or the system reported it, and what to do.
    public init(path: String) throws {
        self.path = path
        // Check access ourselves first: libsndfile folds these into one "system error" message.
        let probe = open(path, O_RDONLY | O_CLOEXEC)
        if probe < 0 {
            throw AudioFileError.cannotOpen(path: path, code: errno)
        }
        var isDirectory = stat()
        if fstat(probe, &isDirectory) == 0 && (isDirectory.st_mode & S_IFMT) == S_IFDIR {
            close(probe)
            throw AudioFileError.cannotOpen(path: path, code: EISDIR)
        }
        close(probe)

        var info = SF_INFO()
        guard let handle = sf_open(path, Int32(SFM_READ), &info) else {
            let reason = String(cString: sf_strerror(nil))
            throw AudioFileError.notReadable(path: path, libsndfileMessage: reason, code: sf_error(nil))
        }
        guard info.channels >= 1, info.samplerate >= 1 else {
            sf_close(handle)
            throw AudioFileError(message: "\(path) has \(info.channels) channels at \(info.samplerate) Hz according to libsndfile; it is damaged or not a supported audio file. Convert it to WAV or FLAC, e.g. `sox \(path) out.wav`, and try again.")
        }
        _ = sf_command(handle, Int32(SFC_SET_NORM_FLOAT), nil, Int32(SF_TRUE))
        file = handle
        sampleRate = Double(info.samplerate)
        channelCount = Int(info.channels)
        frameCount = Int64(info.frames)
        format = info.format
        formatDescription = AudioFileReader.describe(format: info.format)
        let major = Int(info.format) & Int(SF_FORMAT_TYPEMASK)
        readsPCM16 = (major == Int(SF_FORMAT_WAV) || major == Int(SF_FORMAT_WAVEX))
            && Int(info.format) & Int(SF_FORMAT_SUBMASK) == Int(SF_FORMAT_PCM_16)
    }

    deinit {
        sf_close(file)
        pcm16?.deallocate()
    }

    /// Up to `frames` sample frames from libsndfile into `buffer` (one call).
    private func readOnce(into buffer: UnsafeMutablePointer<Float>, frames: Int) -> Int {
        guard readsPCM16 else { return Int(sf_readf_float(file, buffer, sf_count_t(frames))) }
        let count = frames * channelCount
        if count > pcm16Capacity {
            pcm16?.deallocate()
            pcm16 = .allocate(capacity: count)
            pcm16Capacity = count
        }
        let samples = pcm16!
        let n = Int(sf_readf_short(file, samples, sf_count_t(frames)))
        // libsndfile's normalisation (SFC_SET_NORM_FLOAT): s / 32768, exact.
        for i in 0..<max(0, n) * channelCount { buffer[i] = Float(samples[i]) * (1 / 32768) }
        return n
    }

    /// Reads up to `frames` sample frames, interleaved (`frames * channelCount` floats), into `buffer`
    /// (`sf_readf_float`; `sf_readf_short` and an exact conversion for 16-bit WAV). Returns the number
    /// of sample frames read: fewer than asked only at the end.
    ///
    /// - Throws: `AudioFileError` if libsndfile reports a decoding error (a damaged file).
    public func read(into buffer: UnsafeMutablePointer<Float>, frames: Int) throws -> Int {
        precondition(frames >= 0)
        var total = 0
        while total < frames {
            let n = readOnce(into: buffer + total * channelCount, frames: frames - total)
            if n <= 0 { break }
            total += n
        }
        let code = sf_error(file)
        if code != 0 {
            let reason = String(cString: sf_strerror(file))
            throw AudioFileError(message: "Reading \(path) failed after \(total) sample frames: libsndfile says \"\(reason)\". The file may be damaged; convert or re-export it (e.g. `sox \(path) out.wav`) and try again.", libsndfileCode: code)
        }
        return total
    }

    /// Moves the read position to sample frame `frame` (`sf_seek`, from the start of the file).
    public func seek(toFrame frame: Int64) throws {
        if sf_seek(file, sf_count_t(frame), SEEK_SET) < 0 {
            throw AudioFileError(message: "Cannot seek to sample frame \(frame) in \(path): libsndfile says \"\(String(cString: sf_strerror(file)))\".")
        }
    }

    /// Reads the whole file from the start: interleaved samples, `frames * channelCount` floats.
    public func readAll() throws -> [Float] {
        try seek(toFrame: 0)
        let chunkFrames = 1 << 15
        var result: [Float] = []
        if frameCount > 0 && frameCount < Int64(Int32.max) {
            result.reserveCapacity(Int(frameCount) * channelCount)
        }
        var chunk = [Float](repeating: 0, count: chunkFrames * channelCount)
        while true {
            let n = try chunk.withUnsafeMutableBufferPointer { try read(into: $0.baseAddress!, frames: chunkFrames) }
            result.append(contentsOf: chunk[0..<(n * channelCount)])
            if n < chunkFrames { break }
        }
        return result
    }

    /// Reads the whole file from the start and returns channel `channel` (0-based).
    public func readChannel(_ channel: Int) throws -> [Float] {
        precondition(channel >= 0 && channel < channelCount, "channel \(channel) out of 0..<\(channelCount)")
        let all = try readAll()
        if channelCount == 1 { return all }
        return stride(from: channel, to: all.count, by: channelCount).map { all[$0] }
    }

    /// "WAV, 16-bit integer", "FLAC, 24-bit integer", "Ogg, Vorbis", … for a libsndfile format code.
    public static func describe(format: Int32) -> String {
        let major = Int(format) & Int(SF_FORMAT_TYPEMASK)
        let subtype = Int(format) & Int(SF_FORMAT_SUBMASK)
        let container: String
        switch major {
        case Int(SF_FORMAT_WAV): container = "WAV"
        case Int(SF_FORMAT_WAVEX): container = "WAV (extensible)"
        case Int(SF_FORMAT_RF64): container = "RF64"
        case Int(SF_FORMAT_W64): container = "Wave64"
        case Int(SF_FORMAT_AIFF): container = "AIFF"
        case Int(SF_FORMAT_CAF): container = "CAF"
        case Int(SF_FORMAT_AU): container = "AU"
        case Int(SF_FORMAT_FLAC): container = "FLAC"
        case Int(SF_FORMAT_OGG): container = "Ogg"
        case Int(SF_FORMAT_MPEG): container = "MPEG"
        case Int(SF_FORMAT_RAW): container = "raw"
        default: container = formatName(command: SFC_GET_FORMAT_MAJOR, format: Int32(major)) ?? String(format: major)
        }
        let encoding: String
        switch subtype {
        case Int(SF_FORMAT_PCM_S8), Int(SF_FORMAT_PCM_U8): encoding = "8-bit integer"
        case Int(SF_FORMAT_PCM_16): encoding = "16-bit integer"
        case Int(SF_FORMAT_PCM_24): encoding = "24-bit integer"
        case Int(SF_FORMAT_PCM_32): encoding = "32-bit integer"
        case Int(SF_FORMAT_FLOAT): encoding = "32-bit float"
        case Int(SF_FORMAT_DOUBLE): encoding = "64-bit float"
        case Int(SF_FORMAT_VORBIS): encoding = "Vorbis"
        case Int(SF_FORMAT_OPUS): encoding = "Opus"
        case Int(SF_FORMAT_ULAW): encoding = "µ-law"
        case Int(SF_FORMAT_ALAW): encoding = "A-law"
        case Int(SF_FORMAT_MPEG_LAYER_III): encoding = "MP3"
        default: encoding = formatName(command: SFC_GET_FORMAT_SUBTYPE, format: Int32(subtype)) ?? String(format: subtype)
        }
        return "\(container), \(encoding)"
    }

    /// libsndfile's own name for a major format or subtype, if it knows one.
    private static func formatName(command: Int, format: Int32) -> String? {
        var countValue: Int32 = 0
        let countCommand = command == Int(SFC_GET_FORMAT_MAJOR) ? SFC_GET_FORMAT_MAJOR_COUNT : SFC_GET_FORMAT_SUBTYPE_COUNT
        _ = sf_command(nil, Int32(countCommand), &countValue, Int32(MemoryLayout<Int32>.size))
        for index in 0..<countValue {
            var entry = SF_FORMAT_INFO()
            entry.format = index
            _ = sf_command(nil, Int32(command), &entry, Int32(MemoryLayout<SF_FORMAT_INFO>.size))
            if entry.format == format, let name = entry.name {
                return String(cString: name)
            }
        }
        return nil
    }
}

extension String {
    fileprivate init(format: Int) {
        self = "format 0x" + String(format, radix: 16)
    }
}

/// An error opening, reading or writing an audio file; `message` names the file, the cause and the fix.
public struct AudioFileError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Full explanation for the user.
    public let message: String
    /// The errno behind the error, if it came from the system (0 otherwise).
    public let code: Int32
    /// libsndfile's error number (`sf_error`), 0 if the error did not come from libsndfile.
    public let libsndfileCode: Int32

    public init(message: String, code: Int32 = 0, libsndfileCode: Int32 = 0) {
        self.message = message
        self.code = code
        self.libsndfileCode = libsndfileCode
    }

    public var description: String { message }

    static func cannotOpen(path: String, code: Int32) -> AudioFileError {
        let detail: String
        switch code {
        case ENOENT, ENOTDIR: detail = "the file does not exist. Check the path (and its spelling) and try again."
        case EACCES, EPERM: detail = "permission denied. Make the file readable for this user (chmod a+r \(path)) or copy it somewhere readable."
        case EISDIR: detail = "it is a directory. Give the path of an audio file inside it."
        default: detail = "\(errnoText(code)). Check the path and try again."
        }
        return AudioFileError(message: "Cannot open the audio file \(path): \(detail)", code: code)
    }

    static func notReadable(path: String, libsndfileMessage: String, code: Int32) -> AudioFileError {
        let what: String
        switch code {
        case Int32(SF_ERR_UNRECOGNISED_FORMAT): what = "it is not an audio file libsndfile recognises"
        case Int32(SF_ERR_MALFORMED_FILE): what = "the file is damaged"
        case Int32(SF_ERR_UNSUPPORTED_ENCODING): what = "its encoding is not supported"
        default: what = "the file is damaged or in a variant libsndfile cannot read"
        }
        return AudioFileError(
            message: "Cannot read the audio file \(path): \(what) (libsndfile says \"\(libsndfileMessage)\"). Convert it to WAV or FLAC, e.g. `sox \(path) out.wav` or `ffmpeg -i \(path) out.wav`, and try again.",
            libsndfileCode: code)
    }
}
