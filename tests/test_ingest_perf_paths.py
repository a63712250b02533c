"""The fast write paths of ingest store exactly what the plain SQLAlchemy paths
store, on SQLite and PostgreSQL, and the speed-ups leave no trace behind
(GC settings restored, history kept, counts per batch unchanged)."""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import bindparam, insert, select, update
from tests.helpers import count

from rasd.ingest import ingest_path
from rasd.ingest.runner import GC_THRESHOLDS, relaxed_gc
from rasd.store import schema as S
from rasd.store.upsert import fast_insert, fast_select_in, fast_update, select_in_plan

T0 = datetime(2024, 5, 1, 12, 30, 5, 123456, tzinfo=UTC)


def _acc(i: int, **over) -> dict:
    row = {"platform": "x", "platform_id": f"u{i}", "handle": f"h{i}",
           "name": "Ünïcode \u202e name" if i % 2 else None, "bio": "b\nio" * i,
           "created_at": T0 if i % 3 else None, "kind": "user", "followers": i * 1000,
           "following": None, "post_count": 2**30 + i, "location": None, "url": None,
           "verified": bool(i % 2), "stub": i % 4 == 0,
           "extra": {"k": [1, "z", {"n": None}], "i": i} if i % 2 else None,
           "content_hash": f"h{i}", "raw_sha256": None, "raw_path": None,
           "source_id": None, "first_seen": T0, "last_seen": T0}
    row.update(over)
    return row


def _dump(store, table) -> list[tuple]:
    with store.connect() as c:
        cols = [col for col in table.c if col.name != "id"]
        return [tuple(r) for r in c.execute(select(*cols).order_by(table.c.platform_id))]


def test_fast_insert_and_update_store_what_sqlalchemy_stores(store):
    a = S.accounts
    fast_rows = [_acc(i) for i in range(1, 9)]
    plain_rows = [_acc(i, platform="y") for i in range(1, 9)]
    with store.begin() as c:
        fast_insert(c, a, fast_rows)
        fast_insert(c, a, fast_rows[:2])  # ON CONFLICT DO NOTHING: no error, no change
        c.execute(insert(a), plain_rows)
    with store.connect() as c:
        ids = {(r.platform, r.platform_id): r.id for r in c.execute(select(a))}
    new = {"name": "Renamed", "bio": None, "followers": 7, "verified": False,
           "extra": {"after": True}, "last_seen": datetime(2025, 1, 2, tzinfo=UTC)}
    with store.begin() as c:
        fast_update(c, a, [{**new, "followers": i, "b_id": ids[("x", f"u{i}")]}
                           for i in (1, 2, 5)])
        c.execute(update(a).where(a.c.id == bindparam("b_id")).values(
            {k: bindparam(k) for k in new}),
            [{**new, "followers": i, "b_id": ids[("y", f"u{i}")]} for i in (1, 2, 5)])
    fast = [r[1:] for r in _dump(store, a) if r[0] == "x"]
    plain = [r[1:] for r in _dump(store, a) if r[0] == "y"]
    assert len(fast) == 8 and fast == plain
    assert sum("Renamed" in r for r in fast) == 3


@pytest.mark.parametrize("pipeline", [True, False])
def test_fast_select_in_matches_a_select(store, pipeline, monkeypatch):
    """The lookup gives what a select gives, and on PostgreSQL leaves the
    transaction's planner settings as they were (it turns sequential scans off
    for itself alone), whether it sends its statements in one pipeline or one
    by one (psycopg2, an older libpq)."""
    import rasd.store.upsert as U

    if not pipeline:
        if store.is_sqlite:
            pytest.skip("the pipeline is PostgreSQL's")
        monkeypatch.setattr(U, "_pipelines", lambda dconn: False)
    a = S.accounts
    with store.begin() as c:
        fast_insert(c, a, [_acc(i) for i in range(1, 30)])
        want = {(r.id, r.platform_id, r.content_hash) for r in c.execute(
            select(a.c.id, a.c.platform_id, a.c.content_hash).where(
                a.c.platform == "x", a.c.platform_id.in_(["u3", "u7", "u29"])))}
        got = fast_select_in(c, a, ("id", "platform_id", "content_hash"), ("platform", "x"),
                             "platform_id", ["u3", "u7", "u29", "nobody", "u3"])
        assert set(got) == want and len(want) == 3
        assert fast_select_in(c, a, ("id",), ("platform", "x"), "platform_id", []) == []
        assert fast_select_in(c, a, ("id",), ("platform", "y"), "platform_id", ["u3"]) == []
        with pytest.raises(KeyError):
            fast_select_in(c, a, ("id", "no_such"), ("platform", "x"), "platform_id", ["u3"])
        if not store.is_sqlite:
            assert c.exec_driver_sql("SHOW enable_seqscan").scalar_one() == "on"


def test_key_lookups_probe_the_unique_indexes_once_the_store_holds_a_batch(store, tmp_path):
    """After the first batches of an ingest into a fresh store, the writer's
    lookups by key (``fast_select_in``: a batch's accounts and posts) probe the
    unique index on (platform, platform_id). On PostgreSQL a table never
    analyzed has no statistics, and the planner then read every row of the
    platform through any index on ``platform`` alone (the accounts' handle
    index too), a scan of the table for each lookup until autovacuum analyzed
    it, if ever; with statistics it still took a sequential scan for cheaper
    below ~30,000 rows. The writer now analyzes such tables once they hold a
    batch (``Store.analyze_new``), and the lookups run with sequential scans
    off. Checked by the plan, not by time."""
    from benchmarks.ingest import generate

    f = tmp_path / "pages.jsonl"
    generate(f, posts=400, n_users=200)
    rep = ingest_path(store, f, batch_size=100, jobs=1)
    assert rep.counts["by_kind"]["posts"]["new"] == 400
    with store.connect() as c:
        for t, index in ((S.posts, "uq_posts_platform"), (S.accounts, "uq_accounts_platform")):
            stored = list(c.execute(select(t.c.platform_id).order_by(t.c.id).limit(10)).scalars())
            keys = stored + [f"9{i}" for i in range(10)]  # ten stored, ten new
            plan = select_in_plan(c, t, ("id", "platform_id"), ("platform", "x"),
                                  "platform_id", keys)
            text = "\n".join(plan)
            if store.is_sqlite:  # (the unique constraint's own index)
                assert f"SEARCH {t.name} USING" in text, text
                assert "INDEX sqlite_autoindex_" in text, text
                assert "(platform=? AND platform_id=?)" in text, text
                continue
            assert "Seq Scan" not in text, text
            assert any(index in line for line in plan if "Index" in line), text
            conds = [line for line in plan if "Index Cond" in line]
            assert conds and all("platform_id" in line for line in conds), text
            assert c.exec_driver_sql("SHOW enable_seqscan").scalar_one() == "on"
        if not store.is_sqlite:  # the lookup tables that hold rows were analyzed
            assert c.exec_driver_sql(
                "SELECT count(*) FROM pg_class WHERE oid IN ('posts'::regclass, "
                "'accounts'::regclass, 'raw_records'::regclass) AND reltuples > 0"
            ).scalar_one() == 3


def test_analyze_new_analyzes_the_tables_that_hold_rows_but_have_no_statistics(store):
    """PostgreSQL: ANALYZE of the tables never analyzed that hold rows (in the
    caller's transaction: its own rows count), once; empty ones are told apart
    (the writer looks at them again next batch). Names only, never input."""
    a = S.accounts
    with store.write() as c:
        first = store.analyze_new(c)
        fast_insert(c, a, [_acc(i) for i in range(1, 9)])
        second = store.analyze_new(c, ["accounts", "posts", "no_such_table"])
        third = store.analyze_new(c, ["accounts", "posts"])
        with pytest.raises(ValueError):
            store.analyze_new(c, ['posts"; DROP TABLE posts; --'])
    if store.is_sqlite:  # nothing to do there
        assert first == second == third == ([], [], [])
        return
    assert first.done == first.denied == [] and set(first.empty) >= {
        "accounts", "posts", "raw_records"}
    assert second == (["accounts"], ["posts"], [])
    assert third == ([], ["posts"], [])


def _analyzed_once(store, table: str) -> bool:
    """Whether the server counts ``table`` analyzed (before PostgreSQL 15 its
    statistics collector says so up to half a second later)."""
    import time

    for _ in range(50):
        with store.connect() as c:
            if c.exec_driver_sql(f"SELECT pg_stat_get_analyze_count('{table}'::regclass)"
                                 ).scalar_one():
                return True
        time.sleep(0.1)
    return False


def test_analyze_new_does_not_take_a_table_only_vacuumed_for_analyzed(pg_store):
    """A VACUUM sets the table's size for the planner (pg_class.reltuples)
    without statistics of its columns; analyze_new, which looked at reltuples
    alone, took such a table for analyzed, and its lookups went on without
    statistics. Now it also asks whether the table was ever analyzed."""
    with pg_store.begin() as c:
        fast_insert(c, S.accounts, [_acc(i) for i in range(1, 50)])
    with pg_store.engine.connect() as c:
        c = c.execution_options(isolation_level="AUTOCOMMIT")
        c.exec_driver_sql("VACUUM accounts")
        assert c.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = 'accounts'::regclass").scalar_one() == 49
    stats = ("SELECT count(*) FROM pg_stats WHERE schemaname = current_schema() "
             "AND tablename = 'accounts'")
    with pg_store.write() as c:
        assert c.exec_driver_sql(stats).scalar_one() == 0
        assert pg_store.analyze_new(c, ["accounts"]) == (["accounts"], [], [])
        assert c.exec_driver_sql(stats).scalar_one() > 0
    assert _analyzed_once(pg_store, "accounts")
    with pg_store.write() as c:  # once
        assert pg_store.analyze_new(c, ["accounts"]) == ([], [], [])


