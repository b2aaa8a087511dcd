// Writing feature files as numpy .npy (format 1.0, little-endian float32, C order) that grow by rows.
// Reference: numpy/lib/format.py. The header is padded to a fixed size with room for 20 digits per
// dimension, so the row count can be rewritten in place (pwrite at offset 0) as rows are appended.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MelSystem

/// Writes a `.npy` file (version 1.0, `<f4`, C order) of shape `(rows,) + trailingShape`, one row
/// at a time, e.g. `(frames, bands)` or `(frames, channels, bands)`.
///
/// Two modes (see `Mode`): `.atomic` writes a hidden temporary file and renames it into place on
/// `finish()`, so a failed or abandoned run leaves no output; `.growing` writes at the final path and
/// keeps its header's row count current (`patchHeader()`, also automatically once a second), so the
/// file loads with numpy after the process is killed at any moment.
///
/// Data go out with write(2) in chunks of up to `bufferCapacity` bytes (64 KiB), retrying on EINTR
/// and short writes. On a write error (disk full, file size limit, quota, I/O) the writer truncates
/// any partial row, patches the header to the complete rows (`.growing`) or removes the temporary
/// file (`.atomic`), and throws `FeatureFileError`; every later call throws the same error.
///
/// Not thread-safe: use one writer from one thread at a time (it may move between threads, hence
/// `@unchecked Sendable`). Not real-time safe: it makes system calls; feed it from a disk thread.
public final class NpyWriter: @unchecked Sendable {
    /// How the file reaches its final path.
    public enum Mode: Sendable, Equatable {
        /// Write `.NAME.tmp-<pid>-<random>` beside the final path; `finish()` patches the header,
        /// fsyncs and moves it to the final path. `discard()`, an error, or deinit without `finish()` remove it.
        case atomic
        /// Write at the final path from the start (crash-safe recording): the header always claims
        /// only rows that are fully on disk, and is patched at least once a second while appending.
        case growing
    }

    /// Default size of the write buffer in bytes.
    public static let bufferCapacity = 1 << 16
    /// Room reserved in the header for each dimension, in decimal digits (Int.max has 19).
    public static let digitsPerDimension = 20

    /// The path the finished file has (in `.growing` mode, also the path being written).
    public let path: String
    /// The path being written: `path` in `.growing` mode, the hidden temporary file in `.atomic` mode.
    public let writingPath: String
    /// The mode chosen at creation.
    public let mode: Mode
    /// What happens to a file already at `path` (`.refuse` throws at creation or, in `.atomic`
    /// mode, at `finish()` if one appeared meanwhile).
    public let existing: ExistingOutput
    /// Shape of one row, e.g. `[bands]` or `[channels, bands]`; `[]` makes a 1-D file of scalars.
    public let trailingShape: [Int]
    /// Number of `Float` values in one row: the product of `trailingShape`.
    public let rowLength: Int
    /// Size of the header in bytes (a multiple of 64); data start at this offset.
    public let headerSize: Int
    /// In `.growing` mode, the automatic header patch happens when at least this many seconds passed
    /// since the last patch. Checked only inside `appendRows`: if appends can pause for long, also
    /// call `patchHeader()` from your own timer.
    public var patchInterval: Double = 1.0
    /// `.atomic` mode: the shape `finish()` writes into the header instead of `(rows,) +
    /// trailingShape`, for arrays whose axes are only known at the end (bands-first layouts,
    /// `FeatureAxisOrder`). Same number of dimensions and of values as the rows appended, which
    /// must already be in that shape's C order; `finish()` refuses a mismatch.
    public var finalShape: [Int]?

    /// Complete rows appended so far (some may still be in the write buffer).
    public var rowCount: Int { valuesAppended / rowLength }
    /// Row count the header on disk claims now (updated by `patchHeader()` and `finish()`).
    public private(set) var patchedRowCount: Int = 0

