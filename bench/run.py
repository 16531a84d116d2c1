"""`make bench`: the app and two baselines, served alike by plain gunicorn, measured with wrk in one run.

Each endpoint's requests per second is divided by each baseline's, measured
before and after it and averaged: the bare Flask route (the framework's
ceiling) and the one-query floor (the same after one primary-key SELECT),
both in bench/hello.py. Plain gunicorn (no config file: no access log, no
hooks) serves all three with the same workers and threads; the app is also
measured under its own gunicorn.conf.py, as production pays for it. Then each
endpoint's latency under a steady load of half what it sustains.

Last, the pages of one user's own tasks and of a shared list, each at 100 and
at 100,000 tasks. ``--only scale`` measures that part alone.

Writes bench/results.md and bench/results.png (``--only scale``: the scale
sections of bench/results.md alone). PostgreSQL is DATABASE_URL's server, or
the local one on 127.0.0.1:5432 (database taskapi_bench).
"""

import argparse
import json
import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from statistics import median

import psycopg2
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "bench"
LOCAL_DATABASE = "postgresql://postgres@127.0.0.1:5432/taskapi_bench"
# The same settings for both servers: two gthread workers, as the targets say.
SERVER_ENV = {"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4", "HOST": "127.0.0.1", "LOG_LEVEL": "WARNING"}
# Ratios to the bare route and to the one-query floor, and p99 at half load (ms).
TARGETS = {"GET /users/me": 0.35, "GET /tasks/{id}": 0.33, "GET /tasks?limit=50": 0.25, "POST /tasks": 0.20}
FLOOR_TARGETS = {"GET /users/me": 0.65, "GET /tasks/{id}": 0.60, "GET /tasks?limit=50": 0.50}
P99_AT_HALF_LOAD_MS = {"GET /users/me": 15.0, "GET /tasks/{id}": 15.0, "GET /tasks?limit=50": 15.0, "POST /tasks": 30.0}
OWN_TASKS = 50
# The scale run's table: other users' tasks beside the measured users' own.
USERS_AT_SCALE = 10_000
OTHER_TASKS = 1_000_000
# One user's own tasks, few and many, and the pages read at each (paths from the server's root).
SCALE_TASKS = (100, 100_000)
SCALE_PATHS = {
    "GET /tasks?limit=50": "/api/v1/tasks?limit=50",
    "GET /tasks?limit=50&sort=due_date": "/api/v1/tasks?limit=50&sort=due_date",
    "GET /tasks?limit=50&completed=false&sort=due_date": "/api/v1/tasks?limit=50&completed=false&sort=due_date",
    "GET /tasks/changes?limit=50": "/api/v1/tasks/changes?limit=50",
}
# A shared list of as many tasks, read by a member who has no tasks of their own: the list's pages
# ({list_id}: the list of that size), the page of all the member sees (their own space, empty, and
# the list), and the member's sync, which reads the list's space.
SHARED_SCALE_PATHS = {
    "GET /tasks?limit=50&list_id=N (member)": "/api/v1/tasks?limit=50&list_id={list_id}",
    "GET /tasks?limit=50&list_id=N&sort=due_date (member)": "/api/v1/tasks?limit=50&list_id={list_id}&sort=due_date",
    "GET /tasks?limit=50&list_id=N&completed=false&sort=due_date (member)": (
        "/api/v1/tasks?limit=50&list_id={list_id}&completed=false&sort=due_date"
    ),
    "GET /tasks?limit=50 (member: every space)": "/api/v1/tasks?limit=50",
    "GET /tasks/changes?limit=50 (member)": "/api/v1/tasks/changes?limit=50",
}
# The writes come from as many users as connections, each with a task to PUT:
# one user's writes queue on that user's row lock (app/tasks/sync.py), and they
# would also grow the reader's list beyond its 50 tasks.
WRITERS = 16
SCALE_ROUNDS = 3


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_database(url):
    url = make_url(url)
    server = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    conn = psycopg2.connect(server)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{url.database}"')
    conn.close()


