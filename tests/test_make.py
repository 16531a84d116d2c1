"""The Makefile as a newcomer meets it: what `make run` and `make test` install."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

VENV = Path(sys.executable).parent.parent  # the virtualenv running the tests: make's .venv


def make(*args, cwd=ROOT):
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_make_run_installs_the_runtime_requirements_alone(tmp_path):
    """In a fresh clone (no virtualenv yet), as `make -n` tells without doing it."""
    fresh = f"VENV={tmp_path / 'venv'}"
    run = make("-n", "run", fresh).stdout
    assert "-r requirements.txt" in run and "requirements-dev" not in run
    assert "gunicorn --config gunicorn.conf.py wsgi:app" in run
    test = make("-n", "test", fresh).stdout
    assert "-r requirements-dev.txt" in test
