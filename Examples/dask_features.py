#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Features of a whole corpus on a Dask cluster, in the layout `meltap file DIR -o OUT` writes.

    Examples/dask_features.py corpus/ -o feats/ --preset whisper --workers 4
    Examples/dask_features.py corpus/ -o feats/ --preset librosa --set n_mels=64 --set output=db
    Examples/dask_features.py corpus/ -o feats/ --scheduler tcp://scheduler:8786   # a running cluster

Each audio file below CORPUS becomes one Dask task that runs `meltap.load(path, preset, **options)`
on a worker, the in-process form of `meltap file` (libmeltap's own reader and driver), and writes
OUT/a/b.npy and the sidecar OUT/a/b.json beside it, mirroring CORPUS/a/b.wav. The files are
equal byte for byte to what `meltap file CORPUS -o OUT` writes with the same options
(python/tests/test_dask_example.py checks it), so the two can fill one output directory.

What differs from `meltap file`:
- Files are found by a fixed list of extensions (AUDIO_EXTENSIONS), not by asking libsndfile.
- The sidecar is the library's, re-encoded by Python's json module with meltap's spacing and
  sorted keys: the same keys and values, and in the tested cases the same bytes; a number that
  Python and Swift spell differently would change only its spelling.
- No manifest, no progress line and no resume check by modification time: a file whose .npy and
  .json both exist is skipped (use --force to redo it), and outputs are written to a temporary
  name and renamed, so a killed run leaves no partial .npy.

Needs the meltap package (python/meltap, PYTHONPATH=python, with libmeltap built by `make lib`)
and `dask[distributed]` (`.venv/bin/pip install "dask[distributed]"`, in scripts/install-deps).
For one machine without Dask, `meltap file DIR -o OUT --jobs N` is faster; for a Slurm or
Kubernetes cluster, see `meltap file --shard` (docs/file-format.md, "Datasets").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

AUDIO_EXTENSIONS = {"wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "mp2", "aif", "aiff", "aifc", "au", "caf",
                    "w64", "rf64"}


def discover(corpus: Path, output: Path) -> list[str]:
    """Audio files below `corpus` as sorted relative paths, as `meltap file` finds them: hidden
    files and folders left out, and nothing below the output directory."""
    found = []
    skip = output.resolve()
    for root, folders, files in os.walk(corpus):
        folders[:] = [f for f in folders if not f.startswith(".") and (Path(root) / f).resolve() != skip]
        for name in files:
            if not name.startswith(".") and name.rsplit(".", 1)[-1].lower() in AUDIO_EXTENSIONS and "." in name:
                found.append(os.path.relpath(os.path.join(root, name), corpus))
    return sorted(found)


def value(text: str) -> Any:
    """A --set value: true/false, none, an int, a float, or else the text."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def write_atomically(path: Path, write: Any) -> None:
    """Writes through `write(file)` to a hidden temporary beside `path`, then renames it."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "wb") as f:
        write(f)
    os.replace(temporary, path)


def analyse(corpus: str, output: str, relative: str, preset: str, options: dict[str, Any], force: bool) -> str | None:
    """One task, run on a worker: the features of CORPUS/relative into OUTPUT. Returns None, or
    the error text (a failing file does not stop the others)."""
    import numpy as np
    import meltap

    stem = Path(output) / Path(relative).with_suffix("")
    npy, sidecar_path = stem.with_suffix(".npy"), stem.with_suffix(".json")
    if not force and npy.exists() and sidecar_path.exists():
        return None
    try:
        array, sidecar = meltap.load(os.path.abspath(os.path.join(corpus, relative)), preset, **options)
        npy.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(npy, lambda f: np.save(f, array, allow_pickle=False))
        text = json.dumps(sidecar, indent=2, sort_keys=True, separators=(",", " : ")) + "\n"
        write_atomically(sidecar_path, lambda f: f.write(text.encode()))
    except (meltap.MeltapError, OSError) as error:
        return str(error)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", help="The directory of audio files, searched recursively.")
    parser.add_argument("-o", "--output", required=True, help="The output directory (created if needed).")
    parser.add_argument("--preset", default="whisper", help="As meltap file --preset (default whisper).")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="A meltap.load option, e.g. n_mels=64, output=db, analysis_rate=16000 (repeatable).")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="Local worker processes (default: one per core).")
    parser.add_argument("--scheduler", help="The address of a running Dask scheduler, instead of a local cluster.")
    parser.add_argument("--force", action="store_true", help="Analyse files whose outputs exist too.")
    args = parser.parse_args()

    options = {}
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep:
            parser.error(f"please give --set as KEY=VALUE; got {item!r}")
        options[key.replace("-", "_")] = value(text)
    corpus, output = Path(args.corpus), Path(args.output)
    relatives = discover(corpus, output)
    if not relatives:
        print(f"dask_features: no audio files in {corpus}", file=sys.stderr)
        return 1
    output.mkdir(parents=True, exist_ok=True)

    from dask.distributed import Client, LocalCluster, as_completed

    if args.scheduler:
        client = Client(args.scheduler)
    else:
        # One thread per worker process: meltap.load releases the GIL, but processes keep each
        # worker's libmeltap apart, as separate machines would be. No dashboard port.
        client = Client(LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None))
    with client:
        futures = client.map(analyse, [str(corpus)] * len(relatives), [str(output)] * len(relatives), relatives,
                             preset=args.preset, options=options, force=args.force, pure=False)
        index = {future.key: relative for future, relative in zip(futures, relatives)}
        failures = []
        for future in as_completed(futures):
            error = future.result()
            if error is not None:
                failures.append((index[future.key], error))
    print(f"{len(relatives)} files into {output} with Dask ({len(relatives) - len(failures)} written or already there, "
          f"{len(failures)} failed).")
    for relative, error in sorted(failures):
        print(f"  {relative}: {error}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