def empty_database_of_our_own(name):
    """Database ``name`` on DATABASE_URL's server (or the local one), created and emptied.

    Never the database DATABASE_URL names itself: it is emptied, so it must
    never be the app's. Every run starts from an empty schema, whatever tables
    earlier versions left.
    """
    url = make_url(os.environ.get("DATABASE_URL") or LOCAL_DATABASE).set(database=name)
    url = url.render_as_string(hide_password=False)
    ensure_database(url)
    sql(url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    return url


def connect(url):
    """A plain psycopg2 connection to ``url`` (an app URL names the psycopg2 driver)."""
    return psycopg2.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))


def sql(url, statement, params=None):
    conn = connect(url)
    with conn, conn.cursor() as cur:
        cur.execute(statement, params)
        rows = cur.fetchall() if cur.description else None
    conn.close()
    return rows


class Server:
    """gunicorn serving ``target`` on a free port: plain (no config file), or with gunicorn.conf.py."""

    def __init__(self, target, env, plain=False):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        if plain:
            # Started elsewhere: gunicorn reads ./gunicorn.conf.py from the directory it starts in.
            options = [
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                env["WEB_CONCURRENCY"],
                "--threads",
                env["GUNICORN_THREADS"],
                "--no-control-socket",
                "--chdir",
                str(ROOT),
            ]
            where = tempfile.mkdtemp(prefix="bench-plain-")
        else:
            options, where = ["--config", "gunicorn.conf.py"], ROOT
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *options, target],
            # (METRICS_PORT: gunicorn.conf.py's metrics server, on a free port, not 9100.)
            cwd=where,
            env={**env, "PORT": str(self.port), "METRICS_PORT": str(free_port())},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{target} did not start") from None
                time.sleep(0.1)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=40)


def call(base, method, path, body=None, token=None):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url, seconds, connections, method="GET", body=None, token=None, tokens=(), paths=(), delay_ms=None):
    """Requests per second, p50 and p99 in ms, and the count of non-2xx answers.

    ``tokens`` (and ``paths``, one for each) are used in turn, request by request;
    ``delay_ms``: each connection waits that long before each request (a paced load).
    """
    env = {
        **os.environ,
        "BENCH_METHOD": method,
        "BENCH_BODY": json.dumps(body) if body else "",
        "BENCH_TOKEN": " ".join(tokens) or token or "",
        "BENCH_PATHS": " ".join(paths),
        "BENCH_DELAY_MS": "" if delay_ms is None else f"{delay_ms:.3f}",
    }
    output = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(HERE / "lua" / "json.lua"),
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(percent):
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE).groups()
        return float(value) * UNITS[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": latency(50),
        "p99": latency(99),
        "errors": int(errors.group(1)) if errors else 0,
    }


def medians(runs):
    return {key: median(run[key] for run in runs) for key in ("rps", "p50", "p99", "errors")}


def seed_other_users(url, total_tasks):
    """``total_tasks`` tasks of USERS_AT_SCALE other users (set-based): a table shared, as in production."""
    sql(
        url,
        """INSERT INTO users (username, username_key, email, hashed_password, token_version, created_at)
                SELECT 'scale' || g, 'scale' || g, 'scale' || g || '@example.com', 'x', 1, now()
                FROM generate_series(1, %s) g ON CONFLICT DO NOTHING""",
        (USERS_AT_SCALE,),
    )
    sql(
        url,
        """INSERT INTO tasks (title, description, due_date, completed, created_at, updated_at, owner_id)
                SELECT 'Task ' || g, NULL,
                       CASE WHEN g %% 10 = 0 THEN NULL ELSE now() + (g %% 997) * interval '1 hour' END,
                       g %% 3 = 0, now(), now(), u.id
                FROM generate_series(1, %s) g
                JOIN users u ON u.username_key = 'scale' || (1 + g %% %s)""",
        (total_tasks, USERS_AT_SCALE),
    )
    sql(
        url,
        """UPDATE users SET task_count = (SELECT count(*) FROM tasks WHERE owner_id = users.id)
                WHERE username_key LIKE 'scale%'""",
    )


def open_every(count):
    """One task in how many is open among ``count``: a user of years has nearly every task done, a new user half."""
    return 100 if count > 1000 else 2