def test_a_role_that_does_not_own_the_tables_ingests_with_one_warning(pg_store, tmp_path,
                                                                      caplog):
    """A database role that may write the store's tables but not ANALYZE them
    (not their owner) ingests as before, its lookups planned without
    statistics: said in one warning a run, not one per batch, and not at all
    once the owner has analyzed the tables. (ANALYZE skipped each table with a
    warning of the server's that no client showed, every batch that found it
    so.)"""
    import logging
    import uuid

    import sqlalchemy as sa
    from benchmarks.ingest import generate
    from tests.conftest import PG_URL

    from rasd.store import Store

    assert PG_URL
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    with pg_store.connect() as c:
        schema = c.exec_driver_sql("SELECT current_schema()").scalar_one()
    role = "rasd_guest_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(url)
    try:
        with admin.begin() as c:
            c.exec_driver_sql(f'CREATE ROLE "{role}"')
    except sa.exc.ProgrammingError as e:
        admin.dispose()
        pytest.skip(f"the test's database role may not create roles: {e}")
    guest = None
    try:
        with admin.begin() as c:
            c.exec_driver_sql(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
            c.exec_driver_sql(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA '
                              f'"{schema}" TO "{role}"')
            c.exec_driver_sql(f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA '
                              f'"{schema}" TO "{role}"')
        sep = "&" if "?" in url else "?"
        guest = Store.open(f"{url}{sep}options=-csearch_path%3D{schema}%20-crole%3D{role}")
        f = tmp_path / "pages.jsonl"
        generate(f, posts=600, n_users=100)
        with caplog.at_level(logging.WARNING, logger="rasd.ingest"):
            rep = ingest_path(guest, f, batch_size=100, jobs=1)
            again = ingest_path(guest, f, batch_size=100, jobs=1)
        assert rep.counts["by_kind"]["posts"]["new"] == 600
        assert again.counts["new"] == again.counts["updated"] == 0
        warned = [r.getMessage() for r in caplog.records if r.name == "rasd.ingest"]
        assert len(warned) == 2, warned  # one a run (of 6 batches each)
        assert all("accounts" in w and "posts" in w and "ANALYZE" in w for w in warned)
        with guest.write() as c:
            got = guest.analyze_new(c)
            assert c.exec_driver_sql("SELECT current_user").scalar_one() == role
        assert got.done == [] and {"accounts", "posts", "raw_records"} <= set(got.denied)
        with pg_store.write() as c:  # the owner may
            assert {"accounts", "posts", "raw_records"} <= set(pg_store.analyze_new(c).done)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="rasd.ingest"):
            ingest_path(guest, f, batch_size=100, jobs=1)
        assert [r for r in caplog.records if r.name == "rasd.ingest"] == []
    finally:
        if guest is not None:
            guest.close()
        with admin.begin() as c:
            c.exec_driver_sql(f'DROP OWNED BY "{role}"')
            c.exec_driver_sql(f'DROP ROLE "{role}"')
        admin.dispose()


def test_executemany_statements_are_prepared_on_postgresql(pg_store):
    """An executemany of the fast paths (an INSERT of values, an UPDATE by id)
    is prepared: parsed once for all its rows, though the connection prepares
    nothing else (``db._pg_session``)."""
    a = S.accounts
    with pg_store.begin() as c:
        fast_insert(c, a, [_acc(i) for i in range(1, 9)])  # few rows: no COPY
        ids = [r[0] for r in c.execute(select(a.c.id))]
        fast_update(c, a, [{"followers": 7, "b_id": i} for i in ids])
        prepared = c.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars()
        assert {s.split()[0] + " " + s.split()[2 if s.startswith("INSERT") else 1]
                for s in prepared} == {"INSERT accounts", "UPDATE accounts"}
        assert c.connection.driver_connection.prepare_threshold is None  # as it was
        assert c.execute(select(a.c.followers).distinct()).scalars().all() == [7]


def test_relaxed_gc_restores_thresholds():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), relaxed_gc():
        assert gc.get_threshold()[0] >= GC_THRESHOLDS[0]
        raise RuntimeError("boom")
    assert gc.get_threshold() == before


def _page(users: list[dict], tweets: list[dict]) -> bytes:
    return orjson.dumps({"data": tweets, "includes": {"users": users}}) + b"\n"


def _user(i: int, bio: str = "bio") -> dict:
    return {"id": str(100 + i), "username": f"user{i}", "name": f"User {i}",
            "description": bio, "public_metrics": {"followers_count": i}}


def _tweet(tid: int, author: int, text: str = "hello") -> dict:
    return {"id": str(tid), "author_id": str(100 + author), "text": text,
            "created_at": "2024-01-02T03:04:05.000Z",
            "entities": {"hashtags": [{"tag": "Tag"}],
                         "mentions": [{"username": "user1", "id": "101"}]}}


def test_repeated_profiles_across_batches_history_and_gc(store, tmp_path: Path):
    """Small batches: a profile repeated on every page is new once, then
    unchanged; a changed profile and an edited text are updated with their old
    version kept; GC thresholds are left as found."""
    f = tmp_path / "pages.jsonl"
    lines = []
    for page in range(6):
        bio = "old bio" if page < 4 else "new bio"  # user 2 changes on page 4
        users = [_user(1), _user(2, bio), _user(3 + page)]
        text = "first text" if page < 5 else "edited text"  # tweet 1 re-sent edited
        tweets = [_tweet(1, 2, text), _tweet(10 + page, 1), _tweet(20 + page, 3 + page)]
        lines.append(_page(users, tweets))
    f.write_bytes(b"".join(lines))
    before = gc.get_threshold()
    rep = ingest_path(store, f, batch_size=4)
    assert gc.get_threshold() == before
    acc = rep.counts["by_kind"]["accounts"]
    posts = rep.counts["by_kind"]["posts"]
    assert acc["new"] == 2 + 6 and acc["updated"] == 1
    assert posts["new"] == 1 + 6 + 6 and posts["updated"] == 1
    assert count(store, S.account_versions) == 1
    assert count(store, S.post_versions) == 1
    with store.connect() as c:
        old = c.execute(select(S.account_versions.c.bio)).scalar_one()
        assert old == "old bio"
        cur = c.execute(select(S.accounts.c.bio).where(
            S.accounts.c.platform_id == "102")).scalar_one()
        assert cur == "new bio"
        assert c.execute(select(S.post_versions.c.text)).scalar_one() == "first text"
        assert c.execute(select(S.posts.c.text).where(
            S.posts.c.platform_id == "1")).scalar_one() == "edited text"
    edges, tags = count(store, S.edges), count(store, S.hashtags)
    # a re-run replays the file's own change (old → new again): nothing new, the
    # latest version is current again, no duplicate edges or hashtags
    again = ingest_path(store, f, batch_size=4)
    assert again.counts["new"] == 0
    assert again.counts["by_kind"]["accounts"]["unchanged"] >= 6 * 3 - 2
    assert count(store, S.edges) == edges and count(store, S.hashtags) == tags
    with store.connect() as c:
        assert c.execute(select(S.accounts.c.bio).where(
            S.accounts.c.platform_id == "102")).scalar_one() == "new bio"
        assert c.execute(select(S.posts.c.text).where(
            S.posts.c.platform_id == "1")).scalar_one() == "edited text"


def test_fast_sqlite_processors_write_what_sqlalchemy_writes():
    """The C-speed DATETIME and JSON processors for SQLite give exactly the
    text SQLAlchemy's own processors give, on random times in every zone and
    on nested JSON."""
    import random
    from datetime import date, timedelta, timezone

    from sqlalchemy.dialects import sqlite

    from rasd.store.db import json_dumps
    from rasd.store.upsert import _processors

    d = sqlite.dialect(json_serializer=json_dumps)
    comp = S.posts.insert().values(
        {c.name: bindparam(c.name, type_=c.type) for c in S.posts.c}).compile(dialect=d)
    fast, slow = _processors(comp, S.posts), dict(comp._bind_processors)
    assert fast["created_at"] is not slow["created_at"]  # the fast path is in use
    rng = random.Random(7)
    for _ in range(5000):
        tz = rng.choice([None, UTC, timezone(timedelta(minutes=rng.randint(-900, 900)))])
        v = datetime(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28),
                     rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59),
                     rng.choice([0, rng.randint(0, 999_999)]), tzinfo=tz)
        assert fast["created_at"](v) == slow["created_at"](v), v
        assert fast["created_at"](v) == slow["created_at"](v)  # the reused last value
    for v in (None, date(2020, 1, 2)):
        assert fast["created_at"](v) == slow["created_at"](v)
    with pytest.raises(TypeError):
        fast["created_at"]("2020-01-01")
    for v in (None, {}, [], {"a": 1}, [1, {"x": "é\u202e"}], {"n": 2**40, "f": 0.1}):
        assert fast["metrics"](v) == slow["metrics"](v), v


def test_bulk_paths_store_what_sqlalchemy_stores(store):
    """Batches big enough for PostgreSQL's COPY path (and SQLite's executemany)
    store exactly what a plain SQLAlchemy insert stores: JSON, times in
    several zones, booleans, NULLs, unicode; ON CONFLICT DO NOTHING skips
    existing and repeated keys."""
    from datetime import timedelta, timezone

    from rasd.store.upsert import COPY_MIN_ROWS, fast_insert_rows

    a = S.accounts
    n = COPY_MIN_ROWS * 2

    def row(i: int, plat: str) -> dict:
        return _acc(i, platform=plat, created_at=None if i % 5 == 0 else datetime(
            2020, 1 + i % 12, 1 + i % 28, i % 24, 7, 8, i,
            tzinfo=UTC if i % 2 else timezone(timedelta(hours=-5))),
            bio=f"ب {i} \u202e «quoted» \\ tab\there\nline")
    fast = [row(i, "x") for i in range(1, n + 1)]
    plain = [row(i, "y") for i in range(1, n + 1)]
    by_tuple = [row(i, "z") for i in range(1, n + 1)]
    cols = tuple(fast[0])
    with store.begin() as c:
        fast_insert(c, a, fast + fast[:3])  # repeated keys in one batch: skipped
        fast_insert(c, a, fast[:COPY_MIN_ROWS])  # existing keys: skipped
        c.execute(insert(a), plain)
        fast_insert_rows(c, a, cols, [tuple(r[k] for k in cols) for r in by_tuple])
    rows = _dump(store, a)
    got = {p: [r[1:] for r in rows if r[0] == p] for p in "xyz"}
    assert len(got["y"]) == n
    assert got["x"] == got["y"] == got["z"]


