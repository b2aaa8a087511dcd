"""The offline side against asrfront, measured the way a training script calls it (issue 20).

asrfront runs as a warm library inside this Python process; meltap runs as whole processes
(`meltap file`, `meltap-bench`), start-up included where the figure says so. Driven by
scripts/bench-offline, which passes MELTAP, MELTAP_BENCH and BENCH_WORK in the environment.
Every figure comes from PAIRS interleaved pairs (meltap, then asrfront, then the next pair) and
is reported as the median pair, with the spread, so that slow phases of a shared machine hit
both sides alike.

  core per frame     meltap-bench --preset whisper --offline (MelAnalyzer.processFrames in
                     4096-sample blocks, the path of meltap file and meltap.features, its best of 3
                     passes, thread CPU time) against asrfront.whisper.log_mel(y, 80,
                     pad_or_trim=False) on the same in-memory signal (best of 3 calls, CPU time);
                     also the realtime path (process in 256-sample blocks), for reference
  job per frame      read, compute, write: `meltap file LONG.wav -o X.npy --preset whisper`
                     (process CPU time) against asrfront.load + log_mel + np.save (CPU time), the
                     CORE_SECONDS file minus the 2 s one, per frame: start-up taken out
  dataset            DATASET_FILES files × DATASET_SECONDS s of 16 kHz 16-bit WAV in 10 folders, wall
                     time into a fresh directory: `meltap file DIR -o OUT --preset whisper --jobs N`
                     (a whole process, start-up included) against a warm ThreadPoolExecutor(N)
                     mapping load → log_mel → np.save over the files, and log_mel_batch(n_threads=N)
"""
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soundfile

import asrfront
import asrfront.whisper
from bench_signal import signal

WORK = os.environ["BENCH_WORK"]
MELTAP = os.environ["MELTAP"]
MELTAP_BENCH = os.environ["MELTAP_BENCH"]
PAIRS = int(os.environ.get("PAIRS", "5"))
CORE_SECONDS = float(os.environ.get("CORE_SECONDS", "120"))
JOB_SECONDS = float(os.environ.get("JOB_SECONDS", "600"))
FILES = int(os.environ.get("DATASET_FILES", "200"))
FILE_SECONDS = float(os.environ.get("DATASET_SECONDS", "10"))
JOBS = int(os.environ.get("DATASET_JOBS", "2"))
SR = 16000
HOP = 160


def cpu_seconds():
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def meltap_core(*extra):
    out = subprocess.run([MELTAP_BENCH, "--preset", "whisper", "--seconds", str(CORE_SECONDS), *extra],
                         check=True, capture_output=True, text=True).stdout
    # The table row of the whisper configuration: config sr n_fft hop mels fft output hops ns/hop ...
    row = next(line.split() for line in out.splitlines() if line.startswith("whisper"))
    return float(row[8])


def asrfront_core(y):
    times = []
    for _ in range(3):
        t0 = cpu_seconds()
        frames = asrfront.whisper.log_mel(y, 80, pad_or_trim=False).shape[1]
        times.append(cpu_seconds() - t0)
    return min(times) / frames * 1e9


def meltap_job(path):
    t0 = cpu_seconds()
    subprocess.run([MELTAP, "file", path, "-o", os.path.join(WORK, "job.npy"), "--preset", "whisper",
                    "--no-progress", "--force"], check=True, stdout=subprocess.DEVNULL)
    return cpu_seconds() - t0


def asrfront_job(path):
    t0 = cpu_seconds()
    np.save(os.path.join(WORK, "job-asrfront.npy"), asrfront.whisper.log_mel(asrfront.load(path), 80, pad_or_trim=False))
    return cpu_seconds() - t0


def target_of(path, src, out):
    return os.path.join(out, os.path.relpath(path, src))[:-4] + ".npy"


def meltap_dataset(src, out):
    t0 = time.perf_counter()
    subprocess.run([MELTAP, "file", src, "-o", out, "--preset", "whisper", "--jobs", str(JOBS), "--no-progress"],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def asrfront_pool(pool, paths, src, out):
    def one(path):
        target = target_of(path, src, out)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        np.save(target, asrfront.whisper.log_mel(asrfront.load(path), 80, pad_or_trim=False))
    t0 = time.perf_counter()
    list(pool.map(one, paths))
    return time.perf_counter() - t0


def asrfront_batch(pool, paths, src, out):
    t0 = time.perf_counter()
    audios = list(pool.map(asrfront.load, paths))
    feats = asrfront.whisper.log_mel_batch(audios, 80, pad_or_trim=False, n_threads=JOBS)
    for path, f in zip(paths, feats):
        target = target_of(path, src, out)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        np.save(target, f)
    return time.perf_counter() - t0


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)


def count_npy(root):
    return sum(f.endswith(".npy") for _, _, fs in os.walk(root) for f in fs)


