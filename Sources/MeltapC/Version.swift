// The library's version: the header's MELTAP_VERSION_* macros must agree with these.

import MelDSP
import MelOffline

/// The C ABI's version, major · 10000 + minor · 100 + patch: 0.1.0 is 100. A caller compares
/// it with `MELTAP_VERSION` from the header it compiled against; the major number changes only
/// when the ABI breaks.
@c(meltap_version)
public func meltapABIVersion() -> Int32 { 100 }

/// `meltap_version_string`: meltap's version, as `meltap --version` prints it and every sidecar's
/// `meltapVersion` records it ("0.1.0"). Static storage; never free it.
@c(meltap_version_string)
public func meltapVersionString() -> UnsafePointer<CChar> { versionText }

private nonisolated(unsafe) let versionText: UnsafePointer<CChar> = UnsafePointer(strdupStatic(meltapVersion))

/// A C copy of `text` that lives as long as the process.
func strdupStatic(_ text: String) -> UnsafeMutablePointer<CChar> {
    let bytes = Array(text.utf8CString)
    let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
    pointer.initialize(from: bytes, count: bytes.count)
    return pointer
}

/// `meltap_presets`: the preset names, comma-separated ("librosa,torchaudio,kaldi,whisper,micro,openwakeword"),
/// as `--preset` takes them. Static storage; never free it.
@c(meltap_presets)
public func meltapPresets() -> UnsafePointer<CChar> { presetNames }

private nonisolated(unsafe) let presetNames: UnsafePointer<CChar> =
    UnsafePointer(strdupStatic(MelPreset.allCases.map(\.rawValue).joined(separator: ",")))
