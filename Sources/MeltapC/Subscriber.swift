// The C ABI's subscriber: frames of a running `meltap run` over its Unix socket.

import MeltapClient

/// A `MeltapSubscriber` behind `meltap_subscriber *`, with the header's text fields kept as C
/// strings and the receive timeout last set (set again only when a call asks for another).
final class SubscriberHandle {
    let subscriber: MeltapSubscriber
    /// The current header's configuration JSON and clamp rule, NUL-terminated; rebuilt when the
    /// server sends a new header.
    private(set) var configurationJSON: UnsafeMutablePointer<CChar>
    private(set) var clampRule: UnsafeMutablePointer<CChar>
    private var headerSeen: StreamHeader
    /// The timeout in force, in ms (negative: none); nil before the first `next`.
    private var timeoutMilliseconds: Int32?

    init(subscriber: MeltapSubscriber) {
        self.subscriber = subscriber
        headerSeen = subscriber.header
        configurationJSON = strdupStatic(String(decoding: subscriber.header.configurationJSON, as: UTF8.self))
        clampRule = strdupStatic(subscriber.header.clampRule)
    }

    deinit {
        configurationJSON.deallocate()
        clampRule.deallocate()
    }

    /// Rebuilds the C strings when the server sent a new header.
    func refreshHeader() {
        guard subscriber.header != headerSeen else { return }
        headerSeen = subscriber.header
        configurationJSON.deallocate()
        clampRule.deallocate()
        configurationJSON = strdupStatic(String(decoding: headerSeen.configurationJSON, as: UTF8.self))
        clampRule = strdupStatic(headerSeen.clampRule)
    }

    func setTimeout(milliseconds: Int32) throws {
        guard milliseconds != timeoutMilliseconds else { return }
        try subscriber.setReceiveTimeout(milliseconds < 0 ? nil : .milliseconds(milliseconds))
        timeoutMilliseconds = milliseconds
    }
}

