"""The request body: JSON only, parsed once, validated by a schema."""

from flask import request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType

from .errors import APIError


def load_json(schema):
    """Return the body validated by ``schema``.

    415 for another content type, 400 for a body that is not JSON, and 422
    (marshmallow's ValidationError, turned into JSON by errors.py) for JSON
    that does not fit the schema.
    """
    too_large_body_cut_short(request)
    try:
        data = request.get_json()
    except UnsupportedMediaType:
        raise APIError(415, "Content-Type must be application/json") from None
    except (BadRequest, RecursionError):  # RecursionError: nested too deeply
        raise APIError(400, "Request body is not valid JSON") from None
    return schema.load(data)


def too_large_body_cut_short(request):
    """413 for a chunked body that reached MAX_CONTENT_LENGTH.

    Werkzeug stops reading a body without Content-Length at the limit and
    returns what it read, which would then fail as malformed JSON (400).
    A body with a Content-Length over the limit is refused by Werkzeug itself.
    """
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(request.get_data()) >= limit:
        raise RequestEntityTooLarge()
