// Reading numpy .npy files (format versions 1.0, 2.0 and 3.0).
// Reference: numpy/lib/format.py, "A Simple File Format for NumPy Arrays" (NEP 1).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MelSystem

/// A numeric array read from a numpy `.npy` file.
///
/// Supported element types (`descr`): little-endian `<f4` (float32), `<f8` (float64), `<i2`
/// (int16) and `<u2` (uint16, the micro preset's golden outputs); `|i1`-style or big-endian types are rejected with `NpyFormatError`. Only C order
/// (`fortran_order: False`) is accepted. Values are stored as `Double` so `<f8` input stays exact;
/// `values` gives the same numbers rounded to `Float`. Integer types are converted to their
/// numeric value (an int16 of 1000 reads as 1000.0), not normalised.
public struct NpyArray: Sendable, Equatable {
    /// Array shape, outermost dimension first (C order). `[]` for a 0-d array (one element).
    public let shape: [Int]
    /// Element type as written in the header, e.g. `"<f4"`.
    public let descr: String
    /// The elements in C order, exactly as stored for `<f8`, widened for `<f4` and `<i2`.
    public let doubles: [Double]

    /// The elements in C order as `Float` (float64 input is rounded to nearest). Stored, not computed.
    public let values: [Float]

    /// Number of elements: the product of `shape` (1 for a 0-d array).
    public var count: Int { doubles.count }

    /// Makes an array from its parts; `doubles.count` must equal the product of `shape`.
    public init(shape: [Int], descr: String, doubles: [Double]) {
        precondition(shape.reduce(1, *) == doubles.count, "NpyArray: shape \(shape) does not hold \(doubles.count) elements")
        self.shape = shape
        self.descr = descr
        self.doubles = doubles
        self.values = doubles.map { Float($0) }
    }

    /// Reads and parses the `.npy` file at `path`.
    ///
    /// - Throws: `NpyFormatError` if the file cannot be read or is not a supported `.npy` array.
    public static func load(path: String) throws -> NpyArray {
        let bytes = try readWholeFile(path: path)
        do {
            return try NpyArray(data: bytes)
        } catch let error as NpyFormatError {
            throw NpyFormatError("\(path): \(error.message)")
        }
    }

    /// Parses the bytes of a complete `.npy` file.
    ///
    /// - Throws: `NpyFormatError` naming what is wrong (magic, version, header, dtype, order, size).
    public init(data: [UInt8]) throws {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"
        guard data.count >= 10, Array(data[0..<6]) == magic else {
            throw NpyFormatError("not a .npy file (the first bytes are not \\x93NUMPY); write it with numpy.save or meltap")
        }
        let major = data[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(data[8]) | Int(data[9]) << 8
            headerStart = 10
        case 2, 3:
            guard data.count >= 12 else { throw NpyFormatError("truncated .npy header") }
            headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
            headerStart = 12
        default:
            throw NpyFormatError("unsupported .npy format version \(major).\(data[7]); versions 1.0, 2.0 and 3.0 are supported")
        }
        let dataStart = headerStart + headerLength
        guard dataStart <= data.count else {
            throw NpyFormatError("truncated .npy header (needs \(dataStart) bytes, file has \(data.count))")
        }
        let header = String(decoding: data[headerStart..<dataStart], as: UTF8.self)
        let parsed = try NpyHeader.parse(header)
        guard !parsed.fortranOrder else {
            throw NpyFormatError("array is in Fortran order; save it in C order (numpy.ascontiguousarray) and try again")
        }
        // The shape comes from the file: multiply with overflow checks, so a hostile header is an
        // error, not a trap.
        var count = 1
        for dimension in parsed.shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw NpyFormatError("shape \(parsed.shape) has more elements than any file can hold; the header is corrupt")
            }
            count = product
        }
        let itemSize: Int
        switch parsed.descr {
        case "<f4": itemSize = 4
        case "<f8": itemSize = 8
        case "<i2", "<u2": itemSize = 2
        default:
            throw NpyFormatError("unsupported element type '\(parsed.descr)'; convert the array to little-endian float32 ('<f4'), float64 ('<f8'), int16 ('<i2') or uint16 ('<u2')")
        }
        let available = data.count - dataStart
        // count <= available / itemSize, written so that count * itemSize cannot overflow.
        guard count <= available / itemSize else {
            throw NpyFormatError("truncated data: shape \(parsed.shape) of '\(parsed.descr)' needs \(count) × \(itemSize) bytes, file has \(available)")
        }
        var doubles = [Double](repeating: 0, count: count)
        data.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart
            switch parsed.descr {
            case "<f4":
                for i in 0..<count {
                    doubles[i] = Double(Float(bitPattern: UInt32(littleEndian: (base + i * 4).loadUnaligned(as: UInt32.self))))
                }
            case "<f8":
                for i in 0..<count {
                    doubles[i] = Double(bitPattern: UInt64(littleEndian: (base + i * 8).loadUnaligned(as: UInt64.self)))
                }
            case "<u2":
                for i in 0..<count {
                    doubles[i] = Double(UInt16(littleEndian: (base + i * 2).loadUnaligned(as: UInt16.self)))
                }
            default:  // "<i2"
                for i in 0..<count {
                    doubles[i] = Double(Int16(littleEndian: (base + i * 2).loadUnaligned(as: Int16.self)))
                }
            }
        }
        self.init(shape: parsed.shape, descr: parsed.descr, doubles: doubles)
    }
}

