"""Counts wake-word detections of Examples/wakeword.py over repeated plays on a loaded machine.

    .venv/bin/python scripts/wakeword-under-load.py --plays 20 --hogs 2 --before-rev HEAD~1

A private dummy jackd (48 kHz), `meltap run --preset micro --sample-rate 16000`, and the spotters
side by side on the same socket: Examples/wakeword.py as it is in the work tree ("after") and, with
--before-rev REV, the same file as it was at REV ("before"). Each play is the wake-word test's
speech (Tests/MelJackTests/Support/wakeword_support.py: eight phrases, three of them wake words
the models reach reliably) played into meltap:in_1 by meltap-testsource. --hogs N starts N
`nice -n 10 sh -c 'while :; do :; done'` busy loops for the whole run (stopped by PID at the end).

Both spotters see the same frames, so the difference between them is the example's logic alone.
Prints, per spotter: wake words detected out of those played, misses, extra detections (a second
firing inside one utterance, or a model firing on another phrase), and per play the JACK
discontinuities meltap counted (`meltap status`).

Binaries: $MELTAP_BIN, else .build/release. Needs the project's .venv (pymicro-wakeword, soxr).
"""
import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "Tests/MelJackTests/Support/wakeword_support.py"
MODELS = ["okay_nabu", "alexa", "hey_mycroft", "hey_jarvis"]
MICRO_SPAN = 1440  # a micro frame's window at 48 kHz (480 samples at 16 kHz), in JACK frames


def start(arguments, directory, label, environment):
    out = open(directory / f"{label}.out", "w")
    err = open(directory / f"{label}.err", "w")
    return subprocess.Popen(arguments, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=directory,
                            env=environment)


def stop(process, sig=signal.SIGTERM, timeout=15):
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def record_start(path):
    """The JACK frame time of the first block in a meltap-testsource record."""
    data = Path(path).read_bytes()
    assert data[:4] == b"MTSR", f"{path} is not a test-source record"
    return struct.unpack_from("<q", data, 32)[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plays", type=int, default=20)
    parser.add_argument("--hogs", type=int, default=2, help="Busy loops at nice 10 running meanwhile.")
    parser.add_argument("--period", type=int, default=256, help="The JACK period in samples.")
    parser.add_argument("--no-realtime", action="store_true", help="Run jackd without SCHED_FIFO (-R).")
    parser.add_argument("--before-rev", help="Also run Examples/wakeword.py as it was at this git revision.")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch directory and print it.")
    args = parser.parse_args()

    binaries = Path(os.environ.get("MELTAP_BIN", ROOT / ".build/release"))
    python = sys.executable
    directory = Path(tempfile.mkdtemp(prefix="meltap-wakeword-load-"))
    server = f"meltap-wakeword-load-{os.getpid()}"
    environment = dict(os.environ, JACK_DEFAULT_SERVER=server, JACK_NO_START_SERVER="1")
    spotters = {"after": ROOT / "Examples/wakeword.py"}
    if args.before_rev:
        before = directory / "before"
        before.mkdir()
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{args.before_rev}:Examples/wakeword.py"],
                                capture_output=True, check=True).stdout
        (before / "wakeword.py").write_bytes(source)
        shutil.copy(ROOT / "Examples/meltap_subscriber.py", before)
        spotters = {"before": before / "wakeword.py", **spotters}

    processes = []
    try:
        realtime = [] if args.no_realtime else ["-R", "-P", "70"]
        jackd = start(["jackd"] + (realtime or ["--no-realtime"]) + ["--port-max", "256", "-d", "dummy", "-r", "48000",
                                                                      "-p", str(args.period)],
                      directory, "jackd", environment)
        processes.append(jackd)
        subprocess.run(["jack_wait", "-w", "-t", "10"], env=environment, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

        speech, segments_path = directory / "speech.f32", directory / "speech.json"
        subprocess.run([python, str(SUPPORT), "utterances", str(speech), str(segments_path)], check=True)
        segments = json.load(open(segments_path))["segments"]
        play_samples = segments[-1]["end"]

        socket = directory / "m.sock"
        meltap = start([str(binaries / "meltap"), "run", "--inputs", "1", "--preset", "micro", "--sample-rate", "16000",
                        "--socket", str(socket)], directory, "meltap", environment)
        processes.append(meltap)
        while not socket.exists():
            if meltap.poll() is not None:
                raise SystemExit(f"meltap run exited: {(directory / 'meltap.err').read_text()}")
            time.sleep(0.05)
        running = {}
        for name, script in spotters.items():
            running[name] = start([python, str(script), str(socket)] + sum((["--model", m] for m in MODELS), []),
                                  directory, f"spotter-{name}", environment)
            processes.append(running[name])
        time.sleep(3)  # Python and TFLite start-up
        for _ in range(args.hogs):
            processes.append(subprocess.Popen(["nice", "-n", "10", "sh", "-c", "while :; do :; done"]))

        starts, discontinuities = [], []
        previous = 0
        seconds = play_samples / 48000 + 0.5
        for play in range(args.plays):
            record = directory / f"play-{play}.rec"
            source = start([str(binaries / "meltap-testsource"), "--outputs", "1", "--signal", f"file:{speech}",
                            "--connect", "meltap:in_.*", "--wait-connected", "--record", str(record),
                            "--record-seconds", f"{seconds:.2f}", "--exit-when-recorded"],
                           directory, f"source-{play}", environment)
            if source.wait(seconds + 120) != 0:
                raise SystemExit(f"play {play}: meltap-testsource failed: {(directory / f'source-{play}.err').read_text()}")
            starts.append(record_start(record))
            status = subprocess.run([str(binaries / "meltap"), "status", "--socket", str(socket), "--json"],
                                    capture_output=True, text=True, env=environment, check=True)
            total = json.loads(status.stdout)["discontinuities"]
            discontinuities.append(total - previous)
            previous = total
            print(f"play {play + 1}: {discontinuities[-1]} discontinuities", flush=True)
        time.sleep(1)
        stop(meltap, signal.SIGINT)
        for process in running.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                stop(process)

        expected = sum(1 for s in segments if s["model"]) * args.plays
        print(f"{args.plays} plays, {expected} wake words; JACK period {args.period}, "
              f"{'no realtime' if args.no_realtime else 'realtime'}, {args.hogs} hogs; "
              f"discontinuities per play {discontinuities} (total {sum(discontinuities)})")
        for name in spotters:
            fired = {}
            extras = 0
            for line in (directory / f"spotter-{name}.out").read_text().splitlines():
                fields = line.split()
                if not fields or fields[0] != "DETECTED":
                    continue
                model, frame_time = fields[1], int(fields[7])
                play = max((p for p, t in enumerate(starts) if t <= frame_time), default=None)
                sample = frame_time - starts[play] + MICRO_SPAN - 1 if play is not None else -1
                index = next((i for i, s in enumerate(segments) if s["start"] <= sample < s["end"]), None)
                if index is None or sample >= play_samples:
                    extras += 1
                    continue
                segment = segments[index]
                if segment["model"] == model:
                    key = (play, index)
                    if key in fired:
                        extras += 1  # a second firing inside one utterance
                    fired[key] = True
                elif not (segment["text"] == "hey jarvis" and model == "hey_jarvis"):
                    extras += 1
            per_play = [sum(1 for (p, _) in fired if p == play) for play in range(args.plays)]
            print(f"{name}: detected {len(fired)}/{expected}, missed {expected - len(fired)}, extra {extras}; "
                  f"per play {per_play}")
    finally:
        for process in reversed(processes):
            stop(process)
        if args.keep:
            print(f"kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
