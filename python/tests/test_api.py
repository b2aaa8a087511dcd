"""pytest for meltap.features' bad-input checks, features_batch, load and Subscriber: real files,
`meltap file` as the reference, and real Unix sockets served by a small server in a thread that
speaks docs/wire-format.md (header, frames, refusal, garbage, a vanished server)."""

import gc
import json
import os
import socket
import struct
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

import meltap
from test_meltap import MELTAP, meltap_file, signal


# ---- features: the in-memory driver -----------------------------------------------------------

@pytest.mark.parametrize("preset,overrides,flags", [
    ("torchaudio", {}, []),
    ("whisper", {"clamp": "running"}, ["--clamp", "running"]),
    ("librosa", {"output": "mfcc", "n_mfcc": 13, "layout": "bands-first"},
     ["--features", "mfcc", "--n-mfcc", "13", "--layout", "bands-first"]),
    ("whisper", {"resampler": "sinc-best"}, ["--resampler", "sinc-best"]),
])
def test_features_equal_meltap_file_more_options(preset, overrides, flags):
    y = signal(44100)
    expected = meltap_file(y, 44100, preset, flags)
    observed = meltap.features(y, 44100, preset=preset, **overrides)
    assert observed.shape == expected.shape and observed.tobytes() == expected.tobytes()


def test_features_float64_is_the_float32_rounding_and_results_outlive_collection():
    y = signal(16000).astype(np.float64) + 1e-9  # not representable in float32: rounded once
    first = meltap.features(y, 16000)
    same = meltap.features(y.astype(np.float32), 16000)
    del y
    gc.collect()
    assert first.tobytes() == same.tobytes()
    first[0, 0] = 1.0  # the caller's own buffer: writable
    assert first.flags["WRITEABLE"] and first.dtype == np.float32 and first.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("call,message", [
    (lambda: meltap.features(np.float32([0.1, np.nan, 0.2] * 500), 16000), "NaN or infinite.*index 1"),
    (lambda: meltap.features(np.float32([0.1] * 900 + [np.inf]), 16000), "index 900"),
    (lambda: meltap.features(np.zeros((100, 2), np.float32), 16000), "1-D array"),
    (lambda: meltap.features(np.zeros(1000, np.complex64), 16000), "float samples"),
    (lambda: meltap.features(np.zeros(1000, np.int16), 16000), "divide by 32768"),
    (lambda: meltap.features([], 16000), "empty"),
    (lambda: meltap.features(np.zeros(1000, np.float32), 16000, preset="nope"), "Unknown preset 'nope'"),
    (lambda: meltap.features(np.zeros(1000, np.float32), 16000, preset=3), "preset as a name"),
    (lambda: meltap.features(np.zeros(1000, np.float32), 16000, n_melz=40), "Unknown option 'n-melz'"),
    (lambda: meltap.features(np.zeros(1000, np.float32), 16000, window="hann,n-mels=3"), "without ','"),
    (lambda: meltap.features(np.zeros(1000, np.float32), 999), "from 1000 to 768000"),
    (lambda: meltap.features(np.zeros(1000, np.float32), 768001), "from 1000 to 768000"),
    (lambda: meltap.features(np.zeros(1000, np.float32), True), "from 1000 to 768000"),
    (lambda: meltap.features(np.zeros(1000, np.float32), "16000"), "from 1000 to 768000"),
    (lambda: meltap.features(np.zeros(1000, np.float32), 16000.5), "whole number"),
    (lambda: meltap.features(np.zeros(1000, np.float32), 16000, analysis_rate=500), "sample-rate"),
    (lambda: meltap.features(np.zeros(1000, np.float32), 16000, preset="librosa", fmax=1e6), "fmax"),
])
def test_features_bad_input_raises(call, message):
    with pytest.raises(meltap.MeltapError, match=message):
        call()


# ---- features_batch ---------------------------------------------------------------------------

