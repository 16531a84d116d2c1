"""Probes for orchestrators and load balancers, outside /api/v1 and without a token."""

from .blueprint import ApiBlueprint
from .connections import ping
from .schemas import StatusSchema

bp = ApiBlueprint("health", __name__, description="Liveness and readiness probes.")


@bp.get("/healthz")
@bp.doc(operationId="checkLiveness")
@bp.response(200, StatusSchema)
def healthz():
    """The process is alive (the database is not asked)."""
    return {"status": "ok"}


@bp.get("/readyz")
@bp.doc(operationId="checkReadiness")
@bp.response(200, StatusSchema)
@bp.alt_response(503, response="SERVICE_UNAVAILABLE")
def readyz():
    """The database answers: 200, else 503, so no traffic is sent here.

    (Redis is not asked: it holds rate-limit counters only, which fall back
    to each worker's memory while it is away.)
    """
    ping()
    return {"status": "ok"}
