// Reading sidecars: the current schema ("meltap.features/2") and the two unversioned shapes
// meltap wrote before it (`meltap file`'s and `meltap record`'s), all into `FeatureSidecar`.
// docs/file-format.md, "Sidecar", describes every key and the older shapes.

import Foundation

/// Why a sidecar could not be read: the file, the key (a path such as `recording.gaps[2].toSequence`,
/// nil when the problem is the whole document), and what is wrong, with what to do about it.
public struct SidecarReadError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The sidecar's path; nil when bytes were decoded directly.
    public let path: String?
    /// The offending key as a path from the top level; nil for the document as a whole.
    public let key: String?
    /// What is wrong with it.
    public let message: String

    public init(path: String? = nil, key: String?, message: String) {
        self.path = path
        self.key = key
        self.message = message
    }

    public var description: String {
        "Cannot read the sidecar" + (path.map { " \($0)" } ?? "") + ": "
            + (key.map { "key `\($0)` \(message)" } ?? message)
    }
}

extension FeatureSidecar {
    /// Reads the sidecar at `path`: the current schema, or either older shape (converted).
    /// - Throws: `SidecarReadError` naming the file, the key and what is wrong.
    public static func read(path: String) throws -> FeatureSidecar {
        let bytes: [UInt8]
        do {
            bytes = try readWholeFile(path: path)
        } catch let error as NpyFormatError {
            throw SidecarReadError(path: path, key: nil, message: error.message)
        }
        do {
            return try decode(bytes)
        } catch let error as SidecarReadError {
            throw SidecarReadError(path: path, key: error.key, message: error.message)
        }
    }

    /// Decodes a sidecar's UTF-8 JSON: `meltap.features/2`, or an older shape, which is
    /// recognised by its keys (`kind: meltap-recording`; `source` with `firstSampleOfFrame0`)
    /// and converted. The result is checked (`validate()`).
    /// - Throws: `SidecarReadError` naming the key and what is wrong.
    public static func decode(_ bytes: [UInt8]) throws -> FeatureSidecar {
        let document: JSONValue
        do {
            document = try JSONValue(json: bytes)
        } catch {
            throw SidecarReadError(key: nil, message: "is not valid JSON (\(jsonErrorText(error))). A sidecar is the "
                                   + ".json meltap writes beside a .npy; if it was edited, check its syntax.")
        }
        guard let members = document.objectValue else {
            throw SidecarReadError(key: nil, message: "holds \(document.kindDescription) at the top level; a sidecar is a JSON object.")
        }
        let sidecar: FeatureSidecar
        if let schema = members["schema"] {
            guard let name = schema.stringValue else {
                throw SidecarReadError(key: "schema", message: "is \(schema.kindDescription); expected the string \(currentSchema).")
            }
            guard name == currentSchema else {
                let advice = name.hasPrefix("meltap.features/")
                    ? "this meltap reads \(currentSchema) and the two older unversioned shapes; read the file with the meltap version that wrote it, or a newer one."
                    : "it is not a meltap sidecar schema (this meltap reads \(currentSchema))."
                throw SidecarReadError(key: "schema", message: "is '\(name)': \(advice)")
            }
            sidecar = try decodeKeys(FeatureSidecar.self, bytes, shape: nil)
        } else if let kind = members["kind"] {
            guard kind.stringValue == "meltap-recording" else {
                throw SidecarReadError(key: "kind", message: "is \(kind.stringValue.map { "'\($0)'" } ?? kind.kindDescription) "
                                       + "and there is no `schema` key: this is not a meltap sidecar (old recording "
                                       + "sidecars have kind 'meltap-recording'; current ones a `schema` key).")
            }
            sidecar = try decodeKeys(LegacyRecordingSidecar.self, bytes, shape: "old recording shape").converted()
        } else if members["source"] != nil, members["firstSampleOfFrame0"] != nil {
            sidecar = try decodeKeys(LegacyFileSidecar.self, bytes, shape: "old file shape").converted()
        } else {
            throw SidecarReadError(key: "schema", message: "is missing, and the document is not one of the older shapes "
                                   + "either (a recording sidecar with kind 'meltap-recording', or a file sidecar with "
                                   + "`source` and `firstSampleOfFrame0`). Is this a meltap sidecar?")
        }
        try sidecar.validate()
        return sidecar
    }

