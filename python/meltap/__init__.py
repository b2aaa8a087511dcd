"""meltap for Python: the real-time mel-spectrogram core of meltap, over libmeltap's C ABI.

ctypes over ``libmeltap.so`` (include/meltap.h), bundled in the package by its build backend
(``pip install ./python``) or built by ``make lib``. ctypes releases the GIL during every call
into the library, so Python threads analyse in parallel (``features_batch``).

    >>> import meltap, numpy as np
    >>> y = np.zeros(16000, np.float32)
    >>> meltap.features(y, 16000, preset="whisper").shape      # (frames, 80), as meltap file
    (100, 80)
    >>> batch = meltap.features_batch([y, y[:8000]], 16000, threads=2)
    >>> array, sidecar = meltap.load("speech.wav")               # doctest: +SKIP
    >>> a = meltap.Analyzer("whisper", 48000)                    # streaming, as meltap run
    >>> frames = a.accept(np.zeros(4800, np.float32))            # (n, 80), n may be 0
    >>> rest = a.flush()

The library is looked for in $MELTAP_LIB (a path to libmeltap.so), beside this package
(``meltap/libmeltap.so``) and in the source tree's ``.build/meltap-lib/lib``.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import struct
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np

__all__ = ["Analyzer", "Frame", "MeltapError", "Subscriber", "default_socket_path", "features", "features_batch",
           "load", "presets", "version"]


class MeltapError(ValueError):
    """A call into libmeltap failed; the message says what went wrong and what to do."""


def _find_library() -> str:
    candidates = []
    if os.environ.get("MELTAP_LIB"):
        candidates.append(Path(os.environ["MELTAP_LIB"]))
    here = Path(__file__).resolve().parent
    candidates.append(here / "libmeltap.so")
    candidates.append(here.parent.parent / ".build" / "meltap-lib" / "lib" / "libmeltap.so")
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    raise ImportError("libmeltap.so not found (looked in: " + ", ".join(map(str, candidates))
                      + "). Run `make lib` in the meltap tree, or set MELTAP_LIB to the library's path.")


_lib = ctypes.CDLL(_find_library())
_float_p = ctypes.POINTER(ctypes.c_float)
_ssize = ctypes.c_ssize_t


def _declare(name: str, restype: Any, *argtypes: Any) -> None:
    function = getattr(_lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)


_declare("meltap_version", ctypes.c_int)
_declare("meltap_version_string", ctypes.c_char_p)
_declare("meltap_presets", ctypes.c_char_p)
_declare("meltap_last_error", ctypes.c_char_p)
_declare("meltap_default_socket_path", _ssize, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, _ssize)
_declare("meltap_analyzer_create", ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_double)
_declare("meltap_analyzer_destroy", None, ctypes.c_void_p)
_declare("meltap_analyzer_frame_width", _ssize, ctypes.c_void_p)
_declare("meltap_analyzer_analysis_rate", ctypes.c_double, ctypes.c_void_p)
_declare("meltap_analyzer_config_json", ctypes.c_char_p, ctypes.c_void_p)
_declare("meltap_analyzer_max_frames", _ssize, ctypes.c_void_p, _ssize)
_declare("meltap_analyzer_process", _ssize, ctypes.c_void_p, ctypes.c_void_p, _ssize, ctypes.c_void_p, _ssize)
_declare("meltap_analyzer_flush", _ssize, ctypes.c_void_p, ctypes.c_void_p, _ssize)
_declare("meltap_analyzer_reset", None, ctypes.c_void_p)
_declare("meltap_file_analyze", ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p)
_declare("meltap_file_result_ndim", _ssize, ctypes.c_void_p)
_declare("meltap_file_result_dim", _ssize, ctypes.c_void_p, _ssize)
_declare("meltap_file_result_count", _ssize, ctypes.c_void_p)
_declare("meltap_file_result_data", ctypes.c_void_p, ctypes.c_void_p)
_declare("meltap_file_result_sidecar", ctypes.c_char_p, ctypes.c_void_p)
_declare("meltap_file_result_destroy", None, ctypes.c_void_p)
_declare("meltap_analyze_samples", ctypes.c_void_p, ctypes.c_void_p, _ssize, ctypes.c_double, ctypes.c_char_p, ctypes.c_char_p)
_declare("meltap_subscriber_connect", ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int32), _ssize,
         ctypes.c_int32)
_declare("meltap_subscriber_close", None, ctypes.c_void_p)
for _name in ("band_count", "channel_count", "hop_length", "fft_length", "latency_samples"):
    _declare(f"meltap_subscriber_{_name}", _ssize, ctypes.c_void_p)
_declare("meltap_subscriber_sample_rate", ctypes.c_double, ctypes.c_void_p)
_declare("meltap_subscriber_frame_rate", ctypes.c_double, ctypes.c_void_p)
_declare("meltap_subscriber_config_json", ctypes.c_char_p, ctypes.c_void_p)
_declare("meltap_subscriber_clamp_rule", ctypes.c_char_p, ctypes.c_void_p)
_declare("meltap_subscriber_next", ctypes.c_int, ctypes.c_void_p, ctypes.c_int32, _float_p, _ssize,
         ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_int64),
         ctypes.POINTER(ctypes.c_uint32))


def _error() -> MeltapError:
    return MeltapError(_lib.meltap_last_error().decode())


def version() -> str:
    """meltap's version ("0.1.0"), as ``meltap --version`` prints it."""
    return _lib.meltap_version_string().decode()


