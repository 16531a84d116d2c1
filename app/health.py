"""Probes for orchestrators and load balancers, outside /api/v1 and without a token."""

from flask import current_app

from .blueprint import ApiBlueprint
from .connections import ping
from .schemas import StatusSchema

bp = ApiBlueprint("health", __name__, description="Liveness and readiness probes.")


@bp.get("/healthz")
@bp.response(200, StatusSchema)
def healthz():
    """The process is alive (the database is not asked)."""
    return {"status": "ok"}


@bp.get("/readyz")
@bp.response(200, StatusSchema)
@bp.alt_response(503, response="SERVICE_UNAVAILABLE")
def readyz():
    """The database (and Redis, when configured) answers: 200, else 503, so no traffic is sent here."""
    ping()
    current_app.extensions["revocations"].check()
    return {"status": "ok"}
