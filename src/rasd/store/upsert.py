"""Dialect-aware bulk helpers (SQLite and PostgreSQL from one code path)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, String, Table


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
               procs: dict[str, Callable[[Any], Any]],
               by_position: bool = False) -> Callable[[list], list]:
    """A function turning rows into DBAPI parameters, generated once per
    column set: one tuple display per row instead of a per-column generator.
    Rows are dicts, or (``by_position``) sequences in the order of ``cols``.
    Column names come from the table definition, never from input; they enter
    the generated source only through ``repr``."""
    env: dict[str, Any] = {}
    parts = []
    for i, n in enumerate(order if order is not None else cols):
        get = f"r[{cols.index(n)}]" if by_position else f"r[{n!r}]"
        if n in procs:
            env[f"p{i}"] = procs[n]
            parts.append(f"p{i}({get})")
        else:
            parts.append(get)
    if order is not None:
        body = "(" + ", ".join(parts) + ",)"
    else:
        body = "{" + ", ".join(f"{n!r}: {v}" for n, v in zip(cols, parts)) + "}"
    src = f"def convert(rows):\n    return [{body} for r in rows]\n"
    exec(compile(src, "<fast_insert>", "exec"), env)  # noqa: S102 - trusted names
    return env["convert"]


def _processors(compiled: Any, table: Table) -> dict[str, Callable[[Any], Any]]:
    procs = dict(getattr(compiled, "_bind_processors", {}) or {})
    sqlite = compiled.dialect.name == "sqlite"
    for name in list(procs):
        if name not in table.c:
            continue
        if isinstance(table.c[name].type, DateTime):
            fast = _sqlite_datetime(procs[name]) if sqlite else None
            procs[name] = fast or _memo(procs[name])  # rows share timestamps: memoise
        elif isinstance(table.c[name].type, JSON):
            fast = _sqlite_json(procs[name], compiled.dialect) if sqlite else None
            procs[name] = fast or _none_once(procs[name])  # mostly None: serialise that once
    return procs


_SAMPLE_TIMES = (datetime(2024, 7, 17, 12, 16), datetime(5, 1, 2, 3, 4, 5, 6),
                 datetime(2024, 7, 17, 12, 16, 0, 120, tzinfo=UTC),
                 datetime(1999, 12, 31, 23, 59, 59, 999999,
                          tzinfo=timezone(timedelta(hours=5, minutes=30))))


_TWO = tuple(f"{i:02d}" for i in range(60))  # hours, minutes, seconds


def _sqlite_datetime(slow: Callable[[Any], Any]) -> Callable[[Any], Any] | None:
    """SQLAlchemy's SQLite DATETIME processor formats the fields of a
    datetime in Python (~1.5 us); this writes the same text from a date's
    text kept per day (rows share few days) and the time's fields, in a
    third of the instructions of ``isoformat`` (which formats through
    sprintf, and an aware time's offset too, only to be cut off) — the
    fields as they are, whatever the zone, as SQLAlchemy writes them.
    Used only if it gives exactly what ``slow`` gives on sample times (so a
    custom storage format falls back to ``slow``); the last value is reused
    (a batch's rows share their timestamps)."""
    days: dict[int, str] = {}  # ordinal -> "YYYY-MM-DD"

    def fmt(v: datetime) -> str:
        o = v.toordinal()
        day = days.get(o)
        if day is None:
            if len(days) >= 4096:
                days.clear()
            day = days[o] = v.date().isoformat()
        us = v.microsecond
        return (f"{day} {_TWO[v.hour]}:{_TWO[v.minute]}:{_TWO[v.second]}."
                f"{'000000' if us == 0 else f'{us:06d}'}")

    if any(fmt(t) != slow(t) for t in _SAMPLE_TIMES):
        return None
    last: list[Any] = [None, None]
    exact = datetime

    def proc(value: Any) -> Any:
        if value is last[0]:
            return last[1]
        if type(value) is not exact:  # None, a date, a subclass, a wrong type
            return slow(value)
        out = fmt(value)
        last[0], last[1] = value, out
        return out

    return proc


def _sqlite_json(slow: Callable[[Any], Any], dialect: Any) -> Callable[[Any], Any] | None:
    """JSON for SQLite: the engine's serializer called directly for dicts and
    lists (SQLAlchemy's processor wraps it in two more Python calls); used
    only if it gives exactly what ``slow`` gives on samples."""
    dumps = getattr(dialect, "_json_serializer", None)
    if dumps is None:
        return None
    samples: list[Any] = [{"a": [1, "é", None], "b": {"c": 1.5}}, [1, {"x": "y"}], {}]
    try:
        if any(dumps(x) != slow(x) for x in samples):
            return None
    except Exception:  # noqa: BLE001 - any doubt: keep SQLAlchemy's processor
        return None
    null = slow(None)

    def proc(value: Any) -> Any:
        if value is None:
            return null
        if type(value) is dict or type(value) is list:
            return dumps(value)
        return slow(value)

    return proc


def _prepare(conn: Connection, table: Table, cols: tuple[str, ...], kind: str,
             stmt_fn: Callable[[], Any], by_position: bool = False,
             ) -> tuple[str, Callable[[list], list]]:
    key = (conn.dialect.name, table.name, cols, kind, by_position)
    entry = _FAST.get(key)
    if entry is None:
        compiled = stmt_fn().compile(dialect=conn.dialect)
        procs = _processors(compiled, table)
        order = list(compiled.positiontup) if compiled.positional else None
        entry = (str(compiled), _converter(order, cols, procs, by_position))
        _FAST[key] = entry
    return entry


# psycopg prepares the statement of an executemany where it prepares at all
PREPARE_THRESHOLD = 5


def _executemany(conn: Connection, sql: str, params: list) -> None:
    """``executemany`` of one of this module's statements (an INSERT of
    values, an UPDATE by id). On PostgreSQL the statement is prepared, though
    rasd's connections prepare nothing else (``db._pg_session``): its plan
    does not depend on its values, and one parse (and, after five rows, one
    plan) serves every row."""
    dconn = conn.connection.driver_connection
    cur = dconn.cursor()
    try:
        if getattr(dconn, "prepare_threshold", 0) is None:
            dconn.prepare_threshold = PREPARE_THRESHOLD
            try:
                cur.executemany(sql, params)
            finally:
                dconn.prepare_threshold = None
        else:
            cur.executemany(sql, params)
    finally:
        cur.close()


def fast_insert(conn: Connection, table: Table, rows: list[dict[str, Any]],
                *, ignore: bool = True) -> None:
    """Bulk insert with SQLAlchemy's own type processing but without per-row
    statement compilation: the statement is compiled once per column set and
    the DBAPI ``executemany`` gets plain tuples. Same SQL, same stored values
    as ``conn.execute(insert(table), rows)``; several times faster on big batches.

    Every row must have the same keys as the first.
    """
    if not rows:
        return
    from sqlalchemy import bindparam

    cols = tuple(rows[0])
    if _copy_pays(conn, rows):
        _pg_copy_insert(conn, table, cols, [tuple(r[c] for c in cols) for r in rows], ignore)
        return
    sql, convert = _prepare(
        conn, table, cols, "insert-ignore" if ignore else "insert",
        lambda: (insert_ignore(conn, table) if ignore else table.insert()).values(
            {c: bindparam(c, type_=table.c[c].type) for c in cols}))
    _executemany(conn, sql, convert(rows))


# PostgreSQL runs an INSERT per row of an executemany (~90 us each for posts);
# from this many rows on, COPY into a staging table and one INSERT … SELECT.
COPY_MIN_ROWS = 64
_COPY: dict[tuple, Callable[[list], list]] = {}


def _copy_pays(conn: Connection, rows: list) -> bool:
    return conn.dialect.name == "postgresql" and len(rows) >= COPY_MIN_ROWS


def _pg_copy_insert(conn: Connection, table: Table, cols: tuple[str, ...],
                    rows: list[tuple], ignore: bool, returning: tuple[str, ...] = ()
                    ) -> list[tuple]:
    """Insert ``rows`` (tuples in the order of ``cols``) into ``table`` on
    PostgreSQL: COPY into a session-local staging table with the same column
    types, then one ``INSERT … SELECT`` (``ON CONFLICT DO NOTHING`` when
    ``ignore``), in the caller's transaction. Values go through SQLAlchemy's
    bind processors first, as with ``executemany``, so the same values are
    stored. Names come from the table definition only."""
    import hashlib

    for c in (*cols, *returning):
        if c not in table.c:
            raise KeyError(f"{table.name} has no column {c!r}")
    key = (conn.dialect.name, table.name, cols, "copy")
    convert = _COPY.get(key)
    if convert is None:
        compiled = table.insert().values({c: _bind(c, table) for c in cols}).compile(
            dialect=conn.dialect)
        convert = _COPY[key] = _converter(list(cols), cols, _processors(compiled, table),
                                          by_position=True)
    values = convert(rows)
    stage = "_rasd_stage_" + hashlib.sha1(
        f"{table.name}:{','.join(cols)}".encode()).hexdigest()[:12]
    names = ", ".join(cols)
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} AS "
                    f"SELECT {names} FROM {table.name} WITH NO DATA")
        cur.execute(f"TRUNCATE {stage}")
        with cur.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
            for v in values:
                copy.write_row(v)
        cur.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage}"
                    + (" ON CONFLICT DO NOTHING" if ignore else "")
                    + (f" RETURNING {', '.join(returning)}" if returning else ""))
        return [tuple(r) for r in cur.fetchall()] if returning else []
    finally:
        cur.close()