def test_insert_returning_gives_the_ids_of_inserted_rows(store):
    """``fast_insert_rows(returning=…)``: on PostgreSQL's COPY path, the ids of
    the rows it inserted (not of rows skipped as already there); elsewhere
    nothing, and callers look up what they miss."""
    from rasd.store.upsert import COPY_MIN_ROWS, fast_insert_rows

    a = S.accounts
    n = COPY_MIN_ROWS * 2
    rows = [_acc(i, platform="r") for i in range(1, n + 1)]
    cols = tuple(rows[0])
    as_tuples = [tuple(r[k] for k in cols) for r in rows]
    with store.begin() as c:
        fast_insert_rows(c, a, cols, as_tuples[:10])
        got = fast_insert_rows(c, a, cols, as_tuples, returning=("id", "platform_id"))
    with store.connect() as c:
        ids = dict(c.execute(select(a.c.platform_id, a.c.id).where(a.c.platform == "r")).all())
    assert len(ids) == n
    first = {r[cols.index("platform_id")] for r in as_tuples[:10]}
    if store.is_sqlite:
        assert got == []
    else:
        assert sorted(got) == sorted((i, p) for p, i in ids.items() if p not in first)
        assert len(got) == n - 10


def test_is_older_compares_as_utc_whatever_the_zones():
    """``is_older`` compares two UTC (or two naive) times as they are, and any
    other pair through UTC: the same answer either way, naive taken as UTC."""
    import random
    from datetime import timedelta, timezone
    from zoneinfo import ZoneInfo

    from rasd.ingest.writer import _utc_naive, is_older

    rng = random.Random(11)
    zones = [None, UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(0)),
             ZoneInfo("Europe/Berlin")]
    base = datetime(2024, 10, 27, 0, 30)
    for _ in range(3000):
        a, b = (base + timedelta(minutes=rng.randint(-300, 300)) for _ in range(2))
        a, b = (t.replace(tzinfo=rng.choice(zones), fold=rng.randint(0, 1)) for t in (a, b))
        assert is_older(a, b) == (_utc_naive(a) < _utc_naive(b)), (a, b)
    assert not is_older(None, base) and not is_older(base, None)
    assert is_older(base.replace(tzinfo=UTC), base + timedelta(seconds=1))


_ODD_VALUES = [None, "", " ", "0", "123", "00", "\uff11\uff12", "\u0663", "12\x1b", "a\x00b",
               "x" * 250, "9" * 190, "9" * 191, "\u202eevil", 5, -7, 2**62, 2**62 - 1,
               -(2**62), 2**63, 1.5, float("nan"), True, False, [], {}, [1], {"a": None},
               "1,234", "1.234"]


def _outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except Exception as e:  # noqa: BLE001 - the error is what is compared
        return (type(e).__name__, str(e))


def _same(a, b) -> bool:
    return a == b or (a[0] == b[0] == "ok" and a[1] != a[1] and b[1] != b[1])  # nan


def test_x_mapping_fast_paths_take_what_the_checking_helpers_take():
    """``user_v2`` and ``tweet_v2`` take common values without calling the
    checking helpers: for any value of each field, the result (or the error,
    its type and message) is what the helper gives."""
    from rasd.ingest.base import clean_text, opt_int, opt_str, parse_time, plain_json, req_id
    from rasd.ingest.x import tweet_v2, user_v2

    f = "includes.users[3]"
    user_fields = {
        "id": (lambda v: req_id(v, f"{f}.id"), lambda a: a.platform_id),
        "username": (lambda v: opt_str(v, f"{f}.username", 200), lambda a: a.handle),
        "name": (lambda v: clean_text(v, f"{f}.name"), lambda a: a.name),
        "description": (lambda v: clean_text(v, f"{f}.description"), lambda a: a.bio),
        "location": (lambda v: clean_text(v, f"{f}.location"), lambda a: a.location),
        "url": (lambda v: opt_str(v, f"{f}.url"), lambda a: a.url),
        "verified": (lambda v: v if isinstance(v, bool) else None, lambda a: a.verified),
        "protected": (lambda v: plain_json(v, f"{f}.protected", depth=0),
                      lambda a: a.extra["protected"]),
        "created_at": (lambda v: parse_time(v, f"{f}.created_at"), lambda a: a.created_at),
    }
    checked = 0
    for key, (helper, got) in user_fields.items():
        for v in _ODD_VALUES:
            u = {"id": "1", "username": "u", key: v}
            want = _outcome(helper, v)
            have = _outcome(lambda u=u, got=got: got(user_v2(u, None, f)))
            assert _same(have, want), (key, v, have, want)
            checked += 1
    for key in ("followers_count", "following_count", "tweet_count"):
        attr = {"followers_count": "followers", "following_count": "following",
                "tweet_count": "post_count"}[key]
        for v in _ODD_VALUES:
            u = {"id": "1", "public_metrics": {key: v}}
            assert _same(_outcome(lambda u=u, attr=attr: getattr(user_v2(u, None, f), attr)),
                         _outcome(opt_int, v, key)), (key, v)
    t = "data[7]"
    tweet_fields = {
        "id": (lambda v: req_id(v, f"{t}.id"), lambda p: p.platform_id),
        "text": (lambda v: clean_text(v, f"{t}.text"), lambda p: p.text),
        "author_id": (lambda v: None if v is None else req_id(v, f"{t}.author_id"),
                      lambda p: p.account_id),
        "lang": (lambda v: opt_str(v, f"{t}.lang", 16), lambda p: p.lang),
        "conversation_id": (lambda v: opt_str(v, f"{t}.conversation_id", 200),
                            lambda p: p.conversation_id),
        "created_at": (lambda v: parse_time(v, f"{t}.created_at"), lambda p: p.created_at),
    }
    for key, (helper, got) in tweet_fields.items():
        for v in _ODD_VALUES:
            tw = {"id": "5", "text": "hi", "author_id": "1", key: v}
            want = _outcome(helper, v)
            have = _outcome(lambda tw=tw, got=got: got(tweet_v2(tw, None, {}, {}, t)))
            assert _same(have, want), (key, v, have, want)
            checked += 1
    for v in _ODD_VALUES:
        tw = {"id": "5", "text": "hi", "referenced_tweets": [{"type": "quoted", "id": v}]}
        assert _same(_outcome(lambda tw=tw: tweet_v2(tw, None, {}, {}, t).links[0].target_post_id),
                     _outcome(req_id, v, f"{t}.referenced_tweets.id")), v
    assert checked == (len(user_fields) + len(tweet_fields)) * len(_ODD_VALUES)


def test_parse_time_fast_path_reads_what_the_general_path_reads():
    """``parse_time`` reads a time ending in "Z" with ``fromisoformat``
    alone: the same time, or the same error, as the general path, on every
    ISO 8601 shape and on random strings."""
    import itertools
    import random

    from rasd.ingest.base import _any_time, parse_time

    dates = ["2024-03-11", "20240311", "2024-W10-1", "2024-071", "2024-03", "0001-01-01",
             "9999-12-31", "2024-02-30", ""]
    times = ["12", "12:34", "1234", "12:34:56", "123456", "12:34:56.1", "12:34:56.123",
             "12:34:56.123456", "12:34:56,123", "12:34:56.1234567", "24:00", "23:59:60", ""]
    cands = {d + s + t + z for d, s, t, z in itertools.product(
        dates, ["T", " ", "t", ""], times, ["Z", "+00:00Z", "ZZ", "z", " Z", "+01:00"])}
    # UTC as an offset, with a "Z" or "z" as the separator too (fromisoformat reads
    # "2024-03-01Z10:00+00:00"; the general path does not); not "...Z" with a "Z"
    # separator, which the "Z" fast path reads and the general path refuses (kept
    # as it was)
    cands |= {d + s + t + z for d, s, t, z in itertools.product(
        dates, ["T", " ", "t", "", "Z", "z"], times,
        ["+00:00", "-00:00", "+00:00:00", " +00:00", "Z+00:00", "+00:00 ", "+01:00"])}
    rng = random.Random(3)
    cands |= {c for c in ("".join(rng.choice("0123456789-:T.Z+ W,") for _ in range(
        rng.randint(1, 26))) + rng.choice(["Z", "+00:00"]) for _ in range(8000))
        if not (c.endswith("Z") and "Z" in c[:-1])}
    fast = 0
    for c in sorted(cands):
        want = _outcome(_any_time, c, "f")
        got = _outcome(parse_time, c, "f")
        assert got == want, (c, got, want)
        fast += got[0] == "ok" and c.endswith(("Z", "+00:00"))
        if got[0] == "ok":
            assert got[1].tzinfo is want[1].tzinfo
    assert fast > 200
    import sys

    called: list[str] = []
    sys.setprofile(lambda frame, event, arg: called.append(frame.f_code.co_name)
                   if event == "call" else None)
    try:
        for c in ("2024-03-11T12:34:00.000Z", "2024-03-01 10:00:00+00:00"):
            parse_time(c, "f")
    finally:
        sys.setprofile(None)
    assert "_any_time" not in called  # (the fast paths were taken)


def test_post_kind_is_the_enums_lookup():
    """``writer._post_kind`` gives what ``PostKind(kind)`` gives, errors too."""
    from rasd.ingest.writer import _post_kind
    from rasd.model import PostKind

    for k in [*PostKind, *(k.value for k in PostKind), "nope", "", None, 3, []]:
        assert _outcome(_post_kind, k) == _outcome(PostKind, k), k
        if k in list(PostKind):
            assert _post_kind(k) is PostKind(k)


