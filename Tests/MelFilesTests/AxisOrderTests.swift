import Foundation
import Testing
@testable import MelFiles

/// The sidecar's `axisOrder` (bands-first files) and `NpyWriter.finalShape`: round trips, the
/// default when the key is absent, and a layout that contradicts the order refused by key.
@Suite struct AxisOrderTests {
    @Test func bandsFirstSidecarRoundTrips() throws {
        var sidecar = FeatureSidecarTests.fileSidecar()
        sidecar = FeatureSidecar(
            kind: .file, meltapVersion: "0.1.0", rowShape: sidecar.rowShape, rows: sidecar.rows, sampleRate: 16000,
            inputSampleRate: 44100, resampler: nil, frameRate: 50, firstSampleOfFrame0: -256, clamp: "global",
            channels: sidecar.channels, configuration: sidecar.configuration, file: sidecar.file, axisOrder: .bandsFirst)
        #expect(sidecar.layout == "(channels, bands, frames)")
        #expect(sidecar.shape == [2, 40, 148])
        let decoded = try FeatureSidecar.decode(Array(try JSONEncoder().encode(sidecar)))
        #expect(decoded == sidecar)
        #expect(decoded.axisOrder == .bandsFirst)
    }

    @Test func absentKeyMeansFramesFirst() throws {
        let object = try FeatureSidecarTests.object(FeatureSidecarTests.fileSidecar())
        #expect(object["axisOrder"] == nil, "frames-first sidecars do not write the key")
        let decoded = try FeatureSidecar.decode(Array(try FeatureSidecarTests.text(object).utf8))
        #expect(decoded.axisOrder == nil && decoded.shape == [148, 2, 40])
    }

    @Test func layoutContradictingTheOrderIsRefused() throws {
        var object = try FeatureSidecarTests.object(FeatureSidecarTests.fileSidecar())
        object["axisOrder"] = "bands-first"   // layout still says (frames, channels, bands)
        let error = FeatureSidecarTests.readError(try FeatureSidecarTests.text(object))
        #expect(error?.key == "layout")
        #expect(error?.message.contains("(channels, bands, frames)") == true)
    }

    @Test func arrangeAndBackAreInverse() {
        let (frames, channels, bands) = (5, 3, 4)
        let values = (0..<(frames * channels * bands)).map(Float.init)
        let arranged = FeatureAxisOrder.bandsFirst.arrange(framesFirst: values, frames: frames, channels: channels, bands: bands)
        // a[c, b, t] = x[t, c, b]
        #expect(arranged[(2 * bands + 1) * frames + 3] == values[(3 * channels + 2) * bands + 1])
        #expect(FeatureAxisOrder.bandsFirst.framesFirst(arranged, frames: frames, channels: channels, bands: bands) == values)
    }

    @Test func finalShapeIsWhatNumpySees() throws {
        let directory = try makeScratchDirectory()
        defer { removeScratch(directory) }
        let path = directory + "/bands.npy"
        let writer = try NpyWriter(path: path, trailingShape: [3])
        let framesFirst: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]   // 4 frames × 3 bands
        writer.finalShape = [3, 4]
        try writer.appendRows(FeatureAxisOrder.bandsFirst.arrange(framesFirst: framesFirst, frames: 4, channels: 1, bands: 3))
        #expect(try writer.finish() == 4)
        let array = try NpyArray.load(path: path)
        #expect(array.shape == [3, 4])
        #expect(array.values == [1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12])
    }
}
