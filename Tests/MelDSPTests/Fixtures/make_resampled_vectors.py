#!/usr/bin/env python3
"""Golden vectors for resampled input: the reference pipeline of issue 11.

    the 1.5 s test signal at 48 kHz and at 44.1 kHz
    -> librosa.resample(y, orig_sr=sr, target_sr=16000, res_type='soxr_hq')
    -> the preset's golden path at 16 kHz:
         whisper: the numpy emulation of whisper.log_mel_spectrogram (make_vectors.whisper_ref)
         kaldi:   kaldi-native-fbank on the resampled samples x 32768 (make_vectors.knf_fbank)

Writes <this folder>/resampled/ and resampled/manifest.json. Run it with the project's venv
(librosa 0.11.0, kaldi-native-fbank 1.22.5):

    MELTAP_PEERS=1 scripts/install-deps
    .venv/bin/python Tests/MelDSPTests/Fixtures/make_resampled_vectors.py

Inputs (the exact samples the Swift test feeds to `Resampler`):
  * 48 kHz: ../48000/signal_int16.npy (make_vectors.make_signal(48000); checked equal here).
  * 44.1 kHz: resampled/signal_44100_int16.npy (make_vectors.make_signal(44100): the same
    three sines and chirp, the noise seeded the same, silence from 0.60 to 0.70 s).
  Both are int16; the float signal is int16 / 32768 exactly (as signal_f32.npy is).

Outputs are float32, in the layouts of the other fixtures: Whisper (bands, frames), Kaldi
(frames, bins).
"""
import json
import os
import sys

import numpy as np
import scipy
import soxr

import librosa
import kaldi_native_fbank as knf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the fixtures folder
import make_vectors as mv  # noqa: E402  (shares the signal, Whisper emulation and knf driver)

OUT = os.path.join(HERE, "resampled")
TARGET = 16000
RATES = (48000, 44100)
f32 = np.float32


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = {
        "versions": {"librosa": librosa.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
                     "soxr": soxr.__version__, "kaldi_native_fbank": getattr(knf, "__version__", "?")},
        "pipeline": "librosa.resample(y, orig_sr=sr, target_sr=16000, res_type='soxr_hq') then the preset's golden "
                    "path (make_vectors.whisper_ref / make_vectors.knf_fbank(y16 * 32768, dither 0))",
        "inputs": {}, "resampled": {}, "outputs": {}}

    for sr in RATES:
        xi, y = mv.make_signal(sr)
        if sr == 48000:
            name = "../48000/signal_int16.npy"
            stored = np.load(os.path.join(HERE, "48000", "signal_int16.npy"))
            assert np.array_equal(stored, xi), "48000/signal_int16.npy differs from make_signal(48000)"
        else:
            name = f"signal_{sr}_int16.npy"
            np.save(os.path.join(OUT, name), xi)
        assert np.array_equal(y, xi.astype(f32) / f32(32768.0))
        manifest["inputs"][sr] = {"file": name, "n": int(len(xi)), "peak": float(np.abs(y).max())}

        y16 = librosa.resample(y, orig_sr=sr, target_sr=TARGET, res_type="soxr_hq")
        assert y16.dtype == f32, y16.dtype
        manifest["resampled"][sr] = {"n": int(len(y16)), "dtype": str(y16.dtype),
                                     "peak": float(np.abs(y16).max()),
                                     "first_vals": [float(v) for v in y16[:3]]}

        def save(stem, arr, note):
            arr = np.ascontiguousarray(arr, dtype=f32)
            fname = f"{stem}_from{sr}.npy"
            np.save(os.path.join(OUT, fname), arr)
            manifest["outputs"][fname] = {"shape": list(arr.shape), "dtype": str(arr.dtype), "note": note,
                                          "first_vals": [float(v) for v in arr.ravel()[:3]]}

        save("whisper_logmel80", mv.whisper_ref(y16, 80),
             "numpy emulation of whisper.log_mel_spectrogram(soxr_hq 16 kHz audio, 80), (bands, frames)")
        xk = y16 * f32(32768.0)
        save("kaldi_fbank23", mv.knf_fbank(xk, TARGET),
             "kaldi-native-fbank defaults, dither 0, 23 bins, input x 32768, (frames, bins)")
        save("kaldi_fbank80", mv.knf_fbank(xk, TARGET, num_bins=80),
             "kaldi-native-fbank, dither 0, 80 bins, input x 32768, (frames, bins)")

    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")
    json.dump(manifest, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
