"""What gunicorn and ``flask --app wsgi`` load."""

import sys

from app import create_app
from config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    # One line for the operator instead of a traceback. Exit status 3 is
    # gunicorn's "worker failed to boot": the master stops instead of
    # restarting workers that can never start.
    print(f"configuration error: {error}", file=sys.stderr)
    sys.exit(3)
