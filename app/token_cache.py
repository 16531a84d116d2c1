"""Flask-JWT-Extended's manager, verifying each token once per worker, not on every request.

A client sends the same access token with every request for its lifetime.
Flask-JWT-Extended (4.7) parses each token four times per request (PyJWT's
parse checks every character, as GHSA-hxm8-2xgr-2p9m asks): about a fifth of
a small request's time (profiled with ``GET /users/me``). Here a token that
verified once is remembered: the next request with exactly the same bytes,
signature included, gets the same claims without the work.

Safe because only verified tokens are kept, keyed by their whole text, in the
app's own memory (another app, with another key, has its own); the expiry is
checked again on every use, and an expired or unusual token takes the full
path, which raises exactly as before (a token past its expiry but within
JWT_DECODE_LEEWAY takes that path every time). Logging out and password
changes are checked on every request (app/security.py: the user in the
database, logouts there or in Redis), not here. The cache is built at
init_app: the JWT settings are fixed by then.

This overrides one private method, ``_decode_jwt_from_config``, through which
every decode goes (``jwt_required`` and ``decode_token`` alike); the version
is pinned in requirements.txt and tests/test_security.py checks the cache is
in use, so an upgrade that moves it fails the suite rather than going slow.
"""

import time
from functools import lru_cache

import flask_jwt_extended
from flask import current_app

# Tokens a worker remembers: a few thousand signed-in clients, about 1 KiB each.
VERIFIED_TOKENS = 4096


class JWTManager(flask_jwt_extended.JWTManager):
    def init_app(self, app, add_context_processor=False):
        super().init_app(app, add_context_processor=add_context_processor)
        app.extensions["verified_tokens"] = lru_cache(maxsize=VERIFIED_TOKENS)(self._verify)

    def _verify(self, encoded_token):
        return super()._decode_jwt_from_config(encoded_token)

    def _decode_jwt_from_config(self, encoded_token, csrf_value=None, allow_expired=False):
        if csrf_value is None and not allow_expired:
            claims = current_app.extensions["verified_tokens"](encoded_token)  # raises if not valid
            expires = claims.get("exp")
            if type(expires) is int and expires > time.time():
                return dict(claims)  # a copy: the remembered claims stay as verified
        # Expired since it was remembered, or another kind of decode: the full path.
        return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
