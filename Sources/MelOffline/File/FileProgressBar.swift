import Foundation
import Glibc

/// `meltap file`'s progress bar (one input) on standard error, drawn only on a terminal and for inputs over
/// 10 s, at most every 0.1 s.
public final class FileProgressBar: FileAnalysisProgress {
    private var enabled = false
    private var totalSamples: Int64 = 0
    private var sampleRate = 1.0
    private var lastDrawn = Date.distantPast

    public init() {}

    public func started(totalSamples: Int64, sampleRate: Double) {
        enabled = isatty(STDERR_FILENO) == 1 && totalSamples > Int64(10 * sampleRate)
        self.totalSamples = totalSamples
        self.sampleRate = sampleRate
    }

    public func advanced(samplesRead: Int64) {
        guard enabled, Date().timeIntervalSince(lastDrawn) > 0.1 else { return }
        lastDrawn = Date()
        let fraction = min(1, Double(samplesRead) / Double(max(1, totalSamples)))
        let filled = Int(fraction * 30)
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: 30 - filled)
        FileHandle.standardError.write(String(format: "\r%@ %3.0f%%  %.1f of %.1f s", bar, fraction * 100,
                                              Double(samplesRead) / sampleRate, Double(totalSamples) / sampleRate).data(using: .utf8)!)
    }

    public func finished() {
        guard enabled else { return }
        FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!)
    }
}
