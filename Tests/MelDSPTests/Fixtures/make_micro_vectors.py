#!/usr/bin/env python3
"""Golden vectors for the `micro` preset: the TFLite-Micro audio frontend as pymicro-features runs it
(the features microWakeWord models consume). See docs/micro.md.

Writes micro/<signal>_int16.npy (16 kHz mono int16 input) and micro/<signal>_u16.npy (frames x 40,
uint16 frontend output; the float feature a model sees is u16 * 0.0390625) plus micro/manifest.json.

Needs: numpy, pymicro-features (PyPI), and espeak-ng + sox only when the speech signals are absent.
Ground truth is the library itself, fed 160 samples at a time exactly as pymicro-wakeword feeds it.
"""
import json
import os
import shutil
import subprocess
import tempfile
import wave

import numpy as np
from pymicro_features import MicroFrontend

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "micro")
SR = 16000


def speech(text, voice, path):
    """espeak-ng speech, resampled to 16 kHz int16 with 0.5 s of silence either side."""
    if os.path.exists(path):
        return np.load(path)
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        raise SystemExit(f"{path} is missing and espeak-ng/sox are not installed to make it")
    with tempfile.TemporaryDirectory() as d:
        raw, wav = os.path.join(d, "raw.wav"), os.path.join(d, "out.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", raw, text], check=True)
        subprocess.run(["sox", raw, "-r", str(SR), "-b", "16", "-c", "1", wav, "pad", "0.5", "0.5"], check=True)
        with wave.open(wav, "rb") as w:
            return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).copy()


def signals():
    rng = np.random.default_rng(1)
    n = SR
    t = np.arange(n) / SR
    s = {
        "noise_fullscale": rng.integers(-32768, 32768, n).astype(np.int16),
        # Includes -32768, whose int16 negation is the frontend's documented quirk.
        "square_clipped": np.where((np.arange(n) // 20) % 2, 32767, -32768).astype(np.int16),
        "sweep": (32000 * np.sin(2 * np.pi * (50 * t + 3900 * t * t))).astype(np.int16),
        "silence": np.zeros(n, np.int16),
        "quiet_noise": rng.integers(-3, 4, n).astype(np.int16),
        "okay_nabu": speech("okay nabu", "en", os.path.join(OUT, "okay_nabu_int16.npy")),
        "alexa": speech("alexa", "en+m3", os.path.join(OUT, "alexa_int16.npy")),
    }
    mel16 = os.path.join(HERE, "16000", "signal_int16.npy")
    if os.path.exists(mel16):  # the mel presets' test signal, for continuity
        s["mel_signal"] = np.load(mel16)
    return s


def micro_features(samples):
    """uint16 (frames, 40): pymicro-features fed 160 samples per call, as pymicro-wakeword does."""
    fe = MicroFrontend()
    rows = []
    data = samples.astype("<i2").tobytes()
    step = 160 * 2
    for i in range(0, len(data) - step + 1, step):
        out = fe.process_samples(data[i:i + step])
        if out.features:
            rows.append(np.round(np.asarray(out.features, np.float64) / 0.0390625).astype(np.uint16))
    return np.array(rows, np.uint16).reshape(-1, 40)


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = {"library": "pymicro-features", "feeding": "160 samples per call", "scale": 0.0390625, "signals": {}}
    for name, x in signals().items():
        u = micro_features(x)
        np.save(os.path.join(OUT, f"{name}_int16.npy"), x)
        np.save(os.path.join(OUT, f"{name}_u16.npy"), u)
        manifest["signals"][name] = {"samples": int(len(x)), "frames": int(len(u)),
                                     "nonzero": float(np.mean(u > 0)), "max": int(u.max()) if u.size else 0}
        print(f"{name:16s} {len(x):6d} samples -> {u.shape[0]:4d} frames, max {manifest['signals'][name]['max']}")
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
