"""The store: SQLite by default, PostgreSQL through the same SQLAlchemy URL.

    >>> from rasd.store import Store
    >>> store = Store.open("sqlite:///rasd.db")   # or a path, or postgresql+psycopg://…
    >>> store.stats()["posts"]

``Store`` owns the engine, runs Alembic migrations on open, and offers the small
set of repository functions the stages use. Stage-specific tables live with
their stage (see ``rasd.store.schema.STAGE_SCHEMAS``).
"""

from rasd.store.db import Store, resolve_url

__all__ = ["Store", "resolve_url"]
