"""Sign up, log in, refresh, log out: the auth blueprint (routes.py); accounts live in app/users."""