def presets() -> list[str]:
    """The preset names ``preset=`` takes: librosa, torchaudio, kaldi, whisper, micro, openwakeword."""
    return _lib.meltap_presets().decode().split(",")


def _options(overrides: dict[str, Any], analysis_rate: int | None = None) -> bytes:
    """``n_mels=80, fmax=-400, use_energy=True`` as libmeltap's "n-mels=80,fmax=-400,use-energy"."""
    fields = []
    for key, value in overrides.items():
        name = key.replace("_", "-")
        if any(c in f"{name}{value}" for c in ",="):
            raise MeltapError(f"Please give option {key} a single value without ',' or '='; got {value!r}.")
        if isinstance(value, bool):
            fields.append(f"{name}={'true' if value else 'false'}")
        elif value is None:
            fields.append(f"{name}=none")
        else:
            fields.append(f"{name}={value}")
    if analysis_rate is not None:
        fields.append(f"sample-rate={int(analysis_rate)}")
    return ",".join(fields).encode()


def _samples(y: Any, name: str = "y") -> np.ndarray:
    """``y`` as a 1-D C-contiguous float32 array, with errors that say what to give instead.

    A float32 C-contiguous array is used as it is (no copy); float64 and other float types are
    converted once, strided views copied once.
    """
    array = np.asarray(y)
    if array.ndim != 1:
        raise MeltapError(f"Please give mono samples as a 1-D array; {name} has shape {array.shape} "
                          "(for a (samples, channels) array as soundfile reads it: features_batch(list(y.T), sr)).")
    if not np.issubdtype(array.dtype, np.floating):
        raise MeltapError(f"Please give float samples (float32 or float64, -1 to 1); {name} has dtype {array.dtype} "
                          "(for int16 PCM, divide by 32768).")
    return np.ascontiguousarray(array, dtype=np.float32)


def _finite(samples: np.ndarray, name: str = "y") -> None:
    """Raises when ``samples`` holds NaN or infinity, saying how many and where the first is.

    ``features`` leaves the check to the library (``meltap_analyze_samples`` checks each block
    just before analysing it, with the GIL released, so it costs no pass of its own) and calls
    this only after the library refused the samples, for the message."""
    finite = np.isfinite(samples)
    if finite.all():
        return
    bad = np.flatnonzero(~finite)
    raise MeltapError(f"{name} holds {bad.size} NaN or infinite sample(s), the first at index {bad[0]} "
                      f"({samples[bad[0]]}); please clean the signal (e.g. np.nan_to_num) first.")


def _check_rate(sr: Any, whole: bool = False) -> float:
    if isinstance(sr, bool) or not isinstance(sr, (int, float, np.integer, np.floating)) \
            or not 1000 <= float(sr) <= 768000:
        raise MeltapError(f"Please give the sample rate in Hz from 1000 to 768000, e.g. 16000; got {sr!r}.")
    if whole and float(sr) != int(sr):
        raise MeltapError(f"Please give sr as a whole number of Hz, as an audio file holds it; got {sr!r}.")
    return float(sr)


def _float_wav(path: str, y: np.ndarray, sr: int) -> None:
    """A mono 32-bit float WAV (WAVE_FORMAT_IEEE_FLOAT), which libsndfile reads back exactly.
    For tests and for handing samples to ``meltap file``."""
    data = y.astype("<f4").tobytes()
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 26 + 12 + 8 + len(data)) + b"WAVE")
        f.write(b"fmt " + struct.pack("<IHHIIHHH", 18, 3, 1, sr, sr * 4, 4, 32, 0))
        f.write(b"fact" + struct.pack("<II", 4, len(y)))
        f.write(b"data" + struct.pack("<I", len(data)) + data)