def _bind(c: str, table: Table) -> Any:
    from sqlalchemy import bindparam

    return bindparam(c, type_=table.c[c].type)


def fast_insert_rows(conn: Connection, table: Table, cols: tuple[str, ...],
                     rows: list[tuple], *, ignore: bool = True,
                     returning: tuple[str, ...] = ()) -> list[tuple]:
    """``fast_insert`` for rows given as tuples in the order of ``cols``:
    no dict per row to build (or to pickle, for rows prepared in another
    process). Same statement, type processing and stored values.

    ``returning``: columns to read back from the rows this call inserted, where
    that costs nothing extra (PostgreSQL's COPY path); elsewhere, and for rows
    skipped as already present, nothing comes back: callers look up what they
    miss."""
    if not rows:
        return []
    from sqlalchemy import bindparam

    if _copy_pays(conn, rows):
        return _pg_copy_insert(conn, table, cols, rows, ignore, returning)
    sql, convert = _prepare(
        conn, table, cols, "insert-ignore" if ignore else "insert",
        lambda: (insert_ignore(conn, table) if ignore else table.insert()).values(
            {c: bindparam(c, type_=table.c[c].type) for c in cols}), by_position=True)
    _executemany(conn, sql, convert(rows))
    return []


def fast_update(conn: Connection, table: Table, rows: list[dict[str, Any]],
                *, key: str = "b_id") -> None:
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
            {c: bindparam(c, type_=table.c[c].type) for c in sets}))
    _executemany(conn, sql, convert(rows))


