"""Reads frames from `meltap run` (wire format v1, docs/wire-format.md); needs only numpy.

Module:
    for f in frames(path, indices=[0], header={}):
        f.index      0-based wire channel index (in_1 is index 0)
        f.sequence   per-channel frame counter; a jump means frames were lost
        f.time       JACK sample time of the frame's first sample
        f.flags      FLAG_* bits: gap, xrun, reconfigured, server restart, discontinuity
        f.values     float32 ndarray of the header's band count

Script (channels numbered from 1, as on meltap's command lines and in its sidecars):
    python meltap_subscriber.py SOCKET [CHANNEL ...]
prints one line per frame: CHANNEL SEQUENCE TIME FLAGS VALUE...

The client is as strict as the server: it checks the magic and version of each message from
its 12-byte prefix and refuses a declared payload over MAX_PAYLOAD (1 MiB) before buffering
it, so a broken or hostile server cannot make it buffer without bound.
"""
import json
import socket
import struct
import sys
from collections import namedtuple

import numpy as np

PREFIX = struct.Struct("<4sHHI")  # magic "MTAP", version 1, message type, payload length
HEADER, FRAME, STATS, REFUSAL, SUBSCRIBE = 1, 2, 3, 4, 16
# Largest payload accepted, in bytes: a frame of up to 262,137 bands, or a header with its
# configuration JSON and channel names. The Swift client uses the same bound.
MAX_PAYLOAD = 1 << 20
# Frame flags (docs/wire-format.md, "Flags").
FLAG_GAP, FLAG_XRUN, FLAG_RECONFIGURED, FLAG_SERVER_RESTART, FLAG_DISCONTINUITY = 1, 2, 4, 8, 16

Frame = namedtuple("Frame", "index sequence time flags values")


class ProtocolError(Exception):
    """The bytes from the server are not a valid meltap v1 stream."""


class Refused(Exception):
    """The server turned this subscriber away (too many subscribers, unknown channel)."""


def parse_header(p):
    sr, fps, bands, nch, dtype, latency, hop, n_fft, nj, nc = struct.unpack_from("<ddIIIIIIIH", p)
    names, o = [], 48 + nj + nc
    for _ in range(nch):
        _, nn, ns = struct.unpack_from("<IHH", p, o)
        names.append(p[o + 8:o + 8 + nn].decode())
        o += 8 + nn + ns
    return dict(sample_rate=sr, frame_rate=fps, bands=bands, hop_length=hop, n_fft=n_fft, channels=names,
                latency=latency, config=json.loads(p[48:48 + nj] or b"{}"), clamp=p[48 + nj:48 + nj + nc].decode())


def messages(sock):
    """Yields (type, payload bytes) from a connected socket until the server closes it."""
    buf = bytearray()
    while True:
        if not b"MTAP".startswith(bytes(buf[:4])):  # checked from the first byte on
            raise ProtocolError("bytes do not start with MTAP: not a meltap stream, or out of sync")
        if len(buf) >= PREFIX.size:
            magic, version, kind, n = PREFIX.unpack_from(buf)
            if version != 1:
                raise ProtocolError(f"wire format version {version} is not supported (this client speaks 1)")
            if n > MAX_PAYLOAD:
                raise ProtocolError(f"payload of {n} bytes is over this client's bound of {MAX_PAYLOAD}")
            if len(buf) >= PREFIX.size + n:
                payload = bytes(buf[PREFIX.size:PREFIX.size + n])
                del buf[:PREFIX.size + n]
                yield kind, payload
                continue
        chunk = sock.recv(1 << 16)
        if not chunk:
            return
        buf += chunk


def frames(path, indices=(), header=None):
    """Yields a Frame per received frame of the channels `indices` (0-based wire indices; empty
    means all). `header`, a dict, is kept up to date with the stream description. Raises Refused
    with the server's explanation if it turns the subscriber away."""
    indices = list(indices)
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.sendall(PREFIX.pack(b"MTAP", 1, SUBSCRIBE, 4 + 4 * len(indices))
                  + struct.pack(f"<{len(indices) + 1}I", len(indices), *indices))
        for kind, p in messages(s):
            if kind == HEADER and header is not None:
                header.update(parse_header(p))
            elif kind == REFUSAL:
                reason, n = struct.unpack_from("<II", p)
                raise Refused(p[8:8 + n].decode(errors="replace"))
            elif kind == FRAME:
                seq, ch, flags, t, bands = struct.unpack_from("<QIIqI", p)
                if 28 + 4 * bands != len(p):
                    raise ProtocolError(f"frame claims {bands} bands in a payload of {len(p)} bytes")
                if not indices or ch in indices:
                    yield Frame(ch, seq, t, flags, np.frombuffer(p, "<f4", bands, 28))


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) >= 2 else 2
    try:
        channels = [int(c) for c in argv[2:]]
    except ValueError:
        print(f"meltap_subscriber: channels are numbers from 1; got {argv[2:]}", file=sys.stderr)
        return 2
    if any(c < 1 for c in channels):
        print("meltap_subscriber: channels are numbered from 1 (1 is in_1)", file=sys.stderr)
        return 2
    try:
        for f in frames(argv[1], [c - 1 for c in channels]):
            print(f.index + 1, f.sequence, f.time, f.flags, *f.values.tolist(), flush=True)
    except Refused as refusal:
        print(f"meltap_subscriber: the server refused this subscriber: {refusal}", file=sys.stderr)
        return 1
    except (ProtocolError, OSError) as error:
        print(f"meltap_subscriber: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
