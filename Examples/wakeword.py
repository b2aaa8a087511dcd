#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Wake-word detection on a live meltap `micro` stream, with the microWakeWord models that ship in
pymicro-wakeword ("okay nabu", "alexa", "hey mycroft", "hey jarvis").

    meltap run --preset micro --sample-rate 16000 --connect 'system:capture_1' &
    python Examples/wakeword.py SOCKET --model okay_nabu --model alexa

meltap's `micro` frames are the TFLite-Micro audio frontend bit for bit (docs/parity.md), so the
models see exactly what pymicro-wakeword's own frontend would give them on the same 16 kHz
samples: the package's model loading and `process_streaming_prob` run unchanged. Each detection
prints one line:

    DETECTED okay_nabu probability 0.987 frame 1234 time 5925120

with the frame's sequence number and its JACK frame time. A model fires once when its mean
probability rises above the model's cutoff, and again only after it has fallen below it.

A model is fed 3 frames at a time, counted from the stream's first frame (frame sequence
numbers from 0), as pymicro-wakeword does from the start of its audio. After lost frames (the
gap flag, or a jump of the sequence number) or new analyzers (reconfigured, server restart) the
models are reset and realigned. A discontinuity alone (JACK skipped cycles, or a buffer-size
change restamped the clock) loses no frames: the sequence goes on, and so do the models, so a
wake word spoken across it is still detected. Features are passed as float64 so the models' input quantisation rounds exactly as it
does inside pymicro-wakeword.

Needs pymicro-wakeword (the project's install step puts it in .venv).
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

MODELS = ("okay_nabu", "alexa", "hey_mycroft", "hey_jarvis")
# Flags after which the models start afresh. Not FLAG_DISCONTINUITY by itself: it loses no frames
# (docs/wire-format.md), and a reset there would drop a wake word spoken across it.
RESTART_FLAGS = meltap.FLAG_GAP | meltap.FLAG_RECONFIGURED | meltap.FLAG_SERVER_RESTART


def load_models(names):
    from pymicro_wakeword import MicroWakeWord, Model
    return {name: MicroWakeWord.from_builtin(Model(name)) for name in names}


def check_header(stream, socket_path):
    """Refuses a stream that is not 40-band micro features at 16 kHz, hop 160."""
    preset = stream.config.get("preset")
    if preset != "micro" or stream.band_count != 40 or stream.sample_rate != 16000 \
            or stream.hop_length != 160:
        raise SystemExit(
            f"wakeword: the stream at {socket_path} is preset {preset!r} with {stream.band_count} bands at "
            f"{stream.sample_rate:g} Hz; microWakeWord models need the micro preset at 16 kHz. Start "
            "meltap with `meltap run --preset micro --sample-rate 16000`.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("socket", nargs="?", default=meltap.default_socket_path(),
                        help="The socket `meltap run --preset micro` prints when it starts (default: %(default)s, "
                             "meltap.sock in meltap's default socket directory).")
    parser.add_argument("--model", action="append", choices=MODELS,
                        help="A model to run; repeat for several (default okay_nabu).")
    parser.add_argument("--channel", type=int, default=1, help="The channel to listen to, 1 being in_1.")
    parser.add_argument("--probabilities", action="store_true",
                        help="Also print every model evaluation: PROB MODEL PROBABILITY FRAME TIME.")
    args = parser.parse_args()
    if args.channel < 1:
        parser.error("channels are numbered from 1 (1 is in_1)")
    names = args.model or ["okay_nabu"]
    models = load_models(names)
    above = {name: False for name in names}
    fed = 0               # frames fed since the models were (re)aligned
    aligned = False
    previous = None
    try:
        # timeout=None: wait for the stream header as long as it takes, as for the frames.
        stream = meltap.Subscriber(args.socket, [args.channel - 1], timeout=None)
    except meltap.MeltapError as error:  # no socket, nobody serving, refused
        print(f"wakeword: {error}", file=sys.stderr)
        return 1
    check_header(stream, args.socket)
    try:
        for f in stream:
            restart = previous is not None and (f.sequence != previous + 1 or f.flags & RESTART_FLAGS)
            previous = f.sequence
            if restart:
                for model in models.values():
                    model.reset()
                fed = 0
                aligned = False
                above = {name: False for name in names}
            stride = next(iter(models.values())).stride
            if not aligned:
                if f.sequence % stride:
                    continue  # groups of `stride` count from the stream's frame 0
                aligned = True
            features = f.values.astype(np.float64).reshape(1, 1, -1)
            fed += 1
            for name, model in models.items():
                probability = model.process_streaming_prob(features)
                if probability is None or fed % stride:
                    continue  # the model runs only when its group of frames is complete
                if args.probabilities:
                    print(f"PROB {name} {probability:.6f} {f.sequence} {f.time}", flush=True)
                if probability > model.probability_cutoff and not above[name]:
                    print(f"DETECTED {name} probability {probability:.3f} frame {f.sequence} time {f.time}", flush=True)
                above[name] = probability > model.probability_cutoff
    except meltap.MeltapError as error:  # a protocol error, a refusal
        print(f"wakeword: {error}", file=sys.stderr)
        return 1
    finally:
        stream.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