def fast_update_rows(conn: Connection, table: Table, cols: tuple[str, ...],
                     rows: list[tuple], *, key: str = "id") -> None:
    """``UPDATE table SET cols … WHERE key = …`` for many rows, each a tuple
    (the ``key`` value, then the new values in the order of ``cols``). Where
    two rows name the same key the last one holds, as in an executemany.

    On PostgreSQL one statement, whatever the number of rows
    (``pg_update_from`` with no condition): ``UPDATE … FROM unnest(arrays)``,
    an array a column (cast to the column's type, a string's without its
    length: ``_array_type``; so a time without a zone is taken in the
    session's time zone, as a parameter of the executemany's is: rasd's
    sessions are UTC; a column mixing times with and without a zone, in a
    session of another zone, goes by the executemany: ``_pg_arrays``), run
    with sequential scans off as
    ``fast_select_in``'s lookups are (the rows' index probed, never a scan of
    the table); the server parses and plans it once, where an executemany
    ran one UPDATE a row. Values go through SQLAlchemy's bind processors
    first (JSON), as there. On SQLite: ``fast_update``'s executemany (no
    arrays there)."""
    if not rows:
        return
    from sqlalchemy import bindparam, update

    for c in (key, *cols):
        if c not in table.c:
            raise KeyError(f"{table.name} has no column {c!r}")
    if key in cols or "b_id" in cols:
        raise ValueError(f"{key!r} both the key and a column to set")
    last = {r[0]: r for r in rows}  # (the last row of a key holds)
    # (one row a key now: pg_update_from does nothing only off PostgreSQL, or
    # for times of mixed kinds in a session not in UTC)
    if pg_update_from(conn, table, (key, *cols), list(last.values()),
                      {c: f"v.{c}" for c in cols}):
        return
    names = ("b_id", *cols)
    sql, convert = _prepare(
        conn, table, names, "update-rows:" + key,
        lambda: update(table).where(table.c[key] == bindparam("b_id")).values(
            {c: bindparam(c, type_=table.c[c].type) for c in cols}), by_position=True)
    _executemany(conn, sql, convert(list(last.values())))


