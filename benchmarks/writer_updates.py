"""The ingest writer's per-record UPDATEs and DELETEs, timed inside the writer.

One process, the rasd found on ``PYTHONPATH`` (run it once with the old code,
once with the new, alternately): into a fresh store (``--db``: a SQLite path,
or ``pg`` for a fresh schema of ``--pg-url``'s server, dropped after), it
ingests ``--n`` compliance deletions of X posts (half of them) before the
posts, the posts (each a reply to a post not stored), the same posts
collected later (unchanged: touched), the posts they reply to (the waiting
links drawn), then a Telegram export of ``--n`` photos, and again from where
it was moved. Prints JSON: for ``Writer._touch``, ``Writer._relocate``,
``Writer._deleted_before`` and ``_draw``, the seconds of wall time, of the
client's CPU and (PostgreSQL on this machine, its backend read from /proc)
of the server's CPU, and the calls; ``--dump FILE`` writes the store as
``killpoints.dump`` gives it (natural keys; the temporary folder as
``<tmp>``), to compare two runs' stores.

    PYTHONPATH=src python benchmarks/writer_updates.py --db pg --tmp /tmp/w1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson


def _server_cpu(c: Any) -> float:
    """CPU seconds of the connection's PostgreSQL backend (0 where unknown)."""
    try:
        pid = c.connection.driver_connection.info.backend_pid
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (AttributeError, OSError, ValueError):
        return 0.0


def _timed(stats: dict[str, list], name: str, fn: Callable, conn_arg: int) -> Callable:
    def inner(*args: Any, **kw: Any) -> Any:
        c = args[conn_arg]
        s0, t0, p0 = _server_cpu(c), time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kw)
        finally:
            st = stats.setdefault(name, [0.0, 0.0, 0.0, 0])
            st[0] += time.perf_counter() - t0
            st[1] += time.process_time() - p0
            st[2] += _server_cpu(c) - s0
            st[3] += 1
    return inner


def _page(day: int, ids: Any, text: str, target: str | None = None) -> bytes:
    users = [{"id": str(100 + i), "username": f"user{i}", "name": f"U {i}",
              "created_at": "2020-01-01T00:00:00.000Z"} for i in range(7)]
    return orjson.dumps({
        "data": [{"id": str(t), "author_id": str(100 + t % 7), "text": f"{text}{t}",
                  "created_at": "2024-01-01T00:00:00.000Z",
                  **({"referenced_tweets": [{"type": "replied_to", "id": f"{target}0000{t}"}]}
                     if target else {})} for t in ids],
        "includes": {"users": users},
        "__twarc": {"retrieved_at": f"2024-01-{day:02d}T00:00:00+00:00"}}) + b"\n"


def write_inputs(tmp: Path, n: int) -> list[Path]:
    """The X files, in the order read, and the Telegram export (last)."""
    (tmp / "1_compliance.jsonl").write_text("".join(json.dumps(
        {"id": str(t), "action": "delete", "created_at": "2021-06-01T00:00:00.000Z",
         "reason": "deleted"}) + "\n" for t in range(1, n + 1, 2)))
    (tmp / "2_day20.jsonl").write_bytes(_page(20, range(1, n + 1), "A", "9"))
    (tmp / "3_day25.jsonl").write_bytes(_page(25, range(1, n + 1), "A", "9"))
    (tmp / "4_targets.jsonl").write_bytes(_page(26, [int(f"90000{t}") for t in range(1, n + 1)],
                                                "T"))
    exp = tmp / "a" / "ChatExport"
    (exp / "photos").mkdir(parents=True)
    msgs = []
    for i in range(1, n + 1):
        (exp / "photos" / f"p{i}.jpg").write_bytes(b"\xff\xd8" + str(i).encode())
        msgs.append({"id": i, "type": "message", "date": "2024-01-01T00:00:00",
                     "date_unixtime": "1704067200", "from": "A", "from_id": "user1",
                     "photo": f"photos/p{i}.jpg", "width": 10, "height": 10, "text": f"m{i}"})
    (exp / "result.json").write_text(json.dumps({"name": "C", "type": "public_channel",
                                                 "id": 77, "messages": msgs}))
    return [tmp / f for f in ("1_compliance.jsonl", "2_day20.jsonl", "3_day25.jsonl",
                              "4_targets.jsonl")] + [exp]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, help="a SQLite path, or pg")
    ap.add_argument("--pg-url", default=os.environ.get(
        "RASD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--tmp", required=True, help="an empty folder for the inputs")
    ap.add_argument("--dump", help="write the store's rows (killpoints.dump) here")
    a = ap.parse_args()

    import sqlalchemy as sa

    from rasd.ingest import ingest_path
    from rasd.ingest import writer as W
    from rasd.store import Store

    stats: dict[str, list] = {}
    W.Writer._touch = staticmethod(_timed(stats, "touch", W.Writer.__dict__["_touch"].__func__, 0))
    W.Writer._relocate = staticmethod(_timed(stats, "relocate",
                                             W.Writer.__dict__["_relocate"].__func__, 0))
    W.Writer._deleted_before = _timed(stats, "deleted_before", W.Writer._deleted_before, 1)
    W._draw = _timed(stats, "draw", W._draw, 0)

    tmp = Path(a.tmp)
    *files, export = write_inputs(tmp, a.n)
    schema = admin = None
    if a.db == "pg":
        url = a.pg_url.replace("postgresql://", "postgresql+psycopg://", 1)
        schema = "wu_" + uuid.uuid4().hex[:10]
        admin = sa.create_engine(url)
        with admin.begin() as c:
            c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in url else "?"
        store = Store.open(f"{url}{sep}options=-csearch_path%3D{schema}")
    else:
        store = Store.open(a.db)
    since = datetime.now(UTC)
    try:
        counts = [ingest_path(store, f, jobs=1).counts["by_kind"] for f in (*files, export)]
        moved = tmp / "b" / "ChatExport"
        shutil.move(export, moved)
        counts.append(ingest_path(store, moved, jobs=1).counts["by_kind"])
        if a.dump:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from killpoints import dump

            rows = dump(store, since)
            Path(a.dump).write_text(json.dumps({t: sorted(
                (str(x).replace(str(tmp), "<tmp>"), k) for x, k in v.items())
                for t, v in rows.items()}, sort_keys=True))
        print(json.dumps({"seconds (wall, client CPU, server CPU, calls)": stats,
                          "counts": counts}, default=str))
    finally:
        store.close()
        if admin is not None:
            with admin.begin() as c:
                c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