    private var fd: Int32
    /// The file this writer created (the temporary file in `.atomic` mode); the only thing it removes.
    private let created: CreatedFile
    private var buffer: UnsafeMutableRawBufferPointer
    private var bufferedBytes = 0
    /// Values passed to `appendRows` (complete rows and any partial trailing row).
    private var valuesAppended = 0
    /// Bytes of data (after the header) successfully written to the file.
    private var bytesOnDisk = 0
    private var lastPatchSeconds: Double
    private var state: State = .open

    private enum State { case open, finished, discarded, failed(FeatureFileError) }

    /// Creates the file and writes a header claiming zero rows.
    ///
    /// - Parameters:
    ///   - path: final path of the `.npy` file; its directory must exist and be writable.
    ///   - trailingShape: shape of one row (each dimension ≥ 1), e.g. `[128]` for 128 mel bands.
    ///   - mode: `.atomic` (default) or `.growing`; see `Mode`.
    ///   - existing: whether a regular file at `path` may be replaced. A symbolic link or anything
    ///     but a regular file at `path` is always refused; the writer never opens through a link.
    /// - Throws: `FeatureFileError` if the file cannot be created (the message says why and what to do).
    public init(path: String, trailingShape: [Int], mode: Mode = .atomic, existing: ExistingOutput = .refuse) throws {
        precondition(trailingShape.allSatisfy { $0 >= 1 }, "NpyWriter: every trailing dimension must be at least 1, got \(trailingShape)")
        self.path = path
        self.mode = mode
        self.existing = existing
        self.trailingShape = trailingShape
        self.rowLength = trailingShape.reduce(1, *)
        self.headerSize = NpyWriter.headerSize(dimensionCount: trailingShape.count + 1)
        switch mode {
        case .growing:
            (fd, created) = try OutputPath.create(path, existing: existing)
        case .atomic:
            try OutputPath.check(path, existing: existing)
            (fd, created) = try OutputPath.createTemporary(beside: path)
        }
        writingPath = created.path
        buffer = .allocate(byteCount: NpyWriter.bufferCapacity, alignment: 16)
        lastPatchSeconds = monotonicNow()
        do {
            try writeHeader(rows: 0)
            if lseek(fd, off_t(headerSize), SEEK_SET) < 0 { throw WriteFailure(code: errno) }
        } catch let failure as WriteFailure {
            close(fd)
            fd = -1
            created.remove()
            state = .discarded  // deinit runs (self is fully initialised) and frees the buffer
            throw FeatureFileError.writeFailed(path: path, code: failure.code, rowsSaved: 0, atomic: true)
        }
    }

    /// A writer dropped unfinished is discarded: `.growing` keeps what was recorded (as a patch,
    /// without the fsync of `finish()`), `.atomic` removes its temporary file.
    deinit {
        discard()
        buffer.deallocate()
    }

    /// Appends `values` in C order: whole rows, or pieces of rows that later calls complete.
    ///
    /// In `.growing` mode, patches the header when `patchInterval` seconds passed since the last patch.
    /// - Throws: `FeatureFileError` on a write error (see the type's documentation for what is left on disk).
    public func appendRows(_ values: UnsafeBufferPointer<Float>) throws {
        try checkOpen()
        var remaining = UnsafeRawBufferPointer(values)
        #if _endian(little)
        if remaining.count >= buffer.count {
            // A large append (a whole file's rows at the end): written from the caller's memory,
            // after what is buffered, with no copy through the buffer. Only whole values count as
            // appended, as below.
            try guarded {
                try flushBuffer()
                try writeCounting(remaining)
            }
            valuesAppended += remaining.count / 4
            remaining = UnsafeRawBufferPointer(rebasing: remaining[remaining.count...])
        }
        #endif
        while !remaining.isEmpty {
            let room = buffer.count - bufferedBytes
            let n = min(room, remaining.count)
            (buffer.baseAddress! + bufferedBytes).copyMemory(from: remaining.baseAddress!, byteCount: n)
            #if _endian(big)
            // .npy '<f4' is little-endian: swap in place on big-endian hosts.
            let words = (buffer.baseAddress! + bufferedBytes).assumingMemoryBound(to: UInt32.self)
            for i in 0..<(n / 4) { words[i] = words[i].littleEndian }
            #endif
            bufferedBytes += n
            valuesAppended += n / 4
            remaining = UnsafeRawBufferPointer(rebasing: remaining[n...])
            if bufferedBytes == buffer.count {
                try guarded { try flushBuffer() }
            }
        }
        if mode == .growing && monotonicNow() - lastPatchSeconds >= patchInterval {
            try patchHeader()
        }
    }

