"""How the app uses its database connections: few round trips, and none wasted.

- A read (GET or HEAD) runs in autocommit: each SELECT is one round trip,
  without a BEGIN before it and a ROLLBACK after. Under READ COMMITTED, our
  isolation level, every statement takes its own snapshot anyway, so a read
  sees exactly what it would inside a transaction. Writes keep their
  transactions.
- The hot reads (the signed-in user, a task, a page of tasks) run without
  the ORM session (``read_rows``).
- A pooled PostgreSQL connection is checked without a round trip when it is
  taken from the pool: an idle connection has nothing to read, so a readable
  one holds the server's goodbye (a restart, Neon suspending its compute, an
  administrator's pg_terminate_backend). The pool then opens a new one.
  ``pool_pre_ping`` would send a ``SELECT 1`` before every request instead.
- SQLite is made to behave like PostgreSQL where the API depends on it.
"""

import select
import sqlite3

from flask import has_request_context, request
from psycopg2.extensions import connection as PostgreSQLConnection
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from .extensions import db

READ_METHODS = ("GET", "HEAD")


def _in_a_read():
    return has_request_context() and request.method in READ_METHODS


def _autocommit(connection):
    # Before the connection's first statement, so psycopg2 has sent no BEGIN
    # yet. The driver's own flag costs no round trip, where SQLAlchemy's
    # isolation_level option would send a SET to reset it afterwards.
    dbapi_connection = connection.connection.dbapi_connection
    if isinstance(dbapi_connection, PostgreSQLConnection):
        dbapi_connection.autocommit = True


@event.listens_for(Session, "after_begin")
def _read_in_autocommit(_session, _transaction, connection):
    if _in_a_read():
        _autocommit(connection)


def read_rows(statement, params):
    """The rows of a read-only Core statement (built on tables, not models).

    In a read request, on a pooled connection of its own (back in the pool
    at once), in autocommit, without the ORM session: the session's
    bookkeeping (its transaction, its connection, closing it) was a third of
    what running such a statement cost in Python (290 against 205 µs of CPU
    for the signed-in user's row, in a micro-benchmark). In a write, in the
    request's session, inside its transaction.
    """
    if not _in_a_read():
        return db.session.execute(statement, params).all()
    with db.engine.connect() as connection:
        _autocommit(connection)
        return connection.execute(statement, params).all()


@event.listens_for(Pool, "checkin")
def _back_to_transactions(dbapi_connection, _record):
    # (Only a read's connection: it is never inside a transaction, where
    # psycopg2 would refuse the change.)
    if isinstance(dbapi_connection, PostgreSQLConnection) and dbapi_connection.autocommit:
        dbapi_connection.autocommit = False


@event.listens_for(Pool, "checkout")
def _drop_if_closed_by_server(dbapi_connection, _record, _proxy):
    if isinstance(dbapi_connection, PostgreSQLConnection):
        if dbapi_connection.closed or _has_data_waiting(dbapi_connection):
            raise DisconnectionError("the server closed this connection")  # the pool reconnects


def _has_data_waiting(dbapi_connection):
    # poll(), not select(): select() refuses descriptors above 1023, which a
    # worker holding many client connections reaches.
    waiting = select.poll()
    waiting.register(dbapi_connection, select.POLLIN)
    return bool(waiting.poll(0))


def _end_a_reads_session(_error):
    # A read's session ends with the request, whatever holds the app context
    # around it (a script, a test), so a later write in that same context
    # cannot continue the read's autocommit transaction. (remove(), as
    # Flask-SQLAlchemy does at the end of the app context: a request that
    # never used the database, /healthz say, gets no session made for it.)
    if _in_a_read():
        db.session.remove()


def init_connections(app):
    app.teardown_request(_end_a_reads_session)


def _unicode_lower(text):
    return None if text is None else text.lower()


@event.listens_for(Engine, "connect")
def _make_sqlite_behave_like_postgresql(dbapi_connection, _record):
    if isinstance(dbapi_connection, sqlite3.Connection):
        # SQLite ignores foreign keys unless asked, on every connection.
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        # SQLite's lower() folds ASCII letters only; the task search (lower()
        # on both sides) must find "Äpfel" for "äpfel" as PostgreSQL does.
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
