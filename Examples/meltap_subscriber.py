#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Reads frames from `meltap run` (wire format v1, docs/wire-format.md); needs only numpy.

Module:
    for f in frames(path, indices=[0], header={}):
        f.index      0-based wire channel index (in_1 is index 0)
        f.sequence   per-channel frame counter; a jump means frames were lost
        f.time       JACK sample time of the frame's first sample
        f.flags      FLAG_* bits: gap, xrun, reconfigured, server restart, discontinuity
        f.values     float32 ndarray of the header's band count

Script (channels numbered from 1, as on meltap's command lines and in its sidecars):
    Examples/meltap_subscriber.py [SOCKET] [CHANNEL ...]
prints one line per frame: CHANNEL SEQUENCE TIME FLAGS VALUE... SOCKET defaults to
default_socket_path(): meltap.sock in $XDG_RUNTIME_DIR/meltap, else /run/user/UID/meltap when
/run/user/UID exists, else /tmp/meltap-UID (the rule meltap itself follows).

The client is as strict as the server: it checks the magic and version of each message from
its 12-byte prefix and refuses a declared payload over MAX_PAYLOAD (1 MiB) before buffering
it, so a broken or hostile server cannot make it buffer without bound.
"""
import json
import os
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


def default_socket_directory():
    """meltap's default socket directory, the rule of Sources/MelSystem/SocketDirectory.swift (this
    is its one copy in Python; python/tests checks that it agrees with libmeltap's):
    $XDG_RUNTIME_DIR/meltap when that variable names a directory, else /run/user/UID/meltap when
    /run/user/UID exists, else /tmp/meltap-UID."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isdir(runtime):
        return (runtime[:-1] if runtime.endswith("/") else runtime) + "/meltap"
    user_runtime = f"/run/user/{os.getuid()}"
    if os.path.isdir(user_runtime):
        return user_runtime + "/meltap"
    return f"/tmp/meltap-{os.getuid()}"


def default_socket_path(client="meltap", stream=""):
    """Where `meltap run --name CLIENT` serves by default: CLIENT.sock, or CLIENT.STREAM.sock for a
    --stream, in default_socket_directory()."""
    return f"{default_socket_directory()}/{client}{'.' + stream if stream else ''}.sock"


def connect(path):
    """A socket connected to the meltap at `path`; an OSError naming the path and what to do when
    nothing is there or nobody serves it."""
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(os.fspath(path))
    except FileNotFoundError:
        s.close()
        directory = os.path.dirname(os.fspath(path)) or "."
        others = sorted(n for n in os.listdir(directory) if n.endswith(".sock")) if os.path.isdir(directory) else []
        hint = (f"; sockets there: {', '.join(others)}" if others else
                "; is `meltap run` running? It prints the path it publishes on")
        raise FileNotFoundError(f"no meltap socket at {path}{hint}") from None
    except ConnectionRefusedError:
        s.close()
        raise ConnectionRefusedError(f"nobody serves the socket {path} (a meltap that has stopped); "
                                     "start `meltap run` again") from None
    except BaseException:
        s.close()
        raise
    return s


def frames(path, indices=(), header=None):
    """Yields a Frame per received frame of the channels `indices` (0-based wire indices; empty
    means all). `header`, a dict, is kept up to date with the stream description. Raises Refused
    with the server's explanation if it turns the subscriber away."""
    indices = list(indices)
    with connect(path) as s:
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
    if len(argv) >= 2 and argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    path, rest = (argv[1], argv[2:]) if len(argv) >= 2 and not argv[1].isdigit() else (default_socket_path(), argv[1:])
    try:
        channels = [int(c) for c in rest]
    except ValueError:
        print(f"meltap_subscriber: channels are numbers from 1; got {rest}", file=sys.stderr)
        return 2
    if any(c < 1 for c in channels):
        print("meltap_subscriber: channels are numbered from 1 (1 is in_1)", file=sys.stderr)
        return 2
    try:
        for f in frames(path, [c - 1 for c in channels]):
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
