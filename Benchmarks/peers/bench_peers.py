"""Times meltap against its peers on one synthetic signal, one thread, and prints one table.

Adapted from the meltap team's peer benchmark (kept in the design notes, outside this
repository); everything it needs is here. Driven by
scripts/bench-peers, which sets up the venv, builds the binaries and passes their paths in
the environment: MELBASE, MELTAP_BENCH, MELTAP (may be empty), BENCH_WORK (a temp dir),
BENCH_SECONDS.

Systems, per configuration:
  librosa offline     librosa.feature.melspectrogram on the whole signal in memory (float64 FFT)
  kaldi-native-fbank  OnlineFbank, whole signal at once and in 256-sample blocks (80 bins)
  asrfront            the C frontend with AVX2 kernels (PyPI): asrfront.whisper.log_mel
                      (pad_or_trim=False, 80 and 128 mels) and asrfront.sensevoice.fbank_raw (Kaldi
                      fbank, Hamming window, 80 bins), on the whole signal in memory
  melbase             the C FFTW baseline (Benchmarks/melbase), FFTW_MEASURE, and FFTW_ESTIMATE
  meltap core         meltap-bench: MelAnalyzer.process in 256-sample blocks (the live path)
  meltap file         `meltap file` end to end: float WAV decode, DSP, .npy and sidecar written;
                      and its throughput with the fixed start-up (process launch, dynamic
                      linking, planning) taken out: (t(signal) - t(2 s signal)) / (hops - hops)
"""
import os
import re
import resource
import subprocess
import sys

for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS"):
    os.environ[name] = "1"
from bench_signal import signal  # noqa: E402  (after the thread limits: it imports numpy)

SECONDS = float(os.environ.get("BENCH_SECONDS", "120"))
WORK = os.environ["BENCH_WORK"]
MELBASE = os.environ["MELBASE"]
MELTAP_BENCH = os.environ["MELTAP_BENCH"]
MELTAP = os.environ.get("MELTAP", "")
REPS = 3
SHORT_SECONDS = 2.0   # the short file that measures meltap file's fixed start-up


def best(fn, reps=REPS):
    """Fastest of `reps` timed calls (after one untimed warm-up call), in CPU seconds of this
    process (one thread) plus its children, and the last result. CPU time, not wall time: on a
    shared machine the time other processes hold the core is not ours (melbase and meltap-bench
    measure the same way)."""
    result = fn()
    times = []
    for _ in range(reps):
        t0 = cpu_seconds()
        result = fn()
        times.append(cpu_seconds() - t0)
    return min(times), result


