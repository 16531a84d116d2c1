"""Task versions as ETags: sent with every task, compared by conditional reads (304) and writes (412).

A task's ETag is its ``updated_at`` in microseconds, which every change moves
on. ``If-Match`` and ``If-None-Match`` on a write become conditions of the
UPDATE or DELETE itself (app/tasks/store.py), so two devices editing one task
cannot both win: the second gets 412.
"""

from datetime import datetime, timedelta, timezone
from functools import wraps

from flask import request

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)


def etag(task):
    return f"{(task.updated_at - EPOCH) // MICROSECOND:x}"


def _updated_at(tag):
    try:
        return EPOCH + int(tag, 16) * MICROSECOND
    except (TypeError, ValueError, OverflowError):  # TypeError: werkzeug reads '""' as None
        return None  # not one of ours: matches no version


def versions_named(tags, weak):
    """The ``updated_at`` values that an If-Match or If-None-Match header's tags name (weak ones too if ``weak``)."""
    return {_updated_at(tag) for tag in tags.as_set(include_weak=weak)} - {None}


def sends_etag(view):
    """The task the view returns goes out with its version as ``ETag``."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        task = view(*args, **kwargs)
        return task, {"ETag": f'"{etag(task)}"'}

    return wrapper


def conditional_get(response):
    """After a GET or HEAD: 304 when ``If-None-Match`` names the version sent."""
    if request.method in ("GET", "HEAD") and response.status_code == 200:
        if not response.get_etag()[0]:
            response.add_etag(weak=True)  # a list: a hash of its body
        # Clients may keep it, but must ask again before using it.
        response.headers["Cache-Control"] = "private, no-cache"
        response.make_conditional(request)
    return response


# For the OpenAPI document.
ETAG_HEADER = {
    "ETag": {"description": "The task's version, for If-Match and If-None-Match.", "schema": {"type": "string"}}
}
IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "schema": {"type": "string"},
    "description": "An ETag received before: 304 if it is still current.",
}