def seed_tasks(url, count, **space):
    """``count`` tasks (set-based) of one space, ``space`` its columns (owner_id; list_id for a list's).

    Numbered 1 to ``count`` in the space's counter, as if created one by one
    (a change number, and the number the task entered its space with); a
    tenth without a due date, one in ``open_every(count)`` not completed.
    """
    columns, values = ", ".join(space), ", ".join(["%s"] * len(space))
    sql(
        url,
        f"""INSERT INTO tasks (title, description, due_date, completed, created_at, updated_at, change_seq,
                               entered_seq, {columns})
                SELECT 'Task ' || g, NULL,
                       CASE WHEN g %% 10 = 0 THEN NULL ELSE now() + (g %% 997) * interval '1 hour' END,
                       g %% %s <> 0, now(), now(), g, g, {values}
                FROM generate_series(1, %s) g""",
        (open_every(count), *space.values(), count),
    )


def seed_own_tasks(url, user_id, count):
    """``count`` private tasks of one user, and the user's change counter and task count to match."""
    sql(url, "DELETE FROM tasks WHERE owner_id = %s", (user_id,))
    seed_tasks(url, count, owner_id=user_id)
    sql(url, "UPDATE users SET change_seq = %s, task_count = %s WHERE id = %s", (count, count, user_id))
    settle(url)


def seed_list_tasks(url, list_id, owner_id, count):
    """``count`` tasks in a list, created by its owner, and the list's change counter and task count to match."""
    seed_tasks(url, count, owner_id=owner_id, list_id=list_id)
    sql(url, "UPDATE lists SET change_seq = %s, task_count = %s WHERE id = %s", (count, count, list_id))
    settle(url)


def settle(url):
    """Finish the upkeep a bulk load leaves, so that the runs after it measure the queries.

    Right after a million-row insert, autovacuum and the checkpointer work
    through it on the same two cores (and the first reads set hint bits),
    which the first scale runs measured as the table's size.
    """
    conn = connect(url)
    conn.autocommit = True  # VACUUM cannot run in a transaction
    with conn.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) users, tasks, lists, list_members")
        cur.execute("CHECKPOINT")
    conn.close()


def machine():
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // (1024 * 1024)
    versions = subprocess.run([sys.executable, "-m", "pip", "list", "--format=json"], capture_output=True, text=True)
    wanted = {"flask", "gunicorn", "sqlalchemy", "psycopg2-binary", "flask-jwt-extended", "marshmallow"}
    packages = {p["name"].lower(): p["version"] for p in json.loads(versions.stdout) if p["name"].lower() in wanted}
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split()[1]
    return {
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": f"{memory} GiB",
        "python": platform.python_version(),
        "wrk": wrk_version,
        **packages,
    }


