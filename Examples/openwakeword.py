#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Wake-word detection on a live meltap `openwakeword` stream, with the openWakeWord models that ship in
pyopen-wakeword ("okay nabu", "hey jarvis", "hey mycroft", "alexa", "hey rhasspy").

    meltap run --preset openwakeword --connect 'system:capture_1' &
    python Examples/openwakeword.py SOCKET --model hey_jarvis --model alexa

meltap's `openwakeword` frames are openWakeWord's melspectrogram model followed by x/10 + 2 (docs/presets.md),
on the same grid pyopen-wakeword calls that model on: groups of 8 frames counted from the stream's first
sample. So this script runs only the two later stages of pyopen-wakeword, unchanged: its embedding model on
76-frame windows stepping 8 and starting at a group boundary, and each wake-word classifier on its last 16 (or
more) embeddings. Each detection prints one line:

    DETECTED hey_jarvis probability 0.987 frame 1234 time 5925120

with the sequence number and JACK frame time of the frame that completed the group. A model fires once when its
probability rises above --threshold (0.5, pyopen-wakeword's default), and again only after it has fallen below.

State starts as pyopen-wakeword's does at the start of its audio, which it prefixes with 8 s of digital silence:
silent frames (-8) before the first group, silent embeddings before the first embedding. After lost frames
(gap) or new analyzers (reconfigured, server restart) that state is rebuilt and the script waits for the next
group boundary: groups count from the stream's frame 0, or from the frame flagged reconfigured or server
restart, where meltap starts its analyzers afresh. (A subscriber that connects after such a restart cannot see
where it was and assumes frame 0.) A discontinuity alone (JACK skipped cycles, or a buffer-size change
restamped the clock) loses no frames, so the groups and the state go on through it.

Needs pyopen-wakeword (the project's install step puts it in .venv).
"""
import argparse
import ctypes as C
import sys
from pathlib import Path

import numpy as np

try:
    import meltap
except ImportError:  # not installed: this tree's package (python/), over `make lib`'s library
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
    import meltap

MODELS = ("okay_nabu", "hey_jarvis", "hey_mycroft", "alexa", "hey_rhasspy")
# Flags after which the state is rebuilt. Not FLAG_DISCONTINUITY by itself: it loses no frames
# (docs/wire-format.md), and a rebuild there would drop a wake word spoken across it.
RESTART_FLAGS = meltap.FLAG_GAP | meltap.FLAG_RECONFIGURED | meltap.FLAG_SERVER_RESTART
NEW_ANALYZER_FLAGS = meltap.FLAG_RECONFIGURED | meltap.FLAG_SERVER_RESTART
GROUP = 8           # frames per melspectrogram call: the floor's group
WINDOW = 76         # frames per embedding
BANDS = 32
SILENCE = -8.0      # a frame of digital silence: 10*log10(1e-10) / 10 + 2


class Embedder:
    """pyopen-wakeword's embedding model, called as `OpenWakeWordFeatures.process_streaming` calls it: after
    every group of 8 frames, on the 76 frames that start 80 frames back (its steady state, new_mels = 72)."""

    def __init__(self):
        from pyopen_wakeword import OpenWakeWordFeatures
        self.features = OpenWakeWordFeatures.from_builtin()
        self.reset()

    def reset(self):
        self.mels = np.full((WINDOW + 4, BANDS), SILENCE, np.float32)

    def embed(self, window):
        f = self.features
        x = np.ascontiguousarray(window.reshape(1, WINDOW, BANDS, 1).astype(np.float32))
        f.lib.TfLiteTensorCopyFromBuffer(f.emb_input_tensor, x.ctypes.data_as(C.c_void_p), C.c_size_t(x.nbytes))
        f.lib.TfLiteInterpreterInvoke(f.emb_interpreter)
        nb = f.lib.TfLiteTensorByteSize(f.emb_output_tensor)
        e = np.empty(nb // 4, np.float32)
        f.lib.TfLiteTensorCopyToBuffer(f.emb_output_tensor, e.ctypes.data_as(C.c_void_p), C.c_size_t(nb))
        return e.reshape(1, 1, -1, 96)

    def silence(self):
        return self.embed(np.full((WINDOW, BANDS), SILENCE, np.float32))

    def group(self, frames):
        """The embedding after one more group of 8 frames (8 x 32)."""
        self.mels = np.concatenate([self.mels[GROUP:], frames])
        return self.embed(self.mels[:WINDOW])


def load_models(names):
    from pyopen_wakeword import Model, OpenWakeWord
    return {name: OpenWakeWord.from_builtin(Model(name)) for name in names}


def prime(models, silent_embedding):
    """Each classifier as pyopen-wakeword leaves it after its 8 s of leading silence: silent embeddings
    behind, the next embedding completing a window."""
    for model in models.values():
        model.reset()
        for _ in range(model.input_windows - 1):
            for _ in model.process_streaming(silent_embedding):
                pass


def check_header(stream, socket_path):
    """Refuses a stream that is not 32-band openwakeword features at 16 kHz, hop 160."""
    preset = stream.config.get("preset")
    if preset != "openwakeword" or stream.band_count != BANDS or stream.sample_rate != 16000 \
            or stream.hop_length != 160:
        raise SystemExit(
            f"openwakeword: the stream at {socket_path} is preset {preset!r} with {stream.band_count} bands at "
            f"{stream.sample_rate:g} Hz; openWakeWord models need the openwakeword preset. Start meltap with "
            "`meltap run --preset openwakeword` or `--stream NAME=openwakeword`.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("socket", nargs="?", default=meltap.default_socket_path(),
                        help="The socket `meltap run --preset openwakeword` prints when it starts (default: %(default)s, "
                             "meltap.sock in meltap's default socket directory).")
    parser.add_argument("--model", action="append", choices=MODELS,
                        help="A model to run; repeat for several (default hey_jarvis).")
    parser.add_argument("--channel", type=int, default=1, help="The channel to listen to, 1 being in_1.")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="The probability a model must rise above to fire (pyopen-wakeword's default, 0.5).")
    parser.add_argument("--probabilities", action="store_true",
                        help="Also print every model evaluation: PROB MODEL PROBABILITY FRAME TIME.")
    args = parser.parse_args()
    if args.channel < 1:
        parser.error("channels are numbered from 1 (1 is in_1)")
    names = args.model or ["hey_jarvis"]
    embedder = Embedder()
    silent_embedding = embedder.silence()
    models = load_models(names)
    prime(models, silent_embedding)
    above = {name: False for name in names}
    origin = 0            # sequence number of the current analyzer timeline's frame 0
    group = []            # frames of the group being collected
    aligned = False
    previous = None
    try:
        # timeout=None: wait for the stream header as long as it takes, as for the frames.
        stream = meltap.Subscriber(args.socket, [args.channel - 1], timeout=None)
    except meltap.MeltapError as error:  # no socket, nobody serving, refused
        print(f"openwakeword: {error}", file=sys.stderr)
        return 1
    check_header(stream, args.socket)
    try:
        for f in stream:
            if f.flags & NEW_ANALYZER_FLAGS:
                origin = f.sequence
            restart = previous is not None and (f.sequence != previous + 1 or f.flags & RESTART_FLAGS)
            previous = f.sequence
            if restart:
                embedder.reset()
                prime(models, silent_embedding)
                group = []
                aligned = False
                above = {name: False for name in names}
            if not aligned:
                if (f.sequence - origin) % GROUP:
                    continue  # embedding windows start at a group boundary
                aligned = True
            group.append(f.values.astype(np.float32))
            if len(group) < GROUP:
                continue
            embedding = embedder.group(np.stack(group))
            group = []
            for name, model in models.items():
                for probability in model.process_streaming(embedding):
                    if args.probabilities:
                        print(f"PROB {name} {probability:.6f} {f.sequence} {f.time}", flush=True)
                    if probability > args.threshold and not above[name]:
                        print(f"DETECTED {name} probability {probability:.3f} frame {f.sequence} time {f.time}",
                              flush=True)
                    above[name] = probability > args.threshold
    except meltap.MeltapError as error:  # a protocol error, a refusal
        print(f"openwakeword: {error}", file=sys.stderr)
        return 1
    finally:
        stream.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
