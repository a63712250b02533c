"""Dialect-aware bulk helpers (SQLite and PostgreSQL from one code path)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Table


def insert_ignore(conn: Connection, table: Table) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()


_FAST: dict[tuple, tuple] = {}


def _memo(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    cache: dict[Any, Any] = {}

    def proc(value: Any) -> Any:
        try:
            return cache[value]
        except KeyError:
            if len(cache) > 4096:
                cache.clear()
            out = cache[value] = fn(value)
            return out
        except TypeError:
            return fn(value)

    return proc


def _none_once(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    null = fn(None)

    def proc(value: Any) -> Any:
        return null if value is None else fn(value)

    return proc


def _converter(order: list[str] | None, cols: tuple[str, ...],
               procs: dict[str, Callable[[Any], Any]]) -> Callable[[list[dict]], list]:
    """A function turning row dicts into DBAPI parameters, generated once per
    column set: one tuple display per row instead of a per-column generator.
    Column names come from the table definition, never from input; they enter
    the generated source only through ``repr``."""
    env: dict[str, Any] = {}
    parts = []
    for i, n in enumerate(order if order is not None else cols):
        if n in procs:
            env[f"p{i}"] = procs[n]
            parts.append(f"p{i}(r[{n!r}])")
        else:
            parts.append(f"r[{n!r}]")
    if order is not None:
        body = "(" + ", ".join(parts) + ",)"
    else:
        body = "{" + ", ".join(f"{n!r}: {v}" for n, v in zip(cols, parts)) + "}"
    src = f"def convert(rows):\n    return [{body} for r in rows]\n"
    exec(compile(src, "<fast_insert>", "exec"), env)  # noqa: S102 - trusted names
    return env["convert"]


def _prepare(conn: Connection, table: Table, cols: tuple[str, ...], kind: str,
             stmt_fn: Callable[[], Any], processed: bool = False,
             ) -> tuple[str, Callable[[list[dict]], list]]:
    key = (conn.dialect.name, table.name, cols, kind, processed)
    entry = _FAST.get(key)
    if entry is None:
        compiled = stmt_fn().compile(dialect=conn.dialect)
        procs = {} if processed else dict(getattr(compiled, "_bind_processors", {}) or {})
        for name in list(procs):
            if name not in table.c:
                continue
            if isinstance(table.c[name].type, DateTime):  # rows share timestamps: memoise
                procs[name] = _memo(procs[name])
            elif isinstance(table.c[name].type, JSON):  # mostly None: serialise that once
                procs[name] = _none_once(procs[name])
        order = list(compiled.positiontup) if compiled.positional else None
        entry = (str(compiled), _converter(order, cols, procs))
        _FAST[key] = entry
    return entry


class BindProcessor:
    """Turns row values into what the DBAPI driver of one dialect receives
    (datetimes into SQLite's strings, dicts into JSON text, booleans into
    0/1) without a connection: the processors SQLAlchemy itself would apply,
    taken from its compiled INSERT. Lets a process that has no database
    connection prepare rows for one (``rasd.ingest.writer.Prep``); the rows
    are then written with ``processed=True``. SQLite only: there the values
    are plain strings and numbers that pickle cheaply; PostgreSQL rows are
    processed by the writing connection as usual."""

    def __init__(self, dialect_name: str, json_serializer: Callable[[Any], str]):
        if dialect_name != "sqlite":
            raise ValueError(f"no connection-free bind processing for {dialect_name!r}")
        from sqlalchemy.dialects import sqlite

        self.dialect = sqlite.dialect(json_serializer=json_serializer)
        self._procs: dict[str, list[tuple[str, Callable[[Any], Any]]]] = {}
        self._loops: dict[tuple[str, tuple[str, ...]], Callable[[list[dict]], None]] = {}

    def _for(self, table: Table) -> list[tuple[str, Callable[[Any], Any]]]:
        procs = self._procs.get(table.name)
        if procs is None:
            from sqlalchemy import bindparam

            stmt = table.insert().values(
                {c.name: bindparam(c.name, type_=c.type) for c in table.c})
            compiled = stmt.compile(dialect=self.dialect)
            raw = dict(getattr(compiled, "_bind_processors", {}) or {})
            procs = []
            for name, fn in raw.items():
                if name not in table.c:
                    continue
                if isinstance(table.c[name].type, DateTime):
                    fn = _memo(fn)
                elif isinstance(table.c[name].type, JSON):
                    fn = _none_once(fn)
                procs.append((name, fn))
            self._procs[table.name] = procs
        return procs

    def __call__(self, table: Table, row: dict[str, Any]) -> dict[str, Any]:
        """Process ``row`` in place (only the keys it has) and return it."""
        self.rows(table, [row])
        return row

    def rows(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Process ``rows`` in place; all have the keys of the first. One loop
        generated per column set, like ``fast_insert``'s converter: a plain
        assignment per processed column, no per-column dispatch."""
        if not rows:
            return
        cols = tuple(rows[0])
        loop = self._loops.get((table.name, cols))
        if loop is None:
            env: dict[str, Any] = {}
            body = []
            for i, (name, fn) in enumerate(self._for(table)):
                if name in cols:
                    env[f"p{i}"] = fn
                    body.append(f"        r[{name!r}] = p{i}(r[{name!r}])")
            src = "def loop(rows):\n    for r in rows:\n" + (
                "\n".join(body) if body else "        pass") + "\n"
            exec(compile(src, "<bind_rows>", "exec"), env)  # noqa: S102 - trusted names
            loop = self._loops[(table.name, cols)] = env["loop"]
        loop(rows)