def summary(name, values, unit, fmt="{:.0f}"):
    return f"{name:<34}{fmt.format(statistics.median(values)):>10} {unit:<7} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def main():
    loads = [os.getloadavg()[0]]
    # Inputs: the bench signal (melbase.c's) as 16-bit WAV, as training sets store speech.
    core_signal = signal(SR, CORE_SECONDS)
    long_path, short_path = os.path.join(WORK, "long.wav"), os.path.join(WORK, "short.wav")
    job = signal(SR, JOB_SECONDS)
    soundfile.write(long_path, job, SR, subtype="PCM_16")
    soundfile.write(short_path, job[: 2 * SR], SR, subtype="PCM_16")
    del job
    data = os.path.join(WORK, "dataset")
    base = signal(SR, FILE_SECONDS + FILES * 0.01)
    n = int(FILE_SECONDS * SR)
    for i in range(FILES):
        path = os.path.join(data, f"part{i % 10}", f"clip{i:04d}.wav")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        start = int(i * 0.01 * SR)
        soundfile.write(path, base[start:start + n], SR, subtype="PCM_16")
    paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(data) for f in fs if f.endswith(".wav"))
    long_frames = int(JOB_SECONDS * SR) // HOP
    short_frames = 2 * SR // HOP

    pool = ThreadPoolExecutor(JOBS)
    # Warm-up, untimed: the library, the pool's threads, the page cache, meltap's binary.
    asrfront.whisper.log_mel(core_signal, 80, pad_or_trim=False)
    asrfront_job(short_path)
    meltap_job(short_path)
    out_m, out_a, out_b = (os.path.join(WORK, name) for name in ("out-meltap", "out-asrfront", "out-batch"))
    fresh(out_a)
    asrfront_pool(pool, paths, data, out_a)

    core_m, core_r, core_a, job_m, job_a, set_m, set_a, set_b, sys_share = [], [], [], [], [], [], [], [], []
    for k in range(PAIRS):
        core_m.append(meltap_core("--offline"))
        core_a.append(asrfront_core(core_signal))
        core_r.append(meltap_core())
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        long_m = meltap_job(long_path)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        sys_share.append((after.ru_stime - before.ru_stime) / max(long_m, 1e-9))
        job_m.append((long_m - meltap_job(short_path)) / (long_frames - short_frames) * 1e9)
        job_a.append((asrfront_job(long_path) - asrfront_job(short_path)) / (long_frames - short_frames) * 1e9)
        for out in (out_m, out_a, out_b):
            fresh(out)
        set_m.append(meltap_dataset(data, out_m))
        set_a.append(asrfront_pool(pool, paths, data, out_a))
        set_b.append(asrfront_batch(pool, paths, data, out_b))
        for out in (out_m, out_a, out_b):
            if count_npy(out) != FILES:
                raise RuntimeError(f"{out} holds {count_npy(out)} of {FILES} .npy files")
        loads.append(os.getloadavg()[0])
        print(f"pair {k + 1}: core {core_m[-1]:.0f} / {core_a[-1]:.0f} ns (realtime path {core_r[-1]:.0f}), job {job_m[-1]:.0f} / {job_a[-1]:.0f} ns, "
              f"dataset {set_m[-1]:.3f} / {set_a[-1]:.3f} / {set_b[-1]:.3f} s", file=sys.stderr, flush=True)

    first = os.path.relpath(paths[0], data)[:-4] + ".npy"
    m = np.load(os.path.join(out_m, first))
    a = np.load(os.path.join(out_a, first)).T
    frames = min(len(m), len(a))
    print(f"\nOffline against asrfront: Whisper log-mel 80, {PAIRS} interleaved pairs, median (min–max); "
          f"load average {min(loads):.1f}–{max(loads):.1f} during the run")
    print(f"meltap vs asrfront on dataset file 1: max |difference| {np.abs(m[:frames] - a[:frames]).max():.2e}\n")
    print(summary("core: meltap-bench --offline", core_m, "ns/frame"))
    print(summary("core: asrfront log_mel", core_a, "ns/frame"))
    ratio = [m_ / a_ for m_, a_ in zip(core_m, core_a)]
    print(summary("core: meltap ÷ asrfront, per pair", ratio, "", "{:.2f}"))
    print(summary("core, realtime path (process)", core_r, "ns/frame"))
    print(summary(f"job: meltap file ({JOB_SECONDS:g} − 2 s)", job_m, "ns/frame"))
    print(summary(f"job: asrfront load+log_mel+save", job_a, "ns/frame"))
    print(summary("job: meltap system CPU share", [100 * s for s in sys_share], "%"))
    print(summary(f"dataset: meltap file --jobs {JOBS}", set_m, "s wall", "{:.3f}"))
    print(summary(f"dataset: asrfront pool ({JOBS} thr)", set_a, "s wall", "{:.3f}"))
    print(summary(f"dataset: asrfront log_mel_batch", set_b, "s wall", "{:.3f}"))
    core_ok = statistics.median(core_m) <= statistics.median(core_a)
    set_ok = statistics.median(set_m) <= statistics.median(set_a)
    print(f"\ntarget: core per frame ≤ asrfront's log_mel: {'meets' if core_ok else 'MISSES'}; "
          f"dataset at {JOBS} jobs ≤ asrfront's warm pool: {'meets' if set_ok else 'MISSES'}")


main()
