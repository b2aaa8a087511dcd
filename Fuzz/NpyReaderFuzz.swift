// libFuzzer harness for the .npy reader (MelFiles: `NpyArray(data:)` and its header parser).
// Built by scripts/fuzz together with the MelFiles sources, in one module:
//   swiftc -parse-as-library -sanitize=fuzzer,address -O -I Sources/CSndFile \
//       Fuzz/NpyReaderFuzz.swift Sources/MelFiles/*.swift
//
// One input is the bytes of a whole file. Seeds: Fuzz/corpus/npy (files as meltap and numpy
// write them). No sidecar harness: nothing in meltap reads a sidecar back.
//
// Invariants checked on every input (a failure traps, and libFuzzer keeps the input):
// - Only `NpyFormatError` is thrown, with a message.
// - A file that parses holds all its data: the shape's product is the element count, and the
//   file has at least header + count × item size bytes (so nothing was read past the end and no
//   allocation was sized by the header alone).
// - Every element equals the one read independently from the data bytes; `values` is `doubles`
//   rounded to Float.

private func check(_ condition: Bool, _ what: @autoclosure () -> String) {
    if !condition { fatalError("npy fuzz invariant broken: \(what())") }
}

/// Same value, NaN equal to NaN (payloads may be quieted by conversions).
private func same(_ a: Double, _ b: Double) -> Bool { a == b || (a.isNaN && b.isNaN) }
private func same(_ a: Float, _ b: Float) -> Bool { a == b || (a.isNaN && b.isNaN) }

/// The little-endian element of type `descr` (`<f4`, `<f8`, `<i2`, `<u2`) at `offset`.
private func element(_ bytes: [UInt8], at offset: Int, descr: String, itemSize: Int) -> Double {
    var bits: UInt64 = 0
    for k in 0..<itemSize { bits |= UInt64(bytes[offset + k]) << (8 * UInt64(k)) }
    switch descr {
    case "<f4": return Double(Float(bitPattern: UInt32(truncatingIfNeeded: bits)))
    case "<f8": return Double(bitPattern: bits)
    case "<u2": return Double(UInt16(truncatingIfNeeded: bits))
    default: return Double(Int16(truncatingIfNeeded: bits))
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func npyReaderFuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let array: NpyArray
    do {
        array = try NpyArray(data: bytes)
    } catch let error as NpyFormatError {
        check(!error.message.isEmpty, "error without a message")
        return 0
    } catch {
        fatalError("npy fuzz invariant broken: non-npy error \(error)")
    }

    // Where the data starts, read independently of the reader.
    check(bytes.count >= 10, "parsed a file of \(bytes.count) bytes")
    let major = bytes[6]
    let dataStart: Int
    switch major {
    case 1: dataStart = 10 + (Int(bytes[8]) | Int(bytes[9]) << 8)
    case 2, 3:
        dataStart = 12 + (Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24)
    default: fatalError("npy fuzz invariant broken: parsed format version \(major)")
    }
    let itemSize: Int
    switch array.descr {
    case "<f4": itemSize = 4
    case "<f8": itemSize = 8
    case "<i2", "<u2": itemSize = 2
    default: fatalError("npy fuzz: the reader accepts '\(array.descr)'; teach Fuzz/NpyReaderFuzz.swift its size")
    }

    check(array.shape.allSatisfy { $0 >= 0 }, "negative dimension in \(array.shape)")
    var product = 1
    for dimension in array.shape {
        let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
        check(!overflow, "shape \(array.shape) overflows but parsed")
        product = next
    }
    check(product == array.count && array.doubles.count == array.count && array.values.count == array.count,
          "shape \(array.shape) with \(array.doubles.count) doubles, \(array.values.count) values")
    check(dataStart + array.count * itemSize <= bytes.count,
          "shape \(array.shape) of \(array.descr) needs more than the \(bytes.count) bytes given")

    for i in 0..<array.count {
        let expected = element(bytes, at: dataStart + i * itemSize, descr: array.descr, itemSize: itemSize)
        check(same(array.doubles[i], expected), "element \(i): \(array.doubles[i]), file has \(expected)")
        check(same(array.values[i], Float(array.doubles[i])), "element \(i): values and doubles disagree")
    }
    return 0
}
