"""The baselines, served by plain gunicorn: what our own code is measured against.

- ``/hello``: a bare Flask route returning a small JSON object, the
  framework's ceiling;
- ``/floor?id=N``: the same after one primary-key SELECT on a psycopg2
  connection kept per thread (no ORM, no auth), the one-query floor that an
  endpoint reading one row cannot beat.
"""

import os
import threading

import psycopg2
from flask import Flask, request

app = Flask(__name__)
_connections = threading.local()


def _connection():
    if not hasattr(_connections, "db"):
        url = os.environ["DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://", 1)
        _connections.db = psycopg2.connect(url)
        _connections.db.autocommit = True
    return _connections.db


@app.get("/hello")
def hello():
    return {"message": "hello"}


@app.get("/floor")
def floor():
    with _connection().cursor() as cursor:
        cursor.execute("SELECT id, username, email FROM users WHERE id = %s", (int(request.args["id"]),))
        user_id, username, email = cursor.fetchone()
    return {"id": user_id, "username": username, "email": email}
