"""The baseline: a bare Flask route returning a small JSON object.

Served by the same gunicorn.conf.py as the app, it is the ceiling our own
code is measured against.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello():
    return {"message": "hello"}
