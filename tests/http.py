"""A small HTTP client for the tests that talk to a real server."""

import json
import urllib.error
import urllib.request


def call(base, method, path, body=None, token=None, headers=None, raw=None, prefix="/api/v1"):
    """Send one request to ``base + prefix + path``; returns (status, JSON body or None, headers).

    ``body`` is sent as JSON; ``raw`` as the bytes given.
    """
    request = urllib.request.Request(base + prefix + path, method=method, headers=headers or {}, data=raw)
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw, response_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, response_headers = error.code, error.read(), error.headers
    return status, json.loads(raw) if raw else None, response_headers
