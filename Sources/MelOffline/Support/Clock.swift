import Foundation
import Glibc

/// The current wall-clock time in ISO 8601 with milliseconds and zone, e.g. 2025-01-31T12:00:00.123Z.
public func isoNow() -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: Date())
}

/// An error of the live pipeline: what went wrong and what to do, in one sentence or two.
public struct PipelineError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
