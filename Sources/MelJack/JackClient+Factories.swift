import CJack
import Foundation
import MelDSP
import MelRealtime

/// What `JackClient` builds before and after activation: the JACK client (never starting a
/// server), every stream's configuration, its analyzers and resamplers. Not real-time safe.
extension JackClient {
    /// Opens a client without starting a server.
    static func openClient(name: String) throws -> OpaquePointer {
        var status = jack_status_t(0)
        if let client = meltap_jack_client_open(name, JackNoStartServer, &status) { return client }
        let server = ProcessInfo.processInfo.environment["JACK_DEFAULT_SERVER"] ?? "default"
        if status.rawValue & JackServerFailed.rawValue != 0 || status.rawValue & JackServerError.rawValue != 0 {
            throw JackClientError(
                "No JACK server is running (server name \"\(server)\"). Start one, for example "
                + "`jackd -d dummy -r 48000 -p 256 &` (or `jackd -d alsa` for a sound card), "
                + "or use `meltap run --start-server`.")
        }
        throw JackClientError("Cannot open a JACK client named \"\(name)\" on server \"\(server)\" "
                              + "(status 0x\(String(status.rawValue, radix: 16))). Check the server's messages.")
    }

    /// Every stream's configuration at its analysis rate (its own, or `inputRate`).
    static func makeConfigurations(_ streams: [JackStreamSpec], inputRate: Double) throws -> [MelConfiguration] {
        try streams.map { stream in
            let analysisRate = stream.analysisSampleRate ?? inputRate
            let named = stream.name.isEmpty ? "" : "stream \(stream.name): "
            do { return try stream.makeConfiguration(analysisRate) } catch {
                throw JackClientError(analysisRate == inputRate
                    ? "\(named)Cannot configure the analyzer for the server's sample rate \(Int(inputRate)) Hz: \(error)"
                    : "\(named)Cannot configure the analyzer for the analysis rate \(Int(analysisRate)) Hz: \(error)")
            }
        }
    }

    /// Every stream's analyzers, and one prefaulted resampler per channel per distinct analysis
    /// rate other than `inputRate`, owned by the first stream at that rate.
    static func makeParts(_ configurations: [MelConfiguration], inputRate: Double, options: JackClientOptions,
                          count: Int) throws -> [AnalyzerSet.Parts] {
        do {
            return try AnalyzerSet.makeParts(configurations, inputRate: inputRate, clampRule: options.clampRule,
                                             resamplerQuality: options.resamplerQuality, channelCount: count)
        } catch AnalyzerSetError.analyzer(let error) {
            throw JackClientError("Invalid analyzer configuration: \(error)")
        } catch AnalyzerSetError.resampler(let error) {
            throw JackClientError("\(error)")
        }
    }
}