def test_features_batch_equals_features_in_order():
    rng = np.random.default_rng(1)
    signals = [(0.3 * rng.standard_normal(n)).astype(np.float32) for n in (16000, 4000, 23456, 800, 16000)]
    expected = [meltap.features(y, 16000, preset="kaldi", n_mels=40) for y in signals]
    for threads in (1, 2, 3):
        observed = meltap.features_batch(signals, 16000, preset="kaldi", threads=threads, n_mels=40)
        assert [o.tobytes() for o in observed] == [e.tobytes() for e in expected]


def test_features_batch_checks_every_signal_first():
    good = np.zeros(1000, np.float32)
    with pytest.raises(meltap.MeltapError, match=r"signals\[1\].*NaN"):
        meltap.features_batch([good, np.float32([np.nan] * 10)], 16000)
    with pytest.raises(meltap.MeltapError, match="threads"):
        meltap.features_batch([good, good], 16000, threads=0)
    with pytest.raises(meltap.MeltapError, match="list of signals"):
        meltap.features_batch(good, 16000)
    assert meltap.features_batch([], 16000) == []


# ---- load ---------------------------------------------------------------------------------------

def test_load_equals_meltap_file_and_its_sidecar():
    y = signal(48000)
    with tempfile.TemporaryDirectory() as directory:
        wav, npy = os.path.join(directory, "y.wav"), os.path.join(directory, "y.npy")
        meltap._float_wav(wav, y, 48000)
        subprocess.run([str(MELTAP), "file", wav, "-o", npy, "--no-progress", "--preset", "whisper"],
                       check=True, capture_output=True)
        with open(os.path.join(directory, "y.json")) as f:
            written = json.load(f)
        array, sidecar = meltap.load(wav)
        assert array.tobytes() == np.load(npy).tobytes() and array.shape == np.load(npy).shape
        assert sidecar == written
        assert array.tobytes() == meltap.features(y, 48000).tobytes()
        again, again_sidecar = meltap.load(Path(npy))  # a .npy is read back with its sidecar
        assert again.tobytes() == array.tobytes() and again_sidecar == written
        with pytest.raises(meltap.MeltapError, match="no options"):
            meltap.load(npy, n_mels=40)
        with pytest.raises(meltap.MeltapError, match="missing.wav"):
            meltap.load(os.path.join(directory, "missing.wav"))


# ---- Subscriber over real sockets ---------------------------------------------------------------

def message(kind: int, payload: bytes) -> bytes:
    return b"MTAP" + struct.pack("<HHI", 1, kind, len(payload)) + payload


def header(bands: int = 4) -> bytes:
    config, clamp = b'{"preset":"test"}', b"none"
    payload = struct.pack("<ddIIIIIIIHH", 16000.0, 100.0, bands, 1, 1, 0, 160, 400, len(config), len(clamp), 0)
    payload += config + clamp + struct.pack("<IHH", 0, 4, 0) + b"in_1"
    return message(1, payload)


def frame(sequence: int, values: np.ndarray, flags: int = 0) -> bytes:
    return message(2, struct.pack("<QIIqI", sequence, 0, flags, 1000 + 160 * sequence, values.size)
                   + values.astype("<f4").tobytes())


class Server:
    """A Unix socket that accepts one subscriber and sends it `script`'s bytes, then closes
    (or, with `linger`, waits until told to close)."""

    def __init__(self, path: str, script: bytes, linger: bool = False) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.script, self.linger = script, linger
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.sendall(self.script)
            if self.linger:
                self.done.wait(10)
        self.listener.close()

    def stop(self) -> None:
        self.done.set()
        self.thread.join(10)


@pytest.fixture
def socket_path():
    with tempfile.TemporaryDirectory() as directory:
        yield os.path.join(directory, "m.sock")


