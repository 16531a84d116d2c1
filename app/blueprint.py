"""The blueprint every resource uses: flask-smorest, reading JSON strictly.

``@bp.arguments(Schema)`` validates the body (or the query string) and
``@bp.response(status, Schema)`` dumps the result; the same schemas build
the OpenAPI document, so the documentation cannot drift from the code.
"""

from functools import wraps

import flask_smorest
from flask import g
from flask_jwt_extended import jwt_required
from marshmallow import RAISE, ValidationError
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge, UnsupportedMediaType

from .errors import APIError
from .security import ensure_signed_in, signed_in_user


def read_json_body(request):
    """The body as JSON: 415 for another content type, 400 for a body that is not JSON."""
    too_large_body_cut_short(request)
    try:
        return request.get_json()
    except UnsupportedMediaType:
        raise APIError(415, "Content-Type must be application/json") from None
    except (BadRequest, RecursionError):  # RecursionError: nested too deeply
        raise APIError(400, "Request body is not valid JSON") from None


def too_large_body_cut_short(request):
    """413 for a chunked body that reached MAX_CONTENT_LENGTH.

    Werkzeug stops reading a body without Content-Length at the limit and
    returns what it read, which would then fail as malformed JSON (400).
    A body with a Content-Length over the limit is refused by Werkzeug itself.
    """
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(request.get_data()) >= limit:
        raise RequestEntityTooLarge()


class RequestParser(FlaskParser):
    """webargs' Flask parser, with our JSON rules and our 422.

    Query strings are as strict as bodies: an unknown parameter (a typo such
    as ``complete=true``) or one given twice is a 422, not silently ignored.
    """

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION, "query": RAISE, "querystring": RAISE}

    def load_json(self, req, schema):
        return read_json_body(req)

    def load_querystring(self, req, schema):
        repeated = sorted(name for name, values in req.args.lists() if len(values) > 1)
        if repeated:
            raise ValidationError({name: ["Given more than once."] for name in repeated})
        return super().load_querystring(req, schema)

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        # webargs files the messages under their location ({"json": {...}});
        # clients get the fields themselves. errors.py answers the 422.
        (messages,) = error.messages.values()
        raise ValidationError(messages)


class ApiBlueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = RequestParser()

    def arguments(self, schema, *args, **kwargs):
        # One instance per route, made here: given a class, webargs would build
        # a new schema (copying every field) on every request.
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)

    def login_required(self, *, refresh=False, user_checked_by_view=False):
        """Require a bearer access token (a refresh token with ``refresh=True``).

        Flask-JWT-Extended verifies the token; then its user is checked
        (app/security.py): it exists, at the token's version, in a session not
        logged out, or the answer is 401. That check is one statement before
        the view, unless ``user_checked_by_view``: the view's own statement
        includes it (``token_checked`` with ``SIGNED_IN`` or ``TOKEN_USER``)
        and says so when it finds its row (``found_signed_in``). Otherwise the
        user is read on its own before anything is answered or committed, so
        a 404, 412 or 422 never goes to a token that deserves a 401.
        tests/test_users.py sends every bad token to every route of the
        OpenAPI document, with good requests and bad ones.

        Declares the bearer security and the 401 in the OpenAPI document too.
        """
        def decorator(view):
            view = _user_checked_by(view) if user_checked_by_view else _user_checked_first(view)
            view = jwt_required(refresh=refresh)(view)
            view = self.alt_response(401, response="UNAUTHORIZED")(view)
            return self.doc(security=[{"bearerAuth": []}])(view)
        return decorator


def _user_checked_first(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        signed_in_user()
        return view(*args, **kwargs)
    return wrapper


def _user_checked_by(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        g.token_check_deferred = True  # no commit before the check (app/security.py)
        try:
            response = view(*args, **kwargs)
        except (APIError, ValidationError, HTTPException) as refusal:
            if getattr(refusal, "status_code", None) != 401:
                ensure_signed_in()  # a token that is no longer good: 401 first
            raise
        ensure_signed_in()  # no query when the view's statement found the user
        return response
    return wrapper
