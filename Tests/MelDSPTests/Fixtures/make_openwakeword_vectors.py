#!/usr/bin/env python3
"""Golden vectors for the `openwakeword` preset: openWakeWord's melspectrogram model as pyopen-wakeword 1.1.0
bundles it (`melspectrogram.tflite`, run through the package's own TFLite C library), followed by x/10 + 2.
See docs/presets.md, "openwakeword".

The model is called the way `OpenWakeWordFeatures.process_streaming` calls it: on 1760-sample windows every 1280
samples, 8 frames per call on a continuous 160-sample grid (frame n covers samples 160n .. 160n + 511), so the
-80 dB floor (max over one call) is per group of 8 frames counted from the first sample, and only whole groups
exist.

Writes openwakeword/<signal>_int16.npy (16 kHz mono int16 input), openwakeword/<signal>_tflite.npy (frames x 32,
float32, the model's output / 10 + 2) and openwakeword/manifest.json. The manifest also records, per signal, the
model's own float32 error: the largest |tflite - float64 emulation| (the emulation below computes the same maths in
float64 numpy), which is what the Swift test's tolerance is measured against.

Needs: numpy, librosa (for the emulation's filter bank), pyopen-wakeword==1.1.0, and espeak-ng + soxr only when
the speech signal is absent.
"""
import ctypes as C
import json
import os
import shutil
import subprocess
import tempfile
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "openwakeword")
SR = 16000


def speech(text, voice, path):
    """espeak-ng speech (22.05 kHz), resampled to 16 kHz int16 by soxr (VHQ), with 0.5 s of silence either side."""
    if os.path.exists(path):
        return np.load(path)
    if not shutil.which("espeak-ng"):
        raise SystemExit(f"{path} is missing and espeak-ng is not installed to make it")
    import soxr
    with tempfile.TemporaryDirectory() as d:
        raw = os.path.join(d, "raw.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", raw, text], check=True)
        with wave.open(raw, "rb") as w:
            rate = w.getframerate()
            y = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64) / 32768
    y = soxr.resample(y, rate, SR, quality="VHQ")
    pad = np.zeros(SR // 2)
    return np.clip(np.rint(np.concatenate([pad, y, pad]) * 32768), -32768, 32767).astype(np.int16)


def signals():
    """Inputs whose lengths are not whole groups, so the dropped partial group is exercised too."""
    rng = np.random.default_rng(23)
    n = SR + 333
    t = np.arange(n) / SR
    s = {
        "hey_jarvis": speech("hey jarvis", "en+m3", os.path.join(OUT, "hey_jarvis_int16.npy")),
        "noise_loud": np.clip(rng.standard_normal(n) * 8000, -32768, 32767).astype(np.int16),
        "noise_mid": np.clip(rng.standard_normal(n) * 300, -32768, 32767).astype(np.int16),
        "noise_quiet": rng.integers(-2, 3, n).astype(np.int16),
        "silence": np.zeros(n, np.int16),
        "tones": (6000 * np.sin(2 * np.pi * 440 * t) + 3000 * np.sin(2 * np.pi * 1830 * t)
                  + 1500 * np.sin(2 * np.pi * 3400 * t)).astype(np.int16),
        "sweep": (20000 * np.sin(2 * np.pi * (30 * t + 3970 * t * t))).astype(np.int16),
    }
    # Digital silence, then a loud onset mid-group (sample 12345 is in frame 77, group 9), then silence again:
    # groups wholly silent sit at -100 dB, groups with the onset floor their silent frames at max - 80.
    onset = np.zeros(n, np.int16)
    onset[12345:12345 + 2400] = np.clip(rng.standard_normal(2400) * 20000, -32768, 32767).astype(np.int16)
    s["silence_onset"] = onset
    return s


def tflite(x):
    """(frames, 32) float32: the bundled model on 1760-sample windows every 1280 samples, then / 10 + 2."""
    from pyopen_wakeword import OpenWakeWordFeatures
    f = OpenWakeWordFeatures.from_builtin()
    x = np.asarray(x, np.int16).astype(np.float32)
    out = []
    for k in range(0, (len(x) - 1760) // 1280 + 1):
        a = np.ascontiguousarray(x[1280 * k:1280 * k + 1760][None, :])
        f.lib.TfLiteTensorCopyFromBuffer(f.mel_input_tensor, a.ctypes.data_as(C.c_void_p), C.c_size_t(a.nbytes))
        f.lib.TfLiteInterpreterInvoke(f.mel_interpreter)
        nb = f.lib.TfLiteTensorByteSize(f.mel_output_tensor)
        m = np.empty(nb // 4, np.float32)
        f.lib.TfLiteTensorCopyToBuffer(f.mel_output_tensor, m.ctypes.data_as(C.c_void_p), C.c_size_t(nb))
        out.append(m.reshape(-1, 32) / 10 + 2)
    return np.concatenate(out) if out else np.zeros((0, 32), np.float32)


def emulation(x):
    """The same maths in float64 numpy (frames, 32): what the model computes, without its float32 rounding."""
    import librosa
    x = np.asarray(x, np.int16).astype(np.float64)
    n = (len(x) - 512) // 160 + 1
    n -= n % 8
    if n <= 0:
        return np.zeros((0, 32))
    w = np.zeros(512)
    w[56:456] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    idx = np.arange(512)[None, :] + 160 * np.arange(n)[:, None]
    power = np.abs(np.fft.rfft(x[idx] * w, axis=1)) ** 2
    mel = power @ librosa.filters.mel(sr=SR, n_fft=512, n_mels=32, fmin=60, fmax=3800, htk=False, norm="slaney").T
    db = 10 * np.log10(np.maximum(mel, 1e-10))
    for g in range(0, n, 8):
        db[g:g + 8] = np.maximum(db[g:g + 8], db[g:g + 8].max() - 80)
    return db / 10 + 2


def main():
    import importlib.metadata as md
    os.makedirs(OUT, exist_ok=True)
    manifest = {"library": f"pyopen-wakeword {md.version('pyopen-wakeword')} (melspectrogram.tflite)",
                "calls": "1760-sample windows every 1280 samples (process_streaming), 8 frames each",
                "scaling": "model output / 10 + 2", "signals": {}}
    for name, x in signals().items():
        t, e = tflite(x), emulation(x)
        assert t.shape == e.shape, (name, t.shape, e.shape)
        own = float(np.abs(t.astype(np.float64) - e).max()) if t.size else 0.0
        np.save(os.path.join(OUT, f"{name}_int16.npy"), x)
        np.save(os.path.join(OUT, f"{name}_tflite.npy"), t)
        manifest["signals"][name] = {"samples": int(len(x)), "frames": int(len(t)),
                                     "tflite_vs_float64_max_abs": own,
                                     "min": float(t.min()) if t.size else 0.0, "max": float(t.max()) if t.size else 0.0}
        print(f"{name:14s} {len(x):6d} samples -> {len(t):4d} frames, tflite vs float64 max |diff| {own:.2e}")
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
