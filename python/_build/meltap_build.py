"""meltap's PEP 517 build backend: setuptools's, after building libmeltap into the package.

``pip install ./python`` and ``make wheel`` call it (pyproject.toml: ``backend-path``). Before
setuptools packs the wheel it

1. builds libmeltap with the source tree's ``scripts/build-lib`` (a release Swift build; the
   Swift runtime and Foundation linked statically), or takes ``$MELTAP_PREBUILT_LIB``, a
   ``libmeltap.so`` already built by ``make lib`` or ``scripts/test``;
2. copies it to ``meltap/libmeltap.so``, and every library it needs beyond the manylinux base
   (FFTW, libsndfile with its codecs, libsamplerate, zita-resampler, JACK), as ``ldd`` resolves
   them here, to ``meltap/.libs/``, which libmeltap's RPATH (``$ORIGIN/.libs``) names.

The installed package then needs neither the Swift toolchain nor those system libraries.
The wheel is tagged py3-none-<platform>: ctypes needs no Python ABI, but the library is
built for this machine's architecture and glibc. ``make wheel`` (scripts/build-wheel) then has
auditwheel check it and retag it manylinux (docs/python.md).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from setuptools import build_meta as _setuptools
from setuptools.build_meta import (  # noqa: F401  (the hooks used as they are)
    build_sdist,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_wheel,
)

PACKAGE = Path(__file__).resolve().parents[1] / "meltap"
SOURCE = Path(__file__).resolve().parents[2]

#: Libraries every manylinux system has (PEP 600's base); never bundled.
BASE = re.compile(r"^(linux-vdso|ld-linux|libc|libm|libmvec|libdl|libpthread|librt|libstdc\+\+|libgcc_s)[.-]")


def _library() -> Path:
    prebuilt = os.environ.get("MELTAP_PREBUILT_LIB")
    if prebuilt:
        return Path(prebuilt)
    script = SOURCE / "scripts" / "build-lib"
    if not script.is_file():
        raise RuntimeError(f"meltap's build needs the source tree around python/ (no {script}); build from a "
                           "checkout of meltap, or set MELTAP_PREBUILT_LIB to a libmeltap.so from `make lib`.")
    built = subprocess.run([str(script)], cwd=SOURCE, check=True, stdout=subprocess.PIPE, text=True)
    return Path(built.stdout.strip().splitlines()[-1])


def _dependencies(library: Path) -> list[Path]:
    """The libraries ``library`` loads (directly or not) outside the manylinux base, per ldd."""
    listing = subprocess.run(["ldd", str(library)], check=True, stdout=subprocess.PIPE, text=True).stdout
    found = []
    for line in listing.splitlines():
        match = re.match(r"\s*(\S+) => (\S+)", line)
        if match and not BASE.match(match.group(1)):
            if match.group(2) == "not":
                raise RuntimeError(f"{library} needs {match.group(1)}, which is not installed; run scripts/install-deps.")
            found.append(Path(match.group(2)))
    return found


def _bundle() -> None:
    library = _library()
    shutil.copy2(library, PACKAGE / "libmeltap.so")
    bundled = PACKAGE / ".libs"
    shutil.rmtree(bundled, ignore_errors=True)
    bundled.mkdir()
    for dependency in _dependencies(library):
        shutil.copy2(dependency.resolve(), bundled / dependency.name)  # under its soname, as ldd named it


def _unbundle() -> None:
    """Removes the copies from the source tree once they are in the wheel: a stale
    meltap/libmeltap.so would otherwise shadow `make lib`'s for PYTHONPATH=python users."""
    (PACKAGE / "libmeltap.so").unlink(missing_ok=True)
    shutil.rmtree(PACKAGE / ".libs", ignore_errors=True)


def build_wheel(wheel_directory: str, config_settings: dict | None = None,
                metadata_directory: str | None = None) -> str:
    _bundle()
    try:
        return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    finally:
        _unbundle()


def build_editable(wheel_directory: str, config_settings: dict | None = None,
                   metadata_directory: str | None = None) -> str:
    _bundle()  # kept in the tree: an editable install loads them from there
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)


get_requires_for_build_editable = _setuptools.get_requires_for_build_editable
prepare_metadata_for_build_editable = _setuptools.prepare_metadata_for_build_editable
