"""The web view (`meltap run --http`) in a real browser: headless Chromium driven by selenium,
for WebViewTests.swift. The Swift test starts jackd, meltap and the test source; this script
looks at the page and exits non-zero, saying what was wrong, when the page is not as it should be.

    web_view_check.py chirp URL --status-socket SOCK --meltap BIN --source-pid PID --out DIR --scratch DIR
        The page draws the rising chirp (the bright ridge's band rises over time), marks an
        xrun after the source is stalled (SIGSTOP), and shows `meltap status --json`'s figures;
        saves DIR/web-view.png.
    web_view_check.py crowd URL --subscriber-socket SOCK --metrics-url URL --out DIR --scratch DIR
        One stalled WebSocket client and 20 browser tabs connect, a 22nd tab is refused, the tabs
        leave; a Python subscriber (python/meltap) on the stream's socket meanwhile loses no frame.

No check waits for a time to pass: every wait is for a condition, with a generous limit that
only guards against hanging (WAIT_LIMIT).
"""
import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

WAIT_LIMIT = 90.0  # seconds; a hang guard, never an assertion about speed
# python/meltap (the Subscriber), from this tree: Tests/MeltapCLITests/Support/ is three levels down.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "python"))


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def wait_for(what, condition, every=0.1, limit=WAIT_LIMIT):
    """Polls `condition` until it returns something truthy, and returns that; fails with `what`
    when the hang guard runs out."""
    deadline = time.monotonic() + limit
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise CheckFailed(f"gave up waiting for {what} after {limit:.0f} s")
        time.sleep(every)