def chart(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [row["name"] for row in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    positions = range(len(names))
    left.barh(
        [p - 0.2 for p in positions],
        [row["ratio"] for row in rows],
        height=0.4,
        color="#4C72B0",
        label="to the bare route",
    )
    left.barh(
        [p + 0.2 for p in positions],
        [row.get("floor_ratio", 0) for row in rows],
        height=0.4,
        color="#8172B3",
        label="to the one-query floor",
    )
    for targets, offset in ((TARGETS, -0.2), (FLOOR_TARGETS, 0.2)):
        for name, target in targets.items():
            if name in names:
                at = names.index(name) + offset
                left.plot([target, target], [at - 0.2, at + 0.2], color="red")
    left.set_yticks(list(positions), names)
    left.set_xlabel("throughput ratio (red: target)")
    left.invert_yaxis()
    left.legend()
    paced = [row for row in rows if "half" in row]
    right.barh([row["name"] for row in paced], [row["half"]["p99"] for row in paced], color="#DD8452", label="p99")
    right.barh([row["name"] for row in paced], [row["half"]["p50"] for row in paced], color="#55A868", label="p50")
    right.set_xlabel("latency at half of capacity, ms")
    right.set_xscale("log")
    right.invert_yaxis()
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4, help="wrk duration per endpoint")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--threads",
        type=int,
        default=int(SERVER_ENV["GUNICORN_THREADS"]),
        help="gunicorn threads per worker, for every server (each worker's pool "
        "holds DB_POOL_SIZE + DB_MAX_OVERFLOW = 10 connections: more threads wait for one)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="measurements of each endpoint, between baselines")
    parser.add_argument(
        "--scale",
        choices=["none", "full"],
        default="full",
        help="full: one user's list and sync, and a shared list's, at 100 and at 100,000 tasks; none: skip it",
    )
    parser.add_argument(
        "--only",
        choices=["scale"],
        help="scale: that part alone, without the throughput and latency runs (a few minutes, not the full "
        "run's quarter of an hour); it replaces only the scale sections of bench/results.md",
    )
    args = parser.parse_args()
    if args.only == "scale" and args.scale == "none":
        parser.error("--only scale measures the scale part that --scale none skips")

    url = empty_database_of_our_own("taskapi_bench")
    env = {
        **os.environ,
        **SERVER_ENV,
        "GUNICORN_THREADS": str(args.threads),
        "APP_ENV": "production",
        "DATABASE_URL": url,
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "BCRYPT_LOG_ROUNDS": "12",
        # The limiter stays on, as in production, with limits the benchmark's own logins stay under.
        **{
            name: "1000000/minute"
            for name in ("RATELIMIT_SIGNUP", "RATELIMIT_LOGIN", "RATELIMIT_LOGIN_PER_EMAIL", "RATELIMIT_TASK_WRITES")
        },
        "JWT_ACCESS_TOKEN_EXPIRES": "7200",
    }
    env.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )

    if args.only == "scale":  # (the baselines and the configured app serve only the throughput runs)
        servers = {"app": Server("wsgi:app", env, plain=True)}
    else:
        servers = {
            "baselines": Server("bench.hello:app", env, plain=True),
            "app": Server("wsgi:app", env, plain=True),
            "configured app": Server("wsgi:app", env),
        }
    try:
        if args.only == "scale":
            scale = measure_scale(url, servers["app"].base + "/api/v1", args)
        else:
            table, scale, baselines = measure_everything(servers, url, args)
    finally:
        for server in servers.values():
            server.stop()
    if args.only == "scale":
        report_scale_alone(scale, args)
    else:
        report(table, scale, baselines, args)


def measure_everything(servers, url, args):
    api, configured = servers["app"].base + "/api/v1", servers["configured app"].base + "/api/v1"
    call(api, "POST", "/auth/signup", {"username": "bench", "email": "bench@example.com", "password": "bench password"})
    login_body = {"email": "bench@example.com", "password": "bench password"}
    token = call(api, "POST", "/auth/login", login_body)["access_token"]
    task_ids = [
        call(api, "POST", "/tasks", {"title": f"Task {n}", "description": "Benchmark task"}, token)["id"]
        for n in range(OWN_TASKS)
    ]
    bench_user = call(api, "GET", "/users/me", token=token)["id"]
    writers, writer_tasks = [], []
    for n in range(WRITERS):
        account = {"email": f"writer{n}@example.com", "password": "bench password"}
        call(api, "POST", "/auth/signup", {"username": f"writer{n}", **account})
        writers.append(call(api, "POST", "/auth/login", account)["access_token"])
        writer_tasks.append(call(api, "POST", "/tasks", {"title": "Written to"}, writers[-1])["id"])
    seconds, connections = args.seconds, args.connections

    def reads(path, base=api):
        return lambda **pace: wrk(base + path, seconds, connections, token=token, **pace)

    def writes(method, paths, body):
        return lambda **pace: wrk(
            api + paths[0],
            seconds,
            connections,
            method=method,
            body=body,
            tokens=writers,
            paths=["/api/v1" + path for path in paths],
            **pace,
        )

    bare = lambda: wrk(servers["baselines"].base + "/hello", seconds, connections)  # noqa: E731
    floor = lambda: wrk(servers["baselines"].base + f"/floor?id={bench_user}", seconds, connections)  # noqa: E731
    endpoints = {
        "GET /users/me": reads("/users/me"),
        "GET /tasks/{id}": reads(f"/tasks/{task_ids[0]}"),
        "GET /tasks?limit=50": reads("/tasks?limit=50"),
        "POST /tasks": writes("POST", ["/tasks"] * WRITERS, {"title": "Benchmark", "description": "wrk"}),
        "PUT /tasks/{id}": writes("PUT", [f"/tasks/{id}" for id in writer_tasks], {"completed": True}),
        "GET /users/me (gunicorn.conf.py)": reads("/users/me", base=configured),
    }
    for run in (*endpoints.values(), bare, floor):  # warm every worker up (imports, pools) before measuring
        run()
    # A shared machine drifts: each endpoint is measured between two runs of
    # each baseline, several rounds over, and compared with the runs around it.
    runs = {name: [] for name in endpoints}
    baselines = [(bare(), floor())]
    for _ in range(args.rounds):
        for name, run in endpoints.items():
            runs[name].append((run(), len(baselines) - 1))
            baselines.append((bare(), floor()))

    table = [
        baseline_row("bare Flask route (plain gunicorn)", [b for b, _ in baselines], baselines),
        baseline_row("one-query floor (plain gunicorn)", [f for _, f in baselines], baselines),
    ]
    for name, results in runs.items():
        table.append(endpoint_row(name, results, baselines))
    # Latency below capacity: each connection paced to offer half the load the endpoint sustained.
    for row in table[2:]:
        if not row["name"].endswith("(gunicorn.conf.py)"):
            half = row["rps"] / 2
            row["half"] = endpoints[row["name"]](delay_ms=1000 * connections / half)
            row["half"]["offered"] = half
    # Login is slow on purpose (bcrypt at 12 rounds): fewer connections, no target.
    login = wrk(api + "/auth/login", seconds, 4, method="POST", body=login_body)
    table.append(
        {
            "name": "POST /auth/login (bcrypt 12, 4 connections)",
            **login,
            "ratio": login["rps"] / table[0]["rps"],
            "floor_ratio": login["rps"] / table[1]["rps"],
        }
    )
    return table, measure_scale(url, api, args), baselines


