"""Two builds of meltap side by side: meltap.features against asrfront on Whisper, 80 mels.

    PYTHONPATH=python python/benchmarks/compare_libraries.py OLD/libmeltap.so[:OLD/python] NEW/libmeltap.so \\
        [--rounds 3] [--seconds 30] [--calls 60]

Each round runs one process per build, in turn, pinned to core 1 (`taskset -c 1`); a build is a
libmeltap.so and, after a colon, the directory holding the `meltap` package to import with it
(default: this checkout's python/). Each process makes --calls calls of
`meltap.features(y, 16000)`, each followed at once by `asrfront.whisper.log_mel(y, 80,
pad_or_trim=False)` on the same signal (20 signals of --seconds, a chirp plus noise), and prints
the medians and the median of the per-call ratios asrfront / meltap. That ratio, measured
against the same peer a moment apart in the same process, is what to compare: on a shared VM
the machine's speed moves both columns together, from call to call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def measure(seconds: float, calls: int) -> None:
    import numpy as np
    import meltap
    from asrfront import whisper

    t = np.arange(int(16000 * seconds)) / 16000
    signals = [(0.3 * np.sin(2 * np.pi * (100 + 50 * s + 400 * t) * t)
                + 0.05 * np.random.default_rng(s).standard_normal(t.size)).astype(np.float32) for s in range(21)]
    meltap.features(signals[-1], 16000)
    whisper.log_mel(signals[-1], 80, pad_or_trim=False)
    ours, theirs, ratios = [], [], []
    for i in range(calls):
        y = signals[i % 20]
        start = time.perf_counter()
        meltap.features(y, 16000)
        middle = time.perf_counter()
        whisper.log_mel(y, 80, pad_or_trim=False)
        end = time.perf_counter()
        ours.append(middle - start)
        theirs.append(end - middle)
        ratios.append((end - middle) / (middle - start))
    print(f"{os.environ['MELTAP_LIB']}: {seconds:g} s clips, meltap {statistics.median(ours) * 1e3:.3f} ms, "
          f"asrfront {statistics.median(theirs) * 1e3:.3f} ms, asrfront / meltap {statistics.median(ratios):.3f} "
          f"(median of {calls} pairs)", flush=True)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        measure(float(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builds", nargs="+", help="LIB.so or LIB.so:PYTHON_DIR, the builds to compare")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0, help="clip length in seconds (default 30)")
    parser.add_argument("--calls", type=int, default=60, help="calls per process (default 60)")
    args = parser.parse_args()
    default_python = os.path.dirname(HERE)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    for _ in range(args.rounds):
        for build in args.builds:
            library, _, python = build.partition(":")
            subprocess.run(["taskset", "-c", "1", sys.executable, __file__, "--child", str(args.seconds), str(args.calls)],
                           env=dict(env, MELTAP_LIB=os.path.abspath(library),
                                    PYTHONPATH=os.path.abspath(python or default_python)), check=True)


if __name__ == "__main__":
    main()
