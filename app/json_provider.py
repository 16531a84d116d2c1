"""JSON responses: ISO 8601 datetimes and keys in the order the schema gives."""

from datetime import date

from flask.json.provider import DefaultJSONProvider


class JSONProvider(DefaultJSONProvider):
    # Flask sorts keys and writes datetimes as RFC 822 ("Wed, 25 Nov 2026
    # ..."); clients of this API expect ISO 8601, as the schemas dump them.
    sort_keys = False

    @staticmethod
    def default(o):
        if isinstance(o, date):
            return o.isoformat()
        return DefaultJSONProvider.default(o)
