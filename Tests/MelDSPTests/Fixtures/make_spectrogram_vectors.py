#!/usr/bin/env python3
"""Golden vectors for issue 14: linear spectrograms, amplitude dB, ref=max/min, and the
inversion figure (librosa.feature.inverse.mel_to_audio).

Writes <this folder>/spectrogram/<sr>/*.npy and spectrogram/manifest.json. Input: the 1.5 s test
signal of make_vectors.py (Fixtures/<sr>/signal_f32.npy), at 16 and 48 kHz. Every array is
float32 and laid out as librosa returns it, (bins or bands, frames).

* librosa_stft_power.npy / librosa_stft_magnitude.npy: np.abs(librosa.stft(y))**2 / **1 with
  the librosa preset's parameters (n_fft 2048, hop 512, hann, center, pad_mode 'constant').
* torchaudio_spectrogram_emulated.npy: torchaudio.transforms.Spectrogram() defaults (n_fft 400,
  hop 200, periodic Hann in float32, center, reflect padding, power 2), emulated in numpy with
  make_vectors.py's building blocks because torch is not installed here (if torchaudio imports,
  torchaudio_spectrogram_torch.npy is written too and compared in the manifest).
* librosa_mel_amplitude_db.npy: amplitude_to_db(melspectrogram(y, power=1)) (ref 1, amin 1e-5,
  top_db 80).
* librosa_mel_amplitude_db_refmin.npy: amplitude_to_db(mel magnitude, ref=np.min).
* librosa_mel_power_db_refmax.npy: power_to_db(melspectrogram(y), ref=np.max).
* librosa_mel_power_db_ref0.01.npy: power_to_db(melspectrogram(y), ref=0.01).
* librosa_stft_amplitude_db_refmax.npy: amplitude_to_db(np.abs(stft(y)), ref=np.max), the
  tutorials' first plot.
* inversion (16 kHz only, manifest["inversion"]): M = melspectrogram(y) (librosa preset),
  y' = mel_to_audio(M, sr, n_fft=2048, hop_length=512, n_iter=32) after np.random.seed(s), and the
  spectral convergence ||M - melspectrogram(y')|| / ||M|| (Frobenius, on mel power), averaged over
  seeds 0..4. Also the same on magnitude (power=1). meltap's InversionTests bound their mean over
  the same seeds by this figure + 10 %.

Regenerate with:
    MELTAP_PEERS=1 scripts/install-deps
    .venv/bin/python Tests/MelDSPTests/Fixtures/make_spectrogram_vectors.py
"""
import json
import os
import sys
import time

# One BLAS thread: threaded reductions in the least squares made librosa's inversion figure differ
# from run to run (0.182 to 0.192 for the same seed).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np
import librosa

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_vectors import frames_centered, hann_torch_periodic_f32  # noqa: E402

OUT = os.path.join(HERE, "spectrogram")
SEEDS = range(5)  # Griffin-Lim starts from random phases: the figure is a mean over seeds
f32 = np.float32


def torchaudio_spectrogram_emulated(y, n_fft=400, hop=200, power=2.0):
    """torchaudio.transforms.Spectrogram() defaults: torch.stft(center=True, pad_mode='reflect',
    window=hann_window(400) float32, onesided) -> |X|**power, float32 throughout."""
    frames = frames_centered(y.astype(f32), n_fft, hop, "reflect")        # (T, n_fft)
    w = hann_torch_periodic_f32(n_fft)
    X = np.fft.rfft((frames * w).astype(f32), axis=1)                     # complex64 (numpy 2)
    mag = np.abs(X).astype(f32)
    return (mag ** f32(power)).astype(f32).T if power != 1 else mag.T     # (bins, T)


def spectral_convergence(M, M_hat):
    n = min(M.shape[1], M_hat.shape[1])
    return float(np.linalg.norm(M[:, :n] - M_hat[:, :n]) / np.linalg.norm(M[:, :n]))


def main():
    manifest = {"librosa": librosa.__version__, "numpy": np.__version__, "rates": {}}
    for sr in (16000, 48000):
        y = np.load(os.path.join(HERE, str(sr), "signal_f32.npy")).astype(f32)
        d = os.path.join(OUT, str(sr))
        os.makedirs(d, exist_ok=True)
        shapes = {}

        def save(name, a):
            a = np.ascontiguousarray(a.astype(f32))
            np.save(os.path.join(d, name + ".npy"), a)
            shapes[name] = list(a.shape)

        D = librosa.stft(y, n_fft=2048, hop_length=512)                   # complex64
        save("librosa_stft_power", np.abs(D) ** 2)
        save("librosa_stft_magnitude", np.abs(D))
        save("librosa_stft_amplitude_db_refmax", librosa.amplitude_to_db(np.abs(D), ref=np.max))
        mel_mag = librosa.feature.melspectrogram(y=y, sr=sr, power=1.0)
        mel_pow = librosa.feature.melspectrogram(y=y, sr=sr)
        save("librosa_mel_amplitude_db", librosa.amplitude_to_db(mel_mag))
        save("librosa_mel_amplitude_db_refmin", librosa.amplitude_to_db(mel_mag, ref=np.min))
        save("librosa_mel_power_db_refmax", librosa.power_to_db(mel_pow, ref=np.max))
        save("librosa_mel_power_db_ref0.01", librosa.power_to_db(mel_pow, ref=0.01))
        ta = torchaudio_spectrogram_emulated(y)
        save("torchaudio_spectrogram_emulated", ta)
        try:
            import torch
            import torchaudio
            t = torchaudio.transforms.Spectrogram()(torch.from_numpy(y)).numpy()
            save("torchaudio_spectrogram_torch", t)
            manifest.setdefault("torch_vs_emulation", {})[str(sr)] = float(
                np.max(np.abs(t - ta) / (np.abs(t) + 1e-6 * np.abs(t).max(axis=0, keepdims=True))))
        except ImportError:
            pass
        manifest["rates"][str(sr)] = shapes

    # Inversion: librosa's mel_to_audio on the librosa preset's features, 16 kHz.
    sr = 16000
    y = np.load(os.path.join(HERE, str(sr), "signal_f32.npy")).astype(f32)
    inversion = {}
    for power in (2.0, 1.0):
        M = librosa.feature.melspectrogram(y=y, sr=sr, power=power)
        figures = []
        for seed in SEEDS:
            np.random.seed(seed)  # mel_to_audio's griffinlim draws its random phases from np.random
            y_inv = librosa.feature.inverse.mel_to_audio(M, sr=sr, n_fft=2048, hop_length=512, power=power,
                                                         n_iter=32)
            M_hat = librosa.feature.melspectrogram(y=y_inv, sr=sr, power=power)
            figures.append(spectral_convergence(M, M_hat))
        inversion["power" if power == 2 else "magnitude"] = {
            "spectral_convergence": float(np.mean(figures)), "per_seed": figures, "samples": int(y_inv.size)}
    manifest["inversion"] = {
        "what": "librosa.feature.inverse.mel_to_audio(melspectrogram(y, sr=16000, power=p), n_iter=32) after "
                "np.random.seed(s) for s in 0..4; spectral_convergence is the mean over the seeds of "
                "||M - M'||_F / ||M||_F with M' the melspectrogram of the result (same power)",
        **inversion}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    print(json.dumps(manifest["inversion"], indent=1))


if __name__ == "__main__":
    main()
