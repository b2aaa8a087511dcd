"""Times the micro preset against pymicro-features on the same signal, one thread, CPU time.

  meltap core        meltap-bench --preset micro: MelAnalyzer.process in 256-sample blocks
                     (the live path), float samples converted to int16 inside
  pymicro-features   MicroFrontend.process_samples fed 160 samples (320 bytes) per call, as
                     pymicro-wakeword feeds it, on the same signal converted to int16 with
                     meltap's rule (x·32768 rounded, ties to even, clamped)

The signal is melbase.c's (bench_signal.py) at 16 kHz. With --meltap, also checks that
`meltap file --preset micro` on the int16 WAV of that signal gives exactly pymicro-features'
frames. Usage (after `swift build -c release`):

  .venv/bin/python Benchmarks/peers/bench_micro.py --meltap-bench .build/release/meltap-bench \
      [--meltap .build/release/meltap] [--seconds 120]
"""
import argparse
import os
import resource
import sys

for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[name] = "1"
import numpy as np  # noqa: E402  (after the thread limits)
from bench_signal import meltap_core_times, meltap_file_int16, signal  # noqa: E402
from pymicro_features import MicroFrontend  # noqa: E402

SR, HOP, REPS = 16000, 160, 3


def cpu_seconds():
    """User + system CPU time of this process."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def pymicro_frames(data):
    """uint16 frames of pymicro-features on int16 `data`, fed 160 samples per call."""
    frontend = MicroFrontend()
    raw = data.astype("<i2").tobytes()
    rows = []
    for i in range(0, len(raw) - 2 * HOP + 1, 2 * HOP):
        out = frontend.process_samples(raw[i:i + 2 * HOP])
        if out.features:
            rows.append(out.features)
    return np.rint(np.asarray(rows, np.float64) / 0.0390625).astype(np.uint16)


def time_pymicro(data):
    """Fastest of REPS passes (after a warm-up pass): CPU seconds and frames."""
    frames = pymicro_frames(data)
    best = float("inf")
    for _ in range(REPS):
        t0 = cpu_seconds()
        pymicro_frames(data)
        best = min(best, cpu_seconds() - t0)
    return best, len(frames)


def time_meltap_core(bench, seconds):
    return meltap_core_times(bench, "micro", seconds, REPS)


def check_meltap_file(meltap, data, expected):
    got = meltap_file_int16(meltap, data, SR, "micro")
    want = expected.astype(np.float32) * np.float32(0.0390625)
    if got.shape != want.shape:
        return f"shape {got.shape}, pymicro-features {want.shape}"
    return f"{int((got != want).sum())} mismatches of {want.size} values"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meltap-bench", required=True, help="the release meltap-bench")
    parser.add_argument("--meltap", help="a meltap binary: also compare `meltap file` with pymicro-features")
    parser.add_argument("--seconds", type=float, default=120, help="seconds of signal (default 120)")
    args = parser.parse_args()

    x = signal(SR, args.seconds)
    data = np.clip(np.rint(x.astype(np.float64) * 32768), -32768, 32767).astype(np.int16)
    core_ns, core_xrt = time_meltap_core(args.meltap_bench, args.seconds)
    dt, frames = time_pymicro(data)
    py_ns, py_xrt = dt * 1e9 / frames, args.seconds / dt
    print(f"micro preset: {args.seconds:g} s of melbase.c's signal at 16 kHz, one thread, CPU time, best of {REPS}")
    print(f"{'system':58s} {'x_realtime':>11s} {'ns/frame':>9s}")
    print(f"{'meltap core (meltap-bench, 256-sample blocks)':58s} {core_xrt:11.0f} {core_ns:9.0f}")
    print(f"{'pymicro-features 2.0.2 (Python, 160 samples per call)':58s} {py_xrt:11.0f} {py_ns:9.0f}")
    print(f"meltap core ÷ pymicro-features, ns/frame: {core_ns / py_ns:.2f}")
    if args.meltap:
        print(f"meltap file --preset micro vs pymicro-features: "
              f"{check_meltap_file(args.meltap, data, pymicro_frames(data))}")


if __name__ == "__main__":
    sys.exit(main())
