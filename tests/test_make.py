"""The Makefile as a newcomer meets it: what `make run` and `make test` install."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

VENV = Path(sys.executable).parent.parent  # the virtualenv running the tests: make's .venv


def make(*args, cwd=ROOT):
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_make_run_and_dev_install_the_runtime_requirements_alone(tmp_path):
    """In a fresh clone (no virtualenv yet), as `make -n` tells without doing it."""
    fresh = f"VENV={tmp_path / 'venv'}"
    run = make("-n", "run", fresh).stdout
    assert "-r requirements.txt" in run and "requirements-dev" not in run
    assert "gunicorn --config gunicorn.conf.py wsgi:app" in run
    dev = make("-n", "dev", fresh).stdout
    assert "-r requirements.txt" in dev and "requirements-dev" not in dev and "flask --app wsgi run --debug" in dev
    test = make("-n", "test", fresh).stdout
    assert "-r requirements-dev.txt" in test


def test_a_dotenv_file_is_read_by_no_command(tmp_path):
    """The flask CLI would load .env (python-dotenv is in the development set), gunicorn never:
    migrations and the server could meet different databases. make tells the CLI not to."""
    for name in ("Makefile", "wsgi.py", "config.py", "app", "migrations"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, tmp_path / name)
    (tmp_path / ".env").write_text("APP_ENV=bogus\nDATABASE_URL=postgresql://nobody@127.0.0.1:1/elsewhere\n")
    settings = (
        "APP_ENV",
        "DATABASE_URL",
        "MIGRATIONS_DATABASE_URL",
        "FLASK_SKIP_DOTENV",
        "PROMETHEUS_MULTIPROC_DIR",
        "COVERAGE_PROCESS_CONFIG",
        "COVERAGE_PROCESS_START",
    )  # coverage: the copies are not the project's files
    env = {name: value for name, value in os.environ.items() if name not in settings}
    # The suite's virtualenv, taken as installed (-o: no pip run).
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", f"{VENV}/.installed-runtime", "migrate", f"VENV={VENV}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "instance" / "app.db").stat().st_size > 0  # development's default database, migrated
