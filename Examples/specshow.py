#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Draw a meltap feature file with librosa.display.specshow.

    python Examples/specshow.py FEATURES.npy [-o OUT.png]

Everything the picture needs comes from the sidecar (FEATURES.json) meltap wrote beside the
array: the sample rate and hop for the time axis; the frequency axis (mel bands from fmin to fmax
on the Slaney or HTK mel scale, or Hz for --output spectrogram), the axis order (frames-first or
bands-first), and what the values are, for the colour bar: dB outputs are drawn as they are;
power, magnitude and spectrogram outputs are converted to dB relative to their maximum
(librosa.power_to_db / amplitude_to_db, ref=np.max); other outputs (log, Whisper, MFCC, PCEN,
micro) in their own units. A (frames, channels, bands) file gets one panel per channel. The
energy column of --use-energy files is left out.

Without -o the PNG goes beside the .npy (FEATURES.png). Prints the path it wrote.
Needs numpy, librosa and matplotlib (scripts/install-deps puts them in .venv), and the meltap
package: installed, or this tree's python/ with the libmeltap.so of `make lib` (make demo builds it).
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np
import matplotlib
matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt
import librosa
import librosa.display

try:
    import meltap
except ImportError:  # not installed: this tree's package (python/), over `make lib`'s library
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
    import meltap


def channels_bands_frames(array, sidecar):
    """The array as (channels, bands, frames), whatever its stored axis order."""
    bands_first = sidecar.get("axisOrder") == "bands-first"
    if array.ndim == 2:
        data = array if bands_first else array.T
        return data[None]
    if array.ndim == 3:
        return array if bands_first else array.transpose(1, 2, 0)
    sys.exit(f"specshow: expected a 2-D or 3-D array, got shape {array.shape}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("features", help="a .npy written by meltap file or meltap record")
    parser.add_argument("-o", "--output", help="the PNG to write (default: beside the .npy)")
    args = parser.parse_args()
    sidecar_path = os.path.splitext(args.features)[0] + ".json"
    if not os.path.exists(sidecar_path):
        sys.exit(f"specshow: {sidecar_path} is missing; it says how the features were made. "
                 "Keep the .json meltap wrote beside the .npy.")
    array, sidecar = meltap.load(args.features)  # the .npy and its sidecar, as meltap wrote them
    c = sidecar["configuration"]
    data = channels_bands_frames(array, sidecar).astype(np.float32)
    if c.get("useEnergy"):
        data = data[:, 1:, :]
    output, power = c["output"], c.get("power", 2)
    sr, hop, n_fft = sidecar["sampleRate"], c["hopLength"], c["fftLength"]

    axis = dict(sr=sr, hop_length=hop, n_fft=n_fft, x_axis="time")
    if output in ("spectrogram", "spectrogram-db"):
        axis["y_axis"] = "linear"
    elif output == "mfcc":
        axis["y_axis"] = None
    else:
        axis.update(y_axis="mel", fmin=c["minimumFrequency"], fmax=c["maximumFrequency"], htk=c["melScale"] == "htk")

    unit = {"log": "%+2.1f (ln)", "whisper": "%+2.2f", "mfcc": "%+2.0f", "pcen": "%+2.2f", "micro": "%2.0f"}
    label = output
    if output in ("power", "spectrogram"):
        to_db = librosa.amplitude_to_db if power == 1 else librosa.power_to_db
        data = np.stack([to_db(d, ref=np.max) for d in data])
        label = f"{output} ({'magnitude' if power == 1 else 'power'}) in dB re max"
        fmt = "%+2.0f dB"
    elif output in ("db", "spectrogram-db"):
        ref = c.get("dbReference") or "value"
        label = f"{output}, ref {ref if ref != 'value' else c.get('referencePower', 1)}" + (", amplitude" if power == 1 else "")
        fmt = "%+2.0f dB"
    else:
        fmt = unit.get(output, "%+2.2f")

    count = data.shape[0]
    fig, axes = plt.subplots(count, 1, figsize=(10, 3.2 * count), squeeze=False)
    for index, ax in enumerate(axes[:, 0]):
        # One-sided scales get a sequential map (specshow would pick a diverging one for any
        # negative value, e.g. every log output); MFCCs, signed around 0, keep the diverging one.
        cmap = "coolwarm" if output == "mfcc" else "magma"
        image = librosa.display.specshow(data[index], ax=ax, cmap=cmap, **axis)
        entry = sidecar.get("channels", [{}])[index] if index < len(sidecar.get("channels", [])) else {}
        name = f"channel {entry['channel']}" if "channel" in entry else (
            "average of channels " + ", ".join(map(str, entry.get("averageOf", []))) if entry else "")
        ax.set_title(f"{os.path.basename(args.features)}: {c['preset']} preset, {label}"
                     + (f" — {name}" if name else ""))
        if output == "mfcc":
            ax.set_ylabel("MFCC")
        fig.colorbar(image, ax=ax, format=fmt)
    fig.tight_layout()
    out = args.output or os.path.splitext(args.features)[0] + ".png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(out)


if __name__ == "__main__":
    main()