def _address(array: np.ndarray) -> int:
    """The address of ``array``'s first element, for a ``c_void_p`` argument (cheaper than
    ``array.ctypes.data_as``, which builds two ctypes objects per call)."""
    return array.__array_interface__["data"][0]


# Results up to this many floats (256 KiB) are copied into a numpy array and the library's
# result destroyed at once: for a short clip the copy costs less than keeping the result alive
# with the array (a ctypes buffer and a weakref finalizer, ~2 µs a call).
_COPY_LIMIT = 1 << 16


def _take_result(result: int, sidecar: bool = True) -> tuple[np.ndarray, str]:
    """The array and (unless ``sidecar`` is false: "") sidecar text of a ``meltap_file_result *``.
    A large array is a view of the result's own buffer (no copy), and the result is destroyed
    when the array's last view goes; a small one is a copy, and the result is destroyed now."""
    try:
        shape = tuple(_lib.meltap_file_result_dim(result, axis) for axis in range(_lib.meltap_file_result_ndim(result)))
        count = _lib.meltap_file_result_count(result)
        text = _lib.meltap_file_result_sidecar(result).decode() if sidecar else ""
        if count <= _COPY_LIMIT:
            array = np.empty(shape, np.float32)
            if count:
                ctypes.memmove(_address(array), _lib.meltap_file_result_data(result), count * 4)
            _lib.meltap_file_result_destroy(result)
            return array, text
        buffer = (ctypes.c_float * count).from_address(_lib.meltap_file_result_data(result))
    except BaseException:
        _lib.meltap_file_result_destroy(result)
        raise
    # The buffer object (kept alive by the array's base) owns the result from here.
    weakref.finalize(buffer, _lib.meltap_file_result_destroy, result)
    return np.frombuffer(buffer, np.float32).reshape(shape), text


def _prepare(y: Any, sr: Any, name: str = "y") -> tuple[np.ndarray, float]:
    samples = _samples(y, name)
    rate = _check_rate(sr, whole=True)
    if samples.size == 0:
        raise MeltapError(f"Please give at least one sample; {name} is empty.")
    return samples, rate


def _analyse(samples: np.ndarray, rate: float, preset: str, options: bytes, name: str = "y") -> np.ndarray:
    """``meltap_analyze_samples``; ctypes releases the GIL for the call. The library refuses NaN
    and infinite samples; ``_finite`` then words the error with ``name``."""
    result = _lib.meltap_analyze_samples(_address(samples), samples.size, rate,
                                         _preset(preset), options)
    if not result:
        error = _error()
        _finite(samples, name)
        raise error
    return _take_result(result, sidecar=False)[0]


def _preset(preset: Any) -> bytes:
    if not isinstance(preset, str):
        raise MeltapError(f"Please give the preset as a name, one of {', '.join(presets())}; got {preset!r}.")
    return preset.encode()