def baseline_row(name, runs, baselines):
    row = {"name": name, **medians(runs)}
    row["ratio"] = row["rps"] / median(b["rps"] for b, _ in baselines)
    row["floor_ratio"] = row["rps"] / median(f["rps"] for _, f in baselines)
    return row


def endpoint_row(name, results, baselines):
    """An endpoint's medians and its ratios to each baseline, each round against the runs around it."""

    def around(i, which):
        return (baselines[i][which]["rps"] + baselines[i + 1][which]["rps"]) / 2

    ratios = [r["rps"] / around(i, 0) for r, i in results]
    return {
        "name": name,
        **medians([r for r, _ in results]),
        "ratio": median(ratios),
        "spread": f"{min(ratios):.2f}-{max(ratios):.2f}",
        "floor_ratio": median(r["rps"] / around(i, 1) for r, i in results),
        "errors": sum(r["errors"] for r, _ in results),
    }


def measure_scale(url, api, args):
    """A user's own tasks, then a shared list's, 100 against 100,000: (own rows, shared rows).

    Each row: the first page at each size, and the tenth at 100,000, reached
    by following next.
    """
    if args.scale == "none":
        return [], []
    # Other users' tasks first, so that the measured users' come after them,
    # as a user's tasks do in a table many people have used for years.
    seed_other_users(url, OTHER_TASKS)
    owners = {count: user_with_tasks(url, api, count) for count in SCALE_TASKS}
    own = measure_pages(api, SCALE_PATHS, {count: (token, {}) for count, token in owners.items()}, args)
    # Shared only now: an owner's GET /tasks would read the list too, and the rows
    # above would no longer be one user's own tasks, as in the runs before lists.
    members = {count: shared_list(url, api, count, token) for count, token in owners.items()}
    return own, measure_pages(api, SHARED_SCALE_PATHS, members, args)


def sign_up(api, name):
    """A new user's access token."""
    account = {"email": f"{name}@example.com", "password": "bench password"}
    call(api, "POST", "/auth/signup", {"username": name, **account})
    return call(api, "POST", "/auth/login", account)["access_token"]