def _executemany(conn: Connection, sql: str, params: list) -> None:
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.executemany(sql, params)
    finally:
        cur.close()


def fast_insert(conn: Connection, table: Table, rows: list[dict[str, Any]],
                *, ignore: bool = True, processed: bool = False) -> None:
    """Bulk insert with SQLAlchemy's own type processing but without per-row
    statement compilation: the statement is compiled once per column set and
    the DBAPI ``executemany`` gets plain tuples. Same SQL, same stored values
    as ``conn.execute(insert(table), rows)``; several times faster on big batches.

    Every row must have the same keys as the first. ``processed``: the values
    already went through ``BindProcessor`` for this dialect (rows prepared in
    another process); they are passed as they are.
    """
    if not rows:
        return
    from sqlalchemy import bindparam

    cols = tuple(rows[0])
    sql, convert = _prepare(
        conn, table, cols, "insert-ignore" if ignore else "insert",
        lambda: (insert_ignore(conn, table) if ignore else table.insert()).values(
            {c: bindparam(c, type_=table.c[c].type) for c in cols}), processed)
    _executemany(conn, sql, convert(rows))


def fast_update(conn: Connection, table: Table, rows: list[dict[str, Any]],
                *, key: str = "b_id", processed: bool = False) -> None:
    """``UPDATE table SET … WHERE id = :key`` for many rows, the counterpart of
    ``fast_insert``: each row dict holds the new values and the row id under
    ``key``. Same SQL and values as SQLAlchemy's ``update(...).where(id ==
    bindparam(key))`` executemany, without its per-row overhead."""
    if not rows:
        return
    from sqlalchemy import bindparam, update

    cols = tuple(rows[0])
    sets = [c for c in cols if c != key]
    sql, convert = _prepare(
        conn, table, cols, "update:" + key,
        lambda: update(table).where(table.c.id == bindparam(key)).values(
            {c: bindparam(c, type_=table.c[c].type) for c in sets}), processed)
    _executemany(conn, sql, convert(rows))


def fast_select_in(conn: Connection, table: Table, cols: tuple[str, ...], eq: tuple[str, Any],
                   in_col: str, values: list[Any]) -> list[tuple]:
    """``SELECT cols FROM table WHERE eq[0] = eq[1] AND in_col IN values`` as
    plain DBAPI tuples, for columns that need no result processing (integers,
    strings); a lookup of a few hundred keys without SQLAlchemy's per-call
    statement expansion and row objects."""
    if not values:
        return []
    for c in (*cols, eq[0], in_col):
        if c not in table.c:
            raise KeyError(f"{table.name} has no column {c!r}")
    ph = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (f"SELECT {', '.join(cols)} FROM {table.name} WHERE {eq[0]} = {ph} "
           f"AND {in_col} IN ({', '.join([ph] * len(values))})")
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.execute(sql, (eq[1], *values))
        return list(cur.fetchall())
    finally:
        cur.close()
