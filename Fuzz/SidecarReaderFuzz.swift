// libFuzzer harness for the sidecar reader (MelFiles: `FeatureSidecar.decode`, which reads the
// current schema and the two older shapes, then `validate()`s the result).
// Built by scripts/fuzz together with the MelFiles sources, in one module:
//   swiftc -parse-as-library -sanitize=fuzzer,address -O -I Sources/CSndFile \
//       Fuzz/SidecarReaderFuzz.swift Sources/MelFiles/*.swift
//
// One input is the bytes of a whole sidecar. Seeds: Fuzz/corpus/sidecar (what meltap writes
// today, and the two older shapes, as in Tests/MelFilesTests/FeatureSidecarTests.swift).
//
// Invariants checked on every input (a failure traps, and libFuzzer keeps the input):
// - Only `SidecarReadError` is thrown, with a message.
// - What decodes is valid (`validate()` passes) and round-trips: encoded as the writer encodes
//   it, it decodes to an equal value, and encoding that gives the same bytes.

import Foundation

private func check(_ condition: Bool, _ what: @autoclosure () -> String) {
    if !condition { fatalError("sidecar fuzz invariant broken: \(what())") }
}

/// The writer's encoder (`Sidecar.write`): sorted keys, so equal values give equal bytes.
private let encoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return encoder
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func sidecarReaderFuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let sidecar: FeatureSidecar
    do {
        sidecar = try FeatureSidecar.decode(bytes)
    } catch let error as SidecarReadError {
        check(!error.message.isEmpty, "error without a message")
        return 0
    } catch {
        fatalError("sidecar fuzz invariant broken: non-sidecar error \(type(of: error)): \(error)")
    }

    do {
        try sidecar.validate()
    } catch {
        check(false, "decode returned a sidecar that does not validate: \(error)")
    }
    do {
        let written = Array(try encoder.encode(sidecar))
        let reread = try FeatureSidecar.decode(written)
        check(reread == sidecar, "round trip changed the sidecar: \(sidecar) became \(reread)")
        check(Array(try encoder.encode(reread)) == written, "re-encoding is not stable")
    } catch {
        check(false, "a sidecar that reads does not write and read back: \(error)")
    }
    return 0
}