def features(y: Any, sr: int, preset: str = "whisper", *, analysis_rate: int | None = None,
             **overrides: Any) -> np.ndarray:
    """Mel features of the whole signal ``y``, equal bit for bit to ``meltap file`` on the same samples.

    Runs meltap file's own driver on the samples in memory (``meltap_analyze_samples``): the same
    blocks, resampler and analyzer, and the whole-signal clamp, with no file written. The GIL
    is released during the analysis.

    Args:
        y: mono samples, a 1-D float array, nominally -1 to 1. float32 C-contiguous arrays are
            read in place; float64 (or a strided view) is converted to float32 once, as a float
            WAV would hold it. NaN or infinity raises ``MeltapError``.
        sr: the rate of ``y`` in Hz (librosa's ``sr``), a whole number from 1000 to 768000.
        preset: the reference frontend: ``"librosa"``, ``"torchaudio"``, ``"kaldi"``,
            ``"whisper"`` (80 log-mel bands at 16 kHz, the default) or ``"micro"``; see ``presets()``.
        analysis_rate: the rate in Hz the analysis runs at (``meltap file --sample-rate``); ``y``
            is resampled to it. Default: 16000 for whisper and micro, else ``sr``.
        **overrides: ``meltap file``'s options, with underscores for dashes: ``n_fft``,
            ``hop_length``, ``win_length``, ``window``, ``framing``, ``n_mels``, ``fmin``, ``fmax``
            (negative: below Nyquist), ``mel_scale``, ``mel_norm``, ``power``, ``output``
            (e.g. ``"db"``, ``"log"``, ``"mfcc"``, ``"pcen"``), ``n_mfcc``, ``top_db`` (``None``
            for no clamp), ``db_ref``, ``use_energy`` (bool), ``fft_precision``, ``resampler``
            (``"zita"``, ``"sinc-best"`` …), ``clamp`` (``"global"``, the default, or
            ``"running"``, the live rule) and ``layout`` (``"bands-first"`` for (bands, frames)).
            See ``meltap file --help`` for each.

    Returns:
        A new float32 array (frames, bands), C order, owned by the caller: above 256 KiB a view
        of the library's result buffer, freed with the array (no copy); below, a copy (cheaper
        than tying the buffer's lifetime to the array for a short clip). The clamps (top_db, Whisper's
        max - 8) use the whole signal's maximum, as the reference libraries do.

    Raises:
        MeltapError: bad samples (dtype, shape, empty, NaN/inf), a rate out of range, an
            unknown preset or option, or a bad value; the message says what to give instead.
    """
    samples, rate = _prepare(y, sr)
    return _analyse(samples, rate, preset, _options(overrides, analysis_rate))


def features_batch(signals: Sequence[Any], sr: int, preset: str = "whisper", *, threads: int | None = None,
                   analysis_rate: int | None = None, **overrides: Any) -> list[np.ndarray]:
    """``features`` of each signal, computed on ``threads`` threads at once.

    Each call releases the GIL, so the threads run in parallel. The results are in the order of
    ``signals`` and equal ``features(signal, sr, …)`` bit for bit.

    Args:
        signals: mono signals (1-D float arrays, each as ``features``'s ``y``), all at ``sr``.
        sr: their rate in Hz, a whole number from 1000 to 768000.
        preset, analysis_rate, **overrides: as for ``features``, the same for every signal.
        threads: how many signals are analysed at once; default ``os.cpu_count()``. 1 runs them
            one after another on the calling thread.

    Raises:
        MeltapError: as ``features``, naming the signal (``signals[3]``). Dtype, shape, emptiness
            and the rate are checked before any signal is analysed; NaN and infinity as each
            signal is analysed (in its worker thread), and no list is returned then.
    """
    if isinstance(signals, np.ndarray) and signals.ndim == 1:
        raise MeltapError("Please give a list of signals; got one 1-D array (use features() for one signal).")
    prepared = [_prepare(y, sr, f"signals[{i}]") for i, y in enumerate(signals)]
    options = _options(overrides, analysis_rate)
    _preset(preset)
    count = (os.cpu_count() or 1) if threads is None else threads
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise MeltapError(f"Please give threads as a whole number of 1 or more; got {threads!r}.")
    names = [f"signals[{i}]" for i in range(len(prepared))]
    if count == 1 or len(prepared) <= 1:
        return [_analyse(samples, rate, preset, options, name) for (samples, rate), name in zip(prepared, names)]
    with ThreadPoolExecutor(max_workers=min(count, len(prepared))) as pool:
        return list(pool.map(lambda item, name: _analyse(item[0], item[1], preset, options, name), prepared, names))


