"""Every error as JSON ``{"detail": ...}``, and never a traceback.

HTTP errors keep their status and headers (``Allow`` on a 405); validation
errors are 422 with the field messages; database or Redis outages are 503; anything
else is a logged 500 that shows the client nothing of the cause.
"""

from flask import current_app, jsonify, request
from marshmallow import ValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, NotFound


class APIError(Exception):
    """An expected failure with a message written for the client."""

    def __init__(self, status_code, detail):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def not_authenticated():
    """The 401 for a token that is no longer good (logged out, used twice, its user gone or changed)."""
    return APIError(401, "Not authenticated")


def _json_error(status_code, detail, headers=None, **extra):
    response = jsonify(detail=detail, **extra)
    response.status_code = status_code
    response.headers.extend(headers or {})
    return response


def handle_api_error(error):
    # A 401 always names the scheme to authenticate with (RFC 9110).
    headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
    return _json_error(error.status_code, error.detail, headers)


def handle_http_exception(error):
    # werkzeug's own headers (Allow, Retry-After) without its HTML content type.
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    return _json_error(error.code, error.name, headers)


def handle_validation_error(error):
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    return _json_error(422, "Validation error", errors=messages)


def handle_store_unavailable(error):
    # The database or Redis cannot be reached: say so, and when to retry.
    current_app.logger.error("store unavailable: %s", type(getattr(error, "orig", error)).__name__)
    return _json_error(503, "Service temporarily unavailable", {"Retry-After": "5"})


def handle_unexpected_error(error):
    current_app.logger.exception("unhandled error")
    return _json_error(500, "Internal server error")


def refuse_doubled_or_encoded_slashes():
    """404 for a path with a doubled slash or an encoded one, as for any path no route has.

    Werkzeug's router drops a path's leading slashes ("//api/v1/tasks" would
    reach the list) and servers decode %2F before the app sees the path, so
    the path is read as the client sent it (RAW_URI: gunicorn, werkzeug).
    """
    raw = request.environ.get("RAW_URI") or request.environ.get("PATH_INFO") or ""
    path = raw.partition("?")[0]
    if not path.startswith("/"):  # the absolute form: http://host/path
        path = "/" + path.partition("://")[2].partition("/")[2]
    if "//" in path or "%2f" in path.lower():
        raise NotFound()


def register_error_handlers(app):
    app.register_error_handler(APIError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(ValidationError, handle_validation_error)
    app.register_error_handler(OperationalError, handle_store_unavailable)
    app.register_error_handler(PoolTimeout, handle_store_unavailable)  # every connection busy
    app.register_error_handler(RedisError, handle_store_unavailable)
    app.register_error_handler(Exception, handle_unexpected_error)
