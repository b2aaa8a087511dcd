"""meltap for Python: the real-time mel-spectrogram core of meltap, over libmeltap's C ABI.

A skeleton of issue 22 item 2: ctypes over ``libmeltap.so`` (``make lib``; include/meltap.h).
ctypes releases the GIL during every call into the library.

    >>> import meltap, numpy as np
    >>> y = np.zeros(16000, np.float32)
    >>> meltap.features(y, 16000, preset="whisper").shape      # (frames, 80), as meltap file
    (101, 80)
    >>> a = meltap.Analyzer("whisper", 48000)                    # streaming, as meltap run
    >>> frames = a.accept(np.zeros(4800, np.float32))            # (n, 80), n may be 0
    >>> rest = a.flush()

The library is looked for in $MELTAP_LIB (a path to libmeltap.so), beside this package
(``meltap/libmeltap.so``) and in the source tree's ``.build/meltap-lib/lib``.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Analyzer", "MeltapError", "features", "presets", "version"]


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
_declare("meltap_analyzer_create", ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_double)
_declare("meltap_analyzer_destroy", None, ctypes.c_void_p)
_declare("meltap_analyzer_frame_width", _ssize, ctypes.c_void_p)
_declare("meltap_analyzer_analysis_rate", ctypes.c_double, ctypes.c_void_p)
_declare("meltap_analyzer_config_json", ctypes.c_char_p, ctypes.c_void_p)
_declare("meltap_analyzer_max_frames", _ssize, ctypes.c_void_p, _ssize)
_declare("meltap_analyzer_process", _ssize, ctypes.c_void_p, _float_p, _ssize, _float_p, _ssize)
_declare("meltap_analyzer_flush", _ssize, ctypes.c_void_p, _float_p, _ssize)
_declare("meltap_analyzer_reset", None, ctypes.c_void_p)
_declare("meltap_file_analyze", ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p)
_declare("meltap_file_result_ndim", _ssize, ctypes.c_void_p)
_declare("meltap_file_result_dim", _ssize, ctypes.c_void_p, _ssize)
_declare("meltap_file_result_count", _ssize, ctypes.c_void_p)
_declare("meltap_file_result_data", _float_p, ctypes.c_void_p)
_declare("meltap_file_result_sidecar", ctypes.c_char_p, ctypes.c_void_p)
_declare("meltap_file_result_destroy", None, ctypes.c_void_p)


def _error() -> MeltapError:
    return MeltapError(_lib.meltap_last_error().decode())


def version() -> str:
    """meltap's version ("0.1.0"), as ``meltap --version`` prints it."""
    return _lib.meltap_version_string().decode()


def presets() -> list[str]:
    """The preset names ``preset=`` takes: librosa, torchaudio, kaldi, whisper, micro."""
    return _lib.meltap_presets().decode().split(",")


def _options(overrides: dict[str, Any], analysis_rate: int | None = None) -> bytes:
    """``n_mels=80, fmax=-400, use_energy=True`` as libmeltap's "n-mels=80,fmax=-400,use-energy"."""
    fields = []
    for key, value in overrides.items():
        name = key.replace("_", "-")
        if isinstance(value, bool):
            fields.append(f"{name}={'true' if value else 'false'}")
        elif value is None:
            fields.append(f"{name}=none")
        else:
            fields.append(f"{name}={value}")
    if analysis_rate is not None:
        fields.append(f"sample-rate={int(analysis_rate)}")
    return ",".join(fields).encode()


def _samples(y: Any) -> np.ndarray:
    """``y`` as a 1-D C-contiguous float32 array, with errors that say what to give instead."""
    array = np.asarray(y)
    if array.ndim != 1:
        raise MeltapError(f"Please give mono samples as a 1-D array; got shape {array.shape}.")
    if not np.issubdtype(array.dtype, np.floating):
        raise MeltapError(f"Please give float samples (float32 or float64, -1 to 1); got dtype {array.dtype}.")
    return np.ascontiguousarray(array, dtype=np.float32)


