"""Task versions as ETags: conditional reads (304) and writes (412).

A task's ETag is its ``updated_at`` in microseconds, which every change moves
on. An ``If-Match`` on a write becomes a condition of the UPDATE or DELETE
itself, so two devices editing one task cannot both win: the second gets 412.
"""

from datetime import datetime, timedelta, timezone

from flask import request
from sqlalchemy import true

from ..models import Task

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)


def etag(task):
    return f"{(task.updated_at - EPOCH) // MICROSECOND:x}"


def _updated_at(tag):
    try:
        return EPOCH + int(tag, 16) * MICROSECOND
    except (ValueError, OverflowError):
        return None  # not one of ours: matches no version


def if_match_condition():
    """The WHERE condition ``If-Match`` asks for: true without the header or with ``*``."""
    if_match = request.if_match
    if not if_match or if_match.star_tag:
        return true()
    # If-Match compares strongly (RFC 9110): weak tags never match.
    versions = {_updated_at(tag) for tag in if_match.as_set()} - {None}
    return Task.updated_at.in_(versions)


def conditional_get(response):
    """After a GET: 304 when ``If-None-Match`` names the version sent."""
    if request.method == "GET" and response.status_code == 200:
        if not response.get_etag()[0]:
            response.add_etag(weak=True)  # a list: a hash of its body
        # Clients may keep it, but must ask again before using it.
        response.headers["Cache-Control"] = "private, no-cache"
        response.make_conditional(request)
    return response