def test_parse_time_v1_fast_path_reads_what_strptime_reads():
    """``parse_time`` reads X v1.1's UTC form ("Wed Oct 10 20:19:24 +0000
    2018") with a regular expression: the same time, or the same error, as
    the general path (strptime), for valid times, impossible ones (Feb 30,
    24:00, second 60, year 0), other zones and cases, odd digits and spacing."""
    import random

    from rasd.ingest.base import _any_time, parse_time

    days = ["Mon", "Wed", "Sun", "mon", "WED", "Xyz"]
    months = ["Jan", "Feb", "Oct", "Dec", "oct", "DEC", "Foo"]
    cands = {f"{d} {mo} {dd} {hh}:{mm}:{ss} {z} {y}"
             for d in days for mo in months for dd in ["01", "10", "29", "30", "31", "00", "32",
                                                       " 5", "5", "\u0661\u0662"]
             for hh, mm, ss in [("20", "19", "24"), ("00", "00", "00"), ("23", "59", "59"),
                                ("24", "00", "00"), ("12", "60", "00"), ("12", "00", "60"),
                                ("12", "00", "61"), ("1", "2", "3")]
             for z in ["+0000", "+0100", "-0000", "Z", "+00:00"]
             for y in ["2018", "2024", "2023", "0000", "0001", "9999", "\u0662\u0660\u0662\u0664"]}
    rng = random.Random(5)
    base = "Wed Oct 10 20:19:24 +0000 2018"
    for _ in range(4000):
        s = list(base)
        for _ in range(rng.randint(1, 3)):
            s[rng.randrange(len(s))] = rng.choice("0123456789 :+-ZabWFO\t")
        cands.add("".join(s))
    cands |= {" " + base, base + " ", base + "\n", base.replace(" ", "  ", 1)}
    fast = 0
    for c in sorted(cands):
        want = _outcome(_any_time, c, "f")
        got = _outcome(parse_time, c, "f")
        assert got == want, (c, got, want)
        if got[0] == "ok":
            assert got[1].tzinfo is want[1].tzinfo
            fast += len(c) == 30 and c[19:26] == " +0000 "
    assert fast > 500
    import sys

    called: list[str] = []
    sys.setprofile(lambda frame, event, arg: called.append(frame.f_code.co_filename)
                   if event == "call" else None)
    try:
        parse_time(base, "f")
    finally:
        sys.setprofile(None)
    assert not any(f.endswith("_strptime.py") for f in called)  # (the fast path was taken)


_ODD_CELLS = ["", " ", "0", "12", "007", "1,234", "1.234", "1 234", "1e5", "1.5e3", "-3",
              "+3", " 12 ", "12\n", "\uff11\uff12", "\u0663", "9" * 18, "9" * 19, "x",
              "a\x00b", "2.0", "1.2345678901234568e+18", "1,23457E+18", "user7", "us er",
              "\udcff", "\u202eevil", "1/6/2015 21:07", "2015-01-06 21:07:00", "1420578420",
              "1577886276.25", "Wed Oct 10 20:19:24 +0000 2018", "nan", "inf", "{x}"]


def test_csv_row_time_fast_path_reads_what_the_general_path_reads():
    """``row_time`` skips ``parse_time`` where it must fail and reads a
    mapping's numeric ``time_formats`` without strptime: the same time,
    canonical text and error as ``parse_time`` first, then strptime for each
    format, on valid, impossible and random cells."""
    import random

    from rasd.ingest import csvfmt
    from rasd.ingest.base import parse_time

    def reference(value, formats, field):  # row_time before its fast paths
        try:
            return parse_time(value, field), None
        except ValueError:
            if not value or not formats:
                raise
            for fmt in formats:
                try:
                    dt = datetime.strptime(value.strip(), fmt)
                except ValueError:
                    continue
                dt = (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)
                return dt, dt.strftime("%Y-%m-%d %H:%M:%S")
            raise

    format_lists = [["%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S"], ["%d.%m.%Y %H:%M:%S"],
                    ["%Y/%m/%d"], ["%d/%m/%Y %I:%M %p", "%d/%m/%Y"], ["%Y-%m-%d%"],
                    ["%Y %Y"], ["%d %b %Y %H:%M"], ["(%m) [%d] %Y+%H|%M"], []]
    cells = list(_ODD_CELLS)
    for m, d, y in [("1", "6", "2015"), ("12", "31", "1999"), ("2", "29", "2023"),
                    ("2", "29", "2024"), ("13", "1", "2015"), ("0", "1", "2015"),
                    ("01", " 5", "0999"), ("1", "00", "2015"), ("\u0661", "2", "2015")]:
        for t in ["21:07", "21:07:59", "21:07:60", "24:00", "9:5", "21:07:61", "", "  21:07",
                  "21:07 PM"]:
            cells += [f"{m}/{d}/{y} {t}", f"{d}.{m}.{y} {t}", f"{y}/{m}/{d}",
                      f"({m}) [{d}] {y}+{t.replace(':', '|')}", f" {m}/{d}/{y}\t{t} "]
    rng = random.Random(11)
    for _ in range(3000):
        s = list(rng.choice(cells) or "1/6/2015 21:07")
        for _ in range(rng.randint(1, 3)):
            s[rng.randrange(len(s))] = rng.choice("0123456789 /:.-+T\t")
        cells.append("".join(s))
    fast = 0
    for formats in format_lists:
        compiled = [csvfmt._time_format(f) for f in formats]
        for c in cells:
            want = _outcome(reference, c, formats, "created_at")
            got = _outcome(csvfmt.row_time, c, formats, "created_at", compiled)
            assert got == want, (formats, c, got, want)
            if got[0] == "ok" and got[1][1] is not None:
                assert got[1][0].tzinfo is want[1][0].tzinfo
                fast += compiled[0][1] is not None
    assert fast > 100


def test_csv_getters_and_cleaning_take_what_the_checking_helpers_take():
    """The per-file getters of a mapping give what ``_value`` gives, ``_count``
    what ``opt_int`` gives (errors too), and ``clean_ids`` / ``_has_bad_bytes``
    with their shortcuts what they gave without, on odd cells."""
    import itertools

    from rasd.ingest import csvfmt
    from rasd.ingest.base import opt_int

    specs = ["a", "b", "{a}", "{b}", "x{a}/{b}", "{a}{b}", "{a", "plain {", "{}", "{z}", "zz",
             "ch{a}", "{a}/{a}"]
    for spec in specs:
        get = csvfmt._getter(spec)
        for a, b in itertools.product(_ODD_CELLS, ["", "7", " x "]):
            for row in ({"a": a, "b": b}, {"a": a}, {}):
                assert _outcome(get, row) == _outcome(csvfmt._value, spec, row), (spec, row)
    assert csvfmt._getter(None) is None
    for c in _ODD_CELLS + ["0" * 18, "1" * 18, "4611686018427387904", "-0", "00"]:
        assert _same(_outcome(csvfmt._count, c, "followers"),
                     _outcome(opt_int, c, "followers")), c

    def clean_ids_before(row, cols):
        out = row
        for c in cols:
            v = row.get(c)
            if not v:
                continue
            w = v.strip()
            if csvfmt._INT_AS_FLOAT.fullmatch(w):
                w = w.split(".", 1)[0]
            elif csvfmt._FLOAT_NOTATION.fullmatch(w):
                raise ValueError(f"field {c!r}: {w!r} is an id in float notation (rounded by a "
                                 "spreadsheet or pandas: its digits are lost); export ids as text")
            if w != v:
                if out is row:
                    out = dict(row)
                out[c] = w
        return out

    def bad_before(row):
        for k, v in row.items():
            if isinstance(v, str) and not v.isascii():
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    return k
        return None

    for a, b in itertools.product(_ODD_CELLS, _ODD_CELLS):
        row = {"id": a, "user": b, "text": "ok"}
        assert _outcome(csvfmt.clean_ids, row, ["id", "user"]) == \
            _outcome(clean_ids_before, row, ["id", "user"]), row
        assert csvfmt._has_bad_bytes(row) == bad_before(row), row
    pair = {"a": "x\ud83d", "b": "\ude00y"}  # halves of a pair, in two cells: both bad
    assert csvfmt._has_bad_bytes(pair) == bad_before(pair) == "a"


def test_x_v1_mapping_fast_paths_take_what_the_checking_helpers_take():
    """``user_v1`` and ``tweet_v1`` (v1.1, the X web app, Zeeschuimer) take
    common values without the checking helpers: for any value of each field,
    the result (or the error, its type and message) is what the helper gives."""
    from rasd.ingest.base import clean_text, opt_int, opt_str, parse_time, req_id
    from rasd.ingest.x import tweet_v1, user_v1

    user_fields = {
        "id_str": (lambda v: req_id(v or None, "user.id_str"), lambda a: a.platform_id),
        "screen_name": (lambda v: opt_str(v, "user.screen_name", 200), lambda a: a.handle),
        "name": (lambda v: clean_text(v, "user.name"), lambda a: a.name),
        "description": (lambda v: clean_text(v, "user.description"), lambda a: a.bio),
        "location": (lambda v: clean_text(v, "user.location"), lambda a: a.location),
        "url": (lambda v: opt_str(v, "user.url"), lambda a: a.url),
        "verified": (lambda v: v if isinstance(v, bool) else None, lambda a: a.verified),
        "created_at": (lambda v: parse_time(v, "user.created_at"), lambda a: a.created_at),
        "followers_count": (lambda v: opt_int(v, "followers_count"), lambda a: a.followers),
        "friends_count": (lambda v: opt_int(v, "friends_count"), lambda a: a.following),
        "statuses_count": (lambda v: opt_int(v, "statuses_count"), lambda a: a.post_count),
    }
    odd = [*_ODD_VALUES, "Wed Oct 10 20:19:24 +0000 2018", "Wed Oct 10 20:19:24 +0100 2018"]
    for key, (helper, got) in user_fields.items():
        for v in odd:
            u = {"id_str": "1", "screen_name": "u", key: v}
            want = _outcome(helper, v)
            have = _outcome(lambda u=u, got=got: got(user_v1(u, None)))
            assert _same(have, want), (key, v, have, want)
    for name, handle in [(None, None), ("n", None), (None, "h"), ("", "")]:
        a = user_v1({"id_str": "1", "name": name, "screen_name": handle}, None)
        assert a.stub is (name is None and handle is None)
    tweet_fields = {
        "id_str": (lambda v: req_id(v or None, "id_str"), lambda p: p.platform_id),
        "full_text": (lambda v: clean_text(v, "text"), lambda p: p.text),
        "lang": (lambda v: opt_str(v, "lang", 16), lambda p: p.lang),
        "created_at": (lambda v: parse_time(v, "created_at"), lambda p: p.created_at),
    }
    for key, (helper, got) in tweet_fields.items():
        for v in odd:
            tw = {"id_str": "5", "full_text": "hi", "user": {"id_str": "1"}, key: v}
            want = _outcome(helper, v)
            have = _outcome(lambda tw=tw, got=got: got(tweet_v1(tw, None)[0]))
            assert _same(have, want), (key, v, have, want)