_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "UCT", "Etc/UCT", "Universal",
                        "Etc/Universal", "Zulu", "Etc/Zulu"})


def _pg_arrays(dconn: Any, table: Table, names: tuple[str, ...], procs: tuple,
               rows: list[tuple]) -> list[list] | None:
    """The columns of ``rows`` as arrays for ``fast_update_rows``, through
    their bind processors. psycopg dumps a list of times as one kind: a list
    mixing times with and without a zone lost the offsets of one kind as text
    (a time of -07:30 stored 7.5 hours early) and fails in binary (TypeError:
    naive minus aware). Such a list is made one
    kind as the server would take it: a time without a zone in the session's
    time zone, UTC in rasd's sessions; in another zone, None (the caller
    falls back to one UPDATE a row)."""
    arrays = []
    for name, proc, values in zip(names, procs, zip(*rows, strict=True), strict=True):
        col = list(values) if proc is None else [proc(v) for v in values]
        if isinstance(table.c[name].type, DateTime):
            naive = {v.tzinfo is None for v in col if isinstance(v, datetime)}
            if len(naive) > 1:
                if not _session_utc(dconn):
                    return None
                if table.c[name].type.timezone:
                    col = [v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None
                           else v for v in col]
                else:
                    col = [v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime)
                           and v.tzinfo is not None else v for v in col]
        arrays.append(col)
    return arrays


def _session_utc(dconn: Any) -> bool:
    """Whether the session's time zone is UTC (as the server last reported it:
    no round trip)."""
    info = getattr(dconn, "info", None)
    get = getattr(info, "parameter_status", None) or getattr(
        dconn, "get_parameter_status", None)  # psycopg 3, psycopg2
    zone = get("TimeZone") if get is not None else None
    if isinstance(zone, bytes):
        zone = zone.decode("ascii", "replace")
    return zone in _UTC_NAMES


def _array_ph(dconn: Any) -> str:
    """The placeholder of an array parameter: psycopg 3's binary one, where a
    list is dumped in C (a 2,500-row UPDATE of four columns: ~5 ms of the
    client's CPU, against ~33 ms as text, more than the executemany's);
    psycopg2 has only text."""
    return "%b" if type(dconn).__module__.split(".")[0] == "psycopg" else "%s"


def _array_type(table: Table, col: str, dialect: Any) -> str:
    """The SQL type an array of ``col``'s values is cast to: the column's,
    but a string's without its length (an explicit cast to VARCHAR(n) cuts a
    longer value to n characters, silently: a key of 70 characters matched
    the stored key of its first 64, and an UPDATE stored a cut value where
    SQLAlchemy's executemany failed; unbounded, a comparison sees the whole
    value and storing it fails as there)."""
    typ = table.c[col].type
    if isinstance(typ, String) and typ.length is not None:
        typ = typ.copy()
        typ.length = None
    return typ.compile(dialect=dialect)


_UPDATE_FROM: dict[tuple, tuple[str, tuple]] = {}


