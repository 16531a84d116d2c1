"""Headers every response carries, set once for the whole app, and no cookie."""

from flask import request
from flask.sessions import SessionInterface

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # JSON only: nothing may load or frame anything.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    # Responses hold tokens and people's own data: no cache may keep them,
    # unless a view says otherwise.
    "Cache-Control": "no-store",
}
HSTS = "max-age=63072000; includeSubDomains"


def add_security_headers(response):
    # Each header a view has not set, the names present read in one pass
    # (werkzeug's Headers scans them all for each name looked up).
    present = {name.lower() for name, _ in response.headers.items()}
    response.headers.extend([(name, value) for name, value in SECURITY_HEADERS.items() if name.lower() not in present])
    # Only over HTTPS (as seen through a trusted proxy): HSTS on plain HTTP is ignored.
    if request.is_secure and "strict-transport-security" not in present:
        response.headers["Strict-Transport-Security"] = HSTS
    # The rate limiter adds Retry-After to every answer of a limited route;
    # it means something only on a 429 or a 503.
    if "retry-after" in present and response.status_code not in (429, 503):
        del response.headers["Retry-After"]
    if response.status_code in (204, 304):  # no body, so no content type
        response.headers.pop("Content-Type", None)
    return response


class NoCookieSessions(SessionInterface):
    """No Flask session: a client's state lives in its token and in the database, never in a cookie.

    Flask's default reads the session cookie and builds a signing serializer
    on every request (bench/README.md), for a session nothing uses;
    ``flask.session`` is now a NullSession, which refuses writes.
    """

    def open_session(self, app, request):
        return None  # Flask makes a NullSession

    def save_session(self, app, session, response):
        pass


def init_headers(app):
    app.session_interface = NoCookieSessions()
    app.after_request(add_security_headers)