def chromium(out: Path, name: str, profile: Path):
    """A headless Chromium from Debian's packages (chromium, chromium-driver): no download. Its
    profile goes to `profile` (the test's scratch directory, which the test removes), its
    driver's log to `out`."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        raise CheckFailed("chromium and chromedriver are not installed: run scripts/install-deps "
                          "(Debian packages chromium and chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1100,1500", f"--user-data-dir={profile / ('chromium-' + name)}",
                     "--no-first-run", "--disable-extensions"]:
        options.add_argument(argument)
    service = Service(executable_path=driver, log_output=str(out / f"chromedriver-{name}.log"))
    return webdriver.Chrome(options=options, service=service)


# ---- The chirp, the xrun mark and the status

RIDGE_SCRIPT = """
const [stream, channel] = arguments;
const c = document.querySelector(`canvas.waterfall[data-stream="${stream}"][data-channel="${channel}"]`);
if (!c) return null;
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
const rows = [], peaks = [];
for (let x = 0; x < c.width; x++) {
  let best = -1, row = -1;
  for (let y = 0; y < c.height; y++) {
    const p = (y * c.width + x) * 4;
    const l = 0.2126 * d[p] + 0.7152 * d[p + 1] + 0.0722 * d[p + 2];
    if (l > best) { best = l; row = y; }
  }
  rows.push(row); peaks.push(best);
}
return { height: c.height, rows, peaks };
"""

MARKS_SCRIPT = """
const [stream, channel] = arguments;
const c = document.querySelector(`canvas.marks[data-stream="${stream}"][data-channel="${channel}"]`);
if (!c) return null;
const d = c.getContext('2d').getImageData(0, 0, c.width, 4).data;   // the xrun lane: rows 0-3
let xrun = 0;
for (let x = 0; x < c.width; x++) {
  const p = (1 * c.width + x) * 4;
  if (d[p] > 200 && d[p + 1] < 80 && d[p + 2] < 80 && d[p + 3] > 200) xrun++;
}
return { xrunColumns: xrun, marks: window.meltap.marks, flagged: window.meltap.flagged };
"""

STATUS_SCRIPT = """
const out = {};
for (const td of document.querySelectorAll('#status td[data-field]')) {
  out[td.dataset.field] = { value: td.dataset.value, text: td.textContent };
}
return { fields: out, uptime: window.meltap.status && window.meltap.status.uptimeSeconds };
"""


def ridge_rises(ridge, label):
    """The bright ridge (the brightest pixel of each drawn column) rises over time: split at the
    chirp's restarts (a fall of over a quarter of the height), every stretch of 40 columns or more
    rises on at least 90 % of its steps, every whole sweep (187 columns at 93.75 frames/s) climbs
    from the bottom quarter to the top quarter, and there are no more falls than restarts."""
    height, rows, peaks = ridge["height"], ridge["rows"], ridge["peaks"]
    bands = [height - 1 - row for row, peak in zip(rows, peaks) if peak > 60]
    check(len(bands) >= 200, f"{label}: only {len(bands)} of {len(rows)} columns drawn with a bright ridge")
    sweeps, current = [], [bands[0]]
    for band in bands[1:]:
        if band < current[-1] - height / 4:
            sweeps.append(current)
            current = [band]
        else:
            current.append(band)
    sweeps.append(current)
    # A restart of the chirp is a click, whose broadband column may peak anywhere: fragments of
    # under 10 columns are no sweep.
    sweeps = [s for s in sweeps if len(s) >= 10]
    long = [s for s in sweeps if len(s) >= 40]
    check(long, f"{label}: no stretch of 40 columns without a fall: {[len(s) for s in sweeps]}")
    for sweep in long:
        steps = [b - a for a, b in zip(sweep, sweep[1:])]
        rising = sum(1 for step in steps if step >= 0) / len(steps)
        check(rising >= 0.9, f"{label}: the ridge rises on only {rising:.0%} of a sweep's steps: {sweep}")
    # Whole sweeps (a fall before and after; the canvas's first and last are cut off) climb from
    # the bottom quarter to the top quarter.
    whole = [s for s in sweeps[1:-1] if len(s) >= 100]
    check(whole, f"{label}: no whole sweep between two restarts on the canvas: {[len(s) for s in sweeps]}")
    for sweep in whole:
        check(sweep[0] < height / 4 and sweep[-1] >= height * 3 / 4,
              f"{label}: a whole sweep rises from band {sweep[0]} to {sweep[-1]} only (of {height})")
    check(max(bands) - min(bands) >= height / 2, f"{label}: the ridge spans bands {min(bands)}..{max(bands)} only")
    # 600 columns at 93.75 frames/s are 3.2 two-second sweeps: at most 4 restarts.
    check(len(sweeps) - 1 <= len(rows) / 150 + 1, f"{label}: {len(sweeps) - 1} falls, more than restarts of the chirp")
    return {"columns": len(bands), "sweeps": [[s[0], s[-1], len(s)] for s in sweeps]}


def cli_status(meltap, socket_path):
    output = subprocess.run([meltap, "status", "--socket", socket_path, "--json"], check=True,
                            capture_output=True, text=True, timeout=30).stdout
    return json.loads(output)


def lookup(document, path):
    value = document
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


# What the page must show, by the status document's paths; {i} a stream, {k} a channel.
EQUAL = ["inputSampleRate", "blockLength", "streams.{i}.preset", "streams.{i}.sampleRate", "streams.{i}.resampler",
         "streams.{i}.hopLength", "streams.{i}.frameWidth", "streams.{i}.subscribers"]
GROWING = ["uptimeSeconds", "xruns", "restarts", "discontinuities", "callbacks.count", "callbacks.maximumShare",
           "cpu.userSeconds", "cpu.systemSeconds", "streams.{i}.frames", "streams.{i}.drops",
           "streams.{i}.subscriberDrops", "streams.{i}.channels.{k}.frames", "streams.{i}.channels.{k}.gaps",
           "streams.{i}.channels.{k}.lostFrames", "streams.{i}.channels.{k}.xrunFrames",
           "streams.{i}.channels.{k}.discontinuityFrames"]
OTHER = ["cpu.shareOfOneCore", "callbacks.p50Share", "callbacks.p99Share", "callbacks.p999Share",
         "streams.{i}.channels.{k}.frameRate"]


def status_matches(page, before, after):
    """Every figure of `meltap status` is on the page, from a status document taken between
    `before` and `after` (two `meltap status --json`): the same where it cannot change, between
    the two where it only grows, and shown as the document says."""
    fields = page["fields"]
    paths = []
    for template in EQUAL + GROWING + OTHER:
        for i, stream in enumerate(after["streams"]):
            for k in range(len(stream["channels"])):
                path = template.format(i=i, k=k)
                if path not in paths:
                    paths.append(path)
    problems = []
    for path in paths:
        if path not in fields:
            problems.append(f"{path}: not on the page")
            continue
        shown, text = fields[path]["value"], fields[path]["text"]
        a, b = lookup(before, path), lookup(after, path)
        template = next(t for t in EQUAL + GROWING + OTHER if path in {t.format(i=i, k=k) for i in range(8) for k in range(8)})
        if isinstance(a, str):
            if not (shown == a == b):
                problems.append(f"{path}: page {shown!r}, meltap status {a!r} then {b!r}")
            continue
        value = float(shown)
        if template in EQUAL and not (value == a == b):
            problems.append(f"{path}: page {value}, meltap status {a} then {b}")
        if template in GROWING and not (a <= value <= b):
            problems.append(f"{path}: page {value} is not between meltap status's {a} and {b}")
        if path.endswith("Share") and not text.endswith(f"({value * 100:.2f} %)") and path.startswith("callbacks"):
            problems.append(f"{path}: shown as {text!r} for {value}")
    shares = [float(fields[f"callbacks.{n}Share"]["value"]) for n in ("p50", "p99", "p999", "maximum")]
    if shares != sorted(shares):
        problems.append(f"callback shares not p50 <= p99 <= p99.9 <= max: {shares}")
    cpu = float(fields["cpu.shareOfOneCore"]["value"])
    if not (cpu > 0 and fields["cpu.shareOfOneCore"]["text"] == f"{cpu * 100:.2f} %"):
        problems.append(f"cpu.shareOfOneCore: {fields['cpu.shareOfOneCore']}")
    check(not problems, "the page's status differs from meltap status --json:\n  " + "\n  ".join(problems))
    return len(paths)


def run_chirp(args, out):
    for stale in ("web-view.png", "web-view-failed.png"):
        (out / stale).unlink(missing_ok=True)
    driver = chromium(out, "chirp", Path(args.scratch))
    report = {}
    try:
        driver.get(args.url)
        wait_for("the page's first frames", lambda: driver.execute_script(
            "return window.meltap && window.meltap.framesDrawn > 1200"))
        hello = driver.execute_script("return window.meltap.hello")
        stream = args.stream
        info = next((s for s in hello["streams"] if s["name"] == stream), None)
        check(info is not None, f"no stream {stream!r} in the page's hello: {hello}")
        check(info["axisKind"] == "hz" and len(info["axis"]) == info["bandCount"] and info["axis"] == sorted(info["axis"]),
              f"stream {stream}: the frequency axis is not in Hz, one rising value per band: {info['axisKind']}")
        # The ridge of a chirp that has filled the canvas (600 columns, 6.4 s).
        wait_for("a full waterfall", lambda: driver.execute_script(
            "return window.meltap.framesDrawn > 2 * 2 * 700"))
        report["ridge"] = ridge_rises(driver.execute_script(RIDGE_SCRIPT, stream, 1), f"stream {stream} in_1")
        axis_labels = driver.execute_script(
            "return [...document.querySelectorAll('.axis span')].map(s => s.textContent)")
        check(any("kHz" in label for label in axis_labels), f"no kHz on the frequency axis: {axis_labels[:8]}")
        bar = driver.execute_script(
            "return [...document.querySelectorAll('.barlabels')].map(b => b.textContent)")
        check(all(info["unit"] in text for text in bar[:2]), f"the colour bar does not name the unit {info['unit']}: {bar}")

        # The status: between two `meltap status --json`.
        before = cli_status(args.meltap, args.status_socket)
        page = wait_for("a status newer than meltap status's", lambda: (lambda p: p if p["uptime"] and p["uptime"] > before["uptimeSeconds"] else None)(
            driver.execute_script(STATUS_SCRIPT)))
        after = cli_status(args.meltap, args.status_socket)
        report["statusFields"] = status_matches(page, before, after)

        # An injected stall: the test source stops (SIGSTOP) for 0.5 s; JACK's graph waits for it,
        # reports an xrun, and meltap flags the frames around it. The page must draw an xrun mark
        # for a frame popped after the stall began (a frame flagged by it, not an earlier xrun).
        xruns_before = before["xruns"]
        stalled_at = time.time() * 1000
        os.kill(args.source_pid, signal.SIGSTOP)
        time.sleep(0.5)
        os.kill(args.source_pid, signal.SIGCONT)

        def marked():
            marks = driver.execute_script(MARKS_SCRIPT, stream, 1)
            after_stall = [f for f in marks["flagged"] if "xrun" in f["kinds"] and f["stream"] == stream
                           and f["channel"] == 1 and f["popped"] >= stalled_at]
            return marks if after_stall and marks["xrunColumns"] > 0 else None

        marks = wait_for("an xrun mark for a frame after the stall", marked, every=0.05)
        marks.pop("flagged")
        report["marks"] = marks
        wait_for("the page's xrun count", lambda: (driver.execute_script(
            "return window.meltap.status && window.meltap.status.xruns") or 0) > xruns_before)
        # The marks stay 6.4 s on screen; the status comes within a second.
        driver.save_screenshot(str(out / "web-view.png"))
        report["latencyMilliseconds"] = driver.execute_script(
            "const l = Float64Array.from(window.meltap.latencies).sort();"
            "return {p50: l[Math.floor(l.length / 2)], p99: l[Math.floor(l.length * 0.99)], max: l[l.length - 1], n: l.length}")
    except Exception:
        driver.save_screenshot(str(out / "web-view-failed.png"))
        raise
    finally:
        driver.quit()
    print(json.dumps(report))


# ---- 20 browsers and a stalled one while a subscriber keeps every frame

class RecordingSubscriber(threading.Thread):
    """python/meltap's Subscriber on a thread: every frame's (channel, sequence, flags)."""

    def __init__(self, path):
        super().__init__(daemon=True)
        import meltap
        self.stream = meltap.Subscriber(path, timeout=20)
        self.frames = []
        self.error = None
        self.stop = threading.Event()

    def run(self):
        try:
            for frame in self.stream:
                self.frames.append((frame.channel, frame.sequence, frame.flags))
                if self.stop.is_set():
                    break
        except Exception as error:  # reported by the caller
            self.error = error


def stalled_websocket(url):
    """A WebSocket client that completes the handshake and then never reads: a stalled browser.
    Its receive buffer is made small, so the server's queue for it fills soon."""
    host, port = url.split("//")[1].split("/")[0].rsplit(":", 1)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        check(chunk, "the server closed the stalled client's handshake")
        head += chunk
    check(head.startswith(b"HTTP/1.1 101"), f"no WebSocket upgrade: {head!r}")
    return s