def pg_update_from(conn: Connection, table: Table, names: tuple[str, ...], rows: list[tuple],
                   sets: Mapping[str, str], where: str = "", *, keys: int = 1) -> bool:
    """A conditional UPDATE of many rows in one statement, on PostgreSQL:
    ``UPDATE table SET sets FROM unnest(arrays) AS v(names) WHERE`` the
    first ``keys`` of ``names`` equal the table's columns of those names
    ``AND where``. Each row is a tuple in the order of ``names`` (columns of
    ``table``: each array is cast to its column's type, its values bind
    processed, times of mixed kinds made one as in ``fast_update_rows``);
    in ``sets`` (a column to an SQL expression) and ``where``, ``v.name`` is a
    row's value and ``table.name`` the stored one. Run with sequential scans
    off, as ``fast_update_rows`` (the keys should lead an index). ``sets``
    and ``where`` are SQL from the caller's code, never from input.

    Returns False where it did nothing: not PostgreSQL, two rows naming one
    key (in an executemany the later row's condition sees what the earlier
    one set; in one UPDATE … FROM one of them would hold) or times of mixed
    kinds in a session not in UTC; the caller then runs its executemany."""
    if not rows or conn.dialect.name != "postgresql":
        return not rows
    for c in (*names, *sets):
        if c not in table.c:
            raise KeyError(f"{table.name} has no column {c!r}")
    if len({r[:keys] for r in rows}) < len(rows):
        return False
    dconn = conn.connection.driver_connection
    ph = _array_ph(dconn)
    entry_key = (table.name, names, tuple(sets.items()), where, keys, ph)
    entry = _UPDATE_FROM.get(entry_key)
    if entry is None:
        from sqlalchemy import bindparam, update

        compiled = update(table).values(
            {c: bindparam(c, type_=table.c[c].type) for c in names}).compile(
            dialect=conn.dialect)
        bind = _processors(compiled, table)
        types = [_array_type(table, c, conn.dialect) for c in names]
        conds = [f"{table.name}.{k} = v.{k}" for k in names[:keys]] + ([f"({where})"] if where else [])
        sql = (f"UPDATE {table.name} SET " + ", ".join(f"{c} = {e}" for c, e in sets.items())
               + " FROM unnest(" + ", ".join(f"{ph}::{t}[]" for t in types)
               + f") AS v({', '.join(names)}) WHERE " + " AND ".join(conds))
        if len(_UPDATE_FROM) > 256:
            _UPDATE_FROM.clear()
        entry = _UPDATE_FROM[entry_key] = (sql, tuple(bind.get(c) for c in names))
    sql, procs = entry
    arrays = _pg_arrays(dconn, table, names, procs, rows)
    if arrays is None:
        return False
    _pg_by_index(dconn, sql, arrays)
    return True


# SQLite's limit on a statement's parameters was 999 before 3.32: an IN (…) of
# bound values takes at most this many (the ingest writer's IN_CHUNK)
SQLITE_IN_MAX = 900


def fast_delete_in(conn: Connection, table: Table, col: str, values: list[Any]) -> None:
    """``DELETE FROM table WHERE col IN values``: on PostgreSQL one statement
    of one array parameter (``= ANY``), whatever the number of values (the
    same text each time: parsed once by the driver), with sequential scans
    off as ``fast_select_in``'s lookups (the planner took a scan of 200,000
    waiting links for cheaper than 5,000 probes of their index on post_id:
    ~46 ms against ~26 ms); on SQLite ``IN`` lists of
    at most ``SQLITE_IN_MAX`` values. Values go to the driver as they are
    (integers, strings: no bind processing). ``col`` should lead an index."""
    if col not in table.c:
        raise KeyError(f"{table.name} has no column {col!r}")
    if not values:
        return
    dconn = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        typ = _array_type(table, col, conn.dialect)
        _pg_by_index(dconn, f"DELETE FROM {table.name} WHERE {col} = ANY({_array_ph(dconn)}::{typ}[])",
                     (list(values),))
        return
    ph = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cur = dconn.cursor()
    try:
        for i in range(0, len(values), SQLITE_IN_MAX):
            part = values[i:i + SQLITE_IN_MAX]
            cur.execute(f"DELETE FROM {table.name} WHERE {col} IN ({', '.join([ph] * len(part))})",
                        tuple(part))
    finally:
        cur.close()


