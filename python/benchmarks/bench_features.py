"""meltap.features against asrfront.whisper.log_mel, in one process: Whisper, 80 mels, 16 kHz.

Prints, per case, the median and minimum wall time of one call over --runs calls (each call on
a different signal: asrfront caches on identical input), and the ratio asrfront / meltap
(above 1: meltap is faster). Run it pinned to one core for the one-thread figures:

    PYTHONPATH=python taskset -c 0 .venv/bin/python python/benchmarks/bench_features.py

--batch also measures features_batch's throughput with 1 and 2 threads (unpinned: give it 2
cores, and OPENBLAS_NUM_THREADS=1: numpy's OpenBLAS threads busy-wait on the cores otherwise,
which cost up to a third of the 2-thread figure here). asrfront comes with the lead's venv
(scripts/install-deps, MELTAP_PEERS=1).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import meltap


def signals(count: int, seconds: float, sr: int = 16000) -> list[np.ndarray]:
    """`count` different signals (a chirp plus noise, each with its own seed)."""
    t = np.arange(int(sr * seconds)) / sr
    out = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        y = 0.3 * np.sin(2 * np.pi * (100 + 50 * seed + 400 * t) * t) + 0.05 * rng.standard_normal(t.size)
        out.append(y.astype(np.float32))
    return out


def timed(call, inputs: list[np.ndarray], runs: int) -> list[float]:
    call(inputs[-1])  # warm-up: plans, pools, page faults (on an input not used below)
    times = []
    for i in range(runs):
        y = inputs[i % (len(inputs) - 1)]
        start = time.perf_counter()
        call(y)
        times.append(time.perf_counter() - start)
    return times


def report(name: str, times: list[float]) -> float:
    median = statistics.median(times)
    print(f"  {name:34s} median {median * 1e3:8.3f} ms   min {min(times) * 1e3:8.3f} ms")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="timed calls per case (default 40)")
    parser.add_argument("--batch", action="store_true", help="also measure features_batch with 1 and 2 threads")
    parser.add_argument("--batch-rounds", type=int, default=15,
                        help="interleaved rounds of features_batch with 1 and 2 threads (default 15)")
    args = parser.parse_args()
    from asrfront import whisper

    for seconds in (30.0, 0.5):
        inputs = signals(min(args.runs, 20) + 1, seconds)
        print(f"{seconds:g} s at 16 kHz, Whisper 80 mels, {args.runs} calls each on {len(inputs) - 1} different signals:")
        m = report("meltap.features(y, 16000)", timed(lambda y: meltap.features(y, 16000, "whisper"), inputs, args.runs))
        a = report("asrfront.whisper.log_mel(y, 80, False)",
                   timed(lambda y: whisper.log_mel(y, 80, pad_or_trim=False), inputs, args.runs))
        print(f"  asrfront / meltap = {a / m:.2f}")

    if args.batch:
        inputs = signals(16, 30.0)
        print("features_batch, 16 signals of 30 s, whisper:")
        # Interleaved rounds (1 thread, then 2), each case warmed up first: on a shared VM a slow
        # stretch then hits both cases alike instead of one of them.
        for threads in (1, 2):
            meltap.features_batch(inputs, 16000, threads=threads)
        times = {1: [], 2: []}
        for _ in range(args.batch_rounds):
            for threads in (1, 2):
                start = time.perf_counter()
                meltap.features_batch(inputs, 16000, threads=threads)
                times[threads].append(time.perf_counter() - start)
        one = report("threads=1", times[1])
        two = report("threads=2", times[2])
        print(f"  throughput 2 threads / 1 thread = {one / two:.2f} (medians of {args.batch_rounds} interleaved rounds)")


if __name__ == "__main__":
    main()
