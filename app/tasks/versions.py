"""Task versions as ETags: conditional reads (304) and writes (412).

A task's ETag is its ``updated_at`` in microseconds, which every change moves
on. An ``If-Match`` on a write becomes a condition of the UPDATE or DELETE
itself, so two devices editing one task cannot both win: the second gets 412.
"""

from datetime import datetime, timedelta, timezone

from flask import request
from sqlalchemy import and_, false, true

from ..models import tasks

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)


def etag(task):
    return f"{(task.updated_at - EPOCH) // MICROSECOND:x}"


def _updated_at(tag):
    try:
        return EPOCH + int(tag, 16) * MICROSECOND
    except (TypeError, ValueError, OverflowError):  # TypeError: werkzeug reads '""' as None
        return None  # not one of ours: matches no version


def _versions(tags, weak):
    return {_updated_at(tag) for tag in tags.as_set(include_weak=weak)} - {None}


def write_precondition():
    """The WHERE condition that ``If-Match`` and ``If-None-Match`` ask of a write (RFC 9110).

    If-Match: the task is at one of the versions named (compared strongly:
    weak tags never match; ``*`` matches any). If-None-Match: it is at none
    of them (``*``: the task must not exist, so any existing task fails).
    """
    conditions = []
    if request.if_match and not request.if_match.star_tag:
        conditions.append(tasks.c.updated_at.in_(_versions(request.if_match, weak=False)))
    if request.if_none_match:
        if request.if_none_match.star_tag:
            conditions.append(false())
        else:
            conditions.append(tasks.c.updated_at.not_in(_versions(request.if_none_match, weak=True)))
    return and_(true(), *conditions)


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
ETAG_HEADER = {"ETag": {"description": "The task's version, for If-Match and If-None-Match.",
                        "schema": {"type": "string"}}}
IF_NONE_MATCH = {"in": "header", "name": "If-None-Match", "required": False, "schema": {"type": "string"},
                 "description": "An ETag received before: 304 if it is still current."}
IF_MATCH = {"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
            "description": "Write only if the task is still at this version (ETag); 412 otherwise."}
