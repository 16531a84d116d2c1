"""A page of a list goes out with ``X-Total-Count`` and RFC 8288 ``Link`` headers."""

from functools import wraps
from urllib.parse import urlencode

from flask import request

# For the OpenAPI document.
LIST_HEADERS = {"X-Total-Count": {"schema": {"type": "integer"}, "description": "Tasks matching the filters."},
                "Link": {"schema": {"type": "string"}, "description": "RFC 8288 first, prev, next, last."},
                "ETag": {"schema": {"type": "string"}, "description": "The page's version, for If-None-Match."}}


def sends_page(view):
    """The page (app/tasks/store.py's Page) a view returns goes out as its rows, with its headers."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        page = view(*args, **kwargs)
        return page.rows, {"X-Total-Count": str(page.total), "Link": links(page.total, page.limit, page.offset)}
    return wrapper


def links(total, limit, offset):
    """RFC 8288 ``Link``: first, prev, next, last, keeping the request's filters."""
    kept = [(k, v) for k, v in request.args.items(multi=True) if k not in ("limit", "offset")]

    def link(rel, to):
        return f'<{request.path}?{urlencode(kept + [("limit", limit), ("offset", to)])}>; rel="{rel}"'

    last = max(total - 1, 0) // limit * limit
    found = [link("first", 0)]
    if offset > 0:
        found.append(link("prev", max(min(offset - limit, last), 0)))
    if offset + limit < total:
        found.append(link("next", offset + limit))
    found.append(link("last", last))
    return ", ".join(found)
