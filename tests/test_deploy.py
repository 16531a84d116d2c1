"""The deployment files, checked without a Docker engine.

The image's start command runs here as it would in the container: the same
entrypoint script, the same gunicorn.conf.py, the files the Dockerfile copies,
in a fresh virtualenv with only requirements.txt installed.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from sqlalchemy import update

from app.extensions import db
from app.models import IdempotencyRecord, RevokedSession, TaskTombstone, utcnow
from tests.conftest import PRODUCTION_KEY, ROOT, SHELL_SETTINGS, free_port

BIN = Path(sys.executable).parent


def run_tool(*args):
    result = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_dockerfile_passes_hadolint():
    run_tool("hadolint", "--failure-threshold", "warning", "Dockerfile")


def test_compose_file_follows_the_compose_specification():
    run_tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml")


def test_ci_workflow_follows_the_github_schema():
    run_tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", ".github/workflows/ci.yml")


def test_kubernetes_manifests_are_valid():
    manifests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "deploy" / "k8s").glob("*.yaml"))
    manifests.remove("deploy/k8s/kustomization.yaml")  # kustomize's own file, not a resource
    output = run_tool("kubernetes-validate", "--strict", *manifests)
    assert output.count("passed") == len(manifests) >= 8


def k8s(name):
    return yaml.safe_load((ROOT / "deploy" / "k8s" / name).read_text())


def maintenance_pod():
    return k8s("maintenance-cronjob.yaml")["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def test_the_maintenance_cronjob_is_secured_like_the_migration_job_and_applied():
    job, cron = k8s("migration-job.yaml")["spec"]["template"]["spec"], maintenance_pod()
    for key in ("securityContext", "automountServiceAccountToken", "restartPolicy"):
        assert cron[key] == job[key]
    (migrate,), (maintain,) = job["containers"], cron["containers"]
    for key in ("image", "envFrom", "resources", "securityContext"):
        assert maintain[key] == migrate[key]
    assert "maintenance-cronjob.yaml" in k8s("kustomization.yaml")["resources"]
    # compose runs the same command, daily.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert " ".join(maintain["command"]) in " ".join(compose["services"]["maintenance"]["entrypoint"])


def test_the_maintenance_cronjob_runs_every_purge(app, app_env, client, alice):
    """The CronJob's own command, on the suite's database: each purge forgets what has expired."""
    task = client.post("/api/v1/tasks", json={"title": "x"}, headers={**alice, "Idempotency-Key": "k1"}).get_json()
    assert client.delete(f"/api/v1/tasks/{task['id']}", headers=alice).status_code == 204
    assert client.post("/api/v1/auth/logout", headers=alice).status_code == 204
    with app.app_context():  # all three long expired
        for expiring in (RevokedSession.expires_at, IdempotencyRecord.expires_at, TaskTombstone.deleted_at):
            db.session.execute(update(expiring.class_).values({expiring: utcnow().replace(year=2000)}))
        db.session.commit()

    (container,) = maintenance_pod()["containers"]
    command = [str(BIN / container["command"][0]), *container["command"][1:]]
    env = {name: value for name, value in os.environ.items() if name not in SHELL_SETTINGS}
    env.update(app_env, APP_ENV="production", JWT_SECRET_KEY=PRODUCTION_KEY)
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [line["message"] for line in logged if line["message"].startswith("purged")] == [
        "purged 1 expired revocations and 0 expired token families",
        "purged 1 expired idempotency keys",
        "purged 1 tombstones",
    ]


def image_files():
    """(source, destination) of the final stage's COPY lines, as the image gets them."""
    final_stage = ROOT.joinpath("Dockerfile").read_text().split("\nFROM ")[-1]
    copies = []
    for line in final_stage.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            *sources, destination = line.split()[1:]
            copies += [(source, destination) for source in sources]
    return copies


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory):
    """A virtualenv with requirements.txt alone, as the image's build stage makes it."""
    venv = tmp_path_factory.mktemp("image") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "-r",
            str(ROOT / "requirements.txt"),
        ],
        check=True,
        timeout=600,
    )
    return venv


