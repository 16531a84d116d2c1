"""The app's database connections: which one a statement runs on, and the engine's listeners.

- ``run`` picks the connection. A read request (GET, HEAD) runs each
  statement on a pooled connection of its own, in autocommit, given back at
  once: one round trip, with no BEGIN before it and no ROLLBACK after, and no
  ORM session to keep. Under READ COMMITTED, our isolation level, every
  statement takes its own snapshot anyway, so a read sees exactly what it
  would inside a transaction. Anything else runs in the request's session,
  inside the transaction that the write commits (app/blueprint.py).
- A pooled PostgreSQL connection is checked without a round trip when it is
  taken from the pool: an idle connection has nothing to read, so a readable
  one holds the server's goodbye (a restart, Neon suspending its compute, an
  administrator's pg_terminate_backend). The pool then opens a new one.
  ``pool_pre_ping`` would send a ``SELECT 1`` before every request instead.
- SQLite is made to behave like PostgreSQL where the API depends on it.

``init_connections`` binds the listeners to the app's own engine.
"""

import select

from flask import has_request_context, request
from psycopg2.extensions import connection as PostgreSQLConnection
from sqlalchemy import event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.sql import Update

from .extensions import db

READ_METHODS = ("GET", "HEAD")


def run(statement, params):
    """The rows a Core statement returns (empty for one that returns none), on the request's connection."""
    if isinstance(statement, Update) and not params.keys().isdisjoint(statement.table.c.keys()):
        # SQLAlchemy would SET every column that a parameter is named after:
        # an UPDATE changes only what its values() name.
        raise ValueError(f"parameters named like columns of {statement.table.name}: {sorted(params)}")
    if has_request_context() and request.method in READ_METHODS:
        if statement.is_dml:  # it would commit at once, alone: a read request never writes
            raise RuntimeError(f"a write in a {request.method} request: {statement}")
        with db.engine.connect() as connection:
            _autocommit(connection)
            return _rows(connection.execute(statement, params))
    return _rows(db.session.execute(statement, params))


def dialect():
    """The database's kind ("postgresql", "sqlite"): where a statement is built differently for each."""
    return db.engine.dialect.name


def ping():
    """One round trip to the database, on the request's connection (raises when it cannot be reached)."""
    run(text("SELECT 1"), {})


def _rows(result):
    return result.all() if result.returns_rows else []


def _autocommit(connection):
    # Before the connection's first statement, so psycopg2 has sent no BEGIN
    # yet. The driver's own flag costs no round trip, where SQLAlchemy's
    # isolation_level option would send a SET to reset it afterwards.
    dbapi_connection = connection.connection.dbapi_connection
    if isinstance(dbapi_connection, PostgreSQLConnection):
        dbapi_connection.autocommit = True


def _back_to_transactions(dbapi_connection, _record):
    # (Only a read's connection: it is never inside a transaction, where
    # psycopg2 would refuse the change.)
    if isinstance(dbapi_connection, PostgreSQLConnection) and dbapi_connection.autocommit:
        dbapi_connection.autocommit = False


def _drop_if_closed_by_server(dbapi_connection, _record, _proxy):
    if isinstance(dbapi_connection, PostgreSQLConnection) and (
        dbapi_connection.closed or _has_data_waiting(dbapi_connection)
    ):
        raise DisconnectionError("the server closed this connection")  # the pool reconnects


def _has_data_waiting(dbapi_connection):
    # poll(), not select(): select() refuses descriptors above 1023, which a
    # worker holding many client connections reaches.
    waiting = select.poll()
    waiting.register(dbapi_connection, select.POLLIN)
    return bool(waiting.poll(0))


def _unicode_lower(text):
    return None if text is None else text.lower()


def _make_sqlite_behave_like_postgresql(dbapi_connection, _record):
    # SQLite ignores foreign keys unless asked, on every connection.
    dbapi_connection.execute("PRAGMA foreign_keys = ON")
    # SQLite's lower() folds ASCII letters only; the task search (lower()
    # on both sides) must find "Äpfel" for "äpfel" as PostgreSQL does.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def init_connections(app):
    """Bind the listeners to the app's engine, before its first connection."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _make_sqlite_behave_like_postgresql)
    else:
        event.listen(engine, "checkout", _drop_if_closed_by_server)
        event.listen(engine, "checkin", _back_to_transactions)