    /// Appends `values` in C order; see `appendRows(_: UnsafeBufferPointer<Float>)`.
    public func appendRows(_ values: [Float]) throws {
        try values.withUnsafeBufferPointer { try appendRows($0) }
    }

    /// Writes buffered data, then rewrites the header's row count to the complete rows on disk.
    ///
    /// After it returns, a process kill leaves a file that loads with exactly `patchedRowCount` rows.
    /// No fsync: the data survive the process, not a power cut (`finish()` fsyncs).
    public func patchHeader() throws {
        try checkOpen()
        try guarded {
            try flushBuffer()
            try patchHeaderUnchecked()
        }
    }

    /// Completes the file: writes buffered data, patches the header, fsyncs, and (`.atomic`) renames
    /// the temporary file to `path`. A partial trailing row (values not filling a row) is dropped.
    ///
    /// - Returns: the number of rows in the finished file.
    @discardableResult
    public func finish() throws -> Int {
        try checkOpen()
        try guarded {
            try flushBuffer()
            let rows = bytesOnDisk / (rowLength * 4)
            if bytesOnDisk != rows * rowLength * 4 {
                bytesOnDisk = rows * rowLength * 4
                if ftruncate(fd, off_t(headerSize + bytesOnDisk)) != 0 { throw WriteFailure(code: errno) }
            }
            if let finalShape {
                precondition(mode == .atomic && finalShape.count == trailingShape.count + 1
                             && finalShape.reduce(1, *) == rows * rowLength,
                             "finalShape \(finalShape) does not hold the \(rows) rows of \(trailingShape) appended")
            }
            try patchHeaderUnchecked()
            if Durability.syncsEachFile, fsync(fd) != 0 { throw WriteFailure(code: errno) }
        }
        close(fd)
        fd = -1
        if mode == .atomic {
            do {
                try OutputPath.install(created, at: path, existing: existing)
            } catch {
                state = .discarded
                throw error
            }
        }
        state = .finished
        return patchedRowCount
    }

    /// Abandons the file: `.atomic` removes the temporary file; `.growing` patches the header
    /// (best effort) and keeps the rows recorded so far. Safe to call more than once and after errors.
    public func discard() {
        switch state {
        case .open:
            if mode == .growing {
                try? flushBuffer()
                try? patchHeaderUnchecked()
            }
            close(fd)
            fd = -1
            if mode == .atomic { created.remove() }
            state = .discarded
        case .failed:
            if fd >= 0 { close(fd); fd = -1 }
            if mode == .atomic { created.remove() }
        case .finished, .discarded:
            break
        }
    }

    /// Abandons the file and removes it (in `.growing` mode too) if the path still names the
    /// file this writer created. For a start-up that failed after the writer was made.
    public func remove() {
        discard()
        created.remove()
    }

    // MARK: - Internals

    /// Header size in bytes for an array with `dimensionCount` dimensions: the smallest multiple of
    /// 64 that holds the magic, the length field, the dictionary with 20 digits per dimension and '\n'.
    public static func headerSize(dimensionCount: Int) -> Int {
        let widest = headerDictionary(shape: [Int](repeating: 0, count: dimensionCount), digitsEach: digitsPerDimension)
        let needed = 10 + widest.utf8.count + 1
        return (needed + 63) / 64 * 64
    }