def test_capped_parse_builds_items_as_ijson_builds_them():
    """``capped_parse`` builds each item without ijson's ObjectBuilder: the
    same values (nested maps and arrays, empty ones, repeated keys: the last
    wins, scalars of every kind) and events as ObjectBuilder gave, and
    TOO_BIG / SKIPPED where it gave them."""
    import io
    import json
    import random

    import ijson

    from rasd.ingest.jsonitems import SKIPPED, TOO_BIG, ReadGuard, capped_parse

    def reference(data, items, limit, skip):  # capped_parse with ijson's ObjectBuilder
        f = ReadGuard(io.BytesIO(data), 1 << 20)
        builder, item_prefix, end, start, n = None, "", "", 0, 0
        opened = {"start_map": "end_map", "start_array": "end_array"}
        for prefix, event, value in ijson.parse(f, use_float=True):
            if builder is not None:
                if prefix == item_prefix and event == end:
                    yield prefix, "item", builder.value if isinstance(
                        builder, ijson.ObjectBuilder) else builder
                    builder = None
                elif isinstance(builder, ijson.ObjectBuilder):
                    builder.event(event, value)
                    if f.n - start > limit:
                        builder = TOO_BIG
                continue
            if prefix not in items or event in ("end_map", "end_array", "map_key"):
                yield prefix, event, value
                continue
            n += 1
            if event not in opened:
                yield prefix, "item", SKIPPED if n <= skip else value
                continue
            item_prefix, end, start = prefix, opened[event], f.n
            if n <= skip:
                builder = SKIPPED
            else:
                builder = ijson.ObjectBuilder()
                builder.event(event, value)

    rng = random.Random(9)

    def value(depth):
        r = rng.random()
        if depth > 4 or r < 0.3:
            return rng.choice([None, True, False, 0, -7, 2**40, 1.5, "", "x", "\u00e9\ud83d\ude00",
                               "a\\nb"])
        if r < 0.65:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {rng.choice("abc"): value(depth + 1) for _ in range(rng.randint(0, 4))}

    for trial in range(300):
        msgs = [value(0) for _ in range(rng.randint(0, 6))]
        doc = {"name": "c", "messages": msgs, "tail": value(1)}
        data = json.dumps(doc).encode()
        if trial % 3 == 0:  # a repeated key inside an item: the last one wins
            data = data.replace(b'"messages": [{"', b'"messages": [{"a": 1, "a": [2], "', 1)
        for limit, skip in [(1 << 20, 0), (1 << 20, 2), (40, 0), (0, 1)]:
            got = list(capped_parse(ReadGuard(io.BytesIO(data), 1 << 20), ("messages.item",),
                                    limit, skip=skip))
            want = list(reference(data, ("messages.item",), limit, skip))
            assert got == want, (data, limit, skip)
            assert [v for _, e, v in got if e == "item"] == [v for _, e, v in want if e == "item"]


def test_telethon_utf16_slice_and_seen_shortcuts():
    """``_utf16_slice`` slices ASCII text directly and ``_seen`` returns the
    message's time when it has no edit time: what the general ways give, for
    odd offsets, lengths, texts and times."""
    from rasd.ingest import telethon as T
    from rasd.ingest.base import latest, parse_time

    def slice_before(text, offset, length):
        if not (isinstance(offset, int) and isinstance(length, int)) or offset < 0 \
                or length <= 0:
            return None
        units = text.encode("utf-16-le", "surrogatepass")
        return units[2 * offset: 2 * (offset + length)].decode("utf-16-le", "replace") or None

    texts = ["", "#tag here", "a" * 50, "caf\u00e9 #x", "\U0001f600 #x", "\ud800 #x", "\x00#a"]
    nums = [None, -1, 0, 1, 2, 5, 9, 49, 50, 51, 10**6, True, False, 1.0, "1"]
    for t in texts:
        for o in nums:
            for n in nums:
                assert T._utf16_slice(t, o, n) == slice_before(t, o, n), (t, o, n)

    def seen_before(m, when):
        try:
            edited = parse_time(m.get("edit_date"), "edit_date") if m.get("edit_date") else None
        except ValueError:
            edited = None
        return latest(edited, when)

    when = T.parse_time("2024-03-01 10:00:00+00:00", "date")
    for edit in [None, "", 0, "2024-03-01 09:00:00+00:00", "2024-03-02T00:00:00Z", "junk",
                 1709290000, False]:
        for w in (when, None):
            assert T._seen({"edit_date": edit}, w) == seen_before({"edit_date": edit}, w)
    assert T._seen({}, when) is when


def test_telegram_html_message_parser_keeps_no_positions():
    """A Telegram HTML message is parsed without html.parser's line and column
    bookkeeping (``updatepos``): the same parts, text, links, media and errors
    as with it, on real-shaped, broken and random markup."""
    import random
    from _markupbase import ParserBase

    from rasd.ingest.telegram_html import _Message

    class Counting(_Message):
        updatepos = ParserBase.updatepos  # (html.parser's own)

    msg = ('<div class="message default clearfix" id="message5">\n<div class="body">\n'
           '<div class="pull_right date details" title="01.03.2024 10:00:00 UTC+03:00">\n10:00'
           '\n</div>\n<div class="from_name">\nBench\n</div>\n<div class="forwarded body">'
           '<div class="from_name">Other</div></div>\n<div class="media_wrap clearfix">'
           '<a class="media clearfix pull_left block_link media_photo" href="photos/p.jpg">'
           '<div class="fill pull_left"></div></a></div>\n<div class="text">\na<br>b &amp; '
           '&#x41; &bogus; #tag <a href="https://x.y/z">l</a>\n</div>\n'
           '<div class="signature details">\nSig\n</div>\n</div>\n</div>\n')
    docs = [msg, msg.replace("\n", "\r\n"), msg[:200], msg + "<!-- c\n -->", "<!DOCTYPE html>\n" + msg,
            msg.replace("<br>", "<![CDATA[x\n]]>"), "<?pi x\n?>" + msg,
            '<script>if (a<b) {\n}</script>' + msg, '<div class="text"\n', "</div junk>\n" + msg,
            "<a href='x'\nclass=\"y\">t</a>", "&#0;\n&#xffffffff;", "a <", "<!", "<!-", "<![if x]>"]
    rng = random.Random(2)
    for _ in range(300):
        s = list(msg)
        for _ in range(rng.randint(1, 6)):
            s[rng.randrange(len(s))] = rng.choice('<>/!-"\'=& \n\r?[]a')
        docs.append("".join(s))
    for d in docs:
        out = []
        for cls in (_Message, Counting):
            p = cls()
            try:
                p.feed(d)
                p.close()
                err = None
            except (AssertionError, ValueError) as e:
                err = (type(e).__name__, str(e))
            out.append((err, {k: v for k, v in vars(p).items() if k not in ("lineno", "offset")}))
        assert out[0] == out[1], d
    fast, counting = _Message(), Counting()
    for p in (fast, counting):
        p.feed(msg)
    assert counting.getpos()[0] > 1 and fast.getpos() == (1, 0)  # (no line counted)


def test_the_run_caches_stay_at_their_cap_and_change_nothing(store, second_store, tmp_path,
                                                             monkeypatch):
    """The writer's run caches (account ids, handles, post authors) and Prep's
    profiles sent are cleared past CACHE_MAX entries: a crawl of mostly new
    accounts stays in bounded memory (at 1M distinct accounts, the caches at
    400,000 entries each held ~250 MB of the writing process). Ingested with a
    cap of 3, far below what the file names, the store is the one the default
    cap makes, a second run finds everything unchanged, and after each batch no
    cache holds more than the cap."""
    import json

    from benchmarks.killpoints import diff, dump

    import rasd.ingest.writer as W

    pages = []
    for p in range(6):
        data = [{"id": str(1000 + 10 * p + i), "text": f"post {p}.{i} @u{(p + i) % 9}",
                 "author_id": str(50 + (p * 7 + i) % 23),
                 "entities": {"mentions": [{"username": f"u{(p + i) % 9}",
                                            "id": str(80 + (p + i) % 9)}]},
                 **({"referenced_tweets": [{"type": "replied_to", "id": str(1000 + i)}]}
                    if p else {})}
                for i in range(8)]
        users = [{"id": str(50 + k), "username": f"a{k}", "name": f"A {k}",
                  "description": f"bio {k} {p % 2}"} for k in range(23)]
        pages.append(json.dumps({"data": data, "includes": {"users": users},
                                 "__twarc": {"retrieved_at": f"2024-06-0{p + 1}T00:00:00Z"}}))
    f = tmp_path / "pages.jsonl"
    f.write_text("\n".join(pages) + "\n")
    since = datetime.now(UTC)
    ingest_path(second_store, f, batch_size=5, jobs=1)
    ref = dump(second_store, since)

    monkeypatch.setattr(W, "CACHE_MAX", 3)
    sizes: list[int] = []
    apply = W.Writer.apply

    def watched(self, b):
        apply(self, b)
        sizes.append(max(len(self.acc_cache), len(self.handle_cache), len(self.post_author)))

    monkeypatch.setattr(W.Writer, "apply", watched)
    rep = ingest_path(store, f, batch_size=5, jobs=1)
    assert diff(ref, dump(store, since)) == []
    assert len(sizes) > 5 and max(sizes) <= 3
    again = ingest_path(store, f, batch_size=5, jobs=1)
    assert again.counts["new"] == again.counts["updated"] == 0 and rep.counts["new"] > 0


