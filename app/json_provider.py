"""JSON responses: written by orjson, ISO 8601 datetimes, keys in the order given.

Flask's own provider sorts keys and writes datetimes as RFC 822 ("Wed, 25 Nov
2026 ..."); clients of this API expect ISO 8601, as the schemas dump them.
orjson writes datetimes and dates exactly as ``isoformat()`` does, several
times faster than the standard library (a page of 50 tasks is the bulk of a
list request's answer). Request bodies are still read by the standard library.
"""

import json
from datetime import date

import orjson
from flask.json.provider import DefaultJSONProvider


class JSONProvider(DefaultJSONProvider):
    sort_keys = False

    @staticmethod
    def default(o):
        # Dates for the fallback below (orjson writes them the same way itself);
        # anything else orjson does not know (Decimal, Markup) as Flask does.
        if isinstance(o, date):
            return o.isoformat()
        return DefaultJSONProvider.default(o)

    def dumps(self, obj, **kwargs):
        return self._encode(obj, indent=bool(kwargs.get("indent"))).decode()

    def response(self, *args, **kwargs):
        body = self._encode(self._prepare_response_obj(args, kwargs), newline=True)
        return self._app.response_class(body, mimetype=self.mimetype)

    def _encode(self, obj, indent=False, newline=False):
        option = (orjson.OPT_INDENT_2 if indent else 0) | (orjson.OPT_APPEND_NEWLINE if newline else 0)
        try:
            return orjson.dumps(obj, default=self.default, option=option)
        except orjson.JSONEncodeError:
            # orjson refuses what the standard library writes: a lone surrogate
            # (a client's "\ud800", named back in a 422's field errors) or an
            # integer beyond 64 bits. Those answers are written the slow way.
            # (ASCII escapes here: a lone surrogate has no UTF-8 bytes.)
            text = json.dumps(
                obj, default=self.default, indent=2 if indent else None, separators=None if indent else (",", ":")
            )
            return (text + ("\n" if newline else "")).encode()
