// Dataset mode: the one progress line on a terminal.

import Foundation
import Glibc

/// "  37/300 files  0.052 h of audio/s  ETA 0:42  1 failed", redrawn in place on standard error.
/// Drawn only when enabled and standard error is a terminal; `finish()` erases it.
///
/// The ETA weighs files by their size in bytes: the bytes still to do over the bytes per second
/// analysed so far (skipped files count as done and do not speed up the estimate).
final class DatasetProgress {
    private let enabled: Bool
    private let totalFiles: Int
    private let totalBytes: Int64
    private var drawn = false

    init(enabled: Bool, totalFiles: Int, totalBytes: Int64) {
        self.enabled = enabled && isatty(STDERR_FILENO) == 1
        self.totalFiles = totalFiles
        self.totalBytes = totalBytes
    }

    func draw(_ summary: DatasetSummary, bytesDone: Int64, bytesSkipped: Int64, elapsed: Double) {
        guard enabled, elapsed > 0 else { return }
        let done = summary.analysed + summary.skipped + summary.failures.count
        var line = "\r\(String(repeating: " ", count: max(0, String(totalFiles).count - String(done).count)))\(done)/\(totalFiles) files  "
            + String(format: "%.3f h of audio/s", summary.audioSeconds / 3600 / elapsed)
        let remaining = totalBytes - bytesDone - bytesSkipped
        if bytesDone > 0 {
            let eta = Int((Double(remaining) / (Double(bytesDone) / elapsed)).rounded())
            line += String(format: "  ETA %d:%02d:%02d", eta / 3600, eta / 60 % 60, eta % 60)
        }
        if !summary.failures.isEmpty { line += "  \(summary.failures.count) failed" }
        FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
        drawn = true
    }

    func finish() {
        guard drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