def user_with_tasks(url, api, count):
    """The token of a new user with ``count`` private tasks."""
    token = sign_up(api, f"owner{count}")
    seed_own_tasks(url, call(api, "GET", "/users/me", token=token)["id"], count)
    return token


def shared_list(url, api, count, owner):
    """A list of ``count`` tasks that the user of token ``owner`` makes and shares with a new member, an
    editor with no tasks of their own: (the member's token, the list's id as its paths name it).

    The list and the membership go through the API, as a client makes them;
    the tasks, like a user's own, through set-based SQL.
    """
    member = f"member{count}"
    token = sign_up(api, member)
    made = call(api, "POST", "/lists", {"name": f"Shared by owner{count}"}, owner)
    call(api, "POST", f"/lists/{made['id']}/members", {"username": member, "role": "editor"}, owner)
    seed_list_tasks(url, made["id"], made["owner_id"], count)
    return token, {"list_id": made["id"]}


def measure_pages(api, paths, readers, args):
    """p50 and the rest of each page of ``paths``, read by ``readers`` ({count: (token, the values of the
    path's {names})}): the first page at each count, and the tenth at the largest."""
    root = api.removesuffix("/api/v1")
    rows = []
    for name, template in paths.items():
        pages = {}  # (count, page number): (token, path)
        for count, (token, values) in readers.items():
            first = template.format_map(values)
            pages[(count, 1)] = token, first
            if count == max(SCALE_TASKS):
                pages[(count, 10)] = token, tenth_page(root, first, token)
        # One connection: the latency of a request itself, not time spent queued.
        # Rounds, alternating, and the median of each.
        runs = {page: [] for page in pages}
        for _ in range(SCALE_ROUNDS):
            for page, (token, path) in pages.items():
                runs[page].append(wrk(root + path, args.seconds, 1, token=token))
        rows.append({"name": name, **{page: medians(found) for page, found in runs.items()}})
    return rows