/// An error reading or writing a `.npy` file; `message` says what is wrong and what to do.
public struct NpyFormatError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Human-readable explanation, naming the file where known.
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The parsed header dictionary of a `.npy` file.
struct NpyHeader: Equatable {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]

    /// Parses the Python-literal dictionary `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
    static func parse(_ text: String) throws -> NpyHeader {
        func fail(_ what: String) -> NpyFormatError {
            NpyFormatError("malformed .npy header (\(what)): \(text.trimmingTrailingWhitespace())")
        }
        guard let descr = stringValue(for: "descr", in: text) else { throw fail("no 'descr'") }
        guard let fortranText = rawValue(for: "fortran_order", in: text) else { throw fail("no 'fortran_order'") }
        let fortranOrder: Bool
        if fortranText.hasPrefix("True") {
            fortranOrder = true
        } else if fortranText.hasPrefix("False") {
            fortranOrder = false
        } else {
            throw fail("bad 'fortran_order'")
        }
        guard let shapeText = rawValue(for: "shape", in: text), shapeText.first == "(",
              let close = shapeText.firstIndex(of: ")") else { throw fail("no 'shape' tuple") }
        let inner = shapeText[shapeText.index(after: shapeText.startIndex)..<close]
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let trimmed = part.filter { !$0.isWhitespace }
            if trimmed.isEmpty { continue }
            guard let n = Int(trimmed), n >= 0 else { throw fail("bad dimension '\(trimmed)'") }
            shape.append(n)
        }
        return NpyHeader(descr: descr, fortranOrder: fortranOrder, shape: shape)
    }

    /// The text after `'key':` with leading spaces removed.
    private static func rawValue(for key: String, in text: String) -> Substring? {
        for quote in ["'", "\""] {
            if let range = text.firstRange(of: quote + key + quote) {
                var rest = text[range.upperBound...].drop { $0 == " " }
                guard rest.first == ":" else { continue }
                rest = rest.dropFirst().drop { $0 == " " }
                return rest
            }
        }
        return nil
    }

    /// The quoted string value of `key`.
    private static func stringValue(for key: String, in text: String) -> String? {
        guard let rest = rawValue(for: key, in: text), let quote = rest.first, quote == "'" || quote == "\"" else { return nil }
        let body = rest.dropFirst()
        guard let end = body.firstIndex(of: quote) else { return nil }
        return String(body[..<end])
    }
}

extension String {
    fileprivate func trimmingTrailingWhitespace() -> String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}

/// Reads the whole file at `path` with open(2)/read(2), retrying on EINTR.
func readWholeFile(path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        let code = errno
        throw NpyFormatError("cannot open \(path): \(String(cString: strerror(code)))" + openAdvice(code))
    }
    defer { close(fd) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { raw in retryingOnInterrupt { read(fd, raw.baseAddress, raw.count) } }
        if n < 0 {
            let code = errno
            throw NpyFormatError("cannot read \(path): \(String(cString: strerror(code)))")
        }
        if n == 0 { break }
        result.append(contentsOf: chunk[0..<n])
    }
    return result
}

/// A hint for a failed open(2), by errno.
func openAdvice(_ code: Int32) -> String {
    switch code {
    case ENOENT: return " (check the path; the file or its directory does not exist)"
    case EACCES, EPERM: return " (check the file's permissions, or run as a user who may read it)"
    case EISDIR: return " (the path is a directory; give a file)"
    default: return ""
    }
}