    /// Checks what decoding cannot: that the keys agree with each other.
    /// - Throws: `SidecarReadError` naming the first key that is wrong.
    public func validate() throws {
        func fail(_ key: String, _ message: String) -> SidecarReadError { SidecarReadError(key: key, message: message) }
        guard dtype == "float32" else { throw fail("dtype", "is '\(dtype)'; meltap feature files are float32.") }
        guard (1...2).contains(rowShape.count), rowShape.allSatisfy({ $0 >= 1 }) else {
            throw fail("rowShape", "is \(rowShape); expected [bands] or [channels, bands], each at least 1.")
        }
        let expectedLayout = (axisOrder ?? .framesFirst).layout(forRowShape: rowShape)
        guard layout == expectedLayout else {
            throw fail("layout", "is '\(layout)' but rowShape \(rowShape) means '\(expectedLayout)'.")
        }
        if let rows, rows < 0 { throw fail("rows", "is \(rows); a row count is 0 or more.") }
        for (key, rate) in [("sampleRate", sampleRate), ("inputSampleRate", inputSampleRate), ("frameRate", frameRate)] {
            guard rate.isFinite, rate > 0 else { throw fail(key, "is \(rate); a rate in Hz is positive.") }
        }
        guard configuration.objectValue != nil else {
            throw fail("configuration", "is \(configuration.kindDescription); expected the resolved configuration as an object.")
        }
        let expectedChannels = rowShape.count == 2 ? rowShape[0] : 1
        guard channels.count == expectedChannels else {
            throw fail("channels", "lists \(channels.count) channel(s) but rowShape \(rowShape) holds \(expectedChannels).")
        }
        let inputChannels = file?.channelCount ?? stream?.channelCount
        for (index, entry) in channels.enumerated() {
            let numbers: [Int]
            switch (entry.channel, entry.averageOf) {
            case (let channel?, nil): numbers = [channel]
            case (nil, let averaged?) where !averaged.isEmpty: numbers = averaged
            default:
                throw fail("channels[\(index)]", "needs exactly one of `channel` (a channel number) and `averageOf` (a non-empty list).")
            }
            if let bad = numbers.first(where: { number in number < 1 || number > (inputChannels ?? Int.max) }) {
                throw fail("channels[\(index)]", "names channel \(bad); channels are numbered from 1"
                           + (inputChannels.map { " to \($0), the input's channel count" } ?? "") + ".")
            }
        }
        switch kind {
        case .file:
            guard file != nil else { throw fail("file", "is missing; a sidecar of kind 'file' describes its audio file there.") }
            guard stream == nil, recording == nil else {
                throw fail(stream != nil ? "stream" : "recording", "is present, but only recordings have it (kind is 'file').")
            }
        case .recording:
            guard stream != nil else { throw fail("stream", "is missing; a sidecar of kind 'recording' describes its stream there.") }
            guard recording != nil else { throw fail("recording", "is missing; a sidecar of kind 'recording' needs it.") }
            guard file == nil else { throw fail("file", "is present, but only file analyses have it (kind is 'recording').") }
        }
    }

    /// A stream header's configuration JSON split into the configuration proper and the two keys
    /// `meltap run` adds beside its keys (`inputSampleRate`, Hz; `resampler`: a name or `none`).
    public static func splitStreamConfiguration(_ value: JSONValue)
        -> (configuration: JSONValue, inputSampleRate: Double?, resampler: String?) {
        guard var members = value.objectValue else { return (value, nil, nil) }
        let inputRate = members.removeValue(forKey: "inputSampleRate")?.doubleValue
        let resampler = members.removeValue(forKey: "resampler")?.stringValue
        return (.object(members), inputRate, resampler == "none" ? nil : resampler)
    }
}

// MARK: Decoding errors