def test_media_and_reply_target_lookups_probe_the_unique_indexes(store, tmp_path):
    """A batch's media read back by (platform, media_key) and the authors of
    reply targets looked up by (platform, platform_id) (posts not in the batch:
    replies to posts outside the collection, on every batch of real X data)
    go the way of the accounts' and posts' lookups (``fast_select_in``): on
    PostgreSQL they were planned as a sequential scan of the table while it is
    small (below ~30,000 rows), or on a fresh store without statistics read
    every row of the platform. Checked by the statements the ingest sends
    through SQLAlchemy (none of these lookups left) and by the plan after a
    few batches; the store holds the media and edges it held before."""
    from sqlalchemy import event

    # the reply targets, stored by an earlier run (a writer of their own: the
    # replies' run looks their authors up in the store)
    targets = tmp_path / "targets.jsonl"
    targets.write_bytes(_page([_user(5)], [_tweet(900 + i, 5) for i in range(6)]))
    ingest_path(store, targets, jobs=1)
    pages = []
    for p in range(4):
        tweets = [{**_tweet(5000 + 10 * p + i, i % 3),
                   "attachments": {"media_keys": [f"3_{p}{i}", "3_shared"]},
                   "referenced_tweets": [{"type": "replied_to", "id": str(900 + i)}]}
                  for i in range(6)]
        media = [{"media_key": f"3_{p}{i}", "type": "photo", "url": f"https://m/{p}{i}.jpg"}
                 for i in range(6)] + [{"media_key": "3_shared", "type": "photo"}]
        pages.append(orjson.dumps({"data": tweets, "includes": {
            "users": [_user(i) for i in range(3)], "media": media}}))
    f = tmp_path / "pages.jsonl"
    f.write_bytes(b"\n".join(pages) + b"\n")

    sent: list[str] = []

    def seen(conn, cursor, statement, *args):
        sent.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        rep = ingest_path(store, f, batch_size=6, jobs=1)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert rep.counts["by_kind"]["posts"]["new"] == 24
    by_key = [s for s in sent if s.startswith("SELECT") and (
        "media.media_key IN" in s or "posts.account_id FROM posts WHERE" in s)]
    assert by_key == []
    assert count(store, S.media) == 25 and count(store, S.post_media) == 48
    with store.connect() as c:
        # the replies found their targets' author in the store
        got = c.execute(select(S.edges.c.src_account_id, S.edges.c.dst_account_id)
                        .where(S.edges.c.kind == "reply")).all()
        author = {r.platform_id: r.id for r in c.execute(select(S.accounts.c.platform_id,
                                                               S.accounts.c.id))}
        assert sorted(set(got)) == sorted((author[str(100 + i)], author["105"])
                                          for i in range(3))
        assert len(got) == 24
        for t, index, col in ((S.media, "uq_media_platform", "media_key"),
                              (S.posts, "uq_posts_platform", "platform_id")):
            stored = list(c.execute(select(t.c[col]).order_by(t.c.id).limit(10)).scalars())
            plan = select_in_plan(c, t, ("id", col), ("platform", "x"), col,
                                  stored + [f"9{i}" for i in range(10)])
            text = "\n".join(plan)
            if store.is_sqlite:
                assert f"SEARCH {t.name} USING" in text and "sqlite_autoindex_" in text, text
                continue
            assert "Seq Scan" not in text, text
            assert any(index in line for line in plan if "Index" in line), text
        if not store.is_sqlite:
            assert c.exec_driver_sql(
                "SELECT reltuples > 0 FROM pg_class WHERE oid = 'media'::regclass"
            ).scalar_one()


def test_fast_select_in_by_a_key_of_its_own(store):
    """``eq`` None: the lookup by one column alone (a raw record's hash, an
    edge's dedup_key), as a select gives it."""
    with store.begin() as c:
        fast_insert(c, S.raw_records, [{"sha256": f"{i:064x}", "fmt": "x", "size": 1,
                                        "data": b"z", "first_seen": T0} for i in range(5)])
        keys = [f"{i:064x}" for i in (1, 3, 9, 3)]
        got = fast_select_in(c, S.raw_records, ("sha256", "size"), None, "sha256", keys)
        want = c.execute(select(S.raw_records.c.sha256, S.raw_records.c.size).where(
            S.raw_records.c.sha256.in_(keys))).all()
        assert sorted(got) == sorted(tuple(r) for r in want) and len(got) == 2
        plan = "\n".join(select_in_plan(c, S.raw_records, ("sha256",), None, "sha256", keys))
        assert "Seq Scan" not in plan and "SCAN raw_records" not in plan, plan


def test_fast_select_in_typed_with_more_conditions_matches_a_select(store):
    """``typed``: the values a select gives (times, booleans, JSON: SQLite's
    driver gives text and integers for them); ``where``: more conditions, a
    value or a tuple of values (an empty one: nothing). What the writer's
    lookups of deletions, stored rows and versions rely on; on PostgreSQL the
    deletions' lookup probes the index on the events' subject."""
    ce, av = S.compliance_events, S.account_versions
    with store.begin() as c:
        fast_insert(c, S.accounts, [_acc(i) for i in range(1, 5)])
        ids = dict(c.execute(select(S.accounts.c.platform_id, S.accounts.c.id)).all())
        c.execute(insert(ce), [
            {"platform": p, "subject_type": st, "platform_id": pid, "action": act,
             "at": at, "dedup_key": f"{p}:{st}:{pid}:{act}:{at}"}
            for p, st, pid, act, at in (
                ("x", "post", "1", "delete", T0), ("x", "post", "1", "unavailable", None),
                ("x", "post", "2", "scrub_geo", T0), ("x", "account", "3", "unavailable", T0),
                ("y", "post", "3", "delete", T0), ("x", "post", "3", "delete",
                                                    datetime(2020, 2, 29, tzinfo=UTC)))])
        c.execute(insert(av), [
            {"account_id": ids[f"u{i}"], "handle": f"h{i}", "name": None,
             "snapshot": {"location": "é", "url": None} if i % 2 else None,
             "valid_until": T0, "observed_at": None if i == 2 else T0,
             "first_observed_at": T0} for i in (1, 2, 2, 3)])
        keys = ["1", "2", "3", "4"]
        cond = (ce.c.platform == "x", ce.c.platform_id.in_(keys), ce.c.subject_type == "post",
                ce.c.action.in_(("delete", "unavailable")))
        want = c.execute(select(ce.c.platform_id, ce.c.at, ce.c.action).where(*cond)).all()
        got = fast_select_in(c, ce, ("platform_id", "at", "action"), ("platform", "x"),
                             "platform_id", keys, typed=True,
                             where={"subject_type": "post", "action": ("delete", "unavailable")})
        assert len(got) == 3 and sorted(got, key=repr) == sorted(map(tuple, want), key=repr)
        assert any(isinstance(r[1], datetime) for r in got)
        assert fast_select_in(c, ce, ("id",), ("platform", "x"), "platform_id", keys,
                              where={"action": ()}) == []
        assert fast_select_in(c, ce, ("id",), ("platform", "x"), "platform_id", keys,
                              where={"subject_type": "account"}) == fast_select_in(
            c, ce, ("id",), ("platform", "x"), "platform_id", ["3"],
            where={"action": ("unavailable",), "subject_type": "account"})
        with pytest.raises(KeyError):
            fast_select_in(c, ce, ("id",), ("platform", "x"), "platform_id", keys,
                           where={"no_such": 1})
        names = ("id", "account_id", "handle", "name", "snapshot", "valid_until",
                 "observed_at", "first_observed_at")
        aids = [ids["u1"], ids["u2"], ids["u4"]]
        want = c.execute(select(*(av.c[n] for n in names)).where(av.c.account_id.in_(aids))
                         .order_by(av.c.id)).all()
        got = sorted(fast_select_in(c, av, names, None, "account_id", aids, typed=True))
        assert got == [tuple(r) for r in want] and len(got) == 3
        assert got[0][4] == {"location": "é", "url": None} and got[0][5] == want[0].valid_until
        stub = fast_select_in(c, S.accounts, ("platform_id", "stub", "created_at"),
                              ("platform", "x"), "platform_id", ["u1", "u4"], typed=True)
        assert sorted(stub) == sorted(tuple(r) for r in c.execute(
            select(S.accounts.c.platform_id, S.accounts.c.stub, S.accounts.c.created_at).where(
                S.accounts.c.platform == "x", S.accounts.c.platform_id.in_(["u1", "u4"]))))
        assert {type(r[1]) for r in stub} == {bool}
        if not store.is_sqlite:
            c.exec_driver_sql("ANALYZE compliance_events")
            plan = "\n".join(select_in_plan(
                c, ce, ("platform_id", "at"), ("platform", "x"), "platform_id", keys,
                where={"subject_type": "post", "action": ("delete", "unavailable")}))
            assert "Seq Scan" not in plan and "ix_compliance_subject" in plan, plan


# the lookups by key the writer made with SQLAlchemy's IN (as sent: the SQL
# that the before_cursor_execute event sees)
_IN_LOOKUPS = ("raw_records.sha256 IN", "edges.dedup_key IN", "compliance_events.dedup_key IN",
               " events.platform_id IN", "accounts.handle_key IN", "media.media_key IN",
               "SELECT posts.id, posts.platform_id FROM posts WHERE")


def test_raw_record_event_notice_name_and_media_lookups_go_by_key(store, tmp_path):
    """The writer's other lookups by key in each batch go the way of the
    accounts' and posts' (``fast_select_in``; on PostgreSQL a probe of the
    index where the planner took a scan of a small table): raw records by
    hash (every batch; a flattened X file has one a tweet, a re-read finds
    them all), follows and compliance notices by dedup_key, Telegram events
    by id, accounts by handle (names a forward or a mention gives), media
    stored without a file by key (an export read again from another place),
    and posts read back by key. None is sent through SQLAlchemy any more;
    what the runs store and count is checked."""
    import shutil

    from benchmarks.ingest import generate
    from sqlalchemy import event
    from tests.test_ingest_telegram import MESSAGES, channel_export

    flat = tmp_path / "flat.jsonl"
    generate(flat, posts=300, n_users=60, flat=True)
    tg = channel_export(tmp_path / "a", [{**m, "photo": "(File not included.)"}
                                         if "photo" in m else m for m in MESSAGES])
    moved = channel_export(tmp_path / "b", MESSAGES)  # the photo's file, now here
    sent: list[str] = []

    def seen(conn, cursor, statement, *args):
        sent.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        reps = [ingest_path(store, p, batch_size=40, jobs=1)
                for p in (flat, flat, tg, tg, moved)]
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    shutil.rmtree(tmp_path / "a")
    assert [s for s in sent if s.startswith("SELECT") and any(k in s for k in _IN_LOOKUPS)] == []
    first, again = reps[0].counts, reps[1].counts
    assert first["by_kind"]["posts"]["new"] == 300
    assert first["by_kind"]["follows"]["new"] > 0 and first["by_kind"]["compliance"]["new"] == 3
    assert again["new"] == again["updated"] == 0
    assert again["by_kind"]["follows"] == {"unchanged": first["by_kind"]["follows"]["new"]}
    assert again["by_kind"]["compliance"] == {"unchanged": 3}
    assert reps[2].counts["by_kind"]["events"] == {"new": 1}
    assert reps[3].counts["by_kind"]["events"] == {"unchanged": 1}
    assert reps[4].counts["new"] == reps[4].counts["updated"] == 0
    with store.connect() as c:
        assert count(store, S.raw_records) == c.execute(
            select(S.raw_records.c.sha256).distinct()).all().__len__()
        assert count(store, S.compliance_events) == 3 and count(store, S.events) == 1
        # the forwarded-from and @mentioned names: stubs, once each
        stubs = c.execute(select(S.accounts.c.platform_id).where(
            S.accounts.c.platform == "telegram", S.accounts.c.stub.is_(True))).scalars().all()
        assert len(stubs) == len(set(stubs)) >= 1
        local = c.execute(select(S.media.c.local_path).where(
            S.media.c.platform == "telegram")).scalars().all()
        assert [p for p in local if p] == [str(moved / "photos" / "photo_1.jpg")], local


