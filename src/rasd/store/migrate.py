"""Run Alembic migrations programmatically (``rasd`` does it on every open)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        url = engine.url.render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        cfg.attributes["engine"] = engine
    return cfg


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _unknown(revision: str) -> bool:
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is None
    except CommandError:  # "Can't locate revision identified by ..."
        return True


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


class UnknownSchemaError(ValueError):
    """The store's schema is at a revision this rasd does not know: a newer
    rasd made or upgraded it (or its ``alembic_version`` was edited)."""


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision``; a no-op when it is already there.
    A store whose revision this rasd does not know is refused with
    ``UnknownSchemaError`` (Alembic said only "Can't locate revision identified
    by '0099'")."""
    now = current(engine)
    if revision == "head" and now == head():
        return
    if now is not None and _unknown(now):
        raise UnknownSchemaError(
            f"its schema is at revision {now!r}, which this rasd (schema up to "
            f"{head()!r}) does not know: it was made or upgraded by a newer rasd; "
            "upgrade rasd to open it (nothing was changed)")
    cfg = alembic_config(engine)
    with engine.connect() as conn:
        # SQLite: hold the write lock from the start (BEGIN IMMEDIATE, waiting
        # for it as every writer does): two processes creating one new store at
        # once failed with "database is locked" when the second upgraded its read
        # to a write; now it waits, then finds the schema made (Alembic reads
        # the version inside this transaction) and does nothing
        if conn.dialect.name == "sqlite":
            conn.info["rasd_immediate"] = True
        with conn.begin():
            if conn.dialect.name == "postgresql":
                # PostgreSQL likewise: the store's write lock (an advisory lock
                # per schema) first; two processes creating the tables of one
                # new schema at once failed with a duplicate key in pg_type
                from rasd.store.db import WRITE_LOCK_SQL

                conn.exec_driver_sql(WRITE_LOCK_SQL)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