def test_the_image_installs_the_runtime_set_complete_and_nothing_else(fresh_venv):
    pip = [str(fresh_venv / "bin" / "pip"), "--disable-pip-version-check"]
    # Installed with --no-deps, as the image does: every dependency must be pinned too.
    subprocess.run([*pip, "check"], check=True, capture_output=True, timeout=120)
    installed = {
        line.split("==")[0].lower()
        for line in subprocess.run(
            [*pip, "freeze", "--all"], check=True, capture_output=True, text=True, timeout=120
        ).stdout.split()
    }
    assert {"flask", "gunicorn", "psycopg2-binary"} <= installed
    assert not installed & {"playwright", "numpy", "matplotlib", "pytest", "python-dotenv", "uv"}


def test_the_image_start_command_serves(fresh_venv, empty_database, tmp_path):
    srv = tmp_path / "srv"
    srv.mkdir()
    entrypoint = None
    for source, destination in image_files():
        target = (
            srv / Path(source).name
            if destination.endswith("/") or destination == "./"
            else (Path(destination) if destination.startswith("/") else srv / destination)
        )
        if destination.startswith("/"):  # the entrypoint, outside the work directory
            entrypoint = srv / Path(destination).name
            target = entrypoint
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / source, target)
    assert entrypoint is not None and (srv / "gunicorn.conf.py").exists()

    port, metrics_port = free_port(), free_port()
    env = {
        "PATH": f"{fresh_venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "APP_ENV": "production",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "METRICS_PORT": str(metrics_port),
        "WEB_CONCURRENCY": "2",
        "RUN_MIGRATIONS": "1",
        "DATABASE_URL": empty_database,
        "JWT_SECRET_KEY": PRODUCTION_KEY,
        "BCRYPT_LOG_ROUNDS": "4",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    log = (tmp_path / "out.log").open("w")
    process = subprocess.Popen([str(entrypoint)], cwd=srv, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # migrations first, then gunicorn
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None, (tmp_path / "out.log").read_text()
                assert time.monotonic() < deadline, "the entrypoint did not serve within 60 s"
                time.sleep(0.2)
        # exec: the process started is gunicorn itself, so signals reach it.
        assert "gunicorn" in Path(f"/proc/{process.pid}/cmdline").read_text()

        for n in range(12):  # new connections, spread over both workers
            request = urllib.request.Request(f"{base}/healthz", headers={"X-Request-ID": f"probe-{n}"})
            urllib.request.urlopen(request, timeout=5).close()
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        counted = re.search(
            r'taskapi_http_request_duration_seconds_count\{[^}]*url_rule="/healthz"[^}]*\} (\S+)', metrics
        )
        assert counted and float(counted.group(1)) == 12.0  # every worker's requests, added up
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(timeout=40)  # graceful_timeout is 30 s
        log.close()
    assert exit_code == 0
    lines = [json.loads(line) for line in (tmp_path / "out.log").read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("logger") == "access" and line["path"] == "/healthz"]
    assert {line["request_id"] for line in access} == {f"probe-{n}" for n in range(12)}
    assert all(line["status"] == 200 and line["method"] == "GET" for line in access)


def settings_read():
    """Every environment variable the app, the server and the entrypoint read."""
    patterns = {
        "config.py": r'(?:env\.get\(|env\[|\(env, )"([A-Z][A-Z0-9_]+)"',
        "gunicorn.conf.py": r"""(?:environ\.get\(|environ\[|_int\()["']([A-Z][A-Z0-9_]+)["']""",
        "deploy/entrypoint.sh": r"\$\{([A-Z][A-Z0-9_]+)",
    }
    return {name for path, pattern in patterns.items() for name in re.findall(pattern, (ROOT / path).read_text())}


def test_every_setting_is_documented():
    settings = settings_read()
    assert {"DATABASE_URL", "JWT_SECRET_KEY", "HOST", "PORT", "WEB_CONCURRENCY", "RUN_MIGRATIONS"} <= settings
    configuration = (ROOT / "docs" / "configuration.md").read_text()
    example = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert sorted(name for name in settings if f"`{name}`" not in configuration) == []
    assert sorted(settings - example) == []