@pytest.mark.parametrize("flat", [False, True])
def test_the_benchmarks_older_copy_is_read_late_whole(store, tmp_path, flat):
    """``benchmarks/ingest.py --late``: the older copy of the file makes every
    post and changed profile a copy read late (a version each; the current
    texts stay those of the newer file), so the lookups of late copies run."""
    from benchmarks.ingest import generate, older_copy

    f, old = tmp_path / "t.jsonl", tmp_path / "t.older.jsonl"
    generate(f, posts=200, n_users=50, flat=flat)
    older_copy(f, old)
    ingest_path(store, f, jobs=1)
    rep = ingest_path(store, old, jobs=1)
    assert rep.counts["by_kind"]["posts"] == {"updated": 200}
    assert rep.counts["by_kind"]["accounts"].get("updated", 0) > 0
    with store.connect() as c:
        texts = c.execute(select(S.posts.c.text)).scalars().all()
        versions = c.execute(select(S.post_versions.c.text)).scalars().all()
    assert len(texts) == len(versions) == 200
    assert not any(t.startswith("earlier: ") for t in texts)
    assert all(t.startswith("earlier: ") for t in versions)


def test_fast_update_rows_stores_what_an_executemany_stores(store):
    """``fast_update_rows`` (on PostgreSQL one ``UPDATE … FROM unnest``) sets
    what SQLAlchemy's executemany of the same UPDATE sets: times with and
    without a zone and None in one column (psycopg dumped such a list as one
    kind: a time of -07:30 was stored 7.5 hours early), strings, JSON; where
    two rows name one key, the last; rows not named are left alone. On
    PostgreSQL again in a session not in UTC, where a time without a zone is
    taken in the session's zone."""
    from datetime import timedelta, timezone

    from rasd.store.upsert import fast_update_rows

    av = S.account_versions
    rounds = 1 if store.is_sqlite else 2
    with store.begin() as c:
        fast_insert(c, S.accounts, [_acc(1)])
        aid = c.execute(select(S.accounts.c.id)).scalar_one()
        c.execute(insert(av), [
            {"account_id": aid, "handle": f"h{i}", "name": None, "snapshot": None,
             "valid_until": T0, "observed_at": T0, "first_observed_at": None,
             "raw_sha256": "r"} for i in range(12 * rounds)])
        ids = c.execute(select(av.c.id).order_by(av.c.id)).scalars().all()
    zones = (UTC, None, timezone(timedelta(hours=-7, minutes=-30)))
    cols = ("valid_until", "observed_at", "first_observed_at", "raw_sha256", "snapshot")

    def values(i: int) -> tuple:
        t = datetime(2023, 1 + i, 2, 3, 4, 5, 6789 * i, tzinfo=zones[i % 3])
        return (t, None if i % 2 else t, t if i % 3 else None, None if i == 4 else f"{i:064x}",
                {"location": "é\u202e", "url": None} if i % 2 else None)

    for r in range(rounds):
        fast_ids, plain_ids = ids[12 * r:12 * r + 6], ids[12 * r + 6:12 * r + 12]
        fast = [(fast_ids[i], *values(i)) for i in range(5)] + [(fast_ids[0], *values(5))]
        plain = [{"b_id": plain_ids[i], **dict(zip(cols, values(i), strict=True))}
                 for i in (1, 2, 3, 4, 0)]
        plain[-1].update(dict(zip(cols, values(5), strict=True)))  # (key 0's last row)
        with store.begin() as c:
            if r:
                c.exec_driver_sql("SET LOCAL TIME ZONE 'America/St_Johns'")
            fast_update_rows(c, av, cols, fast)
            c.execute(update(av).where(av.c.id == bindparam("b_id")).values(
                {n: bindparam(n, type_=av.c[n].type) for n in cols}), plain)
            fast_update_rows(c, av, cols, [])
            with pytest.raises(KeyError):
                fast_update_rows(c, av, ("no_such",), [(fast_ids[0], 1)])
        with store.connect() as c:
            rows = c.execute(select(av.c.id, *(av.c[n] for n in cols))).all()
        got = {row[0]: tuple(row[1:]) for row in rows}
        assert [got[i] for i in fast_ids] == [got[i] for i in plain_ids]  # (5: as it was)
        if not store.is_sqlite:  # (SQLite keeps a time's fields, without its zone)
            assert got[fast_ids[0]][0] == values(5)[0] and got[fast_ids[0]][0].hour == 10
        assert got[fast_ids[5]][2:] == (None, "r", None)
        assert got[fast_ids[1]][4] == {"location": "é\u202e", "url": None}
    # columns all None (an array of NULLs), and one row
    none = ("first_observed_at", "raw_sha256", "snapshot")
    with store.begin() as c:
        fast_update_rows(c, av, none, [(ids[0], None, None, None), (ids[1], None, None, None)])
        fast_update_rows(c, av, ("handle",), [(ids[2], "one")])
    with store.connect() as c:
        got = {r[0]: tuple(r[1:]) for r in c.execute(
            select(av.c.id, *(av.c[n] for n in none)).where(av.c.id.in_(ids[:2])))}
        assert got == {ids[0]: (None,) * 3, ids[1]: (None,) * 3}
        assert c.execute(select(av.c.handle).where(av.c.id == ids[2])).scalar_one() == "one"


def test_fast_delete_in_deletes_what_a_delete_in_deletes(store):
    """``fast_delete_in`` with more ids than SQLite takes in one statement
    (on PostgreSQL one array) deletes the rows of those ids, as SQLAlchemy's
    ``IN`` does, and no other."""
    from rasd.store.upsert import SQLITE_IN_MAX, fast_delete_in, fast_insert_rows

    n = SQLITE_IN_MAX * 2 + 500
    posts = [{"platform": p, "platform_id": str(i), "kind": "post", "first_seen": T0,
              "last_seen": T0} for p in ("x", "y") for i in range(n)]
    pl = S.pending_links
    with store.begin() as c:
        fast_insert(c, S.posts, posts)
        ids = {p: c.execute(select(S.posts.c.id).where(S.posts.c.platform == p).order_by(
            S.posts.c.id)).scalars().all() for p in ("x", "y")}
        fast_insert_rows(c, pl, ("platform", "post_id", "kind", "target_post_id"), [
            (p, pid, k, f"t{pid}") for p in ("x", "y") for pid in ids[p] for k in ("reply",
                                                                                 "quote")])
        gone = [pid for j, pid in enumerate(ids["x"]) if j % 7]  # 1,971 ids: 3 INs
        fast_delete_in(c, pl, "post_id", gone + gone[:5])
        fast_delete_in(c, pl, "post_id", [])
        c.execute(pl.delete().where(pl.c.post_id.in_(
            [pid for j, pid in enumerate(ids["y"]) if j % 7])))
        left = {p: sorted(r for r in c.execute(select(pl.c.post_id, pl.c.kind).where(
            pl.c.platform == p)).all()) for p in ("x", "y")}
        with pytest.raises(KeyError):
            fast_delete_in(c, pl, "no_such", [1])
    assert len(gone) > 2 * SQLITE_IN_MAX
    x_left = sorted((pid, k) for j, pid in enumerate(ids["x"]) if not j % 7
                    for k in ("reply", "quote"))
    assert left["x"] == x_left and len(left["y"]) == len(x_left)


def test_array_statements_neither_cut_nor_match_by_a_longer_string(store):
    """A string longer than its column goes into ``fast_update_rows`` and
    ``fast_delete_in`` whole: an explicit cast to VARCHAR(n) cut it to n
    characters (PostgreSQL), so that a DELETE of a 201-character key deleted
    the row of its first 200 and an UPDATE stored a 64-character hash of 70
    where SQLAlchemy's executemany fails. Now both do what the executemany
    and ``IN`` do (SQLite does not limit a VARCHAR: both store it)."""
    from rasd.store.upsert import fast_delete_in, fast_insert_rows, fast_update_rows

    pl, p = S.pending_links, S.posts
    long_id = "t" * 200
    with store.begin() as c:
        fast_insert(c, p, [{"platform": "x", "platform_id": str(i), "kind": "post",
                            "first_seen": T0, "last_seen": T0} for i in range(2)])
        ids = c.execute(select(p.c.id).order_by(p.c.id)).scalars().all()
        fast_insert_rows(c, pl, ("platform", "post_id", "kind", "target_post_id"),
                         [("x", ids[0], "reply", long_id)])
        fast_delete_in(c, pl, "target_post_id", [long_id + "u"])
        c.execute(pl.delete().where(pl.c.target_post_id.in_([long_id + "u"])))
        assert c.execute(select(pl.c.target_post_id)).scalars().all() == [long_id]
        # (fast_select_in's array, binary on PostgreSQL, is cast the same way)
        assert fast_select_in(c, pl, ("target_post_id",), None, "target_post_id",
                              [long_id + "u"]) == []
        assert fast_select_in(c, pl, ("target_post_id",), None, "target_post_id",
                              [long_id, "u"]) == [(long_id,)]

    def outcome(write) -> object:
        try:
            with store.begin() as c:
                write(c)
        except Exception as e:  # noqa: BLE001 - SQLAlchemy's, or the driver's own
            return type(getattr(e, "orig", e)).__name__
        with store.connect() as c:
            return c.execute(select(p.c.id, p.c.raw_sha256).where(p.c.id.in_(ids))).all()

    long_hash = "r" * 70
    plain = outcome(lambda c: c.execute(update(p).where(p.c.id == bindparam("b_id")).values(
        raw_sha256=bindparam("h")), [{"b_id": ids[0], "h": long_hash}, {"b_id": ids[1],
                                                                         "h": "h"}]))
    if store.is_sqlite:
        with store.begin() as c:
            c.execute(update(p).values(raw_sha256=None))
    fast = outcome(lambda c: fast_update_rows(c, p, ("raw_sha256",),
                                              [(ids[0], long_hash), (ids[1], "h")]))
    assert fast == plain
    assert plain == ([(ids[0], long_hash), (ids[1], "h")] if store.is_sqlite
                     else "StringDataRightTruncation")