def load(path: str | os.PathLike[str], preset: str = "whisper", *, analysis_rate: int | None = None,
         **overrides: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """The features of an audio file and their sidecar, as ``meltap file PATH -o OUT.npy`` writes them.

    Args:
        path: an audio file libsndfile reads (WAV, FLAC, Ogg Vorbis …); or a ``.npy`` that
            ``meltap file`` wrote, read back with the sidecar beside it (``x.npy`` → ``x.json``;
            then no other argument may be given).
        preset, analysis_rate, **overrides: as for ``features``; besides, the file options
            ``channel=N`` (1 is the first), ``all_channels=True``, ``mono=True`` and
            ``layout="bands-first"``.

    Returns:
        ``(array, sidecar)``: the float32 array (frames, bands), or (frames, channels, bands)
        with ``all_channels``, and the sidecar JSON as a dict (configuration, stream, input).

    Raises:
        MeltapError: a missing or unreadable file, bad options; FileNotFoundError: a ``.npy``
            without its sidecar.
    """
    text = os.fspath(path)
    if text.endswith(".npy"):
        if overrides or analysis_rate is not None:
            raise MeltapError("A .npy is read as written; please give no options with it (they were fixed by meltap file).")
        with open(text[:-4] + ".json", encoding="utf-8") as f:
            sidecar = json.load(f)
        return np.load(text), sidecar
    result = _lib.meltap_file_analyze(text.encode(), _preset(preset), _options(overrides, analysis_rate))
    if not result:
        raise _error()
    array, sidecar = _take_result(result)
    return array, json.loads(sidecar)


class Analyzer:
    """A streaming analyzer for one channel: equal bit for bit to the live stream (running clamp),
    for any chunking.

    Args:
        preset: the reference frontend (see ``presets()``).
        sample_rate: the rate of the samples given to ``accept``, in Hz.
        analysis_rate: the rate the analysis runs at; the input is resampled to it (as
            ``--sample-rate``). Default: 16000 for whisper and micro, else ``sample_rate``.
        **overrides: feature options as in ``features``.
    """

    def __init__(self, preset: str = "whisper", sample_rate: float = 16000, *, analysis_rate: int | None = None,
                 **overrides: Any) -> None:
        self._handle = None
        handle = _lib.meltap_analyzer_create(_preset(preset), _options(overrides, analysis_rate),
                                             _check_rate(sample_rate))
        if not handle:
            raise _error()
        self._handle = handle
        self.frame_width: int = _lib.meltap_analyzer_frame_width(handle)
        self.analysis_rate: float = _lib.meltap_analyzer_analysis_rate(handle)

    def __del__(self) -> None:
        if getattr(self, "_handle", None):
            _lib.meltap_analyzer_destroy(self._handle)
            self._handle = None

    @property
    def config(self) -> dict[str, Any]:
        """The resolved configuration: every DSP parameter, as the sidecar records it."""
        return json.loads(_lib.meltap_analyzer_config_json(self._handle).decode())

    def _buffer(self, count: int) -> tuple[np.ndarray, int]:
        capacity = _lib.meltap_analyzer_max_frames(self._handle, count)
        return np.empty((capacity, self.frame_width), np.float32), capacity

    def accept(self, chunk: Any) -> np.ndarray:
        """Feeds ``chunk`` (mono float samples at ``sample_rate``) and returns the frames it
        completes, a float32 array (n, frame_width) with n ≥ 0."""
        samples = _samples(chunk)
        frames, capacity = self._buffer(samples.size)
        n = _lib.meltap_analyzer_process(self._handle, _address(samples), samples.size,
                                         _address(frames), capacity)
        if n < 0:
            raise _error()
        return frames[:n]

    def flush(self) -> np.ndarray:
        """Ends the stream and returns its last frames (the right padding's); then ``reset``."""
        frames, capacity = self._buffer(0)
        n = _lib.meltap_analyzer_flush(self._handle, _address(frames), capacity)
        if n < 0:
            raise _error()
        return frames[:n]

    def reset(self) -> None:
        """Forgets all input: the next sample starts a new stream."""
        _lib.meltap_analyzer_reset(self._handle)


class Frame(NamedTuple):
    """One frame of a ``meltap run`` stream (docs/wire-format.md)."""

    #: per channel, counting from 0; a jump shows frames lost.
    sequence: int
    #: the input channel, 0 for the first.
    channel: int
    #: JACK's frame time, in samples, of the frame's first sample.
    time: int
    #: ``FLAG_*`` bits: gap, xrun, reconfigured, server restart, discontinuity.
    flags: int
    #: the frame's values, float32, ``band_count`` of them (a new array per frame).
    values: np.ndarray


FLAG_GAP, FLAG_XRUN, FLAG_RECONFIGURED, FLAG_SERVER_RESTART, FLAG_DISCONTINUITY = 1, 2, 4, 8, 16


def default_socket_path(client: str = "meltap", stream: str = "") -> str:
    """Where ``meltap run --name CLIENT`` serves by default (``meltap_default_socket_path``).

    ``CLIENT.sock``, or ``CLIENT.STREAM.sock`` for a ``--stream``, in the default socket
    directory: ``$XDG_RUNTIME_DIR/meltap`` when that variable names a directory, else
    ``/run/user/UID/meltap`` when ``/run/user/UID`` exists, else ``/tmp/meltap-UID``.
    """
    client_bytes, stream_bytes = client.encode(), stream.encode()
    length = _lib.meltap_default_socket_path(client_bytes, stream_bytes, None, 0)
    buffer = ctypes.create_string_buffer(length + 1)
    _lib.meltap_default_socket_path(client_bytes, stream_bytes, buffer, length + 1)
    return os.fsdecode(buffer.value)


class Subscriber:
    """Frames of a running ``meltap run``, over its Unix socket (``meltap_subscriber_*``).

        with meltap.Subscriber() as stream:      # meltap.sock in the default socket directory
            for frame in stream:                 # until the server ends the stream
                print(frame.sequence, frame.values[:4])

    Args:
        path: the socket path ``meltap run`` prints; None for ``default_socket_path()``.
        channels: the input channels to receive (0 is the first); None for all.
        timeout: seconds to wait for the connection's stream header (None: forever).

    Raises:
        MeltapError: no socket there, nobody serving it, the server refused the subscription,
            a protocol error, or no header within ``timeout``.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, channels: Sequence[int] | None = None,
                 timeout: float | None = 5.0) -> None:
        self._handle = None
        if path is None:
            path = default_socket_path()
        wanted = list(channels or [])
        array = (ctypes.c_int32 * max(1, len(wanted)))(*wanted)
        handle = _lib.meltap_subscriber_connect(os.fsencode(path), array, len(wanted), _milliseconds(timeout))
        if not handle:
            raise _error()
        self._handle = handle
        self._values = np.empty(0, np.float32)
        self._sequence, self._channel = ctypes.c_uint64(), ctypes.c_uint32()
        self._time, self._flags = ctypes.c_int64(), ctypes.c_uint32()

    def _live(self) -> int:
        if not self._handle:
            raise MeltapError("The subscriber is closed; please connect a new Subscriber.")
        return self._handle

    @property
    def band_count(self) -> int:
        """Floats per frame (the current header's; it changes when the server reconfigures)."""
        return _lib.meltap_subscriber_band_count(self._live())

    @property
    def channel_count(self) -> int:
        return _lib.meltap_subscriber_channel_count(self._live())

    @property
    def sample_rate(self) -> float:
        """The analysis rate, Hz."""
        return _lib.meltap_subscriber_sample_rate(self._live())

    @property
    def frame_rate(self) -> float:
        """Frames per second per channel."""
        return _lib.meltap_subscriber_frame_rate(self._live())

    @property
    def hop_length(self) -> int:
        return _lib.meltap_subscriber_hop_length(self._live())

    @property
    def config(self) -> dict[str, Any]:
        """The server's resolved configuration."""
        return json.loads(_lib.meltap_subscriber_config_json(self._live()).decode())

    def next(self, timeout: float | None = None) -> Frame | None:
        """The next frame, waiting up to ``timeout`` seconds (0: do not wait; None: forever).

        Returns None when nothing arrived in time. Raises ``EOFError`` when the server ended
        the stream, ``MeltapError`` on a protocol error or refusal (the connection is then unusable)
        or when closed. The GIL is released while waiting.
        """
        handle = self._live()
        width = max(1, _lib.meltap_subscriber_band_count(handle))
        values = np.empty(width, np.float32)
        status = _lib.meltap_subscriber_next(handle, _milliseconds(timeout), values.ctypes.data_as(_float_p), width,
                                             ctypes.byref(self._sequence), ctypes.byref(self._channel),
                                             ctypes.byref(self._time), ctypes.byref(self._flags))
        if status == 1:
            return Frame(self._sequence.value, self._channel.value, self._time.value, self._flags.value,
                         values[:_lib.meltap_subscriber_band_count(handle)])
        if status == 0:
            return None
        if status == 2:
            raise EOFError("The meltap server ended the stream.")
        raise _error()

    def __iter__(self) -> Iterator[Frame]:
        """Frames until the server ends the stream (then the iteration stops)."""
        while True:
            try:
                frame = self.next(None)
            except EOFError:
                return
            if frame is not None:
                yield frame

    def close(self) -> None:
        """Closes the connection; later calls raise ``MeltapError``. Closing twice is harmless."""
        if getattr(self, "_handle", None):
            _lib.meltap_subscriber_close(self._handle)
            self._handle = None

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _milliseconds(timeout: float | None) -> int:
    if timeout is None:
        return -1
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0 or timeout > 2_000_000:
        raise MeltapError(f"Please give the timeout in seconds, 0 or more (None: wait forever); got {timeout!r}.")
    return int(math.ceil(timeout * 1000))
