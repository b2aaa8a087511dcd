"""The default socket path (issue 24): the package's default_socket_path (libmeltap's
meltap_default_socket_path, the rule meltap itself follows) in every case, never "/meltap/…"
without XDG_RUNTIME_DIR; a missing socket is named; and the examples, which read through the
package, default to that same path (Examples/meltap_subscriber.py run as a program). Needs
`make lib`."""

import os
import re
import subprocess
from pathlib import Path

import pytest

import meltap

ROOT = Path(__file__).resolve().parents[2]


def test_xdg_runtime_dir_first(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert meltap.default_socket_path() == f"{tmp_path}/meltap/meltap.sock"
    assert meltap.default_socket_path("box", "kws") == f"{tmp_path}/meltap/box.kws.sock"


@pytest.mark.parametrize("value", [None, "", "/nonexistent-runtime-dir"])
def test_without_a_usable_xdg_runtime_dir(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    else:
        monkeypatch.setenv("XDG_RUNTIME_DIR", value)
    uid = os.getuid()
    expected = f"/run/user/{uid}/meltap" if os.path.isdir(f"/run/user/{uid}") else f"/tmp/meltap-{uid}"
    assert meltap.default_socket_path() == expected + "/meltap.sock"
    assert meltap.default_socket_path("box") == expected + "/box.sock"


def test_subscriber_defaults_to_it_and_names_it_when_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(meltap.MeltapError, match=re.escape(f"no meltap socket at {tmp_path}/meltap/meltap.sock")):
        meltap.Subscriber(timeout=1)


def test_example_runs_with_the_venv_and_names_the_missing_path(tmp_path):
    # Run as the README says: the script itself, whose shebang picks the project's .venv, which
    # finds this tree's package; with no argument it waits on the package's default path.
    environment = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    run = subprocess.run([str(ROOT / "Examples" / "meltap_subscriber.py")], env=environment,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    assert f"no meltap socket at {tmp_path}/meltap/meltap.sock" in run.stderr