def test_writers_conditional_updates_set_what_their_executemany_sets(store):
    """The writer's UPDATEs of unchanged records seen in a newer snapshot
    (``_touch``), of media found somewhere else (``_relocate``) and of new
    posts deleted before (``_deleted_before``'s, here on media's key) go on
    PostgreSQL as one ``UPDATE … FROM unnest`` (``pg_update_from``) with
    the conditions of their executemany: these set what the executemany
    sets, row for row — a stored time None, older, newer; another content;
    times with and without a zone; a medium named twice (the last place
    holds); a record touched twice (then the executemany itself)."""
    from datetime import timedelta

    from sqlalchemy import func, or_

    from rasd.ingest.writer import Writer
    from rasd.store.upsert import pg_update_from

    p, m = S.posts, S.media
    day = timedelta(days=1)
    naive = (T0 + day).replace(tzinfo=None)
    # (hash, observed_at, first_observed_at) stored; touches (index, hash, obs)
    states = [("h", None, None), ("h", T0, None), ("h", T0, T0 - day), ("g", T0, None),
              ("h", T0 + 2 * day, None), ("h", None, None), ("h", T0, None)]
    touches = [(0, "h", T0 + day), (1, "h", naive), (2, "h", T0 + day), (3, "h", T0 + day),
               (4, "h", T0 + day)]
    twice = [(5, "h", T0 + day), (5, "h", T0 + 3 * day), (6, "h", T0 - day), (6, "g", naive)]
    ts = T0 + 4 * day
    with store.begin() as c:
        fast_insert(c, p, [{"platform": plat, "platform_id": str(i), "kind": "post",
                            "content_hash": h, "observed_at": obs, "first_observed_at": first,
                            "first_seen": T0, "last_seen": T0}
                           for plat in ("x", "y") for i, (h, obs, first) in enumerate(states)])
        ids = {(plat, int(pid)): rid for rid, plat, pid in c.execute(
            select(p.c.id, p.c.platform, p.c.platform_id))}
        fast_insert(c, m, [{"platform": plat, "media_key": k, "local_path": local,
                            "first_seen": T0}
                           for plat in ("x", "y") for k, local in (("a", None), ("b", "/old"),
                                                                    ("c", "/same"))])
    obs = bindparam("obs", type_=p.c.observed_at.type)
    touch = (update(p).where(p.c.id == bindparam("b_id"), p.c.content_hash == bindparam("h"),
                             or_(p.c.observed_at.is_(None), p.c.observed_at < obs))
             .values(observed_at=obs, last_seen=bindparam("seen", type_=p.c.last_seen.type),
                     first_observed_at=func.coalesce(p.c.first_observed_at, p.c.observed_at)))
    relocate = (update(m).where(m.c.platform == bindparam("p"), m.c.media_key == bindparam("k"),
                                or_(m.c.local_path.is_(None),
                                    m.c.local_path != bindparam("l")))
                .values(local_path=bindparam("l")))
    places = [("a", "/new"), ("b", "/new"), ("c", "/same"), ("b", "/newer"), ("a", "/new2")]
    from sqlalchemy import event

    sent: list[str] = []

    def seen(conn, cursor, statement, *args):
        sent.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", seen)
    with store.begin() as c:
        for part in (touches, twice):
            Writer._touch(c, p, [{"b_id": ids[("x", i)], "h": h, "obs": o} for i, h, o in part],
                          ts)
            c.execute(touch, [{"b_id": ids[("y", i)], "h": h, "obs": o, "seen": ts}
                              for i, h, o in part])
        Writer._relocate(c, [{"p": "x", "k": k, "l": local} for k, local in places])
        c.execute(relocate, [{"p": "y", "k": k, "l": local} for k, local in places])
        done = pg_update_from(c, m, ("platform", "media_key", "mime_type"),
                              [("x", "a", "image/png"), ("x", "b", "image/gif")],
                              {"mime_type": "v.mime_type"}, "media.local_path != '/new'",
                              keys=2)
        assert done is not store.is_sqlite
        if not done:
            c.execute(update(m).where(m.c.platform == "x", m.c.media_key == bindparam("k"),
                                      m.c.local_path != "/new").values(
                mime_type=bindparam("t")), [{"k": "a", "t": "image/png"},
                                            {"k": "b", "t": "image/gif"}])
        c.execute(update(m).where(m.c.platform == "y", m.c.media_key == bindparam("k"),
                                  m.c.local_path != "/new").values(
            mime_type=bindparam("t")), [{"k": "a", "t": "image/png"},
                                        {"k": "b", "t": "image/gif"}])
        assert not pg_update_from(c, m, ("platform", "media_key", "mime_type"),
                                  [("x", "a", "1"), ("x", "a", "2")], {"mime_type": "v.mime_type"},
                                  keys=2)
    event.remove(store.engine, "before_cursor_execute", seen)
    # SQLAlchemy's executemany: the reference's, and the writer's on SQLite (and for
    # the record touched twice); on PostgreSQL the writer's other statements are one each
    assert [sum(s.startswith(f"UPDATE {t} SET {c}") for s in sent) for t, c in (
        ("posts", "last_seen"), ("media", "local_path"))] == ([4, 2] if store.is_sqlite
                                                              else [3, 1])
    with store.connect() as c:
        got = {(plat, pid): tuple(r) for plat, pid, *r in c.execute(select(
            p.c.platform, p.c.platform_id, p.c.observed_at, p.c.first_observed_at,
            p.c.last_seen))}
        media = {(plat, k): (local, mime) for plat, k, local, mime in c.execute(
            select(m.c.platform, m.c.media_key, m.c.local_path, m.c.mime_type))}
    for i in range(len(states)):
        assert got[("x", str(i))] == got[("y", str(i))], i
    assert got[("x", "0")][1:] == (None, ts.replace(tzinfo=None) if store.is_sqlite else ts)
    assert [got[("x", str(i))][0] for i in (3, 4)] == [states[3][1], states[4][1]] \
        or store.is_sqlite  # (SQLite gives them without a zone)
    for k in "abc":
        assert media[("x", k)] == media[("y", k)], k
    assert [media[("x", k)] for k in "abc"] == [("/new2", "image/png"), ("/newer", "image/gif"),
                                                ("/same", None)]


def _reply_page(day: int, texts: dict[int, str], target: str) -> bytes:
    """A page of tweets ``texts`` (id to text), each a reply to a post not
    stored (``target``, 0000, its id), collected on ``day`` of January 2024."""
    return orjson.dumps({
        "data": [{"id": str(t), "author_id": str(100 + t % 7), "text": text,
                  "created_at": "2024-01-01T00:00:00.000Z",
                  "referenced_tweets": [{"type": "replied_to", "id": f"{target}0000{t}"}]}
                 for t, text in texts.items()],
        "includes": {"users": [_user(i) for i in range(7)]},
        "__twarc": {"retrieved_at": f"2024-01-{day:02d}T00:00:00+00:00"}}) + b"\n"


def test_late_versions_and_changed_posts_links_are_written_in_one_statement_each(
        store, tmp_path):
    """The writer's UPDATE of stored versions that copies read late move, and
    of current copies first seen earlier, and its DELETE of the waiting links
    of the posts a batch changes (1,200: more than one IN of SQLite), no
    longer go through SQLAlchemy (an executemany, an expanding IN) but
    through ``fast_update_rows`` and ``fast_delete_in`` (on PostgreSQL one
    statement each); what they leave is checked."""
    from sqlalchemy import event

    n = 1200
    files = []
    for day, text, target in ((20, "A", "9"), (25, "B", "8"), (10, "A", "7"), (22, "B", "6")):
        f = tmp_path / f"{day}.jsonl"
        f.write_bytes(_reply_page(day, {t: f"{text}{t}" for t in range(1, n + 1)}, target))
        files.append(f)
    sent: list[str] = []

    def seen(conn, cursor, statement, *args):
        sent.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        reps = [ingest_path(store, files[0], jobs=1), ingest_path(store, files[1], jobs=1)]
        pl, pv, p = S.pending_links, S.post_versions, S.posts
        with store.connect() as c:  # the changed posts' links as they are now
            targets = c.execute(select(pl.c.target_post_id)).scalars().all()
        assert sorted(targets) == sorted(f"80000{t}" for t in range(1, n + 1))
        reps += [ingest_path(store, f, jobs=1) for f in files[2:]]
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert reps[1].counts["by_kind"]["posts"] == {"updated": n}
    assert reps[2].counts["by_kind"]["posts"] == {"unchanged": n}
    assert reps[3].counts["by_kind"]["posts"] == {"unchanged": n}
    slow = [s for s in sent if s.startswith(("UPDATE post_versions", "UPDATE posts SET first",
                                             "DELETE FROM pending_links"))]
    assert slow == [], slow[:3]
    with store.connect() as c:
        # A: from the 10th (moved back) to the 20th, until the 22nd (B moved back)
        got = c.execute(select(pv.c.text, pv.c.first_observed_at, pv.c.observed_at,
                               pv.c.valid_until)).all()
        assert len(got) == n
        assert {(t[:1], f.day, o.day, u.day) for t, f, o, u in got} == {("A", 10, 20, 22)}
        cur = c.execute(select(p.c.text, p.c.first_observed_at, p.c.observed_at)).all()
        assert {(t[:1], f.day, o.day) for t, f, o in cur} == {("B", 22, 25)}
        raw = c.execute(select(pv.c.raw_sha256).distinct()).scalars().all()
    assert len(raw) == 1 and raw[0] is not None  # (the 10th's copy's page)