private func subscriberHandle(_ handle: OpaquePointer?) -> SubscriberHandle? {
    handle.map { Unmanaged<SubscriberHandle>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
}

/// `meltap_default_socket_path`: see include/meltap.h. The rule is `SocketDirectory`'s.
@c(meltap_default_socket_path)
public func meltapDefaultSocketPath(_ client: UnsafePointer<CChar>?, _ stream: UnsafePointer<CChar>?,
                                    _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int) -> Int {
    let path = MeltapSubscriber.defaultSocketPath(client: string(client).flatMap { $0.isEmpty ? nil : $0 } ?? "meltap",
                                                  stream: string(stream) ?? "")
    let bytes = Array(path.utf8)
    if let buffer, bytes.count < capacity {
        bytes.withUnsafeBufferPointer { source in
            source.withMemoryRebound(to: CChar.self) { buffer.update(from: $0.baseAddress!, count: bytes.count) }
        }
        buffer[bytes.count] = 0
    }
    return bytes.count
}

/// `meltap_subscriber_connect`: see include/meltap.h.
@c(meltap_subscriber_connect)
public func meltapSubscriberConnect(_ path: UnsafePointer<CChar>?, _ channels: UnsafePointer<Int32>?,
                                    _ channelCount: Int, _ timeoutMilliseconds: Int32) -> OpaquePointer? {
    guard let socketPath = string(path), !socketPath.isEmpty else {
        setLastError("meltap_subscriber_connect: the socket path is NULL or empty; give the path meltap run prints (meltap_default_socket_path gives the default one).")
        return nil
    }
    guard channelCount >= 0, channelCount == 0 || channels != nil else {
        setLastError("meltap_subscriber_connect: the channel list is NULL with a count of \(channelCount).")
        return nil
    }
    let wanted = channels.map { Array(UnsafeBufferPointer(start: $0, count: channelCount)).map(Int.init) } ?? []
    if let negative = wanted.first(where: { $0 < 0 }) {
        setLastError("meltap_subscriber_connect: channel \(negative) is negative; channels count from 0 (the first input).")
        return nil
    }
    do {
        let subscriber = try MeltapSubscriber(
            socketPath: socketPath, channels: wanted.isEmpty ? nil : wanted,
            receiveTimeout: timeoutMilliseconds < 0 ? nil : .milliseconds(timeoutMilliseconds))
        return OpaquePointer(Unmanaged.passRetained(SubscriberHandle(subscriber: subscriber)).toOpaque())
    } catch {
        setLastError("\(error)")
        return nil
    }
}

/// `meltap_subscriber_close`: see include/meltap.h.
@c(meltap_subscriber_close)
public func meltapSubscriberClose(_ handle: OpaquePointer?) {
    guard let handle else { return }
    let owned = Unmanaged<SubscriberHandle>.fromOpaque(UnsafeRawPointer(handle))
    owned.takeUnretainedValue().subscriber.close()
    owned.release()
}

/// `meltap_subscriber_band_count`: see include/meltap.h.
@c(meltap_subscriber_band_count)
public func meltapSubscriberBandCount(_ handle: OpaquePointer?) -> Int {
    subscriberHandle(handle).map { Int($0.subscriber.header.bandCount) } ?? -1
}

/// `meltap_subscriber_channel_count`: see include/meltap.h.
@c(meltap_subscriber_channel_count)
public func meltapSubscriberChannelCount(_ handle: OpaquePointer?) -> Int {
    subscriberHandle(handle).map { $0.subscriber.header.channelCount } ?? -1
}

/// `meltap_subscriber_sample_rate`: see include/meltap.h.
@c(meltap_subscriber_sample_rate)
public func meltapSubscriberSampleRate(_ handle: OpaquePointer?) -> Double {
    subscriberHandle(handle)?.subscriber.header.sampleRate ?? 0
}

/// `meltap_subscriber_frame_rate`: see include/meltap.h.
@c(meltap_subscriber_frame_rate)
public func meltapSubscriberFrameRate(_ handle: OpaquePointer?) -> Double {
    subscriberHandle(handle)?.subscriber.header.frameRate ?? 0
}

/// `meltap_subscriber_hop_length`: see include/meltap.h.
@c(meltap_subscriber_hop_length)
public func meltapSubscriberHopLength(_ handle: OpaquePointer?) -> Int {
    subscriberHandle(handle).map { Int($0.subscriber.header.hopLength) } ?? -1
}

/// `meltap_subscriber_fft_length`: see include/meltap.h.
@c(meltap_subscriber_fft_length)
public func meltapSubscriberFFTLength(_ handle: OpaquePointer?) -> Int {
    subscriberHandle(handle).map { Int($0.subscriber.header.fftLength) } ?? -1
}

/// `meltap_subscriber_latency_samples`: see include/meltap.h.
@c(meltap_subscriber_latency_samples)
public func meltapSubscriberLatencySamples(_ handle: OpaquePointer?) -> Int {
    subscriberHandle(handle).map { Int($0.subscriber.header.latencySamples) } ?? -1
}

/// `meltap_subscriber_config_json`: see include/meltap.h.
@c(meltap_subscriber_config_json)
public func meltapSubscriberConfigJSON(_ handle: OpaquePointer?) -> UnsafePointer<CChar>? {
    subscriberHandle(handle).map { UnsafePointer($0.configurationJSON) }
}

/// `meltap_subscriber_clamp_rule`: see include/meltap.h.
@c(meltap_subscriber_clamp_rule)
public func meltapSubscriberClampRule(_ handle: OpaquePointer?) -> UnsafePointer<CChar>? {
    subscriberHandle(handle).map { UnsafePointer($0.clampRule) }
}

/// `meltap_subscriber_next`: see include/meltap.h. Returns 1 (a frame), 0 (none within the
/// timeout), 2 (the server closed the stream) or -1 (an error, in `meltap_last_error`).
@c(meltap_subscriber_next)
public func meltapSubscriberNext(_ handle: OpaquePointer?, _ timeoutMilliseconds: Int32,
                                 _ values: UnsafeMutablePointer<Float>?, _ capacity: Int,
                                 _ sequence: UnsafeMutablePointer<UInt64>?, _ channel: UnsafeMutablePointer<UInt32>?,
                                 _ frameTime: UnsafeMutablePointer<Int64>?, _ flags: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let handle = subscriberHandle(handle) else {
        setLastError("meltap_subscriber_next: the subscriber is NULL; connect with meltap_subscriber_connect.")
        return -1
    }
    do {
        try handle.setTimeout(milliseconds: timeoutMilliseconds)
        guard let frame = try handle.subscriber.next() else {
            handle.refreshHeader()
            return 2
        }
        handle.refreshHeader()
        guard let values, capacity >= frame.values.count else {
            setLastError("meltap_subscriber_next: the value buffer holds \(values == nil ? 0 : capacity) floats; the "
                         + "frame has \(frame.values.count) (meltap_subscriber_band_count). The frame is lost.")
            return -1
        }
        frame.values.withUnsafeBufferPointer { if let base = $0.baseAddress { values.update(from: base, count: $0.count) } }
        sequence?.pointee = frame.metadata.sequence
        channel?.pointee = frame.metadata.channel
        frameTime?.pointee = frame.metadata.frameTime
        flags?.pointee = frame.metadata.flags.rawValue
        return 1
    } catch let error as MeltapClientError where error.code == .timedOut {
        return 0
    } catch {
        setLastError("\(error)")
        return -1
    }
}