    /// The dictionary text, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 128), }`.
    /// With `digitsEach`, every dimension is rendered as that many '9's (for sizing only).
    static func headerDictionary(shape: [Int], digitsEach: Int? = nil) -> String {
        let dims = shape.map { digitsEach.map { String(repeating: "9", count: $0) } ?? String($0) }
        let tuple = dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.joined(separator: ", ") + ")"
        return "{'descr': '<f4', 'fortran_order': False, 'shape': \(tuple), }"
    }

    /// The full header bytes for `rows` rows: magic, version 1.0, length, dictionary, space padding, '\n'.
    func headerBytes(rows: Int) -> [UInt8] {
        let dictionary = Array(NpyWriter.headerDictionary(shape: finalShape ?? [rows] + trailingShape).utf8)
        let length = headerSize - 10
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(length & 0xFF), UInt8(length >> 8)]
        bytes += dictionary
        bytes += [UInt8](repeating: 0x20, count: headerSize - 1 - bytes.count)
        bytes.append(0x0A)
        precondition(bytes.count == headerSize)
        return bytes
    }

    private func checkOpen() throws {
        switch state {
        case .open: return
        case .failed(let error): throw error
        case .finished: preconditionFailure("NpyWriter: \(path) was already finished")
        case .discarded: preconditionFailure("NpyWriter: \(path) was discarded")
        }
    }

    /// Runs `body`; on a write error, leaves the file loadable (or removed), records and rethrows.
    private func guarded(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as WriteFailure {
            let rowBytes = rowLength * 4
            let rows = bytesOnDisk / rowBytes
            var saved: Int? = nil
            if mode == .growing {
                // Drop a partial row, then claim exactly the complete rows. Neither needs new blocks.
                bytesOnDisk = rows * rowBytes
                _ = ftruncate(fd, off_t(headerSize + bytesOnDisk))
                if (try? patchHeaderUnchecked()) != nil { saved = rows } else { saved = patchedRowCount }
            } else {
                close(fd)
                fd = -1
                created.remove()
                saved = 0
            }
            // A row of shape (channels, bands) holds one frame per channel; (bands) holds one frame.
            let framesPerRow = trailingShape.count >= 2 ? trailingShape.dropLast().reduce(1, *) : 1
            let failure = FeatureFileError.writeFailed(path: path, code: error.code, rowsSaved: saved, atomic: mode == .atomic,
                                                       framesPerRow: framesPerRow)
            state = .failed(failure)
            throw failure
        } catch let error as FeatureFileError {
            state = .failed(error)
            if mode == .atomic { if fd >= 0 { close(fd); fd = -1 }; created.remove() }
            throw error
        }
    }

    /// A failed system call inside the writer, turned into `FeatureFileError` by `guarded`.
    private struct WriteFailure: Error { let code: Int32 }

    /// Writes the buffer (`writeAll`: write(2), retrying on EINTR and short writes); counts what
    /// reached the file.
    private func flushBuffer() throws {
        let count = bufferedBytes
        // Keep the unwritten tail out of later accounting, whatever happens.
        bufferedBytes = 0
        try writeCounting(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
    }

    /// Writes all of `bytes` (`writeAll`: write(2), retrying on EINTR and short writes) and
    /// counts what reached the file in `bytesOnDisk`, also when the write fails part-way.
    private func writeCounting(_ bytes: UnsafeRawBufferPointer) throws {
        let outcome = writeAll(fd, bytes)
        bytesOnDisk += outcome.written
        if !outcome.succeeded { throw WriteFailure(code: outcome.errorCode) }
    }

    /// Rewrites the header for the complete rows on disk (pwrite at offset 0, retrying on EINTR).
    private func patchHeaderUnchecked() throws {
        let rows = bytesOnDisk / (rowLength * 4)
        try writeHeader(rows: rows)
        patchedRowCount = rows
        lastPatchSeconds = monotonicNow()
    }

    private func writeHeader(rows: Int) throws {
        let outcome = headerBytes(rows: rows).withUnsafeBytes { writeAll(fd, $0, at: 0) }
        if !outcome.succeeded { throw WriteFailure(code: outcome.errorCode) }
    }
}

