"""Two builds of libmeltap side by side: meltap.features against asrfront on 30 s of Whisper.

    PYTHONPATH=python python/benchmarks/compare_libraries.py OLD/libmeltap.so NEW/libmeltap.so [--rounds 3]

Each round runs one process per library, in turn, pinned to core 0 (`taskset -c 0`); each
process times 60 calls of `meltap.features(y, 16000)` alternating with
`asrfront.whisper.log_mel(y, 80, pad_or_trim=False)` on 20 different signals, and prints the
medians and asrfront / meltap. The ratio, measured against the same peer in the same process,
is what to compare: the machine's speed moves both columns together.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def measure() -> None:
    import numpy as np
    import meltap
    from asrfront import whisper

    t = np.arange(480000) / 16000
    signals = [(0.3 * np.sin(2 * np.pi * (100 + 50 * s + 400 * t) * t)
                + 0.05 * np.random.default_rng(s).standard_normal(t.size)).astype(np.float32) for s in range(21)]
    meltap.features(signals[-1], 16000)
    whisper.log_mel(signals[-1], 80, pad_or_trim=False)
    ours, theirs = [], []
    for i in range(60):
        y = signals[i % 20]
        start = time.perf_counter()
        meltap.features(y, 16000)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        whisper.log_mel(y, 80, pad_or_trim=False)
        theirs.append(time.perf_counter() - start)
    m, a = statistics.median(ours), statistics.median(theirs)
    print(f"{os.environ['MELTAP_LIB']}: meltap {m * 1e3:.3f} ms, asrfront {a * 1e3:.3f} ms, "
          f"asrfront / meltap {a / m:.2f}", flush=True)


def main() -> None:
    if len(sys.argv) == 2 and sys.argv[1] == "--child":
        measure()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("libraries", nargs="+", help="libmeltap.so files to compare")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    for _ in range(args.rounds):
        for library in args.libraries:
            subprocess.run(["taskset", "-c", "0", sys.executable, __file__, "--child"],
                           env=dict(env, MELTAP_LIB=os.path.abspath(library)), check=True)


if __name__ == "__main__":
    main()