/// Decodes `bytes` as `type`, turning a `DecodingError` into a `SidecarReadError` naming the key.
private func decodeKeys<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], shape: String?) throws -> T {
    do {
        return try JSONDecoder().decode(type, from: Data(bytes))
    } catch let error as DecodingError {
        let suffix = shape.map { " (reading the \($0))" } ?? ""
        switch error {
        case .keyNotFound(let key, let context):
            throw SidecarReadError(key: keyPath(context.codingPath + [key]), message: "is missing\(suffix).")
        case .typeMismatch(let expected, let context):
            throw SidecarReadError(key: keyPath(context.codingPath),
                                   message: "has the wrong type: expected \(typeDescription(expected))\(suffix).")
        case .valueNotFound(let expected, let context):
            throw SidecarReadError(key: keyPath(context.codingPath),
                                   message: "is null: expected \(typeDescription(expected))\(suffix).")
        case .dataCorrupted(let context):
            throw SidecarReadError(key: context.codingPath.isEmpty ? nil : keyPath(context.codingPath),
                                   message: "has a value that does not fit: \(context.debugDescription)\(suffix).")
        @unknown default:
            throw SidecarReadError(key: nil, message: "cannot be decoded: \(error)\(suffix).")
        }
    }
}

/// `recording.gaps[2].toSequence` for a coding path.
private func keyPath(_ path: [any CodingKey]) -> String {
    var text = ""
    for key in path {
        if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
    }
    return text
}

private func typeDescription(_ type: Any.Type) -> String {
    switch type {
    case is Int.Type, is Int64.Type, is UInt64.Type, is UInt32.Type: return "an integer"
    case is Double.Type, is Float.Type: return "a number"
    case is String.Type: return "a string"
    case is Bool.Type: return "true or false"
    default:
        let name = String(describing: type)
        if name.hasPrefix("Array") { return "an array" }
        if name.hasPrefix("Dictionary") { return "an object" }
        return "an object"
    }
}

/// The useful part of a JSON syntax error.
private func jsonErrorText(_ error: any Error) -> String {
    if case DecodingError.dataCorrupted(let context) = error {
        if let underlying = context.underlyingError { return "\(underlying)" }
        return context.debugDescription
    }
    return "\(error)"
}

// MARK: The older shapes

/// `meltap file`'s sidecar before the schema had a version (its `FeatureFileSidecar`).
private struct LegacyFileSidecar: Decodable {
    var meltapVersion: String
    var preset: String
    var sampleRate: Double
    var source: Source
    /// `all`, `mono-average`, or the analysed channel's number from 1.
    var channels: String
    var shape: [Int]
    var layout: String
    var dtype: String
    var clamp: String
    var frameRate: Double
    var firstSampleOfFrame0: Int
    var configuration: JSONValue
    var resampler: Resampling?

    struct Resampling: Decodable {
        var name: String
        var library: String
        var lookaheadInputSamples: Int
    }

    struct Source: Decodable {
        var path: String
        var format: String
        var channelCount: Int
        var sampleFrames: Int64
        /// Absent before `--sample-rate` existed: the file's rate was the analysis rate.
        var sampleRate: Double?
    }

    func converted() throws -> FeatureSidecar {
        guard shape.count >= 2 else {
            throw SidecarReadError(key: "shape", message: "is \(shape); expected [frames, bands] or [frames, channels, bands] (reading the old file shape).")
        }
        let all = Array(1...max(1, source.channelCount))
        let analysed: [FeatureSidecar.Channel]
        switch channels {
        case "all": analysed = all.map { FeatureSidecar.Channel(channel: $0) }
        case "mono-average": analysed = [FeatureSidecar.Channel(averageOf: all)]
        default:
            guard let number = Int(channels) else {
                throw SidecarReadError(key: "channels", message: "is '\(channels)'; expected 'all', 'mono-average' or a channel number (reading the old file shape).")
            }
            analysed = [FeatureSidecar.Channel(channel: number)]
        }
        var sidecar = FeatureSidecar(
            kind: .file, meltapVersion: meltapVersion, rowShape: Array(shape.dropFirst()), rows: shape[0],
            sampleRate: sampleRate, inputSampleRate: source.sampleRate ?? sampleRate,
            resampler: resampler.map { .init(name: $0.name, library: $0.library, lookaheadInputSamples: $0.lookaheadInputSamples) },
            frameRate: frameRate, firstSampleOfFrame0: firstSampleOfFrame0, clamp: clamp, channels: analysed,
            configuration: configuration,
            file: .init(path: source.path, format: source.format, channelCount: source.channelCount,
                        sampleFrames: source.sampleFrames))
        sidecar.dtype = dtype
        sidecar.layout = layout
        return sidecar
    }
}

