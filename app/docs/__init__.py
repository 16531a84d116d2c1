"""Interactive API docs at /docs: Swagger UI, served from this service's own files.

Swagger UI's files come from the pinned ``flask-swagger-ui`` package; the page
and its start-up script are ours, so the page runs under a strict
Content-Security-Policy (no inline script, nothing from another origin) and
works offline.
"""

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, send_from_directory

SWAGGER_UI = Path(flask_swagger_ui.__file__).parent / "dist"
HERE = Path(__file__).parent
# Swagger UI sets inline styles and draws icons from data: URLs; scripts only from here.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'"
)

bp = Blueprint("docs", __name__)


@bp.get("/docs")
def page():
    response = send_from_directory(HERE, "index.html")
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@bp.get("/docs/init.js")
def init_script():
    return send_from_directory(HERE, "init.js")


@bp.get("/docs/swagger-ui/<any('swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png'):name>")
def swagger_ui(name):
    return send_from_directory(SWAGGER_UI, name)