def tenth_page(root, path, token):
    """The path of the tenth page from ``path``, following Link's next (or the sync's next_cursor)."""
    for _ in range(9):
        request = urllib.request.Request(root + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            if "/changes" in path:
                path = path.split("&since=")[0] + "&since=" + json.loads(response.read())["next_cursor"]
            else:
                path = re.search(r'<([^>]*)>; rel="next"', response.headers["Link"]).group(1)
    return path


def verdict(value, target, at_least=True):
    if target is None:
        return ""
    return f"{target:g} {'met' if (value >= target if at_least else value < target) else 'MISSED'}"


def report(table, scale, baselines, args):
    bare_first, bare_last = baselines[0][0]["rps"], baselines[-1][0]["rps"]
    lines = [
        "# Benchmark results",
        "",
        f"`make bench` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: wrk, {args.connections} connections, "
        f"{args.seconds} s a run, {args.rounds} rounds, PostgreSQL on the same machine. The baselines and the app "
        f"are served by plain gunicorn (no config file, no access log), 2 gthread workers of {args.threads} threads; "
        "the last endpoint line is the app under its own gunicorn.conf.py (access log included). Each endpoint run "
        "sits between two runs of each baseline; a ratio is its requests per second / the mean of those two, the "
        "median over the rounds (the rounds' spread against the bare route beside it). "
        f"Bare route runs: first {bare_first:.0f}, last {bare_last:.0f} req/s. Latencies are medians too.",
        "",
        "| Endpoint | req/s | to bare route | rounds | target | to one-query floor | target | p50 ms | p99 ms | "
        "non-2xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in table:
        lines.append(
            f"| {row['name']} | {row['rps']:.0f} | {row['ratio']:.2f} | {row.get('spread', '')} | "
            f"{verdict(row['ratio'], TARGETS.get(row['name']))} | {row['floor_ratio']:.2f} | "
            f"{verdict(row['floor_ratio'], FLOOR_TARGETS.get(row['name']))} | "
            f"{row['p50']:.2f} | {row['p99']:.2f} | {row['errors']} |"
        )
    lines += [
        "",
        "## Latency below capacity",
        "",
        f"Each of the {args.connections} connections paced (wrk's `delay()`) so that the offered load is "
        "half of what the endpoint sustained above; p50 and p99 of that run.",
        "",
        "| Endpoint | offered req/s | served req/s | p50 ms | p99 ms | p99 target |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in table:
        if "half" in row:
            half = row["half"]
            lines.append(
                f"| {row['name']} | {half['offered']:.0f} | {half['rps']:.0f} | {half['p50']:.2f} | "
                f"{half['p99']:.2f} | "
                f"{verdict(half['p99'], P99_AT_HALF_LOAD_MS.get(row['name']), at_least=False)} |"
            )
    lines += scale_sections(*scale)
    lines += machine_section()
    lines += ["", "![ratios and latencies](results.png)", ""]
    (HERE / "results.md").write_text("\n".join(lines))
    chart(table, HERE / "results.png")
    print("\n".join(lines))


# Where bench/results.md's scale sections begin and where they end (the next section's heading).
SCALE_HEADING, MACHINE_HEADING = "## One user's tasks growing", "## Machine"


def machine_section():
    return ["", MACHINE_HEADING, ""] + [f"- {key}: {value}" for key, value in machine().items()]


def scale_sections(own, shared, heading=None):
    """The scale sections of bench/results.md (none for --scale none): a user's own tasks, then a shared list.

    ``heading``: lines said before them (which run they come from, when it is not the file's).
    """
    if not own:
        return []
    few, many = SCALE_TASKS
    return [
        "",
        SCALE_HEADING,
        "",
        *(heading or []),
        f"One user with {few:,} tasks (half of them open) against one with {many:,} (1 in 100 open: "
        f"a user of years), a tenth without a due date, in a table that also holds {OTHER_TASKS:,} tasks "
        f"of {USERS_AT_SCALE:,} other users; set-based SQL, then VACUUM and a CHECKPOINT. "
        f"One connection, {SCALE_ROUNDS} rounds of each, alternating (medians). The tenth page is reached by "
        "following Link's next (the sync: next_cursor).",
        "",
        *scale_table(own),
        "",
        "## A shared list growing",
        "",
        f"Then each of the two users makes a list (through the API) and adds a new user as its editor; the "
        f"list gets as many tasks as its owner has ({few:,}, half open; {many:,}, 1 in 100 open), set-based "
        "again, its change counter and task count set to match. Measured with the member's token: a member "
        "with no tasks of their own, who sees the list alone. The rows above were measured before the lists "
        "existed (an owner's `GET /tasks` would read their list too).",
        "",
        *scale_table(shared),
    ]


def scale_table(rows):
    """The rows' first page at few tasks against the first and the tenth at many, with the 1.5x target."""
    few, many = SCALE_TASKS
    lines = [
        f"| Request | {few:,}: first page p50 ms | {many:,}: first page | {many:,}: tenth page | "
        "first / first | tenth / first | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        base = row[(few, 1)]["p50"]
        growth = (row[(many, 1)]["p50"] / base, row[(many, 10)]["p50"] / base)
        lines.append(
            f"| {row['name']} | {base:.2f} | {row[(many, 1)]['p50']:.2f} | {row[(many, 10)]['p50']:.2f} | "
            f"{growth[0]:.2f}x | {growth[1]:.2f}x | 1.5x {'met' if max(growth) <= 1.5 else 'MISSED'} |"
        )
    return lines


def report_scale_alone(scale, args):
    """--only scale: bench/results.md's scale sections replaced, the rest (and results.png) as the last
    full run left them, so that a scale run never loses the throughput figures."""
    path = HERE / "results.md"
    text = path.read_text() if path.exists() else "\n".join(["# Benchmark results", *machine_section(), ""])
    before, at, rest = text.partition(SCALE_HEADING)
    if not at:  # (a full run with --scale none wrote no scale sections)
        rest = text
        before = text.partition(MACHINE_HEADING)[0]
    after = MACHINE_HEADING + rest.partition(MACHINE_HEADING)[2]
    heading = [
        f"`bench/run.py --only scale` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {args.seconds} s a "
        "run; the sections before this one come from the full run the top of this file dates.",
        "",
    ]
    lines = scale_sections(*scale, heading=heading)
    path.write_text(before.rstrip("\n") + "\n" + "\n".join(lines) + "\n\n" + after)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
