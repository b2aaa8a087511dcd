"""pytest for the meltap Python package: equal to `meltap file` bit for bit, chunk invariance,
bad input raises MeltapError. Needs `make lib` and the release `meltap` (swift build -c release)."""

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import meltap

ROOT = Path(__file__).resolve().parents[2]
MELTAP = Path(os.environ.get("MELTAP_BIN", ROOT / ".build" / "release")) / "meltap"


def signal(sr: int, seconds: float = 1.5) -> np.ndarray:
    rng = np.random.default_rng(sr)
    t = np.arange(int(sr * seconds)) / sr
    # A quiet first third (about 90 dB down) so that top_db and Whisper's clamp bind: the running
    # and whole-signal clamps then give different frames.
    loud = np.where(t < seconds / 3, 1e-5, 1.0)
    return (loud * (0.4 * np.sin(2 * np.pi * (200 + 900 * t) * t) + 0.05 * rng.standard_normal(t.size))).astype(np.float32)


def meltap_file(y: np.ndarray, sr: int, preset: str, flags: list[str]) -> np.ndarray:
    with tempfile.TemporaryDirectory() as directory:
        wav, npy = os.path.join(directory, "y.wav"), os.path.join(directory, "y.npy")
        meltap._float_wav(wav, y, sr)
        subprocess.run([str(MELTAP), "file", wav, "-o", npy, "--no-progress", "--preset", preset, *flags],
                       check=True, capture_output=True)
        return np.load(npy)


CASES = [("whisper", {}, []), ("librosa", {"n_mels": 64, "output": "db"}, ["--n-mels", "64", "--features", "db"]),
         ("kaldi", {"analysis_rate": 16000, "n_mels": 80}, ["--sample-rate", "16000", "--n-mels", "80"]),
         ("micro", {}, []), ("openwakeword", {}, [])]


@pytest.mark.parametrize("preset,overrides,flags", CASES)
@pytest.mark.parametrize("sr", [16000, 44100, 48000])
def test_features_equal_meltap_file(preset, overrides, flags, sr):
    y = signal(sr)
    expected = meltap_file(y, sr, preset, flags)
    observed = meltap.features(y, sr, preset=preset, **overrides)
    assert observed.dtype == np.float32 and observed.shape == expected.shape
    assert observed.tobytes() == expected.tobytes()


@pytest.mark.parametrize("preset,overrides,flags", CASES)
def test_analyzer_equals_running_clamp_for_any_chunking(preset, overrides, flags):
    sr = 48000
    y = signal(sr)
    expected = meltap_file(y, sr, preset, flags + ["--clamp", "running"])
    rng = np.random.default_rng(7)
    for sizes in ([1], [7], [4096], list(rng.integers(1, 9000, size=64))):
        analyzer = meltap.Analyzer(preset, sr, **overrides)
        parts, start, i = [], 0, 0
        while start < y.size:
            size = int(sizes[i % len(sizes)])
            parts.append(analyzer.accept(y[start:start + size]))
            start += size
            i += 1
        parts.append(analyzer.flush())
        observed = np.concatenate(parts)
        assert observed.tobytes() == expected.tobytes(), f"chunks {sizes[:4]}"


def test_running_and_whole_signal_clamps_differ_here():
    y = signal(48000)
    assert meltap.features(y, 48000).tobytes() != meltap.features(y, 48000, clamp="running").tobytes()


def test_presets_and_config():
    assert meltap.presets() == ["librosa", "torchaudio", "kaldi", "whisper", "micro", "openwakeword"]
    analyzer = meltap.Analyzer("whisper", 48000)
    assert analyzer.frame_width == 80 and analyzer.analysis_rate == 16000
    assert analyzer.config["melBandCount"] == 80


@pytest.mark.parametrize("call,message", [
    (lambda: meltap.Analyzer("nope", 16000), "Unknown preset 'nope'"),
    (lambda: meltap.Analyzer("whisper", 16000, n_melz=3), "Unknown option 'n-melz'"),
    (lambda: meltap.Analyzer("whisper", 10), "from 1000 to 768000"),
    (lambda: meltap.features(np.zeros((2, 100), np.float32), 16000), "1-D array"),
    (lambda: meltap.features(np.zeros(100, np.int16), 16000), "float samples"),
    (lambda: meltap.features(np.zeros(0, np.float32), 16000), "empty"),
    (lambda: meltap.features(np.zeros(1000, np.float32), 16000, n_mels="x"), "n-mels as a whole number"),
])
def test_bad_input_raises(call, message):
    with pytest.raises(meltap.MeltapError, match=message):
        call()


def test_non_contiguous_and_nan_input():
    y = signal(16000)
    strided = np.repeat(y, 2)[::2]
    assert not strided.flags["C_CONTIGUOUS"]
    assert meltap.features(strided, 16000).tobytes() == meltap.features(y, 16000).tobytes()
    noisy = y.copy()
    noisy[100] = np.nan
    meltap.Analyzer("librosa", 16000).accept(noisy)  # no crash; NaN propagates as in the reference