def metric(url, name):
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise CheckFailed(f"no {name} in {url}")


def run_crowd(args, out):
    subscriber = RecordingSubscriber(args.subscriber_socket)
    subscriber.start()
    wait_for("the subscriber's first frames", lambda: len(subscriber.frames) > 100)
    stalled = stalled_websocket(args.url)
    driver = chromium(out, "crowd", Path(args.scratch))
    report = {}
    try:
        tabs = []
        for index in range(args.browsers):
            if index > 0:
                driver.switch_to.new_window("tab")
            driver.get(args.url)
            wait_for(f"tab {index + 1}'s frames", lambda: driver.execute_script(
                "return window.meltap && window.meltap.framesReceived > 0"))
            tabs.append(driver.current_window_handle)
        wait_for("the server to count every browser",
                 lambda: metric(args.metrics_url, "meltap_web_browsers") == args.browsers + 1)
        # One more is turned away, and told why.
        driver.switch_to.new_window("tab")
        driver.get(args.url)
        reason = wait_for("the refusal", lambda: driver.execute_script("return window.meltap && window.meltap.refused"))
        check("--http-max-clients" in reason, f"the refusal does not say what to do: {reason}")
        report["refusal"] = reason
        driver.close()
        # The stalled client's queue overflows; the browsers and the subscriber go on.
        wait_for("frames dropped for the stalled client",
                 lambda: metric(args.metrics_url, "meltap_web_dropped_frames_total") > 0)
        for handle in tabs[1:]:
            driver.switch_to.window(handle)
            driver.close()
        driver.switch_to.window(tabs[0])
        wait_for("the tabs to be gone", lambda: metric(args.metrics_url, "meltap_web_browsers") == 2)
        # The last tab still gets frames after the others left.
        seen = driver.execute_script("return window.meltap.framesReceived")
        wait_for("frames on the last tab", lambda: driver.execute_script("return window.meltap.framesReceived") > seen + 100)
        report["lastTabDropped"] = driver.execute_script("return window.meltap.web && window.meltap.web.droppedFrames")
    finally:
        driver.quit()
    stalled.close()
    wait_for("every browser to be gone", lambda: metric(args.metrics_url, "meltap_web_browsers") == 0)
    report["droppedForBrowsers"] = metric(args.metrics_url, "meltap_web_dropped_frames_total")
    count = len(subscriber.frames)
    wait_for("more subscriber frames", lambda: len(subscriber.frames) > count + 100)
    subscriber.stop.set()
    check(subscriber.error is None, f"the subscriber failed: {subscriber.error}")
    frames = list(subscriber.frames)
    last, lost, flagged = {}, [], []
    for channel, sequence, flags in frames:
        if channel in last and sequence != last[channel] + 1:
            lost.append((channel, last[channel], sequence))
        if flags & 1:
            flagged.append((channel, sequence))
        last[channel] = sequence
    check(not lost and not flagged, f"the subscriber lost frames: jumps {lost[:10]}, gap flags {flagged[:10]}")
    report["subscriberFrames"] = len(frames)
    print(json.dumps(report))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["chirp", "crowd"])
    parser.add_argument("url")
    parser.add_argument("--out", required=True, help="where the screenshot and the driver's logs go")
    parser.add_argument("--scratch", required=True, help="where Chromium's profile goes (removed by the caller)")
    parser.add_argument("--stream", default="viz")
    parser.add_argument("--status-socket")
    parser.add_argument("--meltap")
    parser.add_argument("--source-pid", type=int)
    parser.add_argument("--subscriber-socket")
    parser.add_argument("--metrics-url")
    parser.add_argument("--browsers", type=int, default=20)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        (run_chirp if args.mode == "chirp" else run_crowd)(args, out)
    except CheckFailed as failure:
        print(f"web_view_check {args.mode}: {failure}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