def test_subscriber_receives_frames_then_the_end(socket_path):
    values = [np.arange(4, dtype=np.float32) + 10 * i for i in range(5)]
    server = Server(socket_path, header() + b"".join(frame(i, v, flags=16 if i == 0 else 0)
                                                     for i, v in enumerate(values)))
    with meltap.Subscriber(socket_path, timeout=5) as stream:
        assert (stream.band_count, stream.channel_count, stream.sample_rate, stream.hop_length) == (4, 1, 16000, 160)
        assert stream.config["preset"] == "test"
        frames = list(stream)
    server.stop()
    assert [f.sequence for f in frames] == list(range(5))
    assert [f.time for f in frames] == [1000 + 160 * i for i in range(5)]
    assert [f.flags for f in frames] == [meltap.FLAG_DISCONTINUITY, 0, 0, 0, 0]
    assert all(f.values.tobytes() == v.tobytes() for f, v in zip(frames, values))
    with pytest.raises(meltap.MeltapError, match="closed"):
        stream.next(0)


def test_subscriber_times_out_then_sees_the_server_vanish(socket_path):
    server = Server(socket_path, header(), linger=True)
    stream = meltap.Subscriber(socket_path)
    assert stream.next(timeout=0) is None and stream.next(timeout=0.05) is None
    server.stop()  # the server closes the connection and its socket
    with pytest.raises(EOFError):
        stream.next(timeout=5)
    stream.close()
    stream.close()


@pytest.mark.parametrize("script,message", [
    (message(4, struct.pack("<II", 1, 13) + b"too many subs"), "too many subs"),
    (b"GARBAGE-NOT-MTAP", "magic|MTAP"),
    (header()[:30], "truncated|ended|closed"),
    (b"", "closed|ended|header"),
])
def test_subscriber_raises_on_refusal_protocol_error_and_vanished_server(socket_path, script, message):
    server = Server(socket_path, script)
    with pytest.raises(meltap.MeltapError, match=message):
        meltap.Subscriber(socket_path, timeout=5)
    server.stop()


def test_subscriber_raises_on_a_frame_cut_short_and_on_no_server(socket_path):
    # The server vanishes inside a frame: a protocol error that says so, and no partial frame
    # is handed out.
    server = Server(socket_path, header() + frame(0, np.ones(4, np.float32)) + frame(1, np.ones(4, np.float32))[:20])
    stream = meltap.Subscriber(socket_path, timeout=5)
    assert stream.next(timeout=5).sequence == 0
    with pytest.raises(meltap.MeltapError, match="ended inside a message"):
        stream.next(timeout=5)
    server.stop()
    stream.close()
    with pytest.raises(meltap.MeltapError):
        meltap.Subscriber(socket_path + ".none", timeout=1)  # no socket there
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(socket_path + ".dead")  # a socket file nobody listens on
    dead.close()
    with pytest.raises(meltap.MeltapError):
        meltap.Subscriber(socket_path + ".dead", timeout=1)


def test_repeated_calls_reuse_the_analyzer_and_keep_the_bits():
    # meltap_analyze_samples keeps one FileAnalyzer per preset and options (its FFT plans, mel
    # banks and reset analyzers): later calls, other options between them, give the same bits.
    y, other = signal(16000), signal(16000, 0.7)
    expected = meltap_file(y, 16000, "librosa", ["--n-mels", "40"])
    for _ in range(3):
        assert meltap.features(y, 16000, "librosa", n_mels=40).tobytes() == expected.tobytes()
        meltap.features(other, 16000, "librosa", n_mels=40)
        meltap.features(other, 16000, "whisper")
        with pytest.raises(meltap.MeltapError):
            meltap.features(y, 16000, "librosa", n_mels=0)


def test_bundling_lists_the_c_libraries_and_no_base_or_swift_library():
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "_build"))
    import meltap_build
    names = [p.name for p in meltap_build._dependencies(Path(meltap._lib._name))]
    assert any(n.startswith("libsndfile") for n in names) and any(n.startswith("libfftw3f") for n in names)
    assert not [n for n in names if meltap_build.BASE.match(n) or "swift" in n.lower()], names


def test_the_module_docstring_examples_run():
    import doctest
    assert doctest.testmod(meltap).failed == 0


def test_every_argument_of_features_is_explained():
    import inspect
    doc = meltap.features.__doc__
    for name in inspect.signature(meltap.features).parameters:
        assert f"{name}:" in doc or f"**{name}:" in doc, name
