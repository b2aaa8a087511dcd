#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Prints the frames of a running `meltap run`, read with the meltap Python package's Subscriber.

    Examples/meltap_subscriber.py [SOCKET] [CHANNEL ...]

prints one line per frame: CHANNEL SEQUENCE TIME FLAGS VALUE... (channels numbered from 1, as on
meltap's command lines and in its sidecars) until the server ends the stream. SOCKET defaults to
meltap.default_socket_path(): meltap.sock in $XDG_RUNTIME_DIR/meltap, else /run/user/UID/meltap
when /run/user/UID exists, else /tmp/meltap-UID (the rule meltap itself follows).

In your own code (docs/python.md):
    with meltap.Subscriber(path, channels=[0]) as stream:
        for f in stream:   # f.sequence, f.channel, f.time, f.flags, f.values (float32)
            ...

The package is the installed one (`pip install ./python`) or, failing that, this tree's python/
with the libmeltap.so of `make lib`. The client is the C ABI's, as strict as the server: a bad
magic or version, a payload over 1 MiB or a stream cut inside a message is a protocol error.
"""
import sys
from pathlib import Path

try:
    import meltap
except ImportError:  # not installed: this tree's package (python/), over `make lib`'s library
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
    import meltap


def main(argv):
    if len(argv) >= 2 and argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    path, rest = (argv[1], argv[2:]) if len(argv) >= 2 and not argv[1].isdigit() else (None, argv[1:])
    try:
        channels = [int(c) for c in rest]
    except ValueError:
        print(f"meltap_subscriber: channels are numbers from 1; got {rest}", file=sys.stderr)
        return 2
    if any(c < 1 for c in channels):
        print("meltap_subscriber: channels are numbered from 1 (1 is in_1)", file=sys.stderr)
        return 2
    try:
        # timeout=None: wait for the stream header as long as it takes, as for the frames.
        with meltap.Subscriber(path, [c - 1 for c in channels], timeout=None) as stream:
            for f in stream:
                print(f.channel + 1, f.sequence, f.time, f.flags, *f.values.tolist(), flush=True)
    except meltap.MeltapError as error:  # no socket, nobody serving, refused, a protocol error
        print(f"meltap_subscriber: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
