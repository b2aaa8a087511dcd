#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Records N seconds of one channel from `meltap run` into a numpy array, saves it as .npy and
plots it (if matplotlib is installed).

Usage: python record_and_plot.py SOCKET [--seconds 5] [--channel 1] [--out frames.npy]
"""
import argparse
import sys
from pathlib import Path

import numpy as np

try:
    import meltap
except ImportError:  # not installed: this tree's package (python/), over `make lib`'s library
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
    import meltap


def record(socket_path, seconds, channel):
    """Returns (array of shape [frames, bands], stream description dict, frames lost to gaps) for
    `channel` (numbered from 1)."""
    rows, first_seq, last_seq = [], None, None
    with meltap.Subscriber(socket_path, [channel - 1], timeout=None) as stream:
        header = dict(sample_rate=stream.sample_rate, frame_rate=stream.frame_rate, config=stream.config)
        for frame in stream:
            if first_seq is None:
                first_seq = frame.sequence
            last_seq = frame.sequence
            rows.append(frame.values)
            if len(rows) >= seconds * stream.frame_rate:
                break
    lost = (last_seq - first_seq + 1 - len(rows)) if rows else 0
    return np.array(rows, dtype=np.float32), header, lost


def main():
    parser = argparse.ArgumentParser(description="Record frames from meltap and plot them.")
    parser.add_argument("socket", nargs="?", default=meltap.default_socket_path(),
                        help="The socket path `meltap run` prints when it starts (default: %(default)s, "
                             "meltap.sock in meltap's default socket directory).")
    parser.add_argument("--seconds", type=float, default=5.0, help="How long to record, in seconds.")
    parser.add_argument("--channel", type=int, default=1, help="The channel to record, 1 being in_1.")
    parser.add_argument("-o", "--output", "--out", dest="out", default="frames.npy",
                        help="Where to save the array (.npy).")
    args = parser.parse_args()
    if args.channel < 1:
        parser.error("channels are numbered from 1 (1 is in_1)")

    try:
        data, header, lost = record(args.socket, args.seconds, args.channel)
    except meltap.MeltapError as error:  # no socket, nobody serving, refused, a protocol error
        sys.exit(f"record_and_plot: {error}")
    np.save(args.out, data)
    print(f"saved {data.shape[0]} frames x {data.shape[1] if data.ndim == 2 else 0} bands to {args.out}"
          f" ({header.get('sample_rate')} Hz, {header.get('frame_rate')} frames/s, {lost} frames lost)")
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed; to plot, run: .venv/bin/pip install matplotlib", file=sys.stderr)
        return
    if data.size == 0:
        return
    seconds = data.shape[0] / header["frame_rate"]
    plt.imshow(data.T, origin="lower", aspect="auto", extent=[0, seconds, 0, data.shape[1]])
    plt.xlabel("time (s)")
    plt.ylabel("band")
    plt.title(f"meltap channel {args.channel} ({header.get('config', {}).get('preset', '')})")
    plt.colorbar()
    image = args.out.rsplit(".", 1)[0] + ".png"
    plt.savefig(image, dpi=120)
    print(f"plot saved to {image}")


if __name__ == "__main__":
    main()
