"""Opaque cursors: signed (itsdangerous) with the app's key, one salt per kind.

A client hands back what the service gave it; the signature makes sure it is
exactly that, so a forged or altered cursor never reaches a statement. The
payload is still type-checked by whoever reads it (a cursor signed by an
older release may carry another shape).
"""

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer


def _serializer(kind):
    return URLSafeSerializer(current_app.config["JWT_SECRET_KEY"], salt=f"task-{kind}-cursor")


def sign(kind, payload):
    return _serializer(kind).dumps(payload)


def unsign(kind, cursor):
    """The payload of a cursor of ``kind`` signed here; None for anything else."""
    try:
        return _serializer(kind).loads(cursor)
    except (BadSignature, TypeError, ValueError):
        return None
