// The C ABI's offline driver: `meltap file` on one audio file, its array and sidecar returned.

import Foundation
import MelDSP
import MelFiles
import MelOffline
import Synchronization

/// A finished file analysis behind `meltap_file_result *`: the array `meltap file` writes, in
/// its layout, and the sidecar JSON text beside it. Immutable; freed by
/// `meltap_file_result_destroy`.
final class FileResult {
    /// The array's shape: (frames, bands), (frames, channels, bands) or bands first.
    let shape: [Int]
    /// The values, C order, `shape.reduce(1, *)` floats.
    let values: UnsafeMutableBufferPointer<Float>
    /// The sidecar JSON, NUL-terminated.
    let sidecar: UnsafeMutablePointer<CChar>

    /// Copies `values` (an array read back from a file).
    convenience init(shape: [Int], values: [Float], sidecar: String) {
        let rows = KeptRows(reserving: max(1, values.count))  // a block even when empty, as before
        values.withUnsafeBufferPointer { rows.append($0) }
        self.init(shape: shape, adopting: rows, sidecar: sidecar)
    }

    /// Adopts the rows' `malloc`'d block itself: no copy (a 30 s Whisper array is 960 kB, and a
    /// fresh block would also be first-touched page by page).
    init(shape: [Int], adopting rows: KeptRows, sidecar: String) {
        self.shape = shape
        let count = rows.count
        values = UnsafeMutableBufferPointer(start: rows.takeValues(), count: count)
        self.sidecar = strdupStatic(sidecar)
    }

    deinit {
        free(values.baseAddress)  // malloc'd by KeptRows; free(nil) does nothing
        sidecar.deallocate()
    }
}

/// Runs `FileAnalyzer` (the driver of `meltap file`) on `input` into `featurePath`.
private func analyse(_ input: String, into featurePath: String, existing: ExistingOutput,
                     preset: String?, options: String?) throws -> FileAnalysisResult {
    let parsed = try FileAnalysisOptions.parse(preset: preset, options: options, use: .file)
    return try FileAnalyzer(options: parsed).analyse(input, into: featurePath, existing: existing)
}

/// The message of an error thrown by the offline driver or the option reader.
private func message(of error: any Error) -> String {
    (error as? CallError)?.message ?? "\(error)"
}

/// `meltap_file_analyze`: see include/meltap.h. The analysis writes to a private temporary
/// directory (the driver renames its .npy into place only when all succeeded), which is read
/// back and removed: the array is byte for byte the one `meltap file` writes.
@c(meltap_file_analyze)
public func meltapFileAnalyze(_ path: UnsafePointer<CChar>?, _ preset: UnsafePointer<CChar>?,
                              _ options: UnsafePointer<CChar>?) -> OpaquePointer? {
    guard let input = string(path), !input.isEmpty else {
        setLastError("meltap_file_analyze: the path is NULL or empty; give the audio file to analyse.")
        return nil
    }
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("meltap-c-\(getpid())-\(UUID().uuidString)").path
    do {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
    } catch {
        setLastError("meltap_file_analyze: cannot create a temporary directory \(directory): \(error). Set TMPDIR to a writable directory.")
        return nil
    }
    defer { try? FileManager.default.removeItem(atPath: directory) }
    do {
        let result = try analyse(input, into: directory + "/features.npy", existing: .refuse,
                                 preset: string(preset), options: string(options))
        let array = try NpyArray.load(path: result.featurePath)
        let sidecar = try String(contentsOfFile: result.sidecarPath, encoding: .utf8)
        let handle = FileResult(shape: array.shape, values: array.values, sidecar: sidecar)
        return OpaquePointer(Unmanaged.passRetained(handle).toOpaque())
    } catch {
        setLastError(message(of: error))
        return nil
    }
}

/// A `FileAnalyzer` for one preset and options text, kept between `meltap_analyze_samples`
/// calls, with the configuration JSON it returned per analysis rate. Reusing it skips, per call,
/// the option parsing, the configuration's resolution and JSON encoding, the FFT planning and
/// the mel bank (`FileAnalyzer` keeps reset analyzers; a reused one gives the same bits as a new
/// one): for a 0.5 s clip these were most of the call. Shared by threads: `FileAnalyzer` runs
/// any number of analyses at once.
private final class CachedAnalyzer: Sendable {
    let analyzer: FileAnalyzer
    /// Per analysis rate, the resolved configuration as sorted-keys JSON text.
    private let configurationText = Mutex<[Double: String]>([:])

    init(_ analyzer: FileAnalyzer) { self.analyzer = analyzer }

