"""`make soak`: a few minutes of mixed traffic at 32 connections, then the books are checked.

Zero 5xx, zero lost writes (every task answered 201 is read back), and worker
memory flat within 10% from the end of the warm-up to the end. Traffic goes to
127.0.0.1 only, for a bounded time. Writes bench/soak.md.
"""

import argparse
import http.client
import json
import os
import random
import secrets
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import ROOT, SERVER_ENV, Server, call, empty_database_of_our_own, sql  # noqa: E402

HERE = ROOT / "bench"


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def worker_pids(master_pid):
    return [int(p) for p in Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()]


def client_loop(port, token, deadline, stats, lock):
    """One keep-alive connection: creates, reads, lists, updates, deletes its own tasks."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    mine, local = [], {"requests": 0, "5xx": 0, "errors": 0, "created": [], "deleted": []}
    while time.monotonic() < deadline:
        roll = random.random()
        if roll < 0.3 or not mine:
            method, path, body = "POST", "/api/v1/tasks", {"title": "soak", "description": "x" * random.randint(0, 200)}
        elif roll < 0.6:
            method, path, body = "GET", f"/api/v1/tasks/{random.choice(mine)}", None
        elif roll < 0.75:
            method, path, body = "GET", "/api/v1/tasks?limit=50&sort=-updated_at", None
        elif roll < 0.9:
            method, path, body = "PATCH", f"/api/v1/tasks/{random.choice(mine)}", {"completed": random.random() < 0.5}
        else:
            method, path, body = "DELETE", f"/api/v1/tasks/{mine[-1]}", None
        try:
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            local["errors"] += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        local["requests"] += 1
        if response.status >= 500:
            local["5xx"] += 1
        elif method == "POST" and response.status == 201:
            task_id = json.loads(payload)["id"]
            mine.append(task_id)
            local["created"].append(task_id)
        elif method == "DELETE" and response.status == 204:
            local["deleted"].append(mine.pop())
    connection.close()
    with lock:
        for key in ("requests", "5xx", "errors"):
            stats[key] += local[key]
        stats["created"] += local["created"]
        stats["deleted"] += local["deleted"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    url = empty_database_of_our_own("taskapi_soak")
    env = {
        **os.environ,
        **SERVER_ENV,
        "APP_ENV": "production",
        "DATABASE_URL": url,
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "BCRYPT_LOG_ROUNDS": "4",
        "RATELIMIT_ENABLED": "false",
        "JWT_ACCESS_TOKEN_EXPIRES": str(args.seconds + 600),
    }
    env.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    server = Server("wsgi:app", env)
    try:
        api = server.base + "/api/v1"
        tokens = []
        for n in range(args.connections):
            user = {"username": f"soak{n}", "email": f"soak{n}@example.com", "password": "soak password"}
            call(api, "POST", "/auth/signup", user)
            tokens.append(
                call(api, "POST", "/auth/login", {"email": user["email"], "password": user["password"]})["access_token"]
            )
        stats, lock = {"requests": 0, "5xx": 0, "errors": 0, "created": [], "deleted": []}, threading.Lock()
        started = time.monotonic()
        deadline = started + args.seconds
        threads = [
            threading.Thread(target=client_loop, args=(server.port, token, deadline, stats, lock)) for token in tokens
        ]
        for thread in threads:
            thread.start()
        memory = []  # (seconds, {pid: rss KiB})
        while any(thread.is_alive() for thread in threads):
            time.sleep(5)
            memory.append((time.monotonic() - started, {pid: rss_kib(pid) for pid in worker_pids(server.process.pid)}))
        for thread in threads:
            thread.join()

        # The books: every task answered 201 and not deleted must be there.
        expected = set(stats["created"]) - set(stats["deleted"])
        stored = {row[0] for row in sql(url, "SELECT id FROM tasks")}
        lost = expected - stored
    finally:
        server.stop()

    warm = next((sample for sample in memory if sample[0] >= args.seconds * 0.2), memory[0])
    last = memory[-1]
    growth = {pid: last[1][pid] / warm[1][pid] - 1 for pid in last[1] if pid in warm[1] and warm[1][pid]}
    worst = max(growth.values()) if growth else 0.0
    lines = [
        "# Soak results",
        "",
        f"`make soak` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: {args.seconds} s of mixed traffic "
        f"(30% create, 30% read, 15% list, 15% update, 10% delete) from {args.connections} keep-alive "
        "connections against gunicorn.conf.py (2 gthread workers) on PostgreSQL.",
        "",
        "| figure | value | target |",
        "| --- | ---: | --- |",
        f"| requests | {stats['requests']:,} ({stats['requests'] / args.seconds:.0f}/s) | |",
        f"| 5xx answers | {stats['5xx']} | 0 |",
        f"| connection errors | {stats['errors']} | 0 |",
        f"| tasks created (201) / deleted (204) | {len(stats['created']):,} / {len(stats['deleted']):,} | |",
        f"| lost writes (201 but not stored) | {len(lost)} | 0 |",
        f"| worker memory growth after warm-up (worst worker) | {worst:+.1%} | within 10% |",
        "",
        "Worker memory (RSS, MiB) every 5 s: "
        + ", ".join(
            f"{t:.0f}s " + "/".join(f"{kib / 1024:.0f}" for kib in sample.values()) for t, sample in memory[::3]
        ),
        "",
    ]
    verdict = stats["5xx"] == 0 and not lost and stats["errors"] == 0 and abs(worst) <= 0.10
    lines.append(f"Result: {'PASS' if verdict else 'FAIL'}.")
    (HERE / "soak.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(0 if verdict else 1)


if __name__ == "__main__":
    main()
