"""Dialect-aware bulk helpers (SQLite and PostgreSQL from one code path)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table


def insert_ignore(conn: Connection, table: Table) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()
