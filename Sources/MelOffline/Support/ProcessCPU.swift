import Foundation
import Glibc
import MelSystem

/// The process's CPU time (every thread) against wall time, for exit reports and status.
public struct ProcessCPU: Sendable {
    /// Seconds of user and system CPU time, and of CLOCK_MONOTONIC.
    public var user: Double, system: Double, wall: Double

    public static func now() -> ProcessCPU {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
        return ProcessCPU(user: seconds(usage.ru_utime), system: seconds(usage.ru_stime), wall: monotonicNow())
    }

    /// CPU seconds per wall second since `start`, as a percentage of one core.
    public func percentOfOneCore(since start: ProcessCPU) -> Double {
        let wall = self.wall - start.wall
        return wall > 0 ? 100 * (user - start.user + system - start.system) / wall : 0
    }

    /// "CPU 0.41 s user + 0.12 s system over 20.0 s running = 2.7 % of one core (all threads)".
    public func share(since start: ProcessCPU) -> String {
        let user = self.user - start.user, system = self.system - start.system, wall = self.wall - start.wall
        return "CPU \(String(format: "%.2f", user)) s user + \(String(format: "%.2f", system)) s system over "
            + "\(String(format: "%.1f", wall)) s running = \(String(format: "%.1f", percentOfOneCore(since: start))) % of one core (all threads)"
    }
}
