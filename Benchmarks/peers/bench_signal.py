"""The benchmark signal of Benchmarks/melbase/melbase.c and meltap-bench, in numpy: shared by
bench_peers.py and bench_micro.py."""
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
