// The order of a feature array's axes: frames first (meltap's default, one row per frame, as
// streamed) or bands first (as librosa returns features, the shape CNNs take). The sidecar's
// `axisOrder` key names it; docs/file-format.md, "Sidecar", describes both.

/// How a feature file's axes are ordered.
public enum FeatureAxisOrder: String, Codable, Sendable, CaseIterable {
    /// `(frames, bands)` or `(frames, channels, bands)`: one row per frame (the default, and the
    /// only order before the `axisOrder` key existed).
    case framesFirst = "frames-first"
    /// `(bands, frames)` or `(channels, bands, frames)`: librosa's order.
    case bandsFirst = "bands-first"

    /// The layout string of `FeatureSidecar.layout` for one row of `rowShape` (`[bands]` or
    /// `[channels, bands]`).
    public func layout(forRowShape rowShape: [Int]) -> String {
        switch (self, rowShape.count == 2) {
        case (.framesFirst, false): return "(frames, bands)"
        case (.framesFirst, true): return "(frames, channels, bands)"
        case (.bandsFirst, false): return "(bands, frames)"
        case (.bandsFirst, true): return "(channels, bands, frames)"
        }
    }

    /// The array's shape for `frames` rows of `rowShape`.
    public func shape(frames: Int, rowShape: [Int]) -> [Int] {
        self == .framesFirst ? [frames] + rowShape : rowShape + [frames]
    }

    /// Frames-first values (frames × channels × bands, C order) in this order's C order.
    public func arrange(framesFirst values: [Float], frames: Int, channels: Int, bands: Int) -> [Float] {
        guard self == .bandsFirst else { return values }
        var out = [Float](repeating: 0, count: values.count)
        for t in 0..<frames {
            for c in 0..<channels {
                for b in 0..<bands { out[(c * bands + b) * frames + t] = values[(t * channels + c) * bands + b] }
            }
        }
        return out
    }

    /// This order's values back in frames-first C order (the inverse of `arrange`).
    public func framesFirst(_ values: [Float], frames: Int, channels: Int, bands: Int) -> [Float] {
        guard self == .bandsFirst else { return values }
        var out = [Float](repeating: 0, count: values.count)
        for t in 0..<frames {
            for c in 0..<channels {
                for b in 0..<bands { out[(t * channels + c) * bands + b] = values[(c * bands + b) * frames + t] }
            }
        }
        return out
    }
}
