"""Dataset throughput: `meltap file DIR -o OUT --jobs N` against asrfront and librosa, whole
processes, wall time, on one generated dataset. Driven by scripts/bench-dataset, which passes
MELTAP (the release binary), BENCH_WORK (a temp dir), DATASET_FILES, DATASET_SECONDS and
DATASET_JOBS in the environment.

Every system reads the same 16 kHz 16-bit WAV files and writes one float32 .npy per file of the
Whisper log-mel (n_fft 400, hop 160, 80 mels), loading and saving included, as a fresh process
(interpreter start and imports included for the Python peers), into a fresh output directory
each pass (removed before the pass, untimed):
  meltap file     meltap file DIR -o OUT --preset whisper --jobs N (also writes a sidecar per file)
  asrfront        asrfront.load on N threads, asrfront.whisper.log_mel_batch(n_threads=N,
                  pad_or_trim=False), np.save per file
  librosa loop    one file after another: librosa.load, melspectrogram, Whisper's log/clamp/scale,
                  np.save (librosa has no thread pool of its own; OMP/BLAS limited to 1 thread)
"""
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np
import soundfile

from bench_signal import signal

WORK = os.environ["BENCH_WORK"]
MELTAP = os.environ["MELTAP"]
FILES = int(os.environ.get("DATASET_FILES", "300"))
SECONDS = float(os.environ.get("DATASET_SECONDS", "10"))
JOBS = int(os.environ.get("DATASET_JOBS", str(os.cpu_count())))
REPS = int(os.environ.get("DATASET_REPS", "3"))
SR = 16000

ASRFRONT = r'''
import os, sys, time
import numpy as np
from concurrent.futures import ThreadPoolExecutor
import asrfront, asrfront.whisper
src, out, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs if f.endswith(".wav"))
with ThreadPoolExecutor(jobs) as pool:
    audios = list(pool.map(asrfront.load, paths))
feats = asrfront.whisper.log_mel_batch(audios, 80, pad_or_trim=False, n_threads=jobs)
for path, f in zip(paths, feats):
    target = os.path.join(out, os.path.relpath(path, src))[:-4] + ".npy"
    os.makedirs(os.path.dirname(target), exist_ok=True)
    np.save(target, f)
'''

LIBROSA = r'''
import os, sys
import numpy as np
import librosa
src, out = sys.argv[1], sys.argv[2]
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(src) for f in fs if f.endswith(".wav"))
for path in paths:
    y, sr = librosa.load(path, sr=None)
    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=400, hop_length=160, n_mels=80, pad_mode="reflect")
    log_spec = np.log10(np.maximum(S[:, :-1], 1e-10))
    log_spec = (np.maximum(log_spec, log_spec.max() - 8.0) + 4.0) / 4.0
    target = os.path.join(out, os.path.relpath(path, src))[:-4] + ".npy"
    os.makedirs(os.path.dirname(target), exist_ok=True)
    np.save(target, log_spec.astype(np.float32))
'''


def make_dataset(root):
    """FILES files of SECONDS each in 10 folders, each a different stretch of the bench signal."""
    base = signal(SR, SECONDS + FILES * 0.01)
    n = int(SECONDS * SR)
    for i in range(FILES):
        path = os.path.join(root, f"part{i % 10}", f"clip{i:04d}.wav")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        start = int(i * 0.01 * SR)
        soundfile.write(path, base[start:start + n], SR, subtype="PCM_16")


def timed(args):
    """Wall seconds and CPU seconds (user + system, the process and its threads) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def count_npy(root):
    return sum(f.endswith(".npy") for _, _, fs in os.walk(root) for f in fs)


def main():
    data = os.path.join(WORK, "dataset")
    make_dataset(data)
    hours = FILES * SECONDS / 3600
    runs = {
        "meltap file": lambda out: [MELTAP, "file", data, "-o", out, "--preset", "whisper", "--jobs", str(JOBS),
                                    "--no-progress"],
        "asrfront": lambda out: [sys.executable, "-c", ASRFRONT, data, out, str(JOBS)],
        "librosa loop": lambda out: [sys.executable, "-c", LIBROSA, data, out],
    }
    results = {}
    # Interleaved repetitions, so slow phases of a shared machine hit every system alike.
    for rep in range(REPS):
        for name, make in runs.items():
            if name == "librosa loop" and rep > 0:
                continue   # one pass is enough for the slowest, and it takes the longest
            out = os.path.join(WORK, f"out-{name.split()[0]}")
            shutil.rmtree(out, ignore_errors=True)   # every pass writes a fresh tree, as a first run does
            wall, cpu = timed(make(out))
            if count_npy(out) != FILES:
                raise RuntimeError(f"{name} wrote {count_npy(out)} of {FILES} .npy files")
            best = results.get(name)
            if best is None or wall < best[0]:
                results[name] = (wall, cpu)
            print(f"done: {name} pass {rep + 1}: {wall:.2f} s wall", file=sys.stderr, flush=True)

    # Agreement: the first file's features from meltap and asrfront (same Whisper log-mel).
    first = os.path.join("part0", "clip0000.npy")
    m = np.load(os.path.join(WORK, "out-meltap", first))
    a = np.load(os.path.join(WORK, "out-asrfront", first)).T
    frames = min(len(m), len(a))
    agreement = float(np.abs(m[:frames] - a[:frames]).max())

    print(f"\nDataset throughput: {FILES} files × {SECONDS:g} s of 16 kHz 16-bit WAV ({hours:.3f} h), Whisper "
          f"log-mel 80, {JOBS} jobs/threads, whole processes, wall time (best of {REPS}; librosa one pass)")
    print(f"meltap vs asrfront on file 1: max |difference| {agreement:.2e} over {frames} frames × 80 mels\n")
    head = f"{'system':<16}{'wall s':>9}{'CPU s':>9}{'files/s':>10}{'audio h/s':>11}{'× real time':>13}  ratio"
    print(head)
    meltap_wall = results["meltap file"][0]
    for name, (wall, cpu) in results.items():
        ratio = "" if name == "meltap file" else f"this wall ÷ meltap wall = {wall / meltap_wall:.2f}"
        print(f"{name:<16}{wall:>9.2f}{cpu:>9.2f}{FILES / wall:>10.1f}{hours / wall:>11.3f}"
              f"{FILES * SECONDS / wall:>13.0f}  {ratio}")
    target = "meets" if meltap_wall <= results["asrfront"][0] else "MISSES"
    print(f"\ntarget: meltap file wall time ≤ asrfront's at {JOBS} threads: {target}")


main()
