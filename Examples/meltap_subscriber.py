"""Reads frames from `meltap run` (wire format v1, docs/wire-format.md); needs only numpy.
Module: for channel, seq, time, values in frames(path, channels=[0], header={}): ...
Script: python meltap_subscriber.py SOCKET [CHANNEL ...]  prints a line per frame."""
import json, socket, struct, sys
import numpy as np

PREFIX = struct.Struct("<4sHHI")  # magic "MTAP", version 1, message type, payload length
HEADER, FRAME = 1, 2

def parse_header(p):
    sr, fps, bands, nch, dtype, latency, hop, n_fft, nj, nc = struct.unpack_from("<ddIIIIIIIH", p)
    names, o = [], 48 + nj + nc
    for _ in range(nch):
        _, nn, ns = struct.unpack_from("<IHH", p, o); names.append(p[o + 8:o + 8 + nn].decode()); o += 8 + nn + ns
    return dict(sample_rate=sr, frame_rate=fps, bands=bands, hop_length=hop, n_fft=n_fft, channels=names,
                latency=latency, config=json.loads(p[48:48 + nj] or b"{}"), clamp=p[48 + nj:48 + nj + nc].decode())

def frames(path, channels=(), header=None):
    """Yields (channel, sequence, frame_time, float32 ndarray); `header` (a dict) is kept up to date."""
    s = socket.socket(socket.AF_UNIX); s.connect(path); buf = bytearray()
    s.sendall(PREFIX.pack(b"MTAP", 1, 16, 4 + 4 * len(channels)) + struct.pack(f"<{len(channels) + 1}I", len(channels), *channels))
    while chunk := s.recv(1 << 16):
        buf += chunk
        while len(buf) >= 12 and len(buf) >= 12 + PREFIX.unpack_from(buf)[3]:
            magic, version, kind, n = PREFIX.unpack_from(buf); p = bytes(buf[12:12 + n]); del buf[:12 + n]
            if magic != b"MTAP" or version != 1: raise ValueError(f"not a meltap v1 stream at {path}")
            if kind == HEADER and header is not None: header.update(parse_header(p))
            if kind == FRAME and (not channels or struct.unpack_from("<I", p, 8)[0] in channels):
                seq, ch, flags, t, bands = struct.unpack_from("<QIIqI", p)
                yield ch, seq, t, np.frombuffer(p, "<f4", bands, 28)

if __name__ == "__main__":
    for ch, seq, t, values in frames(sys.argv[1], [int(c) for c in sys.argv[2:]]):
        print(ch, seq, t, *values.tolist(), flush=True)
