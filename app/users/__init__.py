"""The signed-in user's account: its blueprint (routes.py) and every statement on users (store.py)."""
