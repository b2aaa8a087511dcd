"""pytest for Examples/dask_features.py: on a local Dask cluster it writes the layout of
`meltap file DIR -o OUT`, byte for byte: the .npy files (arrays and headers) and the sidecars.
Needs `make lib`, the release `meltap` and dask[distributed] (scripts/install-deps)."""

import json
import os
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

import meltap
from test_meltap import MELTAP, ROOT, signal

pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed in this Python: "
                    "run scripts/install-deps (or .venv/bin/pip install 'dask[distributed]')")

EXAMPLE = ROOT / "Examples" / "dask_features.py"

# Nested folders, two rates (44.1 kHz is resampled for whisper), 16-bit and float WAV.
LAYOUT = [("a/b/one.wav", 16000, "int16"), ("a/two.wav", 44100, "int16"), ("a/c/d/three.wav", 16000, "float"),
          ("four.wav", 22050, "int16"), ("e/five.wav", 16000, "int16"), ("e/six.wav", 48000, "float")]


def write_corpus(root: Path) -> None:
    for i, (relative, sr, kind) in enumerate(LAYOUT):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        y = signal(sr, seconds=0.6 + 0.1 * i)
        if kind == "float":
            meltap._float_wav(str(path), y, sr)
        else:
            with wave.open(str(path), "wb") as f:
                f.setnchannels(1)
                f.setsampwidth(2)
                f.setframerate(sr)
                f.writeframes(np.round(np.clip(y, -1, 1) * 32767).astype("<i2").tobytes())
    (root / ".hidden.wav").write_bytes((root / LAYOUT[0][0]).read_bytes())   # left out by both
    (root / "notes.txt").write_text("not audio")


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("preset,sets,flags", [
    ("whisper", [], []),
    ("librosa", ["n_mels=64", "output=db", "analysis_rate=16000"], ["--n-mels", "64", "--features", "db", "--sample-rate", "16000"]),
])
def test_dask_example_writes_what_meltap_file_writes(tmp_path, preset, sets, flags):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    reference, out = tmp_path / "reference", tmp_path / "dask"
    subprocess.run([str(MELTAP), "file", str(corpus), "-o", str(reference), "--no-progress", "--preset", preset, *flags],
                   check=True, capture_output=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "python"), os.environ.get("PYTHONPATH")])))
    run = subprocess.run([str(EXAMPLE), str(corpus), "-o", str(out), "--preset", preset, "--workers", "2",
                          *[arg for item in sets for arg in ("--set", item)]],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert f"{len(LAYOUT)} files into {out} with Dask ({len(LAYOUT)} written" in run.stdout

    expected = sorted(str(Path(r).with_suffix(s)) for r, _, _ in LAYOUT for s in (".json", ".npy"))
    assert files(reference) == expected
    assert files(out) == expected, "the same layout, no temporary file left"
    for relative, _, _ in LAYOUT:
        stem = Path(relative).with_suffix("")
        want, got = np.load(reference / stem.with_suffix(".npy")), np.load(out / stem.with_suffix(".npy"))
        assert got.dtype == want.dtype == np.float32 and got.shape == want.shape, relative
        assert got.tobytes() == want.tobytes(), f"{relative}: the Dask example's array differs from meltap file's"
        # The sidecars hold the same keys and values (no time or host in either) ...
        want_text, got_text = (reference / stem.with_suffix(".json")).read_text(), (out / stem.with_suffix(".json")).read_text()
        assert json.loads(got_text) == json.loads(want_text), relative
        # ... and Python's json spells them as meltap does; np.save writes the same .npy header.
        assert got_text == want_text, f"{relative}: sidecar bytes differ"
        assert (out / stem.with_suffix(".npy")).read_bytes() == (reference / stem.with_suffix(".npy")).read_bytes(), relative

    if sets:
        return
    # A second run skips every file (outputs exist) and changes nothing.
    before = {name: (out / name).read_bytes() for name in files(out)}
    again = subprocess.run([str(EXAMPLE), str(corpus), "-o", str(out), "--preset", preset, "--workers", "1",
                            *[arg for item in sets for arg in ("--set", item)]], env=env, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert {name: (out / name).read_bytes() for name in files(out)} == before