def _check_rate(sr: Any) -> float:
    if not isinstance(sr, (int, float, np.integer, np.floating)) or not 1000 <= float(sr) <= 768000:
        raise MeltapError(f"Please give the sample rate in Hz from 1000 to 768000, e.g. 16000; got {sr!r}.")
    return float(sr)


def _float_wav(path: str, y: np.ndarray, sr: int) -> None:
    """A mono 32-bit float WAV (WAVE_FORMAT_IEEE_FLOAT), which libsndfile reads back exactly."""
    data = y.astype("<f4").tobytes()
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 26 + 12 + 8 + len(data)) + b"WAVE")
        f.write(b"fmt " + struct.pack("<IHHIIHHH", 18, 3, 1, sr, sr * 4, 4, 32, 0))
        f.write(b"fact" + struct.pack("<II", 4, len(y)))
        f.write(b"data" + struct.pack("<I", len(data)) + data)


def features(y: Any, sr: int, preset: str = "whisper", *, analysis_rate: int | None = None,
             **overrides: Any) -> np.ndarray:
    """Mel features of the whole signal ``y``, equal bit for bit to ``meltap file`` on the same samples.

    Args:
        y: mono samples, a 1-D float array (float64 is converted to float32, as a float WAV holds).
        sr: the rate of ``y`` in Hz (librosa's ``sr``), a whole number from 1000 to 768000.
        preset: the reference frontend: librosa, torchaudio, kaldi, whisper (80 log-mel bands at
            16 kHz, the default) or micro; see ``presets()``.
        analysis_rate: the rate the analysis runs at (``meltap file --sample-rate``); ``y`` is
            resampled to it. Default: 16000 for whisper and micro, else ``sr``.
        **overrides: ``meltap file``'s feature options with underscores: ``n_mels=80``,
            ``fmax=-400``, ``output="db"``, ``top_db=None``, ``use_energy=True``, ``clamp="running"``,
            ``resampler="sinc-best"``.

    Returns:
        A float32 array (frames, bands). The clamps (top_db, Whisper's max - 8) use the whole
        signal's maximum, as the reference libraries do (``clamp="running"`` for the live rule).

    This skeleton writes ``y`` to a temporary float WAV and runs meltap file's driver on it
    (``meltap_file_analyze``): exact, with a file's overhead.
    """
    samples = _samples(y)
    rate = _check_rate(sr)
    if rate != int(rate):
        raise MeltapError(f"Please give sr as a whole number of Hz; got {sr!r}.")
    if samples.size == 0:
        raise MeltapError("Please give at least one sample; y is empty.")
    with tempfile.TemporaryDirectory(prefix="meltap-") as directory:
        path = os.path.join(directory, "y.wav")
        _float_wav(path, samples, int(rate))
        result = _lib.meltap_file_analyze(path.encode(), preset.encode(), _options(overrides, analysis_rate))
        if not result:
            raise _error()
        try:
            shape = tuple(_lib.meltap_file_result_dim(result, axis)
                          for axis in range(_lib.meltap_file_result_ndim(result)))
            count = _lib.meltap_file_result_count(result)
            values = np.ctypeslib.as_array(_lib.meltap_file_result_data(result), shape=(count,)).copy()
        finally:
            _lib.meltap_file_result_destroy(result)
    return values.reshape(shape)


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
        handle = _lib.meltap_analyzer_create(preset.encode(), _options(overrides, analysis_rate),
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
        n = _lib.meltap_analyzer_process(self._handle, samples.ctypes.data_as(_float_p), samples.size,
                                         frames.ctypes.data_as(_float_p), capacity)
        if n < 0:
            raise _error()
        return frames[:n]

    def flush(self) -> np.ndarray:
        """Ends the stream and returns its last frames (the right padding's); then ``reset``."""
        frames, capacity = self._buffer(0)
        n = _lib.meltap_analyzer_flush(self._handle, frames.ctypes.data_as(_float_p), capacity)
        if n < 0:
            raise _error()
        return frames[:n]

    def reset(self) -> None:
        """Forgets all input: the next sample starts a new stream."""
        _lib.meltap_analyzer_reset(self._handle)
