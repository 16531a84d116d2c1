"""The blueprint every resource uses: a view's decorators are its line of the contract.

``@bp.login_required()`` hands the view the signed-in user; ``@bp.arguments(Schema)``
validates the body (or the query string) strictly; ``@bp.response(status, Schema)``
dumps what the view returns; ``@bp.rate_limit(SETTING)`` limits it. The same
schemas build the OpenAPI document, so the documentation cannot drift from the
code. A write request is one transaction, committed here after its view answers.
"""

from functools import wraps

import flask_smorest
from flask import after_this_request, current_app, request
from marshmallow import RAISE, ValidationError
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge, UnsupportedMediaType

from .connections import READ_METHODS
from .errors import APIError
from .extensions import db, limiter
from .signed_in import SignedInUser
from .tokens import verified_user_key


def read_json_body(request):
    """The body as JSON: 415 for another content type, 400 for a body that is not JSON."""
    too_large_body_cut_short(request)
    try:
        return request.get_json()
    except UnsupportedMediaType:
        raise APIError(415, "Content-Type must be application/json") from None
    except (BadRequest, RecursionError):  # RecursionError: nested too deeply
        raise APIError(400, "Request body is not valid JSON") from None


def body_fields():
    """This request's JSON body as a dict, read silently ({} for anything else).

    For rate limits, which look at the body before the view has it validated.
    """
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested too deeply: the view answers its 400
        body = None
    return body if isinstance(body, dict) else {}


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

    def route(self, rule, **options):
        register = super().route(rule, **options)
        if set(options.get("methods", ["GET"])) <= set(READ_METHODS):
            return register
        return lambda view: register(_committed(view))

    def _store_endpoint_docs(self, endpoint, obj, parameters, tags, **options):
        # One view may answer two methods (PUT and PATCH): ``@bp.doc(operationId={"PUT": ..., "PATCH": ...})``
        # names each, as an operationId must be unique. (flask-smorest, pinned, stores a view's doc per method here.)
        super()._store_endpoint_docs(endpoint, obj, parameters, tags, **options)
        for method, doc in self._docs[endpoint].items():
            names = doc.get("manual_doc", {}).get("operationId") if isinstance(doc, dict) else None
            if isinstance(names, dict):
                doc["manual_doc"] = {**doc["manual_doc"], "operationId": names[method.upper()]}

    def per_user_limit(self, setting, **options):
        """Limit the route per signed-in user (one user's budget never slows another's), under ``login_required``.

        Keyed by the token login_required verified for this request: decoded
        again, a token expiring in between would raise, and Flask-Limiter takes a
        key function that raises for its storage failing. Placed above
        ``login_required``, it is refused as the routes are imported.
        """
        limit = self.rate_limit(setting, key_func=verified_user_key, **options)

        def decorator(view):
            if getattr(view, "signed_in", False):
                raise TypeError(f"{view.__name__}: a per-user limit goes under @bp.login_required()")
            return limit(view)

        return decorator

    def write_budget(self):
        """The user's budget of writes to tasks, lists and members (RATELIMIT_TASK_WRITES): one per user, shared
        by every route that writes them, inside login_required (the user is the verified token's, and a bad
        token gets its 401 first). Only a 429 says the budget (with Retry-After): telling it on every write
        would cost each one a second read of the limiter's storage, a round trip with Redis."""
        return self.per_user_limit("RATELIMIT_TASK_WRITES", scope="task-writes", every_answer=False)

    def login_required(self, *, refresh=False):
        """Require a bearer access token (a refresh token with ``refresh=True``); the view's
        first argument is then the signed-in user (app/signed_in.py).

        The token is verified (app/tokens.py); the user is checked by the
        statements the view's store runs through it. Before any answer leaves,
        refusals included, the user is confirmed signed in (a statement of its
        own only when none found it): a token that is no longer good always
        gets its 401 first. tests/test_users.py sends every bad token to every
        route of the OpenAPI document, with good requests and bad ones.

        Declares the bearer security and the 401 in the OpenAPI document too.
        """

        def decorator(view):
            view = _signed_in(view, refresh)
            view = self.alt_response(401, response="UNAUTHORIZED")(view)
            return self.doc(security=[{"bearerAuth": []}])(view)

        return decorator

    def rate_limit(self, setting, *, scope=None, every_answer=True, **options):
        """Limit the route by the Flask-Limiter string in ``setting`` (read at request time, see config.py).

        Routes limited with one ``scope`` share one budget (per key: by default
        the client's address; ``key_func`` names another). The limit is
        checked by the limiter's decorator, and its headers added by its hook
        run for this request alone: other routes pay nothing (app/extensions.py).
        The headers (X-RateLimit-*, and Retry-After on a 429) read the limiter's
        storage once more: with ``every_answer=False`` only a 429 has them.
        """
        value = lambda: current_app.config[setting]  # noqa: E731
        limit = limiter.shared_limit(value, scope, **options) if scope else limiter.limit(value, **options)

        def decorator(view):
            limited = limit(view)
            if getattr(view, "_rate_limit_headers", False):  # limits stacked: the innermost adds the headers
                return limited

            @wraps(limited)
            def wrapper(*args, **kwargs):
                if current_app.extensions["rate_limit_headers"] is not None:  # (none while the limiter is disabled)
                    after_this_request(_rate_limit_headers if every_answer else _rate_limit_headers_on_429)
                return limited(*args, **kwargs)

            wrapper._rate_limit_headers = True
            return wrapper

        return decorator


def _rate_limit_headers(response):
    return current_app.extensions["rate_limit_headers"](response)


def _rate_limit_headers_on_429(response):
    return _rate_limit_headers(response) if response.status_code == 429 else response


def _signed_in(view, refresh):
    @wraps(view)
    def wrapper(*args, **kwargs):
        user = SignedInUser.from_token(refresh=refresh)
        try:
            answer = view(user, *args, **kwargs)
        except (APIError, ValidationError, HTTPException) as refusal:
            if getattr(refusal, "status_code", None) != 401:
                user.confirm()  # a token that is no longer good: 401 first
            raise
        user.confirm()  # no statement when the view's statements found the user
        return answer

    wrapper.signed_in = True  # (copied up by every decorator above: per_user_limit looks for it)
    return wrapper


def _committed(view):
    """A write request's transaction commits once, here, after its view (and its user's check) answered.

    Neither views nor stores commit: a refusal or an error leaves nothing
    behind (the session is rolled back when the request ends).
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        answer = view(*args, **kwargs)
        db.session.commit()
        return answer

    return wrapper
