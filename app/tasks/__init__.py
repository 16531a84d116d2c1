"""The signed-in user's tasks: blueprint (routes.py), statements (store.py), sync, versions, paging."""