    func configurationJSON(of analysed: AnalysedSamples) -> String {
        if let known = configurationText.withLock({ $0[analysed.analysisRate] }) { return known }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = (try? encoder.encode(analysed.configuration)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        configurationText.withLock { $0[analysed.analysisRate] = json }
        return json
    }
}

/// The cached analyzers by preset and options text (as given: "n-mels=40" and "n-mels=40,"
/// are two entries). At most `cachedAnalyzerLimit`; when full it is emptied (analyses running
/// keep their analyzer alive).
private let cachedAnalyzers = Mutex<[String: CachedAnalyzer]>([:])
private let cachedAnalyzerLimit = 32

/// The cached analyzer for `preset` and `options`, made (and kept) on first use.
/// - Throws: `CallError` for an unknown preset or option or a bad value: nothing is cached then.
private func cachedAnalyzer(preset: String?, options: String?) throws(CallError) -> CachedAnalyzer {
    let key = (preset ?? "") + "\u{0}" + (options ?? "")
    if let known = cachedAnalyzers.withLock({ $0[key] }) { return known }
    let made = CachedAnalyzer(FileAnalyzer(options: try FileAnalysisOptions.parse(preset: preset, options: options,
                                                                                  use: .file)))
    return cachedAnalyzers.withLock { cache in
        if let raced = cache[key] { return raced }
        if cache.count >= cachedAnalyzerLimit { cache.removeAll() }
        cache[key] = made
        return made
    }
}

/// `meltap_analyze_samples`: see include/meltap.h. `FileAnalyzer.analyse(samples:…)`, the
/// driver of `meltap file` reading the caller's samples instead of a file; the rows stay in
/// memory (no temporary file). The samples are borrowed for the call only.
@c(meltap_analyze_samples)
public func meltapAnalyzeSamples(_ samples: UnsafePointer<Float>?, _ count: Int, _ sampleRate: Double,
                                 _ preset: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?) -> OpaquePointer? {
    guard let samples, count > 0 else {
        setLastError("meltap_analyze_samples: no samples (NULL or a count of \(count)); give at least one sample.")
        return nil
    }
    guard count <= StreamAnalyzer.maximumCount else {
        setLastError("meltap_analyze_samples: \(count) samples is more than one call takes "
                     + "(\(StreamAnalyzer.maximumCount)); analyse the signal in parts with an analyzer.")
        return nil
    }
    let range = AnalysisRate.range
    guard sampleRate >= Double(range.lowerBound), sampleRate <= Double(range.upperBound) else {
        setLastError("meltap_analyze_samples: please give the sample rate in Hz from \(range.lowerBound) to "
                     + "\(range.upperBound), e.g. 16000; got \(sampleRate).")
        return nil
    }
    do {
        let cached = try cachedAnalyzer(preset: string(preset), options: string(options))
        let analysed = try cached.analyzer.analyse(samples: UnsafeBufferPointer(start: samples, count: count),
                                                   sampleRate: sampleRate, rejectingNonFinite: true)
        let handle = FileResult(shape: analysed.shape, adopting: analysed.values,
                                sidecar: cached.configurationJSON(of: analysed))
        return OpaquePointer(Unmanaged.passRetained(handle).toOpaque())
    } catch let error as NonFiniteSampleError {
        setLastError("meltap_analyze_samples: \(error)")
        return nil
    } catch {
        setLastError(message(of: error))
        return nil
    }
}

/// `meltap_file_write`: see include/meltap.h.
@c(meltap_file_write)
public func meltapFileWrite(_ path: UnsafePointer<CChar>?, _ output: UnsafePointer<CChar>?,
                            _ preset: UnsafePointer<CChar>?, _ options: UnsafePointer<CChar>?,
                            _ replace: Int32) -> Int32 {
    guard let input = string(path), !input.isEmpty, let featurePath = string(output), !featurePath.isEmpty else {
        setLastError("meltap_file_write: the input or output path is NULL or empty; give both.")
        return -1
    }
    guard featurePath.hasSuffix(".npy") else {
        setLastError("meltap_file_write: please give an output path ending in .npy; got '\(featurePath)'.")
        return -1
    }
    do {
        _ = try analyse(input, into: featurePath, existing: replace != 0 ? .replace : .refuse,
                        preset: string(preset), options: string(options))
        return 0
    } catch {
        setLastError(message(of: error))
        return -1
    }
}

/// The `FileResult` behind a handle; nil for NULL.
private func fileResult(_ handle: OpaquePointer?) -> FileResult? {
    handle.map { Unmanaged<FileResult>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
}

/// `meltap_file_result_ndim`: see include/meltap.h.
@c(meltap_file_result_ndim)
public func meltapFileResultDimensions(_ handle: OpaquePointer?) -> Int {
    fileResult(handle)?.shape.count ?? 0
}

/// `meltap_file_result_dim`: see include/meltap.h.
@c(meltap_file_result_dim)
public func meltapFileResultDimension(_ handle: OpaquePointer?, _ axis: Int) -> Int {
    guard let result = fileResult(handle), result.shape.indices.contains(axis) else { return 0 }
    return result.shape[axis]
}

/// `meltap_file_result_count`: see include/meltap.h.
@c(meltap_file_result_count)
public func meltapFileResultCount(_ handle: OpaquePointer?) -> Int {
    fileResult(handle).map { $0.shape.reduce(1, *) } ?? 0
}

/// `meltap_file_result_data`: see include/meltap.h.
@c(meltap_file_result_data)
public func meltapFileResultData(_ handle: OpaquePointer?) -> UnsafePointer<Float>? {
    fileResult(handle).flatMap { UnsafePointer($0.values.baseAddress) }
}

/// `meltap_file_result_sidecar`: see include/meltap.h.
@c(meltap_file_result_sidecar)
public func meltapFileResultSidecar(_ handle: OpaquePointer?) -> UnsafePointer<CChar>? {
    fileResult(handle).map { UnsafePointer($0.sidecar) }
}

/// `meltap_file_result_destroy`: see include/meltap.h.
@c(meltap_file_result_destroy)
public func meltapFileResultDestroy(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<FileResult>.fromOpaque(UnsafeRawPointer(handle)).release()
}
