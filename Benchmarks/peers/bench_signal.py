"""The benchmark signal of Benchmarks/melbase/melbase.c and meltap-bench, in numpy, and the two
meltap runs the int16 frontends' benchmarks share (bench_micro.py, bench_openwakeword.py)."""
import os
import subprocess
import tempfile
import wave

import numpy as np


def signal(sr, secs):
    """melbase.c's signal, vectorised: x[i] = 0.3·sinf(0.05·i) + LCG noise in ±0.05 (float32).

    The LCG s ← 1664525·s + 1013904223 (mod 2³²) after i+1 steps is A·s0 + c·(1 + a + … + a^i),
    with the powers from a wrapping uint64 cumulative product (exact mod 2³²)."""
    n = int(secs * sr)
    a = np.full(n, 1664525, dtype=np.uint64)
    with np.errstate(over="ignore"):
        powers = np.cumprod(a)                        # a^(i+1) mod 2^64
        geometric = np.cumsum(np.concatenate(([np.uint64(1)], powers[:-1])))  # Σ_{j≤i} a^j
        s = (powers * np.uint64(1) + np.uint64(1013904223) * geometric) & np.uint64(0xFFFFFFFF)
    noise = ((s >> np.uint64(8)).astype(np.float32) / np.float32(16777216.0) - np.float32(0.5)) * np.float32(0.1)
    sine = np.float32(0.3) * np.sin(np.arange(n, dtype=np.float32) * np.float32(0.05))
    return (sine + noise).astype(np.float32)


def meltap_core_times(bench, preset, seconds, repetitions):
    """meltap-bench's row for `preset`: (ns per frame, × real time), best of `repetitions`."""
    out = subprocess.run([bench, "--preset", preset, "--seconds", str(seconds), "--repetitions", str(repetitions)],
                         check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        cols = line.split()
        if len(cols) == 11 and cols[0] == preset:
            return float(cols[8]), float(cols[9])
    raise RuntimeError(f"meltap-bench printed no {preset} row:\n{out}")


def meltap_file_int16(meltap, data, sr, preset):
    """`meltap file --preset PRESET` on `data` (int16 values) written as a 16-bit mono WAV at `sr`."""
    with tempfile.TemporaryDirectory() as work:
        wav, npy = os.path.join(work, "signal.wav"), os.path.join(work, "signal.npy")
        with wave.open(wav, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sr)
            w.writeframes(data.astype("<i2").tobytes())
        subprocess.run([meltap, "file", wav, "-o", npy, "--preset", preset, "--no-progress"], check=True,
                       capture_output=True)
        return np.load(npy)
