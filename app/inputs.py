"""The request body: JSON only, parsed once, validated by a schema."""

from flask import request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from .errors import APIError


def load_json(schema):
    """Return the body validated by ``schema``.

    415 for another content type, 400 for a body that is not JSON, and 422
    (marshmallow's ValidationError, turned into JSON by errors.py) for JSON
    that does not fit the schema.
    """
    try:
        data = request.get_json()
    except UnsupportedMediaType:
        raise APIError(415, "Content-Type must be application/json") from None
    except (BadRequest, RecursionError):  # RecursionError: nested too deeply
        raise APIError(400, "Request body is not valid JSON") from None
    return schema.load(data)
