"""Times the openwakeword preset against pyopen-wakeword's melspectrogram model on the same signal, CPU time.

  meltap core          meltap-bench --preset openwakeword: MelAnalyzer.process in 256-sample blocks (the live
                       path), float samples rounded to int16 inside, one thread
  melspectrogram.tflite pyopen-wakeword 1.1.0's model through its bundled TFLite library, called as
                       OpenWakeWordFeatures.process_streaming calls it (1760 samples every 1280: 8 frames per
                       call), with its interpreter as pyopen-wakeword builds it, then / 10 + 2; on the same signal
                       converted to int16 with meltap's rule (x·32768 rounded, ties to even, clamped)

CPU time is the whole process's (user + system), so TFLite worker threads would count; the script also prints
the calling thread's own CPU time, and the two agree when the model runs on one thread. The signal is melbase.c's
(bench_signal.py) at 16 kHz. With --meltap, also reports the largest difference between `meltap file --preset
openwakeword` on the int16 WAV of that signal and the model's frames. Usage (after `swift build -c release`):

  .venv/bin/python Benchmarks/peers/bench_openwakeword.py --meltap-bench .build/release/meltap-bench \\
      [--meltap .build/release/meltap] [--seconds 120]
"""
import argparse
import ctypes as C
import os
import resource
import sys
import time

for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[name] = "1"
import numpy as np  # noqa: E402  (after the thread limits)
from bench_signal import meltap_core_times, meltap_file_int16, signal  # noqa: E402

SR, REPS = 16000, 3


def cpu_seconds():
    """User + system CPU time of this process (all threads)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


class Melspectrogram:
    """The model in an interpreter of its own, as pyopen-wakeword builds it (`threads` None: TFLite's default
    thread count) or with TfLiteInterpreterOptionsSetNumThreads(threads)."""

    def __init__(self, threads=None):
        from pyopen_wakeword import OpenWakeWordFeatures
        features = OpenWakeWordFeatures.from_builtin()
        self.features = features  # keeps the library and its model alive
        lib = self.lib = features.lib
        if threads is None:
            self.interpreter = features.mel_interpreter
        else:
            lib.TfLiteInterpreterOptionsCreate.restype = C.c_void_p
            lib.TfLiteInterpreterOptionsSetNumThreads.argtypes = [C.c_void_p, C.c_int32]
            lib.TfLiteInterpreterOptionsSetNumThreads.restype = None
            options = lib.TfLiteInterpreterOptionsCreate()
            lib.TfLiteInterpreterOptionsSetNumThreads(options, threads)
            self.interpreter = lib.TfLiteInterpreterCreate(features.mel_model, C.c_void_p(options))
            dims = (C.c_int32 * 2)(1, 1760)
            lib.TfLiteInterpreterResizeInputTensor(self.interpreter, C.c_int32(0), dims, C.c_int32(2))
            lib.TfLiteInterpreterAllocateTensors(self.interpreter)
        self.input = lib.TfLiteInterpreterGetInputTensor(self.interpreter, C.c_int32(0))
        self.output = lib.TfLiteInterpreterGetOutputTensor(self.interpreter, C.c_int32(0))


def model_frames(model, data):
    """(frames, 32) float32: the model on 1760-sample windows every 1280 samples, / 10 + 2."""
    lib = model.lib
    x = data.astype(np.float32)
    out = []
    nb = lib.TfLiteTensorByteSize(model.output)
    for k in range(0, (len(x) - 1760) // 1280 + 1):
        a = np.ascontiguousarray(x[1280 * k:1280 * k + 1760][None, :])
        lib.TfLiteTensorCopyFromBuffer(model.input, a.ctypes.data_as(C.c_void_p), C.c_size_t(a.nbytes))
        lib.TfLiteInterpreterInvoke(model.interpreter)
        m = np.empty(nb // 4, np.float32)
        lib.TfLiteTensorCopyToBuffer(model.output, m.ctypes.data_as(C.c_void_p), C.c_size_t(nb))
        out.append(m.reshape(-1, 32) / 10 + 2)
    return np.concatenate(out)


def time_model(data, threads):
    """Fastest of REPS passes (after a warm-up pass): process CPU seconds, thread CPU seconds, frames."""
    features = Melspectrogram(threads)
    frames = model_frames(features, data)
    best, best_thread = float("inf"), float("inf")
    for _ in range(REPS):
        t0, th0 = cpu_seconds(), time.thread_time()
        model_frames(features, data)
        best, best_thread = min(best, cpu_seconds() - t0), min(best_thread, time.thread_time() - th0)
    return best, best_thread, frames


def time_meltap_core(bench, seconds):
    return meltap_core_times(bench, "openwakeword", seconds, REPS)


def compare_meltap_file(meltap, data, expected):
    got = meltap_file_int16(meltap, data, SR, "openwakeword")
    if got.shape != expected.shape:
        return f"shape {got.shape}, model {expected.shape}"
    return f"max |difference| {np.abs(got - expected).max():.2e} over {expected.size} values"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meltap-bench", required=True, help="the release meltap-bench")
    parser.add_argument("--meltap", help="a meltap binary: also compare `meltap file` with the model")
    parser.add_argument("--seconds", type=float, default=120, help="seconds of signal (default 120)")
    args = parser.parse_args()

    x = signal(SR, args.seconds)
    data = np.clip(np.rint(x.astype(np.float64) * 32768), -32768, 32767).astype(np.int16)
    core_ns, core_xrt = time_meltap_core(args.meltap_bench, args.seconds)
    print(f"openwakeword preset: {args.seconds:g} s of melbase.c's signal at 16 kHz, CPU time, best of {REPS}")
    print(f"{'system':66s} {'x_realtime':>11s} {'ns/frame':>9s} {'thread ns':>9s}")
    print(f"{'meltap core (meltap-bench, 256-sample blocks, one thread)':66s} {core_xrt:11.0f} {core_ns:9.0f}")
    one = None
    for threads, label in [(1, "one thread"), (None, "TFLite's default threads")]:
        dt, dt_thread, frames = time_model(data, threads)
        ns = dt * 1e9 / len(frames)
        one = one or ns
        print(f"{'melspectrogram.tflite, ' + label:66s} {args.seconds / dt:11.0f} {ns:9.0f} "
              f"{dt_thread * 1e9 / len(frames):9.0f}")
    print(f"model (one thread) ÷ meltap core, ns/frame: {one / core_ns:.1f}")
    if args.meltap:
        print(f"meltap file --preset openwakeword vs the model: {compare_meltap_file(args.meltap, data, frames)}")


if __name__ == "__main__":
    sys.exit(main())
