"""The web view's cost (docs/web-view.md, "Cost"): meltap's extra CPU with 0, 1 and 20 browsers
open, the bytes a browser receives per second, and the time from meltap's consumer to the pixel.

    .venv/bin/python Benchmarks/web/bench_web_view.py [--meltap .build/release] [--seconds 30]

meltap runs at 48 kHz, period 256, on a private dummy jackd (`meltap run --start-server`),
with 8 inputs and 2 streams (viz=librosa: 128 bands at 93.75 frames/s; kws=whisper@16000: 80
bands at 100 frames/s); jack_metro's clicks feed all 8 inputs (the cost of a frame does not depend
on what it holds). Browsers are tabs of one headless Chromium (selenium, Debian's chromium and
chromium-driver). meltap's CPU is its own (utime + stime of /proc/PID/stat) over each phase's
wall time; a phase starts once its tabs receive frames. The first tab is the visible one: its
page draws, and gives the bytes it received and its consumer-to-drawn latencies.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "Tests" / "MeltapCLITests" / "Support"))
import web_view_check  # noqa: E402  (chromium(), wait_for())


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def written_bytes(pid):
    """Bytes the process has passed to write-like system calls (sockets included): /proc/PID/io wchar."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--meltap", default=str(Path(__file__).resolve().parents[2] / ".build" / "release"))
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="meltap-bench-web-"))
    env = dict(os.environ, XDG_RUNTIME_DIR=str(work))
    meltap = subprocess.Popen(
        [f"{args.meltap}/meltap", "run", "--start-server", "--name", "bench", "--inputs", "8",
         "--stream", "viz=librosa", "--stream", "kws=whisper@16000", "--socket-dir", str(work),
         "--http", "127.0.0.1:0", "--http-max-clients", "32"],
        stdout=open(work / "meltap.out", "w"), stderr=open(work / "meltap.err", "w"), env=env)
    children = []
    driver = None
    try:
        out = lambda: (work / "meltap.out").read_text()
        web_view_check.wait_for("meltap's start", lambda: "meltap: client" in out() or meltap.poll() is not None)
        server = re.search(r"JACK_DEFAULT_SERVER=(\S+)", out()).group(1)
        url = re.search(r"web view on (\S+)", out()).group(1)
        env["JACK_DEFAULT_SERVER"] = server
        children.append(subprocess.Popen(["jack_metro", "-n", "metro", "-b", "240"], env=env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        web_view_check.wait_for("metro's port", lambda: "metro:240_bpm" in subprocess.run(
            ["jack_lsp"], env=env, capture_output=True, text=True).stdout)
        for k in range(1, 9):
            subprocess.run(["jack_connect", "metro:240_bpm", f"bench:in_{k}"], env=env, check=True)
        time.sleep(2)

        def phase(label):
            first_page = driver.execute_script("return window.meltap && window.meltap.bytesReceived") if driver else None
            wall0, cpu0, written0 = time.monotonic(), cpu_seconds(meltap.pid), written_bytes(meltap.pid)
            time.sleep(args.seconds)
            wall1, cpu1, written1 = time.monotonic(), cpu_seconds(meltap.pid), written_bytes(meltap.pid)
            row = {"phase": label, "cpuShareOfOneCore": (cpu1 - cpu0) / (wall1 - wall0),
                   "meltapWrittenBytesPerSecond": (written1 - written0) / (wall1 - wall0)}
            if driver:
                driver.switch_to.window(tabs[0])
                page = driver.execute_script(
                    "const l = Float64Array.from(window.meltap.latencies).sort();"
                    "return {bytes: window.meltap.bytesReceived, p50: l[Math.floor(l.length / 2)],"
                    " p99: l[Math.floor(l.length * 0.99)], max: l[l.length - 1], dropped: window.meltap.web.droppedFrames}")
                row["bytesPerSecondPerBrowser"] = (page["bytes"] - first_page) / (wall1 - wall0)
                row["poppedToDrawnMs"] = {k: round(page[k], 1) for k in ("p50", "p99", "max")}
                row["droppedForFirstPage"] = page["dropped"]
            print(json.dumps(row), flush=True)
            return row

        rows = [phase("no browser")]
        driver = web_view_check.chromium(work, "bench", profile=work)
        tabs = []

        def open_tabs(count):
            for _ in range(count):
                if tabs:
                    driver.switch_to.new_window("tab")
                driver.get(url)
                web_view_check.wait_for("frames", lambda: driver.execute_script(
                    "return window.meltap && window.meltap.framesReceived > 0"))
                tabs.append(driver.current_window_handle)
            driver.switch_to.window(tabs[0])

        open_tabs(1)
        rows.append(phase("1 browser"))
        open_tabs(19)
        rows.append(phase("20 browsers"))
        driver.quit()
        driver = None
        meltap.send_signal(signal.SIGINT)
        meltap.wait(timeout=20)
        report = [line for line in out().splitlines() if "frame latency" in line or "web view:" in line]
        print("\n".join(report))
        base = rows[0]["cpuShareOfOneCore"]
        for row in rows[1:]:
            print(f"{row['phase']}: meltap +{(row['cpuShareOfOneCore'] - base) * 100:.2f} % of one core "
                  f"({row['cpuShareOfOneCore'] * 100:.2f} % against {base * 100:.2f} % with none), "
                  f"{row['bytesPerSecondPerBrowser'] / 1000:.1f} kB/s per browser (meltap writes "
              f"{row['meltapWrittenBytesPerSecond'] / 1000:.0f} kB/s in all), popped → drawn {row['poppedToDrawnMs']} ms")
    finally:
        if driver:
            driver.quit()
        for child in children:
            child.terminate()
        if meltap.poll() is None:
            meltap.send_signal(signal.SIGINT)
            meltap.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