def fast_select_in(conn: Connection, table: Table, cols: tuple[str, ...],
                   eq: tuple[str, Any] | None, in_col: str, values: list[Any], *,
                   where: Mapping[str, Any] | None = None, typed: bool = False
                   ) -> list[tuple]:
    """``SELECT cols FROM table WHERE eq[0] = eq[1] AND in_col IN values`` as
    plain DBAPI tuples; a lookup of a few hundred keys without SQLAlchemy's
    per-call statement expansion and row objects. ``(eq[0], in_col)`` should
    be a unique index (or lead an index); ``eq`` None: ``in_col`` alone (a key
    of its own: a raw record's hash, an edge's dedup_key). On PostgreSQL the
    lookup is planned to use an index (``INDEX_LOOKUP_SQL``).

    ``where``: more conditions, ANDed: a column to a value (``=``) or to a
    tuple of values (``IN``: a fixed set, e.g. compliance actions; an empty
    one matches nothing). Like ``eq[1]`` and ``values``, these go to the
    driver as they are (strings, integers: no bind processing). Rows come in
    no particular order.

    ``typed``: values as a SQLAlchemy select gives them (each column type's
    result processing: SQLite's text times as datetimes, its integer booleans
    as bools, JSON decoded); else as the driver gives them, for columns that
    need none (integers, strings) or callers that convert themselves."""
    if not values or (where and any(isinstance(v, tuple) and not v for v in where.values())):
        return []
    sql, params = _select_in(conn, table, cols, eq, in_col, values, where)
    dconn = conn.connection.driver_connection
    if conn.dialect.name != "postgresql":
        cur = dconn.cursor()
        try:
            cur.execute(sql, params)
            rows = list(cur.fetchall())
            desc = cur.description
        finally:
            cur.close()
    else:
        rows, desc = _pg_by_index(dconn, sql, params)
    if typed and rows:
        procs = _result_processors(conn, table, cols, tuple(d[1] for d in desc or ()))
        if procs is not None:
            return [tuple([v if p is None else p(v) for p, v in zip(procs, r, strict=True)])
                    for r in rows]
    return rows


_RESULT: dict[tuple, tuple | None] = {}


def _result_processors(conn: Connection, table: Table, cols: tuple[str, ...],
                       codes: tuple[Any, ...]) -> tuple | None:
    """The result processors of ``cols`` (None each where the driver's value is
    SQLAlchemy's too; None in all: none needed), as a select's result applies
    them (the type's dialect implementation, given the driver's type code)."""
    key = (conn.dialect.name, table.name, cols, codes)
    if key not in _RESULT:
        dialect = conn.dialect
        procs = tuple(table.c[c].type.dialect_impl(dialect).result_processor(
            dialect, codes[i] if i < len(codes) else None) for i, c in enumerate(cols))
        if len(_RESULT) > 1024:
            _RESULT.clear()
        _RESULT[key] = procs if any(p is not None for p in procs) else None
    return _RESULT[key]


def _pg_by_index(dconn: Any, sql: str, params: Any) -> tuple[list, Any]:
    """Run ``sql`` on PostgreSQL with sequential scans off for it alone
    (``INDEX_LOOKUP_SQL``, set back after it); its rows (none for an UPDATE or
    a DELETE) and their description."""
    if not _pipelines(dconn):  # psycopg2, or a libpq before 14: three round trips
        with dconn.cursor() as cur:
            cur.execute(INDEX_LOOKUP_SQL)
            cur.execute(sql, params)
            desc = cur.description
            rows = list(cur.fetchall()) if desc else []
            # (not where the statement failed: the transaction is aborted, and
            # its end undoes the setting anyway)
            cur.execute(INDEX_LOOKUP_END_SQL)
            return rows, desc
    # the setting, the statement and the setting back in one round trip (on a
    # loaded machine two more round trips cost about what a lookup does)
    with dconn.cursor() as on, dconn.cursor() as cur, dconn.cursor() as off:
        with dconn.pipeline():
            on.execute(INDEX_LOOKUP_SQL)
            cur.execute(sql, params)
            off.execute(INDEX_LOOKUP_END_SQL)
        desc = cur.description
        return (list(cur.fetchall()) if desc else []), desc