/// An error creating or writing a feature file (`.npy` or sidecar JSON).
///
/// `message` says what happened, how much was saved, and what to do; `code` is the errno behind it.
public struct FeatureFileError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Full explanation for the user.
    public let message: String
    /// The errno reported by the failing system call (0 if none).
    public let code: Int32
    /// Rows (frames) that remain loadable on disk after the error, if known; 0 for `.atomic` mode.
    public let rowsSaved: Int?

    public init(message: String, code: Int32 = 0, rowsSaved: Int? = nil) {
        self.message = message
        self.code = code
        self.rowsSaved = rowsSaved
    }

    public var description: String { message }

    /// The output file could not be created.
    static func cannotCreate(path: String, code: Int32) -> FeatureFileError {
        let directory = directoryName(of: path)
        let detail: String
        switch code {
        case ENOENT, ENOTDIR:
            detail = "the directory \(directory) does not exist. Create it (mkdir -p \(directory)) or choose another output path."
        case EACCES, EPERM:
            var info = stat()
            if lstat(path, &info) == 0, info.st_uid != getuid() {
                detail = "it belongs to uid \(info.st_uid), not to you (uid \(getuid())), and may not be replaced by you. Choose another output path."
            } else {
                detail = "permission denied: you (uid \(getuid())) may not create files in \(directory). Choose a directory you may write to, or change its permissions."
            }
        case EROFS:
            detail = "the file system is read-only. Choose an output path on a writable disk."
        case EISDIR:
            detail = "it is a directory. Give a file name, e.g. \(path.hasSuffix("/") ? path : path + "/")features.npy."
        case ENOSPC, EDQUOT:
            detail = "the disk is full (or your quota is used up). Free some space and run again."
        default:
            detail = "\(errnoText(code)). Check the output path and run again."
        }
        return FeatureFileError(message: "Cannot create \(path): \(detail)", code: code, rowsSaved: 0)
    }

    /// Writing failed after the file was created.
    static func writeFailed(path: String, code: Int32, rowsSaved: Int?, atomic: Bool = false,
                            framesPerRow: Int = 1) -> FeatureFileError {
        let what: String
        let remedy: String
        let again = atomic ? "run again" : "record again"
        switch code {
        case ENOSPC:
            what = "The disk is full while writing \(path)"
            remedy = "free space and \(again)"
        case EDQUOT:
            what = "The disk quota is used up while writing \(path)"
            remedy = "free space within your quota (or ask for a larger one) and \(again)"
        case EFBIG:
            what = "The file size limit was reached while writing \(path) (a file system limit or `ulimit -f`)"
            remedy = "raise the limit (ulimit -f unlimited), use a file system that allows larger files, or record shorter files"
        default:
            what = "Writing \(path) failed (\(errnoText(code)))"
            remedy = "check the disk (dmesg may say more) and \(again)"
        }
        let saved: String
        if atomic {
            saved = "nothing was saved (the unfinished file was removed)"
        } else if let rows = rowsSaved {
            let frames = rows * framesPerRow
            saved = "\(frames) frame\(frames == 1 ? " was" : "s were") saved"
                + (framesPerRow > 1 ? " (\(rows) row\(rows == 1 ? "" : "s") of \(framesPerRow) channels)" : "")
        } else {
            saved = "the file may be incomplete"
        }
        return FeatureFileError(message: "\(what): \(saved); \(remedy).", code: code, rowsSaved: atomic ? 0 : rowsSaved)
    }
}