/// `meltap record`'s sidecar before the schema had a version (its `RecordingSidecar`, kind `meltap-recording`).
private struct LegacyRecordingSidecar: Decodable {
    var socket: String
    var trailingShape: [Int]
    var layout: String
    var dtype: String
    var sampleRate: Double
    var frameRate: Double
    var bandCount: Int
    var hopLength: Int
    var fftLength: Int
    var latencySamples: Int
    var clampRule: String
    var channels: [Channel]
    /// The stream header's configuration JSON (with `inputSampleRate` and `resampler` beside
    /// its keys once `--sample-rate` existed).
    var configuration: JSONValue
    var start: FeatureSidecar.Recording.Start?
    var end: End?
    var gaps: [FeatureSidecar.Recording.Gap]
    var xruns: [FeatureSidecar.Recording.FlaggedRows]
    var discontinuities: [FeatureSidecar.Recording.FlaggedRows]
    var reconfigurations: [FeatureSidecar.Recording.Reconfiguration]

    struct Channel: Decodable {
        var channel: Int
        var port: String
        var source: String
    }

    struct End: Decodable {
        var rows: Int
        var framesReceived: Int
        var wallClock: String
        var reason: String
    }

    func converted() throws -> FeatureSidecar {
        guard configuration.objectValue != nil else {
            throw SidecarReadError(key: "configuration", message: "is \(configuration.kindDescription): the stream's "
                                   + "configuration JSON could not be read when it was recorded, so this sidecar cannot "
                                   + "say how its frames were made (reading the old recording shape).")
        }
        // The header's copies of the configuration must agree with it; nothing else would be lost.
        let split = FeatureSidecar.splitStreamConfiguration(configuration)
        for (key, value) in [("hopLength", hopLength), ("fftLength", fftLength)] {
            if let configured = split.configuration[key]?.doubleValue, configured != Double(value) {
                // `Int(exactly:)`: the file's number may be fractional or past Int's range, where `Int(_:)` traps.
                let shown = Int(exactly: configured).map(String.init) ?? "\(configured)"
                throw SidecarReadError(key: key, message: "is \(value) but configuration.\(key) is \(shown) (reading the old recording shape).")
            }
        }
        if trailingShape.last != bandCount {
            throw SidecarReadError(key: "bandCount", message: "is \(bandCount) but trailingShape is \(trailingShape) (reading the old recording shape).")
        }
        var recording = FeatureSidecar.Recording()
        recording.start = start
        recording.end = end.map { .init(framesReceived: $0.framesReceived, wallClock: $0.wallClock, reason: $0.reason) }
        recording.gaps = gaps
        recording.xruns = xruns
        recording.discontinuities = discontinuities
        recording.reconfigurations = reconfigurations
        var sidecar = FeatureSidecar(
            kind: .recording, meltapVersion: nil, rowShape: trailingShape, rows: end?.rows, sampleRate: sampleRate,
            inputSampleRate: split.inputSampleRate ?? sampleRate,
            resampler: split.resampler.map { .init(name: $0) }, frameRate: frameRate, firstSampleOfFrame0: nil,
            clamp: clampRule,
            channels: channels.map { .init(channel: $0.channel, port: $0.port, source: $0.source.isEmpty ? nil : $0.source) },
            configuration: split.configuration,
            stream: .init(socket: socket, latencySamples: latencySamples), recording: recording)
        sidecar.dtype = dtype
        sidecar.layout = layout
        return sidecar
    }
}
