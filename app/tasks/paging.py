"""A page of a list goes out with RFC 8288 ``Link`` headers, and ``X-Total-Count`` when it was counted."""

from functools import wraps
from urllib.parse import urlencode

from flask import request

# For the OpenAPI document.
LIST_HEADERS = {
    "X-Total-Count": {
        "schema": {"type": "integer"},
        "description": "Tasks matching the filters: only with count=true.",
    },
    "Link": {
        "schema": {"type": "string"},
        "description": "RFC 8288: first; next (by cursor) unless this is the last page; "
        "prev when paging by offset; last with count=true.",
    },
    "ETag": {"schema": {"type": "string"}, "description": "The page's version, for If-None-Match."},
}


def sends_page(view):
    """The page (app/tasks/store.py's Page) a view returns goes out as its rows, with its headers."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        page = view(*args, **kwargs)
        headers = {"Link": links(page)}
        if page.total is not None:
            headers["X-Total-Count"] = str(page.total)
        return page.rows, headers

    return wrapper


def links(page):
    """RFC 8288 ``Link``, keeping the request's filters, sort and limit.

    ``next`` follows the cursor, so a client that follows it pays the same for
    every page; ``prev`` exists only for offsets (a cursor reads forward), and
    ``last`` only when the page was counted.
    """
    kept = [(k, v) for k, v in request.args.items(multi=True) if k not in ("cursor", "offset")]

    def link(rel, **start):
        query = urlencode(kept + list(start.items()))
        return f'<{request.path}{"?" if query else ""}{query}>; rel="{rel}"'

    last = None if page.total is None else max(page.total - 1, 0) // page.limit * page.limit
    found = [link("first")]
    if page.offset > 0:
        back = page.offset - page.limit
        if last is not None:  # past the end and counted: back to the last page
            back = min(back, last)
        found.append(link("prev", offset=max(back, 0)))
    if page.next_cursor:
        found.append(link("next", cursor=page.next_cursor))
    if last is not None:
        found.append(link("last", offset=last))
    return ", ".join(found)