def _pipelines(dconn: Any) -> bool:
    """Whether the driver connection can send statements in a pipeline
    (psycopg 3 with libpq 14 or later)."""
    pipeline = getattr(type(dconn), "pipeline", None)
    if pipeline is None:
        return False
    import psycopg

    return bool(psycopg.Pipeline.is_supported())


# A lookup by key (``fast_select_in``) is planned with sequential scans off, for
# this statement only (SET LOCAL, set back after it): the planner took a scan
# of the whole table for cheaper than a few hundred probes of the unique index
# up to ~30,000 rows (random_page_cost 4, the default), where the probes took
# ~1-3 ms and the scan ~5 ms at 20,000 posts, and growing with the table. Only
# an index whose leading columns the lookup names serves it then: with
# statistics, the unique one (``Store.analyze_new`` sees that a store's
# tables have them); a table without a usable index is still scanned.
INDEX_LOOKUP_SQL = "SET LOCAL enable_seqscan = off"
INDEX_LOOKUP_END_SQL = "SET LOCAL enable_seqscan TO DEFAULT"


def _select_in(conn: Connection, table: Table, cols: tuple[str, ...],
               eq: tuple[str, Any] | None, in_col: str, values: list[Any],
               where: Mapping[str, Any] | None = None) -> tuple[str, tuple[Any, ...]]:
    more = dict(where or {})
    for c in (*cols, *(eq[:1] if eq else ()), in_col, *more):
        if c not in table.c:
            raise KeyError(f"{table.name} has no column {c!r}")
    pg = conn.dialect.name == "postgresql"
    ph = "%s" if pg or conn.dialect.paramstyle != "qmark" else "?"
    conds: list[str] = []
    first: list[Any] = []
    for c, v in ([eq] if eq else []) + list(more.items()):
        if not isinstance(v, tuple):
            conds.append(f"{c} = {ph}")
            first.append(v)
        elif pg:  # (a fixed set: an array too, one statement text whatever its size)
            conds.append(f"{c} = ANY({ph})")
            first.append(list(v))
        else:
            conds.append(f"{c} IN ({', '.join([ph] * len(v))})")
            first.extend(v)
    where_sql = "".join(f"{c} AND " for c in conds)
    if pg:
        # one array parameter: the same statement text each time, which the
        # driver parses once (a statement of 900 placeholders it parsed at
        # every call, ~10 ms of client CPU each), and the same index lookup;
        # with psycopg 3 in binary (a list dumped in C: ``_array_ph``),
        # strings cast to their column's unbounded type
        arr = _array_ph(conn.connection.driver_connection)
        if arr != "%s" and isinstance(table.c[in_col].type, String):
            arr += f"::{_array_type(table, in_col, conn.dialect)}[]"
        sql = f"SELECT {', '.join(cols)} FROM {table.name} WHERE {where_sql}{in_col} = ANY({arr})"
        return sql, (*first, list(values))
    sql = (f"SELECT {', '.join(cols)} FROM {table.name} WHERE {where_sql}"
           f"{in_col} IN ({', '.join([ph] * len(values))})")
    return sql, (*first, *values)


def select_in_plan(conn: Connection, table: Table, cols: tuple[str, ...],
                   eq: tuple[str, Any] | None, in_col: str, values: list[Any], *,
                   where: Mapping[str, Any] | None = None) -> list[str]:
    """The plan the database makes for ``fast_select_in`` with these arguments,
    as it makes it there (its lines of EXPLAIN, or of SQLite's EXPLAIN QUERY
    PLAN): to check that a lookup uses an index."""
    sql, params = _select_in(conn, table, cols, eq, in_col, values, where)
    cur = conn.connection.driver_connection.cursor()
    try:
        if conn.dialect.name != "postgresql":
            cur.execute("EXPLAIN QUERY PLAN " + sql, params)
            return [str(r[-1]) for r in cur.fetchall()]
        cur.execute(INDEX_LOOKUP_SQL)
        cur.execute("EXPLAIN " + sql, params)
        lines = [str(r[0]) for r in cur.fetchall()]
        cur.execute(INDEX_LOOKUP_END_SQL)
        return lines
    finally:
        cur.close()