def cpu_seconds():
    """User + system CPU time of this process and its waited-for children."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


# One entry per configuration: geometry, the meltap-bench and `meltap file` arguments, the peers.
CONFIGS = [
    dict(name="librosa preset", sr=48000, n_fft=2048, hop=512, mels=128, f64=True,
         meltap=["--preset", "librosa"], librosa=True),
    dict(name="librosa, f32 FFT", sr=48000, n_fft=2048, hop=512, mels=128, f64=False,
         meltap=["--preset", "librosa", "--n-fft", "2048", "--hop-length", "512", "--n-mels", "128",
                 "--fft-precision", "single"], librosa=True),
    dict(name="whisper preset", sr=16000, n_fft=400, hop=160, mels=80, f64=False,
         meltap=["--preset", "whisper"], librosa=True, asrfront="whisper"),
    dict(name="whisper, 128 mels", sr=16000, n_fft=400, hop=160, mels=128, f64=False,
         meltap=["--preset", "whisper", "--n-mels", "128"], librosa=True, asrfront="whisper"),
    dict(name="torchaudio preset", sr=16000, n_fft=400, hop=200, mels=128, f64=False,
         meltap=["--preset", "torchaudio"], librosa=True),
    # Kaldi frames are 25 ms (400 / 1200 samples) zero-padded to a power-of-two FFT; melbase
    # windows the whole FFT length, the nearest geometry it has.
    dict(name="kaldi, 80 bins", sr=16000, n_fft=512, hop=160, mels=80, f64=False,
         meltap=["--preset", "kaldi", "--n-mels", "80"], knf=True),
    # asrfront's fbank_raw is Kaldi's fbank with the Hamming window: the same window for all.
    dict(name="kaldi, 80 bins, hamming", sr=16000, n_fft=512, hop=160, mels=80, f64=False,
         meltap=["--preset", "kaldi", "--n-mels", "80", "--window", "hamming"], knf=True, window="hamming",
         asrfront="fbank"),
    dict(name="kaldi, 80 bins", sr=48000, n_fft=2048, hop=480, mels=80, f64=False,
         meltap=["--preset", "kaldi", "--n-mels", "80"], knf=True),
]

signals = {}
wavs = {}


def get_signal(sr):
    if sr not in signals:
        signals[sr] = signal(sr, SECONDS)
        import soundfile
        for secs, key in ((SECONDS, sr), (SHORT_SECONDS, (sr, "short"))):
            path = os.path.join(WORK, f"signal-{sr}-{secs:g}s.wav")
            soundfile.write(path, signals[sr][:int(secs * sr)], sr, subtype="FLOAT")
            wavs[key] = path
    return signals[sr]


librosa_cache = {}


def time_librosa(c):
    import librosa
    key = (c["sr"], c["n_fft"], c["hop"], c["mels"])
    if key not in librosa_cache:
        y = get_signal(c["sr"])
        dt, m = best(lambda: librosa.feature.melspectrogram(y=y, sr=c["sr"], n_fft=c["n_fft"],
                                                            hop_length=c["hop"], n_mels=c["mels"]))
        librosa_cache[key] = (dt, m.shape[1])
    return librosa_cache[key]


def time_knf(c, chunk):
    import kaldi_native_fbank as knf
    sr = c["sr"]
    y = get_signal(sr) * 32768
    if chunk is None:
        chunk = len(y)

    def run():
        o = knf.FbankOptions()
        o.frame_opts.samp_freq = sr
        o.frame_opts.dither = 0
        o.frame_opts.window_type = c.get("window", "povey")
        o.mel_opts.num_bins = c["mels"]
        f = knf.OnlineFbank(o)
        done = 0
        for s in range(0, len(y), chunk):
            f.accept_waveform(sr, y[s:s + chunk])
            n = f.num_frames_ready          # absolute count, popped frames included
            for i in range(done, n):
                f.get_frame(i)
            if n > done:
                f.pop(n - done)
                done = n
        f.input_finished()
        n = f.num_frames_ready
        for i in range(done, n):
            f.get_frame(i)
        return n
    return best(run, 1 if chunk < len(y) else REPS)


asrfront_cache = {}


def time_asrfront(c):
    """CPU seconds and frames of asrfront on the whole signal (float32 in [-1, 1], as meltap reads
    it): Whisper log-mel without the 30 s pad/trim, or Kaldi fbank without LFR/CMVN."""
    import asrfront.sensevoice
    import asrfront.whisper
    key = (c["asrfront"], c["sr"], c["mels"])
    if key not in asrfront_cache:
        y = get_signal(c["sr"])
        if c["asrfront"] == "whisper":
            run = lambda: asrfront.whisper.log_mel(y, c["mels"], pad_or_trim=False).shape[1]  # noqa: E731
        else:
            run = lambda: asrfront.sensevoice.fbank_raw(y, c["mels"]).shape[0]  # noqa: E731
        asrfront_cache[key] = best(run)
    return asrfront_cache[key]


def time_melbase(c, estimate=False):
    args = [MELBASE, str(c["n_fft"]), str(c["hop"]), str(c["mels"]), str(c["sr"]), str(SECONDS)]
    if c["f64"]:
        args.append("--f64")
    if estimate:
        args.append("--estimate")
    runs = []
    for _ in range(REPS):
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        runs.append((float(re.search(r"ns_per_hop=(\S+)", out).group(1)),
                     float(re.search(r"x_realtime=(\S+)", out).group(1))))
    return min(runs)


def time_meltap_core(c):
    args = [MELTAP_BENCH, "--seconds", str(SECONDS), "--sample-rate", str(c["sr"]), "--repetitions", str(REPS)]
    args += c["meltap"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        cols = line.split()
        if len(cols) == 11 and cols[1] == str(c["sr"]) and cols[0] != "config":
            return float(cols[8]), float(cols[9])
    raise RuntimeError(f"meltap-bench printed no row for {c['name']}:\n{out}")


def meltap_file_available():
    if not MELTAP or not os.access(MELTAP, os.X_OK):
        return False
    r = subprocess.run([MELTAP, "file", "--help"], capture_output=True, text=True)
    return r.returncode == 0


def time_meltap_file(c, short=False):
    """CPU seconds of `meltap file` (process and children) on the long or the short signal."""
    get_signal(c["sr"])
    out = os.path.join(WORK, "out.npy")
    path = wavs[(c["sr"], "short")] if short else wavs[c["sr"]]
    args = [MELTAP, "file", path, "-o", out, "--no-progress", "--force"] + c["meltap"]  # rewritten each run
    dt, _ = best(lambda: subprocess.run(args, check=True, capture_output=True))
    return dt


def main():
    have_file = meltap_file_available()
    rows = []  # (config label, system, x_realtime, ns_per_hop, ratio text, target text)

    def fmt_ratio(x, target, better_high=True):
        ok = x >= target if better_high else x <= target
        return f"{'meets' if ok else 'MISSES'} {'≥' if better_high else '≤'} {target:g}×"

    for c in CONFIGS:
        label = f"{c['name']} {c['sr'] // 1000} kHz n_fft={c['n_fft']} hop={c['hop']} mels={c['mels']}"
        core_ns, core_xrt = time_meltap_core(c)
        rows.append((label, "meltap core (meltap-bench)", core_xrt, core_ns, "", ""))
        mb_ns, mb_xrt = time_melbase(c)
        precision = "f64" if c["f64"] else "f32"
        ratio = core_ns / mb_ns
        rows.append((label, f"melbase C, {precision} FFT, MEASURE", mb_xrt, mb_ns,
                     f"core ns/hop ÷ this = {ratio:.2f}", fmt_ratio(ratio, 1.25, better_high=False)))
        est_ns, est_xrt = time_melbase(c, estimate=True)
        rows.append((label, f"melbase C, {precision} FFT, ESTIMATE", est_xrt, est_ns,
                     f"core ns/hop ÷ this = {core_ns / est_ns:.2f}", ""))
        peer_xrt, peer_target = None, None   # the peer `meltap file` is compared with
        if c.get("asrfront"):
            dt, frames = time_asrfront(c)
            ns = dt * 1e9 / frames
            what = "log_mel" if c["asrfront"] == "whisper" else "sensevoice.fbank_raw"
            rows.append((label, f"asrfront {what} (C, AVX2)", SECONDS / dt, ns,
                         f"core ns/hop ÷ this = {core_ns / ns:.2f}", fmt_ratio(core_ns / ns, 1.0, better_high=False)))
        if c.get("librosa"):
            dt, frames = time_librosa(c)
            xrt = SECONDS / dt
            peer_xrt, peer_target = xrt, 4
            rows.append((label, "librosa offline (f64 FFT)", xrt, dt * 1e9 / frames,
                         f"core ÷ this = {core_xrt / xrt:.1f}×", fmt_ratio(core_xrt / xrt, 4)))
        if c.get("knf"):
            for chunk, name in ((None, "kaldi-native-fbank, all at once"), (256, "kaldi-native-fbank, 256-sample blocks")):
                dt, frames = time_knf(c, chunk)
                xrt = SECONDS / dt
                if chunk is None:
                    peer_xrt, peer_target = xrt, 5
                rows.append((label, name, xrt, dt * 1e9 / frames, f"core ÷ this = {core_xrt / xrt:.1f}×",
                             fmt_ratio(core_xrt / xrt, 5)))
        if have_file:
            # Compared with the peer this configuration has (librosa, else kaldi-native-fbank all at once).
            def vs_peer(xrt, with_target):
                if peer_xrt is None:
                    return "", ""
                return (f"this ÷ peer = {xrt / peer_xrt:.1f}×",
                        fmt_ratio(xrt / peer_xrt, peer_target) if with_target else "")

            hops = int(SECONDS * c["sr"]) // c["hop"]
            short_hops = int(SHORT_SECONDS * c["sr"]) // c["hop"]
            dt = time_meltap_file(c)
            rows.append((label, "meltap file (end to end)", SECONDS / dt, dt * 1e9 / hops, *vs_peer(SECONDS / dt, False)))
            short_dt = time_meltap_file(c, short=True)
            per_hop = (dt - short_dt) / (hops - short_hops)
            if SECONDS < 10 * SHORT_SECONDS or per_hop <= 0:
                # The difference of two short runs is timing noise, not throughput.
                rows.append((label, "meltap file throughput", 0, 0,
                             f"n/a: needs BENCH_SECONDS ≥ {10 * SHORT_SECONDS:g}", ""))
                print(f"done: {label}", file=sys.stderr, flush=True)
                continue
            startup_ms = (short_dt - per_hop * short_hops) * 1e3
            xrt = c["hop"] / c["sr"] / per_hop
            rows.append((label, f"meltap file throughput (−{startup_ms:.1f} ms start-up)", xrt, per_hop * 1e9,
                         *vs_peer(xrt, True)))
        print(f"done: {label}", file=sys.stderr, flush=True)

    print(f"\nmeltap vs peers: {SECONDS:g} s synthetic signal, one thread, CPU time, best of {REPS}")
    print("x_realtime = seconds of audio per CPU second for one channel; ns/hop = CPU time per frame.")
    print("'core' is meltap's DSP core (MelAnalyzer.process, 256-sample blocks, running clamp).\n")
    widths = (60, 40, 11, 9, 28, 14)
    head = ("config", "system", "x_realtime", "ns/hop", "ratio", "target")
    print("  ".join(h.ljust(w) if i < 2 or i > 3 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths))))
    last = None
    for label, system, xrt, ns, ratio, target in rows:
        shown = label if label != last else ""
        last = label
        print("  ".join([shown.ljust(widths[0]), system.ljust(widths[1]), f"{xrt:.0f}".rjust(widths[2]),
                         f"{ns:.0f}".rjust(widths[3]), ratio.ljust(widths[4]), target.ljust(widths[5])]).rstrip())
    if not have_file:
        print("\nmeltap file: not available (build .build/release/meltap with the `file` subcommand)")


main()
